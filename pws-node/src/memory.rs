//! A global allocator that counts live heap bytes and, in a sandbox worker, refuses to go
//! past the task memory limit. A refused allocation makes Rust abort the worker with
//! "memory allocation of N bytes failed"; the node reads that and answers `out-of-memory`.
//! Outside a worker the limit is unset and the cost is one relaxed atomic add per call.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

pub struct LimitedAllocator;

/// The allocator underneath. A sandbox worker builds and frees a whole JavaScript realm for
/// every task (thousands of small objects); with the system allocator that churn was a fifth
/// of a worker's time, with mimalloc it is a few percent. Every other process (the node's
/// network loop, the submitter) keeps the system allocator, which holds less memory idle.
#[cfg(not(target_arch = "wasm32"))]
mod inner {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicU8, Ordering};

    /// [`crate::sandbox::worker::WORKER_ENV`], as C wants it.
    pub const WORKER_ENV: &std::ffi::CStr = c"PWS_SANDBOX_WORKER";
    const UNDECIDED: u8 = 0;
    const SYSTEM: u8 = 1;
    const MIMALLOC: u8 = 2;
    static CHOICE: AtomicU8 = AtomicU8::new(UNDECIDED);

    /// Whether this process is a sandbox worker. Decided at its first allocation (before
    /// `main`, from the environment the node started it with) and fixed from then on, so
    /// every block is freed by the allocator that made it.
    fn in_worker() -> bool {
        match CHOICE.load(Ordering::Relaxed) {
            UNDECIDED => {
                // SAFETY: the name is a valid C string; getenv neither allocates nor keeps it.
                let worker = !unsafe { libc::getenv(WORKER_ENV.as_ptr()) }.is_null();
                CHOICE.store(if worker { MIMALLOC } else { SYSTEM }, Ordering::Relaxed);
                worker
            }
            choice => choice == MIMALLOC,
        }
    }

    // SAFETY (all four): forwarded unchanged to the allocator this process chose for good.
    pub unsafe fn alloc(layout: Layout) -> *mut u8 {
        if in_worker() {
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        } else {
            unsafe { System.alloc(layout) }
        }
    }

    pub unsafe fn alloc_zeroed(layout: Layout) -> *mut u8 {
        if in_worker() {
            unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
        } else {
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    pub unsafe fn dealloc(ptr: *mut u8, layout: Layout) {
        if in_worker() {
            unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
        } else {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    pub unsafe fn realloc(ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if in_worker() {
            unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
        } else {
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }
}

/// In the browser, the standard allocator.
#[cfg(target_arch = "wasm32")]
mod inner {
    use std::alloc::{GlobalAlloc, Layout, System};

    pub unsafe fn alloc(layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    pub unsafe fn alloc_zeroed(layout: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(layout) }
    }

    pub unsafe fn dealloc(ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    pub unsafe fn realloc(ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

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
        counted(layout.size(), || unsafe { inner::alloc(layout) })
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted(layout.size(), || unsafe { inner::alloc_zeroed(layout) })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { inner::dealloc(ptr, layout) };
        release(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old_size = layout.size();
        if new_size > old_size && !reserve(new_size - old_size) {
            return std::ptr::null_mut();
        }
        let new_ptr = unsafe { inner::realloc(ptr, layout, new_size) };
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

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    #[test]
    fn the_allocator_knows_workers_by_their_environment_variable() {
        assert_eq!(
            super::inner::WORKER_ENV.to_str(),
            Ok(crate::sandbox::worker::WORKER_ENV)
        );
    }
}
