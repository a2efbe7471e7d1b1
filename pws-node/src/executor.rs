//! The one interface through which a node runs a task, whatever engine or sandbox is behind
//! it (the native node's sandbox processes, the browser node's Web Workers), and the signal
//! that stops a running task early.

use std::time::Duration;

use futures::channel::oneshot;
use futures::future::{FutureExt, Shared};
use pws_net::protocol::{ErrorKind, TaskError, TaskRequest, TaskResponse};

/// Where a running task's `progress(fraction)` reports go.
pub type Progress = Box<dyn Fn(f64) + Send + Sync>;

/// A future that natively may move between threads; in a browser it stays on the page.
#[cfg(not(target_arch = "wasm32"))]
pub type BoxedFuture<T> = futures::future::BoxFuture<'static, T>;
#[cfg(target_arch = "wasm32")]
pub type BoxedFuture<T> = futures::future::LocalBoxFuture<'static, T>;

/// A running task.
pub type TaskFuture = BoxedFuture<TaskResponse>;

/// Natively `Send` (and `Sync`): what may move between (or be shared by) threads. In a
/// browser everything stays on one thread, so these ask for nothing.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send> MaybeSend for T {}
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSync: Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Sync> MaybeSync for T {}
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T> MaybeSend for T {}
#[cfg(target_arch = "wasm32")]
pub trait MaybeSync {}
#[cfg(target_arch = "wasm32")]
impl<T> MaybeSync for T {}

/// Runs tasks to completion. Implementations isolate tasks from each other and from the
/// host, enforce their limits, and turn every failure into a typed error answer; a task can
/// never take the node down with it. Clones share the same workers (a batch runs its tasks
/// through a clone).
pub trait Executor: Clone + MaybeSend + MaybeSync + 'static {
    /// Run one task; the future resolves with its answer. When `cancel` fires the task is
    /// stopped and answered with the cancellation's error; its progress reports go to
    /// `progress`.
    fn execute(&self, task: TaskRequest, cancel: Cancel, progress: Progress) -> TaskFuture;

    /// The engine's name and version, announced in the node's status (e.g. `boa 0.22`).
    fn engine(&self) -> String;

    /// The WebAssembly engine's, if the executor runs WebAssembly tasks (e.g. `wasmtime 48`).
    fn wasm_engine(&self) -> Option<String>;

    /// The wall-clock time `task` would be allowed to run.
    fn time_limit(&self, task: &TaskRequest) -> Duration;
}

/// Why work stops before it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The submitter's last connection closed: nobody would read the answer.
    SubmitterGone,
    /// The node is shutting down.
    Stopping,
}

impl CancelReason {
    /// The answer of a task stopped for this reason.
    pub fn error(self) -> TaskError {
        match self {
            CancelReason::SubmitterGone => TaskError::new(
                ErrorKind::Rejected,
                "the task was cancelled: its submitter went away",
            ),
            CancelReason::Stopping => TaskError::stopping(),
        }
    }
}

/// Fires at most once, with the reason; clones share the signal (all the tasks of a batch
/// stop together). Dropping the [`Trigger`] fires nothing.
#[derive(Clone)]
pub struct Cancel(Shared<oneshot::Receiver<CancelReason>>);

/// The other end of a [`Cancel`].
pub struct Trigger(oneshot::Sender<CancelReason>);

impl Cancel {
    pub fn new() -> (Trigger, Cancel) {
        let (trigger, cancel) = oneshot::channel();
        (Trigger(trigger), Cancel(cancel.shared()))
    }

    /// A signal that never fires, for work nobody can cancel.
    pub fn never() -> Cancel {
        Cancel::new().1
    }

    /// Resolves with the reason once fired; never if the trigger is dropped.
    pub async fn fired(self) -> CancelReason {
        match self.0.await {
            Ok(reason) => reason,
            Err(_) => std::future::pending().await,
        }
    }
}

impl Trigger {
    pub fn fire(self, reason: CancelReason) {
        let _ = self.0.send(reason);
    }
}

/// The shortest time limit a task gets, whatever its submitter asked: a task that is
/// stopped costs its worker, and starting another is far dearer than 10 ms.
pub const MIN_TIME: Duration = Duration::from_millis(10);

/// The wall-clock time `task` may run: what its submitter asked for, at least [`MIN_TIME`],
/// at most `max_time`.
pub fn time_limit(task: &TaskRequest, max_time: Duration) -> Duration {
    task.timeout_ms
        .map(Duration::from_millis)
        .map_or(max_time, |asked| asked.max(MIN_TIME).min(max_time))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limits_are_what_was_asked_within_bounds() {
        let max = Duration::from_secs(30);
        let asking = |ms| TaskRequest {
            timeout_ms: ms,
            ..TaskRequest::new("1")
        };
        assert_eq!(time_limit(&asking(None), max), max);
        assert_eq!(
            time_limit(&asking(Some(500)), max),
            Duration::from_millis(500)
        );
        assert_eq!(time_limit(&asking(Some(0)), max), MIN_TIME);
        assert_eq!(time_limit(&asking(Some(1)), max), MIN_TIME);
        assert_eq!(time_limit(&asking(Some(60_000)), max), max);
    }
}
