//! `task2vec expert train|features`: fine-tune a probe's tail on a source task (an expert), and
//! compute an expert's features on a dataset. The logic is `task2vec_model2vec::Expert`.
use std::path::PathBuf;

use anyhow::Context;
use ndarray::Array2;
use task2vec_data::Dataset;
use task2vec_model2vec::{Expert, ExpertOptions};
use task2vec_probe::{Probe, ProbeKind, device_from_name};

use super::embed::Bars;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Fine-tune the probe's tail (every layer after --tail-from) and a classifier on DATASET.
    Train(TrainArgs),
    /// Pooled features (and the source classifier's probabilities) of DATASET under an expert.
    Features(FeaturesArgs),
}

#[derive(clap::Args)]
struct TrainArgs {
    /// The source task's images: an ImageFolder directory, a CSV manifest or IDX files.
    data: PathBuf,
    /// Probe network the expert fine-tunes.
    #[arg(long, default_value_t = ProbeKind::DEFAULT.name().to_string())]
    probe: String,
    /// Probe weights (.pth/.safetensors/.bpk); default: the fetched cache.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Split point after which the probe is fine-tuned (default: the probe's last stage,
    /// EfficientNet-Lite0 `blocks.11` = 12, ResNets `layer4` = 7); see `task2vec probe info`.
    #[arg(long)]
    tail_from: Option<usize>,
    /// Square input size (default: the probe's native size).
    #[arg(long, alias = "image-size")]
    input_size: Option<usize>,
    /// Passes over the training images.
    #[arg(long, default_value_t = ExpertOptions::default().epochs)]
    epochs: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = ExpertOptions::default().learning_rate)]
    learning_rate: f64,
    /// Images per step.
    #[arg(long, default_value_t = ExpertOptions::default().batch_size)]
    batch_size: usize,
    /// Seeded class-stratified subsample (0: every image).
    #[arg(long, default_value_t = ExpertOptions::default().max_samples.unwrap_or(0))]
    max_samples: usize,
    /// Share of each class held out to measure the fit.
    #[arg(long, default_value_t = ExpertOptions::default().held_out)]
    held_out: f64,
    /// Train on shuffled labels (a deliberately bad expert, for baselines).
    #[arg(long)]
    shuffle_labels: bool,
    /// Seed of every random stream.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Source task embedding to store in the expert (what Task2Vec and Model2Vec select by).
    #[arg(long)]
    source_embedding: Option<PathBuf>,
    /// Expert name (default: the output file's name without extension).
    #[arg(long)]
    name: Option<String>,
    /// Device: cpu (default) or, when built with CUDA, cuda / cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Output file (safetensors, written atomically).
    #[arg(long, short)]
    out: PathBuf,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

#[derive(clap::Args)]
struct FeaturesArgs {
    /// The expert file.
    expert: PathBuf,
    /// Images: an ImageFolder directory, a CSV manifest or IDX files.
    data: PathBuf,
    /// Probe weights the expert was made from (default: the fetched cache).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Features `[images, dim]` as .npy (f64).
    #[arg(long, short)]
    out: PathBuf,
    /// Also write the source classifier's softmax `[images, source classes]` (LEEP's input).
    #[arg(long)]
    probs: Option<PathBuf>,
    /// Device: cpu (default) or, when built with CUDA, cuda / cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Train(a) => train(a),
        Command::Features(a) => features(a),
    }
}

fn train(args: TrainArgs) -> anyhow::Result<()> {
    let device = device_from_name(&args.device)?;
    let options = ExpertOptions {
        tail_from: args.tail_from,
        input_size: args.input_size,
        epochs: args.epochs,
        learning_rate: args.learning_rate,
        batch_size: args.batch_size,
        max_samples: (args.max_samples > 0).then_some(args.max_samples),
        held_out: args.held_out,
        shuffle_labels: args.shuffle_labels,
        seed: args.seed,
    };
    let probe = Probe::load_named(&args.probe, args.weights.as_deref(), &device)
        .with_context(|| format!("loading probe {}", args.probe))?;
    // Every option error before the dataset is read.
    options.resolve(&probe)?;
    let source = args
        .source_embedding
        .as_ref()
        .map(task2vec_embedding::Embedding::load)
        .transpose()?;
    let dataset = Dataset::open(&args.data)?;
    let name = args.name.clone().unwrap_or_else(|| {
        args.out
            .file_stem()
            .map_or("expert".into(), |s| s.to_string_lossy().into_owned())
    });
    let mut expert = Expert::train(
        &probe,
        &dataset,
        &name,
        &options,
        &device,
        &Bars::new(args.quiet),
    )?;
    if let Some(e) = source {
        expert.set_source_embedding(e);
    }
    expert.save(&args.out)?;
    let fit = &expert.meta().fit;
    eprintln!(
        "{name}: held-out error {:.4} (the unmodified probe with a linear head: {:.4}) on {} images; wrote {}",
        fit.expert_held_out_error,
        fit.probe_held_out_error,
        fit.held_out_images,
        args.out.display()
    );
    Ok(())
}

fn features(args: FeaturesArgs) -> anyhow::Result<()> {
    let device = device_from_name(&args.device)?;
    let expert = Expert::load(&args.expert, &device)?;
    let probe = Probe::load(expert.meta().probe, args.weights.as_deref(), &device)
        .with_context(|| format!("loading probe {}", expert.meta().probe))?;
    expert
        .check_probe(&probe)
        .with_context(|| format!("{}", args.expert.display()))?;
    let dataset = Dataset::open(&args.data)?;
    let out = expert.features(&probe, &dataset, &device, &Bars::new(args.quiet))?;
    let n = out.labels.len();
    let to_matrix = |v: &[f32]| {
        let cols = v.len() / n.max(1);
        Array2::from_shape_fn((n, cols), |(r, c)| v[r * cols + c] as f64)
    };
    task2vec_embedding::io::write_matrix_npy(&args.out, &to_matrix(&out.features))?;
    if let Some(p) = &args.probs {
        task2vec_embedding::io::write_matrix_npy(p, &to_matrix(&out.source_probs))?;
    }
    eprintln!(
        "{} images × {} features written to {}",
        n,
        out.features.len() / n.max(1),
        args.out.display()
    );
    Ok(())
}
