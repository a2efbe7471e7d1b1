//! The original three examples over each transport, and requests and answers far larger
//! than one transport message (WebRTC's is 16 KiB).

use pws_tests::{Node, Relay, example, path_of, run_json, task_file};
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
