//! Entry points of a task worker (`www/worker.js`): a Web Worker holding one Boa engine that
//! runs the page's tasks one at a time. The page terminates the worker when a task runs out
//! of time or is cancelled; a task that exhausts the heap or the stack traps the worker,
//! which then tells the page what it knows ([`worker_memory_refused`] and the trap's message)
//! and is replaced.

use std::cell::RefCell;

use pws_net::protocol::{ErrorKind, TaskRequest, TaskResponse, from_cbor, to_cbor};
use pws_node::EngineLimits;
use pws_node::runner::TaskRunner;
use wasm_bindgen::prelude::*;

thread_local! {
    static RUNNER: RefCell<Option<TaskRunner>> = const { RefCell::new(None) };
}

/// Set the worker up: build the first context and cap the heap tasks may use.
#[wasm_bindgen]
pub fn worker_init(max_memory_bytes: usize) {
    console_error_panic_hook::set_once();
    let runner = TaskRunner::new(EngineLimits::default(), max_memory_bytes);
    RUNNER.with_borrow_mut(|slot| *slot = Some(runner));
}

/// Run one task (a CBOR `TaskRequest`) and return its CBOR `TaskResponse`; `progress` is
/// called with the task's progress fractions.
#[wasm_bindgen]
pub fn worker_run(request: &[u8], progress: js_sys::Function) -> Vec<u8> {
    let response = match from_cbor::<TaskRequest>(request) {
        Ok(task) => RUNNER.with_borrow_mut(|runner| {
            let runner = runner.as_mut().expect("worker_init runs first");
            runner.run(&task, move |fraction| {
                let _ = progress.call1(&JsValue::NULL, &JsValue::from_f64(fraction));
            })
        }),
        Err(e) => TaskResponse::error(ErrorKind::Crashed, format!("malformed task: {e}")),
    };
    to_cbor(&response)
}

/// Build the next task's context while the worker waits (after the answer left).
#[wasm_bindgen]
pub fn worker_prepare() {
    RUNNER.with_borrow_mut(|runner| {
        if let Some(runner) = runner {
            runner.prepare();
        }
    });
}

/// Whether an allocation was refused: asked after a task trapped the worker, to tell a
/// memory bomb from other crashes. Allocates nothing, since the trapped heap is suspect.
#[wasm_bindgen]
pub fn worker_memory_refused() -> bool {
    pws_node::memory::take_refused()
}
