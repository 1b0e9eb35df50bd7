//! `datasets/<source>.toml`: where a source comes from (pinned registry packages or URLs with
//! checksums), its license and citation, and how it is converted.
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub title: String,
    pub description: String,
    pub license: String,
    pub citation: String,
    pub homepage: String,
    /// `offline`: every artifact comes from a package registry; `online`: needs the internet.
    pub access: Access,
    /// Which converter turns the artifacts into a layout `task2vec_data::Dataset::open` reads.
    pub convert: Converter,
    /// What the converted folder holds (for people; the converter decides).
    pub layout: String,
    /// Class names in label order, for sources whose files carry numeric labels only.
    #[serde(default)]
    pub classes: Vec<String>,
    #[serde(default)]
    pub notes: String,
    #[serde(rename = "artifact")]
    pub artifacts: Vec<Artifact>,
    /// Task definitions for online sources, as rules over the source's own metadata.
    #[serde(default, rename = "task_rule")]
    pub task_rules: Vec<TaskRule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    Offline,
    Online,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Converter {
    FashionMnist,
    MnistPickle,
    AnimalMnist,
    Glyphs,
    Openclipart,
    Cub,
    Inat2018,
    Imat2018,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    /// `apt-get download PACKAGE=VERSION`
    Apt,
    /// `python3 -m pip download --no-deps PACKAGE==VERSION`
    Pip,
    /// HTTP(S) download from `url`.
    Url,
    /// Placed by hand into `<home>/downloads/` (e.g. behind a login); `url` says where from.
    Manual,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    pub via: Via,
    #[serde(default)]
    pub package: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub url: String,
    /// File name of the downloaded artifact (what the client writes).
    pub file: String,
    /// Hex sha256; empty when not known yet (then computed and recorded on first download).
    #[serde(default)]
    pub sha256: String,
    /// Hex md5 published by the data's authors, checked in addition when present.
    #[serde(default)]
    pub md5: String,
    #[serde(default)]
    pub size: Option<u64>,
    /// Where the checksum comes from, or why there is none.
    #[serde(default)]
    pub checksum_note: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRule {
    pub name: String,
    pub count_in_paper: usize,
    pub rule: String,
}

impl Manifest {
    pub fn load(path: &Path) -> anyhow::Result<Manifest> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let m: Manifest =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        m.check()
            .with_context(|| format!("checking {}", path.display()))?;
        Ok(m)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.artifacts.is_empty() {
            bail!("no [[artifact]] listed");
        }
        for a in &self.artifacts {
            let hexlen = |s: &str, n: usize| s.is_empty() || (s.len() == n && is_hex(s));
            if !hexlen(&a.sha256, 64) || !hexlen(&a.md5, 32) {
                bail!("artifact {}: malformed sha256/md5", a.file);
            }
            match a.via {
                Via::Apt | Via::Pip => {
                    if a.package.is_empty() || a.version.is_empty() || a.sha256.is_empty() {
                        bail!(
                            "registry artifact {} needs package, version and sha256",
                            a.file
                        );
                    }
                }
                Via::Url | Via::Manual => {
                    if !(a.url.starts_with("https://") || a.url.starts_with("http://")) {
                        bail!("artifact {}: url must be http(s)", a.file);
                    }
                    if a.sha256.is_empty() && a.checksum_note.is_empty() {
                        bail!(
                            "artifact {}: no sha256 and no checksum_note saying why",
                            a.file
                        );
                    }
                }
            }
            if matches!(a.via, Via::Url | Via::Manual) && self.access == Access::Offline {
                bail!("offline source {} lists a URL artifact", self.name);
            }
        }
        Ok(())
    }
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The repository's `datasets/` folder (manifests and suites).
pub fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("datasets")
}

/// Names of all manifests in `dir`, sorted.
pub fn list(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "toml") {
            names.push(p.file_stem().unwrap().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}
