//! A fuzz case: the files one reader call sees, by relative name (`a/b.png`). On disk a case is
//! a directory holding exactly those files (corpus entries and saved artifacts alike).
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// File name → bytes.
pub type Case = BTreeMap<String, Vec<u8>>;

/// Reads every file below `dir` (recursively) into a case.
pub fn load(dir: &Path) -> io::Result<Case> {
    let mut case = Case::new();
    collect(dir, dir, &mut case)?;
    Ok(case)
}

fn collect(root: &Path, dir: &Path, case: &mut Case) -> io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<_>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(root, &path, case)?;
        } else {
            let rel = path.strip_prefix(root).expect("below root");
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            case.insert(name, std::fs::read(&path)?);
        }
    }
    Ok(())
}

/// Replaces the contents of `dir` by the case's files.
pub fn write(case: &Case, dir: &Path) -> io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    for (name, bytes) in case {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)?;
    }
    Ok(())
}

/// The corpus entries of a target: each subdirectory of `dir`, by name.
pub fn load_corpus(dir: &Path) -> io::Result<Vec<(String, Case)>> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<_>>()?;
    dirs.sort();
    for d in dirs.into_iter().filter(|d| d.is_dir()) {
        let name = d
            .file_name()
            .expect("a dir entry")
            .to_string_lossy()
            .into_owned();
        out.push((name, load(&d)?));
    }
    Ok(out)
}

/// FNV-1a over names and contents: names artifacts (same case, same name).
pub fn fingerprint(case: &Case) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, bytes) in case {
        for &b in name.as_bytes().iter().chain([0u8].iter()).chain(bytes) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Saves `case` as `dir/<kind>-<fingerprint>/` with a `WHY.txt` next to the files; returns
/// the directory.
pub fn save_artifact(case: &Case, dir: &Path, kind: &str, why: &str) -> io::Result<PathBuf> {
    let out = dir.join(format!("{kind}-{:016x}", fingerprint(case)));
    write(case, &out.join("files"))?;
    std::fs::write(out.join("WHY.txt"), format!("{why}\n"))?;
    Ok(out)
}
