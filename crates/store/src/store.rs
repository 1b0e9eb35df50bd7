//! The store: one directory per result, named by its key's digest, created by an atomic
//! rename, never modified afterwards.
//!
//! ```text
//! STORE/
//!   task2vec-store.json          format marker
//!   entries/<digest>/key.json    what the result is a function of (Key::material)
//!   entries/<digest>/…           the result's files (embedding.json, result.json, …)
//!   failed/<digest>.json         the last failure of a key that has no entry (error text)
//!   .tmp/                        entries being written (invisible to readers)
//! ```
//!
//! Readers see an entry completely or not at all: it is filled in `.tmp/`, fsynced, and renamed
//! into `entries/` in one step. Two writers of the same key both compute it; the first rename
//! wins and the second writer's copy is dropped (a directory cannot be renamed over a non-empty
//! one), so nothing is ever overwritten. A key whose result differs would have another digest.
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::StoreError;
use crate::key::Key;

/// Name of the marker file at the store's root.
pub const MARKER: &str = "task2vec-store.json";
/// The store layout this version writes and reads.
pub const FORMAT: u32 = 1;
/// The key file inside every entry.
pub const KEY_FILE: &str = "key.json";

/// A result store rooted at a directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// A finished result: its directory and the key it was stored under (checked on reading).
#[derive(Debug, Clone)]
pub struct Entry {
    dir: PathBuf,
    key: Key,
}

impl Entry {
    /// The entry's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A file of the entry.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The key it was stored under.
    pub fn key(&self) -> &Key {
        &self.key
    }
}

/// The recorded failure of a key (the last one; a later success removes it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The key's material (so `jq` shows which task and options failed).
    pub key: Value,
    /// The error, as the user would have seen it.
    pub error: String,
    /// Seconds since the Unix epoch when it failed.
    pub unix_time: u64,
}

/// What the store knows about a key.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A finished result.
    Done(Entry),
    /// No result; the last attempt failed.
    Failed(Failure),
    /// Never attempted, or attempted by a process that was killed.
    Missing,
}

#[derive(Serialize, Deserialize)]
struct Marker {
    format: u32,
    written_by: String,
}

/// Why [`Store::put`] failed: the caller's `fill` or the store.
#[derive(Debug, thiserror::Error)]
pub enum PutError<E> {
    /// `fill` returned an error; nothing was stored.
    #[error(transparent)]
    Fill(E),
    /// The store could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Opens the store at `root`, creating it (and its parents) when absent. An existing
    /// directory must be empty or a store; a store of a newer format is refused.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| StoreError::io(&root, e))?;
        let marker = root.join(MARKER);
        match fs::read(&marker) {
            Ok(bytes) => {
                let m: Marker =
                    serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                        path: marker.clone(),
                        message: format!("not a store marker: {e}"),
                    })?;
                if m.format > FORMAT {
                    return Err(StoreError::NewerFormat {
                        path: marker,
                        found: m.format,
                        supported: FORMAT,
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Empty, or being created by another process at this very moment (array jobs
                // start together on a new store): only the store's own names are allowed.
                let listing = fs::read_dir(&root).map_err(|e| StoreError::io(&root, e))?;
                for item in listing {
                    let item = item.map_err(|e| StoreError::io(&root, e))?;
                    let name = item.file_name();
                    let name = name.to_string_lossy();
                    let own = matches!(name.as_ref(), "entries" | "failed" | ".tmp")
                        || name == MARKER
                        || name.starts_with(".tmp-task2vec-");
                    if !own {
                        return Err(StoreError::NotAStore {
                            path: root,
                            marker: MARKER,
                        });
                    }
                }
                // Concurrent creators each rename their own complete marker into place; the
                // contents are the same, so whichever lands last is as good as the first.
                let m = Marker {
                    format: FORMAT,
                    written_by: concat!("task2vec-store ", env!("CARGO_PKG_VERSION")).into(),
                };
                let text = serde_json::to_string_pretty(&m).expect("a marker serialises");
                task2vec_common::write_file_atomic(&marker, text.as_bytes())?;
            }
            Err(e) => return Err(StoreError::io(marker, e)),
        }
        for dir in ["entries", "failed", ".tmp"] {
            let d = root.join(dir);
            fs::create_dir_all(&d).map_err(|e| StoreError::io(&d, e))?;
        }
        let store = Store { root };
        store.remove_abandoned();
        Ok(store)
    }

    /// Removes the `.tmp/` directories of writers that died (killed mid-entry) on this host:
    /// each is named `<host>-<pid>-…`, and one whose process no longer exists is abandoned.
    /// Directories of other hosts and of live processes are left alone (they may be writing).
    /// Best effort: a failure here never stops a run.
    fn remove_abandoned(&self) {
        let Ok(items) = fs::read_dir(self.root.join(".tmp")) else {
            return;
        };
        let host = format!("{}-", host_name());
        for item in items.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(&host) else {
                continue;
            };
            let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if pid != std::process::id() && !process_alive(pid) {
                let _ = fs::remove_dir_all(item.path());
            }
        }
    }

    /// Opens an existing store for reading: a missing directory or one without the marker is
    /// an error (reading never creates a store).
    pub fn open_existing(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        if !root.is_dir() {
            return Err(StoreError::io(
                &root,
                io::Error::new(io::ErrorKind::NotFound, "no such store directory"),
            ));
        }
        if !root.join(MARKER).is_file() {
            return Err(StoreError::NotAStore {
                path: root,
                marker: MARKER,
            });
        }
        Store::open(root)
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the entry of `key` lives (whether or not it exists).
    pub fn entry_dir(&self, key: &Key) -> PathBuf {
        self.root.join("entries").join(key.digest())
    }

    fn failure_file(&self, key: &Key) -> PathBuf {
        self.root
            .join("failed")
            .join(format!("{}.json", key.digest()))
    }

    /// The finished entry of `key`, if any. Its `key.json` must hold exactly `key`'s material:
    /// anything else is a damaged store, reported, never used.
    pub fn get(&self, key: &Key) -> Result<Option<Entry>, StoreError> {
        let dir = self.entry_dir(key);
        let file = dir.join(KEY_FILE);
        let bytes = match fs::read(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !dir.exists() => return Ok(None),
            Err(e) => return Err(StoreError::io(file, e)),
        };
        let stored: Value = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            path: file.clone(),
            message: format!("not JSON: {e}"),
        })?;
        if Key::new(stored).digest() != key.digest() {
            return Err(StoreError::Corrupt {
                path: file,
                message: "the key stored here is not the one its directory is named after".into(),
            });
        }
        Ok(Some(Entry {
            dir,
            key: key.clone(),
        }))
    }

    /// The state of `key`: done, failed, or missing.
    pub fn lookup(&self, key: &Key) -> Result<Lookup, StoreError> {
        if let Some(entry) = self.get(key)? {
            return Ok(Lookup::Done(entry));
        }
        Ok(match self.failure(key)? {
            Some(f) => Lookup::Failed(f),
            None => Lookup::Missing,
        })
    }

    /// Stores the result of `key`: `fill` writes the result's files into an empty directory;
    /// the store adds `key.json` and publishes the whole directory atomically. If another
    /// process stored the same key meanwhile, its entry is kept and returned, and this one is
    /// dropped. If `fill` fails, nothing is stored.
    pub fn put<E>(
        &self,
        key: &Key,
        fill: impl FnOnce(&Path) -> Result<(), E>,
    ) -> Result<Entry, PutError<E>> {
        let tmp_root = self.root.join(".tmp");
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{}-{}-", writer_tag(), &key.digest()[..16]))
            .tempdir_in(&tmp_root)
            .map_err(|e| StoreError::io(&tmp_root, e))?;
        fill(tmp.path()).map_err(PutError::Fill)?;
        let key_text = serde_json::to_string_pretty(key.material()).expect("JSON serialises");
        let key_file = tmp.path().join(KEY_FILE);
        fs::write(&key_file, key_text).map_err(|e| StoreError::io(&key_file, e))?;
        sync_tree(tmp.path())?;
        let target = self.entry_dir(key);
        match fs::rename(tmp.path(), &target) {
            Ok(()) => {
                // The directory now belongs to `entries/`: do not let the guard remove it.
                let _ = tmp.keep();
                sync_dir(&self.root.join("entries"));
                self.clear_failure(key)?;
                Ok(Entry {
                    dir: target,
                    key: key.clone(),
                })
            }
            // Lost the race to another writer of the same key (rename refuses a non-empty
            // target): keep theirs, drop ours (the guard removes it).
            Err(_) if target.join(KEY_FILE).exists() => {
                Ok(self.get(key)?.expect("the winner's entry exists"))
            }
            Err(e) => Err(StoreError::io(target, e).into()),
        }
    }

    /// Records that computing `key` failed with `error` (replacing an earlier failure).
    pub fn record_failure(&self, key: &Key, error: &str) -> Result<(), StoreError> {
        let failure = Failure {
            key: key.material().clone(),
            error: error.to_string(),
            unix_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        let text = serde_json::to_string_pretty(&failure).expect("JSON serialises");
        task2vec_common::write_file_atomic(&self.failure_file(key), text.as_bytes())?;
        Ok(())
    }

    /// The recorded failure of `key`, if any.
    pub fn failure(&self, key: &Key) -> Result<Option<Failure>, StoreError> {
        let file = self.failure_file(key);
        match fs::read(&file) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt {
                        path: file,
                        message: format!("not a failure record: {e}"),
                    })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(file, e)),
        }
    }

    /// Removes the recorded failure of `key`, if any.
    pub fn clear_failure(&self, key: &Key) -> Result<(), StoreError> {
        let file = self.failure_file(key);
        match fs::remove_file(&file) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(file, e)),
        }
    }

    /// Digests of every finished entry, sorted.
    pub fn digests(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.root.join("entries");
        let mut out = Vec::new();
        for item in fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))? {
            let item = item.map_err(|e| StoreError::io(&dir, e))?;
            if let Some(name) = item.file_name().to_str()
                && name.len() == 64
                && name.bytes().all(|b| b.is_ascii_hexdigit())
            {
                out.push(name.to_string());
            }
        }
        out.sort();
        Ok(out)
    }
}

/// `<host>-<pid>`: who is writing a temporary entry (see [`Store::remove_abandoned`]).
fn writer_tag() -> String {
    format!("{}-{}", host_name(), std::process::id())
}

/// This machine's name with anything but letters, digits and `.` replaced (it becomes part of
/// a file name, and `-` separates the fields).
fn host_name() -> String {
    let name = fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "host".into());
    let clean: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        "host".into()
    } else {
        clean
    }
}

/// Whether process `pid` exists on this machine (Linux: `/proc/<pid>`; elsewhere every process
/// counts as alive, so nothing is removed).
fn process_alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    Path::new("/proc").join(pid.to_string()).exists()
}

/// fsyncs every file of `dir` (one level: entries are flat) and `dir` itself, so that a
/// published entry survives a crash of the machine, not only of the process.
fn sync_tree(dir: &Path) -> Result<(), StoreError> {
    for item in fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let path = item.map_err(|e| StoreError::io(dir, e))?.path();
        if path.is_file() {
            fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| StoreError::io(&path, e))?;
        }
    }
    sync_dir(dir);
    Ok(())
}

/// fsyncs a directory (its list of names); best effort, as not every file system allows it.
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(dir: &Path, name: &str, text: &str) -> Result<(), io::Error> {
        fs::write(dir.join(name), text)
    }

    #[test]
    fn a_stored_entry_is_found_by_its_key_only() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path().join("s")).unwrap();
        let key = Key::new(json!({"task": "a", "seed": 0}));
        let other = Key::new(json!({"task": "a", "seed": 1}));
        assert!(matches!(store.lookup(&key).unwrap(), Lookup::Missing));
        let entry = store.put(&key, |d| write(d, "r.txt", "one")).unwrap();
        assert_eq!(fs::read_to_string(entry.file("r.txt")).unwrap(), "one");
        assert!(store.get(&key).unwrap().is_some());
        assert!(store.get(&other).unwrap().is_none());
        let stored: Value =
            serde_json::from_str(&fs::read_to_string(entry.file(KEY_FILE)).unwrap()).unwrap();
        assert_eq!(&stored, key.material());
        assert_eq!(store.digests().unwrap(), vec![key.digest().to_string()]);
        // Re-opening finds it again; nothing of .tmp is left behind.
        let again = Store::open(tmp.path().join("s")).unwrap();
        assert!(again.get(&key).unwrap().is_some());
        assert_eq!(fs::read_dir(tmp.path().join("s/.tmp")).unwrap().count(), 0);
    }

    #[test]
    fn a_second_put_of_a_key_never_overwrites_the_first() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let key = Key::new(json!({"task": "a"}));
        store.put(&key, |d| write(d, "r.txt", "first")).unwrap();
        let entry = store.put(&key, |d| write(d, "r.txt", "second")).unwrap();
        assert_eq!(fs::read_to_string(entry.file("r.txt")).unwrap(), "first");
        assert_eq!(fs::read_dir(tmp.path().join(".tmp")).unwrap().count(), 0);
    }

    #[test]
    fn a_failed_fill_stores_nothing_and_a_failure_is_recorded_until_success() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let key = Key::new(json!({"task": "a"}));
        let err = store
            .put(&key, |d| {
                write(d, "half.txt", "x")?;
                Err(io::Error::other("boom"))
            })
            .unwrap_err();
        assert!(matches!(err, PutError::Fill(_)));
        assert!(store.get(&key).unwrap().is_none());
        assert_eq!(fs::read_dir(tmp.path().join(".tmp")).unwrap().count(), 0);
        store.record_failure(&key, "boom").unwrap();
        match store.lookup(&key).unwrap() {
            Lookup::Failed(f) => {
                assert_eq!(f.error, "boom");
                assert_eq!(&f.key, key.material());
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        store.put(&key, |d| write(d, "r.txt", "ok")).unwrap();
        assert!(matches!(store.lookup(&key).unwrap(), Lookup::Done(_)));
        assert!(store.failure(&key).unwrap().is_none());
    }

    #[test]
    fn a_killed_writer_s_temporary_entry_is_removed_and_a_live_one_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        // A process that has exited: its pid no longer exists.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let host = host_name();
        let abandoned = tmp
            .path()
            .join(format!(".tmp/{host}-{dead}-0123456789abcdef-XyZ123"));
        let live = tmp.path().join(format!(
            ".tmp/{host}-{}-0123456789abcdef-AbC456",
            std::process::id()
        ));
        let other_host = tmp
            .path()
            .join(format!(".tmp/{host}x-{dead}-0123456789abcdef-QqQ789"));
        for d in [&abandoned, &live, &other_host] {
            fs::create_dir_all(d).unwrap();
            fs::write(d.join("embedding.json"), "{trunc").unwrap();
        }
        drop(store);
        Store::open(tmp.path()).unwrap();
        assert!(!abandoned.exists(), "a dead writer's directory is removed");
        assert!(live.exists(), "a live writer's directory is kept");
        assert!(other_host.exists(), "another host's directory is kept");
    }

    #[test]
    fn many_processes_may_create_one_new_store_at_once() {
        for _ in 0..20 {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path().join("new");
            let barrier = std::sync::Barrier::new(8);
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            Store::open(&root)
                        })
                    })
                    .collect();
                for h in handles {
                    if let Err(e) = h.join().unwrap() {
                        panic!("a concurrent creator failed: {e}");
                    }
                }
            });
            assert!(root.join(MARKER).is_file());
        }
    }

    #[test]
    fn a_directory_that_is_not_a_store_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("thesis.tex"), "x").unwrap();
        let err = Store::open(tmp.path()).unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
        assert!(err.to_string().contains("not a task2vec store"));
        let newer = tempfile::tempdir().unwrap();
        fs::write(
            newer.path().join(MARKER),
            r#"{"format": 99, "written_by": "future"}"#,
        )
        .unwrap();
        let err = Store::open(newer.path()).unwrap_err();
        assert!(
            matches!(err, StoreError::NewerFormat { found: 99, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_tampered_key_file_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let key = Key::new(json!({"task": "a", "seed": 0}));
        let entry = store.put(&key, |d| write(d, "r.txt", "x")).unwrap();
        fs::write(entry.file(KEY_FILE), r#"{"task": "a", "seed": 1}"#).unwrap();
        let err = store.get(&key).unwrap_err();
        assert!(err.to_string().contains(KEY_FILE), "{err}");
        fs::write(entry.file(KEY_FILE), "{truncated").unwrap();
        assert!(matches!(store.get(&key), Err(StoreError::Corrupt { .. })));
    }
}
