//! The error matrix's CSV: round trip, resumability, and errors that name the file and line.

use std::path::Path;

use task2vec_model2vec::Error;
use task2vec_model2vec::matrix::{CSV_HEADER, ErrorMatrix};

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn sample() -> ErrorMatrix {
    let mut m = ErrorMatrix::new();
    // target b first: first-seen order is kept, not sorted.
    for (t, e, r, err) in [
        ("b", "x", 0, 0.25),
        ("b", "x", 1, 0.35),
        ("b", "y", 0, 0.5),
        ("b", "y", 1, 0.5),
        ("a", "x", 1, 0.1),
        ("a", "x", 0, 0.2),
        ("a", "y", 0, 0.0),
        ("a", "y", 1, 0.1),
    ] {
        m.insert(t, e, r, err, 100, 50).unwrap();
    }
    m
}

#[test]
fn round_trip_keeps_everything_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("errors.csv");
    let m = sample();
    m.write_csv(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], CSV_HEADER.join(","));
    // Targets and experts first-seen, repeats ascending.
    assert_eq!(lines[1], "b,x,0,0.25,100,50");
    assert_eq!(lines[5], "a,x,0,0.2,100,50");
    assert_eq!(lines[6], "a,x,1,0.1,100,50");
    let back = ErrorMatrix::read_csv(&path).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.targets(), ["b", "a"]);
    assert_eq!(back.experts(), ["x", "y"]);
    // Same content, same bytes.
    let again = dir.path().join("again.csv");
    back.write_csv(&again).unwrap();
    assert_eq!(std::fs::read(&again).unwrap(), text.as_bytes());
}

#[test]
fn a_resumed_run_skips_present_cells_and_refuses_conflicts() {
    let mut m = sample();
    assert!(m.contains("a", "y", 1));
    assert!(!m.contains("a", "y", 2));
    assert_eq!(m.repeats("a", "y"), 2);
    // Redoing a cell with the same values is harmless; different values are refused.
    m.insert("a", "y", 1, 0.1, 100, 50).unwrap();
    assert!(m.insert("a", "y", 1, 0.2, 100, 50).is_err());
    assert!(m.insert("a", "y", 2, 1.5, 100, 50).is_err());
    assert!(m.insert("a", "y", 2, f64::NAN, 100, 50).is_err());
    assert!(m.insert("", "y", 2, 0.1, 100, 50).is_err());
}

#[test]
fn mean_std_and_noise_scale_by_hand() {
    let m = sample();
    let (t, e) = (names(&["a", "b"]), names(&["x", "y"]));
    let mean = m.mean(&t, &e).unwrap();
    // a: x = (0.2 + 0.1)/2, y = 0.05; b: x = 0.3, y = 0.5.
    for (got, want) in mean.iter().zip([0.15, 0.05, 0.3, 0.5]) {
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
    let std = m.std(&t, &e).unwrap();
    // Two repeats differing by δ: sample std = |δ|/√2.
    let s = 0.1 / 2f64.sqrt();
    for (got, want) in std.iter().zip([s, s, s, 0.0]) {
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
    let noise = m.noise_scale(&t, &e).unwrap();
    // Standard error: mean of std/√2 = (3·s/√2)/4 = 0.0375. Spread: rows (0.15, 0.05) and
    // (0.3, 0.5) have sample stds 0.1/√2 and 0.2/√2: mean 0.15/√2.
    assert!((noise.standard_error - 0.0375).abs() < 1e-12, "{noise:?}");
    assert!(
        (noise.expert_spread - 0.15 / 2f64.sqrt()).abs() < 1e-12,
        "{noise:?}"
    );
    // A missing cell is an error naming it.
    let err = m
        .mean(&names(&["a"]), &names(&["z"]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("(a, z)"), "{err}");
    let mut one = ErrorMatrix::new();
    one.insert("a", "x", 0, 0.1, 1, 1).unwrap();
    assert!(one.std(&names(&["a"]), &names(&["x"])).is_err());
}

fn read_bad(text: &str) -> (std::path::PathBuf, Error) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    std::fs::write(&path, text).unwrap();
    let err = ErrorMatrix::read_csv(&path).unwrap_err();
    (path, err)
}

fn assert_line(text: &str, want_line: u64, want_reason: &str) {
    let (path, err) = read_bad(text);
    match &err {
        Error::Csv {
            path: p,
            line,
            reason,
        } => {
            assert_eq!(p, &path);
            assert_eq!(*line, want_line, "{err}");
            assert!(reason.contains(want_reason), "{err}");
        }
        other => panic!("expected a CSV error, got {other}"),
    }
    assert!(err.to_string().contains("bad.csv"), "{err}");
}

#[test]
fn bad_files_name_the_file_and_line() {
    let h = CSV_HEADER.join(",");
    assert_line("target,expert,error\n", 1, "header");
    assert_line("", 1, "empty");
    assert_line(
        &format!("{h}\na,x,0,0.1,10,5\na,x,zero,0.1,10,5\n"),
        3,
        "repeat",
    );
    assert_line(&format!("{h}\na,x,0,abc,10,5\n"), 2, "not a number");
    assert_line(&format!("{h}\na,x,0,1.5,10,5\n"), 2, "not in [0, 1]");
    assert_line(&format!("{h}\na,x,0,NaN,10,5\n"), 2, "not in [0, 1]");
    assert_line(
        &format!("{h}\na,x,0,0.1,10,5\nb,x,0,0.1,10,5\na,x,0,0.1,10,5\n"),
        4,
        "twice",
    );
    assert_line(&format!("{h}\na,x,0,0.1,10\n"), 2, "fields");
    assert_line(&format!("{h}\na,x,0,0.1,-3,5\n"), 2, "train_images");
    let missing = Path::new("/nonexistent/errors.csv");
    let err = ErrorMatrix::read_csv(missing).unwrap_err();
    assert!(matches!(err, Error::Io { .. }) && err.to_string().contains("errors.csv"));
}

#[test]
fn writing_into_a_missing_directory_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("errors.csv");
    let err = sample().write_csv(&path).unwrap_err();
    assert!(err.to_string().contains("errors.csv"), "{err}");
}
