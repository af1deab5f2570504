//! Allocator tuning for bounded hashing memory (glibc only; a no-op elsewhere).
//!
//! glibc raises its mmap threshold dynamically: once a large block (an Argon2 memory matrix,
//! 19 MiB by default) has been freed, later blocks of that size come from the per-thread arenas
//! instead and stay resident after they are freed. Hashing runs on whichever blocking-pool
//! thread is free, so over time up to 8 × CPUs arenas each kept their own matrices: measured
//! 465 MiB peak under a validation flood with only two hashes ever running at once. A fixed
//! threshold keeps every large block an mmap of its own, returned to the system when freed, so
//! resident memory follows the blocks actually in use (`password_hash_concurrency` of them).

/// Blocks at or above this size are mmapped and unmapped on free.
const MMAP_THRESHOLD_BYTES: i32 = 1 << 20;

/// Fixes the mmap threshold (see the module doc); call once at start.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn return_large_blocks_to_the_system() {
    // SAFETY: mallopt only changes allocator parameters; glibc serialises it with allocation.
    let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) };
    if ok != 1 {
        tracing::warn!("could not set the allocator's mmap threshold");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn return_large_blocks_to_the_system() {}
