//! Jobs: one function over many inputs, across nodes, with nothing lost or counted twice.

use std::collections::{BTreeMap, HashSet};
use std::process::Command;

use pws_tests::{Node, Process, Relay, bin, json_lines, path_of, submit, submit_with, task_file};
use serde_json::Value;

/// A task that takes a few milliseconds, so jobs last long enough to be interrupted.
const SLOW_DOUBLE: &str =
    "function(n) { let x = 0; for (let i = 0; i < 200000; i++) x += i; return n * 2; }";

/// Every index in `0..count` exactly once, each with `ok == expected(index)`.
fn assert_exactly_once(results: &[Value], count: u64, expected: impl Fn(u64) -> Value) {
    let mut seen = BTreeMap::new();
    for line in results {
        let index = line["index"].as_u64().expect("index");
        assert!(
            seen.insert(index, line.clone()).is_none(),
            "index {index} twice"
        );
        assert_eq!(line["ok"], expected(index), "{line}");
    }
    assert_eq!(seen.len() as u64, count, "every input has a result");
}

fn job_progress(journal: &str, job: &str) -> (u64, String) {
    let output = submit(&["--journal", journal, "jobs", "--json"]);
    let jobs: Value = serde_json::from_slice(&output.stdout).expect("jobs --json");
    let job = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == job)
        .expect("the job is listed")
        .clone();
    (
        job["done"].as_u64().unwrap(),
        job["state"].as_str().unwrap().to_string(),
    )
}

/// Start `pws-submit map` in the background; returns the process and the job id.
fn start_map(relay: &str, journal: &str, task: &str, range: &str) -> (Process, String) {
    let mut command = Command::new(bin("pws-submit"));
    command.args([
        "--relay",
        relay,
        "--journal",
        journal,
        "map",
        task,
        "--range",
        range,
        "--quiet",
    ]);
    let mut process = Process::spawn("pws-submit map", &mut command);
    let job = process.wait_for_stderr_line("the job id", |line| line.starts_with("job "));
    (process, job.trim_start_matches("job ").trim().to_string())
}

/// The journal file inside a test's temporary directory.
fn journal_in(dir: &tempfile::TempDir) -> String {
    dir.path().join("jobs.sqlite").to_str().unwrap().to_string()
}

/// Ask (a bounded number of times) until the job has at least `done` results journaled.
fn wait_for_progress(journal: &str, job: &str, done: u64) {
    for _ in 0..200 {
        if job_progress(journal, job).0 >= done {
            return;
        }
    }
    panic!("job {job} never reached {done} results");
}

#[test]
fn a_range_job_uses_every_node_and_writes_one_ordered_line_per_input() {
    let relay = Relay::start();
    let nodes: Vec<Node> = (0..2)
        .map(|_| Node::start(&relay, &["--slots", "2"]))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let journal = &journal_in(&dir);
    let task = task_file("function(n) { return n * n; }");
    let output = submit(&[
        "--relay",
        &relay.tcp(),
        "--journal",
        journal,
        "map",
        path_of(&task),
        "--range",
        "0..300",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results = json_lines(&output.stdout);
    let indices: Vec<u64> = results
        .iter()
        .map(|l| l["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, (0..300).collect::<Vec<_>>(), "in input order");
    assert_exactly_once(&results, 300, |n| Value::from(n * n));
    let used: HashSet<&str> = results
        .iter()
        .map(|l| l["node"].as_str().unwrap())
        .collect();
    let all: HashSet<&str> = nodes.iter().map(|n| n.peer_id.as_str()).collect();
    assert_eq!(used, all, "every node took tasks");
    assert!(
        results
            .iter()
            .all(|l| l["attempts"] == 1 && l["input"].is_u64() && l["ms"].is_f64())
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("300/300 done, 0 failed"), "{stderr}");

    let job = stderr
        .lines()
        .find_map(|l| l.strip_prefix("job "))
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(job_progress(journal, &job), (300, "done".into()));
    let stored = submit(&["--journal", journal, "results", &job]);
    assert_eq!(
        json_lines(&stored.stdout),
        results,
        "`results` prints the same lines"
    );
}

#[test]
fn failing_inputs_get_error_lines_and_exit_1() {
    let relay = Relay::start();
    let _node = Node::start(&relay, &[]);
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in.jsonl");
    std::fs::write(&inputs, "{\"n\": 1}\n{\"n\": 0}\n{\"n\": 4}\n").unwrap();
    let task =
        task_file("function(x) { if (x.n === 0) throw new Error('zero'); return 12 / x.n; }");
    let journal = dir.path().join("jobs.sqlite");
    let out = dir.path().join("out.jsonl");
    let output = submit(&[
        "--relay",
        &relay.tcp(),
        "--journal",
        journal.to_str().unwrap(),
        "map",
        path_of(&task),
        "--inputs",
        inputs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stdout.is_empty(), "results went to --out");
    let results = json_lines(&std::fs::read(&out).unwrap());
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["ok"], 12);
    assert_eq!(results[1]["error"]["kind"], "thrown");
    assert_eq!(results[1]["input"], serde_json::json!({"n": 0}));
    assert_eq!(
        results[1]["attempts"], 1,
        "deterministic failures are not retried"
    );
    assert_eq!(results[2]["ok"], 3);
}

#[test]
fn killing_a_node_mid_job_loses_nothing_and_duplicates_nothing() {
    let relay = Relay::start();
    let mut nodes: Vec<Node> = (0..3)
        .map(|_| Node::start(&relay, &["--slots", "1"]))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let journal = &journal_in(&dir);
    let task = task_file(SLOW_DOUBLE);
    let (mut map, job) = start_map(&relay.tcp(), journal, path_of(&task), "0..400");
    wait_for_progress(journal, &job, 60);
    nodes[1].process.kill();
    let output = map.wait_with_output();
    assert!(output.status.success(), "{}", output.stderr);
    assert_exactly_once(&json_lines(output.stdout.as_bytes()), 400, |n| {
        Value::from(n * 2)
    });
    assert_eq!(job_progress(journal, &job), (400, "done".into()));
}

#[test]
fn short_tasks_travel_in_batches_and_each_input_has_one_result() {
    let relay = Relay::start();
    let _nodes: Vec<Node> = (0..2).map(|_| Node::start(&relay, &[])).collect();
    let task = task_file("function(n) { return n + 1; }");
    let output = submit_with(
        &[
            "--relay",
            &relay.tcp(),
            "map",
            path_of(&task),
            "--range",
            "0..3000",
        ],
        "",
        &[("RUST_LOG", "pws_submit=debug")],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_exactly_once(&json_lines(&output.stdout), 3000, |n| Value::from(n + 1));
    assert!(
        stderr.contains("tasks in one batch"),
        "short tasks were sent one by one: {stderr}"
    );
}

#[test]
fn a_killed_submitter_resumes_and_every_input_has_exactly_one_result() {
    let relay = Relay::start();
    let _nodes: Vec<Node> = (0..2)
        .map(|_| Node::start(&relay, &["--slots", "1"]))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let journal = &journal_in(&dir);
    let task = task_file(SLOW_DOUBLE);
    let (mut map, job) = start_map(&relay.tcp(), journal, path_of(&task), "0..300");
    wait_for_progress(journal, &job, 40);
    map.kill();
    let (done, state) = job_progress(journal, &job);
    assert!(done < 300, "killed mid-job ({done} done)");
    assert_eq!(
        state, "running",
        "a killed submitter could not mark its job"
    );

    let resumed = submit(&[
        "--relay",
        &relay.tcp(),
        "--journal",
        journal,
        "resume",
        &job,
        "--quiet",
    ]);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let stored = submit(&["--journal", journal, "results", &job]);
    assert_exactly_once(&json_lines(&stored.stdout), 300, |n| Value::from(n * 2));
    assert_eq!(job_progress(journal, &job), (300, "done".into()));
}

#[test]
fn replicas_outvote_a_dishonest_node_and_report_disagreement() {
    let relay = Relay::start();
    let _honest: Vec<Node> = (0..2).map(|_| Node::start(&relay, &[])).collect();
    let mut liar_command = Command::new(bin("dishonest-node"));
    liar_command.args([relay.tcp().as_str(), "666"]);
    let mut liar = Process::spawn("dishonest-node", &mut liar_command);
    let liar_id = liar.wait_for_line("its peer id", |line| line.starts_with("12D3"));
    liar.wait_for_line("registered", |line| line == "registered");

    let dir = tempfile::tempdir().unwrap();
    let journal = &journal_in(&dir);
    let task = task_file("function(n) { return {square: n * n}; }");
    let relay_addr = relay.tcp();
    let map = |quorum: &str| {
        submit(&[
            "--relay",
            &relay_addr,
            "--journal",
            journal,
            "map",
            path_of(&task),
            "--range",
            "0..20",
            "--replicas",
            "3",
            "--quorum",
            quorum,
            "--quiet",
        ])
    };

    let output = map("2");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results = json_lines(&output.stdout);
    assert_exactly_once(&results, 20, |n| serde_json::json!({"square": n * n}));
    for line in &results {
        // A result is decided as soon as a quorum agrees; a slower third answer is not awaited.
        let answers = line["answers"]
            .as_array()
            .expect("the answers are reported");
        assert!((2..=3).contains(&answers.len()), "{line}");
        for lie in answers.iter().filter(|a| a["node"] == liar_id.as_str()) {
            assert_eq!(lie["ok"], 666);
        }
        assert_ne!(
            line["node"],
            liar_id.as_str(),
            "the accepted answer is an honest node's"
        );
    }

    let unanimous = map("3");
    assert_eq!(
        unanimous.status.code(),
        Some(1),
        "disagreements are failures"
    );
    for line in json_lines(&unanimous.stdout) {
        assert_eq!(line["error"]["kind"], "disagreement", "{line}");
        let answers = line["answers"].as_array().unwrap();
        assert_eq!(answers.len(), 3, "all three answered: {line}");
        assert!(
            answers
                .iter()
                .any(|a| a["node"] == liar_id.as_str() && a["ok"] == 666)
        );
    }
}

#[test]
fn ctrl_c_stops_a_job_cleanly_and_frees_the_nodes() {
    let relay = Relay::start();
    let node = Node::start(&relay, &["--slots", "2", "--max-time", "120"]);
    let dir = tempfile::tempdir().unwrap();
    let journal = &journal_in(&dir);
    let endless = task_file("function(n) { while (true) {} }");
    let (mut map, job) = start_map(&relay.tcp(), journal, path_of(&endless), "0..10");
    pws_tests::wait_until_busy(&relay.tcp());
    let sent = Command::new("kill")
        .args(["-INT", &map.pid().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = map.wait_with_output();
    assert_eq!(output.status.code(), Some(130), "{}", output.stderr);
    assert!(
        output.stderr.contains(&format!("pws-submit resume {job}")),
        "{}",
        output.stderr
    );
    assert_eq!(job_progress(journal, &job), (0, "interrupted".into()));
    // The node stopped the abandoned tasks and has its slots back: at once over TCP, after
    // the idle timeout over QUIC or WebRTC (a process that exits sends no close on UDP).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let listing: Value =
            serde_json::from_slice(&submit(&["--relay", &relay.tcp(), "nodes", "--json"]).stdout)
                .unwrap();
        if listing[0]["free_slots"] == 2 {
            assert_eq!(listing[0]["peer_id"], node.peer_id.as_str());
            return;
        }
    }
    panic!("the node never got its slots back");
}
