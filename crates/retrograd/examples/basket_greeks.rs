//! Monte Carlo Greeks of an arithmetic basket call on correlated assets by pathwise
//! adjoints, against bump-and-revalue, and what they cost relative to the price alone.
//!
//! Every delta and vega (2N numbers) comes from one reverse sweep per path; the tape holds
//! one path at a time. The same Greeks by central differences take 2N + 1 pricings with
//! the same random numbers. Timings are interleaved repetitions in one process (median),
//! on 1 and on 2 threads.
//!
//! Run: `cargo run --release -p retrograd --example basket_greeks [-- --json] [--quick]
//! [--assets N] [--paths M] [--bump H]`

use retrograd::finance::basket::{Basket, BasketGreeks, Recording, Simulation};
use std::time::Instant;

/// Relative bump of each spot and volatility for the central differences (`--bump`).
const BUMP: f64 = 1e-6;
/// Agreement asked of adjoints and bumping, relative to each Greek (see docs/EXAMPLES.md:
/// round-off of a difference of two sums of M payoffs, over a step of 1e-6 relative).
const TOLERANCE: f64 = 1e-6;

/// A market of `n` assets: spots from 80 to 120, volatilities from 15% to 35%, equal
/// weights, correlations `0.3 + 0.7·exp(−|i − j|/8)` (positive definite: a constant plus an
/// exponential kernel), strike 100, rate 3%, one year.
fn market(n: usize) -> Result<Basket, retrograd::Error> {
    let t = |i: usize| i as f64 / (n.max(2) - 1) as f64;
    let spots: Vec<f64> = (0..n).map(|i| 80.0 + 40.0 * t((i * 7) % n)).collect();
    let vols: Vec<f64> = (0..n).map(|i| 0.15 + 0.2 * t((i * 3) % n)).collect();
    let weights = vec![1.0 / n as f64; n];
    let mut correlation = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            let gap = i.abs_diff(j) as f64;
            correlation[i * n + j] = if i == j {
                1.0
            } else {
                0.3 + 0.7 * (-gap / 8.0).exp()
            };
        }
    }
    Basket::new(&spots, &vols, &weights, &correlation, 100.0, 0.03, 1.0)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The largest `|a − b| / |a|` over all deltas and vegas.
fn max_rel_diff(a: &BasketGreeks, b: &BasketGreeks) -> f64 {
    let pairs = a
        .deltas
        .iter()
        .zip(&b.deltas)
        .chain(a.vegas.iter().zip(&b.vegas));
    pairs
        .map(|(x, y)| (x - y).abs() / x.abs())
        .fold(0.0, f64::max)
}

/// Median seconds of the price alone and of price + Greeks (both recordings), interleaved.
pub struct Timing {
    pub price: f64,
    pub operators: f64,
    pub preaccumulated: f64,
}

fn time(basket: &Basket, sim: &Simulation, reps: usize) -> Result<Timing, retrograd::Error> {
    let (mut p, mut o, mut q) = (vec![], vec![], vec![]);
    for _ in 0..reps {
        let start = Instant::now();
        std::hint::black_box(basket.price(sim)?);
        p.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        std::hint::black_box(basket.greeks(sim, Recording::Operators)?);
        o.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        std::hint::black_box(basket.greeks(sim, Recording::Preaccumulated)?);
        q.push(start.elapsed().as_secs_f64());
    }
    Ok(Timing {
        price: median(p),
        operators: median(o),
        preaccumulated: median(q),
    })
}

fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1)?.parse().ok()
}

/// What the example computes at one size: the Greeks by adjoints (both recordings) and by
/// bumping, the timings on 1 and 2 threads, and the pass/fail checks.
pub struct Report {
    pub price: f64,
    pub adjoint: BasketGreeks,
    pub bumped: BasketGreeks,
    pub bump_seconds: f64,
    pub timing_one: Timing,
    pub timing_two: Timing,
    pub vs_bumping: f64,
    pub checks: [(&'static str, bool); 5],
}

/// Time of price + Greeks over the price alone: (generic payoff, preaccumulated).
pub fn ratios(t: &Timing) -> (f64, f64) {
    (t.operators / t.price, t.preaccumulated / t.price)
}

/// Runs the market of `assets` assets over `paths` paths: Greeks on 1 and 2 threads and
/// both recordings, bumping by `bump` (relative), `reps` interleaved timings.
pub fn run(
    assets: usize,
    paths: usize,
    reps: usize,
    bump: f64,
) -> Result<Report, Box<dyn std::error::Error>> {
    let basket = market(assets)?;
    let sim = Simulation { paths, seed: 2024 };

    let pool = |threads| rayon::ThreadPoolBuilder::new().num_threads(threads).build();
    let (one, two) = (pool(1)?, pool(2)?);
    let adjoint = one.install(|| basket.greeks(&sim, Recording::Operators))?;
    let tuned = one.install(|| basket.greeks(&sim, Recording::Preaccumulated))?;
    let adjoint_two = two.install(|| basket.greeks(&sim, Recording::Operators))?;
    let price = one.install(|| basket.price(&sim))?;
    let start = Instant::now();
    let bumped = two.install(|| basket.greeks_by_bumping(&sim, bump))?;
    let bump_seconds = start.elapsed().as_secs_f64();
    let timing_one = one.install(|| time(&basket, &sim, reps))?;
    let timing_two = two.install(|| time(&basket, &sim, reps))?;

    let vs_bumping = max_rel_diff(&adjoint, &bumped);
    let (ops_1, pre_1) = ratios(&timing_one);
    let (ops_2, pre_2) = ratios(&timing_two);
    let checks = [
        ("adjoints_match_bumping", vs_bumping <= TOLERANCE),
        (
            "recordings_agree",
            max_rel_diff(&adjoint, &tuned) <= 1e-12
                && (adjoint.price - tuned.price).abs() <= 1e-12 * price,
        ),
        ("threads_agree", adjoint == adjoint_two),
        (
            "adjoint_price_is_the_price",
            (adjoint.price - price).abs() <= 1e-12 * price,
        ),
        (
            "greeks_within_4x_price",
            ops_1.max(ops_2).max(pre_1).max(pre_2) <= 4.0,
        ),
    ];
    Ok(Report {
        price,
        adjoint,
        bumped,
        bump_seconds,
        timing_one,
        timing_two,
        vs_bumping,
        checks,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let json = std::env::args().any(|a| a == "--json");
    let quick = std::env::args().any(|a| a == "--quick");
    let assets = arg("--assets").unwrap_or(if quick { 8 } else { 50 });
    let paths = arg("--paths").unwrap_or(if quick { 2_000 } else { 10_000 });
    let reps = if quick { 3 } else { 7 };
    let bump = arg("--bump").unwrap_or(BUMP);
    let report = run(assets, paths, reps, bump)?;
    let (price, adjoint, bumped) = (report.price, &report.adjoint, &report.bumped);
    let (timing_one, timing_two) = (&report.timing_one, &report.timing_two);
    let (bump_seconds, vs_bumping, checks) =
        (report.bump_seconds, report.vs_bumping, report.checks);
    let (ops_1, pre_1) = ratios(timing_one);
    let (ops_2, pre_2) = ratios(timing_two);
    if json {
        let checks: serde_json::Map<String, serde_json::Value> = checks
            .iter()
            .map(|&(name, ok)| (name.to_string(), ok.into()))
            .collect();
        let out = serde_json::json!({
            "assets": assets,
            "paths": paths,
            "price": price,
            "greeks_over_price": ops_1,
            "greeks_over_price_by_threads": {
                "1": {"operators": ops_1, "preaccumulated": pre_1},
                "2": {"operators": ops_2, "preaccumulated": pre_2},
            },
            "price_seconds": {"1": timing_one.price, "2": timing_two.price},
            "bumping_over_price": bump_seconds / timing_two.price,
            "max_rel_diff_vs_bumping": vs_bumping,
            "bump": bump,
            "checks": checks,
        });
        println!("{out}");
        return Ok(());
    }
    println!("Arithmetic basket call, {assets} correlated assets, {paths} paths; price {price:.6}");
    println!(
        "{:<6} {:>12} {:>12} {:>12} {:>9}",
        "asset", "delta (AD)", "delta (bump)", "vega (AD)", "vega (bump)"
    );
    for i in 0..assets.min(10) {
        println!(
            "{i:<6} {:>12.8} {:>12.8} {:>12.8} {:>12.8}",
            adjoint.deltas[i], bumped.deltas[i], adjoint.vegas[i], bumped.vegas[i]
        );
    }
    println!("max relative difference adjoint vs bumping (2N + 1 = {} pricings, step {bump:e}): {vs_bumping:.2e}", 2 * assets + 1);
    println!(
        "time of price + all {} Greeks over the price alone (median of {reps}):",
        2 * assets
    );
    println!("  threads  operators  preaccumulated  price alone");
    for (threads, t) in [(1, timing_one), (2, timing_two)] {
        let (o, p) = ratios(t);
        println!(
            "  {threads:>7}  {o:>8.2}x  {p:>13.2}x  {:>9.2} ms",
            1e3 * t.price
        );
    }
    println!(
        "bump-and-revalue on 2 threads: {:.1}x the price alone",
        bump_seconds / timing_two.price
    );
    for (name, ok) in checks {
        println!("check {name}: {}", if ok { "pass" } else { "FAIL" });
    }
    Ok(())
}
