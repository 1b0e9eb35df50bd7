//! `task2vec select` (being built; see its issue).

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`task2vec select` is not built yet")
}
