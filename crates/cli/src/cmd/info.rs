//! `task2vec info`: layout, dimensions, provenance and norms of an embedding.

use std::path::PathBuf;

use task2vec_embedding::Embedding;
use task2vec_embedding::asymmetric::{l1_norm, l1_norm_per_layer};

use crate::output::Format;

#[derive(clap::Args)]
pub struct Args {
    /// Embedding JSON.
    embedding: PathBuf,
    /// Output format (csv prints the per-layer table).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let e = Embedding::load(&args.embedding)?;
    let layers = l1_norm_per_layer(&e);
    let l2 = e.hessian().iter().map(|h| h * h).sum::<f64>().sqrt();
    let meta = serde_json::to_value(e.meta())?;
    match args.format {
        Format::Json => {
            let v = serde_json::json!({
                "file": args.embedding.display().to_string(),
                "name": e.name(),
                "dim": e.dim(),
                "has_prior": e.has_prior(),
                "l1_norm": l1_norm(&e),
                "l2_norm": l2,
                "layers": layers.iter().zip(e.layout().segments()).map(|((n, l1), s)| {
                    serde_json::json!({"name": n, "filters": s.filters, "l1_norm": l1})
                }).collect::<Vec<_>>(),
                "meta": meta,
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Csv => {
            println!("layer,filters,l1_norm");
            for ((name, l1), s) in layers.iter().zip(e.layout().segments()) {
                println!("{},{},{l1:?}", csv_field(name), s.filters);
            }
        }
        Format::Human => {
            println!("file:       {}", args.embedding.display());
            println!("task:       {}", e.name());
            println!("dimension:  {} filters in {} layers", e.dim(), layers.len());
            println!(
                "prior:      {}",
                if e.has_prior() {
                    "yes (variational)"
                } else {
                    "no (scale = 1)"
                }
            );
            println!("L1 norm:    {:.6e}", l1_norm(&e));
            println!("L2 norm:    {l2:.6e}");
            println!(
                "provenance: {}",
                serde_json::to_string_pretty(&meta)?.replace('\n', "\n            ")
            );
            println!("layers:");
            let width = layers.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
            for ((name, l1), s) in layers.iter().zip(e.layout().segments()) {
                println!("  {name:<width$}  {:>6} filters  L1 {l1:.4e}", s.filters);
            }
        }
    }
    Ok(())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
