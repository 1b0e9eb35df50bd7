//! `.npy` arrays and their import as an embedding (`crates/embedding/src/io.rs`:
//! `read_vector_npy`, `read_matrix_npy`, `read_layout`, `import_npy`).
use std::path::Path;

use task2vec_embedding::Provenance;
use task2vec_embedding::io::{import_npy, read_matrix_npy, read_vector_npy};

use super::embedding_json::check_invariants;
use super::{Outcome, Target, Verdict, case, ensure, refused};
use crate::case::Case;

const HESSIAN: &str = "hessian.npy";
const SCALE: &str = "scale.npy";
const LAYOUT: &str = "layout.json";

pub fn target() -> Target {
    Target {
        name: "npy",
        about: ".npy vectors/matrices via read_*_npy, and import_npy with scale and layout",
        mutable: &[HESSIAN, SCALE, LAYOUT],
        dictionary: &[
            b"\x93NUMPY\x01\x00",
            b"\x93NUMPY\x02\x00",
            b"\x93NUMPY\x03\x00",
            b"'descr': '<f8'",
            b"'descr': '<f4'",
            b"'descr': '>f8'",
            b"'descr': '|u1'",
            b"'fortran_order': True",
            b"'shape': (4294967296,)",
            b"'shape': (2, 2)",
            b"'shape': ()",
            b"(",
            b")",
            b",",
            b"{",
            b"}",
            b"'",
            b"\n",
            b" ",
            &[0, 0, 0xf8, 0x7f],
        ],
        prefixes_refused: &[HESSIAN, SCALE],
        max_len: 1 << 14,
        run,
        seeds,
    }
}

fn run(dir: &Path) -> Verdict {
    let h = dir.join(HESSIAN);
    let vector = read_vector_npy(&h);
    let _ = read_matrix_npy(&h);
    let scale = dir.join(SCALE);
    let layout = dir.join(LAYOUT);
    let scale = scale.is_file().then_some(scale.as_path());
    let layout = layout.is_file().then_some(layout.as_path());
    if let Some(s) = scale {
        let _ = read_vector_npy(s);
    }
    let e = match import_npy(&h, scale, layout, Provenance::default()) {
        Ok(e) => e,
        Err(e) => return refused(e),
    };
    check_invariants(&e)?;
    let v = vector.map_err(|err| format!("imported, but the vector does not read: {err}"))?;
    ensure(v.len() == e.dim(), || {
        format!(
            "the file holds {} values, the embedding {}",
            v.len(),
            e.dim()
        )
    })?;
    Ok(Outcome::Accepted(format!(
        "scale {}, layout {}",
        scale.is_some(),
        layout.is_some()
    )))
}

/// A version-1 `.npy` file: magic, header dictionary padded to 64 bytes, data.
pub fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
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

fn seeds() -> Vec<(String, Case)> {
    let h = npy("<f8", "(3,)", &f64s(&[0.5, 0.0, 2.0]));
    let f32s: Vec<u8> = [1.5f32, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let be: Vec<u8> = [1.0f64, 4.0].iter().flat_map(|x| x.to_be_bytes()).collect();
    vec![
        ("ok-f64".into(), case([(HESSIAN, h.clone())])),
        (
            "ok-f32".into(),
            case([(HESSIAN, npy("<f4", "(2,)", &f32s))]),
        ),
        (
            "ok-big-endian".into(),
            case([(HESSIAN, npy(">f8", "(2,)", &be))]),
        ),
        (
            "ok-scale-and-layout".into(),
            case([
                (HESSIAN, h.clone()),
                (SCALE, npy("<f8", "(3,)", &f64s(&[1.0, 0.5, 8.0]))),
                (
                    LAYOUT,
                    br#"[{"name":"conv1","filters":1},{"name":"conv2","filters":2}]"#.to_vec(),
                ),
            ]),
        ),
        (
            // 2^32 doubles (32 GiB) claimed by a 100-byte file.
            "bad-huge-shape".into(),
            case([(HESSIAN, npy("<f8", "(4294967296,)", &f64s(&[1.0; 3])))]),
        ),
        (
            "bad-huge-header-length".into(),
            case([(HESSIAN, {
                let mut f = b"\x93NUMPY\x02\x00".to_vec();
                f.extend_from_slice(&u32::MAX.to_le_bytes());
                f.extend_from_slice(&h[10..]);
                f
            })]),
        ),
        (
            "bad-matrix".into(),
            case([(HESSIAN, npy("<f8", "(2, 2)", &f64s(&[1.0; 4])))]),
        ),
        (
            "bad-uint8".into(),
            case([(HESSIAN, npy("|u1", "(3,)", &[1, 2, 3]))]),
        ),
        (
            "bad-nan".into(),
            case([(HESSIAN, npy("<f8", "(2,)", &f64s(&[1.0, f64::NAN])))]),
        ),
        (
            "bad-scale-length".into(),
            case([
                (HESSIAN, h),
                (SCALE, npy("<f8", "(2,)", &f64s(&[1.0, 1.0]))),
            ]),
        ),
    ]
}
