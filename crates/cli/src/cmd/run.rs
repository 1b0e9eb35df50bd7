//! `task2vec run`: embed every task of a suite file into a result store, optionally one shard
//! of it (array jobs on Slurm, Kubernetes, AWS Batch, Google Cloud Batch); `--status` lists
//! what the store holds. Parsing and printing only; the logic is `task2vec_store`.
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use task2vec_data::Suite;
use task2vec_fisher::flags::EmbedFlags;
use task2vec_fisher::{Progress, Silent};
use task2vec_probe::{Probe, ProbeKind, device_from_name};
use task2vec_store::runner::Runner;
use task2vec_store::suite_run::{Outcome, RunObserver, TaskStatus, run_suite, suite_status};
use task2vec_store::{Shard, Store, resolve_shard};

use crate::cmd::embed::{Bars, MemoryFlags, peak_memory_line};

/// What determines a suite's results: the probe, its weights, every embedding option, and
/// where fetched sources live. Shared by `run` and `matrix --store` so both compute the same
/// keys.
#[derive(clap::Args, Clone)]
pub struct RunSettings {
    /// Probe network (tiny-resnet, efficientnet-lite0, resnet18, resnet34).
    #[arg(long, default_value_t = ProbeKind::DEFAULT.name().to_string())]
    pub probe: String,
    /// Probe weights (.pth/.safetensors/.bpk); default: the fetched cache.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Every option of the embedding (as `task2vec embed`).
    #[command(flatten)]
    pub options: EmbedFlags,
    /// Data home of fetched sources (default: $TASK2VEC_HOME, else ~/.cache/task2vec).
    #[arg(long)]
    pub home: Option<PathBuf>,
    /// Device: cpu (default) or, when built with CUDA, cuda / cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

impl RunSettings {
    /// The runner these settings describe (loads the probe; a bad option fails here).
    pub fn runner(&self) -> anyhow::Result<Runner> {
        let device = device_from_name(&self.device)?;
        let options = self.options.options()?;
        options.validate()?;
        let probe = Probe::load_named(&self.probe, self.weights.as_deref(), &device)
            .with_context(|| format!("loading probe {}", self.probe))?;
        Ok(Runner::new(probe, options, device)?)
    }

    /// The data home.
    pub fn home(&self) -> PathBuf {
        self.home
            .clone()
            .unwrap_or_else(task2vec_data::suite::default_home)
    }
}

/// `--store DIR --suite S.toml` and the settings the results were made with: the task
/// embeddings of a suite from a store (for `matrix` and `plot`).
#[derive(clap::Args)]
pub struct StoredSuite {
    /// Read the task embeddings of `--suite` from this result store (written by `task2vec run`
    /// with the same probe and options, which the settings flags give), in suite order.
    #[arg(long, requires = "suite")]
    pub store: Option<PathBuf>,
    /// The suite whose tasks to read from `--store`.
    #[arg(long, requires = "store")]
    pub suite: Option<PathBuf>,
    /// The settings the store's results were made with (only with --store).
    #[command(
        flatten,
        next_help_heading = "Settings of the stored results (with --store)"
    )]
    pub settings: RunSettings,
}

impl StoredSuite {
    /// The suite's task embeddings, or None without `--store`; an error names every task the
    /// store lacks.
    pub fn embeddings(&self) -> anyhow::Result<Option<Vec<task2vec_embedding::Embedding>>> {
        let (Some(store), Some(suite)) = (&self.store, &self.suite) else {
            return Ok(None);
        };
        let suite = Suite::load(suite)?;
        let store = Store::open_existing(store)?;
        let runner = self.settings.runner()?;
        Ok(Some(task2vec_store::suite_run::suite_embeddings(
            &runner,
            &store,
            &suite,
            &self.settings.home(),
        )?))
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// The suite file (TOML: tasks over fetched sources or datasets of your own).
    pub suite: PathBuf,
    /// The result store (a directory; created when absent).
    #[arg(long)]
    pub store: PathBuf,
    /// Run shard I of N (0-based), e.g. 0/4. Default: from the array job's environment
    /// (SLURM_ARRAY_TASK_ID/COUNT, JOB_COMPLETION_INDEX with --shards, AWS_BATCH_JOB_ARRAY_*,
    /// BATCH_TASK_INDEX/COUNT), else the whole suite.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// The number of shards where the engine does not export it (Kubernetes Indexed Jobs:
    /// the Job's completions).
    #[arg(long)]
    pub shards: Option<usize>,
    /// List every task (of the shard) as done, missing or failed instead of running.
    #[arg(long)]
    pub status: bool,
    #[command(flatten)]
    pub settings: RunSettings,
    #[command(flatten)]
    pub memory: MemoryFlags,
    /// No progress bars (one line per task is still printed).
    #[arg(long)]
    pub quiet: bool,
}

/// One line per task with the shard's rate and ETA; per-stage bars unless quiet.
struct Lines {
    bars: Bars,
    quiet: bool,
    total: usize,
    started: Instant,
    computed: usize,
    computed_seconds: f64,
}

impl RunObserver for Lines {
    fn start(&mut self, tasks: usize, of: usize) {
        self.total = tasks;
        eprintln!("{tasks} of the suite's {of} task(s) in this run");
    }

    fn outcome(&mut self, position: usize, id: &str, outcome: &Outcome) {
        let what = match outcome {
            Outcome::Computed(s) => {
                self.computed += 1;
                self.computed_seconds += s;
                format!("embedded in {s:.1} s")
            }
            Outcome::Reused => "in the store already".to_string(),
            Outcome::Failed(e) => format!("FAILED: {e}"),
        };
        let left = self.total - position;
        let eta = if self.computed > 0 && left > 0 {
            let per_task = self.computed_seconds / self.computed as f64;
            format!(
                ", {:.2} tasks/min, ETA {:.0} s",
                60.0 / per_task,
                per_task * left as f64
            )
        } else {
            String::new()
        };
        eprintln!(
            "[{position}/{}] {id}: {what} ({:.0} s elapsed{eta})",
            self.total,
            self.started.elapsed().as_secs_f64()
        );
    }

    fn progress(&self) -> &dyn Progress {
        if self.quiet { &Silent } else { &self.bars }
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let shard = resolve_shard(args.shard, args.shards, |name| std::env::var(name).ok())?;
    let suite = Suite::load(&args.suite)?;
    let store = Store::open(&args.store)?;
    let runner = args
        .settings
        .runner()?
        .with_cache_budget(args.memory.cache_budget());
    let home = args.settings.home();
    if let Some((s, source)) = shard {
        eprintln!("shard {s} (from {source})");
    }
    let shard = shard.map(|(s, _)| s);
    if args.status {
        return print_status(&runner, &store, &suite, &home, shard);
    }
    let mut lines = Lines {
        bars: Bars::new(args.quiet),
        quiet: args.quiet,
        total: 0,
        started: Instant::now(),
        computed: 0,
        computed_seconds: 0.0,
    };
    let summary = run_suite(&runner, &store, &suite, &home, shard, &mut lines)?;
    eprintln!(
        "{} embedded, {} in the store already, {} failed; store: {}",
        summary.computed,
        summary.reused,
        summary.failed.len(),
        args.store.display()
    );
    if let Some(line) = peak_memory_line() {
        eprintln!("{line}");
    }
    if !summary.failed.is_empty() {
        let ids: Vec<&str> = summary.failed.iter().map(|(id, _)| id.as_str()).collect();
        anyhow::bail!(
            "{} task(s) failed (recorded in the store; rerun to retry): {}",
            ids.len(),
            ids.join(", ")
        );
    }
    Ok(())
}

fn print_status(
    runner: &Runner,
    store: &Store,
    suite: &Suite,
    home: &Path,
    shard: Option<Shard>,
) -> anyhow::Result<()> {
    let status = suite_status(runner, store, suite, home, shard)?;
    let (mut done, mut missing, mut failed) = (0, 0, 0);
    for (id, s) in &status {
        match s {
            TaskStatus::Done(entry) => {
                done += 1;
                println!("done     {id}  {}", entry.dir().display());
            }
            TaskStatus::Missing => {
                missing += 1;
                println!("missing  {id}");
            }
            TaskStatus::Failed(e) => {
                failed += 1;
                println!("failed   {id}: {e}");
            }
        }
    }
    println!(
        "{done} done, {missing} missing, {failed} failed of {} task(s)",
        status.len()
    );
    Ok(())
}
