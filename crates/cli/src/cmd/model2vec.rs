//! `task2vec model2vec train`: learn expert embeddings m_i = F_i + b_i from a meta-task error
//! matrix (`task2vec_model2vec::model2vec`); `task2vec select --model2vec` ranks with them.
use std::path::PathBuf;

use anyhow::Context;
use ndarray::Array2;
use task2vec_embedding::{Embedding, io};
use task2vec_model2vec::matrix::ErrorMatrix;
use task2vec_model2vec::model2vec::{BiasShape, Model2Vec, Model2VecOptions};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Fit the experts' biases and the temperature on an error matrix.
    Train(TrainArgs),
}

#[derive(clap::Args)]
struct TrainArgs {
    /// The meta-task's errors: long-form CSV `target,expert,repeat,error,train_images,test_images`
    /// (as `cargo xtask experts` writes `E6-errors.csv`).
    #[arg(long)]
    errors: PathBuf,
    /// Directory (or files) of the targets' task embeddings; their task names are the CSV's
    /// targets.
    #[arg(long, required = true, num_args = 1..)]
    tasks: Vec<PathBuf>,
    /// Directory (or files) of the experts' source-task embeddings; their task names are the
    /// CSV's experts.
    #[arg(long, required = true, num_args = 1..)]
    experts: Vec<PathBuf>,
    /// Trivial embedding t₀ of the asymmetric distance.
    #[arg(long)]
    trivial: PathBuf,
    /// One bias per expert and layer (`per-layer`) or per expert (`scalar`).
    #[arg(long, default_value = "per-layer", value_parser = ["per-layer", "scalar"])]
    bias: String,
    /// α of the asymmetric distance.
    #[arg(long, default_value_t = Model2VecOptions::default().alpha)]
    alpha: f64,
    /// Output file (JSON, written atomically).
    #[arg(long, short)]
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Train(a) => train(a),
    }
}

fn train(args: TrainArgs) -> anyhow::Result<()> {
    let matrix = ErrorMatrix::read_csv(&args.errors)?;
    let targets = io::load_embeddings(&args.tasks)?;
    let sources = io::load_embeddings(&args.experts)?;
    let trivial = Embedding::load(&args.trivial)?;
    let names =
        |es: &[Embedding]| -> Vec<String> { es.iter().map(|e| e.name().to_string()).collect() };
    let target_names = names(&targets);
    let expert_names = names(&sources);
    let errors = matrix.mean(&target_names, &expert_names).with_context(|| {
        format!(
            "matching {} to the embeddings' task names",
            args.errors.display()
        )
    })?;
    // An expert trained on the target task itself is left out of the fit (the paper's rule).
    let allowed = Array2::from_shape_fn(errors.dim(), |(t, e)| target_names[t] != expert_names[e]);
    let options = Model2VecOptions {
        bias: if args.bias == "scalar" {
            BiasShape::Scalar
        } else {
            BiasShape::PerLayer
        },
        alpha: args.alpha,
        ..Model2VecOptions::default()
    };
    let model = Model2Vec::fit(&sources, &targets, &errors, &allowed, &trivial, &options)?;
    model.save(&args.out)?;
    eprintln!(
        "Model2Vec of {} experts fitted on {} targets; wrote {}",
        sources.len(),
        targets.len(),
        args.out.display()
    );
    Ok(())
}
