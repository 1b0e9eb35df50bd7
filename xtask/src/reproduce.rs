//! `cargo xtask reproduce [--suite S] [--quick]`: embeds every task of a suite (resumable:
//! finished tasks are kept and skipped), then writes `target/reproduce/REPORT.md` with the
//! paper's experiments E1–E4 (see `reproduce/analysis.rs`) and their figures and CSVs.
mod analysis;
mod embed;
mod report;
pub mod selection;
pub mod sizes;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use task2vec_data::Suite;
use task2vec_data::suite::default_home;
use task2vec_embedding::LabeledMatrix;

use analysis::TaskResult;

/// The input size the reproduction runs at unless `--input-size` is given: not the probe's
/// native size (224), to fit CI's time budget (efficientnet-lite0 needs a multiple of 32).
pub const QUICK_INPUT_SIZE: usize = 64;

#[derive(clap::Args)]
pub struct Args {
    /// Suite: a file, or the name of one in datasets/suites (quick, glyphs, clipart,
    /// offline-full). Default: offline-full, or quick with --quick.
    #[arg(long)]
    suite: Option<PathBuf>,
    /// The small suite CI runs end to end (minutes on 2 cores).
    #[arg(long)]
    quick: bool,
    /// Probe network (default: the library's default probe).
    #[arg(long, default_value_t = task2vec_probe::ProbeKind::DEFAULT.name().to_string())]
    probe: String,
    /// Every option of the embedding, as `task2vec embed` takes them (one definition). Not
    /// given: the library's default — except the input size, see [`QUICK_INPUT_SIZE`].
    #[command(flatten)]
    options: task2vec_fisher::flags::EmbedFlags,
    /// Output folder (embeddings, figures, CSVs, REPORT.md).
    #[arg(long, default_value = "target/reproduce")]
    out: PathBuf,
    /// Result store (default: OUT/store). Results are keyed by everything that determines
    /// them (data, probe, options, version), so a rerun reuses exactly what is still valid;
    /// `task2vec run` reads and writes the same store.
    #[arg(long)]
    store: Option<PathBuf>,
    /// Expert zoo for E6 (expert selection): a file, or a name in datasets/experts (quick,
    /// full). Default: `quick` with --quick; none otherwise (the full zoo runs with
    /// `cargo xtask experts`).
    #[arg(long)]
    zoo: Option<PathBuf>,
    /// Skip E6 (expert selection) even with --quick.
    #[arg(long)]
    no_zoo: bool,
}

pub fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    let root = workspace_root();
    let suites = root.join("datasets/suites");
    let suite_path = match &args.suite {
        // A bare name (`--suite glyphs`) is one of the committed suites.
        Some(s) if !s.exists() && s.extension().is_none() && s.components().count() == 1 => {
            suites.join(s).with_extension("toml")
        }
        Some(s) => s.clone(),
        None if args.quick => suites.join("quick.toml"),
        None => suites.join("offline-full.toml"),
    };
    let suite = Suite::load(&suite_path)?;
    // Data and probe weights both live under $TASK2VEC_HOME (default ~/.cache/task2vec).
    let home = default_home();
    let out = if args.out.is_absolute() {
        args.out.clone()
    } else {
        root.join(&args.out)
    };
    let run_dir = out.join(&suite.name);
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;

    let zoo = match (&args.zoo, args.quick && !args.no_zoo) {
        (Some(z), _) => Some(selection::Zoo::load(&selection::zoo_path(&root, z))?),
        (None, true) => Some(selection::Zoo::load(&selection::zoo_path(
            &root,
            Path::new("quick"),
        ))?),
        (None, false) => None,
    };
    let mut sources = suite.sources();
    if let Some(z) = &zoo {
        sources.extend(z.sources());
    }
    sources.sort();
    sources.dedup();
    for source in sources {
        crate::fetch::ensure(&source, &home).with_context(|| format!("fetching `{source}`"))?;
    }
    crate::fetch_probe::ensure(&args.probe)
        .with_context(|| format!("fetching probe `{}`", args.probe))?;
    let mut options = args.options.options()?;
    options.input_size = options.input_size.or(Some(QUICK_INPUT_SIZE));
    let store = args.store.clone().unwrap_or_else(|| out.join("store"));
    let embedder = embed::Embedder::new(&args.probe, options.clone(), &store)?;

    let bar = ProgressBar::new(suite.tasks.len() as u64).with_style(
        ProgressStyle::with_template(
            "{msg:>28} [{bar:30}] {pos}/{len} tasks, {per_sec}, ETA {eta}",
        )
        .expect("valid template"),
    );
    let mut results: Vec<TaskResult> = Vec::new();
    for task in &suite.tasks {
        bar.set_message(task.id.clone());
        let dataset = task
            .materialize(&home)
            .with_context(|| format!("task `{}`", task.id))?;
        // From the store, or embedded (with E0's twins) and stored: a run interrupted between
        // tasks, or between a task and its twins, redoes only what is missing.
        let result = embedder
            .result_with_retest(task, &dataset, &bar)
            .with_context(|| format!("task `{}`", task.id))?;
        results.push(result);
        bar.inc(1);
    }
    bar.finish_with_message("all tasks embedded");
    eprintln!(
        "results in the store {} (`task2vec run {} --store {} --probe {} --input-size {}` \
         with the same other options reads and extends the same results)",
        embedder.store().root().display(),
        suite_path.display(),
        embedder.store().root().display(),
        args.probe,
        embedder.input_size()?
    );

    // E6: the zoo's experts against this suite's tasks as targets.
    let e6 = match &zoo {
        Some(z) => {
            let targets = suite
                .tasks
                .iter()
                .zip(&results)
                .map(|(task, result)| {
                    Ok(selection::Target {
                        dataset: task.materialize(&home)?,
                        result: result.clone(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let bar = ProgressBar::new((z.expert.len() + targets.len()) as u64).with_style(
                ProgressStyle::with_template(
                    "{msg:>28} [{bar:30}] {pos}/{len} experts+targets, {per_sec}, ETA {eta}",
                )
                .expect("valid template"),
            );
            let dir = run_dir.join("experts").join(&z.name);
            let sel = selection::run(z, &embedder, &home, &targets, &dir, &bar)?;
            bar.finish_with_message("E6 done");
            let figure = selection::figure(&sel, &run_dir.join("E6-error-matrix.png"))?;
            Some((sel, figure))
        }
        None => None,
    };
    let analysis = analysis::analyse(&results, options.seed)?;
    write_outputs(&run_dir, &results, &analysis)?;
    let info = report::RunInfo {
        suite: suite.name.clone(),
        probe: args.probe.clone(),
        probe_sha256: embedder.probe_sha256().to_string(),
        method: options.method.name().to_string(),
        image_size: options.input_size.unwrap_or(QUICK_INPUT_SIZE),
        seed: options.seed,
        version: env!("CARGO_PKG_VERSION").to_string(),
        total_seconds: started.elapsed().as_secs_f64(),
        options: embedder.hyperparameters().clone(),
        non_default: embedder.non_default_options()?,
    };
    report::write_atomic(
        &run_dir.join("summary.json"),
        &report::summary_json(&info, &results, &analysis)?,
    )?;
    let report_path = out.join("REPORT.md");
    let mut body = report::markdown(&info, &results, &analysis);
    match &e6 {
        Some((sel, figure)) => body.push_str(&selection::markdown(sel, figure.as_deref())),
        None => body.push_str(
            "## E6 — expert selection\n\nNot run for this suite (`--zoo NAME` runs it here; \
             `cargo xtask experts --zoo full` runs the full offline zoo).\n",
        ),
    }
    let text = body.replace("](", &format!("]({}/", suite.name));
    report::write_atomic(&report_path, &text)?;
    report::write_atomic(&run_dir.join("REPORT.md"), &body)?;
    println!("wrote {}", report_path.display());
    Ok(())
}

fn write_outputs(dir: &Path, tasks: &[TaskResult], a: &analysis::Analysis) -> Result<()> {
    use task2vec_embedding::plot::{HeatmapOptions, MapOptions, distance_heatmap, embedding_map};
    let labels: Vec<String> = tasks.iter().map(|t| t.id.clone()).collect();
    let matrix = LabeledMatrix::new(labels.clone(), a.task_distances.clone())?;
    matrix.save(dir.join("E1-distance-matrix.csv"))?;
    LabeledMatrix::new(labels.clone(), a.domain_distances.clone())?
        .save(dir.join("E4-domain-distance-matrix.csv"))?;
    let heatmap = HeatmapOptions {
        title: Some("Task2Vec distance (cosine), clustered".into()),
        ..HeatmapOptions::default()
    };
    for ext in ["png", "svg"] {
        distance_heatmap(
            &matrix,
            &dir.join(format!("E1-distance-matrix.{ext}")),
            &heatmap,
        )?;
    }
    // Colour by the first taxonomy level where the tasks differ (a one-source suite such as
    // glyphs shares its root, so the root would give every point the same colour).
    let shared = (0..)
        .take_while(|&level| {
            let first = tasks.first().and_then(|t| t.taxonomy.get(level));
            first.is_some() && tasks.iter().all(|t| t.taxonomy.get(level) == first)
        })
        .count();
    let groups: Vec<String> = tasks
        .iter()
        .map(|t| {
            t.taxonomy
                .get(shared)
                .or(t.taxonomy.last())
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let map = MapOptions {
        title: Some("Task embeddings, classical MDS of the cosine distance".into()),
        ..MapOptions::default()
    };
    let points = task2vec_embedding::mds::classical_mds(&a.task_distances, 2)?;
    for ext in ["png", "svg"] {
        embedding_map(
            &points,
            &labels,
            &groups,
            &dir.join(format!("E1-map.{ext}")),
            &map,
        )?;
    }
    for ext in ["png", "svg"] {
        report::top_k_chart(&a.top_k, &dir.join(format!("E2-top-k.{ext}")))?;
    }
    report::write_atomic(&dir.join("E2-top-k.csv"), &report::top_k_csv(&a.top_k)?)?;
    report::write_atomic(&dir.join("tasks.csv"), &report::tasks_csv(tasks, a)?)?;
    if let Some(retest) = &a.retest {
        report::write_atomic(
            &dir.join("E0-retest.csv"),
            &report::retest_csv(tasks, retest)?,
        )?;
    }
    if !a.labels.pairs.is_empty() {
        report::write_atomic(
            &dir.join("E5-label-pairs.csv"),
            &report::label_pairs_csv(tasks, &a.labels)?,
        )?;
    }
    Ok(())
}

/// The workspace root (xtask lives one level below it).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

#[derive(clap::Args)]
pub struct ExpertsArgs {
    /// Expert zoo: a file, or a name in datasets/experts (quick, full).
    #[arg(long, default_value = "full")]
    zoo: PathBuf,
    /// Probe network the experts fine-tune (default: the library's default probe).
    #[arg(long, default_value_t = task2vec_probe::ProbeKind::DEFAULT.name().to_string())]
    probe: String,
    /// Every option of the task embeddings, as `task2vec embed` takes them.
    #[command(flatten)]
    options: task2vec_fisher::flags::EmbedFlags,
    /// Output folder (experts, embeddings, CSVs, SELECTION.md).
    #[arg(long, default_value = "target/experts")]
    out: PathBuf,
    /// Result store of the task embeddings (default: OUT/store).
    #[arg(long)]
    store: Option<PathBuf>,
    /// E7: target training-set sizes (comma-separated; empty to skip).
    #[arg(long, value_delimiter = ',', default_value = "50,100")]
    sizes: Vec<usize>,
}

/// `cargo xtask experts`: trains a zoo, embeds its targets and runs E6 on its own (the full
/// offline zoo is too long for `reproduce`'s default run).
pub fn run_experts(args: ExpertsArgs) -> Result<()> {
    let started = Instant::now();
    let root = workspace_root();
    let zoo = selection::Zoo::load(&selection::zoo_path(&root, &args.zoo))?;
    let home = default_home();
    let out = if args.out.is_absolute() {
        args.out.clone()
    } else {
        root.join(&args.out)
    };
    let dir = out.join(&zoo.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let tasks = zoo.target_tasks(&root.join("datasets/suites"))?;
    let mut sources: Vec<String> = tasks.iter().map(|t| t.source.clone()).collect();
    sources.extend(zoo.sources());
    sources.sort();
    sources.dedup();
    for source in sources {
        crate::fetch::ensure(&source, &home).with_context(|| format!("fetching `{source}`"))?;
    }
    crate::fetch_probe::ensure(&args.probe)
        .with_context(|| format!("fetching probe `{}`", args.probe))?;
    let mut options = args.options.options()?;
    options.input_size = options.input_size.or(Some(QUICK_INPUT_SIZE));
    let store = args.store.clone().unwrap_or_else(|| out.join("store"));
    let embedder = embed::Embedder::new(&args.probe, options, &store)?;
    let bar = ProgressBar::new((tasks.len() * 2 + zoo.expert.len()) as u64).with_style(
        ProgressStyle::with_template(
            "{msg:>28} [{bar:30}] {pos}/{len} targets+experts+cells, {per_sec}, ETA {eta}",
        )
        .expect("valid template"),
    );
    let mut targets = Vec::new();
    for task in &tasks {
        bar.set_message(task.id.clone());
        let dataset = task
            .materialize(&home)
            .with_context(|| format!("task `{}`", task.id))?;
        let result = embedder.result(task, &dataset, &bar)?;
        targets.push(selection::Target { result, dataset });
        bar.inc(1);
    }
    let sel = selection::run(&zoo, &embedder, &home, &targets, &dir, &bar)?;
    bar.finish_with_message("E6 done");
    let figure = selection::figure(&sel, &dir.join("E6-error-matrix.png"))?;
    let mut text = format!(
        "# Expert selection — zoo `{}`\n\n{}\n\nProbe `{}` (weights sha256 `{}`), input {}², seed {}, \
         task2vec-rs {}; total {:.0} s (targets embedded, experts trained, meta-task). \
         Command: `cargo xtask experts --zoo {}`.\n\n",
        zoo.name,
        zoo.description,
        args.probe,
        embedder.probe_sha256(),
        embedder.input_size()?,
        zoo.seed,
        env!("CARGO_PKG_VERSION"),
        started.elapsed().as_secs_f64(),
        args.zoo.display(),
    );
    text.push_str(&selection::markdown(&sel, figure.as_deref()));
    // E6 is written before E7 starts: a long E7 never holds back (or loses) E6's table.
    report::write_atomic(&dir.join("SELECTION.md"), &text)?;
    let points = sizes::run(&sel, &embedder, &targets, &args.sizes, zoo.seed, &dir, &bar)?;
    text.push_str(&sizes::report(&points, &sel, &dir)?);
    report::write_atomic(&dir.join("SELECTION.md"), &text)?;
    println!("wrote {}", dir.join("SELECTION.md").display());
    Ok(())
}
