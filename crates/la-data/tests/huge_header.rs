//! A PNG whose header claims 100000x100000 pixels (30 GB of RGB) is refused before any large
//! allocation: this test binary counts allocations with its own global allocator and checks
//! that nothing near the claimed size is requested. (A test binary of its own, so that no
//! other test allocates at the same time.)

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use la_data::{Decoder, Error, FolderSource, Verify};

/// Forwards to the system allocator and remembers the largest single request.
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

#[test]
fn huge_header_is_refused_before_allocating() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = common::write(
        dir.path(),
        "bomb.png",
        &common::png_claiming(100_000, 100_000),
    );
    LARGEST.store(0, Ordering::Relaxed);
    let err = Decoder::default().decode(&path).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    let dataset = FolderSource::new(dir.path()).verify(Verify::Decode).build();
    assert!(
        matches!(dataset, Err(Error::NoImages { .. })),
        "{dataset:?}"
    );
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(largest < 1 << 20, "largest allocation {largest} bytes");
    // The same limits refuse a file that is merely over the pixel count: 20000x10000 pixels
    // (200 MP, 600 MB of RGB) is over Pillow's decompression-bomb threshold.
    let big = common::write(dir.path(), "big.png", &common::png_claiming(20_000, 10_000));
    assert!(matches!(
        Decoder::default().decode(&big),
        Err(Error::TooLarge { .. })
    ));
    assert!(LARGEST.load(Ordering::Relaxed) < 1 << 20);
}
