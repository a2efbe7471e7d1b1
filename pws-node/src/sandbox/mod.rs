//! The sandbox: tasks run in supervised worker processes, so a node survives any task.
//!
//! Boa enforces loop, recursion and stack limits itself, but nothing can interrupt native
//! work inside one built-in call (a catastrophic regex, a huge `repeat`), so the time limit
//! is enforced from outside: the [`Pool`] drops the worker, which kills its process. The
//! memory limit is a heap cap inside the worker ([`crate::memory`]). A killed or dead worker
//! is replaced; no other task sees it.

pub mod confine;
// Public for the fuzz targets: both sides of a worker decode these frames.
pub mod frame;
mod process;
pub mod worker;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::EngineLimits;
use crate::pool::Pool;
use process::{WorkerProcess, WorkerSpawn};
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

/// A pool of sandbox worker processes. Cheap to clone; clones share the pool.
pub type Sandbox = Pool<WorkerProcess>;

/// A pool whose workers are this executable, started again, with `workers` of them started
/// ahead. The executable's `main` must call [`worker::run_if_requested`] first.
pub fn start(limits: SandboxLimits, workers: usize) -> std::io::Result<Sandbox> {
    let spawn = WorkerSpawn {
        program: std::env::current_exe()?,
        config: WorkerConfig {
            engine: limits.engine,
            max_memory_bytes: limits.max_memory_bytes,
        },
        dir: Arc::new(
            tempfile::Builder::new()
                .prefix("pws-sandbox-")
                .permissions(std::fs::Permissions::from_mode(0o700))
                .tempdir()?,
        ),
    };
    Ok(Pool::start(spawn, limits.max_time, workers))
}
