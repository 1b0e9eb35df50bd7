//! sha256 checksums as lower-case hex, the form manifests, `FETCHED.toml` and embedding
//! provenance record.
use std::fmt::Write as _;
use std::fs::File;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::FileError;

/// Lower-case hex of `bytes`, two digits per byte (`[0x0f, 0xa0]` → `"0fa0"`).
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing into a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// sha256 of `bytes`, as lower-case hex.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// sha256 of a file's contents, as lower-case hex, read in a stream (weights files are
/// hundreds of MB). The error names the file.
pub fn sha256_file(path: &Path) -> Result<String, FileError> {
    let mut file = File::open(path).map_err(|e| FileError::new(path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| FileError::new(path, e))?;
    Ok(hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected digests: FIPS 180-2 appendix B.1 ("abc") and the well-known digest of the empty
    // message, both also printed by `printf 'abc' | sha256sum`.
    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn hex_is_two_lower_case_digits_per_byte() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
    }

    #[test]
    fn sha256_of_bytes_matches_the_published_test_vectors() {
        assert_eq!(sha256_bytes(b"abc"), ABC);
        assert_eq!(sha256_bytes(b""), EMPTY);
    }

    #[test]
    fn sha256_of_a_file_equals_sha256_of_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc.bin");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(sha256_file(&path).unwrap(), ABC);
        // Larger than any read buffer, so the streaming path is exercised.
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &big).unwrap();
        assert_eq!(sha256_file(&path).unwrap(), sha256_bytes(&big));
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.pth");
        let err = sha256_file(&path).unwrap_err();
        assert_eq!(err.path, path);
        assert_eq!(err.source.kind(), std::io::ErrorKind::NotFound);
        assert!(err.to_string().contains("missing.pth"), "{err}");
    }
}
