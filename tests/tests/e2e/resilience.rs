//! Nodes behind NAT, a relay that restarts, a node that shuts down mid-task.

use std::thread;

use pws_tests::{
    Node, Relay, Submit, example, list_nodes, path_of, run_json, task_file, wait_until_busy,
};
use serde_json::json;

#[test]
fn a_node_reachable_only_through_the_relay_gets_tasks() {
    let relay = Relay::start();
    let node = Node::start_with(&relay, &["--relay-only"]);
    assert!(
        node.addrs.iter().all(|addr| addr.contains("/p2p-circuit/")),
        "a relay-only node has only relayed addresses: {:?}",
        node.addrs
    );
    let listing = list_nodes(&relay.tcp());
    let addrs = listing[0]["addrs"].as_array().expect("addresses");
    assert!(
        !addrs.is_empty()
            && addrs
                .iter()
                .all(|a| a.as_str().unwrap().contains("/p2p-circuit"))
    );
    assert!(
        listing[0]["transports"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.as_str().unwrap().starts_with("relay/"))
    );

    for transport in ["tcp", "quic-v1", "webrtc-direct"] {
        let result = run_json(&relay.addr(transport), &[], &example("sum.js"));
        assert_eq!(result["ok"], json!(499500), "via {transport}: {result}");
        assert_eq!(result["node"], node.peer_id.as_str());
    }
}

#[test]
fn relayed_traffic_is_not_cut_by_default_circuit_limits() {
    let relay = Relay::start();
    let _node = Node::start_with(&relay, &["--relay-only"]);
    // 1 MiB of source in, 2 MiB of result out: well past libp2p's 128 KiB default per circuit.
    let big = "x".repeat(1024 * 1024);
    let file = task_file(&format!(
        "function() {{ const s = '{big}'; return s + s; }}"
    ));
    let output = Submit::new()
        .args(["--relay", &relay.tcp(), "run", path_of(&file)])
        .expect_success();
    let result: String = serde_json::from_str(&output.stdout).expect("a JSON string");
    assert_eq!(result.len(), 2 * big.len());
}

#[test]
fn nodes_come_back_after_a_relay_restart() {
    let relay = Relay::start();
    let mut node = Node::start(&relay, &[]);
    assert_eq!(
        run_json(&relay.tcp(), &[], &example("math.js"))["ok"],
        json!(4)
    );

    let relay = relay.restart();
    node.wait_registered();
    let result = run_json(&relay.tcp(), &[], &example("math.js"));
    assert_eq!(result["ok"], json!(4), "{result}");
    assert_eq!(result["node"], node.peer_id.as_str());
}

#[test]
fn a_stopping_node_tells_its_submitters_and_leaves_the_registry() {
    let relay = Relay::start();
    let mut node = Node::start(&relay, &["--max-loop-iterations", "100000000000"]);
    let relay_addr = relay.tcp();
    let endless = task_file("while (true) {}");
    let endless_path = path_of(&endless).to_string();
    let submitter = {
        let relay_addr = relay_addr.clone();
        thread::spawn(move || run_json(&relay_addr, &["--wait", "0"], &endless_path))
    };
    // Stop the node once it is busy with the endless task.
    wait_until_busy(&relay_addr);
    assert!(node.process.terminate(), "the node exits 0 on SIGTERM");

    let result = submitter.join().unwrap();
    let message = result["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("shutting down"), "{result}");
    assert_eq!(
        list_nodes(&relay_addr),
        json!([]),
        "a stopped node is no longer listed"
    );
}
