//! `task2vec plot matrix|map`: the clustered distance heatmap or a 2-D map of embeddings.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use task2vec_embedding::cluster::{LeafOrdering, Linkage};
use task2vec_embedding::mds::classical_mds;
use task2vec_embedding::plot::{HeatmapOptions, MapOptions, distance_heatmap, embedding_map};
use task2vec_embedding::{LabeledMatrix, Metric, io, pdist_with};

use crate::cmd::{compatibility, naming_files};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    kind: Kind,
}

#[derive(clap::Subcommand)]
enum Kind {
    /// Clustered distance-matrix heatmap (REF's plot_distance_matrix look, viridis_r).
    Matrix(MatrixArgs),
    /// 2-D map (classical MDS) of embeddings, coloured by group.
    Map(MapArgs),
}

/// Where the distances come from: embeddings, or a matrix file.
#[derive(clap::Args)]
struct Source {
    /// Embedding JSON files or directories of them.
    #[arg(required_unless_present_any = ["matrix", "store"], conflicts_with = "store")]
    embeddings: Vec<PathBuf>,
    /// A distance matrix (CSV or .npy) instead of embeddings.
    #[arg(long, conflicts_with_all = ["embeddings", "store"])]
    matrix: Option<PathBuf>,
    /// A suite's task embeddings from a result store instead.
    #[command(flatten)]
    stored: crate::cmd::run::StoredSuite,
    /// Metric used when computing distances from embeddings.
    #[arg(long, default_value = "cosine")]
    metric: Metric,
    /// Compare embeddings made with different estimators, input sizes or kinds (task/domain),
    /// which is refused by default. Different probes or layouts are always refused.
    #[arg(long)]
    force: bool,
}

impl Source {
    fn load(&self) -> anyhow::Result<LabeledMatrix> {
        if let Some(m) = &self.matrix {
            return Ok(LabeledMatrix::load(m)?);
        }
        let embs = match self.stored.embeddings()? {
            Some(embs) => embs,
            None => io::load_embeddings(&self.embeddings)?,
        };
        if embs.len() < 2 {
            anyhow::bail!("need at least two embeddings, got {}", embs.len());
        }
        let labels = embs.iter().map(|e| e.name().to_string()).collect();
        Ok(LabeledMatrix::new(
            labels,
            pdist_with(&embs, self.metric, compatibility(self.force))
                .map_err(|e| naming_files(e, &embs, &self.embeddings))?,
        )?)
    }
}

#[derive(clap::Args)]
struct MatrixArgs {
    #[command(flatten)]
    source: Source,
    /// complete (REF), average or single.
    #[arg(long, default_value = "complete")]
    linkage: Linkage,
    /// optimal, scipy or none.
    #[arg(long, default_value = "optimal")]
    ordering: LeafOrdering,
    /// Keep the input order instead of clustering.
    #[arg(long)]
    no_cluster: bool,
    /// Figure title.
    #[arg(long)]
    title: Option<String>,
    /// Output figure (.svg or .png).
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args)]
struct MapArgs {
    #[command(flatten)]
    source: Source,
    /// CSV of `name,group` rows colouring the points (default: one group).
    #[arg(long)]
    groups: Option<PathBuf>,
    /// Figure title.
    #[arg(long)]
    title: Option<String>,
    /// Output figure (.svg or .png).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.kind {
        Kind::Matrix(a) => {
            let m = a.source.load()?;
            let opts = HeatmapOptions {
                title: a.title,
                cluster: !a.no_cluster,
                linkage: a.linkage,
                ordering: a.ordering,
            };
            distance_heatmap(&m, &a.out, &opts)?;
        }
        Kind::Map(a) => {
            let m = a.source.load()?;
            let groups = match &a.groups {
                None => vec!["all".to_string(); m.labels.len()],
                Some(path) => {
                    let table = read_groups(path)?;
                    m.labels
                        .iter()
                        .map(|l| table.get(l).cloned().unwrap_or_else(|| "(none)".into()))
                        .collect()
                }
            };
            let points = classical_mds(&m.values, 2)?;
            let opts = MapOptions {
                title: a.title,
                annotate: None,
            };
            embedding_map(&points, &m.labels, &groups, &a.out, &opts)?;
        }
    }
    Ok(())
}

fn read_groups(path: &PathBuf) -> anyhow::Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let mut map = HashMap::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let (name, group) = line.split_once(',').ok_or_else(|| {
            anyhow::anyhow!("{}: line {}: expected `name,group`", path.display(), i + 1)
        })?;
        map.insert(name.trim().to_string(), group.trim().to_string());
    }
    Ok(map)
}
