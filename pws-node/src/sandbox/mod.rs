//! The sandbox: tasks run in supervised worker processes, so a node survives any task.
//!
//! Boa enforces loop, recursion and stack limits itself, but nothing can interrupt native
//! work inside one built-in call (a catastrophic regex, a huge `repeat`), so the time limit
//! is enforced from outside: the node kills the worker. The memory limit is a heap cap inside
//! the worker ([`crate::memory`]). A killed or dead worker is replaced; no other task sees it.

mod frame;
mod process;
pub mod worker;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pws_net::executor::{Cancel, Executor, Progress, TaskFuture, time_limit};
use pws_net::protocol::{ErrorKind, TaskError, TaskRequest, TaskResponse};

use crate::engine::{ENGINE, EngineLimits};
use process::WorkerProcess;
use worker::WorkerConfig;

/// Limits a node applies to every task.
#[derive(Debug, Clone)]
pub struct SandboxLimits {
    /// Wall-clock time a task may run; a submitter may ask for less.
    pub max_time: Duration,
    /// Heap a task may use, in bytes.
    pub max_memory_bytes: usize,
    pub engine: EngineLimits,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            max_time: Duration::from_secs(30),
            max_memory_bytes: 256 * 1024 * 1024,
            engine: EngineLimits::default(),
        }
    }
}

/// A pool of sandbox workers. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    program: PathBuf,
    limits: SandboxLimits,
    config: WorkerConfig,
    idle: Mutex<Vec<WorkerProcess>>,
}

impl Sandbox {
    /// A pool whose workers are this executable, started with `workers` of them ready.
    /// The executable's `main` must call [`worker::run_if_requested`] first.
    pub fn start(limits: SandboxLimits, workers: usize) -> std::io::Result<Self> {
        let program = std::env::current_exe()?;
        let config = WorkerConfig {
            engine: limits.engine.clone(),
            max_memory_bytes: limits.max_memory_bytes,
        };
        let idle = (0..workers)
            .map(|_| WorkerProcess::spawn(&program, &config))
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self {
            inner: Arc::new(Inner {
                program,
                limits,
                config,
                idle: Mutex::new(idle),
            }),
        })
    }

    /// Run one task in a worker of the pool, within the node's limits, until it ends or
    /// `cancel` fires; the task's `progress()` calls go to `progress`.
    pub async fn run(&self, task: TaskRequest, cancel: Cancel, progress: Progress) -> TaskResponse {
        let inner = &self.inner;
        let time_limit = time_limit(&task, inner.limits.max_time);
        let mut worker = match self.take_worker() {
            Ok(worker) => worker,
            Err(e) => {
                return TaskError::new(
                    ErrorKind::Crashed,
                    format!("cannot start a sandbox worker: {e}"),
                )
                .into();
            }
        };
        match worker.run(&task, time_limit, cancel, &*progress).await {
            Ok(reply) => {
                self.inner.idle.lock().expect("pool lock").push(worker);
                reply.response
            }
            Err(error) => {
                drop(worker);
                self.replenish();
                error.into()
            }
        }
    }

    fn take_worker(&self) -> std::io::Result<WorkerProcess> {
        let idle = self.inner.idle.lock().expect("pool lock").pop();
        match idle {
            Some(worker) => Ok(worker),
            None => WorkerProcess::spawn(&self.inner.program, &self.inner.config),
        }
    }

    /// Start a replacement for a worker that was killed, so the next task finds one ready.
    fn replenish(&self) {
        match WorkerProcess::spawn(&self.inner.program, &self.inner.config) {
            Ok(worker) => self.inner.idle.lock().expect("pool lock").push(worker),
            Err(e) => tracing::warn!("cannot start a replacement sandbox worker: {e}"),
        }
    }
}

impl Executor for Sandbox {
    fn execute(&self, task: TaskRequest, cancel: Cancel, progress: Progress) -> TaskFuture {
        let sandbox = self.clone();
        Box::pin(async move { sandbox.run(task, cancel, progress).await })
    }

    fn engine(&self) -> String {
        ENGINE.to_string()
    }
}
