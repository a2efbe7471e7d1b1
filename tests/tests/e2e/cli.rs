//! The command line as a newcomer meets it: `--local`, and clear errors.

use std::time::{Duration, Instant};

use pws_tests::{Node, Relay, SUBMIT_TIMEOUT, Signal, Submit, example, parse_json_line};

#[test]
fn local_mode_runs_the_main_job_with_no_setup() {
    let output = Submit::new()
        .args(["--local", "3", "run", &example("sum.js")])
        .expect_success();
    assert_eq!(output.stdout.trim(), "499500");
}

#[test]
fn local_mode_lists_its_nodes() {
    let output = Submit::new()
        .args(["--local", "2", "nodes", "--json"])
        .expect_success();
    assert_eq!(parse_json_line(&output).as_array().unwrap().len(), 2);
}

#[test]
fn usage_mistakes_exit_2_with_a_message() {
    let no_network = Submit::new()
        .args(["run", &example("sum.js")])
        .expect_code(2);
    assert!(no_network.stderr.contains("--relay"));

    let bad_input = Submit::new()
        .args([
            "--local",
            "1",
            "run",
            &example("sum.js"),
            "--input",
            "{nope",
        ])
        .expect_code(2);
    assert!(bad_input.stderr.contains("--input is not valid JSON"));

    let missing = Submit::new()
        .args(["--local", "1", "run", "/no/such/task.js"])
        .expect_code(2);
    assert!(missing.stderr.contains("/no/such/task.js"));
}

#[test]
fn no_nodes_and_no_relay_are_clear_failures() {
    let relay = Relay::start();
    let output = Submit::new()
        .args([
            "--relay",
            &relay.tcp(),
            "--wait",
            "0.5",
            "run",
            "--json",
            &example("sum.js"),
        ])
        .expect_code(3);
    assert_eq!(parse_json_line(&output)["error"]["kind"], "no-nodes");

    let dead_relay = relay
        .tcp()
        .replace(&relay.tcp().split('/').nth(4).unwrap().to_string(), "1");
    // Nothing listens there: the refusal is reported at once, not after the 20 s a dial
    // that may still succeed is given.
    let started = Instant::now();
    let output = Submit::new()
        .args(["--relay", &dead_relay, "run", &example("sum.js")])
        .expect_code(3);
    assert!(output.stderr.contains("cannot reach the relay"));
    assert!(output.stderr.contains("refused"), "{}", output.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a refused connection took {:?} to report",
        started.elapsed()
    );
}

/// `nodes --watch --json` prints the registry again and again: a node that starts while it
/// watches shows up, and Ctrl-C ends the watch with success.
#[test]
fn nodes_watch_shows_nodes_as_they_come_until_ctrl_c() {
    let relay = Relay::start();
    let _first = Node::start(&relay, &[]);
    let mut watch = Submit::new()
        .args(["--relay", &relay.tcp(), "nodes", "--watch", "--json"])
        .spawn("pws-submit nodes --watch");
    let count = |line: &str| {
        serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|nodes| nodes.as_array().map(Vec::len))
    };
    watch.wait_for_line("a list of one node", |line| count(line) == Some(1));
    let _second = Node::start(&relay, &[]);
    watch.wait_for_line("a list of two nodes", |line| count(line) == Some(2));
    watch.signal(Signal::SIGINT);
    watch.wait_with_output(SUBMIT_TIMEOUT).expect_success();
}
