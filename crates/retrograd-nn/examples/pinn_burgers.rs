//! A physics-informed network for viscous Burgers' equation u_t + u u_x = (0.01/π) u_xx,
//! u(x, 0) = −sin(πx), u(±1, t) = 0 (Raissi et al.'s set-up: a 2-20×8-1 tanh network
//! whose input (x, t) is scaled onto [−1, 1]², 10,000 collocation points, 100 initial and
//! boundary points), in f64, with u_x, u_t and
//! u_xx by grad-of-grad through the tensor autograd, trained by Adam then L-BFGS, and
//! measured against the exact Cole–Hopf solution (Gauss–Hermite quadrature) on a 256 × 100
//! grid.
//!
//! Run: `cargo run --release -p retrograd-nn --example pinn_burgers [-- --json] [--quick]
//! [--plot PATH] [--lbfgs-iters N] [--log-every K] [--seed N]` (default plot:
//! target/pinn_burgers.png; `--seed` draws other weights and points than the default 0).
//! `--lbfgs-iters N` sets the L-BFGS iteration limit (the evaluation limit is `N · 5/4`);
//! `--log-every K` prints, to standard error, the loss and the test error at each iterate
//! where a run with the limit `K`, `2K`, … would have stopped.

mod pinn_common;

use pinn_common::{plot, print_checks, training_json, Flags, Panel};
use retrograd_nn::pinn::burgers::{checks, run, run_logged, BurgersConfig};

fn main() {
    let flags = Flags::parse(
        "target/pinn_burgers.png",
        &["lbfgs-iters", "log-every", "seed"],
    )
    .unwrap_or_else(|e| {
        eprintln!("pinn_burgers: {e}");
        std::process::exit(2)
    });
    let mut config = if flags.quick {
        BurgersConfig::quick()
    } else {
        BurgersConfig::default()
    };
    if let Some(n) = flags.number("lbfgs-iters") {
        config.lbfgs.max_iter = n;
    }
    if let Some(seed) = flags.number("seed") {
        config.seed = seed as u64;
    }
    let report = match flags.number("log-every") {
        None => run(&config),
        Some(every) => run_logged(&config, every, |p| {
            eprintln!(
                "  L-BFGS limit {:>6}: {:>6} iters {:>6} evaluations {:>9.1} s  loss {:.3e}  relative L2 error {:.3e}",
                p.lbfgs_limit, p.iterations, p.evaluations, p.lbfgs_seconds, p.loss, p.rel_l2_error
            )
        }),
    }
    .unwrap_or_else(|e| {
        eprintln!("pinn_burgers: {e}");
        std::process::exit(1)
    });
    let checks = checks(&config, &report);
    if let Some(path) = &flags.plot {
        // Slices at the grid times nearest 0.25, 0.5 and 0.75, as in Raissi et al.'s figure.
        let nx = report.x.len();
        let panels: Vec<Panel> = [0.25, 0.5, 0.75]
            .iter()
            .map(|&want| {
                let j = report
                    .t
                    .iter()
                    .enumerate()
                    .min_by(|a, b| (a.1 - want).abs().total_cmp(&(b.1 - want).abs()))
                    .map_or(0, |(j, _)| j);
                let row = |v: &[f64]| v[j * nx..(j + 1) * nx].to_vec();
                Panel {
                    title: format!("t = {:.2}", report.t[j]),
                    x_label: "x",
                    y_label: "u(x, t)",
                    curves: vec![
                        (
                            "exact (Cole–Hopf)".into(),
                            report.x.clone(),
                            row(&report.exact),
                        ),
                        ("network".into(), report.x.clone(), row(&report.predicted)),
                    ],
                }
            })
            .collect();
        let title = format!(
            "PINN, Burgers' equation: relative L2 error {:.2e}",
            report.rel_l2_error
        );
        if let Err(e) = plot(path, &title, &panels) {
            eprintln!("pinn_burgers: plot {}: {e}", path.display());
            std::process::exit(1)
        }
    }
    let all_pass = checks.iter().all(|(_, ok)| *ok);
    if flags.json {
        let mut out = training_json(
            config.adam_steps,
            report.adam_seconds,
            report.adam_loss,
            &report.lbfgs,
            report.lbfgs_seconds,
            &checks,
        );
        out.insert(
            "rel_l2_error".into(),
            serde_json::json!(report.rel_l2_error),
        );
        let out = serde_json::Value::Object(out);
        println!("{out}");
    } else {
        println!(
            "PINN for Burgers' equation, ν = 0.01/π; network {:?}, f64, {} collocation + {} data points",
            config.widths, config.collocation, config.data_points
        );
        println!(
            "  Adam   {:>6} steps  {:>8.2} s  loss {:.3e}",
            config.adam_steps, report.adam_seconds, report.adam_loss
        );
        println!(
            "  L-BFGS {:>6} iters  {:>8.2} s  {:>5} evaluations  loss {:.3e} ({:?})",
            report.lbfgs.iterations,
            report.lbfgs_seconds,
            report.lbfgs.evaluations,
            report.lbfgs.loss,
            report.lbfgs.status
        );
        println!(
            "  relative L2 error on the {} × {} grid: {:.3e}",
            report.x.len(),
            report.t.len(),
            report.rel_l2_error
        );
        print_checks(&checks, flags.plot.as_deref());
    }
    if !all_pass {
        std::process::exit(1)
    }
}
