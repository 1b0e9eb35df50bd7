//! `cargo xtask …`: chores that are not part of the library: fetching probes and datasets,
//! reproducing the paper's experiments. Run `cargo xtask --help`.
use clap::{Parser, Subcommand};

mod codegen;
mod fetch;
mod fetch_probe;
mod reproduce;

#[derive(Parser)]
#[command(name = "xtask", about = "task2vec-rs project chores")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Regenerate the probes' code from their ONNX graphs with burn-import (--check: fail
    /// when the committed crates/probe/generated is stale).
    Codegen(codegen::Args),
    /// Fetch a dataset source into $TASK2VEC_HOME/datasets (sha256-verified).
    Fetch(fetch::Args),
    /// Fetch a probe's pretrained weights into $TASK2VEC_HOME/probes (sha256-verified).
    FetchProbe(fetch_probe::Args),
    /// Embed a task suite and write target/reproduce/REPORT.md (the paper's experiments).
    Reproduce(Box<reproduce::Args>),
    /// Train an expert zoo and measure expert selection (E6) on its targets.
    Experts(Box<reproduce::ExpertsArgs>),
}

fn main() -> std::process::ExitCode {
    let result = match Cli::parse().command {
        Command::Codegen(args) => codegen::run(args),
        Command::Fetch(args) => fetch::run(args),
        Command::FetchProbe(args) => fetch_probe::run(args),
        Command::Reproduce(args) => reproduce::run(*args),
        Command::Experts(args) => reproduce::run_experts(*args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
