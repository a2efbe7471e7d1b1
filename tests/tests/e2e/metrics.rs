//! Metrics in Prometheus' text format: a node's (`--metrics ADDR`) and the relay's
//! (`/metrics` on its web server) count known work, and `promtool check metrics` accepts
//! both expositions.

use std::io::Write;
use std::process::{Command, Stdio};

use pws_tests::metrics::{metrics_url, scrape_until, sum_of, value};
use pws_tests::{Node, Relay, example, path_of, run_json, task_file};
use serde_json::json;

#[test]
fn node_and_relay_metrics_count_known_work() {
    let relay = Relay::start();
    // Reachable only through the relay, so the relay carries (and counts) the task traffic.
    let mut node = Node::start_with(
        &relay,
        &["--relay-only", "--slots", "2", "--metrics", "127.0.0.1:0"],
    );
    let node_metrics = metrics_url(&mut node);
    let relay_metrics = format!("{}metrics", relay.http);
    let relay_addr = relay.tcp();

    for _ in 0..3 {
        assert_eq!(
            run_json(&relay_addr, &[], &example("math.js"))["ok"],
            json!(4)
        );
    }
    let thrown = task_file("function() { throw new Error('counted'); }");
    let result = run_json(&relay_addr, &[], path_of(&thrown));
    assert_eq!(result["error"]["kind"], "thrown", "{result}");
    // Overruns its time: the node kills its worker and starts another.
    let endless = task_file("while (true) {}");
    let result = run_json(&relay_addr, &["--timeout", "0.5"], path_of(&endless));
    assert_eq!(result["error"]["kind"], "timeout", "{result}");

    // The node counts a task as its slot frees, a moment after the answer left: wait for it.
    let text = scrape_until(
        || pws_tests::http::get(&node_metrics),
        |text| {
            value(text, "pws_task_duration_seconds_count") == Some(5.0)
                && value(text, "pws_slots_busy") == Some(0.0)
        },
    );
    let expected = [
        (r#"pws_tasks_total{outcome="ok"}"#, 3.0),
        (r#"pws_tasks_total{outcome="thrown"}"#, 1.0),
        (r#"pws_tasks_total{outcome="timeout"}"#, 1.0),
        ("pws_slots", 2.0),
        ("pws_worker_restarts_total", 1.0),
    ];
    for (sample, count) in expected {
        assert_eq!(value(&text, sample), Some(count), "{sample} in:\n{text}");
    }
    assert!(
        sum_of(&text, |line| line
            .starts_with("libp2p_swarm_connections_established_total"))
        .unwrap_or(0.0)
            >= 5.0,
        "each submitter's connection is counted:\n{text}"
    );
    assert!(
        sum_of(&text, |line| line
            .starts_with("libp2p_bandwidth_bytes_total"))
        .unwrap_or(0.0)
            > 0.0,
        "bandwidth is counted:\n{text}"
    );
    assert!(
        !text.contains("pws_relay_"),
        "a node has no relay gauges:\n{text}"
    );
    let heap = value(&text, "pws_heap_bytes").expect("the node's heap");
    assert!(
        (100e3..1e9).contains(&heap),
        "a node's heap of {heap} bytes"
    );
    promtool_accepts(&text);

    // The relay: the node registered and holds a reservation; every run came through a
    // circuit, closed once its submitter left.
    let text = scrape_until(
        || pws_tests::http::get(&relay_metrics),
        |text| {
            value(text, "pws_relay_circuits") == Some(0.0)
                && value(text, "pws_relay_reservations") == Some(1.0)
        },
    );
    assert_eq!(
        value(&text, "pws_relay_registered_peers"),
        Some(1.0),
        "{text}"
    );
    assert!(
        value(
            &text,
            r#"libp2p_relay_events_total{event="CircuitReqAccepted"}"#
        )
        .unwrap_or(0.0)
            >= 5.0,
        "five runs, five circuits at least:\n{text}"
    );
    assert!(
        value(&text, "pws_peers").unwrap_or(0.0) >= 1.0,
        "the node is connected:\n{text}"
    );
    // The relayed task traffic, both ways.
    assert!(
        sum_of(&text, |line| line
            .starts_with("libp2p_bandwidth_bytes_total"))
        .unwrap_or(0.0)
            > 10_000.0,
        "{text}"
    );
    promtool_accepts(&text);
}

/// `promtool check metrics` (Debian's `prometheus` package) finds no problem in `text`.
fn promtool_accepts(text: &str) {
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (apt-get install prometheus; scripts/test does)");
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("promtool reads the exposition");
    let output = promtool.wait_with_output().expect("promtool ends");
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}\nin:\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
