//! The node's work loop over a real network in one process (a relay, one node and submitters
//! on loopback TCP), with an executor whose tasks run until cancelled: slots and `busy`,
//! batches in one slot, answer-once when a task's future panics, and cancellation of every
//! task of submitters that leave together.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use pws_net::client::Client;
use pws_net::identity::Identity;
use pws_net::peer::{self, PeerConfig};
use pws_net::protocol::{ErrorKind, Outcome, TaskBatch, TaskRequest, TaskResponse};
use pws_net::swarm::{RelayLimits, Role};
use pws_net::transport::TransportKind;
use pws_node::Report;
use pws_node::executor::{Cancel, Executor, Progress, TaskFuture};
use pws_node::work::{self, ServeConfig};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

/// Bound on every wait in these tests.
const WAIT: Duration = Duration::from_secs(30);

/// Tasks whose code is `park` run until cancelled, `panic` panics, anything else answers at
/// once with its input.
#[derive(Clone)]
struct Scripted;

impl Executor for Scripted {
    fn execute(&self, task: TaskRequest, cancel: Cancel, _: Progress) -> TaskFuture {
        Box::pin(async move {
            match task.code.as_str() {
                "park" => TaskResponse::from(cancel.fired().await.error()),
                "panic" => panic!("the executor failed"),
                _ => TaskResponse::ok(task.input.unwrap_or_default()),
            }
        })
    }

    fn engine(&self) -> String {
        "scripted".into()
    }

    fn wasm_engine(&self) -> Option<String> {
        None
    }

    fn time_limit(&self, _: &TaskRequest) -> Duration {
        WAIT
    }
}

fn task(code: &str) -> TaskRequest {
    TaskRequest {
        code: code.into(),
        wasm: None,
        input: Some("1".into()),
        timeout_ms: None,
        id: None,
        grant: None,
    }
}

fn loopback_tcp() -> Multiaddr {
    TransportKind::Tcp.any_port_addr(std::net::Ipv4Addr::LOCALHOST.into())
}

/// A relay and one node with `slots` slots serving [`Scripted`] tasks; the node's reports
/// arrive on the returned channel.
struct Network {
    relay: Multiaddr,
    node: PeerId,
    reports: mpsc::UnboundedReceiver<Report>,
    _stop_node: oneshot::Sender<()>,
}

impl Network {
    async fn start(slots: u32) -> Network {
        let relay = start_relay().await;
        let identity = Identity::ephemeral().unwrap();
        let node = identity.keypair.public().to_peer_id();
        let peer = peer::spawn(PeerConfig {
            role: Role::Node,
            identity,
            transports: vec![TransportKind::Tcp],
            listen: vec![loopback_tcp()],
            relays: vec![relay.clone()],
            access: pws_net::peer::Access::open(),
            metrics: None,
        })
        .unwrap();
        let (report_tx, mut reports) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let config = ServeConfig {
            slots,
            browser: false,
        };
        tokio::spawn(work::serve(
            peer,
            Scripted,
            config,
            async {
                let _ = stopped.await;
            },
            move |report| {
                let _ = report_tx.send(report);
            },
        ));
        wait_for(&mut reports, |r| matches!(r, Report::Registered)).await;
        Network {
            relay,
            node,
            reports,
            _stop_node: stop,
        }
    }

    /// A submitter connected to the relay that has found the node.
    async fn submitter(&self) -> Client {
        let peer = peer::spawn(PeerConfig {
            role: Role::Submitter,
            identity: Identity::ephemeral().unwrap(),
            transports: vec![TransportKind::Tcp],
            listen: Vec::new(),
            relays: vec![self.relay.clone()],
            access: pws_net::peer::Access::open(),
            metrics: None,
        })
        .unwrap();
        // Nothing a submitter is told matters here, but the event loop waits for its events
        // to be read.
        let mut events = peer.events;
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        let client = peer.client;
        timeout(WAIT, client.wait_for_relay())
            .await
            .unwrap()
            .unwrap();
        let found = timeout(WAIT, client.discover_rendezvous())
            .await
            .unwrap()
            .unwrap();
        assert!(found.contains(&self.node), "the node is registered");
        client
    }

    /// Wait until the node reports `free` free slots.
    async fn wait_free(&mut self, free: u32) {
        wait_for(
            &mut self.reports,
            |r| matches!(r, Report::Status(status) if status.free_slots == free),
        )
        .await;
    }
}

async fn start_relay() -> Multiaddr {
    let (addr_tx, mut addrs) = mpsc::unbounded_channel();
    let config = relay::RelayConfig {
        identity: Identity::ephemeral().unwrap(),
        listen: vec![loopback_tcp()],
        limits: RelayLimits::default(),
        http: None,
        web_dir: std::env::temp_dir(),
        access: pws_net::peer::Access::open(),
    };
    tokio::spawn(relay::run(config, std::future::pending(), move |addr| {
        let _ = addr_tx.send(addr);
    }));
    timeout(WAIT, addrs.recv()).await.unwrap().unwrap()
}

async fn wait_for(reports: &mut mpsc::UnboundedReceiver<Report>, wanted: impl Fn(&Report) -> bool) {
    timeout(WAIT, async {
        while let Some(report) = reports.recv().await {
            if wanted(&report) {
                return;
            }
        }
        panic!("the node stopped reporting");
    })
    .await
    .expect("the node did not report in time");
}

fn error_kind(response: &TaskResponse) -> Option<ErrorKind> {
    match &response.outcome {
        Outcome::Ok(_) => None,
        Outcome::Error(error) => Some(error.kind),
    }
}

#[tokio::test]
async fn a_full_node_answers_busy_and_a_batch_takes_one_slot() {
    let mut network = Network::start(2).await;
    let submitter = network.submitter().await;
    let node = network.node;
    let parked = {
        let submitter = submitter.clone();
        tokio::spawn(async move { submitter.send_task(node, task("park")).await })
    };
    network.wait_free(1).await;
    let batch = TaskBatch {
        code: "echo".into(),
        wasm: None,
        inputs: vec![Some("1".into()), Some("2".into()), Some("3".into())],
        timeout_ms: None,
        grant: None,
    };
    let answers = timeout(WAIT, submitter.send_batch(node, batch))
        .await
        .unwrap()
        .unwrap();
    let results: Vec<_> = answers.answers.iter().map(|a| a.response.clone()).collect();
    assert_eq!(
        results,
        ["1", "2", "3"].map(TaskResponse::ok).to_vec(),
        "a batch runs its tasks in order beside the parked task"
    );
    network.wait_free(1).await;
    let second = {
        let submitter = submitter.clone();
        tokio::spawn(async move { submitter.send_task(node, task("park")).await })
    };
    network.wait_free(0).await;
    let refused = timeout(WAIT, submitter.send_task(node, task("echo")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(error_kind(&refused), Some(ErrorKind::Busy));
    parked.abort();
    second.abort();
}

#[tokio::test]
async fn a_panicking_task_is_answered_once_and_frees_its_slot() {
    let mut network = Network::start(1).await;
    let submitter = network.submitter().await;
    let crashed = timeout(WAIT, submitter.send_task(network.node, task("panic")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(error_kind(&crashed), Some(ErrorKind::Crashed));
    network.wait_free(1).await;
    let fine = timeout(WAIT, submitter.send_task(network.node, task("echo")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fine, TaskResponse::ok("1"));
}

/// More departures at once than the event loop's event queue holds: none may be lost, or
/// its submitter's task would hold a slot until the node's time limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_departures_cancels_every_task() {
    const SUBMITTERS: u32 = 100;
    let mut network = Network::start(SUBMITTERS).await;
    let mut running = Vec::new();
    for _ in 0..SUBMITTERS {
        let submitter = network.submitter().await;
        let node = network.node;
        running.push(tokio::spawn(async move {
            submitter.send_task(node, task("park")).await
        }));
    }
    network.wait_free(0).await;
    // Dropping each submitter's last client handle stops its event loop, which closes its
    // connections: the node sees every submitter leave at once.
    for task in &running {
        task.abort();
    }
    let mut cancelled = 0;
    timeout(WAIT, async {
        while cancelled < SUBMITTERS {
            match network.reports.recv().await {
                Some(Report::Finished { error, .. }) => {
                    assert_eq!(
                        error,
                        Some(ErrorKind::Rejected),
                        "a parked task only ends cancelled"
                    );
                    cancelled += 1;
                }
                Some(_) => {}
                None => panic!("the node stopped reporting"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {cancelled} of {SUBMITTERS} tasks were cancelled"));
    network.wait_free(SUBMITTERS).await;
}
