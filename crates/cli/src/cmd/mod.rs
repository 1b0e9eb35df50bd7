//! One module per subcommand; each exposes `Args` (clap) and `run(Args) -> anyhow::Result<()>`.
pub mod cluster;
pub mod distance;
pub mod embed;
pub mod import;
pub mod info;
pub mod matrix;
pub mod plot;
pub mod probe;
pub mod select;

/// `--force` relaxes the provenance rules to the structural ones (same probe and layout).
pub(crate) fn compatibility(force: bool) -> task2vec_embedding::Compatibility {
    if force {
        task2vec_embedding::Compatibility::Structural
    } else {
        task2vec_embedding::Compatibility::Strict
    }
}
