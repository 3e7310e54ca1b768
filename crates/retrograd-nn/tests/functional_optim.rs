//! `retrograd::hyper`'s functional SGD and Adam steps against this crate's optimisers: the
//! same updates from the same gradients, step after step.

use proptest::prelude::*;
use retrograd::hyper::{Adam, FunctionalOptimizer, Sgd, StepHyper};
use retrograd_nn::optim::{AdamConfig, Optim, Optimizer, SgdConfig};

/// Runs `steps` updates of both with gradients `g(t, w)` and returns the largest gap.
fn largest_gap<O: FunctionalOptimizer>(
    functional: O,
    hyper: StepHyper<f64>,
    mut stateful: impl Optimizer,
    w0: &[f64],
    steps: usize,
) -> f64 {
    let mut w = w0.to_vec();
    let mut state = vec![0.0; functional.state_slots() * w.len()];
    let mut w32: Vec<f32> = w0.iter().map(|&v| v as f32).collect();
    let mut gap = 0.0_f64;
    for t in 1..=steps {
        // A gradient that depends on the weights, as a loss's would: ∇ of Σ wᵢ⁴/4 − sin(t·i)·wᵢ.
        let grad = |w: &[f64]| -> Vec<f64> {
            w.iter()
                .enumerate()
                .map(|(i, v)| v.powi(3) - ((t * (i + 1)) as f64).sin())
                .collect()
        };
        let g = grad(&w);
        (w, state) = functional.step(t, &w, &state, &g, hyper).unwrap();
        let g32: Vec<f32> = grad(&w32.iter().map(|&v| f64::from(v)).collect::<Vec<_>>())
            .iter()
            .map(|&v| v as f32)
            .collect();
        stateful.update(0, &mut w32, &g32);
        for (a, &b) in w.iter().zip(&w32) {
            gap = gap.max((a - f64::from(b)).abs() / a.abs().max(1.0));
        }
    }
    gap
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn sgd_matches_the_stateful_optimiser(
        w0 in prop::collection::vec(-1.0f64..1.0, 1..5),
        lr in 0.001f64..0.1,
        wd in 0.0f64..0.1,
        momentum in prop::sample::select(vec![0.0, 0.5, 0.9]),
        nesterov in any::<bool>(),
    ) {
        let w0: Vec<f64> = w0.iter().map(|&v| f64::from(v as f32)).collect();
        let mut config = SgdConfig::new(lr).momentum(momentum).weight_decay(wd);
        if nesterov {
            config = config.nesterov();
        }
        let gap = largest_gap(
            Sgd { momentum, nesterov },
            StepHyper { learning_rate: lr, weight_decay: wd },
            Optim::new(config, 1),
            &w0,
            10,
        );
        prop_assert!(gap < 1e-5, "gap {gap}");
    }

    #[test]
    fn adam_and_adamw_match_the_stateful_optimiser(
        w0 in prop::collection::vec(-1.0f64..1.0, 1..5),
        lr in 0.001f64..0.05,
        wd in 0.0f64..0.1,
        decoupled in any::<bool>(),
    ) {
        let w0: Vec<f64> = w0.iter().map(|&v| f64::from(v as f32)).collect();
        let config = if decoupled { AdamConfig::adamw(lr, wd) } else { AdamConfig::new(lr).weight_decay(wd) };
        let functional = Adam { decoupled, ..Adam::new() };
        let gap = largest_gap(
            functional,
            StepHyper { learning_rate: lr, weight_decay: wd },
            Optim::new(config, 1),
            &w0,
            10,
        );
        prop_assert!(gap < 1e-5, "gap {gap}");
    }
}
