//! The one interface through which a node runs a task, whatever engine or sandbox is behind
//! it: the native node's sandboxed Boa implements it, and so will the browser node's.

use futures::channel::oneshot;
use futures::future::BoxFuture;

use crate::protocol::{TaskRequest, TaskResponse};

/// Sending `()` on the other end asks a running task to stop; dropping it does nothing.
pub type Cancel = oneshot::Receiver<()>;

/// Where a running task's `progress(fraction)` reports go.
pub type Progress = Box<dyn Fn(f64) + Send + Sync>;

/// Resolves when cancellation is asked for; never when the sender is merely dropped.
pub async fn cancelled(cancel: Cancel) {
    if cancel.await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs tasks to completion. Implementations isolate tasks from each other and from the
/// host, enforce their limits, and turn every failure into a typed error answer; a task can
/// never take the node down with it.
pub trait Executor: Send + Sync + 'static {
    /// Run one task; the future resolves with its answer. When `cancel` fires the task is
    /// stopped and its slot freed; the task's progress reports go to `progress`.
    fn execute(
        &self,
        task: TaskRequest,
        cancel: Cancel,
        progress: Progress,
    ) -> BoxFuture<'static, TaskResponse>;

    /// The engine's name and version, announced in the node's status (e.g. `boa 0.22`).
    fn engine(&self) -> String;
}
