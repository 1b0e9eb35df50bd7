//! `task2vec probe info|classify`: inspect a probe's layout, or classify images with it.
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use task2vec_probe::{Probe, ProbeKind, device_from_name, imagenet, load_image};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a probe's layout: every conv with its filters, the totals, the split points.
    Info {
        /// tiny-resnet, efficientnet-lite0, resnet18 or resnet34.
        name: String,
        /// Weights file (.pth, .safetensors, .bpk); default: the cache ($TASK2VEC_HOME/probes).
        #[arg(long)]
        weights: Option<PathBuf>,
    },
    /// Print the top-5 ImageNet classes of each image.
    Classify {
        /// efficientnet-lite0, resnet18 or resnet34.
        name: String,
        /// JPEG or PNG files.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Weights file (.pth, .safetensors, .bpk); default: the cache ($TASK2VEC_HOME/probes).
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Network input size (square).
        #[arg(long, default_value_t = 224)]
        size: usize,
        /// `cpu`, or `cuda`/`cuda:N` when built with `--features cuda`.
        #[arg(long, default_value = "cpu")]
        device: String,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Info { name, weights } => info(&name, weights),
        Command::Classify {
            name,
            images,
            weights,
            size,
            device,
        } => classify(&name, &images, weights, size, &device),
    }
}

fn load(
    name: &str,
    weights: Option<PathBuf>,
    device: &task2vec_probe::Device,
) -> anyhow::Result<Probe> {
    let kind: ProbeKind = name.parse()?;
    Ok(Probe::load(kind, weights.as_deref(), device)?)
}

fn info(name: &str, weights: Option<PathBuf>) -> anyhow::Result<()> {
    let device = task2vec_probe::Device::flex();
    let kind: ProbeKind = name.parse()?;
    // The layout does not depend on the weights: without a cached file, show the layout anyway.
    let probe = match Probe::load(kind, weights.as_deref(), &device) {
        Ok(p) => p,
        Err(task2vec_probe::ProbeError::WeightsNotFound { .. }) if weights.is_none() => {
            println!("(no cached weights: `cargo xtask fetch-probe {name}`; layout only)");
            Probe::with_formula_weights(kind, &device)?
        }
        Err(e) => return Err(e.into()),
    };
    println!(
        "probe {}  weights sha256 {}",
        probe.name(),
        probe.weights_sha256()
    );
    println!(
        "{:>4}  {:<34} {:>8} {:>8} {:>7} {:>6} {:>6}",
        "#", "conv", "filters", "in", "kernel", "stride", "groups"
    );
    for (i, c) in probe.conv_layout().iter().enumerate() {
        println!(
            "{i:>4}  {:<34} {:>8} {:>8} {:>7} {:>6} {:>6}",
            c.name,
            c.out_channels,
            c.in_channels,
            format!("{}x{}", c.kernel[0], c.kernel[1]),
            c.stride[0],
            c.groups
        );
    }
    println!(
        "total: {} convs, {} filters, {} BatchNorms, pooled features {}",
        probe.conv_layout().len(),
        probe.total_filters(),
        probe.bn_layout().len(),
        probe.feature_dim()
    );
    println!("split points (k: starts at, first conv, channels, filters from here on):");
    for (k, s) in probe.split_points().iter().enumerate() {
        let filters: usize = probe.conv_layout()[s.first_conv..]
            .iter()
            .map(|c| c.out_channels)
            .sum();
        println!(
            "{k:>4}  {:<12} {:>4} {:>6} {:>8}",
            s.name, s.first_conv, s.channels, filters
        );
    }
    Ok(())
}

fn classify(
    name: &str,
    images: &[PathBuf],
    weights: Option<PathBuf>,
    size: usize,
    device: &str,
) -> anyhow::Result<()> {
    let device = device_from_name(device)?;
    let probe = load(name, weights, &device)?;
    let pre = probe.preprocessor(size);
    for path in images {
        let image = load_image(path)?;
        let x = pre.batch(std::slice::from_ref(&image), &device)?;
        let predictions = imagenet::classify(&probe, x, 5)
            .with_context(|| format!("classifying {}", path.display()))?;
        println!("{}:", path.display());
        for p in predictions.into_iter().flatten() {
            println!(
                "  {:>6.2}%  {:>4}  {}",
                100.0 * p.probability,
                p.class,
                p.name
            );
        }
    }
    Ok(())
}
