//! A result's key changes with everything that determines the result: every embedding option
//! (each leaf of the resolved options, enumerated — a new option is covered without editing
//! this test), the dataset's content (an image replaced under the same name), its labels,
//! the task id and the probe. A run with changed settings can therefore never reuse a stale
//! result.
#![cfg(feature = "embed")]
use std::path::Path;

use burn::tensor::Device;
use serde_json::Value;
use task2vec_data::Dataset;
use task2vec_fisher::EmbedOptions;
use task2vec_probe::Probe;
use task2vec_store::runner::Runner;

fn folder(root: &Path, shade: u8) -> Dataset {
    for (c, name) in ["a", "b"].iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..3u8 {
            image::GrayImage::from_pixel(8, 8, image::Luma([shade + 40 * c as u8 + i]))
                .save(dir.join(format!("{i}.png")))
                .unwrap();
        }
    }
    Dataset::open(root).unwrap()
}

fn runner(options: EmbedOptions) -> Result<Runner, String> {
    let device = Device::flex();
    let probe = Probe::load_named("tiny-resnet", None, &device).unwrap();
    Runner::new(probe, options, device).map_err(|e| e.to_string())
}

/// Candidate replacements of a leaf: other numbers, the other boolean, the enum's other
/// variants (read from serde's "expected one of" message), a value for an unset option.
fn alternatives(path: &[String], resolved: &Value, leaf: &Value) -> Vec<Value> {
    match leaf {
        Value::Bool(b) => vec![Value::Bool(!b)],
        Value::Number(n) if n.is_u64() => {
            let v = n.as_u64().unwrap();
            [v + 1, v * 2 + 1, v.saturating_sub(1)]
                .into_iter()
                .map(Value::from)
                .filter(|x| x != leaf)
                .collect()
        }
        Value::Number(n) => {
            let v = n.as_f64().unwrap();
            [v * 0.5, v * 1.5, v + 0.125, 0.25, 2.0]
                .into_iter()
                .map(Value::from)
                .filter(|x| x != leaf)
                .collect()
        }
        Value::String(_) => {
            let probe = with_leaf(resolved, path, Value::String("no-such-variant".into()));
            let message = serde_json::from_value::<EmbedOptions>(probe)
                .unwrap_err()
                .to_string();
            message
                .split('`')
                .skip(3)
                .step_by(2)
                .map(|v| Value::String(v.to_string()))
                .filter(|v| v != leaf)
                .collect()
        }
        Value::Null => vec![5.into(), 0.5.into(), true.into()],
        other => panic!("unexpected leaf {other} at {path:?}"),
    }
}

fn with_leaf(root: &Value, path: &[String], v: Value) -> Value {
    let mut out = root.clone();
    let mut at = &mut out;
    for p in path {
        at = at.get_mut(p).unwrap();
    }
    *at = v;
    out
}

fn leaves(v: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Value)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                path.push(k.clone());
                leaves(child, path, out);
                path.pop();
            }
        }
        leaf => out.push((path.clone(), leaf.clone())),
    }
}

#[test]
fn every_option_changes_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = folder(dir.path(), 10);
    // Some options are valid only with some estimators (BatchNorm in train mode needs
    // montecarlo-batch or variational): each is varied from a base where it can vary.
    let bases = ["montecarlo", "montecarlo-batch", "variational"].map(|m| EmbedOptions {
        method: m.parse().unwrap(),
        ..EmbedOptions::default()
    });
    let mut tested = std::collections::BTreeSet::new();
    let mut all_paths = std::collections::BTreeSet::new();
    for base_options in bases {
        let base = runner(base_options).unwrap();
        let base_key = base.result_key("t", &data).unwrap();
        let resolved = serde_json::to_value(base.hyperparameters()).unwrap();
        let mut all = Vec::new();
        leaves(&resolved, &mut Vec::new(), &mut all);
        assert!(all.len() > 20, "only {} options found", all.len());
        for (path, leaf) in &all {
            all_paths.insert(path.join("."));
            for alt in alternatives(path, &resolved, leaf) {
                let value = with_leaf(&resolved, path, alt.clone());
                let Ok(options) = serde_json::from_value::<EmbedOptions>(value) else {
                    continue;
                };
                let Ok(r) = runner(options) else { continue };
                assert_ne!(
                    r.result_key("t", &data).unwrap().digest(),
                    base_key.digest(),
                    "{} = {alt} (was {leaf}) reuses the result of the base options",
                    path.join(".")
                );
                tested.insert(path.join("."));
                break;
            }
        }
    }
    // Every option has some other valid value; one without would be untested here.
    let untested: Vec<_> = all_paths.difference(&tested).collect();
    assert!(
        untested.is_empty(),
        "no valid alternative tried for {untested:?}"
    );
    eprintln!("{} options varied, each changed the key", tested.len());
}

#[test]
fn the_data_the_labels_the_task_and_the_probe_change_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = folder(&dir.path().join("x"), 10);
    let r = runner(EmbedOptions::default()).unwrap();
    let key = r.result_key("t", &data).unwrap();
    // Same again: same key.
    assert_eq!(r.result_key("t", &data).unwrap().digest(), key.digest());
    // Another task id.
    assert_ne!(r.result_key("u", &data).unwrap().digest(), key.digest());
    // The same file names with other pixels.
    let other = folder(&dir.path().join("y"), 11);
    assert_eq!(other.fingerprint().sha256, data.fingerprint().sha256);
    assert_ne!(r.result_key("t", &other).unwrap().digest(), key.digest());
    // The same images with other labels (classes swapped).
    let swapped = data.relabel(vec!["a".into(), "b".into()], |s| Some(1 - s.label));
    assert_ne!(r.result_key("t", &swapped).unwrap().digest(), key.digest());
    // Another probe (same options).
    let device = Device::flex();
    let mut material = key.material().clone();
    material["probe"]["weights_sha256"] = Value::String("0".repeat(64));
    assert_ne!(task2vec_store::Key::new(material).digest(), key.digest());
    let probe = Probe::load_named("tiny-resnet", None, &device).unwrap();
    assert_eq!(
        key.material()["probe"]["weights_sha256"],
        Value::String(probe.weights_sha256().to_string())
    );
    assert_eq!(key.material()["software"], task2vec_store::runner::SOFTWARE);
}
