//! Two processes writing one store at once (each computing the same 40 keys, in different
//! orders, while this process reads): nothing is lost, no reader ever sees a partial entry,
//! and an entry, once visible, never changes (the second writer of a key is dropped).
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use serde_json::json;
use task2vec_store::{Key, Store};

const KEYS: usize = 40;
/// Files per entry and their size: large enough that a copy is not written in one syscall.
const FILES: usize = 4;
const BYTES: usize = 64 * 1024;

fn key(i: usize) -> Key {
    Key::new(json!({"task": format!("t{i}"), "seed": 0}))
}

/// File `f` of key `i`: a byte pattern a reader can verify, the same for both writers.
fn contents(i: usize, f: usize) -> Vec<u8> {
    (0..BYTES)
        .map(|b| ((i * 31 + f * 7 + b) % 251) as u8)
        .collect()
}

/// Child entry point (run by `two_processes_lose_nothing_and_show_no_partial_entry` as a
/// separate process of this test binary); does nothing when not started as a child.
#[test]
#[ignore = "child process of two_processes_lose_nothing_and_show_no_partial_entry"]
fn writer_process() {
    let (Ok(dir), Ok(id)) = (std::env::var("STORE_DIR"), std::env::var("WRITER_ID")) else {
        return;
    };
    let id: usize = id.parse().unwrap();
    let store = Store::open(&dir).unwrap();
    let order: Vec<usize> = if id == 0 {
        (0..KEYS).collect()
    } else {
        (0..KEYS).rev().collect()
    };
    for i in order {
        store
            .put(&key(i), |d| {
                for f in 0..FILES {
                    std::fs::write(d.join(format!("f{f}.bin")), contents(i, f))?;
                }
                std::fs::write(d.join("writer.txt"), id.to_string())
            })
            .unwrap();
    }
}

/// Checks a visible entry completely; returns its writer.
fn check_entry(store: &Store, i: usize) -> Option<String> {
    let entry = store.get(&key(i)).unwrap()?;
    for f in 0..FILES {
        let bytes = std::fs::read(entry.file(&format!("f{f}.bin"))).unwrap();
        assert!(bytes == contents(i, f), "entry t{i} file f{f} is partial");
    }
    Some(std::fs::read_to_string(entry.file("writer.txt")).unwrap())
}

#[test]
fn two_processes_lose_nothing_and_show_no_partial_entry() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = Store::open(&root).unwrap();
    let me = std::env::current_exe().unwrap();
    let mut children: Vec<_> = (0..2)
        .map(|id| {
            Command::new(&me)
                .args(["--ignored", "--exact", "writer_process", "--test-threads=1"])
                .env("STORE_DIR", &root)
                .env("WRITER_ID", id.to_string())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut first_seen: HashMap<usize, String> = HashMap::new();
    let mut rounds = 0;
    loop {
        let running = children.iter_mut().any(|c| c.try_wait().unwrap().is_none());
        for i in 0..KEYS {
            if let Some(writer) = check_entry(&store, i) {
                let first = first_seen.entry(i).or_insert_with(|| writer.clone());
                assert_eq!(*first, writer, "entry t{i} was overwritten");
            }
        }
        rounds += 1;
        if !running {
            break;
        }
    }
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a writer failed");
    }
    for i in 0..KEYS {
        assert!(check_entry(&store, i).is_some(), "entry t{i} was lost");
    }
    assert_eq!(store.digests().unwrap().len(), KEYS);
    assert_eq!(
        count(&root.join(".tmp")),
        0,
        "temporary directories left behind"
    );
    eprintln!("{rounds} reading rounds during the writes");
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}
