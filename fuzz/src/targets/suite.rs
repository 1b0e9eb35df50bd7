//! Task-suite TOML through `Suite::load` (`crates/data/src/suite.rs`).
use std::collections::BTreeSet;
use std::path::{Component, Path};

use task2vec_data::Suite;

use super::{Outcome, Target, Verdict, case, ensure, refused};
use crate::case::Case;

const FILE: &str = "suite.toml";

pub fn target() -> Target {
    Target {
        name: "suite-toml",
        about: "task suites via Suite::load",
        mutable: &[FILE],
        dictionary: &[
            b"[[task]]\n",
            b"id = \"t\"\n",
            b"source = \"s\"\n",
            b"taxonomy = [\"a\", \"b\"]\n",
            b"max_samples = 0\n",
            b"max_classes = 1\n",
            b"classes = []\n",
            b"groups = [{ name = \"g\", classes = [\"x\"] }]\n",
            b"label_by = \"file-tag\"\n",
            b"tags = [\"a\", \"b\"]\n",
            b"path = \"../x\"\n",
            b"seed = -1\n",
            b"\"",
            b"'''",
            b"=",
            b"[",
            b"]",
            b"{",
            b"}",
            b",",
            b"\n",
            b"#",
            b"../",
            b"/",
        ],
        prefixes_refused: &[],
        max_len: 1 << 14,
        run,
        seeds,
    }
}

fn run(dir: &Path) -> Verdict {
    let suite = match Suite::load(&dir.join(FILE)) {
        Ok(s) => s,
        Err(e) => return refused(e),
    };
    ensure(!suite.tasks.is_empty(), || {
        "a suite without tasks was accepted".into()
    })?;
    let ids: BTreeSet<&str> = suite.tasks.iter().map(|t| t.id.as_str()).collect();
    ensure(ids.len() == suite.tasks.len(), || {
        "duplicate task ids were accepted".into()
    })?;
    let home = Path::new("/fuzz-home");
    for t in &suite.tasks {
        ensure(t.seed.is_some(), || format!("task {:?} has no seed", t.id))?;
        ensure(t.max_samples > 0, || {
            format!("task {:?}: max_samples 0", t.id)
        })?;
        // A task reads below `<home>/datasets/<source>/`, never elsewhere.
        let data = t.data_dir(home);
        let rel = data.strip_prefix(home.join("datasets")).map_err(|_| {
            format!(
                "task {:?} reads {} (outside the datasets folder)",
                t.id,
                data.display()
            )
        })?;
        ensure(
            rel.components().all(|c| matches!(c, Component::Normal(_))),
            || {
                format!(
                    "task {:?} reads {} (leaves the datasets folder)",
                    t.id,
                    data.display()
                )
            },
        )?;
    }
    for a in suite.tasks.iter().take(8) {
        for b in suite.tasks.iter().take(8) {
            let d = a.taxonomic_distance(b);
            ensure(d <= a.taxonomy.len().max(b.taxonomy.len()), || {
                format!("taxonomic distance {d} exceeds the depth")
            })?;
        }
    }
    let _ = suite.sources();
    Ok(Outcome::Accepted(format!(
        "{} tasks",
        suite.tasks.len().min(3)
    )))
}

fn seeds() -> Vec<(String, Case)> {
    let text = |s: &str| case([(FILE, s.as_bytes().to_vec())]);
    vec![
        (
            "ok-two-tasks".into(),
            text(
                "name = \"fuzz\"\ndescription = \"seed\"\nseed = 3\n\n\
                 [[task]]\nid = \"fashion/footwear\"\nsource = \"fashion-mnist\"\n\
                 taxonomy = [\"fashion-mnist\", \"footwear\"]\nmax_samples = 300\n\
                 classes = [\"Sandal\", \"Sneaker\", \"Ankle boot\"]\n\n\
                 [[task]]\nid = \"fashion/all\"\nsource = \"fashion-mnist\"\n\
                 taxonomy = [\"fashion-mnist\"]\nmax_samples = 100\nmax_classes = 5\nseed = 9\n",
            ),
        ),
        (
            "ok-groups-and-tags".into(),
            text(
                "name = \"g\"\n\n[[task]]\nid = \"a\"\nsource = \"glyphs\"\npath = \"latin\"\n\
                 taxonomy = [\"glyphs\", \"latin\"]\nmax_samples = 10\n\
                 groups = [{ name = \"x\", classes = [\"a\"] }, { name = \"y\", classes = [\"b\"] }]\n\n\
                 [[task]]\nid = \"b\"\nsource = \"glyphs\"\ntaxonomy = [\"glyphs\"]\nmax_samples = 10\n\
                 label_by = \"file-tag\"\ntags = [\"sans\", \"serif\"]\nnote = \"n\"\n",
            ),
        ),
        (
            "bad-duplicate-id".into(),
            text(
                "name = \"d\"\n[[task]]\nid = \"a\"\nsource = \"s\"\ntaxonomy = [\"s\"]\nmax_samples = 1\n\
                 [[task]]\nid = \"a\"\nsource = \"s\"\ntaxonomy = [\"s\"]\nmax_samples = 1\n",
            ),
        ),
        ("bad-no-tasks".into(), text("name = \"e\"\ntask = []\n")),
        (
            "bad-path-escape".into(),
            text(
                "name = \"p\"\n[[task]]\nid = \"a\"\nsource = \"s\"\npath = \"../../etc\"\n\
                 taxonomy = [\"s\"]\nmax_samples = 1\n",
            ),
        ),
        (
            // Found by fuzzing (seed 42): `source` is joined to `<home>/datasets/` unchecked.
            "bad-source-escape".into(),
            text(
                "name = \"s\"\n[[task]]\nid = \"a\"\nsource = \"../../etc\"\n\
                 taxonomy = [\"s\"]\nmax_samples = 1\n",
            ),
        ),
        (
            "bad-unknown-field".into(),
            text(
                "name = \"u\"\nsede = 1\n[[task]]\nid = \"a\"\nsource = \"s\"\ntaxonomy = [\"s\"]\nmax_samples = 1\n",
            ),
        ),
        ("bad-not-toml".into(), text("name = \"\n")),
    ]
}
