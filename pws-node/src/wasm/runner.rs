//! WebAssembly tasks in a sandbox worker, on wasmtime. Memory is capped by the store
//! (growth past the cap fails inside the module and the task ends `out-of-memory`), the stack
//! by wasmtime's limit. Compiled modules are kept per worker by content hash.
//!
//! Time is not limited here: the node kills a worker whose task outlives its limit, as the
//! browser terminates its task's Web Worker. Wasmtime's own interruption (epoch or fuel)
//! checks at every loop header and function entry, which made call-heavy tasks up to 2.3×
//! slower; a killed worker only costs the next task a fresh worker and a recompile.

use hashlink::LruCache;
use pws_net::module::ModuleHash;
use pws_net::protocol::{TaskError, TaskResponse};
pub use wasmtime::Module;
use wasmtime::{Config, Engine, Linker, ResourceLimiter, Store, Trap};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;

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

/// Runs WebAssembly tasks one at a time, keeping their compiled modules.
pub struct WasmRunner {
    engine: Engine,
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
    pub fn new(limits: WasmLimits) -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config
            .max_wasm_stack(MAX_WASM_STACK_BYTES)
            // Copy-on-write initial memory needs memfd, which a confined worker avoids.
            .memory_init_cow(false);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
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
            Module::new(&self.engine, bytes).map_err(|e| not_compiled(format!("{e:#}")))?;
        self.modules.insert(hash, module.clone());
        Ok(module)
    }

    /// Run a compiled module with `input` on stdin, until it ends or the node kills the worker.
    pub fn run(&mut self, module: &Module, input: Option<&str>) -> TaskResponse {
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
        let mut store = Store::new(&self.engine, TaskState { wasi, memory });
        store.limiter(|state| &mut state.memory);
        let linker = &self.linker;
        let ended = self.runtime.block_on(async {
            let instance = linker.instantiate_async(&mut store, module).await?;
            let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
            start.call_async(&mut store, ()).await
        });
        Ended {
            stop: stop(ended),
            memory_refused: store.data().memory.refused,
            stdout: stdout.take(),
            stderr: stderr.take(),
        }
        .response(&self.limits)
    }
}

/// How wasmtime's result of `_start` stopped the module.
fn stop(result: wasmtime::Result<()>) -> Stop {
    let Err(error) = result else {
        return Stop::Finished;
    };
    match (
        error.downcast_ref::<I32Exit>(),
        error.downcast_ref::<Trap>(),
    ) {
        (Some(I32Exit(0)), _) => Stop::Finished,
        (Some(I32Exit(code)), _) => Stop::Exited(*code),
        (None, Some(Trap::StackOverflow)) => Stop::StackOverflow,
        (None, Some(trap)) => Stop::Trapped(format!("the module trapped: {trap}")),
        (None, None) => Stop::Trapped(format!("{error:#}")),
    }
}
