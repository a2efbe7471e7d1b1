//! Two relays, no single point of failure: nodes register and serve at every relay they are
//! given, a submitter joins through any that answers, and a job outlives the relay it joined
//! through.

use pws_tests::{
    Node, Relay, SUBMIT_TIMEOUT, Submit, example, json_lines, list_nodes, path_of, run_json,
    task_file,
};
use serde_json::json;

/// Ask the registry behind `relay_addr` (a bounded number of times) until it lists `count`
/// nodes.
fn wait_for_nodes(relay_addr: &str, count: usize) {
    for _ in 0..100 {
        if list_nodes(relay_addr).as_array().map(Vec::len) == Some(count) {
            return;
        }
    }
    panic!("the relay at {relay_addr} never listed {count} nodes");
}

/// Nodes serving at both relays; a job joined through the first keeps going on its direct
/// connections when that relay dies, and every input gets exactly one result. A newcomer that
/// knows only the second relay still gets tasks done.
#[test]
fn a_job_outlives_its_relay_and_the_other_relay_serves_newcomers() {
    let first = Relay::start();
    let second = Relay::start();
    let second_addr = second.tcp();
    let nodes: Vec<Node> = (0..2)
        .map(|_| Node::start(&first, &["--relay", &second_addr, "--slots", "2"]))
        .collect();
    wait_for_nodes(&second_addr, 2);

    let task = task_file(
        "function(n) { const end = Date.now() + 20; while (Date.now() < end) {} return 2 * n; }",
    );
    let mut map = Submit::new()
        .map_range(&first.tcp(), path_of(&task), "0..300")
        .spawn("pws-submit map");
    map.wait_for_line("a first result", |line| line.starts_with('{'));
    drop(first);
    let output = map.wait_with_output(SUBMIT_TIMEOUT).expect_success();
    let results = json_lines(&output.stdout);
    let indices: Vec<u64> = results
        .iter()
        .map(|line| line["index"].as_u64().unwrap())
        .collect();
    assert_eq!(
        indices,
        (0..300).collect::<Vec<_>>(),
        "one result per input"
    );
    assert!(
        results
            .iter()
            .all(|line| line["ok"] == 2 * line["input"].as_u64().unwrap()),
        "every result right"
    );

    let result = run_json(&second_addr, &[], &example("sum.js"));
    assert_eq!(result["ok"], json!(499500), "{result}");
    let ids: Vec<&str> = nodes.iter().map(|node| node.peer_id.as_str()).collect();
    assert!(ids.contains(&result["node"].as_str().unwrap()));
}

/// A node and a submitter given two relays, the first of them dead, join through the
/// second (the submitter's given as `PWS_RELAY`'s comma list, and as two `--relay`).
#[test]
fn any_relay_that_answers_will_do() {
    let dead = Relay::start();
    let dead_addr = dead.tcp();
    drop(dead);
    let live = Relay::start();
    let both = format!("{dead_addr},{}", live.tcp());
    let _node = Node::start(&live, &["--relay", &dead_addr]);
    let listed = Submit::new()
        .env("PWS_RELAY", &both)
        .args(["nodes", "--json"])
        .expect_success();
    assert_eq!(json_lines(&listed.stdout)[0].as_array().unwrap().len(), 1);
    let output = Submit::new()
        .args(["--relay", &dead_addr, "--relay", &live.tcp(), "run"])
        .arg(example("math.js"))
        .expect_success();
    assert_eq!(output.stdout.trim(), "4");
}
