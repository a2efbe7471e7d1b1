//! Send one task: pick a node by strategy, and when it is busy or unreachable try another,
//! waiting (up to a limit) for a node to become available. A node that takes the task but
//! does not answer within its deadline ([`crate::deadline`]) ends the run with `timeout`.

use std::collections::HashSet;
use std::time::Duration;

use libp2p::PeerId;
use pws_net::protocol::{ErrorKind, Outcome, TaskError, TaskKind, TaskRequest, TaskResponse};
use pws_net::rt::{self, Instant};
use pws_net::status::NodeInfo;
use pws_net::strategy::{self, Strategy};
use serde_json::{Value, json};

use crate::cursor::Cursor;
use crate::deadline;
use crate::session::Session;

/// How often the registry is refreshed while no node is available.
const RETRY_INTERVAL: Duration = Duration::from_millis(250);

/// What became of a task.
pub struct Dispatched {
    /// The node that answered, if any did.
    pub node: Option<PeerId>,
    pub response: TaskResponse,
    /// Round trip of the answered attempt, in milliseconds.
    pub ms: f64,
}

impl Dispatched {
    /// The task's result as a JSON value, or its typed error (an answer that is not JSON
    /// is one too).
    pub fn result(&self) -> Result<Value, TaskError> {
        match &self.response.outcome {
            Outcome::Ok(text) => serde_json::from_str::<Value>(text).map_err(|e| {
                TaskError::new(
                    ErrorKind::InvalidValue,
                    format!("the node answered with invalid JSON: {e}"),
                )
            }),
            Outcome::Error(error) => Err(error.clone()),
        }
    }

    /// `run --json`'s object: `{"ok": value}` or `{"error": {"kind", "message"}}`, with
    /// `"node"`, `"ms"` and (when the task logged any) `"logs"`.
    pub fn to_json(&self) -> Value {
        let mut object = match self.result() {
            Ok(value) => json!({"ok": value}),
            Err(error) => json!({"error": {"kind": error.kind, "message": error.message}}),
        };
        object["node"] = json!(self.node.map(|node| node.to_string()));
        object["ms"] = json!(self.ms);
        if !self.response.logs.is_empty() {
            object["logs"] = json!(self.response.logs);
        }
        object
    }
}

/// Run `task` on a node chosen by `strategy`, waiting up to `wait` for one to be available.
/// The fractions the task reports through `progress()` go to `on_progress`.
pub async fn run(
    session: &Session,
    task: &TaskRequest,
    strategy: Strategy,
    wait: Duration,
    cursor: &Cursor,
    mut on_progress: impl FnMut(f64),
) -> Dispatched {
    let deadline = Instant::now() + wait;
    // An id makes nodes report the task's progress back to us.
    let task = &TaskRequest {
        id: Some(rand::random()),
        ..task.clone()
    };
    let module_bytes = (task.wasm.as_ref())
        .and_then(|module| module.bytes.as_ref())
        .map_or(0, |bytes| bytes.0.len());
    let request_bytes = task.code.len() + module_bytes + task.input.as_ref().map_or(0, String::len);
    let kind = TaskKind::of(task);
    let able = |mut nodes: Vec<NodeInfo>| {
        nodes.retain(|node| node.status.runs(kind));
        nodes
    };
    let request_deadline = deadline::for_request(task.timeout_ms, 1, request_bytes);
    let mut unreachable: HashSet<PeerId> = HashSet::new();
    let mut busy: HashSet<PeerId> = HashSet::new();
    // Nodes of a private network that do not let us in: another may (its deny list differs).
    let mut refusing: HashSet<PeerId> = HashSet::new();
    let mut last_error = None;
    let mut nodes = match session.refresh_for_work().await {
        Ok(nodes) => able(nodes),
        Err(e) => return no_answer(TaskError::new(ErrorKind::Network, e.to_string())),
    };
    loop {
        let skip: HashSet<PeerId> = unreachable
            .iter()
            .chain(&busy)
            .chain(&refusing)
            .copied()
            .collect();
        let picked = strategy::pick(strategy, &nodes, &skip, cursor.previous(), &mut rand::rng());
        let Some(node) = picked else {
            if Instant::now() >= deadline {
                return no_answer(no_node_error(nodes.len(), kind, wait, last_error));
            }
            rt::sleep(RETRY_INTERVAL).await;
            // Busy nodes may have finished meanwhile; unreachable ones stay skipped.
            busy.clear();
            nodes = able(session.refresh_for_work().await.unwrap_or_default());
            continue;
        };
        let started = Instant::now();
        let answer = with_progress(
            session,
            rt::timeout(
                request_deadline,
                session.client.send_task(node, task.clone()),
            ),
            task.id,
            &mut on_progress,
        )
        .await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let Ok(answer) = answer else {
            return Dispatched {
                node: Some(node),
                response: silent_node(node, request_deadline).into(),
                ms,
            };
        };
        match answer {
            Ok(TaskResponse {
                outcome: Outcome::Error(error),
                ..
            }) if error.kind == ErrorKind::Unauthorized => {
                refusing.insert(node);
                // Every node refuses us: waiting will not change that.
                if nodes.iter().all(|known| refusing.contains(&known.peer_id)) {
                    return Dispatched {
                        node: Some(node),
                        response: error.into(),
                        ms,
                    };
                }
                tracing::debug!(%node, "{error}; trying another node");
                last_error = Some(error);
            }
            Ok(TaskResponse {
                outcome: Outcome::Error(error),
                ..
            }) if error.kind.is_retryable_elsewhere() => {
                tracing::debug!(%node, "{error}; trying another node");
                busy.insert(node);
                last_error = Some(error);
            }
            Ok(response) => {
                cursor.record(node);
                return Dispatched {
                    node: Some(node),
                    response,
                    ms,
                };
            }
            Err(e) => {
                tracing::debug!(%node, "{e}; trying another node");
                unreachable.insert(node);
                last_error = Some(TaskError::new(ErrorKind::Network, e.to_string()));
            }
        }
    }
}

/// Await `answer`, passing the task's progress reports to `on_progress` meanwhile.
async fn with_progress<T>(
    session: &Session,
    answer: impl std::future::Future<Output = T>,
    id: Option<u64>,
    on_progress: &mut impl FnMut(f64),
) -> T {
    let Some(id) = id else { return answer.await };
    tokio::pin!(answer);
    loop {
        tokio::select! {
            result = &mut answer => return result,
            Some(report) = session.next_progress() => {
                if report.id == id {
                    tracing::debug!("progress {}", report.fraction);
                    on_progress(report.fraction);
                }
            }
        }
    }
}

fn no_answer(error: TaskError) -> Dispatched {
    Dispatched {
        node: None,
        response: error.into(),
        ms: 0.0,
    }
}

/// The answer of a task whose node took it and went silent past its deadline.
fn silent_node(node: PeerId, deadline: Duration) -> TaskError {
    TaskError::new(
        ErrorKind::Timeout,
        format!(
            "node {node} did not answer within {:.1} s (the task's time limit plus time to \
             transfer it); the node may be overloaded or misbehaving",
            deadline.as_secs_f64()
        ),
    )
}

fn no_node_error(
    known: usize,
    kind: TaskKind,
    wait: Duration,
    last_error: Option<TaskError>,
) -> TaskError {
    let mut message = if known == 0 && kind == TaskKind::Wasm {
        format!(
            "no node that runs WebAssembly found within {}s (`pws-submit nodes` shows each \
             node's engines)",
            wait.as_secs_f64()
        )
    } else if known == 0 {
        format!(
            "no node found within {}s: none is registered at the relay; start one with `pws-node --relay <relay address>`",
            wait.as_secs_f64()
        )
    } else {
        format!(
            "no node took the task within {}s ({known} known, all busy or unreachable)",
            wait.as_secs_f64()
        )
    };
    if let Some(error) = last_error {
        message.push_str(&format!("; last error: {error}"));
    }
    TaskError::new(ErrorKind::NoNodes, message)
}
