//! Imports the committed probe graphs (crates/probe/graphs/*.onnx.gz) with burn-import, then
//! rewrites each generated straight-line `forward` into tapped, splittable segments
//! (see build/tapped.rs and crates/probe/README.md).
use std::io::Read;
use std::path::{Path, PathBuf};

use burn_import::onnx::{LoadStrategy, ModelGen};

#[path = "build/tapped.rs"]
mod tapped;

/// (graph stem, whether its weights are embedded in the binary).
/// Only tiny-resnet carries real weights in its graph; the others are loaded at run time.
const PROBES: &[(&str, bool)] = &[
    ("tiny-resnet", true),
    ("efficientnet-lite0", false),
    ("resnet18", false),
    ("resnet34", false),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build/tapped.rs");
    let onnx_dir = out_dir.join("onnx");
    std::fs::create_dir_all(&onnx_dir).expect("create OUT_DIR/onnx");
    for &(stem, embed) in PROBES {
        let module = stem.replace('-', "_");
        let gz = manifest.join("graphs").join(format!("{stem}.onnx.gz"));
        println!("cargo:rerun-if-changed={}", gz.display());
        let onnx = onnx_dir.join(format!("{module}.onnx"));
        decompress(&gz, &onnx);
        let strategy = if embed {
            LoadStrategy::Embedded
        } else {
            LoadStrategy::None
        };
        ModelGen::new()
            .input(onnx.to_str().expect("OUT_DIR is not UTF-8"))
            .out_dir("model/")
            .load_strategy(strategy)
            // One flat struct with a straight-line forward: the rewrite below relies on it.
            .partition(false)
            .run_from_script();
        let generated = out_dir.join("model").join(format!("{module}.rs"));
        let source = std::fs::read_to_string(&generated)
            .unwrap_or_else(|e| panic!("reading {}: {e}", generated.display()));
        let mut tapped = tapped::rewrite(&source)
            .unwrap_or_else(|e| panic!("rewriting the forward of {}: {e}", generated.display()));
        if embed {
            tapped.push_str(
                "\npub(crate) fn embedded_weights() -> &'static [u8] {\n    EMBEDDED_STATES\n}\n",
            );
        }
        let target = out_dir.join("model").join(format!("{module}_tapped.rs"));
        std::fs::write(&target, tapped)
            .unwrap_or_else(|e| panic!("writing {}: {e}", target.display()));
        if !embed {
            // The weight file burn-import writes for a zeroed graph is useless: drop it.
            let _ = std::fs::remove_file(out_dir.join("model").join(format!("{module}.bpk")));
        }
    }
}

fn decompress(gz: &Path, onnx: &Path) {
    let file = std::fs::File::open(gz).unwrap_or_else(|e| panic!("opening {}: {e}", gz.display()));
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .unwrap_or_else(|e| panic!("decompressing {}: {e}", gz.display()));
    let unchanged = std::fs::read(onnx).map(|old| old == bytes).unwrap_or(false);
    if !unchanged {
        std::fs::write(onnx, &bytes).unwrap_or_else(|e| panic!("writing {}: {e}", onnx.display()));
    }
}
