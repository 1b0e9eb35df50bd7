//! `cargo xtask reproduce` (being built; see its issue).

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`cargo xtask reproduce` is not built yet")
}
