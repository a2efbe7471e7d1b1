//! The node-wide memory budget (`--max-total-memory`): every slot may hold a worker at its
//! worst — the task's heap limit, a task stack touched to the end, the engine — and the node
//! keeps a reserve for itself, so `--slots` × that must fit.

use crate::sandbox::worker::TASK_STACK_BYTES;

const MIB: u64 = 1024 * 1024;
/// What a worker may hold besides its task heap: the task stack (all of it, if a task nests
/// deep enough) and the engine, allocator and executable (an idle worker is ~17 MiB; a
/// 256 MiB heap bomb peaked at 288 MiB).
pub const WORKER_OVERHEAD_BYTES: u64 = TASK_STACK_BYTES as u64 + 64 * MIB;
/// Kept for the node's own process: the network, its connections and answers in flight.
pub const NODE_RESERVE_BYTES: u64 = 256 * MIB;

/// The default budget: half of the machine's memory.
pub fn default_total_bytes() -> u64 {
    // SAFETY: sysconf takes a plain name and returns -1 when it has no answer.
    let (pages, page_size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let total = u64::try_from(pages).unwrap_or(0) * u64::try_from(page_size).unwrap_or(0);
    // Without an answer, room for one default slot.
    if total == 0 { 1024 * MIB } else { total / 2 }
}

/// What one slot costs at most, with a task heap limit of `max_memory_bytes`.
pub fn slot_bytes(max_memory_bytes: u64) -> u64 {
    max_memory_bytes.saturating_add(WORKER_OVERHEAD_BYTES)
}

/// How many slots fit in `total_bytes`.
pub fn slots_that_fit(total_bytes: u64, max_memory_bytes: u64) -> u64 {
    total_bytes.saturating_sub(NODE_RESERVE_BYTES) / slot_bytes(max_memory_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_fit_the_budget_with_the_node_reserve() {
        let per_slot = slot_bytes(64 * MIB);
        assert_eq!(per_slot, 384 * MIB);
        assert_eq!(slots_that_fit(1024 * MIB, 64 * MIB), 2);
        assert_eq!(slots_that_fit(1023 * MIB, 64 * MIB), 1);
        assert_eq!(slots_that_fit(256 * MIB, 64 * MIB), 0);
        assert!(default_total_bytes() >= 64 * MIB);
    }
}
