//! A peer that speaks the task protocol badly gets an error or a closed stream, and the node
//! keeps serving everyone else.

use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder, noise, tcp, yamux};
use pws_net::protocol::{
    BATCH_PROTOCOL, BatchResponse, ErrorKind, MAX_BATCH_TASKS, Outcome, TASK_PROTOCOL, TaskBatch,
    TaskRequest, TaskResponse, from_cbor, to_cbor,
};
use pws_tests::{Node, Relay, example, run_json};
use serde_json::json;

const STREAM_TIMEOUT: Duration = Duration::from_secs(20);

/// Open a task stream to `node`, write `bytes`, close our side and read the whole answer.
async fn exchange(
    control: &mut libp2p_stream::Control,
    node: PeerId,
    bytes: &[u8],
) -> std::io::Result<Vec<u8>> {
    exchange_on(TASK_PROTOCOL, control, node, bytes).await
}

/// [`exchange`] on any protocol.
pub(crate) async fn exchange_on(
    protocol: StreamProtocol,
    control: &mut libp2p_stream::Control,
    node: PeerId,
    bytes: &[u8],
) -> std::io::Result<Vec<u8>> {
    let mut stream = control
        .open_stream(node, protocol)
        .await
        .map_err(std::io::Error::other)?;
    stream.write_all(bytes).await?;
    stream.close().await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    Ok(answer)
}

/// A normal task still runs on `node` after whatever came before.
async fn assert_still_serves(relay: &Relay, node: &Node) {
    let relay_addr = relay.tcp();
    let result =
        tokio::task::spawn_blocking(move || run_json(&relay_addr, &[], &example("math.js")))
            .await
            .unwrap();
    assert_eq!(result["ok"], json!(4), "{result}");
    assert_eq!(result["node"], node.peer_id.as_str());
}

/// A bare libp2p peer connected to `node` over TCP, able to open raw protocol streams.
pub(crate) fn raw_peer(node: &Node) -> (libp2p_stream::Control, PeerId) {
    let (mut swarm, node_addr) = raw_swarm(node);
    let control = swarm.behaviour().new_control();
    swarm.dial(node_addr).unwrap();
    tokio::spawn(async move { while swarm.next().await.is_some() {} });
    (control, node.peer_id.parse().unwrap())
}

/// A bare libp2p swarm over TCP that opens raw protocol streams, and `node`'s TCP address.
pub(crate) fn raw_swarm(node: &Node) -> (Swarm<libp2p_stream::Behaviour>, Multiaddr) {
    let node_addr: Multiaddr = node
        .addrs
        .iter()
        .find(|addr| addr.contains("/tcp/"))
        .expect("node has a TCP address")
        .parse()
        .unwrap();
    let swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| libp2p_stream::Behaviour::new())
        .unwrap()
        // Between two requests no stream is open: keep the connection all the same.
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    (swarm, node_addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_oversized_messages_do_not_hurt_the_node() {
    let relay = Relay::start();
    let mut node = Node::start(&relay, &[]);
    let (mut control, node_id) = raw_peer(&node);

    let conversation = async {
        // A well-formed request first, so we know the stream really reaches the task protocol.
        let request = to_cbor(&TaskRequest::new("1 + 1"));
        let answer = exchange(&mut control, node_id, &request)
            .await
            .expect("valid request");
        assert_eq!(
            from_cbor::<TaskResponse>(&answer).unwrap(),
            TaskResponse::ok("2")
        );

        let wrong_shape = to_cbor(&json!({"hello": [1, 2, 3]}));
        let oversized = vec![0x61u8; 6 * 1024 * 1024];
        for (what, bytes) in [
            ("garbage", &b"\xff\x00 definitely not CBOR"[..]),
            ("wrong shape", &wrong_shape[..]),
            ("oversized", &oversized[..]),
        ] {
            match exchange(&mut control, node_id, bytes).await {
                Ok(answer) => assert!(
                    from_cbor::<TaskResponse>(&answer).is_err(),
                    "{what}: the node answered as if it were a task"
                ),
                Err(e) => println!("{what}: stream failed as expected: {e}"),
            }
        }
    };
    tokio::time::timeout(STREAM_TIMEOUT, conversation)
        .await
        .expect("the node answered every stream or closed it in time");

    assert_still_serves(&relay, &node).await;
    assert!(
        node.process.terminate(),
        "the node exits cleanly after all that"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_node_answers_busy_at_once() {
    let relay = Relay::start();
    let node = Node::start(&relay, &["--slots", "1", "--max-time", "60"]);
    let (mut control, node_id) = raw_peer(&node);
    let conversation = async {
        // Occupy the only slot, and keep the stream open without waiting for its answer.
        let mut endless = control
            .open_stream(node_id, TASK_PROTOCOL)
            .await
            .expect("stream");
        endless
            .write_all(&to_cbor(&TaskRequest::new("while (true) {}")))
            .await
            .unwrap();
        endless.close().await.unwrap();
        // Ask until the slot is taken (the first task may still be on its way in).
        for _ in 0..100 {
            let answer = exchange(&mut control, node_id, &to_cbor(&TaskRequest::new("1"))).await;
            let response: TaskResponse = from_cbor(&answer.expect("an answer")).unwrap();
            if let pws_net::protocol::Outcome::Error(error) = response.outcome {
                assert_eq!(error.kind, pws_net::protocol::ErrorKind::Busy, "{error}");
                return;
            }
        }
        panic!("the node never reported busy");
    };
    tokio::time::timeout(STREAM_TIMEOUT, conversation)
        .await
        .expect("busy comes back at once, not after the running task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_answered_in_order_and_bad_batches_do_not_hurt_the_node() {
    let relay = Relay::start();
    let node = Node::start(&relay, &["--slots", "1"]);
    let (mut control, node_id) = raw_peer(&node);
    let conversation = async {
        let batch = TaskBatch {
            code: "function(n) { if (n === 2) throw new Error('two'); return n * 10; }".into(),
            wasm: None,
            inputs: ["1", "2", "3"].map(|n| Some(n.to_string())).to_vec(),
            timeout_ms: None,
            grant: None,
        };
        let answer = exchange_on(BATCH_PROTOCOL, &mut control, node_id, &to_cbor(&batch))
            .await
            .expect("an answer");
        let answers = from_cbor::<BatchResponse>(&answer).unwrap().answers;
        let outcomes: Vec<&Outcome> = answers.iter().map(|a| &a.response.outcome).collect();
        assert_eq!(outcomes[0], &Outcome::Ok("10".into()));
        assert!(matches!(outcomes[1], Outcome::Error(e) if e.kind == ErrorKind::Thrown));
        assert_eq!(outcomes[2], &Outcome::Ok("30".into()));
        assert!(answers.iter().all(|a| a.micros > 0), "{answers:?}");

        let too_many = TaskBatch {
            code: "1".into(),
            wasm: None,
            inputs: vec![None; MAX_BATCH_TASKS + 1],
            timeout_ms: None,
            grant: None,
        };
        // Over the limit: one answer refuses the whole batch, in words.
        let answer = exchange_on(BATCH_PROTOCOL, &mut control, node_id, &to_cbor(&too_many))
            .await
            .expect("an oversized batch is answered");
        let answers = from_cbor::<BatchResponse>(&answer).unwrap().answers;
        assert_eq!(answers.len(), 1, "{answers:?}");
        assert!(
            matches!(&answers[0].response.outcome, Outcome::Error(e)
                if e.kind == ErrorKind::Rejected && e.message.contains("at most 256")),
            "{answers:?}"
        );

        let garbage = b"\xff\x00 not a batch";
        if let Ok(answer) = exchange_on(BATCH_PROTOCOL, &mut control, node_id, garbage).await {
            assert!(from_cbor::<BatchResponse>(&answer).is_err());
        }
    };
    tokio::time::timeout(STREAM_TIMEOUT, conversation)
        .await
        .expect("the node answered every batch in time");
    assert_still_serves(&relay, &node).await;
}
