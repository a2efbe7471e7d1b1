//! The coordinator page (`/submit/`): a submitter in headless Chromium that sees the nodes,
//! runs the examples and jobs on them, and gives the same results as `pws-submit`.

use std::time::Duration;

use pws_tests::browser::{Browser, artifact_path};
use pws_tests::coordinator::{CONNECT_TIMEOUT, CoordinatorPage, TASK_TIMEOUT};
use pws_tests::private::{grant, granted_node, submitter_id};
use pws_tests::{Node, Relay, Submit, SubmitterDir, json_lines, path_of, task_file};
use serde_json::{Value, json};

use crate::browser::open_browser_node_at;

fn job_state(page: &mut CoordinatorPage) -> String {
    page.browser.text_of("job-state")
}

/// `index`, `input` and `ok` of each result line, the parts that do not depend on which node
/// ran the task or how fast.
fn results_of(lines: &[Value]) -> Vec<Value> {
    lines
        .iter()
        .map(|line| json!([line["index"], line["input"], line["ok"]]))
        .collect()
}

#[test]
fn the_coordinator_page_runs_tasks_and_jobs_like_pws_submit() {
    let relay = Relay::start();
    let _native = [Node::start(&relay, &[]), Node::start(&relay, &[])];
    let (_browser_node, browser_peer) = open_browser_node_at(&relay, "");

    let mut page = CoordinatorPage::open(&relay.http);
    page.browser.wait_for(
        "the three nodes, one of them a browser",
        "document.getElementById('node-count').textContent === '(3: 2 native, 1 browser)'",
        CONNECT_TIMEOUT,
    );
    assert_eq!(page.browser.text_of("connection"), "connected");
    let listed = page
        .browser
        .evaluate("[...document.querySelectorAll('#nodes tr')].map((row) => row.dataset.peer)");
    assert!(
        listed.as_array().unwrap().contains(&json!(browser_peer)),
        "the browser node is in the table: {listed}"
    );

    for (example, expected) in [("math.js", "4"), ("sum.js", "499500"), ("array.js", "15")] {
        page.browser.evaluate(&format!(
            "document.querySelector('[data-example=\"{example}\"]').click()"
        ));
        page.browser.wait_for(
            &format!("{example} in the editor"),
            &format!("document.querySelector('#editor textarea').value.includes('{expected}')"),
            TASK_TIMEOUT,
        );
        assert_eq!(page.run_once(), expected, "{example}");
        let node = page.browser.text_of("result-node");
        assert!(node.starts_with("12D3KooW"), "{example} ran on {node:?}");
    }

    page.type_code(
        "function() { console.log('about to fail'); throw new Error('boom at the node'); }",
    );
    let shown = page.run_once();
    assert!(
        shown.starts_with("thrown: ") && shown.contains("boom at the node"),
        "{shown}"
    );
    assert_eq!(page.browser.text_of("result-logs"), "about to fail");
    let history = page
        .browser
        .evaluate("document.querySelector('#history li').textContent");
    assert!(
        history.as_str().unwrap().contains("your task → thrown: "),
        "{history}"
    );

    // A job: every result, the bar full, and the download equal to `pws-submit map`'s.
    let task = "function(x) { return x * x; }";
    page.type_code(task);
    page.start_job("0..200");
    page.browser.wait_for(
        "the job complete",
        "document.getElementById('job-state').textContent === 'complete'",
        Duration::from_secs(60),
    );
    let bar = page.browser.evaluate(
        "[document.getElementById('job-progress').value, document.getElementById('job-progress').max]",
    );
    assert_eq!(bar, json!([200, 200]), "the bar reaches 100%");
    assert!(
        page.browser.text_of("job-done").starts_with("200 of 200"),
        "{}",
        page.browser.text_of("job-done")
    );
    let shown_rows = page
        .browser
        .evaluate("document.getElementById('results').rows.length");
    assert_eq!(shown_rows, json!(200));
    page.browser
        .screenshot(&artifact_path("coordinator-page.png"));
    page.browser.set_viewport(390, 844, true);
    assert_eq!(
        page.browser
            .evaluate("document.documentElement.scrollWidth <= window.innerWidth"),
        json!(true),
        "the page fits a phone's width"
    );
    page.browser
        .screenshot(&artifact_path("coordinator-page-phone.png"));
    page.browser.set_viewport(900, 700, false);

    let downloads = tempfile::tempdir().expect("temp dir");
    page.browser.allow_downloads(downloads.path());
    let file = page.browser.download(
        downloads.path(),
        "document.getElementById('download').click()",
    );
    let downloaded = json_lines(&std::fs::read_to_string(&file).expect("the download"));
    assert_eq!(downloaded.len(), 200);

    let task_file = task_file(task);
    let mapped = Submit::new()
        .map_range(&relay.tcp(), path_of(&task_file), "0..200")
        .expect_success();
    let mapped = json_lines(&mapped.stdout);
    assert_eq!(results_of(&downloaded), results_of(&mapped));

    // Cancel stops a long job: no more results come once it says so.
    page.type_code(
        "function(x) { const end = Date.now() + 200; while (Date.now() < end) {} return x; }",
    );
    page.start_job("0..1000");
    page.browser.wait_for(
        "the long job under way",
        "document.getElementById('results').rows.length >= 5",
        TASK_TIMEOUT,
    );
    page.browser
        .evaluate("document.getElementById('cancel-job').click()");
    page.browser.wait_for(
        "the job cancelled",
        "document.getElementById('job-state').textContent.startsWith('cancelled')",
        TASK_TIMEOUT,
    );
    let state = job_state(&mut page);
    let done: u64 = page
        .browser
        .evaluate("document.getElementById('job-progress').value")
        .as_u64()
        .expect("a count");
    assert!(done < 1000, "{state}: {done} done");
    assert_eq!(
        state,
        format!("cancelled; {} tasks without a result", 1000 - done)
    );
    assert_eq!(
        page.browser
            .evaluate("document.getElementById('start-job').hidden"),
        json!(false),
        "a new job can start"
    );
}

#[test]
fn the_coordinator_page_says_in_words_when_no_node_takes_a_task() {
    let relay = Relay::start();
    let mut page = CoordinatorPage::open(&relay.http);
    page.browser.wait_for(
        "that there is no node yet",
        "document.getElementById('node-count').textContent.startsWith('(none yet')",
        TASK_TIMEOUT,
    );
    let shown = page.run_once();
    assert!(shown.starts_with("no-nodes: no node found"), "{shown}");
}

/// The page reaches a native node directly, over the node's WebRTC-direct address: the relay
/// carries no circuit for it.
#[test]
fn the_coordinator_page_reaches_a_native_node_directly() {
    let relay = Relay::start();
    let node = Node::start(&relay, &[]);
    let mut page = CoordinatorPage::open(&relay.http);
    assert_eq!(page.run_once(), "4");
    assert_eq!(page.browser.text_of("result-node"), node.peer_id);
    let metrics = pws_tests::http::get(&format!("{}metrics", relay.http));
    let circuits: Vec<&str> = metrics
        .lines()
        .filter(|line| line.contains("CircuitReq"))
        .collect();
    assert!(
        circuits.iter().all(|line| line.ends_with(" 0")),
        "the relay carried circuits: {circuits:?}"
    );
}

/// In a private network the page shows its peer id, says it needs a grant, and once the
/// owner's grant is pasted it joins (with the same key, after a reload) and runs tasks on the
/// network's nodes.
#[test]
fn the_coordinator_page_joins_a_private_network_with_a_pasted_grant() {
    let owner = SubmitterDir::new();
    let network = submitter_id(&owner);
    let relay = Relay::start_with(&["--network", &network]);
    let node = granted_node(&relay, &owner, &network, "a node", &[]);
    let mut browser = Browser::open(&format!("{}submit/", relay.http));
    let peer_id = browser.wait_until_grant_needed(CONNECT_TIMEOUT);
    assert_ne!(browser.text_of("connection"), "connected");

    let grant = grant(&owner, &peer_id, "submit", "the page");
    browser.evaluate(&format!(
        "document.getElementById('grant').value = {grant:?}; \
         document.getElementById('grant-form').requestSubmit(); true"
    ));
    browser.wait_for_load();
    let mut page = CoordinatorPage::connected(browser);
    assert_eq!(page.browser.text_of("peer-id"), peer_id, "the key was kept");
    assert_eq!(page.run_once(), "4");
    assert_eq!(page.browser.text_of("result-node"), node.peer_id);
}
