//! `task2vec select`: rank experts for a task by (asymmetric) Task2Vec distance.

use std::path::PathBuf;

use task2vec_embedding::asymmetric::DEFAULT_ALPHA;
use task2vec_embedding::select::{ExpertScore, rank_experts};
use task2vec_embedding::{Embedding, Metric, io};

use crate::output::{Format, Table};

#[derive(clap::Args)]
pub struct Args {
    /// Embedding of the new task.
    #[arg(long)]
    task: PathBuf,
    /// Directory (or files) of expert embeddings: the tasks the experts were trained on.
    #[arg(long, required = true, num_args = 1..)]
    experts: Vec<PathBuf>,
    /// Score experts by d_asym(expert → task) (the paper's choice) instead of --metric.
    #[arg(long)]
    asymmetric: bool,
    /// α of the asymmetric distance.
    #[arg(long, default_value_t = DEFAULT_ALPHA, requires = "asymmetric")]
    alpha: f64,
    /// Trivial embedding t₀ (needed for experts without a prior, and by --model2vec).
    #[arg(long)]
    trivial: Option<PathBuf>,
    /// Rank by a Model2Vec model (`task2vec model2vec train`): d_asym(m_i → task) with the
    /// learned m_i = F_i + b_i. --experts must be the embeddings it was trained with.
    #[arg(long, requires = "trivial", conflicts_with_all = ["asymmetric", "metric"])]
    model2vec: Option<PathBuf>,
    /// Symmetric metric when not --asymmetric.
    #[arg(long, default_value = "cosine", conflicts_with = "asymmetric")]
    metric: Metric,
    /// How many experts to print.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Keep experts trained on the task itself (same task name); excluded by default.
    #[arg(long)]
    include_same_task: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Compare embeddings made with different estimators, input sizes or kinds (task/domain),
    /// which is refused by default. Different probes or layouts are always refused.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let task = Embedding::load(&args.task)?;
    let experts = io::load_embeddings(&args.experts)?;
    let t0 = args.trivial.as_ref().map(Embedding::load).transpose()?;
    if let (Some(path), Some(t0)) = (&args.model2vec, &t0) {
        let model = task2vec_model2vec::model2vec::Model2Vec::load(path, &experts, t0)?;
        let scores = model.scores(&task)?;
        let ranked = model.select(&task, args.top)?;
        let rows = ranked
            .into_iter()
            .enumerate()
            .map(|(r, e)| vec![(r + 1).into(), experts[e].name().into(), scores[e].into()])
            .collect();
        return Table {
            headers: vec!["rank", "expert", "model2vec score"],
            rows,
        }
        .print(args.format);
    }
    let score = if args.asymmetric {
        ExpertScore::Asymmetric { alpha: args.alpha }
    } else {
        ExpertScore::Symmetric(args.metric)
    };
    let ranked = rank_experts(
        &task,
        &experts,
        score,
        t0.as_ref(),
        !args.include_same_task,
        crate::cmd::compatibility(args.force),
    )?;
    let rows = ranked
        .into_iter()
        .take(args.top)
        .enumerate()
        .map(|(r, e)| vec![(r + 1).into(), e.name.into(), e.distance.into()])
        .collect();
    Table {
        headers: vec!["rank", "expert", "distance"],
        rows,
    }
    .print(args.format)
}
