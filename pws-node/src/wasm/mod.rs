//! WebAssembly tasks in a sandbox worker, on wasmtime: a WASI preview 1 command reads the
//! task's input on stdin and writes its JSON result on stdout; stderr becomes its log. It
//! gets no files, no environment, no arguments but a program name and no sockets; clocks
//! and random are allowed. Memory is capped by the store (growth past the cap fails inside
//! the module and the task ends `out-of-memory`), time by epoch interruption ([`alarm`]),
//! the stack by wasmtime's limit. Compiled modules are kept per worker by content hash.

mod alarm;
mod pipes;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hashlink::LruCache;
use pws_net::module::ModuleHash;
use pws_net::protocol::{ErrorKind, MAX_LOG_LINES, Outcome, TaskError, TaskResponse};
use wasmtime::{Config, Engine, Linker, Module, ResourceLimiter, Store, Trap};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;

pub use alarm::Alarm;
use pipes::CappedPipe;

/// The WebAssembly engine, as a node announces it.
pub const WASM_ENGINE: &str = "wasmtime 48";
/// Address space a worker reserves for one task's linear memory: wasmtime's default 4 GiB
/// reservation and its guard pages, so that bounds checks are left to the hardware. Only
/// what the task touches becomes memory, and the store caps that.
pub const LINEAR_MEMORY_ADDRESS_SPACE_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// Compiled modules a worker keeps.
const CACHED_MODULES: usize = 8;
/// Most WebAssembly stack a task may use.
const MAX_WASM_STACK_BYTES: usize = 1024 * 1024;
/// Most table elements a task may have.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// A worker's WebAssembly engine and the alarm that interrupts its tasks; built before the
/// worker's last thread starts, since [`Alarm::ring`] needs a thread of its own.
#[derive(Clone)]
pub struct WasmEngine {
    engine: Engine,
    alarm: Arc<Alarm>,
}

impl WasmEngine {
    pub fn new() -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .max_wasm_stack(MAX_WASM_STACK_BYTES)
            // Copy-on-write initial memory needs memfd, which a confined worker avoids.
            .memory_init_cow(false);
        Ok(Self {
            engine: Engine::new(&config)?,
            alarm: Arc::default(),
        })
    }

    /// Interrupt the running task at each armed deadline, until [`WasmEngine::close`].
    pub fn ring(&self) {
        self.alarm.ring(|| self.engine.increment_epoch());
    }

    pub fn close(&self) {
        self.alarm.close();
    }
}

/// What a WebAssembly task may use.
#[derive(Debug, Clone, Copy)]
pub struct WasmLimits {
    pub max_memory_bytes: usize,
    pub max_result_bytes: usize,
    pub max_log_bytes: usize,
}

/// Runs WebAssembly tasks one at a time, keeping their compiled modules.
pub struct WasmRunner {
    engine: WasmEngine,
    linker: Linker<TaskState>,
    modules: LruCache<ModuleHash, Module>,
    limits: WasmLimits,
    /// WASI's host calls are async; a task runs inside this runtime, on the worker's thread.
    runtime: tokio::runtime::Runtime,
}

/// One task's store data.
struct TaskState {
    wasi: WasiP1Ctx,
    memory: MemoryCap,
}

/// Refuses memory growth past the cap (the module sees `memory.grow` fail) and remembers it.
struct MemoryCap {
    max_bytes: usize,
    refused: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.max_bytes;
        self.refused |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

impl WasmRunner {
    pub fn new(engine: WasmEngine, limits: WasmLimits) -> wasmtime::Result<Self> {
        let mut linker = Linker::new(&engine.engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state: &mut TaskState| {
            &mut state.wasi
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        Ok(Self {
            engine,
            linker,
            modules: LruCache::new(CACHED_MODULES),
            limits,
            runtime,
        })
    }

    /// Whether the module is compiled and kept here.
    pub fn has(&self, hash: &ModuleHash) -> bool {
        self.modules.contains_key(hash)
    }

    /// Compile a module and keep it. `Err`: it is not a module this node can run.
    pub fn compile(&mut self, hash: ModuleHash, bytes: &[u8]) -> Result<(), TaskError> {
        let module = Module::new(&self.engine.engine, bytes).map_err(|e| {
            TaskError::new(
                ErrorKind::Syntax,
                format!("the WebAssembly module does not compile: {e:#}"),
            )
        })?;
        self.modules.insert(hash, module);
        Ok(())
    }

    /// Run a compiled module ([`WasmRunner::compile`]) with `input` on stdin, for at most
    /// `limit`.
    pub fn run(&mut self, hash: &ModuleHash, input: Option<&str>, limit: Duration) -> TaskResponse {
        let Some(module) = self.modules.get(hash).cloned() else {
            return TaskResponse::error(
                ErrorKind::UnknownModule,
                format!("module {hash} is not compiled in this worker"),
            );
        };
        let stdout = CappedPipe::new(self.limits.max_result_bytes);
        let stderr = CappedPipe::new(self.limits.max_log_bytes);
        let wasi = wasmtime_wasi::WasiCtxBuilder::new()
            .stdin(MemoryInputPipe::new(input.unwrap_or_default().to_owned()))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .arg("task")
            .build_p1();
        let memory = MemoryCap {
            max_bytes: self.limits.max_memory_bytes,
            refused: false,
        };
        let mut store = Store::new(&self.engine.engine, TaskState { wasi, memory });
        store.limiter(|state| &mut state.memory);
        store.set_epoch_deadline(1);
        store.epoch_deadline_trap();
        self.engine.alarm.arm(Instant::now() + limit);
        let linker = &self.linker;
        let ended = self.runtime.block_on(async {
            let instance = linker.instantiate_async(&mut store, &module).await?;
            let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
            start.call_async(&mut store, ()).await
        });
        self.engine.alarm.disarm();
        let ended = Ended {
            error: ended.err(),
            memory_refused: store.data().memory.refused,
            stdout: stdout.take(),
            limit,
        };
        let (log, log_cut) = stderr.take();
        TaskResponse {
            outcome: ended.outcome(&self.limits),
            logs: log_lines(&log, log_cut, self.limits.max_log_bytes),
        }
    }
}

/// How a task's run ended, read as its answer.
struct Ended {
    error: Option<wasmtime::Error>,
    memory_refused: bool,
    stdout: (Vec<u8>, bool),
    limit: Duration,
}

impl Ended {
    fn outcome(self, limits: &WasmLimits) -> Outcome {
        let (stdout, stdout_overflowed) = self.stdout;
        let failed = |kind, message: String| Outcome::Error(TaskError::new(kind, message));
        if stdout_overflowed {
            return failed(
                ErrorKind::ResultTooLarge,
                format!(
                    "the module wrote more than the {} bytes a result may have",
                    limits.max_result_bytes
                ),
            );
        }
        if let Some(error) = self.error {
            match error.downcast_ref::<I32Exit>() {
                Some(I32Exit(0)) => {}
                Some(I32Exit(code)) => {
                    return failed(
                        ErrorKind::Thrown,
                        format!("the module exited with code {code}"),
                    );
                }
                None if self.memory_refused => {
                    return failed(
                        ErrorKind::OutOfMemory,
                        format!(
                            "the module needed more than the {} MiB of memory this node allows",
                            limits.max_memory_bytes / (1024 * 1024)
                        ),
                    );
                }
                None => return Outcome::Error(trapped(&error, self.limit)),
            }
        }
        json_result(&stdout)
    }
}

/// A trap (or a failure to link or start) as the task's error.
fn trapped(error: &wasmtime::Error, limit: Duration) -> TaskError {
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => crate::executor::timed_out(limit),
        Some(Trap::StackOverflow) => TaskError::new(
            ErrorKind::Stack,
            "the module overflowed its stack (nesting too deep)",
        ),
        Some(trap) => TaskError::new(ErrorKind::Thrown, format!("the module trapped: {trap}")),
        None => TaskError::new(ErrorKind::Thrown, format!("{error:#}")),
    }
}

/// The module's stdout as the task's result: JSON, written compactly on one line.
fn json_result(stdout: &[u8]) -> Outcome {
    match serde_json::from_slice::<serde_json::Value>(stdout) {
        Ok(value) => Outcome::Ok(value.to_string()),
        Err(e) if stdout.iter().all(u8::is_ascii_whitespace) => Outcome::Error(TaskError::new(
            ErrorKind::InvalidValue,
            format!("the module wrote no result on stdout (a result is JSON): {e}"),
        )),
        Err(e) => Outcome::Error(TaskError::new(
            ErrorKind::InvalidValue,
            format!("the module's stdout is not JSON: {e}"),
        )),
    }
}

/// stderr as log lines, at most [`MAX_LOG_LINES`]; the last says when the log was cut.
fn log_lines(log: &[u8], cut: bool, max_bytes: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(log);
    let mut lines: Vec<String> = text
        .lines()
        .take(MAX_LOG_LINES - 1)
        .map(str::to_owned)
        .collect();
    if cut {
        lines.push(format!("[stderr truncated at {max_bytes} bytes]"));
    } else if text.lines().count() >= MAX_LOG_LINES {
        lines.push(format!("[stderr truncated at {MAX_LOG_LINES} lines]"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_must_be_json_and_are_written_compactly() {
        assert_eq!(json_result(b"[1, 2]\n"), Outcome::Ok("[1,2]".into()));
        let kind = |outcome| match outcome {
            Outcome::Error(error) => Some(error.kind),
            Outcome::Ok(_) => None,
        };
        assert_eq!(kind(json_result(b"hello")), Some(ErrorKind::InvalidValue));
        assert_eq!(kind(json_result(b"")), Some(ErrorKind::InvalidValue));
    }

    #[test]
    fn long_logs_say_where_they_were_cut() {
        assert_eq!(log_lines(b"a\nb\n", false, 100), vec!["a", "b"]);
        let cut = log_lines(b"a\nb", true, 3);
        assert_eq!(cut.last().unwrap(), "[stderr truncated at 3 bytes]");
        let many = "x\n".repeat(MAX_LOG_LINES + 10);
        assert_eq!(
            log_lines(many.as_bytes(), false, usize::MAX).len(),
            MAX_LOG_LINES
        );
    }
}
