//! The original three examples over each transport.

use pws_tests::{Node, Relay, example, run_json};
use serde_json::json;

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
