//! numpy pickles (`crates/data/src/formats/pickle.rs`): `pickle::parse`, then
//! `NdArray::from_value` on the value and on the items of tuples and lists (MNIST's layout).
use std::path::Path;

use task2vec_data::pickle::{self, NdArray, Value};

use super::{Outcome, Target, Verdict, case, ensure};
use crate::case::Case;

const FILE: &str = "data.pkl";

pub fn target() -> Target {
    Target {
        name: "pickle",
        about: "numpy pickles via pickle::parse and NdArray::from_value",
        mutable: &[FILE],
        dictionary: &[
            b"(",
            b"t",
            b")",
            b"]",
            b"}",
            b"a",
            b"e",
            b"s",
            b"u",
            b"R",
            b"b",
            b".",
            b"N",
            b"\x85",
            b"\x86",
            b"\x87",
            b"\x94",
            b"h\x00",
            b"h\x01",
            b"q\x00",
            b"\x8a\x08",
            b"\x8e\xff\xff\xff\xff\xff\xff\xff\xff",
            b"X\xff\xff\xff\xff",
            b"B\x00\x00\x00\x80",
            b"cnumpy\ndtype\n",
            b"cnumpy.core.multiarray\n_reconstruct\n",
            b"c_codecs\nencode\n",
            b"X\x06\x00\x00\x00latin1",
            b"\x8c\x02f4",
            b"\x8c\x02u1",
        ],
        prefixes_refused: &[FILE],
        max_len: 1 << 14,
        run,
        seeds,
    }
}

fn run(dir: &Path) -> Verdict {
    let bytes = std::fs::read(dir.join(FILE)).map_err(|e| e.to_string())?;
    let value = match pickle::parse(&bytes) {
        Ok(v) => v,
        Err(e) => return Ok(Outcome::Refused(e.to_string())),
    };
    let mut arrays = 0;
    let mut visit = |v: &Value| -> Result<(), String> {
        if let Ok(a) = NdArray::from_value(v) {
            check_array(&a)?;
            arrays += 1;
        }
        Ok(())
    };
    visit(&value)?;
    if let Value::Tuple(items) | Value::List(items) = &value {
        for item in items {
            visit(item)?;
            if let Value::Tuple(inner) | Value::List(inner) = item {
                inner.iter().try_for_each(&mut visit)?;
            }
        }
    }
    Ok(Outcome::Accepted(format!("{} arrays", arrays.min(2))))
}

fn check_array(a: &NdArray) -> Result<(), String> {
    let item: usize = a
        .dtype
        .get(2..)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("accepted dtype {:?}", a.dtype))?;
    let n = a.shape.iter().try_fold(item, |acc, &d| acc.checked_mul(d));
    ensure(n == Some(a.data.len()), || {
        format!("shape {:?} × {item} but {} bytes", a.shape, a.data.len())
    })
}

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex fixture"))
        .collect()
}

fn seeds() -> Vec<(String, Case)> {
    // Written by CPython + numpy (`ci/data/pickle_fixture.py`).
    let u8_p4 = unhex(include_str!("../../../ci/data/pickle_u8_p4.hex"));
    let tuple_p2 = unhex(include_str!("../../../ci/data/pickle_tuple_p2.hex"));
    let file = |b: &[u8]| case([(FILE, b.to_vec())]);
    let mut memo_bomb = b"\x80\x04K\x01\x94".to_vec();
    for i in 0..40u8 {
        memo_bomb.extend_from_slice(&[b'h', i, b'h', i, 0x86, 0x94]);
    }
    memo_bomb.push(b'.');
    let mut deep = b"\x80\x04N".to_vec();
    deep.extend(std::iter::repeat_n(0x85u8, 4096));
    deep.push(b'.');
    vec![
        ("ok-uint8-matrix-protocol-4".into(), file(&u8_p4)),
        ("ok-tuple-of-arrays-protocol-2".into(), file(&tuple_p2)),
        ("ok-int".into(), file(b"\x80\x02K\x05.")),
        (
            "ok-list-dict".into(),
            file(b"\x80\x02]q\x00(K\x01}q\x01X\x01\x00\x00\x00aK\x02sh\x01e."),
        ),
        ("bad-huge-bytes-length".into(), {
            let mut p = b"\x80\x04\x8e".to_vec();
            p.extend_from_slice(&u64::MAX.to_le_bytes());
            p.push(b'.');
            file(&p)
        }),
        ("bad-memo-bomb".into(), file(&memo_bomb)),
        ("bad-deep-nesting".into(), file(&deep)),
        ("bad-no-stop".into(), file(b"\x80\x02K\x05")),
        ("bad-opcode".into(), file(b"\x80\x04\xff")),
    ]
}
