//! The `retrograd` command line: one clap subcommand per tool; the work is done in the
//! library (`retrograd_cli`), this file only dispatches and reports errors.

use clap::{CommandFactory, Parser, Subcommand};
use retrograd_cli::{grad, CliError};
use std::io::Write;
use std::process::ExitCode;

/// retrograd: reverse-mode automatic differentiation from the command line.
#[derive(Debug, Parser)]
#[command(name = "retrograd", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Differentiate a formula at a point: its value, gradient and (with --hessian) Hessian.
    Grad(grad::GradArgs),
    // `train` comes here as `Train(TrainArgs)`, dispatched in `run` below; it will also be
    // what runs when no subcommand is given (the `None` arm).
}

fn run(command: Option<Command>) -> Result<(), CliError> {
    match command {
        Some(Command::Grad(args)) => grad::run(&args, &mut std::io::stdout().lock()),
        None => {
            // Until `train` is the default, a bare `retrograd` shows what it can do.
            let help = Cli::command().render_long_help().to_string();
            std::io::stdout()
                .write_all(help.as_bytes())
                .map_err(CliError::Output)
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stops early (`| head`) is not an error.
        Err(CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            // If even stderr is gone there is no one left to tell.
            let _ = writeln!(std::io::stderr(), "error: {error}");
            ExitCode::FAILURE
        }
    }
}
