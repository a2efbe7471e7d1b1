//! The sandbox worker: a child process of the node (the same executable, started with
//! [`WORKER_ENV`] set, an empty environment otherwise and an empty private working
//! directory) that confines itself ([`super::confine`]), then runs tasks one at a time,
//! under a heap limit, and that the node kills when a task overruns its time.

use std::io;
use std::sync::mpsc;

use pws_net::module::{ModuleBytes, ModuleHash};
use pws_net::protocol::{TaskRequest, TaskResponse};
use serde::{Deserialize, Serialize};

use super::confine::{self, Confinement};
use super::frame;
use crate::engine::EngineLimits;
use crate::runner::TaskRunner;
use crate::wasm::{LINEAR_MEMORY_ADDRESS_SPACE_BYTES, WasmLimits, WasmRunner};

/// Set (to the JSON [`WorkerConfig`]) in the environment of a worker process.
pub const WORKER_ENV: &str = "PWS_SANDBOX_WORKER";
/// Tasks run on a thread with a large stack so that deep nesting hits Boa's limits, not
/// the end of the stack (which still only kills the worker).
pub const TASK_STACK_BYTES: usize = 256 * 1024 * 1024;
/// Address space a worker needs besides its task stack and heap: the executable and its
/// libraries, and the 1 GiB arena mimalloc reserves up front (measured: 1.11 GiB).
const ENGINE_ADDRESS_SPACE_BYTES: u64 = 1536 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerConfig {
    pub engine: EngineLimits,
    /// Heap a task may use on top of the worker's own, in bytes (for a WebAssembly task:
    /// its linear memory).
    pub max_memory_bytes: usize,
}

impl WorkerConfig {
    /// The worker's `RLIMIT_AS`, a backstop behind the allocator's heap limit: twice the heap
    /// (mimalloc maps more than it hands out: a 256 MiB heap bomb peaked at 590 MiB more
    /// address space), the task stack, the engine, and a WebAssembly task's reservation.
    pub fn address_space_bytes(&self) -> u64 {
        (self.max_memory_bytes as u64)
            .saturating_mul(2)
            .saturating_add(TASK_STACK_BYTES as u64)
            .saturating_add(ENGINE_ADDRESS_SPACE_BYTES)
            .saturating_add(LINEAR_MEMORY_ADDRESS_SPACE_BYTES)
    }

    fn wasm_limits(&self) -> WasmLimits {
        WasmLimits {
            max_memory_bytes: self.max_memory_bytes,
            max_result_bytes: self.engine.max_result_bytes,
            max_log_bytes: self.engine.max_log_bytes,
        }
    }
}

/// What a worker writes to the node: once started, how it is confined; while a task runs,
/// progress, then the answer. Before running a WebAssembly module it has not compiled, it
/// asks for the module's bytes.
#[derive(Debug, Serialize, Deserialize)]
pub enum WorkerMessage {
    Ready(Confinement),
    Progress(f64),
    Done(TaskResponse),
    NeedModule,
}

/// What the node writes to a worker: a task (a WebAssembly one names its module by hash),
/// or the module a worker asked for.
#[derive(Debug, Serialize, Deserialize)]
pub enum WorkerInput {
    Task(TaskRequest),
    Module(ModuleBytes),
}

/// If this process was started as a sandbox worker, serve tasks and exit; otherwise return.
/// Every binary that can run a node calls this first thing in `main`, and declares
/// [`crate::memory::LimitedAllocator`] its global allocator.
pub fn run_if_requested() {
    let Some(config) = std::env::var_os(WORKER_ENV) else {
        return;
    };
    // The memory limit is enforced by the process's global allocator, which only a binary
    // can declare; a worker without it would run tasks with no memory limit at all.
    assert!(
        crate::memory::in_use() > 0,
        "sandbox workers need `#[global_allocator] static ALLOCATOR: \
         pws_node::memory::LimitedAllocator = pws_node::memory::LimitedAllocator;` in the \
         binary's main.rs"
    );
    let result = config
        .to_str()
        .ok_or_else(|| io::Error::other("the worker configuration is not UTF-8"))
        .and_then(|text| serde_json::from_str::<WorkerConfig>(text).map_err(io::Error::other))
        .and_then(|config| {
            run_confined(config.address_space_bytes(), move |confinement| {
                serve(config, confinement)
            })
        });
    std::process::exit(match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("sandbox worker: {e}");
            1
        }
    });
}

/// Confine this process, then run `work` on a thread with the task stack, once nothing
/// more can be confined, handing it what was enforced. Every sandbox worker starts this way
/// (and so does the test that proves the confinement from inside a worker).
pub fn run_confined<T: Send + 'static>(
    address_space_bytes: u64,
    work: impl FnOnce(Confinement) -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let mut confinement = confine::confine(address_space_bytes);
    let (confined, wait_confined) = mpsc::sync_channel(1);
    let thread = std::thread::Builder::new()
        .name("pws-sandbox".into())
        .stack_size(TASK_STACK_BYTES)
        .spawn(move || match wait_confined.recv() {
            Ok(confinement) => work(confinement),
            Err(_) => Err(io::Error::other("the worker was not confined")),
        })?;
    // The task thread was the last one: from now on there are no new threads or processes.
    confine::forbid_new_processes(&mut confinement);
    let _ = confined.send(confinement);
    thread
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the sandbox thread panicked")))
}

fn serve(config: WorkerConfig, confinement: Confinement) -> io::Result<()> {
    let mut wasm =
        WasmRunner::new(config.wasm_limits()).map_err(|e| io::Error::other(e.to_string()))?;
    let mut runner = TaskRunner::new(config.engine.clone(), config.max_memory_bytes);
    frame::write(&mut io::stdout().lock(), &WorkerMessage::Ready(confinement))?;
    let mut input = io::stdin().lock();
    while let Some(message) = frame::read::<WorkerInput>(&mut input)? {
        let WorkerInput::Task(task) = message else {
            return Err(io::Error::other("a module arrived that was not asked for"));
        };
        let response = match &task.wasm {
            Some(module) => run_wasm(&mut wasm, &mut input, module.sha256, &task)?,
            None => runner.run(&task, |fraction| {
                // A node that stopped reading will kill this worker; nothing to do here.
                let _ = frame::write(&mut io::stdout().lock(), &WorkerMessage::Progress(fraction));
            }),
        };
        frame::write(&mut io::stdout().lock(), &WorkerMessage::Done(response))?;
        // The context for the next task is built while waiting for it.
        runner.prepare();
    }
    Ok(())
}

/// Run a WebAssembly task, first asking the node for its module if it is not compiled here.
fn run_wasm(
    wasm: &mut WasmRunner,
    input: &mut impl io::Read,
    hash: ModuleHash,
    task: &TaskRequest,
) -> io::Result<TaskResponse> {
    let module = match wasm.compiled(&hash) {
        Some(module) => module,
        None => {
            frame::write(&mut io::stdout().lock(), &WorkerMessage::NeedModule)?;
            let Some(WorkerInput::Module(bytes)) = frame::read::<WorkerInput>(input)? else {
                return Err(io::Error::other(
                    "the node did not send the module asked for",
                ));
            };
            match wasm.compile(hash, &bytes.0) {
                Ok(module) => module,
                Err(error) => return Ok(error.into()),
            }
        }
    };
    Ok(wasm.run(&module, task.input.as_deref()))
}
