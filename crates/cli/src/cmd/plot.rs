//! `task2vec plot` (being built; see its issue).

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`task2vec plot` is not built yet")
}
