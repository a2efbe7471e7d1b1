//! Trivial tasks sent to one node, timed: the load both network benchmarks put on a node.

use std::time::{Duration, Instant};

use libp2p::PeerId;
use pws_net::client::Client;
use pws_net::protocol::{TaskRequest, TaskResponse};

pub fn trivial_task() -> TaskRequest {
    TaskRequest::new("function() { return 2 + 2; }")
}

/// `count` sequential round trips after `warm_up` unmeasured ones.
pub async fn round_trips(
    client: &Client,
    node: PeerId,
    warm_up: usize,
    count: usize,
) -> Vec<Duration> {
    let mut samples = interleaved_round_trips(&[(client, node)], warm_up, count).await;
    samples.pop().expect("one target, one series")
}

/// Round trips to each target in turn (`warm_up` unmeasured rounds, then `count`), so that
/// what the machine does meanwhile weighs on every target alike; one series per target.
pub async fn interleaved_round_trips(
    targets: &[(&Client, PeerId)],
    warm_up: usize,
    count: usize,
) -> Vec<Vec<Duration>> {
    let mut samples = vec![Vec::with_capacity(count); targets.len()];
    for round in 0..warm_up + count {
        for ((client, node), series) in targets.iter().zip(&mut samples) {
            let started = Instant::now();
            let response = client.send_task(*node, trivial_task()).await.unwrap();
            assert_eq!(response, TaskResponse::ok("4"));
            if round >= warm_up {
                series.push(started.elapsed());
            }
        }
    }
    samples
}

/// Tasks per second with `senders` tasks in flight at once, `tasks` in all.
pub async fn throughput(client: &Client, node: PeerId, senders: usize, tasks: usize) -> f64 {
    let started = Instant::now();
    let loops = (0..senders).map(|_| {
        let client = client.clone();
        tokio::spawn(async move {
            for _ in 0..tasks / senders {
                let response = client.send_task(node, trivial_task()).await.unwrap();
                assert_eq!(response, TaskResponse::ok("4"));
            }
        })
    });
    futures::future::join_all(loops).await;
    tasks as f64 / started.elapsed().as_secs_f64()
}
