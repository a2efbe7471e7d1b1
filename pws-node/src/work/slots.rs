//! The node's slots: how many requests run, how many tasks finished, and the status that
//! follows. A task takes a slot; so does a batch, whose tasks run one after another in it.

use pws_net::protocol::{NodeState, NodeStatus};

pub struct Slots {
    total: u32,
    running: u32,
    completed: u64,
    engine: String,
    wasm: Option<String>,
    browser: bool,
}

impl Slots {
    /// Slots of a node with these engines (`wasm`: its WebAssembly engine, if any).
    pub fn new(total: u32, engine: String, wasm: Option<String>, browser: bool) -> Self {
        Self {
            total,
            running: 0,
            completed: 0,
            engine,
            wasm,
            browser,
        }
    }

    pub fn runs_wasm(&self) -> bool {
        self.wasm.is_some()
    }

    pub fn total(&self) -> u32 {
        self.total
    }

    pub fn free(&self) -> u32 {
        self.total - self.running
    }

    /// Take a slot for a task or a batch; `false` when all are in use.
    pub fn try_take(&mut self) -> bool {
        let free = self.running < self.total;
        if free {
            self.running += 1;
        }
        free
    }

    /// Work left its slot, after running `tasks` tasks (with a result or an error).
    pub fn release(&mut self, tasks: u64) {
        self.running -= 1;
        self.completed += tasks;
    }

    pub fn status(&self) -> NodeStatus {
        NodeStatus {
            state: if self.running == 0 {
                NodeState::Idle
            } else {
                NodeState::Busy
            },
            free_slots: self.total - self.running,
            total_slots: self.total,
            completed: self.completed,
            version: env!("CARGO_PKG_VERSION").to_string(),
            engine: self.engine.clone(),
            wasm: self.wasm.clone(),
            addrs: Vec::new(),
            browser: self.browser,
            grant: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_fill_up_and_count_completions() {
        let mut slots = Slots::new(2, "test".into(), None, false);
        assert_eq!(slots.status().state, NodeState::Idle);
        assert!(slots.try_take() && slots.try_take());
        assert!(!slots.try_take());
        let full = slots.status();
        assert_eq!((full.state, full.free_slots), (NodeState::Busy, 0));
        slots.release(1);
        let status = slots.status();
        assert_eq!((status.free_slots, status.completed), (1, 1));
    }
}
