//! WebAssembly tasks on native and browser nodes: the same answers as their JavaScript
//! twins, every misbehaviour of a module contained and answered with its typed error,
//! modules sent to a node once per job, and only to nodes that run WebAssembly.

use std::io::Write;

use pws_tests::fakes::SilentNodes;

use crate::browser::open_browser_node_at;
use pws_tests::{Node, Relay, Submit, example, json_lines, run_json};
use serde_json::{Value, json};

/// The module that misbehaves as its input says (examples/wasm/src/bin/probe.rs).
fn probe() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/probe.wasm").to_string()
}

fn probe_with(relay: &Relay, what: &str, extra: &[&str]) -> Value {
    let input = format!("\"{what}\"");
    let mut args = vec!["--input", &input];
    args.extend_from_slice(extra);
    run_json(&relay.tcp(), &args, &probe())
}

fn error_kind(result: &Value) -> &str {
    result["error"]["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("an error: {result}"))
}

fn count_primes(from: u64, to: u64) -> u64 {
    (from..to)
        .filter(|&n| n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0))
        .count() as u64
}

#[test]
fn the_wasm_example_answers_as_its_javascript_twin() {
    let relay = Relay::start();
    let _node = Node::start(&relay, &[]);
    for input in ["0", "7", "[1000, 5000]"] {
        let extra = ["--input", input];
        let wasm = run_json(&relay.tcp(), &extra, &example("primes.wasm"));
        let js = run_json(&relay.tcp(), &extra, &example("primes.js"));
        assert_eq!(wasm["ok"], js["ok"], "input {input}");
    }
    let below_100000 = run_json(&relay.tcp(), &[], &example("primes.wasm"));
    assert_eq!(below_100000["ok"], 9592);
}

/// What each misbehaving probe must end as on every node: the error kind and words of its
/// message (the node allows 64 MiB).
const MISBEHAVIOURS: [(&str, &str, &str); 6] = [
    ("alloc", "out-of-memory", "64 MiB"),
    ("recurse", "stack", "stack"),
    ("trap", "thrown", "trapped"),
    ("exit", "thrown", "code 3"),
    ("text", "invalid-value", "not JSON"),
    ("flood", "result-too-large", "bytes"),
];

fn assert_misbehaviours_are_typed(relay: &Relay) {
    for (what, kind, words) in MISBEHAVIOURS {
        let result = probe_with(relay, what, &[]);
        assert_eq!(error_kind(&result), kind, "{what}: {result}");
        let message = result["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{what}: {message}");
    }
    // A buffer list longer than memory is refused (ENOMEM), not read until memory runs out.
    let too_many_buffers = probe_with(relay, "iovecs", &[]);
    assert_eq!(
        too_many_buffers["ok"],
        json!({"errno": 48}),
        "{too_many_buffers}"
    );
}

fn assert_garbage_is_refused(relay: &Relay) {
    let mut garbage = tempfile::Builder::new().suffix(".wasm").tempfile().unwrap();
    garbage.write_all(b"\0asm\x01\0\0\0 not a module").unwrap();
    let result = run_json(&relay.tcp(), &[], garbage.path().to_str().unwrap());
    assert_eq!(error_kind(&result), "syntax", "{result}");
    let message = result["error"]["message"].as_str().unwrap();
    assert!(message.contains("does not compile"), "{message}");
}

#[test]
fn a_module_gets_no_files_no_environment_and_no_arguments() {
    let relay = Relay::start();
    let _node = Node::start(&relay, &[]);
    let seen = probe_with(&relay, "echo", &[]);
    assert_eq!(seen["ok"], json!({"args": ["task"], "env": 0, "files": []}));
}

#[test]
fn every_misbehaviour_is_contained_and_typed() {
    let relay = Relay::start();
    let _node = Node::start(&relay, &["--slots", "1", "--max-memory", "64"]);
    let endless = probe_with(&relay, "loop", &["--timeout", "0.5"]);
    assert_eq!(error_kind(&endless), "timeout", "{endless}");
    // The same node serves the next task, and what a module writes on stderr is its log.
    let logged = probe_with(&relay, "log", &[]);
    assert_eq!(logged["ok"], "logged");
    assert_eq!(logged["logs"], json!(["first line", "second line"]));
    assert_eq!(probe_with(&relay, "sleep", &[])["ok"], "slept");

    assert_misbehaviours_are_typed(&relay);
    let still_serving = run_json(
        &relay.tcp(),
        &["--input", "[0, 100]"],
        &example("primes.wasm"),
    );
    assert_eq!(still_serving["ok"], 25);
}

#[test]
fn a_broken_module_is_a_clear_error() {
    let relay = Relay::start();
    let _node = Node::start(&relay, &[]);
    assert_garbage_is_refused(&relay);
}

/// A 1,000-task job on two nodes: every answer right, and the module sent to each node once
/// (each node logs every module it receives).
#[test]
fn a_job_sends_its_module_to_each_node_once() {
    let relay = Relay::start();
    let nodes = [Node::start(&relay, &[]), Node::start(&relay, &[])];
    let mut inputs = tempfile::NamedTempFile::new().unwrap();
    for k in 0..1000 {
        writeln!(inputs, "[{}, {}]", k * 50, k * 50 + 50).unwrap();
    }
    let output = Submit::new()
        .args([
            "--relay",
            &relay.tcp(),
            "map",
            &example("primes.wasm"),
            "--quiet",
        ])
        .args(["--inputs", inputs.path().to_str().unwrap()])
        .expect_success();
    let results = json_lines(&output.stdout);
    assert_eq!(results.len(), 1000);
    for line in &results {
        let k = line["index"].as_u64().unwrap();
        assert_eq!(line["ok"], count_primes(k * 50, k * 50 + 50), "{line}");
    }
    for node in &nodes {
        let received = node
            .process
            .stderr_so_far()
            .matches("received a WebAssembly module")
            .count();
        assert_eq!(
            received, 1,
            "node {} received the module {received} times",
            node.peer_id
        );
    }
}

/// A node that runs no WebAssembly (this fake announces many free slots and swallows every
/// task) is never sent a WebAssembly task, even by the strategy that would prefer it.
#[test]
fn wasm_tasks_go_only_to_nodes_that_run_wasm() {
    let relay = Relay::start();
    let node = Node::start(&relay, &[]);
    let _fake = SilentNodes::start(&relay.tcp(), 4096, 1, false);
    for _ in 0..5 {
        let result = run_json(
            &relay.tcp(),
            &["--strategy", "least-loaded", "--input", "[0, 100]"],
            &example("primes.wasm"),
        );
        assert_eq!(result["ok"], 25);
        assert_eq!(result["node"], node.peer_id.as_str());
    }
    let nodes = Submit::new()
        .args(["--relay", &relay.tcp(), "nodes"])
        .expect_success();
    assert!(
        nodes.stdout.contains("boa 0.22, wasmtime 48"),
        "{}",
        nodes.stdout
    );
}

/// A browser node runs modules on the browser's engine (with a WASI shim and its memory
/// capped by rewriting the module) and answers as a native node does.
#[test]
fn a_browser_node_runs_wasm_tasks_as_a_native_node_does() {
    let relay = Relay::start();
    let (_browser, peer_id) = open_browser_node_at(&relay, "?memory=64");
    for input in ["0", "7", "[1000, 5000]"] {
        let extra = ["--input", input];
        let wasm = run_json(&relay.tcp(), &extra, &example("primes.wasm"));
        let js = run_json(&relay.tcp(), &extra, &example("primes.js"));
        assert_eq!(wasm["ok"], js["ok"], "input {input}: {wasm} {js}");
        assert_eq!(wasm["node"], peer_id.as_str(), "{wasm}");
    }
    let seen = probe_with(&relay, "echo", &[]);
    assert_eq!(seen["ok"], json!({"args": ["task"], "env": 0, "files": []}));

    let endless = probe_with(&relay, "loop", &["--timeout", "1"]);
    assert_eq!(error_kind(&endless), "timeout", "{endless}");
    let logged = probe_with(&relay, "log", &[]);
    assert_eq!(logged["ok"], "logged", "{logged}");
    assert_eq!(logged["logs"], json!(["first line", "second line"]));
    assert_eq!(probe_with(&relay, "sleep", &[])["ok"], "slept");
    assert_misbehaviours_are_typed(&relay);
    assert_garbage_is_refused(&relay);

    let still_serving = run_json(
        &relay.tcp(),
        &["--input", "[0, 100]"],
        &example("primes.wasm"),
    );
    assert_eq!(still_serving["ok"], 25, "{still_serving}");
    let nodes = Submit::new()
        .args(["--relay", &relay.tcp(), "nodes"])
        .expect_success();
    assert!(
        nodes
            .stdout
            .contains("boa 0.22 (wasm), browser WebAssembly"),
        "{}",
        nodes.stdout
    );
}

/// A page someone linked with an outsized `?memory=` gets no more than the default 256 MiB
/// per task.
#[test]
fn a_browser_node_caps_the_memory_a_link_asks_for() {
    let relay = Relay::start();
    let (_browser, _peer_id) = open_browser_node_at(&relay, "?memory=1000000");
    let result = probe_with(&relay, "alloc", &[]);
    assert_eq!(error_kind(&result), "out-of-memory", "{result}");
    let message = result["error"]["message"].as_str().unwrap();
    assert!(message.contains("256 MiB"), "{message}");
}
