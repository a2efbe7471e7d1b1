//! A peer that speaks the task protocol badly gets an error or a closed stream, and the node
//! keeps serving everyone else.

use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{Multiaddr, PeerId, SwarmBuilder, noise, tcp, yamux};
use pws_net::protocol::{TASK_PROTOCOL, TaskRequest, TaskResponse, from_cbor, to_cbor};
use pws_tests::{Node, Relay, example, run_json};
use serde_json::json;

const STREAM_TIMEOUT: Duration = Duration::from_secs(20);

/// Open a task stream to `node`, write `bytes`, close our side and read the whole answer.
async fn exchange(
    control: &mut libp2p_stream::Control,
    node: PeerId,
    bytes: &[u8],
) -> std::io::Result<Vec<u8>> {
    let mut stream = control
        .open_stream(node, TASK_PROTOCOL)
        .await
        .map_err(std::io::Error::other)?;
    stream.write_all(bytes).await?;
    stream.close().await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    Ok(answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_oversized_messages_do_not_hurt_the_node() {
    let relay = Relay::start();
    let mut node = Node::start(&relay, &[]);
    let node_addr: Multiaddr = node
        .addrs
        .iter()
        .find(|addr| addr.contains("/tcp/"))
        .expect("node has a TCP address")
        .parse()
        .unwrap();
    let node_id: PeerId = node.peer_id.parse().unwrap();

    let mut swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| libp2p_stream::Behaviour::new())
        .unwrap()
        .build();
    let mut control = swarm.behaviour().new_control();
    swarm.dial(node_addr).unwrap();
    tokio::spawn(async move { while swarm.next().await.is_some() {} });

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

    let relay_addr = relay.tcp();
    let result =
        tokio::task::spawn_blocking(move || run_json(&relay_addr, &[], &example("math.js")))
            .await
            .unwrap();
    assert_eq!(result["ok"], json!(4), "{result}");
    assert_eq!(result["node"], node.peer_id.as_str());
    assert!(
        node.process.terminate(),
        "the node exits cleanly after all that"
    );
}
