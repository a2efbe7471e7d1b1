//! A submitter among nodes it cannot trust: nodes that announce thousands of free slots and
//! swallow every request, and idle announcements on gossip from identities that answer
//! nothing. The submitter gives up on a silent node at its deadline, and its jobs finish on
//! the honest nodes; the relay passes on no announcement of an identity that did not
//! register with it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use pws_tests::fakes::{SilentNodes, most_seen_by_a_submitter, time_trivial_job};
use pws_tests::metrics::{scrape_until, value};
use pws_tests::{Node, Relay, Submit, json_lines, parse_json_line, path_of, task_file};

#[test]
fn run_gives_up_on_a_node_that_never_answers() {
    let relay = Relay::start();
    let SilentNodes {
        ids,
        process: _silent,
    } = SilentNodes::start(&relay.tcp(), 4096, 1, false);
    let task = task_file("function() { return 1; }");
    let started = Instant::now();
    let output = Submit::new()
        .args(["--relay", &relay.tcp(), "run", "--json", "--timeout", "2"])
        .arg(path_of(&task))
        .expect_code(1);
    let elapsed = started.elapsed();
    let result = parse_json_line(&output);
    assert_eq!(result["error"]["kind"], "timeout", "{result}");
    let message = result["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&ids[0]),
        "names the silent node: {message}"
    );
    eprintln!("run --timeout 2 against a silent node exited after {elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[test]
fn a_job_finishes_on_the_honest_node_beside_a_silent_one() {
    let relay = Relay::start();
    let _honest = Node::start(&relay, &["--slots", "2"]);
    let SilentNodes {
        ids,
        process: _silent,
    } = SilentNodes::start(&relay.tcp(), 4096, 1, false);
    let task = task_file("function(n) { return n * 2; }");
    let started = Instant::now();
    let output = Submit::new()
        .map_range(&relay.tcp(), path_of(&task), "0..40")
        .args(["--timeout", "2", "--quiet"])
        .expect_success();
    eprintln!("40 tasks beside a silent node took {:?}", started.elapsed());
    let results = json_lines(&output.stdout);
    assert_eq!(results.len(), 40);
    for line in &results {
        assert_eq!(line["ok"], line["index"].as_u64().unwrap() * 2, "{line}");
        assert_ne!(line["node"], ids[0].as_str(), "{line}");
    }
    // Both nodes look alike at first (untried), so the silent one gets its one request.
    assert!(
        output.stderr.contains(&ids[0]),
        "the silent node is reported set aside\n{}",
        output.stderr
    );
}

/// Fake idle nodes on gossip in this test; the benchmark `attacks` measures a job beside
/// 10,000 of them (release binaries), and BENCHMARKS.md has its numbers.
const FAKES: usize = 1000;

#[test]
fn fake_idle_nodes_on_gossip_reach_no_submitter_and_do_not_fail_a_job() {
    let relay = Relay::start();
    let _honest: Vec<Node> = (0..2)
        .map(|_| Node::start(&relay, &["--slots", "2"]))
        .collect();
    let baseline = time_trivial_job(&relay, 1000);
    // Returns once every fake has announced itself at least once.
    let fakes = SilentNodes::start(&relay.tcp(), 4096, FAKES, true);
    let fake_ids: HashSet<String> = fakes.ids.iter().cloned().collect();
    // Every fake announces itself every 2 s; none of it may reach a submitter.
    let seen = most_seen_by_a_submitter(&relay, &fake_ids, 1, Duration::from_secs(5));
    assert_eq!(seen, 0, "fake announcements reached a submitter");
    // The relay drops them before checking their signatures: none reaches its own checks.
    let metrics = format!("{}metrics", relay.http);
    let text = scrape_until(
        || pws_tests::http::get(&metrics),
        |text| value(text, "pws_relay_unregistered_announcements_total") >= Some(FAKES as f64),
    );
    // Each fake announces every 2 s, so checking theirs would count thousands by now; the
    // two honest nodes' announcements are a few dozen.
    let checked = value(&text, "libp2p_gossipsub_messages_total").unwrap_or(0.0);
    assert!(
        checked < FAKES as f64 / 2.0,
        "{checked} announcements reached the relay's checks, more than the honest nodes send"
    );
    let with_fakes = time_trivial_job(&relay, 1000);
    eprintln!("1,000 tasks on 2 nodes: {baseline:?} alone, {with_fakes:?} beside {FAKES} fakes");
    // Every result is checked in time_trivial_job; the time is the benchmark's to judge.
}
