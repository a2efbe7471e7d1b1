//! The node's side of one sandbox worker: start it, hand it a task, and when it overruns
//! its time kill it; when it dies, tell why from its exit and its last words on stderr.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use pws_net::executor::{Cancel, cancelled, cancelled_by_submitter, timed_out};
use pws_net::protocol::{ErrorKind, TaskError, TaskRequest};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

use super::frame;
use super::worker::{WORKER_ENV, WorkerConfig, WorkerMessage, WorkerReply};

/// How much of a dying worker's stderr is kept to explain its death.
const STDERR_TAIL_BYTES: usize = 4096;
/// How long a dead worker's exit status and stderr are awaited.
const DEATH_GRACE: Duration = Duration::from_secs(2);

pub struct WorkerProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    stderr: JoinHandle<String>,
}

impl WorkerProcess {
    pub fn spawn(program: &Path, config: &WorkerConfig) -> std::io::Result<Self> {
        let mut child = Command::new(program)
            .env(
                WORKER_ENV,
                serde_json::to_string(config).expect("config serializes"),
            )
            .env_remove("RUST_LOG")
            // mimalloc would otherwise commit its arenas eagerly: 5 MB more per idle worker.
            .env("MIMALLOC_ARENA_EAGER_COMMIT", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let stderr = tokio::spawn(async move {
            let mut tail = Vec::new();
            let mut buffer = [0u8; 1024];
            while let Ok(n) = stderr.read(&mut buffer).await {
                if n == 0 {
                    break;
                }
                tail.extend_from_slice(&buffer[..n]);
                let excess = tail.len().saturating_sub(STDERR_TAIL_BYTES);
                tail.drain(..excess);
            }
            String::from_utf8_lossy(&tail).into_owned()
        });
        Ok(Self {
            child,
            stdin,
            stdout,
            stderr,
        })
    }

    /// Run one task. `Err` means the worker is gone (killed for its time, or dead) and the
    /// error is the task's answer.
    pub async fn run(
        &mut self,
        task: &TaskRequest,
        time_limit: Duration,
        cancel: Cancel,
        progress: &(dyn Fn(f64) + Send + Sync),
    ) -> Result<WorkerReply, TaskError> {
        let exchange = async {
            frame::write_async(&mut self.stdin, task).await?;
            loop {
                match frame::read_async::<WorkerMessage>(&mut self.stdout).await? {
                    Some(WorkerMessage::Progress(fraction)) => progress(fraction),
                    Some(WorkerMessage::Done(reply)) => return Ok(Some(reply)),
                    None => return Ok::<_, std::io::Error>(None),
                }
            }
        };
        let stopped = tokio::select! {
            answer = tokio::time::timeout(time_limit, exchange) => match answer {
                Ok(Ok(Some(reply))) => return Ok(reply),
                Ok(Ok(None) | Err(_)) => return Err(self.cause_of_death().await),
                Err(_) => timed_out(time_limit),
            },
            () = cancelled(cancel) => cancelled_by_submitter(),
        };
        let _ = self.child.kill().await;
        Err(stopped)
    }

    async fn cause_of_death(&mut self) -> TaskError {
        let status = match tokio::time::timeout(DEATH_GRACE, self.child.wait()).await {
            Ok(Ok(status)) => Some(status),
            _ => {
                let _ = self.child.kill().await;
                None
            }
        };
        let last_words = match tokio::time::timeout(DEATH_GRACE, &mut self.stderr).await {
            Ok(Ok(text)) => text,
            _ => String::new(),
        };
        classify_death(status, &last_words)
    }
}

/// Rust reports an allocation refused by the memory limit and a stack overflow in fixed
/// words before aborting; anything else is a crash.
fn classify_death(status: Option<ExitStatus>, last_words: &str) -> TaskError {
    if last_words.contains("memory allocation of") {
        TaskError::new(
            ErrorKind::OutOfMemory,
            "the task needed more memory than this node allows",
        )
    } else if last_words.contains("has overflowed its stack") {
        TaskError::new(
            ErrorKind::Stack,
            "the task overflowed the engine's stack (nesting too deep)",
        )
    } else {
        let how = status.map_or_else(|| "did not exit".to_string(), |s| s.to_string());
        let words = last_words.trim();
        TaskError::new(
            ErrorKind::Crashed,
            if words.is_empty() {
                format!("the sandbox worker died ({how})")
            } else {
                format!("the sandbox worker died ({how}): {words}")
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deaths_are_classified_by_their_last_words() {
        let oom = classify_death(None, "memory allocation of 1073741824 bytes failed\n");
        assert_eq!(oom.kind, ErrorKind::OutOfMemory);
        let stack = classify_death(
            None,
            "\nthread 'pws-sandbox' has overflowed its stack\nfatal runtime error: stack overflow",
        );
        assert_eq!(stack.kind, ErrorKind::Stack);
        let crash = classify_death(None, "thread panicked at boa");
        assert_eq!(crash.kind, ErrorKind::Crashed);
        assert!(crash.message.contains("boa"));
    }
}
