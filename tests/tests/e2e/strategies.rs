//! Strategies reach the nodes they should, and `nodes` shows what ran where.

use std::collections::{HashMap, HashSet};

use pws_tests::{Node, Relay, SubmitterDir, example, list_nodes, parse_json_line};
use serde_json::Value;

/// Run `math.js` with `strategy`, keeping the submitter's state in `state`; returns the node.
fn run_with(relay: &str, state: &SubmitterDir, strategy: &str) -> String {
    let output = state
        .submit()
        .args([
            "--relay",
            relay,
            "run",
            "--json",
            "--strategy",
            strategy,
            &example("math.js"),
        ])
        .expect_success();
    let result = parse_json_line(&output);
    assert_eq!(result["ok"], 4, "{result}");
    result["node"].as_str().expect("node id").to_string()
}

fn completed_counts(relay: &str) -> HashMap<String, u64> {
    list_nodes(relay)
        .as_array()
        .expect("an array")
        .iter()
        .map(|node: &Value| {
            assert_eq!(node["state"], "idle");
            assert_eq!(node["free_slots"], node["total_slots"]);
            assert!(!node["addrs"].as_array().unwrap().is_empty());
            (
                node["peer_id"].as_str().unwrap().to_string(),
                node["completed"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn round_robin_reaches_all_then_least_loaded_fills_the_gap() {
    let relay = Relay::start();
    let nodes: Vec<Node> = (0..3).map(|_| Node::start(&relay, &[])).collect();
    let all: HashSet<String> = nodes.iter().map(|n| n.peer_id.clone()).collect();
    let relay_addr = relay.tcp();
    // The runs share the submitter's state, where round-robin keeps its place.
    let state = SubmitterDir::new();

    let first_round: Vec<String> = (0..3)
        .map(|_| run_with(&relay_addr, &state, "round-robin"))
        .collect();
    assert_eq!(
        first_round.iter().cloned().collect::<HashSet<_>>(),
        all,
        "{first_round:?}"
    );
    // Round-robin goes on where it stopped: two more tasks land on two different nodes,
    // leaving the third with the fewest completed tasks.
    let second_round: Vec<String> = (0..2)
        .map(|_| run_with(&relay_addr, &state, "round-robin"))
        .collect();
    assert_eq!(second_round[..], first_round[..2]);

    let least_loaded = run_with(&relay_addr, &state, "least-loaded");
    assert_eq!(least_loaded, first_round[2]);

    let counts = completed_counts(&relay_addr);
    assert_eq!(counts.keys().cloned().collect::<HashSet<_>>(), all);
    assert!(counts.values().all(|&n| n == 2), "{counts:?}");
}

#[test]
fn random_uses_the_nodes_there_are() {
    let relay = Relay::start();
    let nodes: Vec<Node> = (0..2).map(|_| Node::start(&relay, &[])).collect();
    let all: HashSet<String> = nodes.iter().map(|n| n.peer_id.clone()).collect();
    let node = run_with(&relay.tcp(), &SubmitterDir::new(), "random");
    assert!(all.contains(&node));
}
