//! WebAssembly tasks in a sandbox worker, on wasmtime. Memory is capped by the store
//! (growth past the cap fails inside the module and the task ends `out-of-memory`), time by
//! epoch interruption ([`Alarm`]), the stack by wasmtime's limit. Compiled modules are kept
//! per worker by content hash.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hashlink::LruCache;
use pws_net::module::ModuleHash;
use pws_net::protocol::{TaskError, TaskResponse};
pub use wasmtime::Module;
use wasmtime::{Config, Engine, Linker, ResourceLimiter, Store, Trap};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;

use super::alarm::Alarm;
use super::answer::{Ended, Stop, WasmLimits, not_compiled};
use super::pipes::CappedPipe;

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

    /// The module, if it is compiled and kept here.
    pub fn compiled(&mut self, hash: &ModuleHash) -> Option<Module> {
        self.modules.get(hash).cloned()
    }

    /// Compile a module and keep it. `Err`: it is not a module this node can run.
    pub fn compile(&mut self, hash: ModuleHash, bytes: &[u8]) -> Result<Module, TaskError> {
        let module =
            Module::new(&self.engine.engine, bytes).map_err(|e| not_compiled(format!("{e:#}")))?;
        self.modules.insert(hash, module.clone());
        Ok(module)
    }

    /// Run a compiled module with `input` on stdin, for at most `limit`.
    pub fn run(&mut self, module: &Module, input: Option<&str>, limit: Duration) -> TaskResponse {
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
            let instance = linker.instantiate_async(&mut store, module).await?;
            let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
            start.call_async(&mut store, ()).await
        });
        self.engine.alarm.disarm();
        Ended {
            stop: stop(ended, limit),
            memory_refused: store.data().memory.refused,
            stdout: stdout.take(),
            stderr: stderr.take(),
        }
        .response(&self.limits)
    }
}

/// How wasmtime's result of `_start` stopped the module.
fn stop(result: wasmtime::Result<()>, limit: Duration) -> Stop {
    let Err(error) = result else {
        return Stop::Finished;
    };
    match (
        error.downcast_ref::<I32Exit>(),
        error.downcast_ref::<Trap>(),
    ) {
        (Some(I32Exit(0)), _) => Stop::Finished,
        (Some(I32Exit(code)), _) => Stop::Exited(*code),
        (None, Some(Trap::Interrupt)) => Stop::TimedOut(limit),
        (None, Some(Trap::StackOverflow)) => Stop::StackOverflow,
        (None, Some(trap)) => Stop::Trapped(format!("the module trapped: {trap}")),
        (None, None) => Stop::Trapped(format!("{error:#}")),
    }
}
