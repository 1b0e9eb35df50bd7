//! task2vec-fisher: the Task2Vec estimator. It turns a probe network and a labelled image set
//! into a task embedding: cache the probe's activations at a split point, fit a linear task
//! head on the pooled features, then estimate the diagonal Fisher information of every conv
//! filter after the split with the head fixed, one value per filter.
//!
//! Where to find things:
//! * [`options`]: [`EmbedOptions`] (validated once) and [`FisherMethod`];
//! * [`sampler`]: seeded random streams, the class-balanced sampler;
//! * [`activations`]: the split-point cache within a memory budget (spilled to disk beyond);
//! * [`head`]: the linear task head and its Adam fit;
//! * [`kernel`]: the per-sample Fisher kernel (δ·unfold(a)ᵀ per sample, one backward per batch);
//! * [`cost`]: the multiply-adds of each stage, counted from the probe's convs;
//! * [`estimator`]: `montecarlo`, `montecarlo-batch` (REF's), `exact`, `variational`;
//! * [`optim`]: Adam over plain tensors (variational estimator, expert tails);
//! * [`network`]: the [`TappedNetwork`] seam the estimators run on;
//! * [`pipeline`]: [`Task2Vec`] — cache, head fit, Fisher, [`task2vec_embedding::Embedding`];
//! * [`domain`]: the label-free domain embedding (mean |conv output| per filter);
//! * [`linear_probe`]: the held-out error of a linear head on the probe's features;
//! * [`testing`]: tiny conv nets for tests and benchmarks.
//!
//! ```
//! use burn::tensor::Device;
//! use task2vec_fisher::estimator::{FisherTask, exact};
//! use task2vec_fisher::head::LinearHead;
//! use task2vec_fisher::sampler::uniform_weights;
//! use task2vec_fisher::testing::{TinyConvNet, random_inputs};
//! use task2vec_fisher::progress::Silent;
//!
//! let device = Device::flex();
//! let net = TinyConvNet::new(&TinyConvNet::default_specs(), 0, &device);
//! let inputs = random_inputs([4, 3, 8, 8], 1, &device);
//! let labels = [0, 1, 0, 1];
//! let head = LinearHead::init(2, net.feature_dim(), &mut rand::rng());
//! let task = FisherTask { network: &net, head: &head, inputs: &inputs, labels: &labels,
//!                         sample_weights: &uniform_weights(4) };
//! let fisher = exact::estimate(&task, 4, false, &Silent).unwrap();
//! assert_eq!(fisher.dim(), 4 + 6 + 6 + 8); // one value per filter of every conv
//! ```
#![warn(missing_docs)]

pub mod activations;
pub mod augment;
pub mod cost;
pub mod domain;
pub mod error;
pub mod estimator;
#[cfg(feature = "clap")]
pub mod flags;
pub mod head;
pub mod implicit;
pub mod kernel;
pub mod linear_probe;
pub mod network;
pub mod optim;
pub mod options;
pub mod pipeline;
pub mod progress;
pub mod sampler;
pub mod testing;

pub use activations::{DEFAULT_CACHE_BUDGET, SplitActivations};
pub use domain::DomainBaseline;
pub use error::{FisherError, Result};
pub use estimator::{FisherEstimate, FisherSegment, SegmentKey};
pub use network::TappedNetwork;
pub use options::{
    Augment, BatchNormMode, EmbedOptions, FisherMethod, LabelProposal, ResolvedOptions,
};
pub use pipeline::{ActivationCache, EmbedReport, ProbeTail, Task2Vec};
pub use progress::{Progress, Silent};
