//! The `progress(fraction)` global: a task tells how far it has come. Reports go to this
//! thread's sink (the sandbox worker forwards them to the node, which tells the submitter).

use std::cell::RefCell;

use boa_engine::{Context, JsResult, JsValue, NativeFunction, js_string};

/// Receives a task's progress, a fraction between 0 and 1.
pub type Sink = Box<dyn FnMut(f64)>;

thread_local! {
    static SINK: RefCell<Option<Sink>> = const { RefCell::new(None) };
}

/// Add the `progress` global.
pub fn install(context: &mut Context) {
    context
        .register_global_callable(
            js_string!("progress"),
            1,
            NativeFunction::from_fn_ptr(progress),
        )
        .expect("a fresh context has no `progress` yet");
}

/// Send this thread's tasks' progress to `sink` (or nowhere, with `None`).
pub fn set_sink(sink: Option<Sink>) {
    SINK.with_borrow_mut(|current| *current = sink);
}

fn progress(_this: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let fraction = args
        .first()
        .map_or(Ok(f64::NAN), |value| value.to_number(context))?;
    if fraction.is_finite() {
        let fraction = fraction.clamp(0.0, 1.0);
        SINK.with_borrow_mut(|sink| {
            if let Some(sink) = sink {
                sink(fraction);
            }
        });
    }
    Ok(JsValue::undefined())
}
