//! The node's side of one sandbox worker: start it (off the network loop) and wait until it
//! has confined itself, hand it a task and read its progress and answer; when it dies, tell
//! why from its exit and its last words on stderr. Dropping it kills the process.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Once};
use std::time::Duration;

use pws_net::protocol::{TaskError, TaskRequest, TaskResponse};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

use super::confine::Confinement;
use super::frame;
use super::worker::{WORKER_ENV, WorkerConfig, WorkerInput, WorkerMessage};
use crate::engine::ENGINE;
use crate::executor::BoxedFuture;
use crate::pool::{Death, Worker};
use crate::wasm::WASM_ENGINE;

/// How much of a dying worker's stderr is kept to explain its death.
const STDERR_TAIL_BYTES: usize = 4096;
/// How long a dead worker's exit status and stderr are awaited.
const DEATH_GRACE: Duration = Duration::from_secs(2);
/// How long a new worker may take to confine itself and say it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start a worker: which executable, with which limits, in which directory.
pub struct WorkerSpawn {
    pub program: PathBuf,
    pub config: WorkerConfig,
    /// An empty directory only the node's user can enter, removed with the pool: the
    /// workers' working directory.
    pub dir: Arc<tempfile::TempDir>,
}

pub struct WorkerProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    stderr: JoinHandle<String>,
}

impl Worker for WorkerProcess {
    type Config = WorkerSpawn;

    fn start(spawn: &WorkerSpawn) -> BoxedFuture<Result<Self, String>> {
        let command = Self::command(spawn);
        Box::pin(async move {
            // Starting a process blocks for a while: never on the network loop.
            let worker = tokio::task::spawn_blocking(move || Self::spawn(command))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            worker.ready().await
        })
    }

    async fn run(
        &mut self,
        task: &TaskRequest,
        progress: &(dyn Fn(f64) + Send + Sync),
    ) -> Result<TaskResponse, Death> {
        // A module's bytes go to a worker only when it asks for them.
        let module = task.wasm.as_ref().and_then(|module| module.bytes.clone());
        let sent = match &task.wasm {
            Some(wasm) => WorkerInput::Task(TaskRequest {
                wasm: Some(wasm.by_hash()),
                ..task.clone()
            }),
            None => WorkerInput::Task(task.clone()),
        };
        let exchange = async {
            frame::write_async(&mut self.stdin, &sent).await?;
            loop {
                match frame::read_async::<WorkerMessage>(&mut self.stdout).await? {
                    Some(WorkerMessage::Progress(fraction)) => progress(fraction),
                    Some(WorkerMessage::NeedModule) => {
                        let bytes = module.clone().ok_or_else(|| {
                            std::io::Error::other("a worker asked for a module the task lacks")
                        })?;
                        frame::write_async(&mut self.stdin, &WorkerInput::Module(bytes)).await?;
                    }
                    Some(WorkerMessage::Done(response)) => return Ok(Some(response)),
                    Some(WorkerMessage::Ready(_)) => {
                        return Err(std::io::Error::other("a worker is ready only once"));
                    }
                    None => return Ok::<_, std::io::Error>(None),
                }
            }
        };
        match exchange.await {
            Ok(Some(response)) => Ok(response),
            Ok(None) | Err(_) => Err(self.cause_of_death().await),
        }
    }

    fn engine(_: &WorkerSpawn) -> String {
        ENGINE.to_string()
    }

    fn wasm_engine(_: &WorkerSpawn) -> Option<String> {
        Some(WASM_ENGINE.to_string())
    }
}

impl WorkerProcess {
    /// The worker's command: nothing of the node's environment or working directory is
    /// passed on.
    fn command(spawn: &WorkerSpawn) -> Command {
        let mut command = Command::new(&spawn.program);
        command
            .env_clear()
            .env(
                WORKER_ENV,
                serde_json::to_string(&spawn.config).expect("config serializes"),
            )
            // mimalloc would otherwise commit its arenas eagerly: 5 MB more per idle worker.
            .env("MIMALLOC_ARENA_EAGER_COMMIT", "0")
            .current_dir(spawn.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    fn spawn(mut command: Command) -> std::io::Result<Self> {
        let mut child = command.spawn()?;
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

    /// Wait for the worker's first message, which says how it confined itself.
    async fn ready(mut self) -> Result<Self, String> {
        let first = tokio::time::timeout(
            START_TIMEOUT,
            frame::read_async::<WorkerMessage>(&mut self.stdout),
        )
        .await;
        match first {
            Ok(Ok(Some(WorkerMessage::Ready(confinement)))) => {
                report_once(&confinement);
                Ok(self)
            }
            Ok(Ok(Some(_))) => Err("the sandbox worker spoke before it was ready".into()),
            Err(_) => Err(format!(
                "the sandbox worker was not ready within {START_TIMEOUT:?}"
            )),
            Ok(Ok(None) | Err(_)) => Err(TaskError::from(self.cause_of_death().await).message),
        }
    }

    async fn cause_of_death(&mut self) -> Death {
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

/// Log once per node what its workers enforce, and warn about what they cannot.
fn report_once(confinement: &Confinement) {
    static REPORTED: Once = Once::new();
    REPORTED.call_once(|| {
        tracing::info!(
            "sandbox workers are confined: {}",
            confinement.enforced.join("; ")
        );
        if !confinement.missing.is_empty() {
            tracing::warn!(
                "sandbox workers run WITHOUT: {}",
                confinement.missing.join("; ")
            );
        }
    });
}

/// Rust reports an allocation refused by the memory limit and a stack overflow in fixed
/// words before aborting; anything else is a crash.
fn classify_death(status: Option<ExitStatus>, last_words: &str) -> Death {
    if last_words.contains("memory allocation of") {
        Death::OutOfMemory
    } else if last_words.contains("has overflowed its stack") {
        Death::StackOverflow
    } else {
        let how = status.map_or_else(|| "did not exit".to_string(), |s| s.to_string());
        let words = last_words.trim();
        Death::Crashed(if words.is_empty() {
            format!("the sandbox worker died ({how})")
        } else {
            format!("the sandbox worker died ({how}): {words}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deaths_are_classified_by_their_last_words() {
        let oom = classify_death(None, "memory allocation of 1073741824 bytes failed\n");
        assert_eq!(oom, Death::OutOfMemory);
        let stack = classify_death(
            None,
            "\nthread 'pws-sandbox' has overflowed its stack\nfatal runtime error: stack overflow",
        );
        assert_eq!(stack, Death::StackOverflow);
        let Death::Crashed(how) = classify_death(None, "thread panicked at boa") else {
            panic!("anything else is a crash");
        };
        assert!(how.contains("boa"));
    }
}
