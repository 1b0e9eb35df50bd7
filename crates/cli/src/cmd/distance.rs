//! `task2vec distance`: one number, the distance between two embeddings.

use std::path::PathBuf;

use task2vec_embedding::asymmetric::{DEFAULT_ALPHA, asymmetric_distance_with};
use task2vec_embedding::{Embedding, Metric, distance_with};

use crate::cmd::compatibility;

use crate::output::{Format, Table};

#[derive(clap::Args)]
pub struct Args {
    /// First embedding (the source/expert task for --asymmetric).
    a: PathBuf,
    /// Second embedding (the target task for --asymmetric).
    b: PathBuf,
    /// cosine (the paper's symmetric distance), normalized-cosine, correlation, entropy, kl,
    /// asymmetric-kl, jsd.
    #[arg(long, default_value = "cosine", conflicts_with = "asymmetric")]
    metric: Metric,
    /// The paper's d_asym(a → b) = d_sym(a, b) − α·d_sym(a, t₀).
    #[arg(long)]
    asymmetric: bool,
    /// α of the asymmetric distance.
    #[arg(long, default_value_t = DEFAULT_ALPHA, requires = "asymmetric")]
    alpha: f64,
    /// Trivial embedding t₀ (needed when `a` has no prior, e.g. Monte-Carlo embeddings).
    #[arg(long, requires = "asymmetric")]
    trivial: Option<PathBuf>,
    /// Output format (human prints just the number).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Compare embeddings made with different estimators, input sizes or kinds (task/domain),
    /// which is refused by default. Different probes or layouts are always refused.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    use anyhow::Context;
    // The library's refusals name the tasks; the user typed files.
    let files = || format!("comparing {} with {}", args.a.display(), args.b.display());
    let a = Embedding::load(&args.a)?;
    let b = Embedding::load(&args.b)?;
    let (label, d) = if args.asymmetric {
        let t0 = args.trivial.as_ref().map(Embedding::load).transpose()?;
        (
            "asymmetric".to_string(),
            asymmetric_distance_with(&a, &b, args.alpha, t0.as_ref(), compatibility(args.force))
                .with_context(files)?,
        )
    } else {
        let d =
            distance_with(&a, &b, args.metric, compatibility(args.force)).with_context(files)?;
        (args.metric.to_string(), d)
    };
    match args.format {
        Format::Human => println!("{d:?}"),
        f => Table {
            headers: vec!["a", "b", "metric", "distance"],
            rows: vec![vec![
                args.a.display().to_string().into(),
                args.b.display().to_string().into(),
                label.into(),
                d.into(),
            ]],
        }
        .print(f)?,
    }
    Ok(())
}
