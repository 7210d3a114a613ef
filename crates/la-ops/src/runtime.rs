//! Process-wide settings for fast CPU training, for binaries to apply at start-up.

/// Tensors at or above this size stay in the heap when freed instead of going back to the
/// operating system.
const KEEP_BELOW_BYTES: libc::c_int = 1 << 30;

/// Makes CPU training several times faster on Linux; call it once, first thing in `main`.
///
/// - glibc's allocator keeps freed memory for reuse instead of unmapping it: a training step
///   allocates and frees hundreds of tensors of megabytes, and each fresh mapping costs a
///   page fault and a cleared page per 4 KiB (the unpool forward + backward of a VGG layer ran
///   four times faster with this alone). The process keeps its peak memory. Every thread
///   allocates from that one heap: glibc gives other threads heaps of their own (64 MB each,
///   unmapped when emptied), where the same tensors faulted in again (a 64-channel batch norm
///   at 64 x 64, forward + backward, took 14.8 ms on a pool worker against 4.6 ms).
/// - candle's own thread pool for element-wise ops is limited to the calling thread, unless
///   `CANDLE_NUM_THREADS` is set: its workers spin-wait between ops, competing on small
///   machines with the rayon threads that run la-ops' kernels and the matrix products.
///
/// # Safety
///
/// Sets an environment variable, so no other thread may be running (nor reading the
/// environment) when it is called.
pub unsafe fn tune_cpu_runtime() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, KEEP_BELOW_BYTES);
        // -1, not c_int::MAX: glibc reads it as the largest size_t (mallopt(3): trimming off);
        // at 2 GiB a 224-pixel step's freed top of the heap was handed back and faulted in again.
        libc::mallopt(libc::M_TRIM_THRESHOLD, -1);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: the caller guarantees that no other thread runs.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
}

/// Runs `work` on a worker thread of rayon's global pool, which the parallel kernels inside
/// it then share (its size: `RAYON_NUM_THREADS`, else one thread per CPU). Call it once,
/// around a program's whole work.
///
/// Run from a thread outside the pool, a program's serial work (the training loop, candle's
/// element-wise ops) shares the cores with the pool's idle workers, which spin and yield for a
/// while after each parallel kernel: on 2 cores they took the serial thread's core (`la train`
/// on the sample: 25.8-27.2 s outside the pool, 23.9-24.9 s inside it; system time 3.9-4.2 s
/// -> 2.1-2.3 s). The global pool, not a pool of its own: with a second pool of two threads
/// beside the global one, `la train` at 224 pixels ran at half the images/s.
///
/// `work` holds one of the pool's workers until it returns: it must not wait on a thread
/// outside the pool that itself waits on the global pool (with one worker, as under
/// `RAYON_NUM_THREADS=1`, that would never finish). la's data loader decodes on a pool of its
/// own (`la train` runs to the end under `RAYON_NUM_THREADS=1`).
pub fn run_in_worker_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    // Called from outside the pool, a scope's body runs on one of the global pool's workers.
    rayon::scope(|_| work())
}

/// Hands the memory the allocator holds freed back to the system, for a program moving from
/// one phase to another: with [`tune_cpu_runtime`]'s settings glibc keeps every freed block,
/// and after a training stage at 224 pixels that is gigabytes the phases after it never reuse
/// (measured: 3.30 GB resident while clustering before, 1.55 GB after).
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused pages of the heap to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_a_worker_of_the_global_pool() {
        assert_eq!(rayon::current_thread_index(), None, "the test's own thread");
        let (index, threads, value) = run_in_worker_pool(|| {
            let threads = rayon::current_num_threads();
            (rayon::current_thread_index(), threads, 6 * 7)
        });
        assert!(index.is_some(), "the work ran outside the pool");
        let default = rayon::ThreadPoolBuilder::new()
            .build()
            .map(|p| p.current_num_threads());
        assert_eq!(Some(threads), default.ok());
        assert_eq!(value, 42);
    }
}
