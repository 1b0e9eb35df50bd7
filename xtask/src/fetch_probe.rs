//! `cargo xtask fetch_probe` (being built; see its issue).

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`cargo xtask fetch_probe` is not built yet")
}
