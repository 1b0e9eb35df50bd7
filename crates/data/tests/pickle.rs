//! The numpy-pickle reader: fixtures written by CPython + numpy (`ci/data/pickle_fixture.py`),
//! and inputs that crashed or exhausted the reader as it was in `xtask` (found while writing
//! the `fuzz/` target `pickle`, whose corpus holds them; each crash was reproduced against the
//! old code): each must now be a plain error.
use task2vec_data::pickle::{self, MAX_DEPTH, NdArray, Value};

/// Protocol-4 pickle of `numpy.array([[1, 2, 3], [4, 5, 6]], dtype=numpy.uint8)`, as
/// written by CPython 3.11 + numpy 2.4.
const U8_ARRAY_P4: &str = include_str!("../../../ci/data/pickle_u8_p4.hex");
/// Protocol 2 (the Python 2 style `mnist.pkl.gz` uses): a tuple of a float32 (2,) array
/// `[0.0, 1.0]` and an int64 (2,) array `[7, -1]`.
const TUPLE_P2: &str = include_str!("../../../ci/data/pickle_tuple_p2.hex");

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn reads_a_protocol_4_uint8_matrix() {
    let v = pickle::parse(&unhex(U8_ARRAY_P4)).unwrap();
    let a = NdArray::from_value(&v).unwrap();
    assert_eq!(a.shape, vec![2, 3]);
    assert_eq!(a.dtype, "|u1");
    assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
}

#[test]
fn reads_a_protocol_2_tuple_of_arrays() {
    let Value::Tuple(items) = pickle::parse(&unhex(TUPLE_P2)).unwrap() else {
        panic!("expected a tuple")
    };
    let x = NdArray::from_value(&items[0]).unwrap();
    let y = NdArray::from_value(&items[1]).unwrap();
    assert_eq!((x.dtype.as_str(), x.shape.as_slice()), ("<f4", &[2][..]));
    assert_eq!(x.data, [0f32.to_le_bytes(), 1f32.to_le_bytes()].concat());
    assert_eq!((y.dtype.as_str(), y.shape.as_slice()), ("<i8", &[2][..]));
    assert_eq!(y.data, [7i64.to_le_bytes(), (-1i64).to_le_bytes()].concat());
}

#[test]
fn every_truncation_of_a_valid_pickle_is_an_error() {
    for fixture in [U8_ARRAY_P4, TUPLE_P2] {
        let bytes = unhex(fixture);
        for n in 0..bytes.len() {
            assert!(pickle::parse(&bytes[..n]).is_err(), "prefix of {n} bytes");
        }
    }
}

#[test]
fn foreign_pickles_are_errors() {
    assert!(pickle::parse(b"\x80\x04\xff").is_err());
    // A plain int is a value but not an array.
    let v = pickle::parse(b"\x80\x02K\x05.").unwrap();
    assert_eq!(v, Value::Int(5));
    assert!(NdArray::from_value(&v).is_err());
}

/// BINBYTES8 announcing 2^64 - 1 bytes: `pos + n` overflowed (a panic in debug builds, an
/// out-of-bounds slice in release).
#[test]
fn a_length_near_u64_max_is_an_error() {
    let mut p = b"\x80\x04\x8e".to_vec();
    p.extend_from_slice(&u64::MAX.to_le_bytes());
    p.push(b'.');
    let e = pickle::parse(&p).unwrap_err().to_string();
    assert!(e.contains("truncated"), "{e}");
    // The same for a str (SHORT_BINUNICODE's 8-byte sibling) and for BINBYTES (u32).
    p[2] = 0x8d;
    assert!(pickle::parse(&p).is_err());
    let p = b"\x80\x04B\xff\xff\xff\xff.";
    assert!(pickle::parse(p).is_err());
}

/// Each `GET` copied the memo entry and `TUPLE2` doubled it: 6 bytes per doubling, so a
/// 300-byte pickle asked for 2^50 values (the old reader ran out of memory under a 4 GB limit).
#[test]
fn memo_copies_cannot_expand_without_bound() {
    let mut p = b"\x80\x04K\x01\x94".to_vec(); // 1, MEMOIZE as 0
    for i in 0..50u8 {
        // GET i, GET i, TUPLE2, MEMOIZE as i + 1
        p.extend_from_slice(&[b'h', i, b'h', i, 0x86, 0x94]);
    }
    p.push(b'.');
    let e = pickle::parse(&p).unwrap_err().to_string();
    assert!(e.contains("expands"), "{e}");
}

/// Nesting deeper than the stack allows overflowed it when the value was dropped (an abort,
/// which `catch_unwind` cannot stop).
#[test]
fn deep_nesting_is_an_error() {
    let mut p = b"\x80\x04N".to_vec();
    p.extend(std::iter::repeat_n(0x85u8, 1_000_000)); // TUPLE1, a million times
    p.push(b'.');
    let e = pickle::parse(&p).unwrap_err().to_string();
    assert!(e.contains(&format!("deeper than {MAX_DEPTH}")), "{e}");
    // Just below the limit still reads.
    let mut p = b"\x80\x04N".to_vec();
    p.extend(std::iter::repeat_n(0x85u8, MAX_DEPTH - 1));
    p.push(b'.');
    assert!(pickle::parse(&p).is_ok());
}

/// A numpy array pickle with its dtype name and shape replaced.
fn array_pickle(dtype: &str, shape: &[u64], data: &[u8]) -> Vec<u8> {
    let mut p = b"\x80\x02cnumpy.core.multiarray\n_reconstruct\n".to_vec();
    p.extend_from_slice(b"(cnumpy\nndarray\n(K\x00tC\x01btR"); // _reconstruct(ndarray, (0,), b'b')
    p.extend_from_slice(b"(K\x01("); // state: (1, shape, dtype, False, data)
    for &d in shape {
        p.push(0x8a);
        p.push(8);
        p.extend_from_slice(&d.to_le_bytes());
    }
    p.extend_from_slice(b"tcnumpy\ndtype\n(");
    p.push(b'X');
    p.extend_from_slice(&(dtype.len() as u32).to_le_bytes());
    p.extend_from_slice(dtype.as_bytes());
    p.extend_from_slice(
        b"K\x00K\x01tR(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb",
    );
    p.push(0x89);
    p.push(b'B');
    p.extend_from_slice(&(data.len() as u32).to_le_bytes());
    p.extend_from_slice(data);
    p.extend_from_slice(b"tb.");
    p
}

#[test]
fn the_array_pickle_builder_makes_arrays() {
    let v = pickle::parse(&array_pickle("f4", &[2], &[0; 8])).unwrap();
    let a = NdArray::from_value(&v).unwrap();
    assert_eq!(
        (a.dtype.as_str(), a.shape.as_slice()),
        ("<f4", &[2usize][..])
    );
}

/// `dtype[2..]` split a multi-byte character (a panic).
#[test]
fn a_non_ascii_dtype_is_an_error() {
    for dtype in ["é4", "fé", "", "f", "f0", "4f"] {
        let v = pickle::parse(&array_pickle(dtype, &[2], &[0; 8])).unwrap();
        let e = NdArray::from_value(&v).unwrap_err().to_string();
        assert!(e.contains("dtype"), "{dtype:?}: {e}");
    }
}

/// `product(shape) × item size` overflowed (a panic in debug builds; in release a wrapped
/// product could match the data length and describe 2^62 elements with 8 bytes).
#[test]
fn a_shape_whose_size_overflows_is_an_error() {
    let v = pickle::parse(&array_pickle("f4", &[1 << 62, 1 << 62], &[0; 8])).unwrap();
    let e = NdArray::from_value(&v).unwrap_err().to_string();
    assert!(e.contains("overflows"), "{e}");
    let v = pickle::parse(&array_pickle("f4", &[1 << 62, 4], &[])).unwrap();
    assert!(NdArray::from_value(&v).is_err());
}
