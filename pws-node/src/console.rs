//! `console.log` and friends for tasks: output is captured (not printed), capped per task
//! (each line counts its length plus one), and returned with the task's answer.

use std::cell::RefCell;

use boa_engine::object::ObjectInitializer;
use boa_engine::property::Attribute;
use boa_engine::{Context, JsResult, JsValue, NativeFunction, js_string};
use pws_net::protocol::MAX_LOG_LINES;

/// What one task has logged so far. Tasks run one at a time per thread.
struct Capture {
    lines: Vec<String>,
    bytes: usize,
    max_bytes: usize,
    truncated: bool,
}

thread_local! {
    static CAPTURE: RefCell<Capture> = const {
        RefCell::new(Capture { lines: Vec::new(), bytes: 0, max_bytes: 0, truncated: false })
    };
}

/// Add a `console` object whose methods all capture into this thread's buffer.
pub fn install(context: &mut Context) {
    let mut console = ObjectInitializer::new(context);
    for name in ["log", "info", "warn", "error", "debug"] {
        console.function(NativeFunction::from_fn_ptr(log), js_string!(name), 0);
    }
    let console = console.build();
    context
        .register_global_property(js_string!("console"), console, Attribute::all())
        .expect("a fresh context has no `console` yet");
}

/// Start capturing for a new task, keeping at most `max_bytes` of output.
pub fn start_capture(max_bytes: usize) {
    CAPTURE.with_borrow_mut(|capture| {
        *capture = Capture {
            lines: Vec::new(),
            bytes: 0,
            max_bytes,
            truncated: false,
        }
    });
}

/// The lines captured since [`start_capture`].
pub fn take_captured() -> Vec<String> {
    CAPTURE.with_borrow_mut(|capture| std::mem::take(&mut capture.lines))
}

fn log(_this: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let full = CAPTURE.with_borrow(|capture| capture.truncated);
    if full {
        return Ok(JsValue::undefined());
    }
    let line = args
        .iter()
        .map(|value| format_value(value, context))
        .collect::<Vec<_>>()
        .join(" ");
    // Every line costs at least a byte (its newline), or ten million empty lines would be
    // kept for free.
    let cost = line.len() + 1;
    CAPTURE.with_borrow_mut(|capture| {
        if capture.bytes + cost > capture.max_bytes {
            capture.truncated = true;
            capture.lines.push(format!(
                "[console output truncated at {} bytes]",
                capture.max_bytes
            ));
        } else if capture.lines.len() + 1 >= MAX_LOG_LINES {
            // Submitters refuse answers with more lines; the last one says why it stops.
            capture.truncated = true;
            capture.lines.push(format!(
                "[console output truncated at {MAX_LOG_LINES} lines]"
            ));
        } else {
            capture.bytes += cost;
            capture.lines.push(line);
        }
    });
    Ok(JsValue::undefined())
}

/// Strings as they are; everything else as JSON where it has a JSON form.
fn format_value(value: &JsValue, context: &mut Context) -> String {
    if let Some(string) = value.as_string() {
        return string.to_std_string_escaped();
    }
    match value.to_json(context) {
        Ok(Some(json)) if value.is_object() => json.to_string(),
        _ => value.display().to_string(),
    }
}
