//! Jobs: one function over many inputs, across nodes, with nothing lost or counted twice.

use std::collections::{BTreeMap, HashSet};
use std::process::Command;
use std::time::{Duration, Instant};

use pws_tests::{
    Node, Process, Relay, SUBMIT_TIMEOUT, Signal, Submit, SubmitterDir, bin, json_lines,
    list_nodes, path_of, task_file, wait_until_busy,
};
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

/// A job's results so far and its state, from the journal in `state`.
fn job_progress(state: &SubmitterDir, job: &str) -> (u64, String) {
    let output = state.submit().args(["jobs", "--json"]).expect_success();
    let jobs: Value = serde_json::from_str(&output.stdout).expect("jobs --json");
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

/// Start `pws-submit map` in the background, journaling in `state`; returns the process and
/// the job id.
fn start_map(relay: &str, state: &SubmitterDir, task: &str, range: &str) -> (Process, String) {
    let mut process = state
        .submit()
        .map_range(relay, task, range)
        .arg("--quiet")
        .spawn("pws-submit map");
    let job = process.wait_for_stderr_line("the job id", |line| line.starts_with("job "));
    (process, job.trim_start_matches("job ").trim().to_string())
}

/// Ask (a bounded number of times) until the job has at least `done` results journaled.
fn wait_for_progress(state: &SubmitterDir, job: &str, done: u64) {
    for _ in 0..200 {
        if job_progress(state, job).0 >= done {
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
    let state = SubmitterDir::new();
    let task = task_file("function(n) { return n * n; }");
    let output = state
        .submit()
        .map_range(&relay.tcp(), path_of(&task), "0..300")
        .expect_success();
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
    let stderr = &output.stderr;
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
    assert_eq!(job_progress(&state, &job), (300, "done".into()));
    let stored = state.submit().args(["results", &job]).expect_success();
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
    let out = dir.path().join("out.jsonl");
    let output = Submit::new()
        .args(["--relay", &relay.tcp(), "map", path_of(&task), "--inputs"])
        .arg(&inputs)
        .arg("--out")
        .arg(&out)
        .expect_code(1);
    assert!(output.stdout.is_empty(), "results went to --out");
    let results = json_lines(&std::fs::read_to_string(&out).unwrap());
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
    let state = SubmitterDir::new();
    let task = task_file(SLOW_DOUBLE);
    let (mut map, job) = start_map(&relay.tcp(), &state, path_of(&task), "0..400");
    wait_for_progress(&state, &job, 60);
    nodes[1].process.kill();
    let output = map.wait_with_output(SUBMIT_TIMEOUT).expect_success();
    assert_exactly_once(&json_lines(&output.stdout), 400, |n| Value::from(n * 2));
    assert_eq!(job_progress(&state, &job), (400, "done".into()));
}

#[test]
fn short_tasks_travel_in_batches_and_each_input_has_one_result() {
    let relay = Relay::start();
    let _nodes: Vec<Node> = (0..2).map(|_| Node::start(&relay, &[])).collect();
    let task = task_file("function(n) { return n + 1; }");
    let output = Submit::new()
        .map_range(&relay.tcp(), path_of(&task), "0..3000")
        .env("RUST_LOG", "pws_submit=debug")
        .expect_success();
    let stderr = &output.stderr;
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
    // The resumed run reads the killed run's journal from the state they share.
    let state = SubmitterDir::new();
    let task = task_file(SLOW_DOUBLE);
    let (mut map, job) = start_map(&relay.tcp(), &state, path_of(&task), "0..300");
    wait_for_progress(&state, &job, 40);
    map.kill();
    let (done, job_state) = job_progress(&state, &job);
    assert!(done < 300, "killed mid-job ({done} done)");
    assert_eq!(
        job_state, "running",
        "a killed submitter could not mark its job"
    );

    state
        .submit()
        .args(["--relay", &relay.tcp(), "resume", &job, "--quiet"])
        .expect_success();
    let stored = state.submit().args(["results", &job]).expect_success();
    assert_exactly_once(&json_lines(&stored.stdout), 300, |n| Value::from(n * 2));
    assert_eq!(job_progress(&state, &job), (300, "done".into()));
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

    let task = task_file("function(n) { return {square: n * n}; }");
    let relay_addr = relay.tcp();
    let map = |quorum: &str| {
        Submit::new()
            .map_range(&relay_addr, path_of(&task), "0..20")
            .args(["--replicas", "3", "--quorum", quorum, "--quiet"])
    };

    let output = map("2").expect_success();
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

    // Disagreements are failures.
    let unanimous = map("3").expect_code(1);
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
    let state = SubmitterDir::new();
    let endless = task_file("function(n) { while (true) {} }");
    let (mut map, job) = start_map(&relay.tcp(), &state, path_of(&endless), "0..10");
    wait_until_busy(&relay.tcp());
    map.signal(Signal::SIGINT);
    let output = map.wait_with_output(SUBMIT_TIMEOUT).expect_code(130);
    assert!(
        output.stderr.contains(&format!("pws-submit resume {job}")),
        "{}",
        output.stderr
    );
    assert_eq!(job_progress(&state, &job), (0, "interrupted".into()));
    // The node stopped the abandoned tasks and has its slots back: at once over TCP, after
    // the idle timeout over QUIC or WebRTC (a process that exits sends no close on UDP).
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let listing = list_nodes(&relay.tcp());
        if listing[0]["free_slots"] == 2 {
            assert_eq!(listing[0]["peer_id"], node.peer_id.as_str());
            return;
        }
    }
    panic!("the node never got its slots back");
}
