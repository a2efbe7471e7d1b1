//! Giving freed heap memory back to the system. glibc's allocator keeps what the process
//! frees in the middle of its heap for reuse; after a burst of short connections a node held
//! megabytes it no longer used (`scripts/soak-dial 300 webrtc`: RSS grew 38 KB per one-shot
//! submitter while the live heap grew 3 KB). So a node trims its heap now and then, which gave
//! back part of it (33.1 → 30.6 MB after 300 WebRTC submitters, one run each).

use std::time::Duration;

/// How often a node trims its heap.
const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Trim the heap every [`TRIM_EVERY`], forever.
pub async fn trim_heap_periodically() {
    let mut ticks = tokio::time::interval(TRIM_EVERY);
    loop {
        ticks.tick().await;
        trim_heap();
    }
}

/// Return the free pages of every glibc arena to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_heap() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe { libc::malloc_trim(0) };
}

/// Other allocators (musl's, the BSDs', macOS's) give freed memory back on their own.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() {}
