//! Black–Scholes Greeks of calls and puts by automatic differentiation of the pricing
//! formula, checked against the closed forms.
//!
//! Price, delta, vega, rho and theta come from one reverse sweep; gamma, vanna and volga
//! from forward-over-reverse (`Var<Dual>`). Every AD figure is compared with its closed
//! form (relative error), and the second-order ones also with central differences of the
//! first-order AD Greeks.
//!
//! Run: `cargo run --release -p retrograd --example bs_greeks [-- --json]`

use retrograd::finance::black_scholes::{BlackScholes, Greeks, OptionKind};

/// Markets away from the zeros of the Greeks (a relative error needs a nonzero reference):
/// (spot, strike, rate, vol, maturity).
const MARKETS: [(f64, f64, f64, f64, f64); 4] = [
    (100.0, 100.0, 0.05, 0.2, 1.0),
    (90.0, 100.0, 0.03, 0.3, 0.5),
    (120.0, 100.0, 0.01, 0.25, 2.0),
    (100.0, 110.0, 0.02, 0.4, 0.25),
];

/// The largest relative difference between the second-order AD Greeks and central
/// differences of the first-order AD Greeks (delta in S and σ, vega in σ).
fn second_order_vs_differences(option: &BlackScholes, ad: &Greeks) -> f64 {
    let bumped = |ds: f64, dv: f64| {
        BlackScholes {
            spot: option.spot + ds,
            vol: option.vol + dv,
            ..*option
        }
        .greeks()
    };
    let (hs, hv) = (1e-4 * option.spot, 1e-5);
    let gamma = (bumped(hs, 0.0).delta - bumped(-hs, 0.0).delta) / (2.0 * hs);
    let vanna = (bumped(0.0, hv).delta - bumped(0.0, -hv).delta) / (2.0 * hv);
    let volga = (bumped(0.0, hv).vega - bumped(0.0, -hv).vega) / (2.0 * hv);
    [(ad.gamma, gamma), (ad.vanna, vanna), (ad.volga, volga)]
        .iter()
        .map(|&(a, f)| (a - f).abs() / a.abs())
        .fold(0.0, f64::max)
}

/// One AD Greek beside its closed form: the option, the Greek's name, both values and
/// their relative difference.
pub type Row = (BlackScholes, &'static str, f64, f64, f64);

/// What the example computes: every Greek of every option against its closed form, the
/// second-order ones also against differences, and the pass/fail checks.
pub struct Report {
    pub rows: Vec<Row>,
    pub max_rel_error: f64,
    pub max_fd_diff: f64,
    pub checks: [(&'static str, bool); 2],
}

/// Prices every market as a call and a put and compares the AD Greeks with the closed
/// forms (target 1e-10 relative) and the second-order ones with central differences.
pub fn run() -> Result<Report, retrograd::Error> {
    let mut max_rel_error = 0.0_f64;
    let mut max_fd_diff = 0.0_f64;
    let mut rows = Vec::new();
    for &(spot, strike, rate, vol, maturity) in &MARKETS {
        for kind in [OptionKind::Call, OptionKind::Put] {
            let option = BlackScholes::new(kind, spot, strike, rate, vol, maturity)?;
            let (ad, exact) = (option.greeks(), option.closed_form());
            for ((name, a), (_, b)) in ad.named().into_iter().zip(exact.named()) {
                let rel = (a - b).abs() / b.abs();
                max_rel_error = max_rel_error.max(rel);
                rows.push((option, name, a, b, rel));
            }
            max_fd_diff = max_fd_diff.max(second_order_vs_differences(&option, &ad));
        }
    }
    let checks = [
        ("ad_matches_closed_form", max_rel_error <= 1e-10),
        ("second_order_matches_differences", max_fd_diff <= 1e-6),
    ];
    Ok(Report {
        rows,
        max_rel_error,
        max_fd_diff,
        checks,
    })
}

fn main() -> Result<(), retrograd::Error> {
    let json = std::env::args().any(|a| a == "--json");
    let Report {
        rows,
        max_rel_error,
        max_fd_diff,
        checks,
    } = run()?;
    if json {
        let checks: serde_json::Map<String, serde_json::Value> = checks
            .iter()
            .map(|&(name, ok)| (name.to_string(), ok.into()))
            .collect();
        let out = serde_json::json!({
            "options": rows.len() / 8,
            "max_rel_error": max_rel_error,
            "max_rel_diff_second_order_vs_differences": max_fd_diff,
            "checks": checks,
        });
        println!("{out}");
        return Ok(());
    }
    println!(
        "Black–Scholes Greeks by AD (one reverse sweep + forward-over-reverse) vs closed form"
    );
    println!(
        "{:<5} {:>6} {:>6} {:>5} {:>5} {:>5} {:<6} {:>16} {:>16} {:>9}",
        "kind", "S", "K", "r", "σ", "T", "greek", "AD", "closed form", "rel. err"
    );
    for (o, name, a, b, rel) in &rows {
        println!(
            "{:<5} {:>6} {:>6} {:>5} {:>5} {:>5} {:<6} {:>16.10} {:>16.10} {:>9.1e}",
            format!("{:?}", o.kind),
            o.spot,
            o.strike,
            o.rate,
            o.vol,
            o.maturity,
            name,
            a,
            b,
            rel
        );
    }
    println!("max relative error vs closed forms: {max_rel_error:.2e} (target 1e-10)");
    println!(
        "max relative difference, second order vs differences of first order: {max_fd_diff:.2e}"
    );
    for (name, ok) in checks {
        println!("check {name}: {}", if ok { "pass" } else { "FAIL" });
    }
    Ok(())
}
