//! Cache prefetch hints. The capture file and per-connection state are touched in a pattern
//! the hardware prefetchers cannot guess (a few bytes every ~1.5 KB of file, connection state
//! scattered over the heap), so the stages that know what comes next say so.

/// Bytes per cache line.
pub const CACHE_LINE: usize = 64;

/// Starts loading the cache line at `p` (a hint: never faults, whatever `p` is).
#[cfg(target_arch = "x86_64")]
pub fn line(p: *const u8) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    // SAFETY: SSE is part of the x86_64 baseline, and a prefetch does not dereference its
    // pointer: it is only a hint, dropped for an address that is not mapped.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) };
}

/// Other architectures rely on their hardware prefetchers.
#[cfg(not(target_arch = "x86_64"))]
pub fn line(_: *const u8) {}

/// Starts loading every cache line of `value`.
pub fn object<T>(value: &T) {
    let start = (value as *const T).cast::<u8>();
    for offset in (0..size_of::<T>()).step_by(CACHE_LINE) {
        line(start.wrapping_add(offset));
    }
}

/// At most this many cache lines of a slice are asked for by [`slice()`] (1 KiB).
pub const MAX_SLICE_LINES: usize = 16;

/// Starts loading the cache lines of `values`' elements (the first [`MAX_SLICE_LINES`]).
pub fn slice<T>(values: &[T]) {
    let start = values.as_ptr().cast::<u8>();
    let len = size_of_val(values).min(MAX_SLICE_LINES * CACHE_LINE);
    for offset in (0..len).step_by(CACHE_LINE) {
        line(start.wrapping_add(offset));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_never_fault_whatever_the_address() {
        line(std::ptr::null());
        line(std::ptr::dangling::<u8>());
        line(usize::MAX as *const u8);
        object(&[0u8; 1000]);
        object(&());
        slice(&[0u64; 1000]);
        slice::<u8>(&[]);
    }
}
