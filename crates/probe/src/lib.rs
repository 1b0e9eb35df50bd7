//! task2vec-probe: pretrained CNN probes (imported from ONNX with burn-import), their weights,
//! preprocessing and filter layout. See ARCHITECTURE.md.
pub mod tap;

pub use tap::{LayerTap, PassThrough, batch_norm_batch_stats, batch_norm_eval};
