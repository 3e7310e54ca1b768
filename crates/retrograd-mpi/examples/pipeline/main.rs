//! Pipeline parallelism's bubble, measured: a ReLU network cut into one stage per rank
//! trains a few steps with GPipe and 1F1B at 1, 2, 4 and 8 micro-batches; each rank times
//! its compute against the step's wall time, and the idle fraction is compared with
//! `(p − 1)/(m + p − 1)`.
//!
//! ```text
//! cargo build --release --example pipeline
//! mpirun -np 2 target/release/examples/pipeline [--json] [--quick]
//! ```
//!
//! Each rank computes on one thread (`RAYON_NUM_THREADS=1` unless set), as MPI jobs
//! usually run one rank per core.

mod bubble;

use bubble::{checks, measure, Row, Sizes};
use mpi::topology::Communicator;
use retrograd_mpi::pipeline::Schedule;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let universe = mpi::initialize().expect("MPI initialises once");
    let world = universe.world();
    let sizes = if quick {
        Sizes {
            batch: 32,
            width: 32,
            depth: 4,
            steps: 3,
        }
    } else {
        Sizes {
            batch: 1024,
            width: 512,
            depth: 8,
            steps: 10,
        }
    };
    let mut rows: Vec<Row> = Vec::new();
    for schedule in [Schedule::GPipe, Schedule::OneFOneB] {
        for m in [1, 2, 4, 8] {
            rows.push(measure(&world, &sizes, schedule, m));
        }
    }
    if world.rank() != 0 {
        return;
    }
    let tolerance = 0.2;
    let checks = checks(&rows, tolerance);
    let p = world.size();
    if json {
        let rows_json: Vec<String> = rows
            .iter()
            .map(|r| {
                let per_rank: Vec<String> = r.best_per_rank.iter().map(|v| format!("{v:.4}")).collect();
                format!(
                    "{{\"schedule\":\"{:?}\",\"micro_batches\":{},\"theory\":{:.4},\"bubble\":{:.4},\"bubble_per_rank\":[{}],\"bubble_median\":{:.4},\"step_ms\":{:.3},\"step_ms_median\":{:.3}}}",
                    r.schedule, r.micro_batches, r.theory, r.best, per_rank.join(","), r.median, r.best_step_ms, r.median_step_ms
                )
            })
            .collect();
        let checks_json: Vec<String> = checks
            .iter()
            .map(|(n, ok)| format!("\"{n}\":{ok}"))
            .collect();
        println!(
            "{{\"stages\":{p},\"batch\":{},\"width\":{},\"depth\":{},\"steps\":{},\"tolerance\":{tolerance},\"rows\":[{}],\"checks\":{{{}}}}}",
            sizes.batch, sizes.width, sizes.depth, sizes.steps, rows_json.join(","), checks_json.join(",")
        );
        return;
    }
    println!(
        "pipeline over {p} ranks: batch {}, {} linear layers of width {}, {} timed steps",
        sizes.batch, sizes.depth, sizes.width, sizes.steps
    );
    println!(
        "bubble = idle fraction in the fastest step (mean over ranks); median over steps beside it"
    );
    println!(
        "{:<9} {:>3} {:>7} {:>7} {:>14} {:>7} {:>8} {:>8}",
        "schedule", "m", "theory", "bubble", "per rank", "median", "step ms", "median"
    );
    for r in &rows {
        let per_rank: Vec<String> = r.best_per_rank.iter().map(|v| format!("{v:.3}")).collect();
        println!(
            "{:<9} {:>3} {:>7.3} {:>7.3} {:>14} {:>7.3} {:>8.2} {:>8.2}",
            format!("{:?}", r.schedule),
            r.micro_batches,
            r.theory,
            r.best,
            per_rank.join(" "),
            r.median,
            r.best_step_ms,
            r.median_step_ms
        );
    }
    for (name, ok) in &checks {
        println!("check {name}: {}", if *ok { "ok" } else { "FAILED" });
    }
}
