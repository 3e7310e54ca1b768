//! The `retrograd` command line: one clap subcommand per tool; this file only dispatches
//! and reports errors. With no subcommand it trains (the main job).

mod eval;
mod output;
mod plot;
mod predict;
mod train;

use clap::{Parser, Subcommand};
use retrograd_cli::{grad, CliError};
use std::io::Write;
use std::process::ExitCode;

/// retrograd: automatic differentiation and a training stack, from the command line.
#[derive(Debug, Parser)]
#[command(name = "retrograd", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no subcommand, `retrograd` trains (`retrograd train` options apply).
    #[command(flatten)]
    train: train::TrainArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a classifier (the default): progress, metrics, model file and plot.
    Train(Box<train::TrainArgs>),
    /// Evaluate a saved model: accuracy and confusion matrix.
    Eval(eval::EvalArgs),
    /// Print the predicted label of each sample.
    Predict(predict::PredictArgs),
    /// Differentiate a formula at a point: its value, gradient and (with --hessian) Hessian.
    Grad(grad::GradArgs),
}

fn run(cli: &Cli) -> Result<(), Box<dyn std::error::Error>> {
    match &cli.command {
        None => train::run(&cli.train),
        Some(Command::Train(args)) => train::run(args),
        Some(Command::Eval(args)) => eval::run(args),
        Some(Command::Predict(args)) => predict::run(args),
        Some(Command::Grad(args)) => match grad::run(args, &mut std::io::stdout().lock()) {
            // A reader that stops early (`| head`) is not an error.
            Err(CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other.map_err(Into::into),
        },
    }
}

fn main() -> ExitCode {
    match run(&Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // If even stderr is gone there is no one left to tell.
            let _ = writeln!(std::io::stderr(), "error: {error}");
            ExitCode::FAILURE
        }
    }
}
