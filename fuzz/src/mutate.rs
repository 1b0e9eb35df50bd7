//! The mutator: a few byte-level edits of one file of a case, chosen by a seeded RNG (same seed,
//! same sequence of cases). Besides bit flips and byte edits it writes "interesting" integers
//! over would-be length fields (binary, both byte orders) and over decimal numbers in text, and
//! splices in pieces of the same file from another corpus entry and of a per-target dictionary.
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::case::Case;

/// Integers that break length arithmetic: zero, one, sign and width boundaries, 2^32 items.
pub const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
];

/// The same as decimal text, plus what text number parsers trip on.
pub const INTERESTING_TEXT: &[&str] = &[
    "0",
    "-1",
    "1",
    "255",
    "256",
    "65536",
    "2147483648",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "1e308",
    "1e309",
    "-0",
    "NaN",
    "inf",
    "0.5",
    "",
];

/// Edits one file of `case` with 1–4 stacked mutations. `others` are cases to splice from,
/// `dictionary` tokens of the target's format, `max_len` the cap on a file's size.
pub fn mutate(
    case: &mut Case,
    mutable: &[&str],
    others: &[&Case],
    dictionary: &[&[u8]],
    max_len: usize,
    rng: &mut ChaCha8Rng,
) {
    let names: Vec<String> = case
        .keys()
        .filter(|n| mutable.iter().any(|m| n.as_str() == *m || n.starts_with(m)))
        .cloned()
        .collect();
    if names.is_empty() {
        return;
    }
    let name = &names[rng.random_range(0..names.len())];
    let donor: Option<&Vec<u8>> = if others.is_empty() {
        None
    } else {
        others[rng.random_range(0..others.len())].get(name)
    };
    let file = case.get_mut(name).expect("a listed name");
    for _ in 0..rng.random_range(1..=4) {
        edit(file, donor.map(Vec::as_slice), dictionary, rng);
    }
    file.truncate(max_len);
}

fn edit(f: &mut Vec<u8>, donor: Option<&[u8]>, dictionary: &[&[u8]], rng: &mut ChaCha8Rng) {
    let pos = |rng: &mut ChaCha8Rng, len: usize| {
        // Headers (lengths, magic, shapes) are at the start: favour it.
        if rng.random_bool(0.5) {
            rng.random_range(0..=len.min(64))
        } else {
            rng.random_range(0..=len)
        }
    };
    match rng.random_range(0..11) {
        0 if !f.is_empty() => {
            let i = pos(rng, f.len() - 1);
            f[i] ^= 1 << rng.random_range(0..8);
        }
        1 if !f.is_empty() => {
            let i = pos(rng, f.len() - 1);
            f[i] = rng.random();
        }
        2 => {
            let i = pos(rng, f.len());
            let n = rng.random_range(1..=16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            f.splice(i..i, bytes);
        }
        3 if !f.is_empty() => {
            let i = pos(rng, f.len() - 1);
            let n = rng.random_range(1..=(f.len() - i).min(64));
            f.drain(i..i + n);
        }
        4 => {
            let n = rng.random_range(0..=f.len());
            f.truncate(n);
        }
        5 => {
            // An interesting integer over 1, 2, 4 or 8 bytes, little- or big-endian.
            let v = INTERESTING[rng.random_range(0..INTERESTING.len())];
            let width = [1, 2, 4, 8][rng.random_range(0..4)];
            let bytes = int_bytes(v, width, rng.random_bool(0.5));
            let i = pos(rng, f.len().saturating_sub(width));
            overwrite(f, i, &bytes);
        }
        6 => {
            // A decimal number in text replaced by an interesting one.
            let numbers = decimal_runs(f);
            if !numbers.is_empty() {
                let (a, b) = numbers[rng.random_range(0..numbers.len())];
                let t = INTERESTING_TEXT[rng.random_range(0..INTERESTING_TEXT.len())];
                f.splice(a..b, t.bytes());
            }
        }
        7 if !dictionary.is_empty() => {
            let token = dictionary[rng.random_range(0..dictionary.len())];
            let i = pos(rng, f.len());
            if rng.random_bool(0.5) {
                f.splice(i..i, token.iter().copied());
            } else {
                overwrite(f, i, token);
            }
        }
        8 if donor.is_some_and(|d| !d.is_empty()) => {
            // Splice: our head, the donor's tail.
            let d = donor.expect("checked");
            let i = rng.random_range(0..=f.len());
            let j = rng.random_range(0..d.len());
            f.truncate(i);
            f.extend_from_slice(&d[j..]);
        }
        9 if !f.is_empty() => {
            // Duplicate a block (repeated records, repeated opcodes).
            let a = rng.random_range(0..f.len());
            let b = rng.random_range(a..=f.len().min(a + 256));
            let block = f[a..b].to_vec();
            let i = rng.random_range(0..=f.len());
            f.splice(i..i, block);
        }
        10 if f.len() >= 2 => {
            // Swap two bytes (reordered fields).
            let a = rng.random_range(0..f.len());
            let b = rng.random_range(0..f.len());
            f.swap(a, b);
        }
        _ => {
            let i = pos(rng, f.len());
            f.insert(i, rng.random());
        }
    }
}

/// `v` as `width` bytes (truncated), in the byte order asked for.
pub fn int_bytes(v: u64, width: usize, big_endian: bool) -> Vec<u8> {
    if big_endian {
        v.to_be_bytes()[8 - width..].to_vec()
    } else {
        v.to_le_bytes()[..width].to_vec()
    }
}

/// Writes `bytes` at `i`, growing the file if needed.
pub fn overwrite(f: &mut Vec<u8>, i: usize, bytes: &[u8]) {
    let i = i.min(f.len());
    let end = (i + bytes.len()).min(f.len());
    f.splice(i..end, bytes.iter().copied());
}

/// Byte ranges of the runs of ASCII digits in `f` (at most 256 of them).
pub fn decimal_runs(f: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, b) in f.iter().enumerate() {
        match (b.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push((s, i));
                start = None;
                if runs.len() == 256 {
                    return runs;
                }
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, f.len()));
    }
    runs
}
