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
