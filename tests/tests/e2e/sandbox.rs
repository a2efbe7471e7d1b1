//! Hostile tasks through a real node: each ends with its documented error kind, and the same
//! node then answers a normal task correctly within a second.

use std::process::Command;
use std::time::Duration;

use pws_tests::{
    Node, Process, Relay, Signal, bin, children_of, example, path_of, rss_bytes, rss_with_children,
    run_json, signal, task_file, wait_until_busy,
};
use serde_json::{Value, json};

const MIB: u64 = 1024 * 1024;

/// Run `work` on a thread while sampling `pid`'s memory (with its children) every 20 ms;
/// returns what `work` returned and the highest sample.
fn peak_rss_during<T: Send + 'static>(
    pid: u32,
    work: impl FnOnce() -> T + Send + 'static,
) -> (T, u64) {
    let running = std::thread::spawn(work);
    let mut peak = 0;
    while !running.is_finished() {
        peak = peak.max(rss_with_children(pid));
        std::thread::sleep(Duration::from_millis(20));
    }
    (running.join().expect("work"), peak)
}

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
        // A small heap so that the memory bomb below reaches it well before the time limit,
        // even on a loaded machine.
        &["--slots", "1", "--max-time", "3", "--max-memory", "48"],
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
    // Asking for less than the minimum gets the minimum; the node still answers at once.
    let result = run_json(&relay, &["--timeout", "0.001"], path_of(&file));
    assert_eq!(result["error"]["kind"], "timeout", "{result}");
    let message = result["error"]["message"].as_str().unwrap();
    assert!(message.contains("0.010 s"), "{result}");
    assert_eq!(run_json(&relay, &[], &example("math.js"))["ok"], json!(4));
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

#[test]
fn workers_get_an_empty_environment_and_an_empty_private_directory() {
    let relay = Relay::start();
    let node = Node::start(&relay, &["--slots", "1"]);
    // The node runs tasks, so its worker has started and confined itself.
    assert_eq!(
        run_json(&relay.tcp(), &[], &example("math.js"))["ok"],
        json!(4)
    );
    let workers = children_of(node.process.pid().expect("node running"));
    assert_eq!(workers.len(), 1, "{workers:?}");
    let environ = std::fs::read(format!("/proc/{}/environ", workers[0])).expect("environ");
    let mut names: Vec<String> = environ
        .split(|&b| b == 0)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            String::from_utf8_lossy(entry)
                .split('=')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["MIMALLOC_ARENA_EAGER_COMMIT", "PWS_SANDBOX_WORKER"]);
    let cwd = std::fs::read_link(format!("/proc/{}/cwd", workers[0])).expect("cwd");
    assert!(cwd.to_string_lossy().contains("pws-sandbox-"), "{cwd:?}");
    assert_eq!(
        std::fs::read_dir(&cwd).expect("list cwd").count(),
        0,
        "{cwd:?}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&cwd).expect("cwd").permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "{cwd:?}");
}

#[test]
fn slots_beyond_the_node_memory_budget_are_refused() {
    let mut command = Command::new(bin("pws-node"));
    let data_dir = tempfile::tempdir().expect("temp dir");
    command.arg("--data-dir").arg(data_dir.path()).args([
        "--relay",
        "/ip4/127.0.0.1/tcp/9",
        "--slots",
        "8",
        "--max-memory",
        "256",
        "--max-total-memory",
        "2048",
    ]);
    let finished =
        Process::spawn("pws-node", &mut command).wait_with_output(Duration::from_secs(10));
    assert!(!finished.status.success(), "{}", finished.report());
    assert!(
        finished.stderr.contains("--max-total-memory 2048 MiB")
            && finished.stderr.contains("(3 slots fit)"),
        "{}",
        finished.report()
    );
}

#[test]
fn one_memory_bomb_per_slot_keeps_the_node_within_max_total_memory() {
    const TOTAL_MIB: u64 = 1024;
    let relay = Relay::start();
    let node = Node::start(
        &relay,
        &[
            "--slots",
            "2",
            "--max-memory",
            "64",
            "--max-total-memory",
            "1024",
        ],
    );
    let relay_addr = relay.tcp();
    let bomb = task_file(
        "const all = []; for (;;) { const row = []; for (let i = 0; i < 1000; i++) row.push([i, i]); all.push(row); }",
    );
    let bomb_path = path_of(&bomb).to_string();
    let pid = node.process.pid().expect("node running");
    let (results, peak) = peak_rss_during(pid, move || {
        let bombs: Vec<_> = (0..2)
            .map(|_| {
                let (relay_addr, bomb_path) = (relay_addr.clone(), bomb_path.clone());
                std::thread::spawn(move || run_json(&relay_addr, &[], &bomb_path))
            })
            .collect();
        bombs
            .into_iter()
            .map(|b| b.join().unwrap())
            .collect::<Vec<_>>()
    });
    for result in &results {
        assert_eq!(result["error"]["kind"], "out-of-memory", "{result}");
    }
    eprintln!("peak RSS of the node and its workers: {} MiB", peak / MIB);
    assert!(peak < TOTAL_MIB * MIB, "{} MiB", peak / MIB);
    let next = run_json(&relay.tcp(), &[], &example("math.js"));
    assert_eq!(next["ok"], json!(4), "{next}");
}

#[test]
fn ten_million_empty_log_lines_keep_the_node_bounded() {
    let relay = Relay::start();
    let node = Node::start(&relay, &["--slots", "1"]);
    let pid = node.process.pid().expect("node running");
    let before = rss_bytes(pid).expect("node RSS");
    let file = task_file("for (let i = 0; i < 1e7; i++) console.log(); 'done'");
    let (relay_addr, path) = (relay.tcp(), path_of(&file).to_string());
    let started = std::time::Instant::now();
    let (result, _) = peak_rss_during(pid, move || run_json(&relay_addr, &[], &path));
    let after = rss_bytes(pid).expect("node RSS");
    eprintln!(
        "10M empty lines: {:?}, node RSS {} -> {} MiB",
        started.elapsed(),
        before / MIB,
        after / MIB
    );
    assert_eq!(result["ok"], "done", "{result}");
    let logs = result["logs"].as_array().expect("logs");
    assert!(logs.len() <= 64 * 1024 + 1, "{} lines kept", logs.len());
    assert!(logs.last().unwrap().as_str().unwrap().contains("truncated"));
    assert!(
        after < before + 50 * MIB,
        "{} -> {} MiB",
        before / MIB,
        after / MIB
    );
}
