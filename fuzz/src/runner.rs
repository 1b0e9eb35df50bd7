//! The fuzz loop of one target, run in a child process (see `main.rs`): seed checks, the
//! truncation and length-field sweeps, then seeded random mutation until the time is up.
//!
//! Before each call the case is written to `<work>/case/`; if the process dies (an abort: stack
//! overflow, an allocation over the cap) the parent finds the culprit there.
use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::case::{self, Case};
use crate::mutate::{self, INTERESTING, INTERESTING_TEXT};
use crate::targets::{Outcome, Target};

/// A case slower than this is a finding (a reader stuck in a loop or a quadratic blow-up).
pub const SLOW: Duration = Duration::from_secs(10);
/// At most this many cases kept for new behaviours (besides the seeds).
const POOL: usize = 512;

/// Why a run stopped early.
pub struct Finding {
    pub kind: &'static str,
    pub why: String,
    pub case: Case,
}

static PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Panics are expected findings: record their message and location instead of printing them.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info.location().map(|l| l.to_string()).unwrap_or_default();
        // The location is often inside std (an overflowing `sum`): name our frames too.
        let trace = std::backtrace::Backtrace::force_capture().to_string();
        let ours: Vec<&str> = trace
            .lines()
            .map(str::trim)
            .filter(|l| l.contains("task2vec_") && !l.contains("task2vec_fuzz"))
            .filter_map(|l| l.split_once(": ").map(|(_, f)| f))
            .take(3)
            .collect();
        let within = if ours.is_empty() {
            String::new()
        } else {
            format!(" in {}", ours.join(" < "))
        };
        *PANIC.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("{msg} at {at}{within}"));
    }));
}

/// Runs `target` on `case` once: writes it into `work/case/`, calls the reader, and turns a
/// panic, a property violation or a slow call into a finding.
pub fn execute(target: &Target, case: &Case, work: &Path) -> Result<Outcome, Finding> {
    let dir = work.join("case");
    case::write(case, &dir).unwrap_or_else(|e| panic!("writing {}: {e}", dir.display()));
    let start = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| (target.run)(&dir)));
    let finding = |kind, why| {
        Err(Finding {
            kind,
            why,
            case: case.clone(),
        })
    };
    let took = start.elapsed();
    match result {
        Err(_) => {
            let msg = PANIC.lock().unwrap_or_else(|p| p.into_inner()).take();
            finding("panic", format!("panicked: {}", msg.unwrap_or_default()))
        }
        Ok(Err(violation)) => finding("violation", violation),
        Ok(Ok(_)) if took > SLOW => finding("slow", format!("took {took:?}")),
        Ok(Ok(outcome)) => Ok(outcome),
    }
}

/// What a run did.
#[derive(Default)]
pub struct Stats {
    pub seeds: usize,
    pub truncations: usize,
    pub sweep: usize,
    pub random: usize,
    pub behaviours: usize,
    pub sweep_complete: bool,
}

/// The behaviour an outcome stands for: the message with numbers and the work path blanked,
/// so that "the same error about another byte" is not new.
fn signature(outcome: &Outcome, work: &Path) -> String {
    let (tag, text) = match outcome {
        Outcome::Accepted(s) => ("ok", s),
        Outcome::Refused(s) => ("err", s),
    };
    let text = text.replace(&work.display().to_string(), "");
    // Words with a digit (numbers, 0x1f, offsets) all read `#`.
    let words = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(24)
        .map(|w| {
            if w.bytes().any(|b| b.is_ascii_digit()) {
                "#"
            } else {
                w
            }
        });
    std::iter::once(tag)
        .chain(words)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Prefix lengths to try for a file of `len` bytes: all of them for small files, else the
/// first and last 64 and 128 in between.
fn prefix_lengths(len: usize) -> Vec<usize> {
    if len <= 512 {
        return (0..len).collect();
    }
    let mut n: BTreeSet<usize> = (0..64).chain(len - 64..len).collect();
    n.extend((0..128).map(|k| k * len / 128));
    n.into_iter().collect()
}

/// A prefix cuts something only if it drops a non-whitespace byte (JSON may end in a newline).
fn cuts_content(file: &[u8], n: usize) -> bool {
    file[n..].iter().any(|b| !b.is_ascii_whitespace())
}

/// The length-field and number sweeps of one corpus entry: every interesting integer at every
/// offset of each file's first 64 bytes (2, 4, 8 bytes; both byte orders), and every
/// interesting number in place of each of the first 64 decimal numbers of text.
fn sweep_cases(target: &Target, seed: &Case) -> Vec<Case> {
    let mut out = Vec::new();
    for name in seed.keys() {
        if !target
            .mutable
            .iter()
            .any(|m| name == m || name.starts_with(m))
        {
            continue;
        }
        let file = &seed[name];
        for width in [2, 4, 8] {
            for at in 0..file.len().min(64).saturating_sub(width - 1) {
                for &v in INTERESTING {
                    for big in [false, true] {
                        let mut f = file.clone();
                        mutate::overwrite(&mut f, at, &mutate::int_bytes(v, width, big));
                        let mut c = seed.clone();
                        c.insert(name.clone(), f);
                        out.push(c);
                    }
                }
            }
        }
        for (a, b) in mutate::decimal_runs(file).into_iter().take(64) {
            for t in INTERESTING_TEXT {
                let mut f = file.clone();
                f.splice(a..b, t.bytes());
                let mut c = seed.clone();
                c.insert(name.clone(), f);
                out.push(c);
            }
        }
    }
    out
}

/// Fuzzes `target` for `seconds` with `seed`. The corpus comes from `corpus_dir`.
pub fn fuzz(
    target: &Target,
    corpus_dir: &Path,
    seed: u64,
    seconds: f64,
    work: &Path,
) -> Result<Stats, Finding> {
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    // The sweeps are deterministic and may take at most half the time.
    let sweep_deadline = start + Duration::from_secs_f64(seconds / 2.0);
    let corpus = case::load_corpus(&corpus_dir.join(target.name))
        .unwrap_or_else(|e| panic!("reading the corpus of {}: {e}", target.name));
    assert!(!corpus.is_empty(), "no corpus for {}", target.name);
    let mut stats = Stats::default();
    let mut seen = BTreeSet::new();

    // 1. The seeds: `ok-*` must be read, `bad-*` refused. This also shows that the harness
    //    reaches the reader (a target that refused everything would find nothing).
    for (name, c) in &corpus {
        let outcome = execute(target, c, work)?;
        seen.insert(signature(&outcome, work));
        stats.seeds += 1;
        let accepted = matches!(outcome, Outcome::Accepted(_));
        if name.starts_with("ok-") != accepted {
            return Err(Finding {
                kind: "seed",
                why: format!("corpus entry {name}: {outcome:?}"),
                case: c.clone(),
            });
        }
    }

    // 2. Truncation: every strict prefix of an accepted file is refused.
    for (name, c) in corpus.iter().filter(|(n, _)| n.starts_with("ok-")) {
        for file in target
            .prefixes_refused
            .iter()
            .filter(|f| c.contains_key(**f))
        {
            let bytes = &c[*file];
            for n in prefix_lengths(bytes.len()) {
                if !cuts_content(bytes, n) {
                    continue;
                }
                let mut cut = c.clone();
                cut.insert(file.to_string(), bytes[..n].to_vec());
                let outcome = execute(target, &cut, work)?;
                stats.truncations += 1;
                if let Outcome::Accepted(what) = outcome {
                    return Err(Finding {
                        kind: "truncation",
                        why: format!(
                            "{name}: the first {n} of {} bytes of {file} were accepted ({what})",
                            bytes.len()
                        ),
                        case: cut,
                    });
                }
            }
        }
    }

    // 3. Length fields and numbers, deterministically. Only findings count here: what the
    //    sweep sees does not feed the random phase, whose cases then depend on the seed alone
    //    (not on how far a slower machine got with the sweep).
    let seed_behaviours = seen.clone();
    stats.sweep_complete = true;
    'sweep: for (_, c) in &corpus {
        for swept in sweep_cases(target, c) {
            if Instant::now() > sweep_deadline {
                stats.sweep_complete = false;
                break 'sweep;
            }
            let outcome = execute(target, &swept, work)?;
            stats.sweep += 1;
            seen.insert(signature(&outcome, work));
        }
    }

    // 4. Random mutation of a pool that starts as the corpus; cases that show a behaviour
    //    the seeds and earlier random cases did not join it (a poor man's coverage signal).
    let mut pool: Vec<Case> = corpus.iter().map(|(_, c)| c.clone()).collect();
    let mut pool_behaviours = seed_behaviours;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    while Instant::now() < deadline {
        let parent = rng.random_range(0..pool.len());
        let mut c = pool[parent].clone();
        let donor = &pool[rng.random_range(0..pool.len())];
        mutate::mutate(
            &mut c,
            target.mutable,
            &[donor],
            target.dictionary,
            target.max_len,
            &mut rng,
        );
        let outcome = execute(target, &c, work)?;
        stats.random += 1;
        let sig = signature(&outcome, work);
        if pool_behaviours.insert(sig.clone()) && pool.len() < POOL {
            pool.push(c);
        }
        seen.insert(sig);
    }
    stats.behaviours = seen.len();
    Ok(stats)
}

/// `<dir>/<target>`: where findings of a target go.
pub fn artifact_dir(artifacts: &Path, target: &Target) -> PathBuf {
    artifacts.join(target.name)
}
