//! Keys: everything that determines a result, and its digest (the entry's name in the store).
use serde_json::Value;

/// The material a result is a function of (for a task embedding: the dataset's content, the
/// fully resolved options, the probe's name and weights, the software version), as a JSON
/// value, and the sha256 of its canonical form.
///
/// Canonical form: objects with their keys sorted, no whitespace, numbers as serde_json writes
/// them (the shortest text that reads back to the same f64). Two materials that are equal as
/// JSON values have the same digest, whatever order their fields were built in.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    material: Value,
    digest: String,
}

impl Key {
    /// The key of `material`.
    pub fn new(material: Value) -> Key {
        let digest = task2vec_common::sha256_bytes(canonical(&material).as_bytes());
        Key { material, digest }
    }

    /// Hex sha256 of the canonical material (64 characters).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// What the result depends on.
    pub fn material(&self) -> &Value {
        &self.material
    }
}

/// `value` as compact JSON with every object's keys sorted (independent of serde_json's map
/// type, which keeps insertion order when some crate turns on `preserve_order`).
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_order_does_not_change_the_digest() {
        let a = Key::new(json!({"b": 1, "a": {"y": [1, 2], "x": 0.1}}));
        let mut m = serde_json::Map::new();
        m.insert("a".into(), json!({"x": 0.1, "y": [1, 2]}));
        m.insert("b".into(), json!(1));
        let b = Key::new(Value::Object(m));
        assert_eq!(a.digest(), b.digest());
        assert_eq!(
            canonical(a.material()),
            r#"{"a":{"x":0.1,"y":[1,2]},"b":1}"#
        );
    }

    #[test]
    fn every_change_of_a_leaf_changes_the_digest() {
        let base = json!({"options": {"lr": 0.001, "seed": 0}, "probe": "p", "list": [1, 2]});
        let digest = Key::new(base.clone()).digest().to_string();
        for changed in [
            json!({"options": {"lr": 0.0010000000000000002, "seed": 0}, "probe": "p", "list": [1, 2]}),
            json!({"options": {"lr": 0.001, "seed": 1}, "probe": "p", "list": [1, 2]}),
            json!({"options": {"lr": 0.001, "seed": "0"}, "probe": "p", "list": [1, 2]}),
            json!({"options": {"lr": 0.001, "seed": 0}, "probe": "q", "list": [1, 2]}),
            json!({"options": {"lr": 0.001, "seed": 0}, "probe": "p", "list": [2, 1]}),
            json!({"options": {"lr": 0.001, "seed": 0, "x": null}, "probe": "p", "list": [1, 2]}),
        ] {
            assert_ne!(Key::new(changed.clone()).digest(), digest, "{changed}");
        }
        // The digest is sha256 of the canonical text (checked with coreutils' sha256sum:
        // printf '%s' '{"a":1}' | sha256sum).
        assert_eq!(
            Key::new(json!({"a": 1})).digest(),
            "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
        );
    }
}
