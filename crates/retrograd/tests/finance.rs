//! The finance examples' checks at reduced size: Black–Scholes Greeks by AD against closed
//! forms and differences, and basket Greeks by adjoints against bump-and-revalue.

use retrograd::finance::basket::{Basket, Recording, Simulation};
use retrograd::finance::black_scholes::{BlackScholes, OptionKind};

#[allow(dead_code)]
#[path = "../examples/bs_greeks.rs"]
mod bs_example;

#[allow(dead_code)]
#[path = "../examples/basket_greeks.rs"]
mod basket_example;

/// The `bs_greeks` example's own run: every check passes.
#[test]
fn bs_greeks_example_passes_its_checks() {
    let report = bs_example::run().unwrap();
    assert_eq!(report.rows.len(), 4 * 2 * 8);
    for (name, ok) in report.checks {
        assert!(ok, "check {name} failed");
    }
}

/// The `basket_greeks` example's own run at reduced size (6 assets, 2,000 paths): every
/// check but the time ratio (a test build is not timed) passes.
#[test]
fn basket_greeks_example_passes_its_checks_at_reduced_size() {
    let report = basket_example::run(6, 2_000, 1, 1e-6).unwrap();
    assert_eq!(report.adjoint.deltas.len(), 6);
    for (name, ok) in report.checks {
        assert!(
            ok || name == "greeks_within_4x_price",
            "check {name} failed"
        );
    }
}

const MARKETS: [(f64, f64, f64, f64, f64); 3] = [
    (100.0, 100.0, 0.05, 0.2, 1.0),
    (90.0, 100.0, 0.03, 0.3, 0.5),
    (120.0, 100.0, 0.01, 0.25, 2.0),
];

fn options() -> impl Iterator<Item = BlackScholes> {
    MARKETS.into_iter().flat_map(|(s, k, r, v, t)| {
        [OptionKind::Call, OptionKind::Put]
            .map(|kind| BlackScholes::new(kind, s, k, r, v, t).unwrap())
    })
}

#[test]
fn black_scholes_greeks_match_the_closed_forms() {
    for option in options() {
        let (ad, exact) = (option.greeks(), option.closed_form());
        for ((name, a), (_, b)) in ad.named().into_iter().zip(exact.named()) {
            assert!(
                (a - b).abs() <= 1e-10 * b.abs(),
                "{option:?} {name}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn black_scholes_greeks_match_central_differences_of_the_price() {
    for option in options() {
        let ad = option.greeks();
        let at = |ds: f64, dr: f64, dv: f64, dt: f64| {
            BlackScholes {
                spot: option.spot + ds,
                rate: option.rate + dr,
                vol: option.vol + dv,
                maturity: option.maturity + dt,
                ..option
            }
            .price()
        };
        let h = 1e-4;
        let hs = h * option.spot;
        let fd = [
            (
                "delta",
                ad.delta,
                (at(hs, 0., 0., 0.) - at(-hs, 0., 0., 0.)) / (2.0 * hs),
            ),
            (
                "rho",
                ad.rho,
                (at(0., h, 0., 0.) - at(0., -h, 0., 0.)) / (2.0 * h),
            ),
            (
                "vega",
                ad.vega,
                (at(0., 0., h, 0.) - at(0., 0., -h, 0.)) / (2.0 * h),
            ),
            (
                "theta",
                ad.theta,
                -(at(0., 0., 0., h) - at(0., 0., 0., -h)) / (2.0 * h),
            ),
            (
                "gamma",
                ad.gamma,
                (at(hs, 0., 0., 0.) - 2.0 * ad.price + at(-hs, 0., 0., 0.)) / (hs * hs),
            ),
            (
                "vanna",
                ad.vanna,
                (at(hs, 0., h, 0.) - at(hs, 0., -h, 0.) - at(-hs, 0., h, 0.) + at(-hs, 0., -h, 0.))
                    / (4.0 * hs * h),
            ),
            (
                "volga",
                ad.volga,
                (at(0., 0., h, 0.) - 2.0 * ad.price + at(0., 0., -h, 0.)) / (h * h),
            ),
        ];
        for (name, a, f) in fd {
            assert!(
                (a - f).abs() <= 1e-5 * a.abs(),
                "{option:?} {name}: {a} vs {f}"
            );
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Over random markets some Greeks pass through zero (put theta, vanna, volga), so the
    /// error is measured against the larger of the Greek and 1.
    #[test]
    fn black_scholes_greeks_match_the_closed_forms_anywhere(
        spot in 50.0..150.0f64,
        strike in 50.0..150.0f64,
        rate in -0.02..0.1f64,
        vol in 0.05..0.8f64,
        maturity in 0.05..3.0f64,
        put in proptest::bool::ANY,
    ) {
        let kind = if put { OptionKind::Put } else { OptionKind::Call };
        let option = BlackScholes::new(kind, spot, strike, rate, vol, maturity).unwrap();
        let (ad, exact) = (option.greeks(), option.closed_form());
        for ((name, a), (_, b)) in ad.named().into_iter().zip(exact.named()) {
            proptest::prop_assert!((a - b).abs() <= 1e-10 * b.abs().max(1.0), "{name}: {a} vs {b}");
        }
    }
}

#[test]
fn black_scholes_rejects_inputs_outside_the_domain() {
    let bad = [
        (0.0, 100.0, 0.0, 0.2, 1.0, "spot is 0"),
        (100.0, -1.0, 0.0, 0.2, 1.0, "strike is -1"),
        (100.0, 100.0, f64::INFINITY, 0.2, 1.0, "rate is inf"),
        (100.0, 100.0, 0.0, 0.2, 0.0, "maturity is 0"),
    ];
    for (s, k, r, v, t, message) in bad {
        let err = BlackScholes::new(OptionKind::Call, s, k, r, v, t).unwrap_err();
        assert!(err.to_string().contains(message), "{err}");
    }
}

/// A small version of the example's market: `n` assets, correlations
/// `0.3 + 0.7·exp(−|i − j|/8)`.
fn basket(n: usize) -> Basket {
    let spots: Vec<f64> = (0..n)
        .map(|i| 80.0 + 40.0 * i as f64 / (n - 1) as f64)
        .collect();
    let vols: Vec<f64> = (0..n)
        .map(|i| 0.35 - 0.2 * i as f64 / (n - 1) as f64)
        .collect();
    let mut correlation = vec![1.0; n * n];
    for i in 0..n {
        for j in 0..n {
            if i != j {
                correlation[i * n + j] = 0.3 + 0.7 * (-(i.abs_diff(j) as f64) / 8.0).exp();
            }
        }
    }
    Basket::new(
        &spots,
        &vols,
        &vec![1.0 / n as f64; n],
        &correlation,
        100.0,
        0.03,
        1.0,
    )
    .unwrap()
}

fn max_rel_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / x.abs())
        .fold(0.0, f64::max)
}

#[test]
fn basket_adjoints_match_bump_and_revalue() {
    let (basket, sim) = (
        basket(6),
        Simulation {
            paths: 2_000,
            seed: 11,
        },
    );
    let pool = |t| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap()
    };
    let ad = pool(1)
        .install(|| basket.greeks(&sim, Recording::Operators))
        .unwrap();
    let tuned = pool(1)
        .install(|| basket.greeks(&sim, Recording::Preaccumulated))
        .unwrap();
    let two_threads = pool(2)
        .install(|| basket.greeks(&sim, Recording::Operators))
        .unwrap();
    let bumped = basket.greeks_by_bumping(&sim, 1e-6).unwrap();
    assert!(max_rel_diff(&ad.deltas, &bumped.deltas) <= 1e-6);
    assert!(max_rel_diff(&ad.vegas, &bumped.vegas) <= 1e-6);
    assert!(max_rel_diff(&ad.deltas, &tuned.deltas) <= 1e-12);
    assert!(max_rel_diff(&ad.vegas, &tuned.vegas) <= 1e-12);
    assert_eq!(ad, two_threads);
    assert!((ad.price - basket.price(&sim).unwrap()).abs() <= 1e-12 * ad.price);
}

#[test]
fn a_one_asset_basket_has_the_black_scholes_greeks() {
    let basket = Basket::new(&[100.0], &[0.2], &[1.0], &[1.0], 100.0, 0.05, 1.0).unwrap();
    let g = basket
        .greeks(
            &Simulation {
                paths: 40_000,
                seed: 5,
            },
            Recording::Preaccumulated,
        )
        .unwrap();
    let exact = BlackScholes::new(OptionKind::Call, 100.0, 100.0, 0.05, 0.2, 1.0)
        .unwrap()
        .closed_form();
    // Standard errors at 40,000 paths: about 0.7% of the price, 0.4% of delta, 1% of vega.
    assert!(
        (g.price - exact.price).abs() < 0.03 * exact.price,
        "{}",
        g.price
    );
    assert!(
        (g.deltas[0] - exact.delta).abs() < 0.015 * exact.delta,
        "{}",
        g.deltas[0]
    );
    assert!(
        (g.vegas[0] - exact.vega).abs() < 0.04 * exact.vega,
        "{}",
        g.vegas[0]
    );
}

#[test]
fn basket_rejects_bad_inputs() {
    let one = |corr: &[f64], paths| {
        Basket::new(
            &[100.0, 90.0],
            &[0.2, 0.3],
            &[0.5, 0.5],
            corr,
            95.0,
            0.0,
            1.0,
        )
        .and_then(|b| b.price(&Simulation { paths, seed: 1 }))
    };
    let message = |r: Result<f64, retrograd::Error>| r.unwrap_err().to_string();
    assert!(message(one(&[1.0, 0.2, 0.3, 1.0], 10)).contains("symmetric"));
    assert!(message(one(&[1.0, 1.2, 1.2, 1.0], 10)).contains("not positive definite"));
    assert!(message(one(&[1.0, 0.2, 0.2], 10)).contains("expected length 4, found 3"));
    assert!(message(one(&[1.0, 0.2, 0.2, 1.0], 0)).contains("0 paths"));
    assert!(one(&[1.0, 0.2, 0.2, 1.0], 10).is_ok());
}
