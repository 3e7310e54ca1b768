//! A physics-informed network for the 1-D Poisson problem −u'' = π² sin(πx) on [−1, 1],
//! u(±1) = 0 (DeepXDE's `Poisson_Dirichlet_1d`): a 1-50-50-50-1 tanh network in f64 whose
//! second derivative in x comes from grad-of-grad through the tensor autograd, trained by
//! Adam (5,000 steps, lr 1e-3) then L-BFGS.
//!
//! Run: `cargo run --release -p retrograd-nn --example pinn_poisson [-- --json] [--quick]
//! [--plot PATH] [--seed N]` (default plot: target/pinn_poisson.png; `--seed` draws other
//! weights and collocation points than the default seed 0).

mod pinn_common;

use pinn_common::{plot, print_checks, training_json, Flags, Panel};
use retrograd_nn::pinn::poisson::{checks, run, PoissonConfig};

fn main() {
    let flags = Flags::parse("target/pinn_poisson.png", &["seed"]).unwrap_or_else(|e| {
        eprintln!("pinn_poisson: {e}");
        std::process::exit(2)
    });
    let mut config = if flags.quick {
        PoissonConfig::quick()
    } else {
        PoissonConfig::default()
    };
    if let Some(seed) = flags.number("seed") {
        config.seed = seed as u64;
    }
    let report = run(&config).unwrap_or_else(|e| {
        eprintln!("pinn_poisson: {e}");
        std::process::exit(1)
    });
    let checks = checks(&config, &report);
    if let Some(path) = &flags.plot {
        let error: Vec<f64> = report
            .predicted
            .iter()
            .zip(&report.exact)
            .map(|(p, e)| p - e)
            .collect();
        let panels = [
            Panel {
                title: "u(x)".into(),
                x_label: "x",
                y_label: "u",
                curves: vec![
                    (
                        "exact sin(πx)".into(),
                        report.x.clone(),
                        report.exact.clone(),
                    ),
                    ("network".into(), report.x.clone(), report.predicted.clone()),
                ],
            },
            Panel {
                title: "network − exact".into(),
                x_label: "x",
                y_label: "error",
                curves: vec![("error".into(), report.x.clone(), error)],
            },
        ];
        let title = format!(
            "PINN, −u'' = π² sin(πx): relative L2 error {:.2e}",
            report.rel_l2_error
        );
        if let Err(e) = plot(path, &title, &panels) {
            eprintln!("pinn_poisson: plot {}: {e}", path.display());
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
        out.insert(
            "ms_per_adam_step".into(),
            serde_json::json!(report.ms_per_adam_step),
        );
        out.insert(
            "cpu_ms_per_adam_step".into(),
            serde_json::json!(report.cpu_ms_per_adam_step),
        );
        let out = serde_json::Value::Object(out);
        println!("{out}");
    } else {
        println!(
            "PINN for −u'' = π² sin(πx), u(±1) = 0; network {:?}, f64, {} collocation points",
            config.widths, config.collocation
        );
        let cpu = report
            .cpu_ms_per_adam_step
            .map_or(String::new(), |ms| format!(" ({ms:.3} ms CPU)"));
        println!(
            "  Adam   {:>6} steps  {:>8.3} s  {:>7.3} ms/step{cpu}  loss {:.3e}",
            config.adam_steps, report.adam_seconds, report.ms_per_adam_step, report.adam_loss
        );
        println!(
            "  L-BFGS {:>6} iters  {:>8.3} s  {:>5} evaluations  loss {:.3e} ({:?})",
            report.lbfgs.iterations,
            report.lbfgs_seconds,
            report.lbfgs.evaluations,
            report.lbfgs.loss,
            report.lbfgs.status
        );
        println!(
            "  relative L2 error on {} test points: {:.3e}",
            report.x.len(),
            report.rel_l2_error
        );
        print_checks(&checks, flags.plot.as_deref());
    }
    if !all_pass {
        std::process::exit(1)
    }
}
