//! The committed suites agree with the manifests and the glyph script table (a staleness check
//! for `ci/data/gen_suites.py`'s output), and keep the promises the suites make.
use std::collections::BTreeSet;

use task2vec_data::Suite;

use super::glyphs::ScriptTable;
use super::manifest::{Access, Manifest, manifests_dir};

fn suite(name: &str) -> Suite {
    Suite::load(&manifests_dir().join("suites").join(format!("{name}.toml"))).unwrap()
}

/// Class names a task mentions (`classes` and group members).
fn named_classes(t: &task2vec_data::Task) -> Vec<String> {
    let mut v = t.classes.clone().unwrap_or_default();
    for g in t.groups.iter().flatten() {
        v.extend(g.classes.iter().cloned());
    }
    v
}

/// Every committed suite (datasets/suites/*.toml).
const SUITES: [&str; 6] = [
    "quick",
    "glyphs",
    "glyphs-sample",
    "clipart",
    "offline-full",
    "labels",
];

#[test]
fn suites_match_their_sources() {
    let dir = manifests_dir();
    let table = ScriptTable::load(&dir.join("taxonomy/glyph-scripts.toml")).unwrap();
    let scripts: BTreeSet<&str> = table.script.iter().map(|s| s.name.as_str()).collect();
    for name in SUITES {
        let s = suite(name);
        for t in &s.tasks {
            let m = Manifest::load(&dir.join(format!("{}.toml", t.source))).unwrap();
            assert_eq!(
                m.access,
                Access::Offline,
                "{}: offline suites use offline sources",
                t.id
            );
            assert_eq!(
                t.taxonomy[0], t.source,
                "{}: the taxonomy root is the source",
                t.id
            );
            if !m.classes.is_empty() {
                for c in named_classes(t) {
                    assert!(
                        m.classes.contains(&c),
                        "{}: `{c}` is not a class of {}",
                        t.id,
                        t.source
                    );
                }
            }
            if t.source == "glyphs" {
                let spec = table.script.iter().find(|s| s.name == t.path);
                let spec = spec
                    .unwrap_or_else(|| panic!("{}: `{}` is not in the script table", t.id, t.path));
                // `labels` has no taxonomy below the source: its ground truth is the partition
                // distance between labellings of one pool.
                if t.label_by == task2vec_data::LabelRule::Class && name != "labels" {
                    assert_eq!(t.taxonomy[1..], spec.family[..], "{}: stale taxonomy", t.id);
                }
            }
        }
        if name == "offline-full" {
            let glyph_scripts: BTreeSet<&str> = s
                .tasks
                .iter()
                .filter(|t| t.source == "glyphs")
                .map(|t| t.path.as_str())
                .collect();
            assert_eq!(glyph_scripts, scripts, "one glyph task per script");
        }
    }
}

#[test]
fn quick_suite_is_small() {
    let s = suite("quick");
    assert!((8..=12).contains(&s.tasks.len()));
    for t in &s.tasks {
        assert!(t.max_samples <= 300, "{}", t.id);
        let k = match (&t.groups, &t.classes) {
            (Some(g), _) => g.len(),
            (None, Some(c)) => c.len(),
            (None, None) => panic!("{}: quick tasks name their classes", t.id),
        };
        assert!((2..=5).contains(&k), "{}: {k} classes", t.id);
        assert!(["fashion-mnist", "animal-mnist", "mnist"].contains(&t.source.as_str()));
    }
}

#[test]
fn full_suite_has_hierarchy_and_same_image_pairs() {
    let s = suite("offline-full");
    assert!(s.tasks.len() >= 60, "{} tasks", s.tasks.len());
    // Taxonomic distances span several levels.
    let by_id = |id: &str| s.task(id).unwrap();
    let deva = by_id("glyphs/Devanagari");
    assert_eq!(deva.taxonomic_distance(by_id("glyphs/Gujarati")), 1);
    assert_eq!(deva.taxonomic_distance(by_id("glyphs/Bengali")), 2);
    assert_eq!(deva.taxonomic_distance(by_id("glyphs/Tamil")), 3);
    assert_eq!(deva.taxonomic_distance(by_id("glyphs/Hebrew")), 5);
    // Every "same images as X" note names a task with the same source, path, selection, seed
    // and sample budget, so Task::build gives both the same files.
    let mut pairs = 0;
    for t in &s.tasks {
        if let Some(other) = t.note.strip_prefix("same images as ") {
            let other = by_id(other.split(',').next().unwrap());
            assert_eq!(
                (
                    &t.source,
                    &t.path,
                    &t.classes,
                    t.max_classes,
                    &t.tags,
                    t.max_samples,
                    t.seed
                ),
                (
                    &other.source,
                    &other.path,
                    &other.classes,
                    other.max_classes,
                    &other.tags,
                    other.max_samples,
                    other.seed
                ),
                "{} vs {}",
                t.id,
                other.id
            );
            assert_ne!(
                (&t.groups, t.label_by),
                (&other.groups, other.label_by),
                "{}: labels differ",
                t.id
            );
            pairs += 1;
        }
    }
    assert!(pairs >= 10, "{pairs}");
}

/// A task's image pool: everything [`task2vec_data::Task::build`] selects and subsamples by
/// (its labelling rule — `groups`, `label_by` — left out).
fn pool_key(t: &task2vec_data::Task) -> String {
    format!(
        "{} {} {:?} {:?} {:?} {} {:?}",
        t.source, t.path, t.classes, t.max_classes, t.tags, t.max_samples, t.seed
    )
}

#[test]
fn labels_suite_pools_differ_only_in_labels() {
    use std::collections::BTreeMap;
    let s = suite("labels");
    assert!(s.tasks.len() >= 15, "{} tasks", s.tasks.len());
    let mut pools: BTreeMap<String, Vec<&task2vec_data::Task>> = BTreeMap::new();
    for t in &s.tasks {
        pools.entry(pool_key(t)).or_default().push(t);
        assert!(t.max_samples <= 400, "{}: keep tasks small", t.id);
    }
    assert!(
        pools.values().filter(|p| p.len() >= 5).count() >= 2,
        "at least two pools of at least 5 labellings"
    );
    for tasks in pools.values() {
        let first = tasks[0];
        // Every other task of the pool names the first as having the same images, and labels
        // them another way.
        for t in &tasks[1..] {
            assert_eq!(
                t.note
                    .strip_prefix("same images as ")
                    .map(|n| n.split(',').next().unwrap()),
                Some(first.id.as_str()),
                "{}",
                t.id
            );
        }
        let rules: BTreeSet<String> = tasks
            .iter()
            .map(|t| format!("{:?} {:?}", t.groups, t.label_by))
            .collect();
        assert_eq!(rules.len(), tasks.len(), "{}: labellings repeat", first.id);
        // Groups never drop a class of the pool (that would drop its images): each grouping
        // covers exactly the pool's classes (the manifest's, or the union the groups name).
        let m = Manifest::load(&manifests_dir().join(format!("{}.toml", first.source))).unwrap();
        let union: BTreeSet<String> = tasks.iter().flat_map(|t| named_classes(t)).collect();
        let classes: BTreeSet<String> = if m.classes.is_empty() {
            union
        } else {
            m.classes.iter().cloned().collect()
        };
        for t in tasks.iter().filter(|t| t.groups.is_some()) {
            let covered: Vec<String> = named_classes(t);
            assert_eq!(
                covered.len(),
                classes.len(),
                "{}: a class in two groups",
                t.id
            );
            assert_eq!(
                covered.into_iter().collect::<BTreeSet<_>>(),
                classes,
                "{}: groups must cover the pool's classes",
                t.id
            );
        }
    }
}

/// Every labelling of a `labels` pool, built on a synthetic source with the pool's classes
/// (and, for file-tag pools, files of several styles, one of them not in `tags`), keeps exactly
/// the same images and gives a different partition of them.
#[test]
fn labels_suite_pools_build_to_the_same_images() {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    let s = suite("labels");
    let mut pools: BTreeMap<String, Vec<&task2vec_data::Task>> = BTreeMap::new();
    for t in &s.tasks {
        pools.entry(pool_key(t)).or_default().push(t);
    }
    for tasks in pools.values() {
        let first = tasks[0];
        let m = Manifest::load(&manifests_dir().join(format!("{}.toml", first.source))).unwrap();
        let mut classes: Vec<String> = if m.classes.is_empty() {
            let set: BTreeSet<String> = tasks.iter().flat_map(|t| named_classes(t)).collect();
            set.into_iter().collect()
        } else {
            m.classes.clone()
        };
        if classes.is_empty() {
            classes = vec!["a".into(), "b".into()];
        }
        // 40 files per class, styles cycling through the pool's tags plus one left out.
        let mut styles = first.tags.clone().unwrap_or_else(|| vec!["x".into()]);
        styles.push("not-a-pool-tag".into());
        let mut files = Vec::new();
        for (c, _) in classes.iter().enumerate() {
            for k in 0..40 {
                let style = &styles[k % styles.len()];
                files.push((PathBuf::from(format!("{c}/{style}_font_{k:02}.png")), c));
            }
        }
        let source =
            task2vec_data::Dataset::from_files(Path::new("/pool"), classes, files).unwrap();
        let built: Vec<task2vec_data::Dataset> =
            tasks.iter().map(|t| t.build(&source).unwrap()).collect();
        let images = |d: &task2vec_data::Dataset| -> Vec<String> {
            d.samples().iter().map(|s| s.source.to_string()).collect()
        };
        let reference = images(&built[0]);
        assert!(reference.len() <= first.max_samples && !reference.is_empty());
        if first.tags.is_some() {
            assert!(!reference.iter().any(|f| f.contains("not-a-pool-tag")));
        }
        let mut partitions = BTreeSet::new();
        for (t, d) in tasks.iter().zip(&built) {
            assert_eq!(images(d), reference, "{}: other images", t.id);
            d.validate().unwrap_or_else(|e| panic!("{}: {e}", t.id));
            // The partition up to renaming: for each sample, the first sample with its label.
            let labels = d.labels();
            let canon: Vec<usize> = labels
                .iter()
                .map(|l| labels.iter().position(|m| m == l).unwrap())
                .collect();
            assert!(partitions.insert(canon), "{}: repeats a partition", t.id);
        }
    }
}

/// Materialises every task of both suites from the fetched sources in $TASK2VEC_HOME
/// (sources not fetched are reported and skipped). Needs `cargo xtask fetch offline` first:
/// `cargo test -p xtask -- --ignored materialize_fetched_suites --nocapture`
#[test]
#[ignore = "needs fetched datasets"]
fn materialize_fetched_suites() {
    use task2vec_data::suite::{FETCHED_MARKER, default_home, source_dir};
    let home = default_home();
    for name in SUITES {
        let s = suite(name);
        let mut built = std::collections::BTreeMap::new();
        let mut missing = BTreeSet::new();
        for t in &s.tasks {
            if !source_dir(&home, &t.source).join(FETCHED_MARKER).is_file() {
                missing.insert(t.source.clone());
                continue;
            }
            let ds = t
                .materialize(&home)
                .unwrap_or_else(|e| panic!("{}: {e}", t.id));
            assert!(ds.len() <= t.max_samples, "{}", t.id);
            let counts: Vec<String> = ds
                .class_counts()
                .iter()
                .map(|(_, n)| n.to_string())
                .collect();
            println!(
                "{name} {:<34} {:>5} samples, {:>2} classes [{}]",
                t.id,
                ds.len(),
                ds.classes().len(),
                counts.join(" ")
            );
            built.insert(t.id.clone(), ds);
        }
        for t in &s.tasks {
            if let (Some(other), Some(a)) =
                (t.note.strip_prefix("same images as "), built.get(&t.id))
            {
                let b = &built[other.split(',').next().unwrap()];
                let files = |d: &task2vec_data::Dataset| {
                    d.samples()
                        .iter()
                        .map(|s| s.source.to_string())
                        .collect::<Vec<_>>()
                };
                assert_eq!(files(a), files(b), "{}: same images", t.id);
                assert_ne!(
                    a.fingerprint(),
                    b.fingerprint(),
                    "{}: different labels",
                    t.id
                );
            }
        }
        println!(
            "{name}: {} tasks built; sources not fetched: {missing:?}",
            built.len()
        );
    }
}
