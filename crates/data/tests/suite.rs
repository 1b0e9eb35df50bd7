//! Suite parsing, rule checks, taxonomic distance, and materialising tasks from a fake home.
use std::path::Path;

use image::{GrayImage, Luma};
use task2vec_data::suite::{FETCHED_MARKER, source_dir};
use task2vec_data::{DataError, Suite};

const SUITE: &str = r#"
name = "t"
seed = 3

[[task]]
id = "glyphs/by-char"
source = "glyphs"
path = "Latin"
taxonomy = ["scripts", "alphabets", "latin"]
max_samples = 100
tags = ["sans-regular", "sans-bold"]

[[task]]
id = "glyphs/by-weight"
source = "glyphs"
path = "Latin"
taxonomy = ["scripts", "alphabets", "latin"]
max_samples = 100
label_by = "file-tag"
tags = ["sans-regular", "sans-bold"]

[[task]]
id = "glyphs/greek-first2"
source = "glyphs"
path = "Greek"
taxonomy = ["scripts", "alphabets", "greek"]
max_samples = 3
max_classes = 2
seed = 11

[[task]]
id = "glyphs/by-char-small"
source = "glyphs"
path = "Latin"
taxonomy = ["scripts", "alphabets", "latin"]
max_samples = 5
tags = ["sans-regular", "sans-bold"]
seed = 4

[[task]]
id = "glyphs/by-weight-small"
source = "glyphs"
path = "Latin"
taxonomy = ["scripts", "alphabets", "latin"]
max_samples = 5
label_by = "file-tag"
tags = ["sans-regular", "sans-bold"]
seed = 4

[[task]]
id = "clip/groups"
source = "glyphs"
path = "Greek"
taxonomy = ["scripts", "brahmic", "x", "y"]
max_samples = 100
groups = [{ name = "ab", classes = ["alpha", "beta"] }, { name = "g", classes = ["gamma"] }]
"#;

fn png(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    GrayImage::from_pixel(2, 2, Luma([7])).save(path).unwrap();
}

/// `<home>/datasets/glyphs/{Latin,Greek}/<char>/<tag>_<k>.png`.
fn fake_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let root = source_dir(home.path(), "glyphs");
    for ch in ["a", "b", "c"] {
        for tag in ["sans-regular", "sans-bold", "serif-regular"] {
            for k in 0..2 {
                png(&root.join("Latin").join(ch).join(format!("{tag}_{k}.png")));
            }
        }
    }
    for ch in ["alpha", "beta", "gamma"] {
        for k in 0..2 {
            png(&root
                .join("Greek")
                .join(ch)
                .join(format!("sans-regular_{k}.png")));
        }
    }
    home
}

#[test]
fn parses_and_fills_default_seed() {
    let s = Suite::parse(SUITE, Path::new("t.toml")).unwrap();
    assert_eq!(s.tasks.len(), 6);
    assert_eq!(s.tasks[0].seed, Some(3));
    assert_eq!(s.tasks[2].seed, Some(11));
    assert_eq!(s.sources(), ["glyphs"]);
}

#[test]
fn taxonomic_distance_counts_levels_to_the_common_ancestor() {
    let s = Suite::parse(SUITE, Path::new("t.toml")).unwrap();
    let (latin, greek, deep) = (&s.tasks[0], &s.tasks[2], &s.tasks[5]);
    assert_eq!(latin.taxonomic_distance(latin), 0);
    assert_eq!(latin.taxonomic_distance(greek), 1);
    assert_eq!(greek.taxonomic_distance(latin), 1);
    // Common ancestor "scripts" (depth 1); the deeper path has 4 levels.
    assert_eq!(latin.taxonomic_distance(deep), 3);
}

#[test]
fn same_images_different_labels() {
    let home = fake_home();
    let s = Suite::parse(SUITE, Path::new("t.toml")).unwrap();
    // Not fetched yet: a clear error naming the fetch command.
    let err = s.tasks[0].materialize(home.path()).unwrap_err();
    assert!(matches!(err, DataError::SourceNotFetched { .. }));
    assert!(
        err.to_string().contains("cargo xtask fetch glyphs"),
        "{err}"
    );
    std::fs::write(source_dir(home.path(), "glyphs").join(FETCHED_MARKER), "").unwrap();

    let by_char = s.tasks[0].materialize(home.path()).unwrap();
    let by_weight = s.tasks[1].materialize(home.path()).unwrap();
    assert_eq!(by_char.classes(), ["a", "b", "c"]);
    assert_eq!(by_weight.classes(), ["sans-regular", "sans-bold"]);
    // 3 chars x 2 kept tags x 2 samples; serif files dropped in both.
    assert_eq!((by_char.len(), by_weight.len()), (12, 12));
    let files = |d: &task2vec_data::Dataset| -> Vec<String> {
        d.samples().iter().map(|s| s.source.to_string()).collect()
    };
    assert_eq!(files(&by_char), files(&by_weight));
    assert_ne!(by_char.labels(), by_weight.labels());
    assert_ne!(by_char.fingerprint(), by_weight.fingerprint());
    // "a/sans-bold_0.png" is the first file in sorted order: char a (0), weight bold (1).
    assert_eq!(files(&by_char)[0], "a/sans-bold_0.png");
    assert_eq!((by_char.label(0), by_weight.label(0)), (0, 1));

    // With subsampling active (5 of 12), both rules still pick the same 5 files.
    let small_char = s.tasks[3].materialize(home.path()).unwrap();
    let small_weight = s.tasks[4].materialize(home.path()).unwrap();
    assert_eq!(small_char.len(), 5);
    assert_eq!(files(&small_char), files(&small_weight));
    assert_eq!(small_weight.classes(), ["sans-regular", "sans-bold"]);
}

#[test]
fn max_classes_groups_and_subsample() {
    let home = fake_home();
    std::fs::write(source_dir(home.path(), "glyphs").join(FETCHED_MARKER), "").unwrap();
    let s = Suite::parse(SUITE, Path::new("t.toml")).unwrap();
    let first2 = s.tasks[2].materialize(home.path()).unwrap();
    assert_eq!(first2.classes(), ["alpha", "beta"]);
    assert_eq!(first2.len(), 3);
    let grouped = s.tasks[5].materialize(home.path()).unwrap();
    assert_eq!(grouped.classes(), ["ab", "g"]);
    assert_eq!(grouped.labels(), vec![0, 0, 0, 0, 1, 1]);
}

#[test]
fn invalid_suites_are_rejected_with_the_task_named() {
    let cases = [
        (
            SUITE.replace("glyphs/by-weight", "glyphs/by-char"),
            "appears twice",
        ),
        (
            SUITE.replace(
                "taxonomy = [\"scripts\", \"alphabets\", \"greek\"]",
                "taxonomy = []",
            ),
            "glyphs/greek-first2",
        ),
        (
            SUITE.replace("max_samples = 3", "max_samples = 0"),
            "max_samples",
        ),
        (
            SUITE.replace("max_classes = 2", "max_classes = 1"),
            "max_classes",
        ),
        (
            SUITE.replace(
                "label_by = \"file-tag\"\ntags = [\"sans-regular\", \"sans-bold\"]",
                "label_by = \"file-tag\"",
            ),
            "tags",
        ),
        (
            SUITE.replace("path = \"Greek\"", "path = \"../etc\""),
            "inside",
        ),
        (
            SUITE.replace("max_samples = 3", "max_sample = 3"),
            "max_sample",
        ),
        ("name = \"x\"\ntask = []\n".to_string(), "no tasks"),
    ];
    for (text, needle) in cases {
        let err = Suite::parse(&text, Path::new("bad.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataError::InvalidSuite { .. }), "{msg}");
        assert!(
            msg.contains(needle) && msg.contains("bad.toml"),
            "{needle}: {msg}"
        );
    }
}

/// A task may name a dataset of the user's own, relative to the suite file; taxonomy and
/// max_samples are then optional, and mixing `source` and `dataset` is refused.
#[test]
fn user_datasets_resolve_against_the_suite_file() {
    let dir = tempfile::tempdir().unwrap();
    for (class, shade) in [("dark", 30u8), ("light", 220u8)] {
        let d = dir.path().join("mine/birds").join(class);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..3u8 {
            GrayImage::from_pixel(4, 4, Luma([shade + i]))
                .save(d.join(format!("{i}.png")))
                .unwrap();
        }
    }
    let file = dir.path().join("suite.toml");
    std::fs::write(
        &file,
        "name = \"mine\"\n[[task]]\nid = \"birds\"\ndataset = \"mine/birds\"\n\
         [[task]]\nid = \"birds-2\"\ndataset = \"mine/birds\"\ntaxonomy = [\"b\"]\nmax_samples = 4\n",
    )
    .unwrap();
    let suite = Suite::load(&file).unwrap();
    assert!(suite.sources().is_empty(), "no fetched source needed");
    let all = suite.tasks[0]
        .materialize(Path::new("/nonexistent-home"))
        .unwrap();
    assert_eq!(all.len(), 6);
    assert!(suite.tasks[0].taxonomy.is_empty());
    let four = suite.tasks[1]
        .materialize(Path::new("/nonexistent-home"))
        .unwrap();
    assert_eq!(four.len(), 4);
    for (bad, why) in [
        (
            "name = \"x\"\n[[task]]\nid = \"a\"\nsource = \"s\"\ndataset = \"d\"\ntaxonomy = [\"a\"]\nmax_samples = 3\n",
            "not both",
        ),
        (
            "name = \"x\"\n[[task]]\nid = \"a\"\nsource = \"s\"\ntaxonomy = [\"a\"]\n",
            "max_samples",
        ),
        (
            "name = \"x\"\n[[task]]\nid = \"a\"\n",
            "`source` or a `dataset`",
        ),
    ] {
        let err = Suite::parse(bad, Path::new("bad.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(why) && err.contains("bad.toml"), "{err}");
    }
}
