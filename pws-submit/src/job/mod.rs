//! Jobs: one function mapped over many inputs across the network. Inputs are journaled
//! first, then the scheduler runs whatever has no final result yet, so a job interrupted in
//! any way can be resumed and every input ends with exactly one result line.
//!
//! The scheduler and the result lines are the same in the browser's coordinator page, which
//! feeds the scheduler from memory instead of the journal.

pub mod inputs;
#[cfg(not(target_arch = "wasm32"))]
mod journaled;
mod network;
#[cfg(not(target_arch = "wasm32"))]
mod progress;
pub mod quorum;
#[cfg(not(target_arch = "wasm32"))]
mod reorder;
pub mod scheduler;
mod spec;

use pws_net::protocol::Outcome;
use serde_json::{Value, json};

#[cfg(not(target_arch = "wasm32"))]
pub use journaled::{RunOptions, Summary, run};
pub use network::Network;
use scheduler::Finished;
pub use spec::{JobSpec, quorum_of};

/// The JSON line of one result: `{"index", "input", "ok" | "error", "node", "ms",
/// "attempts"}`, plus `"answers"` (every node's) when the task ran on replicas.
pub fn result_line(finished: &Finished) -> (bool, String) {
    let input: Value = serde_json::from_str(&finished.input).unwrap_or(Value::Null);
    let mut line = json!({"index": finished.index, "input": input});
    let ok = set_outcome(&mut line, &finished.outcome);
    line["node"] = json!(finished.node.map(|n| n.to_string()));
    line["ms"] = json!(finished.ms);
    line["attempts"] = json!(finished.attempts);
    if !finished.answers.is_empty() {
        line["answers"] = finished
            .answers
            .iter()
            .map(|(node, outcome)| {
                let mut answer = json!({"node": node.to_string()});
                set_outcome(&mut answer, outcome);
                answer
            })
            .collect();
    }
    (
        ok,
        crate::terminal::safe_json(&line.to_string()).into_owned(),
    )
}

/// Put `"ok": <value>` or `"error": {"kind", "message"}` into `object`; true for ok.
fn set_outcome(object: &mut Value, outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Ok(text) => match serde_json::from_str::<Value>(text) {
            Ok(value) => {
                object["ok"] = value;
                true
            }
            Err(e) => {
                object["error"] = json!({
                    "kind": "invalid-value",
                    "message": format!("the node answered with invalid JSON: {e}"),
                });
                false
            }
        },
        Outcome::Error(error) => {
            object["error"] = json!({"kind": error.kind, "message": error.message});
            false
        }
    }
}
