//! The `retrograd` command line.

mod eval;
mod plot;
mod predict;
mod train;

use clap::{Parser, Subcommand};

/// retrograd: automatic differentiation and a small training stack.
#[derive(Parser, Debug)]
#[command(name = "retrograd", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no subcommand, `retrograd` trains (`retrograd train` options apply).
    #[command(flatten)]
    train: train::TrainArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a classifier (the default): progress, metrics, model file and plot.
    Train(Box<train::TrainArgs>),
    /// Evaluate a saved model: accuracy and confusion matrix.
    Eval(eval::EvalArgs),
    /// Print the predicted label of each sample.
    Predict(predict::PredictArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        None => train::run(&cli.train),
        Some(Command::Train(args)) => train::run(args),
        Some(Command::Eval(args)) => eval::run(args),
        Some(Command::Predict(args)) => predict::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
