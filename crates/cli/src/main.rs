//! `task2vec`: the command-line front end. Argument parsing and printing only; every piece of
//! logic a library user could need lives in the library crates (docs/design.md invariant 6).
use clap::{Parser, Subcommand};

mod cmd;
mod output;

#[derive(Parser)]
#[command(
    name = "task2vec",
    version,
    about = "Task2Vec task embeddings: embed, compare, cluster, select experts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Import an embedding computed elsewhere (e.g. by the reference PyTorch code) from .npy files.
    Import(cmd::import::Args),
    /// Print the distance between two embeddings.
    Distance(cmd::distance::Args),
    /// Write the full distance matrix of many embeddings (CSV or .npy).
    // Boxed: it carries the stored results' settings (every embedding option).
    Matrix(Box<cmd::matrix::Args>),
    /// Hierarchically cluster a distance matrix and print the leaf order.
    Cluster(cmd::cluster::Args),
    /// Draw a clustered distance-matrix heatmap or a 2-D map of embeddings.
    // Boxed: it can carry the stored results' settings (every embedding option).
    Plot(Box<cmd::plot::Args>),
    /// Rank experts (embeddings of the tasks they were trained on) for a new task.
    Select(cmd::select::Args),
    /// Show an embedding's layout, dimensions, provenance and norms.
    Info(cmd::info::Args),
    /// Inspect or run a probe network.
    Probe(cmd::probe::Args),
    /// Embed a task (a labelled image dataset) with a probe network.
    // Boxed: embed's many options make it far larger than the other variants.
    Embed(Box<cmd::embed::Args>),
    /// Train an expert (a probe with a fine-tuned tail) or compute its features.
    Expert(cmd::expert::Args),
    /// Learn expert embeddings (Model2Vec) from a meta-task error matrix.
    Model2vec(cmd::model2vec::Args),
    /// Embed every task of a suite into a result store (one shard of it in array jobs), or
    /// list what the store holds (--status).
    // Boxed like embed: the embedding options make it large.
    Run(Box<cmd::run::Args>),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Import(args) => cmd::import::run(args),
        Command::Distance(args) => cmd::distance::run(args),
        Command::Matrix(args) => cmd::matrix::run(*args),
        Command::Cluster(args) => cmd::cluster::run(args),
        Command::Plot(args) => cmd::plot::run(*args),
        Command::Select(args) => cmd::select::run(args),
        Command::Info(args) => cmd::info::run(args),
        Command::Probe(args) => cmd::probe::run(args),
        Command::Embed(args) => cmd::embed::run(*args),
        Command::Expert(args) => cmd::expert::run(args),
        Command::Model2vec(args) => cmd::model2vec::run(args),
        Command::Run(args) => cmd::run::run(*args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // One clear line (plus causes), never a panic.
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
