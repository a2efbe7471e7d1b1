//! A global allocator that counts live heap bytes and, in a sandbox worker, refuses to go
//! past the task memory limit. A refused allocation makes Rust abort the worker with
//! "memory allocation of N bytes failed"; the node reads that and answers `out-of-memory`.
//! Outside a worker the limit is unset and the cost is one relaxed atomic add per call.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The allocator underneath. Natively mimalloc: every task builds and frees a whole
/// JavaScript realm (thousands of small objects), and with the system allocator that churn
/// was a fifth of a worker's time. In the browser, the standard one.
#[cfg(not(target_arch = "wasm32"))]
static INNER: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[cfg(target_arch = "wasm32")]
static INNER: std::alloc::System = std::alloc::System;

pub struct LimitedAllocator;

static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);
static IN_USE: AtomicUsize = AtomicUsize::new(0);
static REFUSED: AtomicBool = AtomicBool::new(false);

/// Refuse allocations that would take the live heap past `bytes`.
pub fn set_limit(bytes: usize) {
    LIMIT.store(bytes, Ordering::Relaxed);
}

/// Live heap bytes of this process.
pub fn in_use() -> usize {
    IN_USE.load(Ordering::Relaxed)
}

/// Whether an allocation has been refused since the last call (and forget it).
pub fn take_refused() -> bool {
    REFUSED.swap(false, Ordering::Relaxed)
}

fn reserve(bytes: usize) -> bool {
    let before = IN_USE.fetch_add(bytes, Ordering::Relaxed);
    if before.saturating_add(bytes) > LIMIT.load(Ordering::Relaxed) {
        IN_USE.fetch_sub(bytes, Ordering::Relaxed);
        REFUSED.store(true, Ordering::Relaxed);
        return false;
    }
    true
}

fn release(bytes: usize) {
    IN_USE.fetch_sub(bytes, Ordering::Relaxed);
}

/// Allocate `bytes` with `allocate` if the limit allows, keeping the count right either way.
fn counted(bytes: usize, allocate: impl FnOnce() -> *mut u8) -> *mut u8 {
    if !reserve(bytes) {
        return std::ptr::null_mut();
    }
    let ptr = allocate();
    if ptr.is_null() {
        release(bytes);
    }
    ptr
}

// SAFETY: every call is forwarded to the inner allocator unchanged; only the bookkeeping
// around it is added, and a refused request returns null as `GlobalAlloc` allows.
unsafe impl GlobalAlloc for LimitedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted(layout.size(), || unsafe { INNER.alloc(layout) })
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted(layout.size(), || unsafe { INNER.alloc_zeroed(layout) })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { INNER.dealloc(ptr, layout) };
        release(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old_size = layout.size();
        if new_size > old_size && !reserve(new_size - old_size) {
            return std::ptr::null_mut();
        }
        let new_ptr = unsafe { INNER.realloc(ptr, layout, new_size) };
        if new_ptr.is_null() {
            if new_size > old_size {
                release(new_size - old_size);
            }
        } else if new_size < old_size {
            release(old_size - new_size);
        }
        new_ptr
    }
}
