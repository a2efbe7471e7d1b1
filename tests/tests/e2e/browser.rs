//! The browser node: the relay's page in real headless Chromium becomes a node that
//! `pws-submit` finds and uses like any other.

use std::time::Duration;

use pws_tests::browser::{Browser, artifact_path};
use pws_tests::private::{grant, member_runs, submitter_id};
use pws_tests::{
    Node, Relay, Submit, SubmitterDir, example, json_lines, list_nodes, path_of, run_json,
    task_file,
};
use serde_json::{Value, json};

/// Loading ~10 MB of wasm and connecting takes a few seconds; leave room for a loaded CI.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Open the relay's page and wait until its node is registered; returns the browser and the
/// node's peer id as the page shows it.
fn open_browser_node(relay: &Relay) -> (Browser, String) {
    open_browser_node_at(relay, "")
}

/// The same, with a query string (`?slots=…`) on the page's URL.
pub(crate) fn open_browser_node_at(relay: &Relay, query: &str) -> (Browser, String) {
    let mut browser = Browser::open(&format!("{}{query}", relay.http));
    let peer_id = browser.wait_until_node_connected(CONNECT_TIMEOUT);
    (browser, peer_id)
}

/// The node list as `pws-submit nodes --json` prints it.
fn nodes(relay: &Relay) -> Vec<Value> {
    list_nodes(&relay.tcp())
        .as_array()
        .expect("a JSON array")
        .clone()
}

#[test]
fn a_browser_tab_is_a_node_that_runs_the_examples_and_survives_hostile_tasks() {
    let relay = Relay::start();
    let (mut browser, peer_id) = open_browser_node(&relay);
    browser.screenshot(&artifact_path("web-node-connected.png"));

    let listed = nodes(&relay);
    let entry = listed
        .iter()
        .find(|node| node["peer_id"] == json!(peer_id))
        .unwrap_or_else(|| panic!("the browser node is not listed: {listed:?}"));
    assert_eq!(entry["browser"], json!(true), "{entry}");
    assert_eq!(entry["engine"], json!("boa 0.22 (wasm)"), "{entry}");

    for (file, expected) in [
        ("math.js", json!(4)),
        ("sum.js", json!(499500)),
        ("array.js", json!(15)),
    ] {
        let result = run_json(&relay.tcp(), &[], &example(file));
        assert_eq!(result["ok"], expected, "{file} in the browser: {result}");
        assert_eq!(
            result["node"],
            json!(peer_id),
            "{file} ran elsewhere: {result}"
        );
    }

    let endless = task_file("while (true) {}");
    let result = run_json(&relay.tcp(), &["--timeout", "1"], path_of(&endless));
    assert_eq!(result["error"]["kind"], json!("timeout"), "{result}");

    let bomb = task_file("const a = []; while (true) a.push(new Array(1e6).fill(1.5));");
    let result = run_json(&relay.tcp(), &[], path_of(&bomb));
    assert_eq!(result["error"]["kind"], json!("out-of-memory"), "{result}");

    let recursion = task_file("function f(n) { return f(n + 1) + 1; } f(0);");
    let result = run_json(&relay.tcp(), &[], path_of(&recursion));
    assert_eq!(result["error"]["kind"], json!("stack"), "{result}");

    // Through the relay, over WebRTC, in both directions.
    crate::transports::assert_large_messages_cross(&relay.tcp(), &[]);

    let thrown = task_file("throw new Error('boom')");
    let result = run_json(&relay.tcp(), &[], path_of(&thrown));
    assert_eq!(result["error"]["kind"], json!("thrown"), "{result}");

    // After all that, the tab still serves.
    let result = run_json(&relay.tcp(), &[], &example("math.js"));
    assert_eq!(result["ok"], json!(4), "{result}");
    browser.wait_for(
        "9 completed tasks",
        "document.getElementById('completed').textContent === '9'",
        Duration::from_secs(10),
    );
    assert!(
        browser.text_of("last-task").starts_with("ok in"),
        "{}",
        browser.text_of("last-task")
    );
}

#[test]
fn a_job_uses_a_native_and_a_browser_node() {
    let relay = Relay::start();
    let native = Node::start(&relay, &["--slots", "1"]);
    let (_browser, browser_id) = open_browser_node(&relay);
    // Tasks long enough (~30 ms) that one node cannot take them all before the other asks.
    let task = task_file(
        "function(n) { const t = Date.now(); while (Date.now() - t < 30) {} return n * 2; }",
    );
    let output = Submit::new()
        .args(["--relay", &relay.tcp(), "map", path_of(&task)])
        .args(["--range", "0..60"])
        .expect_success();
    let lines = json_lines(&output.stdout);
    assert_eq!(lines.len(), 60);
    for (index, line) in lines.iter().enumerate() {
        assert_eq!(line["ok"], json!(index * 2), "{line}");
    }
    let ran_on = |id: &str| {
        lines
            .iter()
            .filter(|line| line["node"] == json!(id))
            .count()
    };
    let (on_native, on_browser) = (ran_on(&native.peer_id), ran_on(&browser_id));
    assert!(
        on_native > 0 && on_browser > 0,
        "native {on_native}, browser {on_browser}"
    );
    assert_eq!(on_native + on_browser, 60);
}

#[test]
fn a_relayed_browser_node_serves_past_libp2p_default_circuit_limits() {
    // libp2p's default circuit allows 128 KiB per direction and 2 minutes; one submitter's
    // job to the tab (reachable only through the relay) carries more for longer.
    let relay = Relay::start();
    let (_browser, browser_id) = open_browser_node(&relay);
    let padding = "x".repeat(4096);
    let inputs: String = (0..130)
        .map(|index| format!("{}\n", json!({ "index": index, "padding": padding })))
        .collect();
    let inputs_file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(inputs_file.path(), inputs).expect("write inputs");
    // Each task holds the tab for a second, so 130 of them keep the circuit busy > 2 min.
    let task = task_file(
        "function(x) { const t = Date.now(); while (Date.now() - t < 1000) {} return x.padding.length + x.index; }",
    );
    let started = std::time::Instant::now();
    let output = Submit::new()
        .args(["--relay", &relay.tcp(), "map", path_of(&task)])
        .arg("--inputs")
        .arg(inputs_file.path())
        .timeout(Duration::from_secs(400))
        .expect_success();
    assert!(
        started.elapsed() > Duration::from_secs(125),
        "{:?}",
        started.elapsed()
    );
    let lines = json_lines(&output.stdout);
    assert_eq!(lines.len(), 130);
    for (index, line) in lines.iter().enumerate() {
        assert_eq!(line["ok"], json!(4096 + index), "{line}");
        assert_eq!(line["node"], json!(browser_id), "{line}");
        // Never re-sent: the one relayed connection carried every task.
        assert_eq!(line["attempts"], json!(1), "{line}");
    }
}

#[test]
fn a_page_dials_the_relay_at_the_host_it_was_loaded_from() {
    // The relay listens for WebRTC on every interface and the page is opened at 127.0.0.2,
    // an address the relay never printed (as a phone opens the relay's LAN address): the
    // page must be told, and dial, that same host.
    let listen = ["/ip4/127.0.0.1/tcp/0", "/ip4/0.0.0.0/udp/0/webrtc-direct"]
        .map(|addr| addr.parse().expect("valid multiaddr"));
    let relay = Relay::start_listening(&listen, "0.0.0.0:0");
    let port = relay
        .http
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .expect("a port")
        .to_string();
    let mut browser = Browser::open(&format!("http://127.0.0.2:{port}/"));
    let peer_id = browser.wait_until_node_connected(CONNECT_TIMEOUT);
    let dialed = browser.evaluate("fetch('api/relay').then((r) => r.json()).then((j) => j.addr)");
    assert!(
        dialed
            .as_str()
            .is_some_and(|addr| addr.starts_with("/ip4/127.0.0.2/udp/")),
        "the page was given {dialed}"
    );
    let result = run_json(&relay.tcp(), &[], &example("math.js"));
    assert_eq!(result["ok"], json!(4), "{result}");
    assert_eq!(result["node"], json!(peer_id), "{result}");
}

#[test]
fn the_page_switch_stops_the_node_and_starts_a_new_one() {
    let relay = Relay::start();
    let (mut browser, first) = open_browser_node(&relay);
    browser.evaluate("document.getElementById('switch').click()");
    browser.wait_for(
        "the stopped state",
        "document.getElementById('connection').textContent === 'stopped'",
        Duration::from_secs(20),
    );
    // A stopped node unregisters; the relay may take a moment to process it.
    let gone = (0..50).any(|_| {
        nodes(&relay)
            .iter()
            .all(|node| node["peer_id"] != json!(first))
    });
    assert!(gone, "the stopped tab is still listed");

    browser.evaluate("document.getElementById('switch').click()");
    let second = browser.wait_until_node_connected(CONNECT_TIMEOUT);
    assert_ne!(
        first, second,
        "in the open network each start is a new node"
    );
    let result = run_json(&relay.tcp(), &[], &example("math.js"));
    assert_eq!(result["ok"], json!(4), "{result}");
    assert_eq!(result["node"], json!(second), "{result}");
}

#[test]
fn a_tab_keeps_its_peer_id_and_joins_a_private_network_with_a_pasted_grant() {
    let owner = SubmitterDir::new();
    let network = submitter_id(&owner);
    let relay = Relay::start_with(&["--network", &network]);
    let mut browser = Browser::open(&relay.http);
    let peer_id = browser.wait_until_grant_needed(CONNECT_TIMEOUT);
    // The key is kept: a reload shows the same peer id.
    browser.navigate(&format!("{}?again", relay.http));
    browser.wait_for(
        "the peer id",
        "document.getElementById('peer-id').textContent.startsWith('12D3')",
        CONNECT_TIMEOUT,
    );
    assert_eq!(
        browser.text_of("peer-id"),
        peer_id,
        "a new peer id after a reload"
    );
    assert_ne!(
        browser.text_of("connection"),
        "connected",
        "admitted without a grant"
    );

    // The grant is pasted; the page starts again with it.
    let grant = grant(&owner, &peer_id, "node", "a tab");
    browser.evaluate(&format!(
        "document.getElementById('grant').value = {grant:?}; \
         document.getElementById('grant-form').requestSubmit(); true"
    ));
    browser.wait_for_load();
    assert_eq!(browser.wait_until_node_connected(CONNECT_TIMEOUT), peer_id);

    let result = member_runs(&relay.tcp(), &owner, &network, &example("math.js"));
    assert_eq!(result["ok"], json!(4), "{result}");
    assert_eq!(result["node"], json!(peer_id), "{result}");
}

#[test]
fn the_network_page_shows_every_node_and_a_moving_task_count() {
    let relay = Relay::start();
    let _native = [Node::start(&relay, &[]), Node::start(&relay, &[])];
    let (_browser_node, browser_peer) = open_browser_node(&relay);

    let mut page = Browser::open(&format!("{}network/", relay.http));
    page.wait_for(
        "three nodes, one of them a browser",
        "document.getElementById('nodes').textContent === '3 (2 native, 1 browser)'",
        CONNECT_TIMEOUT,
    );
    let listed =
        page.evaluate("[...document.querySelectorAll('#table tr')].map((row) => row.dataset.peer)");
    assert!(
        listed.as_array().unwrap().contains(&json!(browser_peer)),
        "the browser node is in the table: {listed}"
    );
    let before: u64 = page.text_of("completed").parse().expect("a count");

    let task = task_file("function(x) { return x * 2; }");
    Submit::new()
        .map_range(&relay.tcp(), path_of(&task), "0..40")
        .expect_success();
    page.wait_for(
        "the 40 tasks counted",
        &format!(
            "Number(document.getElementById('completed').textContent) >= {}",
            before + 40
        ),
        Duration::from_secs(20),
    );
    page.screenshot(&artifact_path("network-page.png"));
    // The relay's page links to it, so a phone gets there from the page it opened.
    let link = pws_tests::http::get(&relay.http);
    assert!(link.contains("href=\"network/\""), "{link}");
}

#[test]
fn a_private_network_relay_lists_its_nodes_to_nobody_over_http() {
    let owner = libp2p::PeerId::random().to_string();
    let relay = Relay::start_with(&["--network", &owner]);
    let answer = pws_tests::http::exchange(
        &relay.http,
        "GET /api/nodes HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("pws-submit nodes"), "{answer}");
}

/// Tabs closed without leaving (their browser killed) stay registered at the relay until it
/// notices, and a status request to them hangs meanwhile: a submitter still runs its task on
/// the live tab, without waiting for the dead ones to time out.
#[test]
fn a_submitter_uses_a_live_tab_beside_closed_ones() {
    let relay = Relay::start();
    for _ in 0..3 {
        let (closed, _) = open_browser_node(&relay);
        drop(closed);
    }
    let (_browser, peer_id) = open_browser_node(&relay);
    let started = std::time::Instant::now();
    let result = run_json(&relay.tcp(), &[], &example("math.js"));
    eprintln!("answered in {:?}", started.elapsed());
    assert_eq!(result["ok"], json!(4), "{result}");
    assert_eq!(result["node"], json!(peer_id), "{result}");
}
