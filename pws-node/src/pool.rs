//! A pool of task workers, whatever a worker is (a sandbox process natively, a Web Worker in
//! a browser): tasks take an idle worker (or start one), the time limit and cancellation are
//! enforced here, and a worker that overran, was cancelled or died is dropped — which ends
//! it — and replaced in the background, so no other task ever sees it. Worker starts are
//! rate-limited ([`StartBudget`]): tasks that kill their worker again and again cannot make
//! the node spend its time starting workers.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use prometheus_client::metrics::counter::Counter;
use pws_net::protocol::{ErrorKind, TaskError, TaskRequest, TaskResponse};
use pws_net::rt;
use web_time::Instant;

use crate::executor::{
    BoxedFuture, Cancel, Executor, MaybeSend, MaybeSync, Progress, TaskFuture, time_limit,
    timed_out,
};

/// One isolated worker that runs one task at a time. Dropping it ends it.
pub trait Worker: MaybeSend + Sized + 'static {
    /// What starting a worker takes.
    type Config: MaybeSend + MaybeSync + 'static;

    /// Start a worker; resolves once it is ready for a task.
    fn start(config: &Self::Config) -> BoxedFuture<Result<Self, String>>;

    /// Run one task to its answer. `Err` means the worker is unusable (it died) and says how.
    fn run<'a>(
        &'a mut self,
        task: &'a TaskRequest,
        progress: &'a (dyn Fn(f64) + Send + Sync),
    ) -> impl Future<Output = Result<TaskResponse, Death>> + MaybeSend + 'a;

    /// The engine the workers run, for the node's status.
    fn engine(config: &Self::Config) -> String;

    /// The WebAssembly engine the workers run, if any.
    fn wasm_engine(_config: &Self::Config) -> Option<String> {
        None
    }
}

/// How a worker died, as its kind of worker tells it.
#[derive(Debug, PartialEq)]
pub enum Death {
    /// The task needed more memory than the worker may use.
    OutOfMemory,
    /// The task nested deeper than the engine's stack.
    StackOverflow,
    /// Anything else, in the worker's own words.
    Crashed(String),
}

impl From<Death> for TaskError {
    fn from(death: Death) -> Self {
        match death {
            Death::OutOfMemory => TaskError::new(
                ErrorKind::OutOfMemory,
                "the task needed more memory than this node allows",
            ),
            Death::StackOverflow => TaskError::new(
                ErrorKind::Stack,
                "the task overflowed the engine's stack (nesting too deep)",
            ),
            Death::Crashed(how) => TaskError::new(ErrorKind::Crashed, how),
        }
    }
}

/// A pool of workers of one kind. Cheap to clone; clones share the pool.
pub struct Pool<W: Worker> {
    inner: Arc<Inner<W>>,
}

impl<W: Worker> Clone for Pool<W> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<W: Worker> {
    config: W::Config,
    /// Wall-clock time a task may run; a submitter may ask for less.
    max_time: Duration,
    idle: Mutex<Vec<W>>,
    starts: Mutex<StartBudget>,
    /// Workers dropped and replaced (a task overran, was cancelled or killed its worker).
    restarts: Counter,
}

/// Worker starts a pool may make per second once its burst is spent.
const STARTS_PER_SECOND: f64 = 20.0;

/// A token bucket for worker starts: a burst of one per worker the pool keeps, refilled at
/// [`STARTS_PER_SECOND`]. A start beyond it waits its turn.
struct StartBudget {
    /// Starts available now; negative when starts are queued.
    tokens: f64,
    burst: f64,
    refilled: Instant,
}

impl StartBudget {
    fn new(burst: usize) -> Self {
        let burst = burst.max(1) as f64;
        Self {
            tokens: burst,
            burst,
            refilled: Instant::now(),
        }
    }

    /// Take a start; returns how long to wait before making it.
    fn take(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * STARTS_PER_SECOND).min(self.burst);
        self.refilled = now;
        self.tokens -= 1.0;
        Duration::from_secs_f64((-self.tokens).max(0.0) / STARTS_PER_SECOND)
    }
}

impl<W: Worker> Pool<W> {
    /// A pool that starts `workers` workers in the background, so the first tasks find them
    /// ready.
    pub fn start(config: W::Config, max_time: Duration, workers: usize) -> Self {
        let pool = Self {
            inner: Arc::new(Inner {
                config,
                max_time,
                idle: Mutex::default(),
                starts: Mutex::new(StartBudget::new(workers)),
                restarts: Counter::default(),
            }),
        };
        for _ in 0..workers {
            pool.replenish();
        }
        pool
    }

    /// Run one task in a worker of the pool, within the time limit, until it ends or
    /// `cancel` fires; the task's `progress()` calls go to `progress`.
    pub async fn run(&self, task: TaskRequest, cancel: Cancel, progress: Progress) -> TaskResponse {
        let mut worker = match self.take_worker().await {
            Ok(worker) => worker,
            Err(e) => {
                let error = TaskError::new(
                    ErrorKind::Crashed,
                    format!("cannot start a task worker: {e}"),
                );
                return error.into();
            }
        };
        let limit = time_limit(&task, self.inner.max_time);
        let outcome = futures::select! {
            answer = worker.run(&task, &*progress).fuse() => answer.map_err(TaskError::from),
            () = rt::sleep(limit).fuse() => Err(timed_out(limit)),
            reason = cancel.fired().fuse() => Err(reason.error()),
        };
        match outcome {
            Ok(response) => {
                self.inner.idle.lock().expect("pool lock").push(worker);
                response
            }
            Err(error) => {
                drop(worker);
                self.inner.restarts.inc();
                self.replenish();
                error.into()
            }
        }
    }

    /// How many workers were replaced so far (a live count: it goes on counting).
    pub fn restarts(&self) -> Counter {
        self.inner.restarts.clone()
    }

    async fn take_worker(&self) -> Result<W, String> {
        let idle = self.inner.idle.lock().expect("pool lock").pop();
        match idle {
            Some(worker) => Ok(worker),
            None => self.inner.start().await,
        }
    }

    /// Start a worker in the background and keep it for the next task.
    fn replenish(&self) {
        let inner = self.inner.clone();
        rt::spawn(async move {
            match inner.start().await {
                Ok(worker) => inner.idle.lock().expect("pool lock").push(worker),
                Err(e) => tracing::warn!("cannot start a task worker: {e}"),
            }
        });
    }
}

impl<W: Worker> Inner<W> {
    /// Start a worker when the start budget allows.
    async fn start(&self) -> Result<W, String> {
        let wait = self.starts.lock().expect("pool lock").take(Instant::now());
        if !wait.is_zero() {
            rt::sleep(wait).await;
        }
        W::start(&self.config).await
    }
}

impl<W: Worker> Executor for Pool<W> {
    fn execute(&self, task: TaskRequest, cancel: Cancel, progress: Progress) -> TaskFuture {
        let pool = self.clone();
        Box::pin(async move { pool.run(task, cancel, progress).await })
    }

    fn engine(&self) -> String {
        W::engine(&self.inner.config)
    }

    fn wasm_engine(&self) -> Option<String> {
        W::wasm_engine(&self.inner.config)
    }

    fn time_limit(&self, task: &TaskRequest) -> Duration {
        time_limit(task, self.inner.max_time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_starts_beyond_the_burst_wait_their_turn() {
        let now = Instant::now();
        let mut budget = StartBudget::new(2);
        assert_eq!(budget.take(now), Duration::ZERO);
        assert_eq!(budget.take(now), Duration::ZERO);
        let step = Duration::from_secs_f64(1.0 / STARTS_PER_SECOND);
        let close = |a: Duration, b: Duration| a.abs_diff(b) < Duration::from_micros(10);
        assert!(close(budget.take(now), step));
        assert!(
            close(budget.take(now), step * 2),
            "queued starts spread out"
        );
        // A second later the bucket is full again, never fuller than its burst.
        let later = now + Duration::from_secs(1);
        assert_eq!(budget.take(later), Duration::ZERO);
        assert_eq!(budget.take(later), Duration::ZERO);
        assert!(close(budget.take(later), step));
    }
}
