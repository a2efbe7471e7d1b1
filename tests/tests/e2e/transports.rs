//! The original three examples over each transport, requests and answers far larger than
//! one transport message (WebRTC's is 16 KiB), and a submitter's exit seen at once.

use std::time::{Duration, Instant};

use pws_tests::{
    Node, Relay, SUBMIT_TIMEOUT, Signal, Submit, example, list_nodes, path_of, run_json, task_file,
    wait_until_busy,
};
use serde_json::json;

/// A 100 KB task whose answer is a 50 KB string.
pub(crate) fn assert_large_messages_cross(relay_addr: &str, args: &[&str]) {
    let padding = "x".repeat(100_000);
    let task = task_file(&format!("/* {padding} */ 'y'.repeat(50000)"));
    let result = run_json(relay_addr, args, path_of(&task));
    let answer = result["ok"]
        .as_str()
        .unwrap_or_else(|| panic!("an answer: {result}"));
    assert_eq!(answer.len(), 50_000);
}

fn examples_over(transport_flag: &str, relay_transport: &str) {
    let relay = Relay::start();
    let nodes = [Node::start(&relay, &[]), Node::start(&relay, &[])];
    let node_ids: Vec<&str> = nodes.iter().map(|n| n.peer_id.as_str()).collect();
    let relay_addr = relay.addr(relay_transport);
    for (file, expected) in [
        ("math.js", json!(4)),
        ("sum.js", json!(499500)),
        ("array.js", json!(15)),
    ] {
        let result = run_json(
            &relay_addr,
            &["--transport", transport_flag],
            &example(file),
        );
        assert_eq!(
            result["ok"], expected,
            "{file} over {transport_flag}: {result}"
        );
        let node = result["node"].as_str().expect("node id");
        assert!(node_ids.contains(&node), "ran on an unknown node {node}");
        assert!(result["ms"].as_f64().expect("ms") > 0.0);
    }
    assert_large_messages_cross(&relay_addr, &["--transport", transport_flag]);
}

#[test]
fn examples_over_tcp() {
    examples_over("tcp", "tcp");
}

#[test]
fn examples_over_quic() {
    examples_over("quic", "quic-v1");
}

#[test]
fn examples_over_webrtc() {
    examples_over("webrtc", "webrtc-direct");
}

/// A submitter stopped by Ctrl-C closes its connections before it exits, so the node stops
/// its task and frees the slot at once, on UDP transports too (where an exiting process
/// sends nothing and the node would wait for QUIC's 10 s idle timeout, or longer for
/// WebRTC).
fn ctrl_c_frees_the_node_at_once(transport_flag: &str, relay_transport: &str) {
    let relay = Relay::start();
    let node = Node::start(&relay, &["--slots", "1", "--max-time", "120"]);
    let endless = task_file("function() { while (true) {} }");
    let mut run = Submit::new()
        .args(["--relay", &relay.addr(relay_transport)])
        .args(["--transport", transport_flag, "run", "--timeout", "120"])
        .arg(path_of(&endless))
        .spawn("endless run");
    wait_until_busy(&relay.tcp());
    run.signal(Signal::SIGINT);
    run.wait_with_output(SUBMIT_TIMEOUT).expect_code(130);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let listing = list_nodes(&relay.tcp());
        assert_eq!(listing[0]["peer_id"], node.peer_id.as_str());
        if listing[0]["free_slots"] == 1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the node still runs the task of a submitter gone over {transport_flag}: {listing}"
        );
    }
}

#[test]
fn ctrl_c_frees_the_node_at_once_over_tcp() {
    ctrl_c_frees_the_node_at_once("tcp", "tcp");
}

#[test]
fn ctrl_c_frees_the_node_at_once_over_quic() {
    ctrl_c_frees_the_node_at_once("quic", "quic-v1");
}

#[test]
fn ctrl_c_frees_the_node_at_once_over_webrtc() {
    ctrl_c_frees_the_node_at_once("webrtc", "webrtc-direct");
}
