//! One target per reader of outside bytes. A target writes nothing itself: the runner writes a
//! case's files into a directory and calls [`Target::run`] on it, which calls the reader's
//! public API and checks what the reader accepted.
use std::path::Path;

use crate::case::Case;

mod embedding_json;
mod idx;
mod manifest;
mod npy;
mod pickle;
mod probe;
mod selftest;
mod suite;

/// What a reader did with a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Read it; the text summarises what was read (for the behaviour signature).
    Accepted(String),
    /// Refused it with this error message.
    Refused(String),
}

/// `Err`: the reader broke a property (accepted nonsense, or accepted something its own
/// output cannot reproduce). A panic is caught by the runner.
pub type Verdict = Result<Outcome, String>;

/// A fuzz target.
pub struct Target {
    /// Name on the command line and of its corpus folder.
    pub name: &'static str,
    /// The reader it drives.
    pub about: &'static str,
    /// File names (or name prefixes) the mutator edits.
    pub mutable: &'static [&'static str],
    /// Tokens of the format that random bytes rarely produce.
    pub dictionary: &'static [&'static [u8]],
    /// Files of the accepted (`ok-*`) seeds whose every strict prefix must be refused: a
    /// truncated file is an error, never a smaller valid file.
    pub prefixes_refused: &'static [&'static str],
    /// Largest file the mutator makes.
    pub max_len: usize,
    /// Runs the reader on the case written into `dir`.
    pub run: fn(&Path) -> Verdict,
    /// The seed corpus: `ok-*` entries must be accepted, `bad-*` refused.
    pub seeds: fn() -> Vec<(String, Case)>,
}

/// Every target, in the order `ci/fuzz.sh` runs them.
pub fn all() -> Vec<Target> {
    vec![
        idx::target(),
        manifest::target(),
        embedding_json::target(),
        npy::target(),
        pickle::target(),
        suite::target(),
        probe::safetensors_target(),
        probe::pth_target(),
        probe::bpk_target(),
    ]
}

/// The harness's own checks: targets that panic, abort, over-allocate, accept nonsense or
/// accept truncated files on purpose (`ci/fuzz.sh` runs each and expects a finding).
pub fn selftests() -> Vec<Target> {
    selftest::all()
}

/// The target (or self-test) called `name`.
pub fn by_name(name: &str) -> Option<Target> {
    all()
        .into_iter()
        .chain(selftests())
        .find(|t| t.name == name)
}

/// A refusal, from any error type.
pub fn refused(e: impl std::fmt::Display) -> Verdict {
    Ok(Outcome::Refused(e.to_string()))
}

/// Fails with `message` unless `ok`.
pub fn ensure(ok: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(message()) }
}

/// A case from (name, bytes) pairs.
pub fn case<N: Into<String>, B: Into<Vec<u8>>>(files: impl IntoIterator<Item = (N, B)>) -> Case {
    files
        .into_iter()
        .map(|(n, b)| (n.into(), b.into()))
        .collect()
}
