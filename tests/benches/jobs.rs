//! Job benchmarks; prints tables. Run with `cargo bench -p pws-tests --bench jobs`.
//!
//! - tasks/s for 10,000 trivial tasks on 1, 2 and 4 in-process nodes (2 slots each), and the
//!   per-task cost that implies;
//! - a CPU-bound job (counting primes in 64 ranges) on 1 and 2 nodes of 1 slot: speedup and
//!   efficiency;
//! - the journal's share: writing the same job's inputs and results to the journal alone.

use std::time::{Duration, Instant};

use pws_net::strategy::Strategy;
use pws_net::transport::TransportKind;
use pws_submit::job::{self, JobSpec};
use pws_submit::journal::{FinalResult, Journal};
use pws_submit::local::LocalNetwork;
use pws_submit::session::Session;
use pws_submit::source::TaskSource;

const TRIVIAL_TASKS: u64 = 10_000;
const TRIVIAL: &str = "function(n) { return n + 1; }";
const PRIMES: &str = "function(r) { let count = 0; \
    for (let n = r * 20000; n < (r + 1) * 20000; n++) { if (n < 2) continue; let prime = true; \
    for (let d = 2; d * d <= n; d++) { if (n % d === 0) { prime = false; break; } } \
    if (prime) count++; } return count; }";

// Sandbox workers started from this process run under the same allocator as in pws-node.
#[global_allocator]
static ALLOCATOR: pws_node::memory::LimitedAllocator = pws_node::memory::LimitedAllocator;

fn main() {
    pws_node::sandbox::worker::run_if_requested();
    pws_net::transport::install_crypto_provider();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    println!("| nodes (2 slots each) | 10,000 trivial tasks | tasks/s | per task |");
    println!("|---|---|---|---|");
    for nodes in [1, 2, 4] {
        let elapsed = runtime.block_on(job_time(nodes, 2, TRIVIAL, TRIVIAL_TASKS));
        let rate = TRIVIAL_TASKS as f64 / elapsed.as_secs_f64();
        println!(
            "| {nodes} | {:.2} s | {rate:.0} | {:.0} µs |",
            elapsed.as_secs_f64(),
            1e6 / rate
        );
    }
    let one = runtime.block_on(job_time(1, 1, PRIMES, 64));
    let two = runtime.block_on(job_time(2, 1, PRIMES, 64));
    let speedup = one.as_secs_f64() / two.as_secs_f64();
    println!("\n| primes in 64 ranges of 20,000 | wall time |\n|---|---|");
    println!("| 1 node, 1 slot | {:.2} s |", one.as_secs_f64());
    println!(
        "| 2 nodes, 1 slot each | {:.2} s (speedup {speedup:.2}×, efficiency {:.0}%) |",
        two.as_secs_f64(),
        speedup / 2.0 * 100.0
    );
    journal_only();
}

/// Wall time of a job of `count` inputs on a fresh in-process network.
async fn job_time(nodes: usize, slots: u32, code: &str, count: u64) -> Duration {
    let network = LocalNetwork::start(nodes, slots).await.unwrap();
    let relay = network.relay_addr(&[TransportKind::Tcp]).unwrap().clone();
    let session = Session::connect(&relay, &[TransportKind::Tcp])
        .await
        .unwrap();
    // Every node known before the clock starts.
    while session.refresh().await.unwrap().len() < nodes {}
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&dir.path().join("jobs.sqlite")).unwrap();
    let inputs = (0..count).map(|n| Ok(n.to_string()));
    let started = Instant::now();
    let job = journal.create_job(&spec(code), inputs).unwrap();
    let mut sink = std::io::sink();
    let summary = job::run(
        &session,
        &mut journal,
        &job,
        job::RunOptions {
            retries: 3,
            wait: Duration::from_secs(10),
            out: &mut sink,
            ordered: true,
            quiet: true,
        },
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!((summary.done, summary.failed), (count, 0));
    started.elapsed()
}

/// A job of `code` on one node per task, as `map` makes it by default.
fn spec(code: &str) -> JobSpec {
    JobSpec {
        source: TaskSource::JavaScript(code.to_string()),
        strategy: Strategy::LeastLoaded,
        timeout_ms: None,
        replicas: 1,
        quorum: 1,
    }
}

/// The journal's own cost for a 10,000-task job: inputs in, results out, as a job does it.
fn journal_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&dir.path().join("jobs.sqlite")).unwrap();
    let started = Instant::now();
    let id = journal
        .create_job(
            &spec(TRIVIAL),
            (0..TRIVIAL_TASKS).map(|n| Ok(n.to_string())),
        )
        .unwrap()
        .record
        .id;
    let results: Vec<FinalResult> = (0..TRIVIAL_TASKS)
        .map(|index| FinalResult {
            index,
            ok: true,
            line: format!(
                r#"{{"index":{index},"input":{index},"ok":{},"node":"12D3KooWExample","ms":0.5,"attempts":1}}"#,
                index + 1
            ),
        })
        .collect();
    for batch in results.chunks(1000) {
        journal.record(&id, batch).unwrap();
    }
    let elapsed = started.elapsed();
    println!(
        "\njournal alone for 10,000 tasks (inputs in, results out in batches of 1,000): {:.1} ms ({:.1} µs per task)",
        elapsed.as_secs_f64() * 1000.0,
        elapsed.as_secs_f64() * 1e6 / TRIVIAL_TASKS as f64
    );
}
