//! Kademlia: a submitter that knows only a node (not the relay) still finds the others.

use std::collections::HashSet;

use pws_tests::{Node, Relay, list_nodes};

#[test]
fn a_submitter_pointed_at_a_node_finds_every_node_through_the_dht() {
    let relay = Relay::start();
    let nodes = [Node::start(&relay, &[]), Node::start(&relay, &[])];
    let entry = nodes[0]
        .addrs
        .iter()
        .find(|addr| addr.contains("/tcp/") && !addr.contains("p2p-circuit"))
        .expect("a direct TCP address");
    let expected: HashSet<&str> = nodes.iter().map(|n| n.peer_id.as_str()).collect();
    // Provider records spread as nodes bootstrap; ask until both are found (bounded).
    let mut found = HashSet::new();
    for _ in 0..20 {
        found = list_nodes(entry)
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["peer_id"].as_str().unwrap().to_string())
            .collect();
        if found.len() == expected.len() {
            break;
        }
    }
    let found: HashSet<&str> = found.iter().map(String::as_str).collect();
    assert_eq!(found, expected);
}
