//! The process's memory use, as runs report it.

/// Peak resident memory of this process so far, in bytes: Linux's `VmHWM` from
/// `/proc/self/status`; `None` where the OS does not expose it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

/// The `VmHWM:` line of a `/proc/<pid>/status` text, in bytes.
fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut words = line["VmHWM:".len()..].split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    // The kernel always writes kB (KiB); anything else is not a status file we understand.
    (words.next()? == "kB").then_some(value * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kernel_status_line() {
        let status = "Name:\ttask2vec\nVmPeak:\t  900 kB\nVmHWM:\t   1536 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(1536 * 1024));
        assert_eq!(parse_vm_hwm("VmHWM:\t12 MB\n"), None);
        assert_eq!(parse_vm_hwm("VmRSS:\t12 kB\n"), None);
    }

    #[test]
    fn grows_with_memory_the_process_touches() {
        let linux = cfg!(target_os = "linux");
        let Some(before) = peak_rss_bytes() else {
            // Not Linux: nothing to read, and None says so.
            assert!(!linux, "Linux exposes VmHWM");
            return;
        };
        let block = vec![1u8; 64 << 20];
        std::hint::black_box(&block);
        let after = peak_rss_bytes().unwrap();
        // A high-water mark: never lower, and at least the block just written.
        assert!(after >= before && after >= 64 << 20, "{before} -> {after}");
    }
}
