//! Embedding JSON through `Embedding::load` (`crates/embedding/src/io.rs`).
use std::path::Path;

use task2vec_embedding::{Embedding, Layout, Provenance};

use super::{Outcome, Target, Verdict, case, ensure, refused};
use crate::case::Case;

const FILE: &str = "embedding.json";

pub fn target() -> Target {
    Target {
        name: "embedding-json",
        about: "embedding JSON via Embedding::load, re-written and re-read",
        mutable: &[FILE],
        dictionary: &[
            b"{",
            b"}",
            b"[",
            b"]",
            b",",
            b":",
            b"\"",
            b"null",
            b"-",
            b"e400",
            b"1e-400",
            b"\"format_version\":1,",
            b"\"hessian\":[1.0],",
            b"\"scale\":[0.0],",
            b"\"layout\":[{\"name\":\"a\",\"filters\":1}],",
            b"{\"name\":\"a\",\"filters\":4294967296}",
            b"\"meta\":{}",
            b"\\u0000",
            b"\\ud800",
        ],
        prefixes_refused: &[FILE],
        max_len: 1 << 14,
        run,
        seeds,
    }
}

fn run(dir: &Path) -> Verdict {
    let e = match Embedding::load(dir.join(FILE)) {
        Ok(e) => e,
        Err(e) => return refused(e),
    };
    check_invariants(&e)?;
    let again = Embedding::from_json(&e.to_json())
        .map_err(|err| format!("an accepted embedding does not re-read: {err}"))?;
    ensure(again == e, || {
        "the JSON round trip changed the embedding".into()
    })?;
    Ok(Outcome::Accepted(format!(
        "{} segments",
        e.layout().segments().len().min(3)
    )))
}

/// What `Embedding::new` promises, checked from outside.
pub fn check_invariants(e: &Embedding) -> Result<(), String> {
    let n = e.dim();
    ensure(n > 0, || "an empty embedding was accepted".into())?;
    ensure(e.layout().dim() == n && e.scale().len() == n, || {
        "hessian, scale and layout differ in length".into()
    })?;
    ensure(
        e.hessian().iter().all(|h| h.is_finite() && *h >= 0.0),
        || "a negative or non-finite Fisher value was accepted".into(),
    )?;
    ensure(e.scale().iter().all(|s| s.is_finite() && *s > 0.0), || {
        "a non-positive or non-finite scale was accepted".into()
    })
}

fn json(hessian: Vec<f64>, scale: Option<Vec<f64>>, layout: Layout) -> Vec<u8> {
    let meta = Provenance {
        task: Some("fuzz seed".into()),
        seed: Some(7),
        ..Provenance::default()
    };
    Embedding::new(
        ndarray::Array1::from(hessian),
        scale.map(ndarray::Array1::from),
        layout,
        meta,
    )
    .expect("a valid seed")
    .to_json()
    .into_bytes()
}

fn seeds() -> Vec<(String, Case)> {
    let text = |s: &str| case([(FILE, s.as_bytes().to_vec())]);
    vec![
        (
            "ok-minimal".into(),
            case([(
                FILE,
                json(vec![0.5, 1.0, 2.0], None, Layout::single("all", 3)),
            )]),
        ),
        (
            "ok-prior-two-layers".into(),
            case([(
                FILE,
                json(
                    vec![0.0, 3.5, 1e-300, 5e-324],
                    Some(vec![1.0, 2.0, 0.25, 1.7976931348623157e308]),
                    Layout::new([("conv1", 1), ("layer1.0.conv1", 3)]),
                ),
            )]),
        ),
        (
            "bad-negative".into(),
            text(
                r#"{"format_version":1,"layout":[{"name":"all","filters":1}],"hessian":[-1.0],"scale":[1.0],"meta":{"crate_version":"0.1.0"}}"#,
            ),
        ),
        (
            "bad-version-2".into(),
            text(r#"{"format_version":2,"layout":[],"hessian":[],"scale":[],"meta":{}}"#),
        ),
        (
            "bad-length".into(),
            text(
                r#"{"format_version":1,"layout":[{"name":"all","filters":4294967296}],"hessian":[1.0],"scale":[1.0],"meta":{"crate_version":"0.1.0"}}"#,
            ),
        ),
        (
            "bad-overflowing-number".into(),
            text(
                r#"{"format_version":1,"layout":[{"name":"all","filters":1}],"hessian":[1e400],"scale":[1.0],"meta":{"crate_version":"0.1.0"}}"#,
            ),
        ),
        (
            "bad-not-utf8".into(),
            case([(FILE, b"{\"a\xff\":1}".to_vec())]),
        ),
        ("bad-empty".into(), text("")),
    ]
}
