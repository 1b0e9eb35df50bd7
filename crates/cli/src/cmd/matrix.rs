//! `task2vec matrix`: the distance matrix of many embeddings, to CSV or `.npy`.

use std::path::PathBuf;

use task2vec_embedding::asymmetric::{DEFAULT_ALPHA, asymmetric_pdist_with};
use task2vec_embedding::{Embedding, LabeledMatrix, Metric, io, pdist_with};

use crate::cmd::{compatibility, naming_files};

#[derive(clap::Args)]
pub struct Args {
    /// Embedding JSON files or directories of them (at least two embeddings).
    #[arg(required_unless_present = "store", conflicts_with = "store")]
    embeddings: Vec<PathBuf>,
    #[command(flatten)]
    stored: crate::cmd::run::StoredSuite,
    /// cosine (the paper's symmetric distance), normalized-cosine, correlation, entropy, kl,
    /// asymmetric-kl, jsd.
    #[arg(long, default_value = "cosine", conflicts_with = "asymmetric")]
    metric: Metric,
    /// The paper's asymmetric distance: row i, column j = d_asym(e_i → e_j) (rows are sources).
    #[arg(long)]
    asymmetric: bool,
    /// α of the asymmetric distance.
    #[arg(long, default_value_t = DEFAULT_ALPHA, requires = "asymmetric")]
    alpha: f64,
    /// Trivial embedding t₀ (needed for embeddings without a prior).
    #[arg(long, requires = "asymmetric")]
    trivial: Option<PathBuf>,
    /// Output: CSV (header row + first column of names) or `.npy` (values only).
    #[arg(long)]
    out: PathBuf,
    /// Compare embeddings made with different estimators, input sizes or kinds (task/domain),
    /// which is refused by default. Different probes or layouts are always refused.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let embs = match args.stored.embeddings()? {
        Some(embs) => embs,
        None => io::load_embeddings(&args.embeddings)?,
    };
    if embs.len() < 2 {
        anyhow::bail!("need at least two embeddings, got {}", embs.len());
    }
    let spinner = indicatif::ProgressBar::new_spinner().with_message(format!(
        "{} × {} distances of {} values each",
        embs.len(),
        embs.len(),
        embs[0].dim()
    ));
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    let values = if args.asymmetric {
        let t0 = args.trivial.as_ref().map(Embedding::load).transpose()?;
        asymmetric_pdist_with(&embs, args.alpha, t0.as_ref(), compatibility(args.force))
    } else {
        pdist_with(&embs, args.metric, compatibility(args.force))
    }
    .map_err(|e| naming_files(e, &embs, &args.embeddings))?;
    spinner.finish_and_clear();
    let labels = embs.iter().map(|e| e.name().to_string()).collect();
    LabeledMatrix::new(labels, values)?.save(&args.out)?;
    eprintln!(
        "wrote {} ({} × {})",
        args.out.display(),
        embs.len(),
        embs.len()
    );
    Ok(())
}
