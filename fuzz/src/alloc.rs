//! A global allocator with a cap on a single allocation, so that "a length field made a reader
//! allocate gigabytes" is a finding on every machine, not only on one short of memory (Linux
//! overcommits: a 32 GiB `vec![0; n]` often "succeeds" and fails later, or never). Fuzz inputs
//! are at most a megabyte, so no honest reader of them needs one allocation larger than
//! [`MAX_ONE`]. Over the cap the allocator returns null; Rust then reports
//! `memory allocation of N bytes failed` and aborts, and the parent process saves the input.
//!
//! Only single allocations are capped, not the total live: a running total (added on alloc,
//! subtracted on dealloc by layout size) drifted down by ~700 bytes per weight-file load in the
//! probe targets (cause not pinned down: a dependency freeing with another size than it
//! allocated would do it), so it cannot be trusted. `ci/fuzz.sh` bounds the total with
//! `ulimit -v` instead.
use std::alloc::{GlobalAlloc, Layout, System};

/// Largest single allocation a reader may make on a fuzz input.
pub const MAX_ONE: usize = 256 << 20;

/// Refuses allocations over [`MAX_ONE`].
pub struct Capped;

// SAFETY: every method forwards to `System` with the caller's layout and pointer unchanged;
// the only addition is returning null (allowed by `GlobalAlloc`: "allocation failed") before
// `System` is called.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ONE {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ONE {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > MAX_ONE {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
