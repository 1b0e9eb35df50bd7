//! Task2Vec embeddings without a deep-learning stack.
//!
//! A Task2Vec embedding is the diagonal Fisher information of a probe network's filters for
//! one task (Achille et al., ICCV 2019). This crate stores embeddings (versioned JSON, `.npy`),
//! compares them with every distance of the reference implementation, builds distance
//! matrices in parallel, clusters them (with optimal leaf ordering), selects experts with the
//! paper's asymmetric distance, and plots. It never depends on burn: it builds in seconds.
//!
//! ```
//! use task2vec_embedding::{distance, Embedding, Metric, Provenance};
//! let a = Embedding::from_hessian(vec![1.0, 2.0, 3.0], Provenance::default())?;
//! let b = Embedding::from_hessian(vec![3.0, 2.0, 1.0], Provenance::default())?;
//! let d = distance(&a, &b, Metric::Cosine)?; // the paper's symmetric distance
//! assert!(d > 0.0 && d < 1.0);
//! # Ok::<(), task2vec_embedding::Error>(())
//! ```
#![warn(missing_docs)]

pub mod asymmetric;
pub mod cluster;
pub mod distance;
pub mod embedding;
pub mod error;
pub mod io;
pub mod matrix;
pub mod mds;
pub mod normalize;
pub mod partition;
#[cfg(feature = "plot")]
pub mod plot;
pub mod select;
pub mod stats;
pub mod taxonomy;

pub use asymmetric::{
    DEFAULT_ALPHA, asymmetric_distance, asymmetric_pdist, complexity, trivial_embedding,
};
pub use cluster::{Dendrogram, LeafOrdering, Linkage, linkage, ordered_leaves};
pub use distance::{EPSILON, Metric, distance, distance_with};
pub use embedding::{
    Compatibility, DatasetFingerprint, Embedding, EmbeddingKind, EstimatorInfo, LayerSegment,
    Layout, ProbeId, Provenance,
};
pub use error::{Error, Result};
pub use matrix::{LabeledMatrix, cdist, cdist_with, pdist, pdist_with};
pub use partition::{adjusted_mutual_information, partition_distance, variation_of_information};
