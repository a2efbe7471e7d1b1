//! The one interface through which a node runs a task, whatever engine or sandbox is behind
//! it: the native node's Boa executor implements it, and so will the browser node's.

use crate::protocol::{TaskRequest, TaskResponse};

/// Runs tasks to completion. Implementations isolate tasks from each other and from the
/// host, and turn every failure into a typed [`TaskResponse::Error`]; they never panic on a
/// task's behalf.
pub trait Executor: Send + Sync + 'static {
    /// Run one task on the calling thread (the node calls this off its network loop).
    fn execute(&self, task: &TaskRequest) -> TaskResponse;

    /// The engine's name and version, announced in the node's status (e.g. `boa 0.22`).
    fn engine(&self) -> String;
}
