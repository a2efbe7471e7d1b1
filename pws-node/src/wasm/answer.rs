//! How a WebAssembly task's run becomes its answer, whichever engine ran it (wasmtime in a
//! sandbox worker, the browser's engine in a Web Worker): stdout must be JSON and is the
//! result, stderr is the log, an exit code, a trap or a refused memory growth is a typed
//! error.

use pws_net::protocol::{ErrorKind, MAX_LOG_LINES, Outcome, TaskError, TaskResponse};

/// What a WebAssembly task may use.
#[derive(Debug, Clone, Copy)]
pub struct WasmLimits {
    pub max_memory_bytes: usize,
    pub max_result_bytes: usize,
    pub max_log_bytes: usize,
}

/// How the module's run stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// `_start` returned or the module exited with code 0.
    Finished,
    /// The module exited with a non-zero code.
    Exited(i32),
    /// Its call stack ran out.
    StackOverflow,
    /// Any other trap, or a failure to link or start, in the engine's words.
    Trapped(String),
}

/// What a stream (stdout or stderr) caught: the bytes up to its cap, and whether more came.
#[derive(Debug, Default)]
pub struct Captured {
    pub bytes: Vec<u8>,
    pub overflowed: bool,
}

/// How a task's run ended, read as its answer.
#[derive(Debug)]
pub struct Ended {
    pub stop: Stop,
    /// Whether the module asked for more memory than the node allows.
    pub memory_refused: bool,
    pub stdout: Captured,
    pub stderr: Captured,
}

impl Ended {
    pub fn response(self, limits: &WasmLimits) -> TaskResponse {
        TaskResponse {
            logs: log_lines(&self.stderr, limits.max_log_bytes),
            outcome: self.outcome(limits),
        }
    }

    fn outcome(self, limits: &WasmLimits) -> Outcome {
        let failed = |kind, message: String| Outcome::Error(TaskError::new(kind, message));
        if self.stdout.overflowed {
            return failed(
                ErrorKind::ResultTooLarge,
                format!(
                    "the module wrote more than the {} bytes a result may have",
                    limits.max_result_bytes
                ),
            );
        }
        match self.stop {
            Stop::Finished => json_result(&self.stdout.bytes),
            Stop::Exited(code) => failed(
                ErrorKind::Thrown,
                format!("the module exited with code {code}"),
            ),
            // A module whose allocation was refused usually traps right after.
            _ if self.memory_refused => failed(
                ErrorKind::OutOfMemory,
                format!(
                    "the module needed more than the {} MiB of memory this node allows",
                    limits.max_memory_bytes / (1024 * 1024)
                ),
            ),
            Stop::StackOverflow => failed(
                ErrorKind::Stack,
                "the module overflowed its stack (nesting too deep)".into(),
            ),
            Stop::Trapped(message) => failed(ErrorKind::Thrown, message),
        }
    }
}

/// A module the engine refused to compile.
pub fn not_compiled(reason: impl std::fmt::Display) -> TaskError {
    TaskError::new(
        ErrorKind::Syntax,
        format!("the WebAssembly module does not compile: {reason}"),
    )
}

/// The module's stdout as the task's result: JSON, written compactly on one line.
fn json_result(stdout: &[u8]) -> Outcome {
    match serde_json::from_slice::<serde_json::Value>(stdout) {
        Ok(value) => Outcome::Ok(value.to_string()),
        Err(e) if stdout.iter().all(u8::is_ascii_whitespace) => Outcome::Error(TaskError::new(
            ErrorKind::InvalidValue,
            format!("the module wrote no result on stdout (a result is JSON): {e}"),
        )),
        Err(e) => Outcome::Error(TaskError::new(
            ErrorKind::InvalidValue,
            format!("the module's stdout is not JSON: {e}"),
        )),
    }
}

/// stderr as log lines, at most [`MAX_LOG_LINES`]; the last says when the log was cut.
fn log_lines(stderr: &Captured, max_bytes: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(&stderr.bytes);
    let mut lines: Vec<String> = text
        .lines()
        .take(MAX_LOG_LINES - 1)
        .map(str::to_owned)
        .collect();
    if stderr.overflowed {
        lines.push(format!("[stderr truncated at {max_bytes} bytes]"));
    } else if text.lines().count() >= MAX_LOG_LINES {
        lines.push(format!("[stderr truncated at {MAX_LOG_LINES} lines]"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(bytes: &[u8], overflowed: bool) -> Captured {
        Captured {
            bytes: bytes.to_vec(),
            overflowed,
        }
    }

    fn kind(outcome: Outcome) -> Option<ErrorKind> {
        match outcome {
            Outcome::Error(error) => Some(error.kind),
            Outcome::Ok(_) => None,
        }
    }

    #[test]
    fn results_must_be_json_and_are_written_compactly() {
        assert_eq!(json_result(b"[1, 2]\n"), Outcome::Ok("[1,2]".into()));
        assert_eq!(kind(json_result(b"hello")), Some(ErrorKind::InvalidValue));
        assert_eq!(kind(json_result(b"")), Some(ErrorKind::InvalidValue));
    }

    #[test]
    fn long_logs_say_where_they_were_cut() {
        assert_eq!(log_lines(&captured(b"a\nb\n", false), 100), vec!["a", "b"]);
        let cut = log_lines(&captured(b"a\nb", true), 3);
        assert_eq!(cut.last().unwrap(), "[stderr truncated at 3 bytes]");
        let many = "x\n".repeat(MAX_LOG_LINES + 10);
        assert_eq!(
            log_lines(&captured(many.as_bytes(), false), usize::MAX).len(),
            MAX_LOG_LINES
        );
    }

    #[test]
    fn an_exit_code_outranks_a_refused_growth_and_a_refused_growth_outranks_a_trap() {
        let limits = WasmLimits {
            max_memory_bytes: 1 << 20,
            max_result_bytes: 1 << 20,
            max_log_bytes: 1 << 10,
        };
        let ended = |stop, memory_refused| Ended {
            stop,
            memory_refused,
            stdout: Captured::default(),
            stderr: Captured::default(),
        };
        let outcome = |stop, refused| kind(ended(stop, refused).outcome(&limits));
        assert_eq!(outcome(Stop::Exited(1), true), Some(ErrorKind::Thrown));
        assert_eq!(
            outcome(Stop::Trapped("unreachable".into()), true),
            Some(ErrorKind::OutOfMemory)
        );
        assert_eq!(
            outcome(Stop::Trapped("unreachable".into()), false),
            Some(ErrorKind::Thrown)
        );
        assert_eq!(outcome(Stop::StackOverflow, false), Some(ErrorKind::Stack));
    }
}
