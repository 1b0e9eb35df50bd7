//! Bad input gives typed errors that name the file and the problem; round trips are exact.

use ndarray::{Array1, array};
use task2vec_embedding::{
    Embedding, Error, LabeledMatrix, Layout, Metric, ProbeId, Provenance, distance, io,
};

fn meta(task: &str) -> Provenance {
    Provenance {
        task: Some(task.into()),
        ..Provenance::default()
    }
}

fn layout() -> Layout {
    Layout::new([("conv1", 2), ("bn1", 1)])
}

fn sample() -> Embedding {
    Embedding::new(
        array![1.0, 0.5, 1e-9],
        Some(array![2.0, 2.0, 0.25]),
        layout(),
        meta("a"),
    )
    .unwrap()
}

#[test]
fn constructor_rejects_bad_values() {
    let bad = |h: Array1<f64>| Embedding::new(h, None, layout(), meta("x")).unwrap_err();
    assert!(matches!(
        bad(array![1.0, f64::NAN, 1.0]),
        Error::NonFinite { index: 1, .. }
    ));
    assert!(matches!(
        bad(array![1.0, f64::INFINITY, 1.0]),
        Error::NonFinite { .. }
    ));
    assert!(matches!(
        bad(array![1.0, -1.0, 1.0]),
        Error::NegativeFisher { index: 1, .. }
    ));
    assert!(matches!(bad(array![0.0, 0.0, 0.0]), Error::AllZero));
    assert!(matches!(
        bad(array![1.0, 1.0]),
        Error::LengthMismatch { .. }
    ));
    assert!(matches!(
        Embedding::new(Array1::<f64>::zeros(0), None, Layout::default(), meta("x")).unwrap_err(),
        Error::Empty
    ));
    let s = Embedding::new(
        array![1.0, 1.0, 1.0],
        Some(array![1.0, 0.0, 1.0]),
        layout(),
        meta("x"),
    );
    assert!(matches!(
        s.unwrap_err(),
        Error::NonPositiveScale { index: 1, .. }
    ));
    let dup = Layout::new([("a", 1), ("a", 2)]);
    assert!(matches!(
        Embedding::new(array![1.0, 1.0, 1.0], None, dup, meta("x")).unwrap_err(),
        Error::BadLayout(_)
    ));
}

#[test]
fn json_round_trip_is_exact() {
    let mut e = sample();
    e.meta_mut().probe = Some(ProbeId {
        name: "resnet34".into(),
        weights_sha256: "ab".repeat(32),
    });
    e.meta_mut()
        .extra
        .insert("note".into(), serde_json::json!({"k": [1, 2]}));
    let back = Embedding::from_json(&e.to_json()).unwrap();
    assert_eq!(back, e);
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.json");
    sample().save(&path).unwrap();
    let json = std::fs::read_to_string(&path).unwrap();

    std::fs::write(&path, &json[..json.len() / 2]).unwrap();
    let msg = Embedding::load(&path).unwrap_err().to_string();
    assert!(msg.contains("e.json") && msg.contains("truncated"), "{msg}");

    std::fs::write(
        &path,
        json.replace("\"format_version\":1", "\"format_version\":2"),
    )
    .unwrap();
    let msg = Embedding::load(&path).unwrap_err().to_string();
    assert!(
        msg.contains("e.json") && msg.contains("format_version 2"),
        "{msg}"
    );

    std::fs::write(&path, json.replace("1e-9", "-1e-9")).unwrap();
    let msg = Embedding::load(&path).unwrap_err().to_string();
    assert!(msg.contains("e.json") && msg.contains("negative"), "{msg}");

    std::fs::write(&path, "{\"hessian\": [1]}").unwrap();
    let msg = Embedding::load(&path).unwrap_err().to_string();
    assert!(msg.contains("format_version"), "{msg}");

    let msg = Embedding::load(dir.path().join("missing.json"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("missing.json"), "{msg}");
}

#[test]
fn comparing_different_probes_or_layouts_is_an_error() {
    let mut a = sample();
    let mut b = sample();
    a.meta_mut().probe = Some(ProbeId {
        name: "resnet34".into(),
        weights_sha256: "00".into(),
    });
    b.meta_mut().probe = Some(ProbeId {
        name: "resnet18".into(),
        weights_sha256: "11".into(),
    });
    let msg = distance(&a, &b, Metric::Cosine).unwrap_err().to_string();
    assert!(msg.contains("different probes"), "{msg}");
    // An embedding without provenance between them does not hide the mismatch.
    let mut plain = sample();
    plain.meta_mut().task = Some("plain".into());
    let msg = task2vec_embedding::pdist(&[plain, a.clone(), b.clone()], Metric::Cosine)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("different probes"), "{msg}");
    let c = Embedding::new(
        array![1.0, 1.0, 1.0],
        None,
        Layout::new([("conv1", 1), ("bn1", 2)]),
        meta("c"),
    )
    .unwrap();
    let msg = distance(&sample(), &c, Metric::Cosine)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("different layouts"), "{msg}");
    let z = Embedding::new(array![1.0, 0.0, 1.0], None, layout(), meta("z")).unwrap();
    let msg = distance(&sample(), &z, Metric::Kl).unwrap_err().to_string();
    assert!(
        msg.contains("strictly positive") && msg.contains("\"z\""),
        "{msg}"
    );
}

#[test]
fn npy_round_trip_and_matrix_files() {
    let dir = tempfile::tempdir().unwrap();
    let e = sample();
    io::write_vector_npy(dir.path().join("h.npy"), e.hessian()).unwrap();
    assert_eq!(
        &io::read_vector_npy(dir.path().join("h.npy")).unwrap(),
        e.hessian()
    );
    let m = LabeledMatrix::new(
        vec!["a".into(), "b,c".into()],
        array![[0.0, 0.1], [0.1, 0.0]],
    )
    .unwrap();
    m.save(dir.path().join("m.csv")).unwrap();
    assert_eq!(LabeledMatrix::load(dir.path().join("m.csv")).unwrap(), m);
    m.save(dir.path().join("m.npy")).unwrap();
    assert_eq!(
        LabeledMatrix::load(dir.path().join("m.npy"))
            .unwrap()
            .values,
        m.values
    );
    std::fs::write(dir.path().join("bad.csv"), ",a,b\na,0,1\n").unwrap();
    let msg = LabeledMatrix::load(dir.path().join("bad.csv"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("bad.csv") && msg.contains("not square"),
        "{msg}"
    );
    std::fs::write(dir.path().join("bad.npy"), b"not an npy file").unwrap();
    let msg = io::read_vector_npy(dir.path().join("bad.npy"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("bad.npy"), "{msg}");
}

#[test]
fn json_round_trip_is_bit_exact_over_the_whole_f64_range() {
    // Writing uses shortest round-trip digits and reading is correctly rounded (serde_json's
    // `float_roundtrip` feature, on in the workspace manifest), so every finite value comes
    // back with the same bits. Without the feature this fails (values move by 1-2 ulp).
    let mut x: u64 = 0x9E3779B97F4A7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // Random bit patterns with the sign cleared: every exponent, subnormals included.
    let mut random_positive = || loop {
        let v = f64::from_bits(next() >> 1);
        if v.is_finite() && v > 0.0 {
            return v;
        }
    };
    let edges = [
        0.0,
        f64::MIN_POSITIVE,
        f64::from_bits(1),                     // smallest subnormal
        f64::from_bits(0x000F_FFFF_FFFF_FFFF), // largest subnormal
        f64::MAX,
        1.0,
        0.1,
        1.0 / 3.0,
    ];
    let n = 20_000;
    let h: Vec<f64> = edges
        .iter()
        .copied()
        .chain((edges.len()..n).map(|_| random_positive()))
        .collect();
    let scale: Vec<f64> = (0..n).map(|_| random_positive()).collect();
    let e = Embedding::new(
        Array1::from(h),
        Some(Array1::from(scale)),
        Layout::single("all", n),
        meta("r"),
    )
    .unwrap();
    let back = Embedding::from_json(&e.to_json()).unwrap();
    for (what, a, b) in [
        ("hessian", e.hessian(), back.hessian()),
        ("scale", e.scale(), back.scale()),
    ] {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert_eq!(
                x.to_bits(),
                y.to_bits(),
                "{what}[{i}] = {x:e} came back as {y:e}"
            );
        }
    }
}
