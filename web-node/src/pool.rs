//! The browser node's task workers (`www/worker.js`, one per slot) for the generic
//! [`Pool`]: a worker is terminated — and a fresh one started — when its task runs out of
//! time, is cancelled, or traps the wasm engine (heap or stack exhausted); the page never
//! blocks. A worker runs JavaScript tasks in Boa and WebAssembly tasks in the browser's own
//! engine; it asks for a module's bytes the first time it meets the module, and gets them
//! with their memory capped ([`module_cap`]).

use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc;
use pws_net::module::WasmModule;
use pws_net::protocol::{ErrorKind, TaskError, TaskRequest, TaskResponse, from_cbor, to_cbor};
use pws_node::EngineLimits;
use pws_node::executor::BoxedFuture;
use pws_node::pool::{Death, Pool, Worker};
use pws_node::wasm::WasmLimits;
use pws_node::wasm::answer::{Captured, Ended, Stop, not_compiled};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, WorkerOptions, WorkerType};

use crate::module_cap::{self, Refused};

/// The WebAssembly engine browser nodes announce.
const WASM_ENGINE: &str = "browser WebAssembly";

/// How the browser node starts its task workers.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// URL of `worker.js`.
    pub worker_url: String,
    pub max_memory_bytes: usize,
}

/// The browser node's executor: a pool of task Web Workers.
pub type WorkerPool = Pool<TaskWorker>;

/// A pool that starts `workers` task workers at once; tasks may run for `max_time`.
pub fn start(config: PoolConfig, max_time: Duration, workers: usize) -> WorkerPool {
    Pool::start(config, max_time, workers)
}

impl Worker for TaskWorker {
    type Config = PoolConfig;

    fn start(config: &PoolConfig) -> BoxedFuture<Result<Self, String>> {
        Box::pin(Self::start(config.clone()))
    }

    async fn run(
        &mut self,
        task: &TaskRequest,
        progress: &(dyn Fn(f64) + Send + Sync),
    ) -> Result<TaskResponse, Death> {
        match &task.wasm {
            Some(module) => self.run_wasm(task, module).await,
            None => self.run_javascript(task, progress).await,
        }
    }

    fn engine(_: &PoolConfig) -> String {
        format!("{} (wasm)", pws_node::engine::ENGINE)
    }

    fn wasm_engine(_: &PoolConfig) -> Option<String> {
        Some(WASM_ENGINE.into())
    }
}

/// One Web Worker with a loaded engine; terminated when dropped.
pub struct TaskWorker {
    worker: web_sys::Worker,
    wasm_limits: WasmLimits,
    messages: mpsc::UnboundedReceiver<WorkerMessage>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::ErrorEvent)>,
}

/// What a worker says, as `worker.js` posts it.
enum WorkerMessage {
    Ready,
    Progress(f64),
    Done(Vec<u8>),
    Trapped { message: String, oom: bool },
    NeedModule,
    Ended(Ended),
    NotCompiled(String),
}

/// A field of a message object, if it is there.
fn field(object: &JsValue, name: &str) -> Option<JsValue> {
    js_sys::Reflect::get(object, &JsValue::from_str(name))
        .ok()
        .filter(|v| !v.is_undefined())
}

impl WorkerMessage {
    fn parse(data: &JsValue) -> Option<Self> {
        let field = |name: &str| field(data, name);
        if let Some(bytes) = field("done") {
            return Some(Self::Done(js_sys::Uint8Array::new(&bytes).to_vec()));
        }
        if let Some(ended) = field("ended") {
            return Some(Self::Ended(parse_ended(&ended)));
        }
        if let Some(message) = field("notCompiled").and_then(|v| v.as_string()) {
            return Some(Self::NotCompiled(message));
        }
        if field("needModule").is_some() {
            return Some(Self::NeedModule);
        }
        if let Some(fraction) = field("progress").and_then(|v| v.as_f64()) {
            return Some(Self::Progress(fraction));
        }
        if let Some(message) = field("trapped").and_then(|v| v.as_string()) {
            let oom = field("oom").and_then(|v| v.as_bool()).unwrap_or(false);
            return Some(Self::Trapped { message, oom });
        }
        field("ready")
            .filter(|v| v.is_truthy())
            .map(|_| Self::Ready)
    }
}

impl TaskWorker {
    /// Start a worker and wait until its engine is loaded.
    async fn start(config: PoolConfig) -> Result<Self, String> {
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        let worker = web_sys::Worker::new_with_options(&config.worker_url, &options)
            .map_err(|e| format!("{e:?}"))?;
        let (tx, messages) = mpsc::unbounded();
        let on_message = {
            let tx = tx.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                if let Some(message) = WorkerMessage::parse(&event.data()) {
                    let _ = tx.unbounded_send(message);
                }
            })
        };
        // An error event (a script that failed to load, an uncaught exception) ends the
        // worker's usefulness like a trap does.
        let on_error =
            Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |event: web_sys::ErrorEvent| {
                let _ = tx.unbounded_send(WorkerMessage::Trapped {
                    message: event.message(),
                    oom: false,
                });
            });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let init = object(&[(
            "maxMemory",
            JsValue::from_f64(config.max_memory_bytes as f64),
        )]);
        worker.post_message(&init).map_err(|e| format!("{e:?}"))?;
        let engine = EngineLimits::default();
        let mut worker = Self {
            worker,
            wasm_limits: WasmLimits {
                max_memory_bytes: config.max_memory_bytes,
                max_result_bytes: engine.max_result_bytes,
                max_log_bytes: engine.max_log_bytes,
            },
            messages,
            _on_message: on_message,
            _on_error: on_error,
        };
        match worker.messages.next().await {
            Some(WorkerMessage::Ready) => Ok(worker),
            Some(WorkerMessage::Trapped { message, .. }) => Err(message),
            _ => Err("the worker stopped before it was ready".into()),
        }
    }

    /// Run one JavaScript task. `Err` means the worker is unusable, and how it died.
    async fn run_javascript(
        &mut self,
        task: &TaskRequest,
        progress: &(dyn Fn(f64) + Send + Sync),
    ) -> Result<TaskResponse, Death> {
        let request = js_sys::Uint8Array::from(to_cbor(task).as_slice());
        self.post(&request, None)?;
        loop {
            match self.next_message().await? {
                WorkerMessage::Progress(fraction) => progress(fraction),
                WorkerMessage::Done(bytes) => {
                    return from_cbor::<TaskResponse>(&bytes)
                        .map_err(|e| Death::Crashed(format!("unreadable worker answer: {e}")));
                }
                _ => {}
            }
        }
    }

    /// The worker's next message; a trap, or the worker's end, is its death.
    async fn next_message(&mut self) -> Result<WorkerMessage, Death> {
        match self.messages.next().await {
            Some(WorkerMessage::Trapped { message, oom }) => Err(classify_trap(&message, oom)),
            Some(message) => Ok(message),
            None => Err(Death::Crashed("the task worker went away".into())),
        }
    }

    /// Run one WebAssembly task, sending the module (capped) if the worker asks for it.
    async fn run_wasm(
        &mut self,
        task: &TaskRequest,
        module: &WasmModule,
    ) -> Result<TaskResponse, Death> {
        let limits = &self.wasm_limits;
        let request = object(&[
            ("hash", JsValue::from_str(&module.sha256.to_string())),
            (
                "input",
                JsValue::from_str(task.input.as_deref().unwrap_or("")),
            ),
            (
                "maxResultBytes",
                JsValue::from_f64(limits.max_result_bytes as f64),
            ),
            (
                "maxLogBytes",
                JsValue::from_f64(limits.max_log_bytes as f64),
            ),
        ]);
        self.post(&object(&[("wasm", request)]), None)?;
        loop {
            match self.next_message().await? {
                WorkerMessage::NeedModule => match self.capped(module) {
                    Ok(bytes) => {
                        let buffer = bytes.buffer();
                        self.post(&object(&[("module", bytes.into())]), Some(buffer))?;
                    }
                    Err(error) => {
                        self.post(&object(&[("module", JsValue::NULL)]), None)?;
                        return Ok(error.into());
                    }
                },
                WorkerMessage::Ended(ended) => return Ok(ended.response(&self.wasm_limits)),
                WorkerMessage::NotCompiled(reason) => return Ok(not_compiled(reason).into()),
                _ => {}
            }
        }
    }

    /// The module's bytes as the worker compiles them: with the node's memory limit.
    fn capped(&self, module: &WasmModule) -> Result<js_sys::Uint8Array, TaskError> {
        let bytes = module.bytes.as_ref().ok_or_else(|| {
            TaskError::new(ErrorKind::UnknownModule, "the module's bytes are not here")
        })?;
        let max_memory = self.wasm_limits.max_memory_bytes;
        match module_cap::cap_memory(&bytes.0, max_memory) {
            Ok(capped) => Ok(js_sys::Uint8Array::from(capped.as_slice())),
            Err(Refused::Invalid(reason)) => Err(not_compiled(reason)),
            Err(Refused::TooLarge) => Err(TaskError::new(
                ErrorKind::OutOfMemory,
                format!(
                    "the module starts with more than the {} MiB of memory this node allows",
                    max_memory / (1024 * 1024)
                ),
            )),
        }
    }

    /// Post a message to the worker, handing over `transfer` (the sender loses it).
    fn post(&self, message: &JsValue, transfer: Option<js_sys::ArrayBuffer>) -> Result<(), Death> {
        let sent = match transfer {
            Some(buffer) => self
                .worker
                .post_message_with_transfer(message, &js_sys::Array::of1(&buffer)),
            None => self.worker.post_message(message),
        };
        sent.map_err(|e| Death::Crashed(format!("cannot reach the task worker: {e:?}")))
    }
}

/// A plain object with these fields.
fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let object = js_sys::Object::new();
    for (name, value) in fields {
        // Setting a field of a fresh plain object cannot fail.
        let _ = js_sys::Reflect::set(&object, &JsValue::from_str(name), value);
    }
    object.into()
}

impl Drop for TaskWorker {
    fn drop(&mut self) {
        self.worker.set_onmessage(None);
        self.worker.set_onerror(None);
        self.worker.terminate();
    }
}

/// How a WebAssembly task ended, as `wasi.js` tells it.
fn parse_ended(ended: &JsValue) -> Ended {
    let text = |name| field(ended, name).and_then(|v| v.as_string());
    let flag = |name| field(ended, name).is_some_and(|v| v.is_truthy());
    let captured = |bytes, cut| Captured {
        bytes: field(ended, bytes)
            .map(|v| js_sys::Uint8Array::new(&v).to_vec())
            .unwrap_or_default(),
        overflowed: flag(cut),
    };
    let stop = match text("stop").as_deref() {
        Some("finished") => Stop::Finished,
        Some("exited") => Stop::Exited(
            field(ended, "code")
                .and_then(|v| v.as_f64())
                .map_or(-1, |code| code as i32),
        ),
        Some("stack") => Stop::StackOverflow,
        _ => Stop::Trapped(text("message").unwrap_or_else(|| "the module trapped".into())),
    };
    Ended {
        stop,
        memory_refused: flag("refused"),
        stdout: captured("stdout", "stdoutCut"),
        stderr: captured("stderr", "stderrCut"),
    }
}

/// Name the cause of a trap the way native nodes name a worker's death.
fn classify_trap(message: &str, oom: bool) -> Death {
    if oom {
        Death::OutOfMemory
    } else if message.contains("call stack") || message.contains("out of bounds") {
        // A wasm call chain too deep for the browser, or Rust's stack running past the start
        // of linear memory.
        Death::StackOverflow
    } else {
        Death::Crashed(format!("the task worker died: {message}"))
    }
}
