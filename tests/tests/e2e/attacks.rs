//! Attacks on a node by a hostile peer, each while a legitimate submitter keeps sending
//! trivial tasks: the node survives, its memory stays bounded, and the legitimate tasks keep
//! answering (their latency during the attack is printed for BENCHMARKS.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::AsyncWriteExt;
use pws_net::protocol::{
    BATCH_PROTOCOL, BatchResponse, ErrorKind, MAX_TASK_REQUEST_BYTES, Outcome, TASK_PROTOCOL,
    TaskRequest, TaskResponse, from_cbor, to_cbor,
};
use pws_tests::{Node, Relay};
use tokio::sync::watch;

use crate::wire::{exchange_on, raw_peer, raw_swarm};

/// Resident memory of process `pid`, in bytes.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process alive");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmRSS in /proc status");
    kib * 1024
}

/// The highest resident memory of `pid` seen while `during` runs, sampled every 10 ms.
async fn peak_rss_during<T>(pid: u32, during: impl Future<Output = T>) -> (T, u64) {
    let mut peak = rss_bytes(pid);
    tokio::pin!(during);
    let mut ticks = tokio::time::interval(Duration::from_millis(10));
    loop {
        tokio::select! {
            out = &mut during => return (out, peak.max(rss_bytes(pid))),
            _ = ticks.tick() => peak = peak.max(rss_bytes(pid)),
        }
    }
}

/// A legitimate submitter with an identity of its own, sending `1 + 1` one after another
/// until stopped; it keeps each task's round trip.
struct Legitimate {
    stop: Arc<AtomicBool>,
    answered: watch::Receiver<usize>,
    rounds: tokio::task::JoinHandle<Vec<Duration>>,
}

impl Legitimate {
    fn start(node: &Node) -> Legitimate {
        let (mut control, node_id) = raw_peer(node);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let (count, answered) = watch::channel(0);
        let rounds = tokio::spawn(async move {
            let request = to_cbor(&TaskRequest::new("1 + 1"));
            let mut rounds = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                let started = Instant::now();
                let answer = tokio::time::timeout(
                    Duration::from_secs(10),
                    exchange_on(TASK_PROTOCOL, &mut control, node_id, &request),
                )
                .await
                .expect("a legitimate task is answered within 10 s")
                .expect("a legitimate task's stream works");
                assert_eq!(
                    from_cbor::<TaskResponse>(&answer).unwrap(),
                    TaskResponse::ok("2")
                );
                rounds.push(started.elapsed());
                count.send_replace(rounds.len());
            }
            rounds
        });
        Legitimate {
            stop,
            answered,
            rounds,
        }
    }

    /// Wait (bounded) until a few more legitimate tasks have been answered.
    async fn keeps_answering(&mut self) {
        let target = *self.answered.borrow() + 5;
        tokio::time::timeout(
            Duration::from_secs(10),
            self.answered.wait_for(|answered| *answered >= target),
        )
        .await
        .expect("legitimate tasks keep being answered")
        .expect("the legitimate submitter runs");
    }

    /// Stop, and report the round trips (p50 and p99) of the tasks answered.
    async fn finish(self, during: &str) -> Vec<Duration> {
        self.stop.store(true, Ordering::Relaxed);
        let mut rounds = self.rounds.await.expect("the legitimate submitter ran");
        rounds.sort();
        assert!(!rounds.is_empty(), "no legitimate task was answered");
        let at = |q: f64| rounds[((rounds.len() - 1) as f64 * q) as usize];
        println!(
            "legitimate tasks during {during}: {} answered, p50 {:?}, p99 {:?}",
            rounds.len(),
            at(0.5),
            at(0.99)
        );
        rounds
    }
}

/// A batch request of about 2 MiB of code and 2 million `null` inputs, just under the
/// request size limit: expanding it as asked would take terabytes.
fn batch_bomb() -> Vec<u8> {
    const CODE: usize = 2 * 1024 * 1024;
    const INPUTS: u32 = 2_000_000;
    let mut bytes = vec![0xa2, 0x64];
    bytes.extend_from_slice(b"code");
    bytes.push(0x7a);
    bytes.extend_from_slice(&(CODE as u32).to_be_bytes());
    bytes.resize(bytes.len() + CODE, b'1');
    bytes.push(0x66);
    bytes.extend_from_slice(b"inputs");
    bytes.push(0x9a);
    bytes.extend_from_slice(&INPUTS.to_be_bytes());
    bytes.resize(bytes.len() + INPUTS as usize, 0xf6);
    assert!(bytes.len() as u64 <= MAX_TASK_REQUEST_BYTES);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_bomb_is_refused_at_once_and_costs_the_node_little() {
    let relay = Relay::start();
    let node = Node::start(&relay, &["--slots", "2"]);
    let pid = node.process.pid().expect("node running");
    let mut legitimate = Legitimate::start(&node);
    let (mut control, node_id) = raw_peer(&node);
    let bomb = batch_bomb();

    let before = rss_bytes(pid);
    let attack = async {
        let mut stream = control
            .open_stream(node_id, BATCH_PROTOCOL)
            .await
            .expect("a batch stream");
        stream.write_all(&bomb).await.expect("the bomb is sent");
        stream.close().await.expect("the bomb's stream is closed");
        // Flow control lets the write finish only once the node has taken in nearly all of
        // it: from here on the node only decodes.
        let sent = Instant::now();
        let mut answer = Vec::new();
        let read = futures::AsyncReadExt::read_to_end(&mut stream, &mut answer).await;
        (sent.elapsed(), read.map(|_| answer))
    };
    let ((refused_after, answer), peak) =
        tokio::time::timeout(Duration::from_secs(30), peak_rss_during(pid, attack))
            .await
            .expect("the bomb's stream ends");
    let growth = peak.saturating_sub(before);
    println!(
        "batch bomb: refused {refused_after:?} after it was sent; node RSS {} MB before, \
         peak growth {} MB",
        before >> 20,
        growth >> 20
    );
    let answers = from_cbor::<BatchResponse>(&answer.expect("the bomb is answered"))
        .expect("a batch answer")
        .answers;
    assert!(
        matches!(&answers[..], [only] if matches!(&only.response.outcome,
            Outcome::Error(e) if e.kind == ErrorKind::Rejected)),
        "the bomb is refused in one answer: {answers:?}"
    );
    assert!(
        refused_after < Duration::from_secs(1),
        "refused after {refused_after:?}"
    );
    assert!(growth < 50 << 20, "the node grew by {} MB", growth >> 20);

    legitimate.keeps_answering().await;
    legitimate.finish("the batch bomb").await;
}

/// What the attacker of [`connection_and_stream_floods_leave_the_node_serving`] sees of its
/// connections to the node.
#[derive(Debug, Default, Clone, Copy)]
struct Connections {
    /// Dials that ended, established or not.
    dials_ended: usize,
    /// Connections open now.
    open: usize,
}

/// One identity, `dials` connections to `node` at once, every one kept open as long as the
/// node allows; returns a stream control on them and what became of the connections.
fn connection_flood(
    node: &Node,
    dials: usize,
) -> (libp2p_stream::Control, watch::Receiver<Connections>) {
    use futures::StreamExt;
    use libp2p::PeerId;
    use libp2p::swarm::SwarmEvent;
    use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};

    let node_id: PeerId = node.peer_id.parse().unwrap();
    let (mut swarm, node_addr) = raw_swarm(node);
    let control = swarm.behaviour().new_control();
    for _ in 0..dials {
        let dial = DialOpts::peer_id(node_id)
            .addresses(vec![node_addr.clone()])
            .condition(PeerCondition::Always)
            .build();
        swarm.dial(dial).unwrap();
    }
    let (report, connections) = watch::channel(Connections::default());
    tokio::spawn(async move {
        while let Some(event) = swarm.next().await {
            report.send_modify(|c| match event {
                SwarmEvent::ConnectionEstablished { .. } => {
                    c.dials_ended += 1;
                    c.open += 1;
                }
                SwarmEvent::ConnectionClosed { .. } => c.open -= 1,
                SwarmEvent::OutgoingConnectionError { .. } => c.dials_ended += 1,
                _ => {}
            });
        }
    });
    (control, connections)
}

/// Open a task stream and write the first 64 KiB of a request announcing 4 MiB of code;
/// the stream stays half-written for as long as it is held.
async fn stalled_task_stream(
    control: &mut libp2p_stream::Control,
    node: libp2p::PeerId,
) -> Option<libp2p::Stream> {
    let mut stream = control.open_stream(node, TASK_PROTOCOL).await.ok()?;
    let mut half = vec![0xa1, 0x64];
    half.extend_from_slice(b"code");
    half.push(0x7a);
    half.extend_from_slice(&(4_000_000u32).to_be_bytes());
    half.resize(64 * 1024, b'1');
    stream.write_all(&half).await.ok()?;
    stream.flush().await.ok()?;
    Some(stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_and_stream_floods_leave_the_node_serving() {
    const DIALS: usize = 200;
    const STALLED: usize = 1_000;
    let relay = Relay::start();
    let node = Node::start(&relay, &["--slots", "2"]);
    let pid = node.process.pid().expect("node running");
    let mut legitimate = Legitimate::start(&node);
    legitimate.keeps_answering().await;
    let before = rss_bytes(pid);

    let (control, mut connections) = connection_flood(&node, DIALS);
    let node_id: libp2p::PeerId = node.peer_id.parse().unwrap();
    let attack = async {
        let settled = connections
            .wait_for(|c| c.dials_ended == DIALS)
            .await
            .map(|c| *c);
        let held = tokio::time::timeout(
            Duration::from_secs(10),
            connections.wait_for(|c| c.open <= pws_net::swarm::MAX_CONNECTIONS_PER_PEER as usize),
        )
        .await
        .expect("the node closes the connections past its per-peer limit")
        .map(|c| c.open)
        .unwrap();
        let streams = futures::future::join_all((0..STALLED).map(|_| {
            let mut control = control.clone();
            async move { stalled_task_stream(&mut control, node_id).await }
        }))
        .await;
        (
            settled,
            held,
            streams.into_iter().flatten().collect::<Vec<_>>(),
        )
    };
    let ((settled, held, stalled), peak) = tokio::time::timeout(
        Duration::from_secs(60),
        peak_rss_during(pid, async {
            let out = attack.await;
            // The legitimate submitter is served while every stalled stream is held.
            legitimate.keeps_answering().await;
            out
        }),
    )
    .await
    .expect("the attack ran its course");
    let growth = peak.saturating_sub(before);
    println!(
        "connection flood: {settled:?}, {held} kept; {} of {STALLED} stalled streams written; \
         node RSS {} MB before, peak growth {} MB",
        stalled.len(),
        before >> 20,
        growth >> 20
    );
    assert!(growth < 100 << 20, "the node grew by {} MB", growth >> 20);
    legitimate.finish("the connection and stream floods").await;
    drop(stalled);
}

#[test]
fn the_relay_web_server_hides_paths_forbids_framing_and_drops_slow_clients() {
    use std::io::{Read, Write};
    let relay = Relay::start();

    let missing = pws_tests::http::exchange(
        &relay.http,
        "GET /no/such/file HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n",
    );
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_str()
        .unwrap();
    assert!(!missing.contains(workspace), "a path in the 404: {missing}");
    assert!(!missing.contains("dist"), "a path in the 404: {missing}");
    let headers = missing.to_ascii_lowercase();
    assert!(
        headers.contains("content-security-policy:") && headers.contains("frame-ancestors 'none'"),
        "{missing}"
    );
    assert!(headers.contains("x-frame-options: deny"), "{missing}");

    // Slowloris: half a request, then nothing. The server closes it, not us.
    let host = relay
        .http
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let mut slow = std::net::TcpStream::connect(host).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: relay\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let closed = slow.read_to_end(&mut rest);
    let after = started.elapsed();
    println!("slow client closed after {after:?}: {closed:?}");
    assert!(
        closed.is_ok() || after < Duration::from_secs(20),
        "the connection was still open after 20 s"
    );
    assert!(after < Duration::from_secs(10), "closed after {after:?}");
}

/// A stranger's peer at the relay: a relay client on QUIC from its own loopback address (so
/// the relay's per-IP limits see it apart from the honest node on 127.0.0.1).
#[derive(libp2p::swarm::NetworkBehaviour)]
struct Stranger {
    relay_client: libp2p::relay::client::Behaviour,
}

fn stranger(ip: &str) -> libp2p::Swarm<Stranger> {
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_quic()
        .with_relay_client(libp2p::noise::Config::new, libp2p::yamux::Config::default)
        .unwrap()
        .with_behaviour(|_, relay_client| Stranger { relay_client })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    swarm
        .listen_on(format!("/ip4/{ip}/udp/0/quic-v1").parse().unwrap())
        .unwrap();
    swarm
}

/// Ask `relay` for a reservation from a new identity; `Some(swarm)` (kept running) when the
/// relay granted it.
async fn reserve(relay: libp2p::Multiaddr, ip: &str) -> Option<libp2p::Swarm<Stranger>> {
    use futures::StreamExt;
    use libp2p::swarm::SwarmEvent;
    let mut swarm = stranger(ip);
    swarm
        .listen_on(relay.with(libp2p::multiaddr::Protocol::P2pCircuit))
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(StrangerEvent::RelayClient(
                    libp2p::relay::client::Event::ReservationReqAccepted { .. },
                )) => return true,
                SwarmEvent::ListenerClosed { .. } | SwarmEvent::ListenerError { .. } => {
                    return false;
                }
                _ => {}
            }
        }
    })
    .await;
    outcome.unwrap_or(false).then_some(swarm)
}

/// Keep `swarm` running (its reservation renewed, its circuits open) until the test ends.
fn keep(mut swarm: libp2p::Swarm<Stranger>) {
    use futures::StreamExt;
    tokio::spawn(async move { while swarm.next().await.is_some() {} });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserving_identities_and_held_circuits_leave_room_for_a_relayed_node() {
    use futures::StreamExt;
    use libp2p::swarm::SwarmEvent;
    const IDENTITIES: usize = 300;
    const CIRCUITS: usize = 20;
    let relay = Relay::start();
    let relay_quic: libp2p::Multiaddr = relay.addr("quic-v1").parse().unwrap();

    // 300 identities from one address, 50 at a time.
    let mut reserved = Vec::new();
    for _ in 0..IDENTITIES / 50 {
        let round = (0..50).map(|_| reserve(relay_quic.clone(), "127.0.0.2"));
        reserved.extend(futures::future::join_all(round).await.into_iter().flatten());
    }
    let granted = reserved.len();
    let target = *reserved
        .first()
        .expect("some reservations are granted")
        .local_peer_id();
    for swarm in reserved {
        keep(swarm);
    }

    // 20 circuits from another address to one of them, held open.
    let circuit = relay_quic
        .clone()
        .with(libp2p::multiaddr::Protocol::P2pCircuit)
        .with(libp2p::multiaddr::Protocol::P2p(target));
    let mut held = 0;
    for _ in 0..CIRCUITS {
        let mut swarm = stranger("127.0.0.3");
        swarm.dial(circuit.clone()).unwrap();
        let opened = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match swarm.select_next_some().await {
                    SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == target => {
                        return true;
                    }
                    SwarmEvent::OutgoingConnectionError { .. } => return false,
                    _ => {}
                }
            }
        })
        .await
        .unwrap_or(false);
        if opened {
            held += 1;
            keep(swarm);
        }
    }
    println!(
        "{granted} of {IDENTITIES} identities got a reservation; {held} of {CIRCUITS} circuits held"
    );
    assert!(
        granted < IDENTITIES,
        "one address got {granted} reservations: no per-IP limit"
    );
    assert_eq!(held, CIRCUITS, "circuits between reserved peers work");

    // A new node behind NAT still gets its relayed address and serves.
    let started = Instant::now();
    let node = Node::start_with(&relay, &["--relay-only"]);
    let registered = started.elapsed();
    assert!(
        node.addrs.iter().any(|addr| addr.contains("/p2p-circuit")),
        "{:?}",
        node.addrs
    );
    let relay_addr = relay.tcp();
    let result = tokio::task::spawn_blocking(move || {
        pws_tests::run_json(&relay_addr, &[], &pws_tests::example("math.js"))
    })
    .await
    .unwrap();
    let served = started.elapsed();
    println!(
        "relay-only node: relayed and registered after {registered:?}, served after {served:?}"
    );
    assert_eq!(result["ok"], serde_json::json!(4), "{result}");
    assert_eq!(result["node"], node.peer_id.as_str());
    assert!(
        registered < Duration::from_secs(5),
        "registered after {registered:?}"
    );
}

/// A stranger that registers at the relay's rendezvous point, on QUIC from its own loopback
/// address.
#[derive(libp2p::swarm::NetworkBehaviour)]
struct Registrant {
    rendezvous: libp2p::rendezvous::client::Behaviour,
}

/// Register a new identity from `ip` under the nodes' namespace; whether the relay took it.
async fn register(relay: libp2p::Multiaddr, relay_id: libp2p::PeerId, ip: &str) -> bool {
    use futures::StreamExt;
    use libp2p::rendezvous;
    use libp2p::swarm::SwarmEvent;
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_quic()
        .with_behaviour(|key| Registrant {
            rendezvous: rendezvous::client::Behaviour::new(key.clone()),
        })
        .unwrap()
        .build();
    swarm
        .listen_on(format!("/ip4/{ip}/udp/0/quic-v1").parse().unwrap())
        .unwrap();
    // Any address will do: the relay signs nothing, it only lists what it is told.
    swarm.add_external_address(format!("/ip4/{ip}/udp/9/quic-v1").parse().unwrap());
    swarm.dial(relay).unwrap();
    let registered = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == relay_id => {
                    let namespace =
                        rendezvous::Namespace::from_static(pws_net::protocol::RENDEZVOUS_NAMESPACE);
                    swarm
                        .behaviour_mut()
                        .rendezvous
                        .register(namespace, relay_id, None)
                        .unwrap();
                }
                SwarmEvent::Behaviour(RegistrantEvent::Rendezvous(
                    rendezvous::client::Event::Registered { .. },
                )) => return true,
                SwarmEvent::Behaviour(RegistrantEvent::Rendezvous(
                    rendezvous::client::Event::RegisterFailed { .. },
                ))
                | SwarmEvent::ConnectionClosed { .. }
                | SwarmEvent::OutgoingConnectionError { .. } => return false,
                _ => {}
            }
        }
    });
    registered.await.unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_identities_from_one_address_leave_room_for_a_node() {
    const IDENTITIES: usize = 300;
    let relay = Relay::start();
    let relay_quic: libp2p::Multiaddr = relay.addr("quic-v1").parse().unwrap();
    let Some(libp2p::multiaddr::Protocol::P2p(relay_id)) = relay_quic.iter().last() else {
        panic!("the relay's address ends with its peer id: {relay_quic}");
    };
    let mut registered = 0;
    for _ in 0..IDENTITIES / 50 {
        let round = (0..50).map(|_| register(relay_quic.clone(), relay_id, "127.0.0.4"));
        registered += futures::future::join_all(round)
            .await
            .into_iter()
            .filter(|taken| *taken)
            .count();
    }
    println!("{registered} of {IDENTITIES} identities from one address registered");
    assert!(
        registered < IDENTITIES,
        "one address registered {registered} identities: no per-IP limit"
    );
    assert!(registered >= 100, "the burst of one address is honoured");

    // A node from another address registers and serves.
    let node = Node::start(&relay, &[]);
    let relay_addr = relay.tcp();
    let result = tokio::task::spawn_blocking(move || {
        pws_tests::run_json(&relay_addr, &[], &pws_tests::example("math.js"))
    })
    .await
    .unwrap();
    assert_eq!(result["node"], node.peer_id.as_str(), "{result}");
}
