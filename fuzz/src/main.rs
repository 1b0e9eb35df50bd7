//! `task2vec-fuzz`: a stable-Rust, libFuzzer-free fuzzer for every reader of outside bytes.
//! See `fuzz/README.md`.
//!
//! ```text
//! task2vec-fuzz [--seconds S] [--seed N] [--jobs J] [--artifacts DIR] [TARGET...]
//! task2vec-fuzz replay TARGET DIR       run one case (a corpus entry or an artifact) once
//! task2vec-fuzz corpus [--check]        (re)write fuzz/corpus from the generators, or compare
//! task2vec-fuzz list
//! ```
//!
//! Each target runs in a child process of this binary, so that an abort (stack overflow, an
//! allocation over the cap of `alloc.rs`) is a finding with its input saved, not the end of
//! the run.
mod alloc;
mod case;
mod mutate;
mod runner;
mod targets;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use targets::Target;

#[global_allocator]
static GLOBAL: alloc::Capped = alloc::Capped;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus_dir() -> PathBuf {
    fuzz_dir().join("corpus")
}

/// Where cases are written before each call: a RAM disk when there is one (30× more cases per
/// second than an overlay file system here), else the temporary folder.
fn scratch_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if std::env::var_os("TMPDIR").is_none() && shm.is_dir() {
        let probe = shm.join(format!(".task2vec-fuzz-probe-{}", std::process::id()));
        if std::fs::write(&probe, b"").is_ok() {
            let _ = std::fs::remove_file(probe);
            return shm.to_path_buf();
        }
    }
    std::env::temp_dir()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("child") => child(&args[1..]),
        Some("replay") => replay(&args[1..]),
        Some("corpus") => corpus(&args[1..]),
        Some("list") => {
            for t in targets::all().into_iter().chain(targets::selftests()) {
                println!("{:<20} {}", t.name, t.about);
            }
            Ok(true)
        }
        Some("-h" | "--help") => {
            println!("{}", usage());
            Ok(true)
        }
        _ => run(&args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("task2vec-fuzz: {e}");
            ExitCode::from(2)
        }
    }
}

fn usage() -> &'static str {
    "usage: task2vec-fuzz [--seconds S] [--seed N] [--jobs J] [--artifacts DIR] [TARGET...]\n\
     \x20      task2vec-fuzz replay TARGET DIR\n\
     \x20      task2vec-fuzz corpus [--check]\n\
     \x20      task2vec-fuzz list"
}

fn target(name: &str) -> Result<Target, String> {
    targets::by_name(name).ok_or_else(|| {
        let names: Vec<_> = targets::all().iter().map(|t| t.name).collect();
        format!("unknown target `{name}` (targets: {})", names.join(", "))
    })
}

/// The parent: runs each target in a child process, `jobs` at a time.
fn run(args: &[String]) -> Result<bool, String> {
    let mut seconds = 25.0;
    let mut seed: Option<u64> = None;
    let mut jobs = 1;
    let mut artifacts = fuzz_dir().join("artifacts");
    let mut names = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |what: &str| it.next().cloned().ok_or(format!("{a} needs {what}"));
        match a.as_str() {
            "--seconds" => {
                seconds = value("a number")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?
            }
            "--seed" => {
                seed = Some(
                    value("a number")?
                        .parse()
                        .map_err(|e| format!("--seed: {e}"))?,
                )
            }
            "--jobs" => {
                jobs = value("a number")?
                    .parse()
                    .map_err(|e| format!("--jobs: {e}"))?
            }
            "--artifacts" => artifacts = PathBuf::from(value("a folder")?),
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{}", usage())),
            s => names.push(target(s)?.name),
        }
    }
    if names.is_empty() {
        names = targets::all().iter().map(|t| t.name).collect();
    }
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    println!(
        "task2vec-fuzz: seed {seed}, {seconds} s per target, {} target(s), {jobs} at a time \
         (rerun with --seed {seed} for the same inputs)",
        names.len()
    );
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let scratch = scratch_root().join(format!("task2vec-fuzz-{}", std::process::id()));
    let mut pending: Vec<&str> = names.iter().rev().copied().collect();
    let mut running: Vec<(&str, std::process::Child, Instant, PathBuf)> = Vec::new();
    let mut failed = Vec::new();
    // A child gets its time plus a grace for setup and its slowest single case.
    let limit = Duration::from_secs_f64(seconds) + runner::SLOW + Duration::from_secs(30);
    while !pending.is_empty() || !running.is_empty() {
        while running.len() < jobs.max(1)
            && let Some(name) = pending.pop()
        {
            let work = scratch.join(name);
            std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
            let child = Command::new(&exe)
                .args(["child", name, &seed.to_string(), &seconds.to_string()])
                .arg(&work)
                .arg(&artifacts)
                .stdin(Stdio::null())
                .spawn()
                .map_err(|e| format!("starting {}: {e}", exe.display()))?;
            running.push((name, child, Instant::now(), work));
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut i = 0;
        while i < running.len() {
            let (name, child, started, work) = &mut running[i];
            let status = child.try_wait().map_err(|e| e.to_string())?;
            let timed_out = status.is_none() && started.elapsed() > limit;
            if timed_out {
                let _ = child.kill();
                let _ = child.wait();
            }
            if status.is_none() && !timed_out {
                i += 1;
                continue;
            }
            let (name, work) = (*name, work.clone());
            running.swap_remove(i);
            match status {
                Some(s) if s.success() => {}
                // The child saved its finding and said so.
                Some(s) if s.code() == Some(1) => failed.push(name),
                other => {
                    // Died without a word (abort, signal) or hung: the case is in work/case.
                    let why = match other {
                        None => format!("{name}: still running after {limit:?} (a hang)"),
                        Some(s) => format!(
                            "{name}: the process died ({s}): an abort, e.g. a stack overflow or \
                             an allocation over the cap (see the message above)"
                        ),
                    };
                    let kind = if other.is_none() { "hang" } else { "abort" };
                    let saved = case::load(&work.join("case"))
                        .map_err(|e| e.to_string())
                        .and_then(|c| {
                            case::save_artifact(&c, &artifacts.join(name), kind, &why)
                                .map_err(|e| e.to_string())
                        });
                    match saved {
                        Ok(dir) => println!("FOUND {why}\n  input saved in {}", dir.display()),
                        Err(e) => println!("FOUND {why}\n  (input not saved: {e})"),
                    }
                    failed.push(name);
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if failed.is_empty() {
        println!("task2vec-fuzz: no findings (seed {seed})");
        Ok(true)
    } else {
        println!(
            "task2vec-fuzz: findings in {} (seed {seed}); replay with `task2vec-fuzz replay TARGET DIR`",
            failed.join(", ")
        );
        Ok(false)
    }
}

/// The child: `child TARGET SEED SECONDS WORK ARTIFACTS`.
fn child(args: &[String]) -> Result<bool, String> {
    let [name, seed, seconds, work, artifacts] = args else {
        return Err("child TARGET SEED SECONDS WORK ARTIFACTS".into());
    };
    let target = target(name)?;
    let seed: u64 = seed.parse().map_err(|e| format!("seed: {e}"))?;
    let seconds: f64 = seconds.parse().map_err(|e| format!("seconds: {e}"))?;
    runner::quiet_panics();
    let start = Instant::now();
    match runner::fuzz(&target, &corpus_dir(), seed, seconds, Path::new(work)) {
        Ok(s) => {
            println!(
                "{:<18} ok: {} seeds, {} truncations, {} sweep{}, {} random; {} behaviours; {:.1} s",
                target.name,
                s.seeds,
                s.truncations,
                s.sweep,
                if s.sweep_complete {
                    ""
                } else {
                    " (cut at half time)"
                },
                s.random,
                s.behaviours,
                start.elapsed().as_secs_f64()
            );
            Ok(true)
        }
        Err(f) => {
            let dir = runner::artifact_dir(Path::new(artifacts), &target);
            let why = format!("{}: {} ({})", target.name, f.why, f.kind);
            let saved = case::save_artifact(&f.case, &dir, f.kind, &why)
                .map_err(|e| format!("saving the finding in {}: {e}", dir.display()))?;
            println!("FOUND {why}\n  input saved in {}", saved.display());
            Ok(false)
        }
    }
}

/// `replay TARGET DIR`: one case, in this process, with the outcome printed.
fn replay(args: &[String]) -> Result<bool, String> {
    let [name, dir] = args else {
        return Err("replay TARGET DIR (a corpus entry, or an artifact folder)".into());
    };
    let target = target(name)?;
    let dir = Path::new(dir);
    let files = if dir.join("files").is_dir() {
        dir.join("files")
    } else {
        dir.to_path_buf()
    };
    let case = case::load(&files).map_err(|e| format!("{}: {e}", files.display()))?;
    let work = scratch_root().join(format!("task2vec-fuzz-replay-{}", std::process::id()));
    runner::quiet_panics();
    let result = runner::execute(&target, &case, &work);
    let _ = std::fs::remove_dir_all(&work);
    match result {
        Ok(outcome) => {
            println!("{outcome:?}");
            Ok(true)
        }
        Err(f) => {
            println!("FOUND {} ({})", f.why, f.kind);
            Ok(false)
        }
    }
}

/// `corpus [--check]`: writes every target's generated seeds into `fuzz/corpus/<target>/`,
/// or checks that the committed files are what the generators make. Entries not made by a
/// generator (regression inputs added by hand) are left alone.
fn corpus(args: &[String]) -> Result<bool, String> {
    let check = match args {
        [] => false,
        [a] if a == "--check" => true,
        _ => return Err("corpus [--check]".into()),
    };
    let mut stale = Vec::new();
    for t in targets::all().into_iter().chain(targets::selftests()) {
        for (entry, c) in (t.seeds)() {
            let dir = corpus_dir().join(t.name).join(&entry);
            if check {
                if case::load(&dir).ok().as_ref() != Some(&c) {
                    stale.push(format!("{}/{entry}", t.name));
                }
            } else {
                case::write(&c, &dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
        }
    }
    if !stale.is_empty() {
        println!(
            "fuzz/corpus differs from its generators in {}: run `task2vec-fuzz corpus`",
            stale.join(", ")
        );
    }
    Ok(stale.is_empty())
}
