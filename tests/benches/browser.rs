//! Browser node benchmarks; prints tables. Run with
//! `web-node/build.sh && cargo bench -p pws-tests --bench browser`.
//!
//! - page load to connected: a fresh headless Chromium opens the relay's page until the node
//!   is registered (wasm download and compile, WebRTC to the relay, reservation, rendezvous);
//! - a trivial task's round trip to a browser node through the relay, beside a native node
//!   that is also reachable only through the relay (`--relay-only`), and tasks/s to each;
//! - the CPU task set on Boa in the browser (wasm) against Boa in a native node;
//! - the coordinator page: load to the first node shown, and a trivial task's round trip
//!   from the page against `pws-submit`'s (the same dispatch code) in the same run.

use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};
use pws_net::protocol::{Outcome, TaskRequest};
use pws_net::strategy::Strategy;
use pws_net::transport::TransportKind;
use pws_submit::cursor::Cursor;
use pws_submit::dispatch;
use pws_submit::session::Session;
use pws_tests::browser::Browser;
use pws_tests::coordinator::CoordinatorPage;
use pws_tests::{Node, Relay};

#[path = "../../pws-node/benches/shared/cpu_set.rs"]
mod cpu_set;
use cpu_set::CPU_SET;

#[path = "shared/load.rs"]
mod load;
#[path = "shared/stats.rs"]
mod stats;
use stats::{ms, percentile};

const PAGE_LOADS: usize = 5;
const ROUND_TRIPS: usize = 300;
const WARM_UP: usize = 20;
const THROUGHPUT_TASKS: usize = 600;
const SLOTS: usize = 2;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

// Sandbox workers started from this process run under the same allocator as in pws-node.
#[global_allocator]
static ALLOCATOR: pws_node::memory::LimitedAllocator = pws_node::memory::LimitedAllocator;

fn main() {
    pws_node::sandbox::worker::run_if_requested();
    pws_net::transport::install_crypto_provider();
    coordinator_page();
    let relay = Relay::start();

    let mut browser = Browser::launch();
    browser.navigate(&format!("{}?slots={SLOTS}", relay.http));
    let browser_node: PeerId = browser
        .wait_until_node_connected(CONNECT_TIMEOUT)
        .parse()
        .expect("a peer id");
    let native = Node::start_with(&relay, &["--relay-only", "--slots", &SLOTS.to_string()]);
    let native_node: PeerId = native.peer_id.parse().expect("a peer id");
    let nodes = [
        ("browser tab (relayed)", browser_node),
        ("native node, --relay-only", native_node),
    ];

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let relay_addr: Multiaddr = relay.tcp().parse().unwrap();
        let session = Session::connect(&relay_addr, &[TransportKind::Tcp])
            .await
            .unwrap();
        // Learn the nodes' (relayed) addresses.
        let found = session.refresh().await.unwrap();
        let found: Vec<PeerId> = found.iter().map(|node| node.peer_id).collect();
        assert_eq!(
            found.len(),
            2,
            "both nodes are found: {found:?} of {nodes:?}"
        );
        println!("\n| node | task p50 | task p99 | tasks/s ({SLOTS} slots, {SLOTS} senders) |");
        println!("|---|---|---|---|");
        for (label, node) in nodes {
            let samples = load::round_trips(&session.client, node, WARM_UP, ROUND_TRIPS).await;
            let per_second = load::throughput(&session.client, node, SLOTS, THROUGHPUT_TASKS).await;
            println!(
                "| {label} | {} | {} | {per_second:.0} |",
                ms(percentile(&samples, 0.5)),
                ms(percentile(&samples, 0.99))
            );
        }
        cpu_set(&session, browser_node, native_node).await;
    });
    // Last: the tabs it opens close without leaving, and stay registered at the relay until
    // it notices they are gone.
    page_loads(&relay);
}

/// The coordinator page against `pws-submit`, each sending trivial tasks one after another
/// to one native node that is reachable only through the relay (as it is from the page),
/// on a network of their own.
fn coordinator_page() {
    let relay = Relay::start();
    let _node = Node::start_with(&relay, &["--relay-only", "--slots", &SLOTS.to_string()]);
    let mut first_node = Vec::new();
    for _ in 0..PAGE_LOADS {
        let mut page = CoordinatorPage::open(&relay.http);
        page.browser.wait_for(
            "the node",
            "window.pwsTimings.firstNodeMs !== null",
            CONNECT_TIMEOUT,
        );
        let shown = page.browser.evaluate("window.pwsTimings.firstNodeMs");
        first_node.push(Duration::from_secs_f64(
            shown.as_f64().expect("ms") / 1000.0,
        ));
    }
    let mut page = CoordinatorPage::open(&relay.http);
    page.type_code("function() { return 1; }");
    let mut from_page = Vec::new();
    for run in 0..WARM_UP + ROUND_TRIPS {
        assert_eq!(page.run_once(), "1");
        if run >= WARM_UP {
            from_page.push(Duration::from_secs_f64(page.last_run_ms() / 1000.0));
        }
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let from_cli = runtime.block_on(async {
        let relay_addr: Multiaddr = relay.tcp().parse().unwrap();
        let session = Session::connect(&relay_addr, &[TransportKind::Tcp])
            .await
            .unwrap();
        let task = TaskRequest::new("function() { return 1; }");
        let cursor = Cursor::new(None);
        let mut samples = Vec::new();
        for run in 0..WARM_UP + ROUND_TRIPS {
            let wait = Duration::from_secs(10);
            let sent = dispatch::run(&session, &task, Strategy::Random, wait, &cursor, |_| {});
            let dispatched = sent.await;
            assert!(dispatched.result().is_ok(), "{:?}", dispatched.response);
            if run >= WARM_UP {
                samples.push(Duration::from_secs_f64(dispatched.ms / 1000.0));
            }
        }
        samples
    });
    println!(
        "coordinator page, load to the first node shown (fresh browser profile, {PAGE_LOADS} \
         runs): p50 {}, max {}",
        ms(percentile(&first_node, 0.5)),
        ms(*first_node.iter().max().unwrap())
    );
    println!(
        "\n| trivial task to a --relay-only node, {ROUND_TRIPS} runs after {WARM_UP} | p50 | p99 |"
    );
    println!("|---|---|---|");
    for (label, samples) in [
        ("from the coordinator page", from_page),
        ("from pws-submit (TCP)", from_cli),
    ] {
        println!(
            "| {label} | {} | {} |",
            ms(percentile(&samples, 0.5)),
            ms(percentile(&samples, 0.99))
        );
    }
}

fn page_loads(relay: &Relay) {
    let mut loads = Vec::new();
    for _ in 0..PAGE_LOADS {
        let mut browser = Browser::launch();
        let started = Instant::now();
        browser.navigate(&relay.http);
        browser.wait_until_node_connected(CONNECT_TIMEOUT);
        loads.push(started.elapsed());
    }
    println!(
        "page load to connected (fresh browser profile, {PAGE_LOADS} runs): p50 {}, max {}",
        ms(percentile(&loads, 0.5)),
        ms(*loads.iter().max().unwrap())
    );
}

/// Each CPU task on both nodes, best of three round trips (network time is a few ms of
/// tasks that take hundreds).
async fn cpu_set(session: &Session, browser_node: PeerId, native_node: PeerId) {
    println!("\n| task | Boa in the browser (wasm) | Boa native | wasm / native |");
    println!("|---|---|---|---|");
    for (name, body) in CPU_SET {
        let task = TaskRequest::new(format!("function() {{ {body} }}"));
        let mut best = [Duration::MAX; 2];
        for (slot, node) in [browser_node, native_node].into_iter().enumerate() {
            for _ in 0..3 {
                let started = Instant::now();
                let response = session.client.send_task(node, task.clone()).await.unwrap();
                assert!(
                    matches!(response.outcome, Outcome::Ok(_)),
                    "{name}: {response:?}"
                );
                best[slot] = best[slot].min(started.elapsed());
            }
        }
        println!(
            "| {name} | {} | {} | {:.2}× |",
            ms(best[0]),
            ms(best[1]),
            best[0].as_secs_f64() / best[1].as_secs_f64()
        );
    }
}
