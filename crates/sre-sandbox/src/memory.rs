//! How the worker process's allocator treats the large buffers calls move: inputs and outputs of
//! up to tens of MiB (blob references), held once each per call.
//!
//! glibc's malloc serves a block over its mmap threshold with its own mapping and unmaps it on
//! free, but the threshold moves: after such a block is freed it rises to that block's size (up
//! to 32 MiB). From then on the next 16 MiB input comes from a thread's heap arena, and when it
//! is freed the arena keeps the pages (only a free block at the top of the heap is trimmed).
//! With a dozen tokio threads each arena ends up holding a payload-sized hole: `bench blobs`
//! showed the worker's peak RSS growth at 3.2× the payload and 20 MiB more idle RSS. Pinning the
//! threshold at 1 MiB keeps every large buffer in its own mapping, returned to the kernel when
//! the call is done: growth 2.0× (the input and the output, once each) and the idle RSS back.
//! Smaller blocks, the vast majority, are unaffected.
#![allow(
    unsafe_code,
    reason = "mallopt is a C function; called once, before any thread exists"
)]

/// Blocks of at least this many bytes get their own mapping.
pub const LARGE_BLOCK: usize = 1 << 20;

/// Pins glibc malloc's mmap threshold at [`LARGE_BLOCK`] (see the module docs). Call it first in
/// `main`, while the process has one thread. Returns whether the allocator took the setting
/// (false off glibc, where there is nothing to pin).
pub fn return_large_buffers_to_the_os() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu", feature = "process"))]
    {
        // SAFETY: mallopt only sets allocator parameters; it is called before other threads
        // start (documented precondition of this function), and the values are in range.
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, LARGE_BLOCK as libc::c_int) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu", feature = "process")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu", feature = "process"))]
    fn glibc_takes_the_threshold() {
        assert!(super::return_large_buffers_to_the_os());
    }
}
