//! CSV manifests `path,label` through `Dataset::open` (`crates/data/src/formats/csv_manifest.rs`),
//! then decoding of the images they name (`Dataset::load_image`).
use std::path::Path;

use task2vec_data::{Dataset, Format};

use super::{Outcome, Target, Verdict, case, ensure, refused};
use crate::case::Case;

const MANIFEST: &str = "manifest.csv";

pub fn target() -> Target {
    Target {
        name: "csv-manifest",
        about: "CSV manifest path,label via Dataset::open, images via load_image",
        mutable: &[MANIFEST, "img/"],
        dictionary: &[
            b",",
            b"\"",
            b"\"\"",
            b"\n",
            b"\r\n",
            b"path,label\n",
            b"img/a.png",
            b"img/b.png",
            b"img",
            b"../",
            b"/",
            b" ",
            b"\xef\xbb\xbf",
            b"\0",
        ],
        prefixes_refused: &[],
        max_len: 1 << 14,
        run,
        seeds,
    }
}

fn run(dir: &Path) -> Verdict {
    let ds = match Dataset::open(&dir.join(MANIFEST)) {
        Ok(ds) => ds,
        Err(e) => return refused(e),
    };
    ensure(ds.format() == Format::CsvManifest, || {
        format!("read as {:?}", ds.format())
    })?;
    ensure(!ds.is_empty(), || {
        "a manifest without rows was accepted".into()
    })?;
    let n_classes = ds.classes().len();
    for (i, s) in ds.samples().iter().enumerate() {
        ensure(s.label < n_classes, || {
            format!("label {} but {n_classes} classes", s.label)
        })?;
        let path = ds
            .sample_path(i)
            .ok_or("a manifest sample without a path")?;
        ensure(path.is_file(), || {
            format!(
                "accepted a row naming {}, which is not a file",
                path.display()
            )
        })?;
    }
    let mut decoded = 0;
    for i in 0..ds.len().min(8) {
        decoded += ds.load_image(i).is_ok() as usize;
    }
    let _ = ds.validate();
    Ok(Outcome::Accepted(format!(
        "{n_classes} classes, {} decoded",
        decoded.min(1)
    )))
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8 * 60, y as u8 * 60, 9]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("in memory");
    out.into_inner()
}

fn seeds() -> Vec<(String, Case)> {
    let with = |manifest: &str| {
        case([
            (MANIFEST, manifest.as_bytes().to_vec()),
            ("img/a.png", png(2, 2)),
            ("img/b.png", png(3, 1)),
        ])
    };
    vec![
        (
            "ok-header".into(),
            with("path,label\nimg/a.png,cat\nimg/b.png,dog\n"),
        ),
        (
            "ok-numeric-labels".into(),
            with("img/a.png,10\nimg/b.png,2\nimg/a.png,1\n"),
        ),
        (
            "ok-quoted-blank-lines".into(),
            with("\"img/a.png\",\"a, b\"\n\n  img/b.png , c \n"),
        ),
        (
            "bad-missing-file".into(),
            with("img/a.png,x\nimg/none.png,y\n"),
        ),
        ("bad-three-fields".into(), with("img/a.png,x,y\n")),
        ("bad-empty-label".into(), with("img/a.png,\n")),
        ("bad-only-header".into(), with("path,label\n")),
        ("bad-unclosed-quote".into(), with("\"img/a.png,x\n")),
        ("bad-directory".into(), with("img,x\n")),
    ]
}
