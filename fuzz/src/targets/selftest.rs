//! Targets that misbehave on purpose, one per kind of finding, so that `ci/fuzz.sh` can check
//! that the harness catches each (a fuzzer that cannot fail proves nothing). Not in
//! [`super::all`]; run them by name.
use std::path::Path;

use super::{Outcome, Target, Verdict, case};

const FILE: &str = "input";

fn read(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join(FILE)).unwrap_or_default()
}

fn selftest(name: &'static str, about: &'static str, run: fn(&Path) -> Verdict) -> Target {
    Target {
        name,
        about,
        mutable: &[FILE],
        dictionary: &[],
        prefixes_refused: &[FILE],
        max_len: 64,
        run,
        seeds: || vec![("ok-trigger".into(), case([(FILE, b"trigger".to_vec())]))],
    }
}

pub fn all() -> Vec<Target> {
    vec![
        selftest("selftest-panic", "panics (must be caught)", |dir| {
            assert!(read(dir) != b"trigger", "selftest panic");
            Ok(Outcome::Accepted(String::new()))
        }),
        selftest(
            "selftest-abort",
            "aborts the process (must be caught)",
            |dir| {
                if read(dir) == b"trigger" {
                    std::process::abort();
                }
                Ok(Outcome::Accepted(String::new()))
            },
        ),
        selftest(
            "selftest-alloc",
            "allocates 1 TiB from a \"length field\" (must be caught)",
            |dir| {
                let n = if read(dir) == b"trigger" { 1 << 40 } else { 1 };
                let v = vec![1u8; n];
                Ok(Outcome::Accepted(format!("{}", v.len())))
            },
        ),
        selftest(
            "selftest-violation",
            "accepts nonsense (must be caught)",
            |dir| {
                if read(dir) == b"trigger" {
                    return Err("selftest violation".into());
                }
                Ok(Outcome::Accepted(String::new()))
            },
        ),
        selftest(
            "selftest-truncation",
            "accepts every prefix (must be caught)",
            |_| Ok(Outcome::Accepted(String::new())),
        ),
    ]
}
