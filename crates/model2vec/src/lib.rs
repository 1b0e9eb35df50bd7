//! task2vec-model2vec: choosing, for a new task, which pretrained feature extractor (*expert*)
//! to use without training them all — the paper's Table 1 — and learning expert embeddings
//! m_i = F_i + b_i (Model2Vec).
//!
//! Where to find things:
//! * [`matrix`]: the meta-task's `targets × experts` error matrix (long-form CSV, resumable);
//! * [`selectors`]: one expert per target — chance, best-on-average, nearest by a distance,
//!   asymmetric Task2Vec with α by nested cross-validation, the oracle;
//! * [`model2vec`]: learned expert embeddings and their leave-one-target-out evaluation;
//! * [`transferability`]: LogME and LEEP, the transferability scores practitioners use instead;
//! * [`evaluate`]: how good a selection is — relative error increase over the oracle (ratio of
//!   means and mean of ratios) with paired-bootstrap intervals, top-1 regret, Wilcoxon tests;
//! * `expert` (feature `expert`, on by default): `Expert`, a probe whose tail was fine-tuned on
//!   a source task, and the features it gives a target task.
#![warn(missing_docs)]

pub mod error;
pub mod evaluate;
pub mod matrix;
pub mod model2vec;
pub mod selectors;
pub mod transferability;

#[cfg(feature = "expert")]
pub mod expert;

pub use error::{Error, Result};
#[cfg(feature = "expert")]
pub use expert::{Expert, ExpertOptions};
