//! Everything that goes over the wire: protocol ids, topic and namespace names, and the
//! CBOR messages. PROTOCOL.md documents the same facts for implementers in other languages.

use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};

use crate::grant::SignedGrant;
use crate::module::WasmModule;

/// Request-response protocol carrying one task and its outcome.
pub const TASK_PROTOCOL: StreamProtocol = StreamProtocol::new("/pws/task/1.0.0");
/// Request-response protocol carrying several tasks that share their source (small tasks of
/// a job), run one after another in one slot and answered together.
pub const BATCH_PROTOCOL: StreamProtocol = StreamProtocol::new("/pws/batch/1.0.0");
/// Request-response protocol asking a node for its current status.
pub const STATUS_PROTOCOL: StreamProtocol = StreamProtocol::new("/pws/status/1.0.0");
/// Request-response protocol a node uses to tell a submitter how far a task has come.
pub const PROGRESS_PROTOCOL: StreamProtocol = StreamProtocol::new("/pws/progress/1.0.0");
/// Request-response protocol on which a peer of a private network shows its grant to the
/// relay, once per connection, before it reserves, registers or discovers.
pub const ADMISSION_PROTOCOL: StreamProtocol = StreamProtocol::new("/pws/admission/1.0.0");
/// Kademlia protocol of the PWS DHT (kept apart from the public IPFS DHT).
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/pws/kad/1.0.0");
/// Rendezvous namespace under which nodes register at the relay.
pub const RENDEZVOUS_NAMESPACE: &str = "pws";
/// Kademlia key that every node provides, so any peer can find nodes through the DHT: these raw
/// bytes, not a CID.
pub const NODES_PROVIDER_KEY: &[u8] = b"/pws/nodes";
/// Gossipsub topic of node status announcements.
pub const STATUS_TOPIC: &str = "pws/status/1";
/// Identify protocol version string of every PWS peer (sent, never checked).
pub const IDENTIFY_PROTOCOL_VERSION: &str = "/pws/1.0.0";

/// Largest task request (source plus input) a node reads.
pub const MAX_TASK_REQUEST_BYTES: u64 = 4 * 1024 * 1024;
/// Largest task response a submitter reads.
pub const MAX_TASK_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;
/// Largest batch answer a submitter reads.
pub const MAX_BATCH_RESPONSE_BYTES: u64 = 32 * 1024 * 1024;
/// Most tasks in one batch.
pub const MAX_BATCH_TASKS: usize = 256;
/// Largest status message in either direction.
pub const MAX_STATUS_BYTES: u64 = 64 * 1024;
/// Most `console` lines one task's answer carries (the last may say the rest was cut).
pub const MAX_LOG_LINES: usize = 4096;
/// Most addresses a node's status lists.
pub const MAX_STATUS_ADDRS: usize = 64;

/// A task: JavaScript source or a WebAssembly module, plus an optional JSON input.
///
/// The source is either a function expression, called with the input, or a script whose
/// completion value is the result. A WebAssembly task is a WASI preview 1 command that reads
/// the input on stdin and writes its result on stdout; its `code` is empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRequest {
    pub code: String,
    /// The WebAssembly module to run instead of `code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm: Option<WasmModule>,
    /// The input as JSON text; absent means the function is called without an argument.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Wall-clock limit the submitter asks for, in milliseconds; a node applies the smaller
    /// of this and its own limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// A submitter-chosen id; when present, the node reports the task's `progress()` calls
    /// back to the submitter on [`PROGRESS_PROTOCOL`] under this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// In a private network: the submitter's grant (see PROTOCOL.md, "Private networks").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<SignedGrant>,
}

impl TaskRequest {
    pub fn new(code: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            wasm: None,
            input: None,
            timeout_ms: None,
            id: None,
            grant: None,
        }
    }

    /// A task that runs a WebAssembly module.
    pub fn wasm(module: WasmModule) -> Self {
        Self {
            wasm: Some(module),
            ..Self::new("")
        }
    }
}

/// Several tasks with one source: each input is one task, run in order in a single slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskBatch {
    pub code: String,
    /// As in [`TaskRequest::wasm`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm: Option<WasmModule>,
    /// One task per input (JSON text; `None`: called without an argument). At most
    /// [`MAX_BATCH_TASKS`]: a batch with more decodes with one input past it (the rest are
    /// skipped unread), and the node refuses it in one answer.
    #[serde(deserialize_with = "crate::bounded::vec_flagging_excess::<_, _, MAX_BATCH_TASKS>")]
    pub inputs: Vec<Option<String>>,
    /// Wall-clock limit per task, as in [`TaskRequest::timeout_ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// As in [`TaskRequest::grant`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<SignedGrant>,
}

impl TaskBatch {
    /// The task of one input. Each copies the code (a module's bytes are shared): build them
    /// one at a time, as they run.
    pub fn task(&self, input: Option<String>) -> TaskRequest {
        TaskRequest {
            code: self.code.clone(),
            wasm: self.wasm.clone(),
            input,
            timeout_ms: self.timeout_ms,
            id: None,
            grant: None,
        }
    }
}

/// The answers to a batch, one per input and in the same order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResponse {
    #[serde(deserialize_with = "crate::bounded::vec::<_, _, MAX_BATCH_TASKS>")]
    pub answers: Vec<BatchAnswer>,
}

impl BatchResponse {
    /// The same answer, with no node time, for each of `tasks` tasks (a batch that did not run).
    pub fn same_for_all(tasks: usize, response: TaskResponse) -> Self {
        let answer = BatchAnswer {
            response,
            micros: 0,
        };
        Self {
            answers: vec![answer; tasks],
        }
    }
}

/// One task's answer in a batch, with the time the node spent on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchAnswer {
    pub response: TaskResponse,
    /// Microseconds from when the node took the task up to its answer; 0 for the tasks of a
    /// batch answered without being taken up (after a refused task, past the answer size
    /// limit, in an oversized batch).
    pub micros: u64,
}

/// How far a running task has come, as the task itself said with `progress(fraction)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressReport {
    /// The [`TaskRequest::id`] of the task.
    pub id: u64,
    /// Between 0 and 1.
    pub fraction: f64,
}

/// The submitter's acknowledgement of a progress report: an empty map.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProgressAck {}

/// The answer to a task: its outcome and what it wrote to `console`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "WireResponse", into = "WireResponse")]
pub struct TaskResponse {
    pub outcome: Outcome,
    /// Lines the task logged with `console.*`, capped by the node.
    pub logs: Vec<String>,
}

/// A JSON result or a typed error.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The result as JSON text.
    Ok(String),
    Error(TaskError),
}

impl TaskResponse {
    pub fn ok(json: impl Into<String>) -> Self {
        Outcome::Ok(json.into()).into()
    }

    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Self {
        Outcome::Error(TaskError::new(kind, message)).into()
    }
}

impl From<TaskError> for TaskResponse {
    fn from(error: TaskError) -> Self {
        Outcome::Error(error).into()
    }
}

impl From<Outcome> for TaskResponse {
    fn from(outcome: Outcome) -> Self {
        Self {
            outcome,
            logs: Vec::new(),
        }
    }
}

/// The wire form of [`TaskResponse`]: a map with exactly one of `ok` and `error`.
#[derive(Serialize, Deserialize)]
struct WireResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ok: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<TaskError>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::bounded::vec::<_, _, MAX_LOG_LINES>"
    )]
    logs: Vec<String>,
}

impl TryFrom<WireResponse> for TaskResponse {
    type Error = &'static str;

    fn try_from(wire: WireResponse) -> Result<Self, Self::Error> {
        let outcome = match (wire.ok, wire.error) {
            (Some(json), None) => Outcome::Ok(json),
            (None, Some(error)) => Outcome::Error(error),
            _ => return Err("a task response has exactly one of `ok` and `error`"),
        };
        Ok(Self {
            outcome,
            logs: wire.logs,
        })
    }
}

impl From<TaskResponse> for WireResponse {
    fn from(response: TaskResponse) -> Self {
        let (ok, error) = match response.outcome {
            Outcome::Ok(json) => (Some(json), None),
            Outcome::Error(error) => (None, Some(error)),
        };
        Self {
            ok,
            error,
            logs: response.logs,
        }
    }
}

/// Why a task produced no result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct TaskError {
    pub kind: ErrorKind,
    pub message: String,
}

impl TaskError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The answer to work a stopping node will not finish.
    pub fn stopping() -> Self {
        Self::new(
            ErrorKind::Rejected,
            "the node is shutting down; the task did not finish",
        )
    }
}

/// Every way a task can fail. The wire form is the kebab-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The source does not parse.
    Syntax,
    /// The task threw; the message is the JS error's text.
    Thrown,
    /// A time or loop-iteration limit stopped the task, or its promise could never settle.
    Timeout,
    /// A memory limit stopped the task.
    OutOfMemory,
    /// The recursion or stack limit stopped the task.
    Stack,
    /// The result cannot be represented as JSON, or the input is not valid JSON.
    InvalidValue,
    /// The result is larger than the node sends.
    ResultTooLarge,
    /// The executor died while running the task.
    Crashed,
    /// Every slot of the node is in use; try another node.
    Busy,
    /// The submitter sent this node more requests than it accepts from one submitter per
    /// second; back off, or try another node.
    RateLimited,
    /// The node refused the task (for example because it is shutting down).
    Rejected,
    /// The task never reached a node or its answer never came back.
    Network,
    /// No node could be found to run the task.
    NoNodes,
    /// Replicas of the task disagreed: no quorum of nodes gave the same answer.
    Disagreement,
    /// The node is in a private network and the submitter showed no valid grant of it.
    Unauthorized,
    /// The task named its WebAssembly module by hash alone and the node does not have it:
    /// send it again with the module's bytes.
    UnknownModule,
    /// The node cannot run this kind of task (a WebAssembly task on a node without a
    /// WebAssembly engine).
    Unsupported,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "syntax",
            ErrorKind::Thrown => "thrown",
            ErrorKind::Timeout => "timeout",
            ErrorKind::OutOfMemory => "out-of-memory",
            ErrorKind::Stack => "stack",
            ErrorKind::InvalidValue => "invalid-value",
            ErrorKind::ResultTooLarge => "result-too-large",
            ErrorKind::Crashed => "crashed",
            ErrorKind::Busy => "busy",
            ErrorKind::RateLimited => "rate-limited",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Network => "network",
            ErrorKind::NoNodes => "no-nodes",
            ErrorKind::Disagreement => "disagreement",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::UnknownModule => "unknown-module",
            ErrorKind::Unsupported => "unsupported",
        }
    }

    /// Whether another node might succeed where this one failed. A crash is not: the task
    /// that killed one worker would likely kill the next. A node that refuses a submitter
    /// (`unauthorized`) may deny it alone.
    pub fn is_retryable_elsewhere(self) -> bool {
        matches!(
            self,
            ErrorKind::Busy
                | ErrorKind::RateLimited
                | ErrorKind::Rejected
                | ErrorKind::Network
                | ErrorKind::Unauthorized
                | ErrorKind::Unsupported
        )
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a node is working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// No task is running.
    Idle,
    /// At least one task is running (see `free_slots` for spare capacity).
    Busy,
    /// The node is shutting down and takes no more tasks.
    Stopping,
}

impl std::fmt::Display for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NodeState::Idle => "idle",
            NodeState::Busy => "busy",
            NodeState::Stopping => "stopping",
        })
    }
}

/// What a node announces about itself, on the status topic and as the status answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub state: NodeState,
    pub free_slots: u32,
    pub total_slots: u32,
    pub completed: u64,
    pub version: String,
    /// The JavaScript engine, e.g. `boa 0.22`.
    pub engine: String,
    /// The WebAssembly engine, e.g. `wasmtime 48`; absent: the node runs no WebAssembly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm: Option<String>,
    /// The node's reachable addresses (direct and relayed), as multiaddr strings.
    #[serde(
        default,
        deserialize_with = "crate::bounded::vec::<_, _, MAX_STATUS_ADDRS>"
    )]
    pub addrs: Vec<String>,
    /// The node runs in a web browser (a tab that opened the relay's page).
    #[serde(default)]
    pub browser: bool,
    /// In a private network: the node's grant, so that submitters use only nodes the owner
    /// admitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<SignedGrant>,
}

impl NodeStatus {
    /// Whether the node would accept a task right now.
    pub fn has_free_slot(&self) -> bool {
        self.state != NodeState::Stopping && self.free_slots > 0
    }

    /// Whether the node runs tasks of this kind.
    pub fn runs(&self, task: TaskKind) -> bool {
        match task {
            TaskKind::JavaScript => true,
            TaskKind::Wasm => self.wasm.is_some(),
        }
    }

    /// The engines the node runs, for people: `boa 0.22` or `boa 0.22, wasmtime 48`.
    pub fn engines(&self) -> String {
        match &self.wasm {
            Some(wasm) => format!("{}, {wasm}", self.engine),
            None => self.engine.clone(),
        }
    }
}

/// What a task is written in, which decides the nodes that can run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    JavaScript,
    Wasm,
}

impl TaskKind {
    pub fn of(task: &TaskRequest) -> Self {
        if task.wasm.is_some() {
            TaskKind::Wasm
        } else {
            TaskKind::JavaScript
        }
    }
}

/// A peer's grant, shown to the relay of its private network (none: the network's owner).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdmissionRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<SignedGrant>,
}

/// The relay's answer: admitted, or why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdmissionResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// The status request carries nothing: an empty CBOR map.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusRequest {}

/// Encode a message as CBOR.
pub fn to_cbor<T: Serialize>(value: &T) -> Vec<u8> {
    cbor4ii::serde::to_vec(Vec::new(), value).expect("writing CBOR to a Vec cannot fail")
}

/// Decode a CBOR message.
pub fn from_cbor<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    cbor4ii::serde::from_slice(bytes).map_err(|e| DecodeError(e.to_string()))
}

#[derive(Debug, thiserror::Error)]
#[error("malformed CBOR message: {0}")]
pub struct DecodeError(String);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn task_request_round_trips_through_cbor() {
        let request = TaskRequest {
            input: Some("41".into()),
            timeout_ms: Some(500),
            ..TaskRequest::new("function(x) { return x + 1; }")
        };
        let decoded: TaskRequest = from_cbor(&to_cbor(&request)).unwrap();
        assert_eq!(decoded, request);
    }

    #[test]
    fn error_kinds_use_documented_wire_names() {
        let err = TaskResponse::error(ErrorKind::OutOfMemory, "m");
        let decoded: serde_json::Value = from_cbor(&to_cbor(&err)).unwrap();
        assert_eq!(
            decoded,
            json!({"error": {"kind": "out-of-memory", "message": "m"}})
        );
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The ```` ```hex ```` blocks of PROTOCOL.md, in order: on each line, the leading
    /// whitespace-separated runs of hex digits (the notes after them are not bytes).
    fn hex_blocks_of_protocol_md() -> Vec<String> {
        let document = include_str!("../../PROTOCOL.md");
        let is_hex = |token: &str| {
            token.len().is_multiple_of(2) && token.chars().all(|c| c.is_ascii_hexdigit())
        };
        document
            .split("```hex\n")
            .skip(1)
            .map(|block| {
                let (block, _rest) = block.split_once("```").expect("a closed block");
                block
                    .lines()
                    .flat_map(|line| line.split_whitespace().take_while(|t| is_hex(t)))
                    .collect()
            })
            .collect()
    }

    /// The example encodings in PROTOCOL.md, read from the document itself.
    #[test]
    fn documented_examples() {
        let request = TaskRequest {
            input: Some("41".into()),
            ..TaskRequest::new("x => x + 1")
        };
        let status = NodeStatus {
            state: NodeState::Idle,
            free_slots: 2,
            total_slots: 2,
            completed: 7,
            version: "0.1.0".into(),
            engine: "boa 0.22".into(),
            wasm: None,
            addrs: vec!["/ip4/127.0.0.1/tcp/4001".into()],
            browser: false,
            grant: None,
        };
        let empty_batch = BatchResponse {
            answers: Vec::new(),
        };
        let documented = hex_blocks_of_protocol_md();
        let encoded = [
            to_cbor(&request),
            to_cbor(&TaskResponse::ok("4")),
            to_cbor(&TaskResponse::error(ErrorKind::Busy, "full")),
            to_cbor(&StatusRequest {}),
            to_cbor(&empty_batch),
            to_cbor(&status),
        ];
        assert_eq!(documented, encoded.map(|bytes| hex(&bytes)));

        let bytes = |hex: &str| -> Vec<u8> {
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect()
        };
        assert_eq!(
            from_cbor::<TaskRequest>(&bytes(&documented[0])).unwrap(),
            request
        );
        assert_eq!(
            from_cbor::<NodeStatus>(&bytes(&documented[5])).unwrap(),
            status
        );
    }

    /// PROTOCOL.md's line between a malformed request (no answer) and one that decodes.
    #[test]
    fn wrong_types_are_malformed_and_nulls_are_absent() {
        let malformed = [
            json!({"code": 1}),
            json!({"input": "41"}),
            json!({"code": "x => x", "input": 41}),
            json!({"code": "1", "timeout_ms": -1}),
            json!({"code": "1", "timeout_ms": 1.5}),
            json!({"code": "1", "id": "7"}),
            json!(["1"]),
        ];
        for request in malformed {
            assert!(
                from_cbor::<TaskRequest>(&to_cbor(&request)).is_err(),
                "{request} decoded"
            );
        }
        let batch = json!({"code": "1", "inputs": ["1", 2]});
        assert!(from_cbor::<TaskBatch>(&to_cbor(&batch)).is_err());

        /// A request with CBOR nulls (`f6`) and a key no decoder knows.
        #[derive(Serialize)]
        struct Lenient {
            code: &'static str,
            input: Option<String>,
            timeout_ms: Option<u64>,
            id: Option<u64>,
            unknown: u8,
        }
        let lenient = Lenient {
            code: "1",
            input: None,
            timeout_ms: None,
            id: None,
            unknown: 0,
        };
        assert_eq!(
            from_cbor::<TaskRequest>(&to_cbor(&lenient)).unwrap(),
            TaskRequest::new("1")
        );
        let mut trailing = to_cbor(&TaskRequest::new("1"));
        trailing.push(0x00);
        assert_eq!(
            from_cbor::<TaskRequest>(&trailing).unwrap(),
            TaskRequest::new("1")
        );
        // Not JSON, but a text string: it decodes, and the node answers `invalid-value`.
        let not_json = json!({"code": "x => x", "input": "{"});
        assert!(from_cbor::<TaskRequest>(&to_cbor(&not_json)).is_ok());
    }

    #[test]
    fn error_kind_names_match_serde() {
        for kind in [
            ErrorKind::Syntax,
            ErrorKind::OutOfMemory,
            ErrorKind::ResultTooLarge,
            ErrorKind::RateLimited,
            ErrorKind::NoNodes,
            ErrorKind::UnknownModule,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }

    #[test]
    fn logs_travel_with_either_outcome() {
        let mut response = TaskResponse::error(ErrorKind::Thrown, "x");
        response.logs = vec!["hello".into()];
        let decoded: TaskResponse = from_cbor(&to_cbor(&response)).unwrap();
        assert_eq!(decoded, response);
    }

    #[test]
    fn a_response_with_both_or_neither_outcome_is_malformed() {
        let both = to_cbor(&json!({"ok": "1", "error": {"kind": "busy", "message": ""}}));
        assert!(from_cbor::<TaskResponse>(&both).is_err());
        assert!(from_cbor::<TaskResponse>(&to_cbor(&json!({}))).is_err());
    }

    #[test]
    fn garbage_is_a_decode_error() {
        assert!(from_cbor::<TaskRequest>(&[0xff, 0x00, 0x13]).is_err());
    }
}
