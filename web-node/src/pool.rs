//! The browser node's task workers (`www/worker.js`, one per slot) for the generic
//! [`Pool`]: a worker is terminated — and a fresh one started — when its task runs out of
//! time, is cancelled, or traps the wasm engine (heap or stack exhausted); the page never
//! blocks.

use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc;
use pws_net::protocol::{TaskRequest, TaskResponse, from_cbor, to_cbor};
use pws_node::executor::BoxedFuture;
use pws_node::pool::{Death, Pool, Worker};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, WorkerOptions, WorkerType};

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
        self.exchange(task, progress).await
    }

    fn engine(_: &PoolConfig) -> String {
        format!("{} (wasm)", pws_node::engine::ENGINE)
    }
}

/// One Web Worker with a loaded engine; terminated when dropped.
pub struct TaskWorker {
    worker: web_sys::Worker,
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
}

impl WorkerMessage {
    fn parse(data: &JsValue) -> Option<Self> {
        let field = |name: &str| js_sys::Reflect::get(data, &JsValue::from_str(name)).ok();
        if let Some(bytes) = field("done").filter(|v| !v.is_undefined()) {
            return Some(Self::Done(js_sys::Uint8Array::new(&bytes).to_vec()));
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
        let init = js_sys::Object::new();
        js_sys::Reflect::set(
            &init,
            &JsValue::from_str("maxMemory"),
            &JsValue::from_f64(config.max_memory_bytes as f64),
        )
        .map_err(|e| format!("{e:?}"))?;
        worker.post_message(&init).map_err(|e| format!("{e:?}"))?;
        let mut worker = Self {
            worker,
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

    /// Run one task. `Err` means the worker is unusable, and how it died.
    async fn exchange(
        &mut self,
        task: &TaskRequest,
        progress: &(dyn Fn(f64) + Send + Sync),
    ) -> Result<TaskResponse, Death> {
        let request = js_sys::Uint8Array::from(to_cbor(task).as_slice());
        self.worker
            .post_message(&request)
            .map_err(|e| Death::Crashed(format!("cannot reach the task worker: {e:?}")))?;
        while let Some(message) = self.messages.next().await {
            match message {
                WorkerMessage::Progress(fraction) => progress(fraction),
                WorkerMessage::Done(bytes) => {
                    return from_cbor::<TaskResponse>(&bytes)
                        .map_err(|e| Death::Crashed(format!("unreadable worker answer: {e}")));
                }
                WorkerMessage::Trapped { message, oom } => {
                    return Err(classify_trap(&message, oom));
                }
                WorkerMessage::Ready => {}
            }
        }
        Err(Death::Crashed("the task worker went away".into()))
    }
}

impl Drop for TaskWorker {
    fn drop(&mut self) {
        self.worker.set_onmessage(None);
        self.worker.set_onerror(None);
        self.worker.terminate();
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
