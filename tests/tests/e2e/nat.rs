//! Across NATs, in a test bed of network namespaces (`pws_tests::netns`): the relay on the
//! public segment, nodes and submitters on private LANs, each LAN behind its own NAT router.
//! These tests need root: without namespaces they fail and say why.

use std::collections::HashSet;

use pws_tests::metrics::{metrics_url, scrape_until, sum_of, value};
use pws_tests::netns::{Host, Nat, NatBed};
use pws_tests::{Node, Relay, SUBMIT_TIMEOUT, Submit, example, json_lines, path_of, task_file};

/// The nodes that ran an 80-task job submitted from `host`. Each task takes 100 ms, so that
/// no one node can finish the job before the others are reached.
fn nodes_used_from(host: &Host, relay: &Relay) -> HashSet<String> {
    // 8 s of work on one slot: a node reached only through the relay (its status asked and
    // answered first) gets its share however slow a loaded machine makes that first contact.
    let task = task_file(
        "function(n) { const end = Date.now() + 100; while (Date.now() < end) {} return n + 1; }",
    );
    let output = Submit::on_host(host)
        .map_range(&relay.tcp(), path_of(&task), "0..80")
        .expect_success();
    let results = json_lines(&output.stdout);
    assert_eq!(results.len(), 80, "{}", output.stderr);
    results
        .iter()
        .map(|line| line["node"].as_str().unwrap().to_string())
        .collect()
}

/// Two LANs, one behind a NAT that keeps its mappings and one behind a NAT that randomizes
/// its ports: a submitter on either LAN gets tasks done by the nodes on both, the other
/// LAN's node reached only through the relay.
#[test]
fn tasks_cross_between_lans_behind_either_kind_of_nat() {
    let mut bed = NatBed::new();
    let relay = Relay::start_on_host(&bed.public());
    let mut keeping = bed.lan(Nat::EndpointIndependent);
    let mut randomizing = bed.lan(Nat::RandomPorts);
    let node_hosts = [bed.host(&mut keeping), bed.host(&mut randomizing)];
    let submitter_hosts = [bed.host(&mut keeping), bed.host(&mut randomizing)];
    let nodes: Vec<Node> = node_hosts
        .iter()
        .map(|host| Node::start_on_host(&relay, host, &["--slots", "1"]))
        .collect();
    let all: HashSet<String> = nodes.iter().map(|node| node.peer_id.clone()).collect();
    for host in &submitter_hosts {
        assert_eq!(nodes_used_from(host, &relay), all, "from {}", host.ip);
    }
}

/// With the relay carrying no circuits at all, a submitter still gets a task done by the
/// node on its own LAN: it reaches it directly, at the address the node registered.
#[test]
fn a_submitter_uses_a_node_on_its_own_lan_directly() {
    let mut bed = NatBed::new();
    let relay = Relay::start_on_host_with(&bed.public(), &["--max-circuits", "0"]);
    let mut lan = bed.lan(Nat::EndpointIndependent);
    let node_host = bed.host(&mut lan);
    let node = Node::start_on_host(&relay, &node_host, &[]);
    let submitter = bed.host(&mut lan);
    let output = Submit::on_host(&submitter)
        .args(["--relay", &relay.tcp(), "run", "--json"])
        .arg(example("sum.js"))
        .expect_success();
    let result = &json_lines(&output.stdout)[0];
    assert_eq!(result["ok"], 499500, "{result}");
    assert_eq!(result["node"], node.peer_id.as_str());
}

/// Two LANs behind NATs that keep their mappings: a submitter's connection to a node on the
/// other LAN starts through the relay, hole punching (DCUtR) makes a direct one, and from
/// then on the relay carries none of the job's requests.
#[test]
fn hole_punching_takes_a_job_off_the_relay() {
    let mut bed = NatBed::new();
    let relay = Relay::start_on_host(&bed.public());
    let mut node_lan = bed.lan(Nat::EndpointIndependent);
    let mut submitter_lan = bed.lan(Nat::EndpointIndependent);
    let node_host = bed.host(&mut node_lan);
    let metrics_addr = format!("{}:0", node_host.ip);
    let mut node = Node::start_on_host(
        &relay,
        &node_host,
        &["--slots", "1", "--metrics", &metrics_addr],
    );
    let metrics = metrics_url(&mut node);
    let scrape = || node_host.http_get(&metrics);

    // 200 tasks of 20 ms on one slot: 4 s, most of it after the hole punch.
    let task = task_file(
        "function(n) { const end = Date.now() + 20; while (Date.now() < end) {} return n; }",
    );
    let mut job = Submit::on_host(&bed.host(&mut submitter_lan))
        .map_range(&relay.tcp(), path_of(&task), "0..200")
        .spawn("pws-submit map");
    let outcome = node
        .process
        .wait_for_stderr_line("a hole punch", |line| line.contains("direct connection"));
    assert!(
        outcome.contains("direct connection by hole punching"),
        "{outcome}"
    );

    let tasks_done = |text: &str| value(text, r#"pws_tasks_total{outcome="ok"}"#).unwrap_or(0.0);
    let before = scrape();
    let after = scrape_until(scrape, |text| {
        tasks_done(text) >= tasks_done(&before) + 30.0
    });
    let bytes = |text: &str, relayed: bool| {
        sum_of(text, |line| {
            line.starts_with("libp2p_bandwidth_bytes_total")
                && line.contains("p2p-circuit") == relayed
        })
        .unwrap_or(0.0)
    };
    let relayed = bytes(&after, true) - bytes(&before, true);
    let direct = bytes(&after, false) - bytes(&before, false);
    println!("after the hole punch: {direct} bytes directly, {relayed} through the relay");
    // 30 tasks and their answers are several KB; a relayed ping would be under 1 KB.
    assert!(
        direct > 3_000.0 && relayed < 1_000.0,
        "after the hole punch, {direct} bytes went directly and {relayed} through the relay"
    );

    let output = job.wait_with_output(SUBMIT_TIMEOUT);
    assert!(output.status.success(), "{}", output.report());
    assert_eq!(json_lines(&output.stdout).len(), 200);
}
