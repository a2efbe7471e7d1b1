//! The Boa executor: each task runs in a fresh `Context` (its own global object and
//! intrinsics, so nothing one task does is visible to the next) with Boa's runtime limits,
//! which JavaScript cannot catch.

use boa_engine::builtins::promise::PromiseState;
use boa_engine::error::{EngineError, RuntimeLimitError};
use boa_engine::{Context, JsError, JsObject, JsValue, Script, Source, js_string};
use pws_net::executor::Executor;
use pws_net::protocol::{ErrorKind, TaskError, TaskRequest, TaskResponse};

/// Limits applied to every task.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Iterations one loop may run before the task ends with `timeout`.
    pub loop_iterations: u64,
    /// Nested calls before the task ends with `stack`.
    pub recursion: usize,
    /// Largest JSON result sent back, in bytes.
    pub max_result_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            loop_iterations: 100_000_000,
            recursion: 4096,
            max_result_bytes: 8 * 1024 * 1024,
        }
    }
}

/// Runs tasks in Boa, one fresh context per task.
#[derive(Debug, Clone, Default)]
pub struct BoaExecutor {
    limits: Limits,
}

impl BoaExecutor {
    pub fn new(limits: Limits) -> Self {
        Self { limits }
    }
}

impl Executor for BoaExecutor {
    fn execute(&self, task: &TaskRequest) -> TaskResponse {
        let mut context = Context::default();
        let limits = context.runtime_limits_mut();
        limits.set_loop_iteration_limit(self.limits.loop_iterations);
        limits.set_recursion_limit(self.limits.recursion);
        match run(&mut context, task, &self.limits) {
            Ok(json) => TaskResponse::Ok(json),
            Err(error) => TaskResponse::Error(error),
        }
    }

    fn engine(&self) -> String {
        "boa 0.22".to_string()
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

fn run(context: &mut Context, task: &TaskRequest, limits: &Limits) -> Result<String, TaskError> {
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
        return Err(TaskError::new(
            ErrorKind::ResultTooLarge,
            format!(
                "the result is {} bytes; this node sends at most {}",
                text.len(),
                limits.max_result_bytes
            ),
        ));
    }
    Ok(text)
}

/// Evaluate the source as a function expression when it is one, else as a script.
fn evaluate(context: &mut Context, code: &str) -> Result<JsValue, TaskError> {
    let trimmed = code.trim().trim_end_matches(';');
    // The newlines keep a trailing `// comment` from swallowing the closing parenthesis.
    let as_expression = format!("(\n{trimmed}\n)");
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

    fn run_task(code: &str, input: Option<&str>) -> TaskResponse {
        let executor = BoaExecutor::new(Limits {
            loop_iterations: 1_000_000,
            ..Limits::default()
        });
        executor.execute(&TaskRequest {
            code: code.to_string(),
            input: input.map(str::to_string),
        })
    }

    fn ok(code: &str) -> String {
        match run_task(code, None) {
            TaskResponse::Ok(json) => json,
            TaskResponse::Error(e) => panic!("{code}: {e}"),
        }
    }

    fn error_kind(code: &str) -> ErrorKind {
        match run_task(code, None) {
            TaskResponse::Ok(json) => panic!("{code} returned {json}"),
            TaskResponse::Error(e) => e.kind,
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
        assert_eq!(result, TaskResponse::Ok("42".into()));
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
        assert_eq!(error_kind("10n"), ErrorKind::InvalidValue);
        assert_eq!(
            error_kind("let a = {}; a.a = a; a"),
            ErrorKind::InvalidValue
        );
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
        match run_task("function() { throw new Error('boom'); }", None) {
            TaskResponse::Error(e) => {
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
        let executor = BoaExecutor::default();
        let pollute = TaskRequest {
            code: "Object.prototype.polluted = 1; globalThis.leak = 2; 0".into(),
            input: None,
        };
        assert_eq!(executor.execute(&pollute), TaskResponse::Ok("0".into()));
        let check = TaskRequest {
            code: "[typeof ({}).polluted, typeof leak]".into(),
            input: None,
        };
        assert_eq!(
            executor.execute(&check),
            TaskResponse::Ok(r#"["undefined","undefined"]"#.into())
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
        let executor = BoaExecutor::new(Limits {
            max_result_bytes: 10,
            ..Limits::default()
        });
        let response = executor.execute(&TaskRequest {
            code: "'x'.repeat(100)".into(),
            input: None,
        });
        assert!(matches!(response, TaskResponse::Error(e) if e.kind == ErrorKind::ResultTooLarge));
    }
}
