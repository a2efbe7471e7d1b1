//! Fair use of a node: a submitter flooding a node with requests is rate-limited and keeps at
//! most its share of the slots while another waits, and a batch holds its slot for a bounded
//! time whatever its tasks do.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use pws_net::protocol::{ErrorKind, Outcome, TaskBatch, TaskRequest};
use pws_net::transport::TransportKind;
use pws_submit::session::Session;
use pws_tests::{Node, Relay};

/// A submitter connected to `relay` that has found the nodes registered there.
async fn submitter(relay: &Relay) -> Session {
    let relay_addr = relay.tcp().parse().unwrap();
    let session = Session::connect(&relay_addr, &[TransportKind::Tcp])
        .await
        .expect("connected to the relay");
    session.refresh().await.expect("nodes found");
    session
}

/// A task that keeps a slot busy for a little while.
fn short_work() -> TaskRequest {
    TaskRequest::new("let x = 0; for (let i = 0; i < 20000; i++) x += i; x")
}

/// The time until `task` is answered with a result, sent again after each refusal.
async fn until_answered(session: &Session, node: PeerId, task: &TaskRequest) -> Duration {
    let started = Instant::now();
    loop {
        let response = session.client.send_task(node, task.clone()).await;
        match response.map(|r| r.outcome) {
            Ok(Outcome::Ok(_)) => return started.elapsed(),
            Ok(Outcome::Error(e)) if e.kind.is_retryable_elsewhere() => {}
            other => panic!("unexpected answer: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Latencies of `count` tasks sent one after another; sorted.
async fn latencies(session: &Session, node: PeerId, count: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let time = tokio::time::timeout(
            Duration::from_secs(10),
            until_answered(session, node, &short_work()),
        )
        .await
        .expect("every task of the second submitter is answered within 10 s");
        times.push(time);
    }
    times.sort();
    times
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_submitter_does_not_starve_another() {
    let relay = Relay::start();
    let node = Node::start(&relay, &["--slots", "2"]);
    let node_id: PeerId = node.peer_id.parse().unwrap();
    let flooder = submitter(&relay).await;
    let other = submitter(&relay).await;
    let alone = latencies(&other, node_id, 10).await;

    let stop = Arc::new(AtomicBool::new(false));
    let counts: Arc<[AtomicU64; 3]> = Arc::default();
    let flood: Vec<_> = (0..32)
        .map(|_| {
            let (flooder, stop, counts) = (flooder.clone(), stop.clone(), counts.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let answer = flooder.client.send_task(node_id, short_work()).await;
                    let slot = match answer.map(|r| r.outcome) {
                        Ok(Outcome::Ok(_)) => 0,
                        Ok(Outcome::Error(e)) if e.kind == ErrorKind::RateLimited => 1,
                        _ => 2,
                    };
                    counts[slot].fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // The flood is on once its requests are being refused.
    let flooding = async {
        while counts[1].load(Ordering::Relaxed) + counts[2].load(Ordering::Relaxed) < 100 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), flooding)
        .await
        .expect("the flood starts");
    let during = latencies(&other, node_id, 40).await;
    stop.store(true, Ordering::Relaxed);
    for task in flood {
        task.await.unwrap();
    }

    let [ok, limited, refused] = counts.each_ref().map(|c| c.load(Ordering::Relaxed));
    eprintln!(
        "second submitter alone: p50 {:?} p99 {:?}; during a flood from 32 concurrent loops \
         (flooder: {ok} answered, {limited} rate-limited, {refused} busy): p50 {:?} p99 {:?}, \
         40 of 40 answered",
        percentile(&alone, 0.5),
        percentile(&alone, 0.99),
        percentile(&during, 0.5),
        percentile(&during, 0.99),
    );
    assert!(limited > 0, "the flood is rate-limited");
    assert!(ok > 0, "the flooder gets its share too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_endless_loops_frees_its_slot_within_its_bound() {
    let relay = Relay::start();
    let node = Node::start(&relay, &["--slots", "1", "--max-time", "0.2"]);
    let node_id: PeerId = node.peer_id.parse().unwrap();
    let session = submitter(&relay).await;
    let batch = TaskBatch {
        code: "function() { while (true) {} }".into(),
        wasm: None,
        inputs: vec![None; 256],
        timeout_ms: None,
        grant: None,
    };
    // 4 × 0.2 s, plus room for the workers stopped and started again on a loaded machine.
    let bound = Duration::from_millis(800) + Duration::from_secs(3);
    let started = Instant::now();
    let response = tokio::time::timeout(bound, session.client.send_batch(node_id, batch))
        .await
        .expect("the batch is answered within its bound")
        .expect("an answer");
    let took = started.elapsed();
    eprintln!("a batch of 256 endless loops on a node with --max-time 0.2 took {took:?}");
    let kinds: Vec<ErrorKind> = response
        .answers
        .iter()
        .map(|answer| match &answer.response.outcome {
            Outcome::Error(e) => e.kind,
            Outcome::Ok(json) => panic!("an endless loop answered {json}"),
        })
        .collect();
    assert_eq!(kinds.len(), 256);
    let ran = kinds
        .iter()
        .take_while(|k| **k == ErrorKind::Timeout)
        .count();
    assert!((1..=4).contains(&ran), "{kinds:?}");
    assert!(
        kinds[ran..].iter().all(|k| *k == ErrorKind::Busy),
        "{kinds:?}"
    );
    // The slot is free again.
    let answer = session
        .client
        .send_task(node_id, TaskRequest::new("1 + 1"))
        .await;
    assert_eq!(answer.unwrap().outcome, Outcome::Ok("2".into()));
}
