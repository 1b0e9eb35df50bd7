//! `task2vec info` (being built; see its issue).

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`task2vec info` is not built yet")
}
