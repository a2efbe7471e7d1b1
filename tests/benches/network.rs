//! Network benchmarks; prints a table. Run with
//! `cargo bench -p pws-tests --bench network` (the binaries are built first, in release).
//!
//! - the floor: bare libp2p request-response round trips on one open connection, per transport;
//! - a trivial task's round trip through a real node on an open connection, same transports,
//!   in the same run (the machine is noisy: compare the two, not absolute numbers);
//! - what authorization costs: task round trips on TCP in the open network and in a private
//!   one (a grant on every request, checked by the node), interleaved in one run;
//! - trivial tasks per second from one submitter to one node;
//! - what a person feels: wall time of a one-shot `pws-submit run` against a running network;
//! - idle memory (RSS) of a relay and of a node process.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, SwarmBuilder};
use pws_net::grant::{Grant, Role, SignedGrant};
use pws_net::identity::Identity;
use pws_net::peer::Access;
use pws_net::protocol::{TASK_PROTOCOL, TaskRequest, TaskResponse};
use pws_net::transport::{self, TransportKind};
use pws_tests::{Node, Relay, Submit, example};

#[path = "shared/load.rs"]
mod load;
#[path = "shared/stats.rs"]
mod stats;
use load::trivial_task;
use stats::{ms, percentile};

const ROUND_TRIPS: usize = 1000;
const WARM_UP: usize = 50;
const THROUGHPUT_TASKS: usize = 2000;
const ONE_SHOT_RUNS: usize = 20;
const LOOPBACK: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

// Sandbox workers started from this process run under the same allocator as in pws-node.
#[global_allocator]
static ALLOCATOR: pws_node::memory::LimitedAllocator = pws_node::memory::LimitedAllocator;

fn main() {
    pws_node::sandbox::worker::run_if_requested();
    pws_net::transport::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("| transport | floor p50 | floor p99 | task p50 | task p99 | added at p50 |");
    println!("|---|---|---|---|---|---|");
    for kind in TransportKind::ALL {
        let floor = runtime.block_on(floor_round_trips(kind));
        let task = runtime.block_on(task_round_trips(kind));
        let (f50, f99, t50, t99) = (
            percentile(&floor, 0.50),
            percentile(&floor, 0.99),
            percentile(&task, 0.50),
            percentile(&task, 0.99),
        );
        println!(
            "| {kind} | {} | {} | {} | {} | {} |",
            ms(f50),
            ms(f99),
            ms(t50),
            ms(t99),
            ms(t50.saturating_sub(f50))
        );
    }
    let (open, private) = runtime.block_on(authorization_cost());
    let (o50, p50) = (percentile(&open, 0.50), percentile(&private, 0.50));
    println!(
        "\ntask round trip on TCP, open network p50 {} p99 {}; private network (grant on \
         every request, checked by the node) p50 {} p99 {}; added at p50 {}",
        ms(o50),
        ms(percentile(&open, 0.99)),
        ms(p50),
        ms(percentile(&private, 0.99)),
        ms(p50.saturating_sub(o50))
    );
    let per_second = runtime.block_on(throughput());
    println!("\ntrivial tasks/s, one submitter -> one node (2 slots, TCP): {per_second:.0}");
    one_shot_and_memory();
}

/// Bare request-response with the task protocol's codec and messages: what libp2p alone costs.
async fn floor_round_trips(kind: TransportKind) -> Vec<Duration> {
    let echo = || {
        request_response::cbor::Behaviour::<TaskRequest, TaskResponse>::new(
            [(TASK_PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default(),
        )
    };
    let swarm = |identity: Identity| {
        let transport = transport::build(&identity, &[kind]).unwrap();
        SwarmBuilder::with_existing_identity(identity.keypair.clone())
            .with_tokio()
            .with_other_transport(|_| transport)
            .unwrap()
            .with_behaviour(|_| echo())
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build()
    };
    let mut server = swarm(Identity::ephemeral().unwrap());
    let mut client = swarm(Identity::ephemeral().unwrap());
    server.listen_on(kind.any_port_addr(LOOPBACK)).unwrap();
    if kind == TransportKind::Webrtc {
        client.listen_on(kind.any_port_addr(LOOPBACK)).unwrap();
    }
    let server_addr: Multiaddr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = server.select_next_some().await {
            break address;
        }
    };
    let server_id = *server.local_peer_id();
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Request { channel, .. },
                ..
            }) = server.select_next_some().await
            {
                let _ = server
                    .behaviour_mut()
                    .send_response(channel, TaskResponse::ok("4"));
            }
        }
    });
    client.dial(server_addr).unwrap();
    loop {
        match client.select_next_some().await {
            SwarmEvent::ConnectionEstablished { .. } => break,
            SwarmEvent::OutgoingConnectionError { error, .. } => {
                panic!("floor dial failed: {error}")
            }
            _ => {}
        }
    }
    let mut samples = Vec::with_capacity(ROUND_TRIPS);
    for i in 0..WARM_UP + ROUND_TRIPS {
        let started = Instant::now();
        client
            .behaviour_mut()
            .send_request(&server_id, trivial_task());
        loop {
            match client.select_next_some().await {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Response { .. },
                    ..
                }) => break,
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                    error, ..
                }) => {
                    panic!("floor request failed: {error}")
                }
                _ => {}
            }
        }
        if i >= WARM_UP {
            samples.push(started.elapsed());
        }
    }
    samples
}

/// A private network's node and submitter: each one's identity, and its access with the
/// owner's grant for it.
struct Members {
    node: (Identity, Access),
    submitter: (Identity, Access),
}

fn private_network() -> Members {
    let owner = libp2p::identity::Keypair::generate_ed25519();
    let network = owner.public().to_peer_id();
    let member = |role| {
        let identity = Identity::ephemeral().unwrap();
        let grant = Grant {
            network,
            peer: identity.peer_id(),
            role,
            expires: u64::MAX,
            name: String::new(),
        };
        let grant = SignedGrant::sign(&owner, &grant).unwrap();
        let access = Access::private(network, Some(grant), HashSet::new());
        (identity, access)
    };
    Members {
        node: member(Role::Node),
        submitter: member(Role::Submit),
    }
}

/// A relay and one node in this process; returns a connected submitter session and the node.
async fn network(
    kind: TransportKind,
    slots: u32,
) -> (pws_submit::session::Session, libp2p::PeerId) {
    network_in(kind, slots, None).await
}

/// As [`network`], in a private network when `private` holds the node's and the submitter's
/// accesses and the submitter's identity.
async fn network_in(
    kind: TransportKind,
    slots: u32,
    private: Option<Members>,
) -> (pws_submit::session::Session, libp2p::PeerId) {
    let (node, submitter) = match private {
        Some(Members { node, submitter }) => ((node.0, node.1), (Some(submitter.0), submitter.1)),
        None => (
            (Identity::ephemeral().unwrap(), Access::open()),
            (None, Access::open()),
        ),
    };
    let (listen_tx, mut listening) = tokio::sync::mpsc::unbounded_channel();
    let relay_config = relay::RelayConfig {
        identity: Identity::ephemeral().unwrap(),
        listen: transport::any_port_addrs(LOOPBACK),
        limits: Default::default(),
        http: None,
        web_dir: Default::default(),
        access: Access::open(),
    };
    tokio::spawn(relay::run(
        relay_config,
        std::future::pending(),
        move |addr| {
            let _ = listen_tx.send(addr);
        },
    ));
    let mut relay_addrs = Vec::new();
    for _ in TransportKind::ALL {
        relay_addrs.push(listening.recv().await.unwrap());
    }
    let addr_for = |k| {
        relay_addrs
            .iter()
            .find(|a| TransportKind::of(a) == Some(k))
            .unwrap()
            .clone()
    };
    let (registered_tx, mut registered) = tokio::sync::mpsc::unbounded_channel();
    let node_config = pws_node::NodeConfig {
        relays: vec![addr_for(TransportKind::Tcp)],
        slots,
        identity: node.0,
        listen: transport::any_port_addrs(LOOPBACK),
        limits: Default::default(),
        access: node.1,
        metrics: None,
    };
    tokio::spawn(pws_node::run(
        node_config,
        std::future::pending(),
        move |report| {
            if let pws_node::Report::Registered = report {
                let _ = registered_tx.send(());
            }
        },
    ));
    registered.recv().await.unwrap();
    let session = pws_submit::session::Session::connect_as(
        &[addr_for(kind)],
        &[kind],
        submitter.1,
        submitter.0,
    )
    .await
    .unwrap();
    let nodes = session.refresh().await.unwrap();
    let node = nodes.first().expect("the node is discovered").peer_id;
    // Open the connection before measuring.
    session
        .client
        .send_task(node, trivial_task())
        .await
        .unwrap();
    (session, node)
}

async fn task_round_trips(kind: TransportKind) -> Vec<Duration> {
    let (session, node) = network(kind, 1).await;
    load::round_trips(&session.client, node, WARM_UP, ROUND_TRIPS).await
}

/// Task round trips on TCP in the open network and in a private one, interleaved: one
/// request to each in turn, so that the machine's noise weighs on both alike.
async fn authorization_cost() -> (Vec<Duration>, Vec<Duration>) {
    let (open, open_node) = network(TransportKind::Tcp, 1).await;
    let (private, private_node) = network_in(TransportKind::Tcp, 1, Some(private_network())).await;
    let targets = [(&open.client, open_node), (&private.client, private_node)];
    let mut series = load::interleaved_round_trips(&targets, WARM_UP, ROUND_TRIPS).await;
    let private = series.pop().expect("the private series");
    let open = series.pop().expect("the open series");
    (open, private)
}

async fn throughput() -> f64 {
    const SLOTS: u32 = 2;
    let (session, node) = network(TransportKind::Tcp, SLOTS).await;
    load::throughput(&session.client, node, SLOTS as usize, THROUGHPUT_TASKS).await
}

fn one_shot_and_memory() {
    let relay = Relay::start();
    let node = Node::start(&relay, &[]);
    let relay_addr = relay.tcp();
    let mut walls = Vec::new();
    for _ in 0..ONE_SHOT_RUNS {
        let started = Instant::now();
        let output = Submit::new()
            .args(["--relay", &relay_addr, "run", &example("math.js")])
            .run();
        walls.push(started.elapsed());
        output.expect_success();
    }
    println!(
        "\none-shot `pws-submit run` wall time (process start to exit, {ONE_SHOT_RUNS} runs): p50 {}, max {}",
        ms(percentile(&walls, 0.5)),
        ms(*walls.iter().max().unwrap())
    );
    let rss = |pid: u32| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .unwrap()
            .to_string();
        line.trim_start_matches("VmRSS:").trim().to_string()
    };
    println!(
        "idle RSS after those runs: relay {}, node {}",
        rss(relay.process.pid().unwrap()),
        rss(node.process.pid().unwrap())
    );
}
