//! Private networks in tests: a submitter's id, the owner's grants, and a member's run.

use serde_json::Value;

use crate::{SubmitterDir, parse_json_line};

/// The peer id of the submitter keeping its identity in `dir` (for an owner: the network).
pub fn submitter_id(dir: &SubmitterDir) -> String {
    dir.submit()
        .arg("id")
        .expect_success()
        .stdout
        .trim()
        .to_string()
}

/// `owner`'s grant for `peer` with `role` ("submit" or "node") under `name`.
pub fn grant(owner: &SubmitterDir, peer: &str, role: &str, name: &str) -> String {
    owner
        .submit()
        .args(["grant", peer, "--role", role, "--name", name])
        .expect_success()
        .stdout
        .trim()
        .to_string()
}

/// A new member of `owner`'s network (`network` is the owner's id) runs `task` through the
/// relay at `relay_addr` with `run --json`; its result line.
pub fn member_runs(relay_addr: &str, owner: &SubmitterDir, network: &str, task: &str) -> Value {
    let member = SubmitterDir::new();
    let member_grant = grant(owner, &submitter_id(&member), "submit", "member");
    parse_json_line(
        &member
            .submit()
            .args(["--relay", relay_addr, "--network", network])
            .args(["--grant", &member_grant, "run", "--json", task])
            .expect_success(),
    )
}
