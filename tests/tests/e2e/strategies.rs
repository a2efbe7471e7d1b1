//! Strategies reach the nodes they should, and `nodes` shows what ran where.

use std::collections::{HashMap, HashSet};

use pws_tests::{Node, Relay, example, parse_json_line, submit};
use serde_json::Value;

fn run_with(relay: &str, data_dir: &str, strategy: &str) -> String {
    let output = submit(&[
        "--relay",
        relay,
        "--data-dir",
        data_dir,
        "run",
        "--json",
        "--strategy",
        strategy,
        &example("math.js"),
    ]);
    let result = parse_json_line(&output);
    assert_eq!(result["ok"], 4, "{result}");
    result["node"].as_str().expect("node id").to_string()
}

fn completed_counts(relay: &str) -> HashMap<String, u64> {
    let output = submit(&["--relay", relay, "nodes", "--json"]);
    assert!(output.status.success(), "{output:?}");
    let nodes = parse_json_line(&output);
    nodes
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
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap();

    let first_round: Vec<String> = (0..3)
        .map(|_| run_with(&relay_addr, state_dir, "round-robin"))
        .collect();
    assert_eq!(
        first_round.iter().cloned().collect::<HashSet<_>>(),
        all,
        "{first_round:?}"
    );
    // Round-robin goes on where it stopped: two more tasks land on two different nodes,
    // leaving the third with the fewest completed tasks.
    let second_round: Vec<String> = (0..2)
        .map(|_| run_with(&relay_addr, state_dir, "round-robin"))
        .collect();
    assert_eq!(second_round[..], first_round[..2]);

    let least_loaded = run_with(&relay_addr, state_dir, "least-loaded");
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
    let state = tempfile::tempdir().unwrap();
    let node = run_with(&relay.tcp(), state.path().to_str().unwrap(), "random");
    assert!(all.contains(&node));
}
