//! The command-line flags of [`EmbedOptions`], one definition shared by every entry point
//! (`task2vec embed`, `cargo xtask reproduce`): `#[command(flatten)]` an [`EmbedFlags`].
//!
//! Every flag is optional and carries no default of its own: what is not given stays the
//! library's default ([`EmbedOptions::default`], resolved per method and probe by
//! [`EmbedOptions::resolve`]), so a default is never written twice.
use crate::error::Result;
use crate::options::EmbedOptions;

/// Flags that set [`EmbedOptions`] fields (behind the `clap` feature).
#[derive(clap::Args, Clone, Debug, Default, PartialEq)]
pub struct EmbedFlags {
    /// Fisher estimator: montecarlo (per-sample, default), montecarlo-batch (REF's), exact,
    /// variational (the paper's robust Fisher).
    #[arg(long)]
    pub method: Option<String>,
    /// Split point: activations there are cached and the Fisher covers the layers after it
    /// (REF's skip_layers numbering for ResNets; default 0).
    #[arg(long)]
    pub skip_layers: Option<usize>,
    /// Use at most N images (seeded, class-stratified).
    #[arg(long)]
    pub max_samples: Option<usize>,
    /// The one seed of every random stream; same seed, same bytes (default 0).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Labels sampled per image per epoch by montecarlo (default 4); with --augment each draw
    /// also sees its own view.
    #[arg(long, alias = "mc-samples")]
    pub labels_per_image: Option<usize>,
    /// Where montecarlo's labels come from: model (y ~ p(y|x), REF) or defensive (default;
    /// y ~ ½p + ½ uniform, importance-weighted; same Fisher, far less noise when the head is
    /// confident).
    #[arg(long)]
    pub label_proposal: Option<String>,
    /// BatchNorm mode: eval (running statistics) or train (batch statistics, REF; only with
    /// montecarlo-batch and variational). Default: train for montecarlo-batch, eval otherwise.
    #[arg(long, alias = "bn")]
    pub batch_norm: Option<String>,
    /// Include BatchNorm γ in the embedding (default: only for montecarlo-batch, as REF).
    #[arg(long)]
    pub include_bn_gamma: Option<bool>,
    /// Square input size in pixels (default: the probe's native size; efficientnet-lite0 needs
    /// a multiple of 32).
    #[arg(long, alias = "image-size")]
    pub input_size: Option<usize>,
    /// Views of the Fisher images: none, ref (default; REF's RandomResizedCrop + horizontal
    /// flip, a fresh seeded view per draw) or crop (ref without the flip, for text and glyphs).
    #[arg(long)]
    pub augment: Option<String>,
    /// Images per forward/backward in the per-sample estimators (default 32).
    #[arg(long)]
    pub fisher_batch_size: Option<usize>,
    /// Head-fit epochs (REF: 10).
    #[arg(long)]
    pub head_epochs: Option<usize>,
    /// Head-fit L2 weight decay, as torch's Adam(weight_decay) (REF: 1e-4).
    #[arg(long)]
    pub head_weight_decay: Option<f64>,
    /// Early stopping of the head fit: hold out this fraction of each class's head images and
    /// keep the epoch with the lowest held-out loss (default 0: off).
    #[arg(long)]
    pub head_early_stop: Option<f64>,
    /// Fit the task head on this fraction of each class's images and estimate the Fisher on
    /// the others (default 0.5; 0: both on every image, as REF).
    #[arg(long)]
    pub head_split: Option<f64>,
}

impl EmbedFlags {
    /// Sets the fields of `options` that a flag gives; the others keep their value.
    pub fn apply(&self, options: &mut EmbedOptions) -> Result<()> {
        let o = options;
        if let Some(m) = &self.method {
            o.method = m.parse()?;
        }
        if let Some(k) = self.skip_layers {
            o.skip_layers = k;
        }
        if self.max_samples.is_some() {
            o.max_samples = self.max_samples;
        }
        if let Some(seed) = self.seed {
            o.seed = seed;
        }
        if let Some(n) = self.labels_per_image {
            o.montecarlo.samples_per_image = n;
        }
        if let Some(p) = &self.label_proposal {
            o.montecarlo.proposal = p.parse()?;
        }
        if let Some(b) = &self.batch_norm {
            o.batch_norm = Some(b.parse()?);
        }
        if self.include_bn_gamma.is_some() {
            o.include_bn_gamma = self.include_bn_gamma;
        }
        if self.input_size.is_some() {
            o.input_size = self.input_size;
        }
        if let Some(a) = &self.augment {
            o.augment = a.parse()?;
        }
        if let Some(b) = self.fisher_batch_size {
            o.fisher_batch_size = b;
        }
        if let Some(e) = self.head_epochs {
            o.head.epochs = e;
        }
        if let Some(w) = self.head_weight_decay {
            o.head.weight_decay = w;
        }
        if let Some(f) = self.head_early_stop {
            o.head.early_stop = f;
        }
        if let Some(f) = self.head_split {
            o.head_split = f;
        }
        Ok(())
    }

    /// The library's default options with these flags applied.
    pub fn options(&self) -> Result<EmbedOptions> {
        let mut o = EmbedOptions::default();
        self.apply(&mut o)?;
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::options::{Augment, BatchNormMode, FisherMethod, LabelProposal};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        flags: EmbedFlags,
    }

    fn parse(args: &[&str]) -> EmbedOptions {
        let cli = Cli::try_parse_from(std::iter::once("t").chain(args.iter().copied())).unwrap();
        cli.flags.options().unwrap()
    }

    #[test]
    fn no_flag_is_the_library_default() {
        assert_eq!(parse(&[]), EmbedOptions::default());
    }

    #[test]
    fn every_flag_sets_its_field() {
        let o = parse(&[
            "--method",
            "variational",
            "--skip-layers",
            "3",
            "--max-samples",
            "50",
            "--seed",
            "7",
            "--labels-per-image",
            "4",
            "--label-proposal",
            "defensive",
            "--bn",
            "train",
            "--include-bn-gamma",
            "false",
            "--image-size",
            "96",
            "--augment",
            "crop",
            "--fisher-batch-size",
            "5",
            "--head-epochs",
            "3",
            "--head-weight-decay",
            "0.01",
            "--head-early-stop",
            "0.2",
            "--head-split",
            "0.5",
        ]);
        let mut want = EmbedOptions {
            method: FisherMethod::Variational,
            skip_layers: 3,
            max_samples: Some(50),
            seed: 7,
            batch_norm: Some(BatchNormMode::Train),
            include_bn_gamma: Some(false),
            input_size: Some(96),
            augment: Augment::Crop,
            fisher_batch_size: 5,
            head_split: 0.5,
            ..EmbedOptions::default()
        };
        want.montecarlo.samples_per_image = 4;
        want.montecarlo.proposal = LabelProposal::Defensive;
        want.head.epochs = 3;
        want.head.weight_decay = 0.01;
        want.head.early_stop = 0.2;
        assert_eq!(o, want);
        // The old spellings still work.
        assert_eq!(
            parse(&["--mc-samples", "4"]).montecarlo.samples_per_image,
            4
        );
        assert_eq!(
            parse(&["--batch-norm", "eval"]).batch_norm,
            Some(BatchNormMode::Eval)
        );
        assert_eq!(parse(&["--input-size", "64"]).input_size, Some(64));
    }

    #[test]
    fn bad_values_are_errors_naming_the_option() {
        let cli = Cli::try_parse_from(["t", "--augment", "mirror"]).unwrap();
        let err = cli.flags.options().unwrap_err().to_string();
        assert!(err.contains("augment"), "{err}");
    }
}
