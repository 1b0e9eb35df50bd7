//! `task2vec cluster`: hierarchical clustering of a distance matrix; prints the leaf order.

use std::path::PathBuf;

use task2vec_embedding::LabeledMatrix;
use task2vec_embedding::cluster::{LeafOrdering, Linkage, linkage};

use crate::output::{Format, Table};

#[derive(clap::Args)]
pub struct Args {
    /// Distance matrix (CSV written by `task2vec matrix`, or `.npy`).
    matrix: PathBuf,
    /// complete (REF), average or single.
    #[arg(long, default_value = "complete")]
    linkage: Linkage,
    /// optimal (true optimum), scipy (SciPy's optimal_ordering=True, bug for bug) or none.
    #[arg(long, default_value = "optimal")]
    ordering: LeafOrdering,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let m = LabeledMatrix::load(&args.matrix)?;
    let tree = linkage(&m.values, args.linkage)
        .and_then(|t| t.reordered(&m.values, args.ordering))
        .map_err(|e| e.in_file(&args.matrix))?;
    let rows = tree
        .leaves()
        .into_iter()
        .enumerate()
        .map(|(pos, i)| vec![pos.into(), i.into(), m.labels[i].clone().into()])
        .collect();
    Table {
        headers: vec!["position", "index", "name"],
        rows,
    }
    .print(args.format)
}
