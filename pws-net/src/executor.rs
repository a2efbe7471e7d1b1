//! The one interface through which a node runs a task, whatever engine or sandbox is behind
//! it: the native node's sandboxed Boa implements it, and so does the browser node's.

use futures::channel::oneshot;

use std::time::Duration;

use crate::protocol::{ErrorKind, TaskError, TaskRequest, TaskResponse};

/// Sending `()` on the other end asks a running task to stop; dropping it does nothing.
pub type Cancel = oneshot::Receiver<()>;

/// Where a running task's `progress(fraction)` reports go.
pub type Progress = Box<dyn Fn(f64) + Send + Sync>;

/// A running task; natively it may move between threads, in a browser it stays on the page.
#[cfg(not(target_arch = "wasm32"))]
pub type TaskFuture = futures::future::BoxFuture<'static, TaskResponse>;
#[cfg(target_arch = "wasm32")]
pub type TaskFuture = futures::future::LocalBoxFuture<'static, TaskResponse>;

/// Resolves when cancellation is asked for; never when the sender is merely dropped.
pub async fn cancelled(cancel: Cancel) {
    if cancel.await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs tasks to completion. Implementations isolate tasks from each other and from the
/// host, enforce their limits, and turn every failure into a typed error answer; a task can
/// never take the node down with it.
pub trait Executor: 'static {
    /// Run one task; the future resolves with its answer. When `cancel` fires the task is
    /// stopped and its slot freed; the task's progress reports go to `progress`.
    fn execute(&self, task: TaskRequest, cancel: Cancel, progress: Progress) -> TaskFuture;

    /// The engine's name and version, announced in the node's status (e.g. `boa 0.22`).
    fn engine(&self) -> String;
}

/// The wall-clock time `task` may run: what its submitter asked for, at most `max_time`.
pub fn time_limit(task: &TaskRequest, max_time: Duration) -> Duration {
    task.timeout_ms
        .map(Duration::from_millis)
        .map_or(max_time, |asked| asked.min(max_time))
}

/// The answer of a task stopped at its time limit.
pub fn timed_out(limit: Duration) -> TaskError {
    TaskError::new(
        ErrorKind::Timeout,
        format!(
            "the task ran longer than {:.3} s and was stopped",
            limit.as_secs_f64()
        ),
    )
}

/// The answer of a task stopped because its submitter went away.
pub fn cancelled_by_submitter() -> TaskError {
    TaskError::new(
        ErrorKind::Rejected,
        "the task was cancelled: its submitter went away",
    )
}
