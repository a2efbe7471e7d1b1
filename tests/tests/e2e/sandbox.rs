//! Hostile tasks through a real node: each ends with its documented error kind, and the same
//! node then answers a normal task correctly within a second.

use pws_tests::{
    Node, Relay, Signal, children_of, example, path_of, run_json, signal, task_file,
    wait_until_busy,
};
use serde_json::{Value, json};

/// Run `code` and then a normal task; return the hostile task's result object.
fn hostile(relay_addr: &str, code: &str) -> Value {
    let file = task_file(code);
    let result = run_json(relay_addr, &[], path_of(&file));
    let next = run_json(relay_addr, &[], &example("math.js"));
    assert_eq!(next["ok"], json!(4), "after {code}: {next}");
    let ms = next["ms"].as_f64().expect("ms");
    assert!(ms < 1000.0, "after {code} the next task took {ms} ms");
    result
}

fn expect_kind(relay_addr: &str, code: &str, kind: &str) -> Value {
    let result = hostile(relay_addr, code);
    assert_eq!(result["error"]["kind"], kind, "{code}: {result}");
    result
}

#[test]
fn hostile_tasks_end_with_typed_errors_and_the_node_survives() {
    let relay = Relay::start();
    let _node = Node::start(
        &relay,
        &["--slots", "1", "--max-time", "3", "--max-memory", "128"],
    );
    let relay = relay.tcp();

    expect_kind(&relay, "while (true) {}", "timeout");
    expect_kind(&relay, "for (;;) {}", "timeout");
    expect_kind(
        &relay,
        "try { while (true) {} } catch (e) {} 'caught'",
        "timeout",
    );
    expect_kind(
        &relay,
        "function down(n) { return down(n + 1) + 1; } down(0)",
        "stack",
    );
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    expect_kind(&relay, &nested, "stack");
    expect_kind(&relay, "'a'.repeat(2 ** 30)", "out-of-memory");
    expect_kind(
        &relay,
        "const all = []; for (;;) { const row = []; for (let i = 0; i < 1000; i++) row.push([i, i]); all.push(row); }",
        "out-of-memory",
    );
    expect_kind(&relay, "/(a+)+$/.test('a'.repeat(40) + 'b')", "timeout");
    expect_kind(&relay, "function( {", "syntax");
    let thrown = expect_kind(&relay, "throw 42", "thrown");
    assert_eq!(thrown["error"]["message"], "42");
    let object = expect_kind(&relay, "throw {reason: 'bad', code: 7}", "thrown");
    assert_eq!(object["error"]["message"], r#"{"code":7,"reason":"bad"}"#);
    let flood = expect_kind(
        &relay,
        "for (let i = 0; ; i++) console.log('line', i)",
        "timeout",
    );
    assert!(
        flood.get("logs").is_none(),
        "a killed task's logs are lost with it: {flood}"
    );
    expect_kind(
        &relay,
        "async function() { await new Promise(() => {}); }",
        "timeout",
    );
    let rejected = expect_kind(
        &relay,
        "async function() { throw new Error('nope'); }",
        "thrown",
    );
    assert!(
        rejected["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nope")
    );

    // Pollution does not reach the next task.
    assert_eq!(
        hostile(
            &relay,
            "Object.prototype.polluted = 'yes'; Array.prototype.push = null; 0"
        )["ok"],
        json!(0)
    );
    let check = task_file("[typeof ({}).polluted, typeof [].push]");
    assert_eq!(
        run_json(&relay, &[], path_of(&check))["ok"],
        json!(["undefined", "function"])
    );
}

#[test]
fn a_task_cannot_import_files_nor_tell_whether_they_exist() {
    let cwd = tempfile::tempdir().expect("temp dir");
    std::fs::write(cwd.path().join("creds.json"), r#"{"k":"s3cret"}"#).expect("write creds");
    std::fs::write(cwd.path().join("lib.js"), "export default 's3cret';").expect("write module");
    let relay = Relay::start();
    let _node = Node::start_in(&relay, cwd.path(), &[]);
    let relay = relay.tcp();
    let import = |specifier: &str, attributes: &str| {
        let file = task_file(&format!(
            "async function() {{ return (await import({specifier:?}{attributes})).default; }}"
        ));
        let result = run_json(&relay, &[], path_of(&file));
        assert!(!result.to_string().contains("s3cret"), "{result}");
        assert_eq!(result["error"]["kind"], "thrown", "{result}");
        result["error"]["message"].clone()
    };
    let json = ", {with: {type: 'json'}}";
    let existing = import("creds.json", json);
    assert_eq!(import("missing.json", json), existing);
    assert_eq!(import("./creds.json", json), existing);
    assert_eq!(import("/etc/hostname", json), existing);
    assert_eq!(import("lib.js", ""), existing);
    assert_eq!(import("missing.js", ""), existing);
    // Tasks are scripts: a static import does not even parse.
    expect_kind(&relay, "import k from './lib.js'; k", "syntax");
}

#[test]
fn console_output_comes_back_capped() {
    let relay = Relay::start();
    let _node = Node::start(&relay, &[]);
    let file = task_file("for (let i = 0; i < 100000; i++) console.log('line', i); 'done'");
    let result = run_json(&relay.tcp(), &[], path_of(&file));
    assert_eq!(result["ok"], "done", "{result}");
    let logs = result["logs"].as_array().expect("logs");
    assert_eq!(logs[0], "line 0");
    assert!(logs.last().unwrap().as_str().unwrap().contains("truncated"));
    let bytes: usize = logs.iter().map(|l| l.as_str().unwrap().len()).sum();
    assert!(bytes < 70 * 1024, "{bytes} bytes of logs");
}

#[test]
fn a_huge_result_is_refused_and_a_submitter_can_ask_for_less_time() {
    let relay = Relay::start();
    let _node = Node::start(&relay, &[]);
    let relay = relay.tcp();
    // 50 MiB built by `join` (Boa's `repeat` needs ~24 bytes per character of its result,
    // so `'x'.repeat(50 * 2 ** 20)` ends as out-of-memory instead).
    expect_kind(
        &relay,
        "new Array(51).join('x'.repeat(1 << 20))",
        "result-too-large",
    );

    let file = task_file("while (true) {}");
    let result = run_json(&relay, &["--timeout", "0.5"], path_of(&file));
    assert_eq!(result["error"]["kind"], "timeout", "{result}");
    assert!(
        result["ms"].as_f64().unwrap() < 5000.0,
        "the submitter's shorter limit applied: {result}"
    );
}

#[test]
fn a_worker_killed_mid_task_answers_crashed_and_is_replaced() {
    let relay = Relay::start();
    let node = Node::start(&relay, &["--slots", "1", "--max-time", "120"]);
    let relay_addr = relay.tcp();
    let endless = task_file("while (true) {}");
    let endless_path = path_of(&endless).to_string();
    let submitter = {
        let relay_addr = relay_addr.clone();
        std::thread::spawn(move || run_json(&relay_addr, &["--wait", "0"], &endless_path))
    };
    wait_until_busy(&relay_addr);
    let node_pid = node.process.pid().expect("node running");
    let workers = children_of(node_pid);
    assert_eq!(workers.len(), 1, "one slot, one worker: {workers:?}");
    signal(workers[0], Signal::SIGKILL).expect("kill the worker");

    let result = submitter.join().unwrap();
    assert_eq!(result["error"]["kind"], "crashed", "{result}");
    assert!(
        result["error"]["message"]
            .as_str()
            .unwrap()
            .contains("signal: 9"),
        "{result}"
    );
    let next = run_json(&relay_addr, &[], &example("math.js"));
    assert_eq!(next["ok"], json!(4), "{next}");
    assert_ne!(
        children_of(node_pid),
        workers,
        "the dead worker was replaced"
    );
}
