//! `task2vec embed`: embed a task (a labelled image dataset) with a probe network.
//!
//! Parsing and printing only; the pipeline is `task2vec_fisher::Task2Vec`.
use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use task2vec_data::{Dataset, OnBadImage};
use task2vec_fisher::{BatchNormMode, EmbedOptions, FisherMethod, Progress, Task2Vec};
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
    /// Fisher estimator: montecarlo (per-sample, default), montecarlo-batch (REF's), exact,
    /// variational (the paper's robust Fisher).
    #[arg(long, default_value = "montecarlo")]
    pub method: String,
    /// Split point: activations there are cached and the Fisher covers the layers after it
    /// (REF's skip_layers numbering for ResNets).
    #[arg(long, default_value_t = 0)]
    pub skip_layers: usize,
    /// Use at most N images (seeded, class-stratified); cached activations are kept in memory.
    #[arg(long)]
    pub max_samples: Option<usize>,
    /// Keep only these classes (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    /// The one seed of every random stream; same seed, same bytes.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Labels sampled per image (montecarlo).
    #[arg(long, default_value_t = 1)]
    pub mc_samples: usize,
    /// Where montecarlo's labels come from: model (y ~ p(y|x), REF) or defensive (y ~ ½p + ½
    /// uniform, importance-weighted; same Fisher, far less noise when the head is confident).
    #[arg(long, default_value = "model")]
    pub label_proposal: String,
    /// BatchNorm mode: eval (running statistics) or train (batch statistics, REF; only with
    /// montecarlo-batch).
    #[arg(long)]
    pub batch_norm: Option<String>,
    /// Include BatchNorm γ in the embedding (default: only for montecarlo-batch, as REF).
    #[arg(long)]
    pub include_bn_gamma: Option<bool>,
    /// Square input size in pixels (default: the probe's native size).
    #[arg(long)]
    pub input_size: Option<usize>,
    /// Images per forward/backward in the per-sample estimators.
    #[arg(long, default_value_t = 32)]
    pub fisher_batch_size: usize,
    /// Head-fit epochs (REF: 10).
    #[arg(long, default_value_t = 10)]
    pub head_epochs: usize,
    /// Drop images that cannot be decoded (each is named on stderr) instead of stopping at the
    /// first one. Every image is decoded once up front to find them.
    #[arg(long)]
    pub skip_bad_images: bool,
    /// Domain embedding instead: mean |conv output| per filter, labels ignored.
    #[arg(long)]
    pub domain: bool,
    /// Device: cpu (default) or, when built with CUDA, cuda / cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Task name recorded in the embedding (default: the output file's name without extension).
    #[arg(long)]
    pub name: Option<String>,
    /// Output file (JSON, written atomically).
    #[arg(long, short)]
    pub out: PathBuf,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// Progress bars (rate, ETA) on stderr, one per stage.
struct Bars {
    quiet: bool,
    bar: RefCell<Option<ProgressBar>>,
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
    let method: FisherMethod = args.method.parse()?;
    let batch_norm = match &args.batch_norm {
        Some(m) => m.parse()?,
        None if method == FisherMethod::MontecarloBatch => BatchNormMode::Train,
        None => BatchNormMode::Eval,
    };
    let mut options = EmbedOptions {
        method,
        skip_layers: args.skip_layers,
        max_samples: args.max_samples,
        seed: args.seed,
        batch_norm,
        include_bn_gamma: args.include_bn_gamma,
        fisher_batch_size: args.fisher_batch_size,
        ..EmbedOptions::default()
    };
    options.montecarlo.samples_per_image = args.mc_samples;
    options.montecarlo.proposal = args.label_proposal.parse()?;
    options.head.epochs = args.head_epochs;
    options.validate()?;

    let mut dataset = if args.domain {
        Dataset::open_unlabeled(&args.data)
    } else {
        Dataset::open(&args.data)
    }
    .with_context(|| format!("opening dataset {}", args.data.display()))?;
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
    let probe = Probe::load_named(&args.probe, args.weights.as_deref(), &device)
        .with_context(|| format!("loading probe {}", args.probe))?;
    let mut pipeline = Task2Vec::new(&probe, options, &device)?;
    if let Some(size) = args.input_size {
        anyhow::ensure!(
            size >= 8,
            "--input-size must be at least 8 pixels (got {size})"
        );
        pipeline = pipeline.with_input_size(size);
    }
    let bars = Bars {
        quiet: args.quiet,
        bar: RefCell::new(None),
    };
    let mut embedding = if args.domain {
        pipeline.embed_domain(&dataset, &bars)?
    } else {
        // The head's loss and error are printed by the progress sink when its stage ends.
        pipeline.embed(&dataset, &bars)?.0
    };
    // The dataset's own name is often shared by many tasks (every class subset of one folder,
    // every IDX file called train-images-idx3-ubyte), so the output name is the default.
    let name = args.name.clone().or_else(|| {
        args.out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
    });
    if name.is_some() {
        embedding.meta_mut().task = name;
    }
    embedding
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "wrote {} ({} values, {} layers)",
        args.out.display(),
        embedding.hessian().len(),
        embedding.layout().segments().len()
    );
    Ok(())
}
