//! `task2vec embed`: embed a task (a labelled image dataset) with a probe network.
//!
//! Parsing and printing only; the pipeline is `task2vec_fisher::Task2Vec`.
use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use task2vec_data::{Dataset, OnBadImage};
use task2vec_fisher::flags::EmbedFlags;
use task2vec_fisher::{DEFAULT_CACHE_BUDGET, DomainBaseline, Progress, Task2Vec};
use task2vec_probe::{Probe, ProbeKind, device_from_name};

#[derive(clap::Args)]
pub struct Args {
    /// The task's images: an ImageFolder directory, a CSV manifest (path,label) or IDX files.
    pub data: PathBuf,
    /// Probe network (tiny-resnet, efficientnet-lite0, resnet18, resnet34).
    #[arg(long, default_value_t = ProbeKind::DEFAULT.name().to_string())]
    pub probe: String,
    /// Probe weights (.pth/.safetensors/.bpk); default: the fetched cache.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Every option of the embedding (shared with `cargo xtask reproduce`).
    #[command(flatten)]
    pub options: EmbedFlags,
    /// Keep only these classes (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    /// Print the resolved options (every default filled in, as recorded in the embedding's
    /// provenance) as JSON on stdout and exit without embedding.
    #[arg(long)]
    pub print_options: bool,
    /// Drop images that cannot be decoded (each is named on stderr) instead of stopping at the
    /// first one. Every image is decoded once up front to find them.
    #[arg(long)]
    pub skip_bad_images: bool,
    /// Domain embedding instead (labels ignored): `conv` (default) = mean |conv output| per
    /// filter of every conv after the split point; `features` = the mean pooled penultimate
    /// features (the paper's "mean feature activations").
    /// Written `--domain` or `--domain=features`.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "conv")]
    pub domain: Option<String>,
    /// Device: cpu (default) or, when built with CUDA, cuda / cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[command(flatten)]
    pub memory: MemoryFlags,
    /// Task name recorded in the embedding (default: the output file's name without extension).
    #[arg(long)]
    pub name: Option<String>,
    /// Output file (JSON, written atomically).
    #[arg(long, short, required_unless_present = "print_options")]
    pub out: Option<PathBuf>,
    /// Also write a report of the run (JSON, atomically): seconds, peak memory, where the
    /// activation cache was held, the head's fit and the images used. Kept out of the
    /// embedding, which is the same bytes for the same seed on any machine.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// Where the split-point activations may live; shared by `embed` and `run`. Never part of a
/// result: the same options give the same bytes whatever the budget.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct MemoryFlags {
    /// Memory for the cached split-point activations, e.g. 512M or 2G (default 512M, the
    /// library's DEFAULT_CACHE_BUDGET); beyond it they are written to an unnamed temporary file
    /// in $TMPDIR and read back per batch. 0 always spills.
    #[arg(long, value_parser = parse_budget, allow_hyphen_values = true)]
    pub cache_budget: Option<u64>,
}

impl MemoryFlags {
    /// The budget in bytes.
    pub fn cache_budget(&self) -> u64 {
        self.cache_budget.unwrap_or(DEFAULT_CACHE_BUDGET)
    }
}

fn parse_budget(text: &str) -> Result<u64, String> {
    task2vec_fisher::activations::parse_cache_budget(text).map_err(|e| e.to_string())
}

/// `peak memory 1,234 MiB` from the process's high-water mark, where the OS reports it.
pub(crate) fn peak_memory_line() -> Option<String> {
    task2vec_common::peak_rss_bytes().map(|b| format!("peak memory {} MiB", b >> 20))
}

/// Progress bars (rate, ETA) on stderr, one per stage.
pub(crate) struct Bars {
    quiet: bool,
    bar: RefCell<Option<ProgressBar>>,
}

impl Bars {
    /// Bars on stderr, or nothing with `quiet`.
    pub(crate) fn new(quiet: bool) -> Self {
        Bars {
            quiet,
            bar: RefCell::new(None),
        }
    }
}

impl Progress for Bars {
    fn start(&self, name: &str, total: u64) {
        if self.quiet {
            return;
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{msg:24} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(name.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        *self.bar.borrow_mut() = Some(bar);
    }

    fn advance(&self, steps: u64) {
        if let Some(bar) = self.bar.borrow().as_ref() {
            bar.inc(steps);
        }
    }

    fn finish(&self, summary: &str) {
        if let Some(bar) = self.bar.borrow_mut().take() {
            let name = bar.message();
            bar.finish_and_clear();
            eprintln!("{name}: {summary} ({:.1} s)", bar.elapsed().as_secs_f64());
        }
    }

    fn note(&self, line: &str) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let device = device_from_name(&args.device)?;
    let options = args.options.options()?;
    let domain: Option<DomainBaseline> = args.domain.as_deref().map(str::parse).transpose()?;
    // Every option error is reported before anything slow (dataset scan, probe load) starts.
    options.validate()?;
    let probe = Probe::load_named(&args.probe, args.weights.as_deref(), &device)
        .with_context(|| format!("loading probe {}", args.probe))?;
    let pipeline =
        Task2Vec::new(&probe, options, &device)?.with_cache_budget(args.memory.cache_budget());
    if args.print_options {
        println!("{}", serde_json::to_string_pretty(pipeline.options())?);
        return Ok(());
    }
    let Some(out) = args.out.clone() else {
        anyhow::bail!("--out is required");
    };

    let mut dataset = if domain.is_some() {
        Dataset::open_unlabeled(&args.data)
    } else {
        Dataset::open(&args.data)
    }?;
    if let Some(classes) = &args.classes {
        let names: Vec<&str> = classes.iter().map(String::as_str).collect();
        dataset = dataset.select_classes(&names)?;
    }
    if args.skip_bad_images {
        let (kept, skipped) = dataset.scan_images(OnBadImage::Skip)?;
        for s in &skipped {
            eprintln!("skipped {}: {}", s.path.display(), s.reason);
        }
        if !skipped.is_empty() {
            eprintln!(
                "skipped {} unreadable images of {}",
                skipped.len(),
                dataset.len()
            );
        }
        dataset = kept;
    }
    let bars = Bars {
        quiet: args.quiet,
        bar: RefCell::new(None),
    };
    let started = std::time::Instant::now();
    let (mut embedding, report) = if let Some(baseline) = domain {
        (pipeline.embed_domain(&dataset, baseline, &bars)?, None)
    } else {
        // The head's loss and error are printed by the progress sink when its stage ends.
        let (embedding, report) = pipeline.embed(&dataset, &bars)?;
        (embedding, Some(report))
    };
    // The dataset's own name is often shared by many tasks (every class subset of one folder,
    // every IDX file called train-images-idx3-ubyte), so the output name is the default.
    let name = args
        .name
        .clone()
        .or_else(|| out.file_stem().map(|s| s.to_string_lossy().into_owned()));
    if name.is_some() {
        embedding.meta_mut().task = name;
    }
    // The error names the file (task2vec_embedding's InFile).
    embedding.save(&out)?;
    eprintln!(
        "wrote {} ({} values, {} layers)",
        out.display(),
        embedding.hessian().len(),
        embedding.layout().segments().len()
    );
    if let Some(line) = peak_memory_line() {
        eprintln!("{line}");
    }
    if let Some(path) = &args.report {
        let json = run_report(&out, started.elapsed().as_secs_f64(), report.as_ref());
        let text = serde_json::to_string_pretty(&json)? + "\n";
        task2vec_common::write_file_atomic(path, text.as_bytes())?;
    }
    Ok(())
}

/// The `--report` of one run: what the embedding file does not record because it depends on
/// the machine and the run, not on the task.
fn run_report(
    out: &std::path::Path,
    seconds: f64,
    report: Option<&task2vec_fisher::EmbedReport>,
) -> serde_json::Value {
    let mut json = serde_json::json!({
        "embedding": out,
        "seconds": seconds,
        "peak_rss_bytes": task2vec_common::peak_rss_bytes(),
    });
    if let Some(r) = report {
        json["cache"] = serde_json::json!({
            "bytes": r.cache.bytes, "spilled": r.cache.spilled, "kept": r.cache.kept,
        });
        json["head"] = serde_json::json!({
            "loss": r.head.loss, "train_error": r.head.error, "epochs_run": r.head.epochs_run,
        });
        json["head_images"] = r.head_images.len().into();
        json["fisher_images"] = r.fisher_images.len().into();
        json["class_counts"] = serde_json::Value::Object(
            r.class_counts
                .iter()
                .map(|(class, n)| (class.clone(), (*n).into()))
                .collect(),
        );
    }
    json
}
