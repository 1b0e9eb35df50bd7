//! `task2vec import`: build an embedding JSON from `.npy` files made elsewhere (numpy, REF).

use std::path::PathBuf;

use task2vec_embedding::{Provenance, io};

#[derive(clap::Args)]
pub struct Args {
    /// Per-filter Fisher values (1-D float64 or float32 .npy).
    #[arg(long)]
    hessian: PathBuf,
    /// Per-filter prior precision (variational embeddings); ones when omitted.
    #[arg(long)]
    scale: Option<PathBuf>,
    /// Layer layout: JSON list of {"name": ..., "filters": ...}; one segment "all" when omitted.
    #[arg(long)]
    layout: Option<PathBuf>,
    /// Task name (labels the embedding in matrices and plots); default: the output file stem.
    #[arg(long)]
    name: Option<String>,
    /// Output embedding JSON.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let name = args.name.or_else(|| {
        args.out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
    });
    let mut meta = Provenance {
        task: name,
        ..Provenance::default()
    };
    meta.extra.insert(
        "imported_from".into(),
        serde_json::Value::from(args.hessian.display().to_string()),
    );
    let e = io::import_npy(
        &args.hessian,
        args.scale.as_deref(),
        args.layout.as_deref(),
        meta,
    )?;
    e.save(&args.out)?; // the error names the file
    println!(
        "{}: {:?}, {} filters in {} layers",
        args.out.display(),
        e.name(),
        e.dim(),
        e.layout().segments().len()
    );
    Ok(())
}
