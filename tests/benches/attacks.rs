//! What an attack costs honest users; prints a table. Run with
//! `cargo bench -p pws-tests --bench attacks` (the binaries are built first, in release).
//!
//! - fake idle nodes on gossip: a 1,000-task job of trivial tasks on 2 honest nodes (2 slots
//!   each), alone and beside 10,000 fake identities, each a bare swarm connected to the relay
//!   announcing itself idle with 4096 free slots. The fakes come from several processes so
//!   that they connect in parallel; their own CPU is on the same machine as the job's. The
//!   relay passes on no announcement of an identity not registered with it, so the count of
//!   fakes a submitter sees over the flood's first minute should stay 0. A third run has the
//!   fakes' processes stopped: their connections to the relay without their flood.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use pws_tests::fakes::{SilentNodes, most_seen_by_a_submitter, time_trivial_job};
use pws_tests::{Node, Relay, Signal, rss_bytes};

/// Resident memory of the relay's process, in MB.
fn relay_rss_mb(relay: &Relay) -> u64 {
    let pid = relay.process.pid().expect("the relay runs");
    rss_bytes(pid).expect("the relay's RSS") / 1_000_000
}

const JOB_TASKS: u64 = 1000;
const FAKE_PROCESSES: usize = 4;
const FAKES_PER_PROCESS: usize = 2500;
/// How long the flood runs, watched by a submitter, before the job.
const FLOOD: Duration = Duration::from_secs(60);

fn main() {
    let relay = Relay::start();
    let _honest: Vec<Node> = (0..2)
        .map(|_| Node::start(&relay, &["--slots", "2"]))
        .collect();
    let relay_idle = relay_rss_mb(&relay);
    let alone = time_trivial_job(&relay, JOB_TASKS);

    let started = Instant::now();
    let relay_addr = relay.tcp();
    let fakes: Vec<SilentNodes> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..FAKE_PROCESSES)
            .map(|_| {
                scope.spawn(|| SilentNodes::launch(&relay_addr, 4096, FAKES_PER_PROCESS, true))
            })
            .collect();
        starting
            .into_iter()
            .map(|fakes| fakes.join().expect("the fakes started"))
            .collect()
    });
    let fake_ids: HashSet<String> = fakes.iter().flat_map(|f| f.ids.iter().cloned()).collect();
    let seen = most_seen_by_a_submitter(&relay, &fake_ids, fake_ids.len(), FLOOD);
    let seen_after = started.elapsed();
    let beside = time_trivial_job(&relay, JOB_TASKS);
    let relay_attacked = relay_rss_mb(&relay);
    // Without the flood's CPU: the fakes' processes stopped, their connections left open.
    for fake in &fakes {
        fake.process.signal(Signal::SIGSTOP);
    }
    let stopped = time_trivial_job(&relay, JOB_TASKS);

    println!("| 1,000 trivial tasks on 2 nodes | wall time | ratio |");
    println!("|---|---|---|");
    println!("| alone | {:.2} s | 1.00× |", alone.as_secs_f64());
    println!(
        "| beside {} fake idle nodes ({seen} in a submitter's registry) | {:.2} s | {:.2}× |",
        fake_ids.len(),
        beside.as_secs_f64(),
        beside.as_secs_f64() / alone.as_secs_f64()
    );
    println!(
        "| beside them, their processes stopped (connections open, no flood) | {:.2} s | {:.2}× |",
        stopped.as_secs_f64(),
        stopped.as_secs_f64() / alone.as_secs_f64()
    );
    println!(
        "\nAt most {seen} fakes in a submitter's registry in the {:.0} s after they started; \
         relay RSS {} MB idle, {} MB with them.",
        seen_after.as_secs_f64(),
        relay_idle,
        relay_attacked
    );
}
