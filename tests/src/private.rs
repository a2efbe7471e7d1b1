//! Private networks in tests: a submitter's id, the owner's grants, and a member's run.

use serde_json::Value;

use crate::{Node, Relay, SubmitterDir, parse_json_line, peer_id_in};

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

/// A node of `network` holding `owner`'s node grant under `name`, with `extra` arguments.
pub fn granted_node(
    relay: &Relay,
    owner: &SubmitterDir,
    network: &str,
    name: &str,
    extra: &[&str],
) -> Node {
    let data_dir = tempfile::tempdir().unwrap();
    let id = peer_id_in("pws-node", data_dir.path());
    let grant = grant(owner, &id, "node", name);
    let mut args = vec!["--network", network, "--grant", &grant];
    args.extend_from_slice(extra);
    Node::start_in_data_dir(relay, data_dir, &args)
}
