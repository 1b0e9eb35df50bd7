//! Memory flat in dataset size (issue 12): `task2vec embed` on 200 and on 800 images, measured
//! as the process's peak resident memory (`peak memory N MiB`, Linux `VmHWM`).
//!
//! tiny-resnet at 224² and split point 0 caches the input itself: 588 KiB per image, as
//! ResNet-18 does at `skip_layers 0`, but its convs cost ~70× less, so the runs take seconds.
//! With `--augment none` the Fisher reads the cached activations, so their placement is what the
//! test measures: with a 32 MiB budget the two runs must stay within 1.3× of each other (the
//! issue's target); the control, a budget of 4 GiB that holds everything, must not — otherwise
//! the test could not tell a cache that spills from one that does not.
#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::Command;

/// MNIST-style IDX files of `n` 28×28 images with seeded pixels and 4 classes.
fn write_idx(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut images = vec![0, 0, 8, 3];
    for d in [n as u32, 28, 28] {
        images.extend(d.to_be_bytes());
    }
    let mut labels = vec![0, 0, 8, 1];
    labels.extend((n as u32).to_be_bytes());
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..n {
        let class = (i % 4) as u8;
        labels.push(class);
        for p in 0..28 * 28 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let stripe = if (p / 28 + class as usize) % 4 < 2 {
                150
            } else {
                30
            };
            images.push(stripe + (state >> 59) as u8 * 3);
        }
    }
    std::fs::write(dir.join("train-images-idx3-ubyte"), images).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), labels).unwrap();
}

/// Peak resident MiB of one `task2vec embed` of `images` images with `budget`.
fn peak_mib(data: &Path, out: &Path, images: usize, budget: &str) -> u64 {
    let run = Command::new(env!("CARGO_BIN_EXE_task2vec"))
        .arg("embed")
        .arg(data)
        .args(["--probe", "tiny-resnet", "--input-size", "224"])
        .args([
            "--augment",
            "none",
            "--head-split",
            "0",
            "--labels-per-image",
            "1",
        ])
        .args(["--head-epochs", "1", "--fisher-batch-size", "16"])
        .args([
            "--max-samples",
            &images.to_string(),
            "--cache-budget",
            budget,
        ])
        .arg("--out")
        .arg(out)
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak memory "))
        .unwrap_or_else(|| panic!("no peak memory line in {stderr}"));
    line.trim_end_matches(" MiB").parse().unwrap()
}

#[test]
fn peak_memory_stays_flat_from_200_to_800_images_under_a_cache_budget() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_idx(&data, 800);
    let out = dir.path().join("e.json");
    let flat = (
        peak_mib(&data, &out, 200, "32M"),
        peak_mib(&data, &out, 800, "32M"),
    );
    let unbounded = (
        peak_mib(&data, &out, 200, "4G"),
        peak_mib(&data, &out, 800, "4G"),
    );
    eprintln!("peak MiB, 200 -> 800 images: budget 32M {flat:?}, budget 4G {unbounded:?}");
    let ratio = |(a, b): (u64, u64)| b as f64 / a as f64;
    assert!(
        ratio(flat) <= 1.3,
        "with --cache-budget 32M peak memory grew {:.2}x from 200 to 800 images: {flat:?} MiB",
        ratio(flat)
    );
    // 600 more images of 588 KiB each are 344 MiB: the control must show them.
    assert!(
        unbounded.1 >= unbounded.0 + 250,
        "the in-memory control did not grow with the cache: {unbounded:?} MiB"
    );
}
