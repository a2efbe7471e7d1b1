//! The Boa engine: each task runs in a fresh `Context` (its own global object and
//! intrinsics, so nothing one task does is visible to the next) with Boa's runtime limits,
//! which JavaScript cannot catch, and no module loader ([`NoModules`]). This runs inside a
//! sandbox worker process (see [`crate::sandbox`]), which adds the limits Boa cannot enforce
//! itself.

use std::cell::RefCell;
use std::rc::Rc;

use boa_engine::builtins::promise::PromiseState;
use boa_engine::context::ContextBuilder;
use boa_engine::error::{EngineError, RuntimeLimitError};
use boa_engine::module::{ModuleLoader, ModuleRequest, Referrer};
use boa_engine::{
    Context, JsError, JsNativeError, JsObject, JsResult, JsValue, Module, Script, Source, js_string,
};
use pws_net::protocol::{ErrorKind, Outcome, TaskError, TaskRequest, TaskResponse};
use serde::{Deserialize, Serialize};

use crate::console;

/// The engine's name and version, as nodes announce it.
pub const ENGINE: &str = "boa 0.22";

/// Limits the engine itself enforces on every task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineLimits {
    /// Iterations one loop may run before the task ends with `timeout`.
    pub loop_iterations: u64,
    /// Nested calls before the task ends with `stack`.
    pub recursion: usize,
    /// Largest JSON result sent back, in bytes.
    pub max_result_bytes: usize,
    /// Most bytes of `console` output kept per task.
    pub max_log_bytes: usize,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            // Boa also counts work inside some built-ins (`repeat`) as iterations; with the
            // sandbox's wall-clock limit this is only a backstop for very long time limits.
            loop_iterations: 1_000_000_000,
            recursion: 4096,
            max_result_bytes: 8 * 1024 * 1024,
            max_log_bytes: 64 * 1024,
        }
    }
}

/// Runs tasks in Boa, one fresh context per task.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    limits: EngineLimits,
}

/// A fresh context with limits and globals installed, built ahead of the task that uses it.
pub struct FreshContext(Context);

impl Engine {
    pub fn new(limits: EngineLimits) -> Self {
        Self { limits }
    }

    /// Build the context for the next task (about 0.3 ms; do it before the task arrives).
    pub fn prepare(&self) -> FreshContext {
        let mut context = ContextBuilder::new()
            .module_loader(Rc::new(NoModules))
            .build()
            .expect("a context with Boa's default hooks builds");
        let limits = context.runtime_limits_mut();
        limits.set_loop_iteration_limit(self.limits.loop_iterations);
        limits.set_recursion_limit(self.limits.recursion);
        console::install(&mut context);
        crate::progress::install(&mut context);
        FreshContext(context)
    }

    /// Run one task in a context that no other task has used.
    pub fn run(&self, FreshContext(mut context): FreshContext, task: &TaskRequest) -> TaskResponse {
        console::start_capture(self.limits.max_log_bytes);
        let outcome = match run(&mut context, task, &self.limits) {
            Ok(json) => Outcome::Ok(json),
            Err(mut error) => {
                truncate(&mut error.message, MAX_ERROR_MESSAGE_BYTES);
                Outcome::Error(error)
            }
        };
        TaskResponse {
            outcome,
            logs: console::take_captured(),
        }
    }
}

/// What every `import()` of a task fails with.
pub const NO_MODULES: &str = "modules cannot be loaded on this node";

/// The module loader of every task's context: it refuses every specifier with the same
/// message, so a task can neither read the node's files as modules nor learn from the error
/// whether a path exists. (A context built without a loader gets Boa's default one, which
/// loads files and JSON from the process's working directory.)
struct NoModules;

impl ModuleLoader for NoModules {
    fn load_imported_module(
        self: Rc<Self>,
        _referrer: Referrer,
        _request: ModuleRequest,
        _context: &RefCell<&mut Context>,
    ) -> impl Future<Output = JsResult<Module>> {
        std::future::ready(Err(JsNativeError::typ().with_message(NO_MODULES).into()))
    }
}

/// Longest error message sent back; a task may throw a string of any size.
const MAX_ERROR_MESSAGE_BYTES: usize = 4096;

fn truncate(message: &mut String, max_bytes: usize) {
    if message.len() > max_bytes {
        let mut end = max_bytes;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str("… [truncated]");
    }
}

/// `JSON.parse` and `JSON.stringify` as they were before the task ran: a task that replaces
/// them cannot change how its input is read or its result written.
struct Json {
    parse: JsObject,
    stringify: JsObject,
}

impl Json {
    fn capture(context: &mut Context) -> Self {
        let json = context.intrinsics().objects().json();
        let function = |name, context: &mut Context| {
            json.get(name, context)
                .ok()
                .and_then(|f| f.as_callable())
                .expect("JSON.parse and JSON.stringify are intrinsic functions")
        };
        Self {
            parse: function(js_string!("parse"), context),
            stringify: function(js_string!("stringify"), context),
        }
    }
}

fn run(
    context: &mut Context,
    task: &TaskRequest,
    limits: &EngineLimits,
) -> Result<String, TaskError> {
    let json = Json::capture(context);
    let input = match &task.input {
        Some(text) => Some(
            json.parse
                .call(
                    &JsValue::undefined(),
                    &[js_string!(text.as_str()).into()],
                    context,
                )
                .map_err(|e| {
                    TaskError::new(
                        ErrorKind::InvalidValue,
                        format!("the input is not valid JSON: {}", describe(&e, context)),
                    )
                })?,
        ),
        None => None,
    };
    let mut value = evaluate(context, &task.code)?;
    if let Some(function) = value.as_callable() {
        let args: Vec<JsValue> = input.into_iter().collect();
        value = function
            .call(&JsValue::undefined(), &args, context)
            .map_err(|e| runtime_error(e, context))?;
    }
    let value = settle(context, value)?;
    // Serialising a huge string costs many times its size; its length alone says it is
    // too large.
    if let Some(string) = value.as_string()
        && string.len() + 2 > limits.max_result_bytes
    {
        return Err(too_large(string.len() + 2, limits));
    }
    let text = json
        .stringify
        .call(&JsValue::undefined(), &[value], context)
        .map_err(|e| match classify_limit(&e) {
            Some(error) => error,
            None => TaskError::new(
                ErrorKind::InvalidValue,
                format!(
                    "the result cannot be converted to JSON: {}",
                    describe(&e, context)
                ),
            ),
        })?;
    // JSON.stringify gives `undefined` for undefined, functions and symbols.
    let text = text
        .as_string()
        .map_or_else(|| "null".to_string(), |s| s.to_std_string_escaped());
    if text.len() > limits.max_result_bytes {
        return Err(too_large(text.len(), limits));
    }
    Ok(text)
}

fn too_large(bytes: usize, limits: &EngineLimits) -> TaskError {
    TaskError::new(
        ErrorKind::ResultTooLarge,
        format!(
            "the result is at least {bytes} bytes of JSON; this node sends at most {}",
            limits.max_result_bytes
        ),
    )
}

/// Evaluate the source as a function expression when it is one, else as a script.
fn evaluate(context: &mut Context, code: &str) -> Result<JsValue, TaskError> {
    let trimmed = code.trim().trim_end_matches(';');
    // The newline keeps a trailing `// comment` from swallowing the closing parenthesis.
    let as_expression = format!("({trimmed}\n)");
    let script = match Script::parse(Source::from_bytes(&as_expression), None, context) {
        Ok(script) => script,
        Err(_) => Script::parse(Source::from_bytes(code), None, context)
            .map_err(|e| TaskError::new(ErrorKind::Syntax, describe(&e, context)))?,
    };
    script
        .evaluate(context)
        .map_err(|e| runtime_error(e, context))
}

/// A returned promise is awaited: the job queue runs until it settles.
fn settle(context: &mut Context, value: JsValue) -> Result<JsValue, TaskError> {
    let Some(promise) = value.as_promise() else {
        return Ok(value);
    };
    context.run_jobs().map_err(|e| runtime_error(e, context))?;
    match promise.state() {
        PromiseState::Fulfilled(value) => Ok(value),
        PromiseState::Rejected(reason) => Err(TaskError::new(
            ErrorKind::Thrown,
            format!(
                "the promise was rejected: {}",
                describe(&JsError::from_opaque(reason), context)
            ),
        )),
        PromiseState::Pending => Err(TaskError::new(
            ErrorKind::Timeout,
            "the returned promise never settled",
        )),
    }
}

fn runtime_error(error: JsError, context: &mut Context) -> TaskError {
    classify_limit(&error)
        .unwrap_or_else(|| TaskError::new(ErrorKind::Thrown, describe(&error, context)))
}

/// Boa's runtime limits surface as engine errors, which JavaScript cannot catch.
fn classify_limit(error: &JsError) -> Option<TaskError> {
    match error.as_engine()? {
        EngineError::RuntimeLimit(RuntimeLimitError::LoopIteration) => Some(TaskError::new(
            ErrorKind::Timeout,
            "the task ran past the loop iteration limit",
        )),
        EngineError::RuntimeLimit(_) => Some(TaskError::new(
            ErrorKind::Stack,
            "the task exceeded the recursion or stack limit",
        )),
        other => Some(TaskError::new(
            ErrorKind::Crashed,
            format!("the engine failed: {other}"),
        )),
    }
}

/// A readable message for anything JavaScript can throw.
fn describe(error: &JsError, context: &mut Context) -> String {
    match error.try_native(context) {
        Ok(native) => native.to_string(),
        Err(_) => match error.as_opaque() {
            // A thrown plain object reads best as JSON (`{"code":7}`, not `[object Object]`).
            Some(value) if value.is_object() => match value.to_json(context) {
                Ok(Some(json)) => json.to_string(),
                _ => value.display().to_string(),
            },
            Some(value) => value.to_string(context).map_or_else(
                |_| value.display().to_string(),
                |s| s.to_std_string_escaped(),
            ),
            None => error.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every global a task sees: ECMAScript's built-ins, `console` and `progress`. Nothing reaches the
    /// file system, network, processes or environment.
    const ALLOWED_GLOBALS: &[&str] = &[
        "AggregateError",
        "Array",
        "ArrayBuffer",
        "Atomics",
        "BigInt",
        "BigInt64Array",
        "BigUint64Array",
        "Boolean",
        "DataView",
        "Date",
        "Error",
        "EvalError",
        "FinalizationRegistry",
        "Float32Array",
        "Float64Array",
        "Function",
        "Infinity",
        "Int16Array",
        "Int32Array",
        "Int8Array",
        "Iterator",
        "JSON",
        "Map",
        "Math",
        "NaN",
        "Number",
        "Object",
        "Promise",
        "Proxy",
        "RangeError",
        "ReferenceError",
        "Reflect",
        "RegExp",
        "Set",
        "SharedArrayBuffer",
        "String",
        "Symbol",
        "SyntaxError",
        "TypeError",
        "TypedArray",
        "URIError",
        "Uint16Array",
        "Uint32Array",
        "Uint8Array",
        "Uint8ClampedArray",
        "WeakMap",
        "WeakRef",
        "WeakSet",
        "console",
        "decodeURI",
        "decodeURIComponent",
        "encodeURI",
        "encodeURIComponent",
        "eval",
        "globalThis",
        "isFinite",
        "isNaN",
        "parseFloat",
        "parseInt",
        "progress",
        "undefined",
    ];

    fn execute(engine: &Engine, task: &TaskRequest) -> Outcome {
        engine.run(engine.prepare(), task).outcome
    }

    fn run_task(code: &str, input: Option<&str>) -> Outcome {
        let engine = Engine::new(EngineLimits {
            loop_iterations: 1_000_000,
            ..EngineLimits::default()
        });
        let task = TaskRequest {
            input: input.map(str::to_string),
            ..TaskRequest::new(code)
        };
        execute(&engine, &task)
    }

    fn ok(code: &str) -> String {
        match run_task(code, None) {
            Outcome::Ok(json) => json,
            Outcome::Error(e) => panic!("{code}: {e}"),
        }
    }

    fn error_kind(code: &str) -> ErrorKind {
        match run_task(code, None) {
            Outcome::Ok(json) => panic!("{code} returned {json}"),
            Outcome::Error(e) => e.kind,
        }
    }

    #[test]
    fn the_original_examples() {
        assert_eq!(ok("function() { return 2 + 2; }"), "4");
        assert_eq!(
            ok("function() { let s = 0; for (let i = 0; i < 1000; i++) s += i; return s; }"),
            "499500"
        );
        assert_eq!(
            ok("function() { return [1, 2, 3, 4, 5].reduce((a, b) => a + b, 0); }"),
            "15"
        );
    }

    #[test]
    fn functions_receive_the_input() {
        let result = run_task("function(x) { return x.a * 2; }", Some(r#"{"a": 21}"#));
        assert_eq!(result, Outcome::Ok("42".into()));
    }

    #[test]
    fn scripts_return_their_completion_value() {
        assert_eq!(ok("let a = 20; a + 22;"), "42");
        assert_eq!(ok("(x) => 7 // trailing comment"), "7");
        assert_eq!(ok("function named() { return 1; };"), "1");
    }

    #[test]
    fn result_types_follow_json_stringify() {
        assert_eq!(ok("undefined"), "null");
        assert_eq!(ok("NaN"), "null");
        assert_eq!(ok("[1, undefined, () => 1]"), "[1,null,null]");
        assert_eq!(ok("({a: 1, f() {}})"), r#"{"a":1}"#);
        assert_eq!(ok("new Date(0)"), r#""1970-01-01T00:00:00.000Z""#);
        assert_eq!(ok("'h\"i'"), r#""h\"i""#);
        assert_eq!(ok("new Uint8Array([1, 2])"), r#"{"0":1,"1":2}"#);
        assert_eq!(ok("[Infinity, -0, 1e21]"), "[null,0,1e+21]");
        assert_eq!(ok("new Map([[1, 2]])"), "{}");
        assert_eq!(ok("({toJSON() { return 'custom'; }})"), r#""custom""#);
        assert_eq!(error_kind("10n"), ErrorKind::InvalidValue);
        assert_eq!(
            error_kind("let a = {}; a.a = a; a"),
            ErrorKind::InvalidValue
        );
    }

    #[test]
    fn huge_error_messages_are_truncated() {
        match run_task("throw 'x'.repeat(100000)", None) {
            Outcome::Error(e) => {
                assert!(e.message.len() < MAX_ERROR_MESSAGE_BYTES + 32);
                assert!(e.message.ends_with("[truncated]"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn promises_are_awaited() {
        assert_eq!(
            ok("async function() { return await Promise.resolve(5); }"),
            "5"
        );
        assert_eq!(
            error_kind("async function() { throw new Error('no'); }"),
            ErrorKind::Thrown
        );
        assert_eq!(error_kind("new Promise(() => {})"), ErrorKind::Timeout);
    }

    #[test]
    fn errors_are_typed() {
        assert_eq!(error_kind("function( {"), ErrorKind::Syntax);
        assert_eq!(error_kind("throw 42"), ErrorKind::Thrown);
        match run_task("throw {code: 7}", None) {
            Outcome::Error(e) => assert_eq!(e.message, r#"{"code":7}"#),
            other => panic!("{other:?}"),
        }
        match run_task("function() { throw new Error('boom'); }", None) {
            Outcome::Error(e) => {
                assert_eq!(e.kind, ErrorKind::Thrown);
                assert!(e.message.contains("boom"), "{}", e.message);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn limits_stop_runaway_tasks_and_cannot_be_caught() {
        assert_eq!(error_kind("while (true) {}"), ErrorKind::Timeout);
        assert_eq!(
            error_kind("try { for (;;) {} } catch (e) {} 1"),
            ErrorKind::Timeout
        );
        assert_eq!(
            error_kind("function f() { return f(); } f()"),
            ErrorKind::Stack
        );
        assert_eq!(
            error_kind("function f() { try { return f(); } catch (e) { return 0; } } f()"),
            ErrorKind::Stack
        );
    }

    #[test]
    fn tasks_are_isolated() {
        let engine = Engine::default();
        let pollute = TaskRequest::new("Object.prototype.polluted = 1; globalThis.leak = 2; 0");
        assert_eq!(execute(&engine, &pollute), Outcome::Ok("0".into()));
        let check = TaskRequest::new("[typeof ({}).polluted, typeof leak]");
        assert_eq!(
            execute(&engine, &check),
            Outcome::Ok(r#"["undefined","undefined"]"#.into())
        );
    }

    #[test]
    fn no_module_loads_and_the_error_does_not_tell_whether_a_file_exists() {
        // Unit tests run in the crate's directory, where Cargo.toml exists.
        assert!(std::path::Path::new("Cargo.toml").exists());
        let import = |specifier: &str| match run_task(
            &format!(
                "async function() {{ return (await import({specifier:?}, {{with: {{type: 'json'}}}})).default; }}"
            ),
            None,
        ) {
            Outcome::Error(e) => (e.kind, e.message),
            Outcome::Ok(json) => panic!("import({specifier}) returned {json}"),
        };
        let existing = import("./Cargo.toml");
        assert_eq!(existing.0, ErrorKind::Thrown);
        assert!(existing.1.contains(NO_MODULES), "{}", existing.1);
        for other in ["Cargo.toml", "./missing.json", "/etc/passwd", "../../x.js"] {
            assert_eq!(import(other), existing, "import({other})");
        }
        // A task is a script, where a static import is a syntax error.
        assert_eq!(
            error_kind("import x from './Cargo.toml'; x"),
            ErrorKind::Syntax
        );
    }

    #[test]
    fn replacing_json_does_not_change_the_result() {
        assert_eq!(
            ok("JSON.stringify = () => 'lies'; JSON.parse = null; [1]"),
            "[1]"
        );
    }

    #[test]
    fn oversized_results_are_refused() {
        let engine = Engine::new(EngineLimits {
            max_result_bytes: 10,
            ..EngineLimits::default()
        });
        let outcome = execute(&engine, &TaskRequest::new("'x'.repeat(100)"));
        assert!(matches!(outcome, Outcome::Error(e) if e.kind == ErrorKind::ResultTooLarge));
    }

    #[test]
    fn console_output_is_captured_and_capped() {
        let engine = Engine::new(EngineLimits {
            max_log_bytes: 64,
            ..EngineLimits::default()
        });
        let response = engine.run(
            engine.prepare(),
            &TaskRequest::new("console.log('a', 1, {b: 2}); console.error('e'); 0"),
        );
        assert_eq!(response.logs, ["a 1 {\"b\":2}", "e"]);
        let flood = engine.run(
            engine.prepare(),
            &TaskRequest::new("for (let i = 0; i < 1000; i++) console.log('line ' + i); 0"),
        );
        let total: usize = flood.logs.iter().map(String::len).sum();
        assert!(total <= 64 + 40, "{total} bytes kept");
        assert!(flood.logs.last().unwrap().contains("truncated"));
        let empty = engine.run(
            engine.prepare(),
            &TaskRequest::new("for (let i = 0; i < 1000; i++) console.log(); 0"),
        );
        assert_eq!(
            empty.logs.len(),
            64 + 1,
            "64 empty lines, then the truncation line"
        );
    }

    #[test]
    fn progress_reaches_the_sink_clamped() {
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let sink = seen.clone();
        crate::progress::set_sink(Some(Box::new(move |f| sink.borrow_mut().push(f))));
        assert_eq!(ok("progress(0.25); progress(7); progress('x'); 1"), "1");
        crate::progress::set_sink(None);
        assert_eq!(*seen.borrow(), [0.25, 1.0]);
    }

    #[test]
    fn the_global_environment_is_exactly_ecmascript_plus_console() {
        let names = ok("Object.getOwnPropertyNames(globalThis).sort()");
        let names: Vec<String> = serde_json::from_str(&names).unwrap();
        for forbidden in [
            "require",
            "process",
            "fetch",
            "XMLHttpRequest",
            "Deno",
            "Bun",
            "import",
            "setTimeout",
            "WebSocket",
            "module",
        ] {
            assert!(
                !names.iter().any(|n| n == forbidden),
                "{forbidden} is reachable"
            );
        }
        assert_eq!(
            names, ALLOWED_GLOBALS,
            "the set of globals changed; review it"
        );
    }
}
