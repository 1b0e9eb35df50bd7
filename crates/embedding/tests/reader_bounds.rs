//! Files that lie about sizes, found by fuzzing the readers (`fuzz/`, targets `npy` and
//! `embedding-json`). Each is now an error naming the file.
//!
//! * `.npy`: ndarray-npy allocates what the header claims before reading, so a 100-byte file
//!   claiming 2^32 doubles asked for 32 GiB (an abort under the fuzzer's allocation cap, an
//!   OOM kill or a long stall elsewhere).
//! * layouts (in embedding JSON and in `import --layout`): filter counts whose sum overflows
//!   panicked in debug builds ("attempt to add with overflow") and wrapped in release, where
//!   `[2^64 - 1, 5]` would have passed as a layout of 4 filters.
use std::path::Path;

use task2vec_embedding::io::{import_npy, read_layout, read_matrix_npy, read_vector_npy};
use task2vec_embedding::{Embedding, Provenance};

/// A version-1 `.npy`: magic, header dictionary padded to 64 bytes, data.
fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn f64s(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn file(dir: &Path, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join("h.npy");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn valid_files_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let v = read_vector_npy(file(
        dir.path(),
        &npy("<f8", "(3,)", &f64s(&[0.5, 0.0, 2.0])),
    ))
    .unwrap();
    assert_eq!(v.to_vec(), vec![0.5, 0.0, 2.0]);
    let f32s: Vec<u8> = [1.5f32, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let v = read_vector_npy(file(dir.path(), &npy("<f4", "(2,)", &f32s))).unwrap();
    assert_eq!(v.to_vec(), vec![1.5, 2.0]);
    let be: Vec<u8> = [1.0f64, 4.0].iter().flat_map(|x| x.to_be_bytes()).collect();
    let v = read_vector_npy(file(dir.path(), &npy(">f8", "(2,)", &be))).unwrap();
    assert_eq!(v.to_vec(), vec![1.0, 4.0]);
    let m = read_matrix_npy(file(dir.path(), &npy("<f8", "(2, 1)", &f64s(&[3.0, 4.0])))).unwrap();
    assert_eq!(m.shape(), &[2, 1]);
}

#[test]
fn a_shape_claiming_billions_of_values_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for shape in ["(4294967296,)", "(18446744073709551615,)"] {
        let path = file(dir.path(), &npy("<f8", shape, &f64s(&[1.0; 3])));
        let e = read_vector_npy(&path).unwrap_err().to_string();
        assert!(e.contains("h.npy") && e.contains("truncated"), "{e}");
    }
    let path = file(dir.path(), &npy("<f8", "(65536, 65536)", &f64s(&[1.0; 3])));
    let e = read_matrix_npy(&path).unwrap_err().to_string();
    assert!(
        e.contains("truncated") && e.contains("[65536, 65536]"),
        "{e}"
    );
}

/// A version-2 header announcing a 4 GiB header dictionary.
#[test]
fn a_header_length_beyond_the_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let valid = npy("<f8", "(3,)", &f64s(&[0.5, 0.0, 2.0]));
    let mut lying = b"\x93NUMPY\x02\x00".to_vec();
    lying.extend_from_slice(&u32::MAX.to_le_bytes());
    lying.extend_from_slice(&valid[10..]);
    let e = read_vector_npy(file(dir.path(), &lying))
        .unwrap_err()
        .to_string();
    assert!(e.contains("the header claims 4294967295 bytes"), "{e}");
}

#[test]
fn every_truncation_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let valid = npy("<f8", "(3,)", &f64s(&[0.5, 0.0, 2.0]));
    for n in 0..valid.len() {
        assert!(
            read_vector_npy(file(dir.path(), &valid[..n])).is_err(),
            "cut at {n}"
        );
    }
}

const HUGE_LAYOUT: &str =
    r#"[{"name":"conv1","filters":18446744073709551615},{"name":"conv2","filters":5}]"#;

#[test]
fn an_embedding_whose_filter_counts_overflow_is_an_error() {
    let json = format!(
        r#"{{"format_version":1,"layout":{HUGE_LAYOUT},"hessian":[1.0,2.0,3.0,4.0],"scale":[1.0,1.0,1.0,1.0],"meta":{{"crate_version":"0.1.0"}}}}"#
    );
    let e = Embedding::from_json(&json).unwrap_err().to_string();
    assert!(e.contains("bad layout") && e.contains("2^64"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.json");
    std::fs::write(&path, &json).unwrap();
    let e = Embedding::load(&path).unwrap_err().to_string();
    assert!(e.contains("e.json"), "{e}");
}

#[test]
fn a_layout_file_whose_filter_counts_overflow_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout.json");
    std::fs::write(&layout, HUGE_LAYOUT).unwrap();
    let e = read_layout(&layout).unwrap_err().to_string();
    assert!(e.contains("layout.json") && e.contains("2^64"), "{e}");
    let h = file(dir.path(), &npy("<f8", "(4,)", &f64s(&[1.0; 4])));
    let e = import_npy(&h, None, Some(&layout), Provenance::default()).unwrap_err();
    assert!(e.to_string().contains("layout.json"), "{e}");
}
