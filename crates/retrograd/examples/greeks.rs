//! Monte Carlo Greeks of a European call by adjoint differentiation (pathwise AAD).
//!
//! Each path is recorded after a mark on one tape, swept at once and dropped, so the tape
//! never holds more than one path however many are simulated; the adjoints of the
//! market inputs accumulate across paths. The estimates are compared with the
//! Black–Scholes closed forms.
//!
//! Run: `cargo run --release -p retrograd --example greeks [paths]`

use retrograd::finance::black_scholes::{BlackScholes, OptionKind};
use retrograd::prelude::*;
use retrograd::Tape;

/// Market inputs of the option.
#[derive(Clone, Copy)]
struct Market {
    spot: f64,
    strike: f64,
    rate: f64,
    vol: f64,
    maturity: f64,
}

/// Price and sensitivities to (spot, rate, vol, maturity).
struct Greeks {
    price: f64,
    delta: f64,
    rho: f64,
    vega: f64,
    theta: f64,
}

/// A small seeded generator of standard normal numbers (xorshift64* and Box–Muller).
struct Normal(u64);

impl Normal {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn pair(&mut self) -> (f64, f64) {
        let (u, v) = (self.uniform(), self.uniform());
        let r = (-2.0 * u.ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * v).sin_cos();
        (r * c, r * s)
    }
}

/// The discounted payoff of one path, written once for any real type.
fn discounted_payoff<T: Real>(spot: T, rate: T, vol: T, maturity: T, strike: f64, z: f64) -> T {
    let half = T::from_f64(0.5);
    let drift = (rate - half * vol * vol) * maturity;
    let terminal = spot * (drift + vol * maturity.sqrt() * T::from_f64(z)).exp();
    (terminal - T::from_f64(strike)).max(T::zero()) * (-rate * maturity).exp()
}

/// Monte Carlo price and Greeks with antithetic paths, by reverse mode.
fn monte_carlo(m: Market, paths: usize, seed: u64) -> Greeks {
    let mut tape = Tape::new();
    let mut normal = Normal(seed);
    let weight = 1.0 / paths as f64;
    tape.record(|rec| {
        let inputs = rec.inputs(&[m.spot, m.rate, m.vol, m.maturity]);
        let [spot, rate, vol, maturity] = [inputs[0], inputs[1], inputs[2], inputs[3]];
        let mut adjoints = rec.adjoints();
        let mut price = 0.0;
        let mut z = 0.0;
        for k in 0..paths {
            // Antithetic pairs: z, then −z.
            z = if k % 2 == 0 { normal.pair().0 } else { -z };
            let mark = rec.mark();
            let payoff = discounted_payoff(spot, rate, vol, maturity, m.strike, z);
            price += payoff.value() * weight;
            rec.sweep_and_reset(mark, &[(payoff, weight)], &mut adjoints);
        }
        Greeks {
            price,
            delta: adjoints.wrt(spot),
            rho: adjoints.wrt(rate),
            vega: adjoints.wrt(vol),
            // θ is the sensitivity to calendar time: minus that to maturity.
            theta: -adjoints.wrt(maturity),
        }
    })
}

/// Black–Scholes closed forms, from the library's `finance` module.
fn black_scholes(m: Market) -> Greeks {
    let exact = BlackScholes::new(
        OptionKind::Call,
        m.spot,
        m.strike,
        m.rate,
        m.vol,
        m.maturity,
    )
    .expect("the market is valid")
    .closed_form();
    Greeks {
        price: exact.price,
        delta: exact.delta,
        rho: exact.rho,
        vega: exact.vega,
        theta: exact.theta,
    }
}

fn market() -> Market {
    Market {
        spot: 100.0,
        strike: 100.0,
        rate: 0.05,
        vol: 0.2,
        maturity: 1.0,
    }
}

fn main() {
    let paths: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let start = std::time::Instant::now();
    let mc = monte_carlo(market(), paths, 42);
    let elapsed = start.elapsed();
    let bs = black_scholes(market());
    println!("European call, {paths} paths, price and Greeks by adjoint AD in {elapsed:.2?}");
    println!(
        "{:<8} {:>12} {:>12} {:>10}",
        "", "Monte Carlo", "closed form", "rel. diff"
    );
    for (name, a, b) in [
        ("price", mc.price, bs.price),
        ("delta", mc.delta, bs.delta),
        ("vega", mc.vega, bs.vega),
        ("rho", mc.rho, bs.rho),
        ("theta", mc.theta, bs.theta),
    ] {
        println!(
            "{name:<8} {a:>12.6} {b:>12.6} {:>10.2e}",
            (a - b).abs() / b.abs()
        );
    }
}

#[test]
fn greeks_match_black_scholes_within_sampling_error() {
    let (mc, bs) = (monte_carlo(market(), 200_000, 7), black_scholes(market()));
    // With 200,000 antithetic paths the standard errors are below 0.3% of each value.
    for (a, b) in [
        (mc.price, bs.price),
        (mc.delta, bs.delta),
        (mc.vega, bs.vega),
        (mc.rho, bs.rho),
        (mc.theta, bs.theta),
    ] {
        assert!((a - b).abs() < 0.01 * b.abs(), "{a} vs {b}");
    }
}
