//! Benchmarks live in benches/benches/. This library holds what the plain-program benches
//! (`harness = false`, configured by `T2V_BENCH_*` variables) share.

/// The value of the environment variable `name`, or `default`.
pub fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// The image folder a bench runs on (`T2V_BENCH_DATA`), or `None` when this bench should not
/// run: `cargo bench` passed a filter naming another bench, or the folder is not set (said on
/// stderr, since `cargo bench --workspace` runs every bench).
pub fn bench_data(bench: &str) -> Option<String> {
    if another_bench_named() {
        return None;
    }
    let data = std::env::var("T2V_BENCH_DATA").ok();
    if data.is_none() {
        eprintln!("{bench}: set T2V_BENCH_DATA to an image folder (see the file's doc)");
    }
    data
}

/// Whether `cargo bench` passed a filter (a non-flag argument): it names another bench, and a
/// plain-program bench (`harness = false`) should then do nothing.
pub fn another_bench_named() -> bool {
    std::env::args().skip(1).any(|a| !a.starts_with('-'))
}

/// The median of `values` (the upper one of an even count). Panics on an empty slice.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
