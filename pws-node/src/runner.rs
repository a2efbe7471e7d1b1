//! One task run the way every node runs it, in a sandbox worker process or in a browser's
//! Web Worker: a context no other task has used (the next one is built while the worker
//! idles), progress reports thinned out, and a refused allocation reported as
//! `out-of-memory` whatever error the engine saw.

use pws_net::protocol::{ErrorKind, Outcome, TaskError, TaskRequest, TaskResponse};
use web_time::{Duration, Instant};

use crate::engine::{Engine, EngineLimits, FreshContext};
use crate::{memory, progress};

/// Progress reports leave the worker at most this often (the last one always).
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

pub struct TaskRunner {
    engine: Engine,
    max_memory_bytes: usize,
    next: Option<FreshContext>,
}

impl TaskRunner {
    /// A runner whose tasks may use `max_memory_bytes` of heap on top of what the worker
    /// holds now (this process's allocator refuses more).
    pub fn new(limits: EngineLimits, max_memory_bytes: usize) -> Self {
        let engine = Engine::new(limits);
        let next = Some(engine.prepare());
        memory::set_limit(memory::in_use().saturating_add(max_memory_bytes));
        Self {
            engine,
            max_memory_bytes,
            next,
        }
    }

    /// Run one task; its progress goes to `report` (at most every 100 ms, and at 1.0).
    pub fn run(
        &mut self,
        task: &TaskRequest,
        mut report: impl FnMut(f64) + 'static,
    ) -> TaskResponse {
        let mut last_report: Option<Instant> = None;
        progress::set_sink(Some(Box::new(move |fraction| {
            let due = last_report.is_none_or(|at| at.elapsed() >= PROGRESS_INTERVAL);
            if due || fraction >= 1.0 {
                last_report = Some(Instant::now());
                report(fraction);
            }
        })));
        let context = self.next.take().unwrap_or_else(|| self.engine.prepare());
        let mut response = self.engine.run(context, task);
        progress::set_sink(None);
        // The task's context is garbage now and nothing else is alive: collecting here frees
        // it without tracing anything, where a collection the allocator triggers later, in the
        // middle of building the next context, would trace that context too.
        boa_engine::gc::force_collect();
        if memory::take_refused() && matches!(response.outcome, Outcome::Error(_)) {
            response.outcome = Outcome::Error(self.out_of_memory());
        }
        response
    }

    /// Build the next task's context now (call it once the answer is on its way).
    pub fn prepare(&mut self) {
        if self.next.is_none() {
            self.next = Some(self.engine.prepare());
        }
    }

    /// The error of a task that needed more heap than allowed.
    pub fn out_of_memory(&self) -> TaskError {
        TaskError::new(
            ErrorKind::OutOfMemory,
            format!(
                "the task needed more than the {} MiB of memory this node allows",
                self.max_memory_bytes / (1024 * 1024)
            ),
        )
    }
}
