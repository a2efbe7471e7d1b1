//! What an attack costs honest users; prints a table. Run with
//! `cargo bench -p pws-tests --bench attacks` (the binaries are built first, in release).
//!
//! - fake idle nodes on gossip: a 1,000-task job of trivial tasks on 2 honest nodes (2 slots
//!   each), alone and beside 10,000 fake identities, each a bare swarm connected to the relay
//!   announcing itself idle with 4096 free slots. The fakes come from several processes so
//!   that they connect in parallel; their own CPU is on the same machine as the job's, so the
//!   job runs beside them twice: with the fakes' processes at the lowest CPU priority (as if
//!   their CPU were elsewhere: the attacker's) and at the same priority as the job's. The
//!   relay passes on no announcement of an identity not registered with it, so the count of
//!   fakes a submitter sees over the flood's first minute should stay 0. A last run has the
//!   fakes' processes stopped: their connections to the relay without their flood. For each
//!   run, the rate of announcements reaching the relay meanwhile (its metrics: messages
//!   gossipsub handed to the relay's checks, and those of unregistered authors dropped before
//!   their signatures were checked).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use pws_tests::fakes::{SilentNodes, most_seen_by_a_submitter, time_trivial_job};
use pws_tests::metrics::sum_of;
use pws_tests::{Node, Relay, Signal, rss_bytes};

/// Resident memory of the relay's process, in MB.
fn relay_rss_mb(relay: &Relay) -> u64 {
    let pid = relay.process.pid().expect("the relay runs");
    rss_bytes(pid).expect("the relay's RSS") / 1_000_000
}

const JOB_TASKS: u64 = 1000;
/// Each row is the median of this many jobs run one after another: one job takes a few
/// tenths of a second, where a moment's scheduling shows.
const JOB_RUNS: usize = 5;
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
    // The first job also starts the nodes' sandbox workers: not measured.
    time_trivial_job(&relay, JOB_TASKS);
    let alone = median_job_time(&relay);

    let started = Instant::now();
    let relay_addr = relay.tcp();
    let fakes: Vec<SilentNodes> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..FAKE_PROCESSES)
            .map(|_| {
                scope
                    .spawn(|| SilentNodes::launch_niced(&relay_addr, 4096, FAKES_PER_PROCESS, true))
            })
            .collect();
        starting
            .into_iter()
            .map(|fakes| fakes.join().expect("the fakes started"))
            .collect()
    });
    let fake_ids: HashSet<String> = fakes.iter().flat_map(|f| f.ids.iter().cloned()).collect();
    let relay_cpu_before = cpu_seconds(&relay);
    let seen = most_seen_by_a_submitter(&relay, &fake_ids, fake_ids.len(), FLOOD);
    let relay_cpu_share = (cpu_seconds(&relay) - relay_cpu_before) / FLOOD.as_secs_f64();
    let seen_after = started.elapsed();

    let niced = time_job_with_flood_rate(&relay);
    for fake in &fakes {
        fake.renice(0);
    }
    let same_priority = time_job_with_flood_rate(&relay);
    let relay_attacked = relay_rss_mb(&relay);
    // Without the flood: the fakes' processes stopped, their connections left open.
    for fake in &fakes {
        fake.process.signal(Signal::SIGSTOP);
    }
    let stopped = median_job_time(&relay);

    let ratio = |time: Duration| time.as_secs_f64() / alone.as_secs_f64();
    println!(
        "| 1,000 trivial tasks on 2 nodes | announcements reaching the relay | wall time (median of {JOB_RUNS}) | ratio |"
    );
    println!("|---|---|---|---|");
    println!("| alone | — | {:.2} s | 1.00× |", alone.as_secs_f64());
    let beside = format!("beside {} fake idle nodes", fake_ids.len());
    for (what, (time, rate)) in [
        ("their processes at the lowest CPU priority", niced),
        ("their processes at the job's priority", same_priority),
    ] {
        println!(
            "| {beside}, {what} | {rate:.0}/s | {:.2} s | {:.2}× |",
            time.as_secs_f64(),
            ratio(time)
        );
    }
    println!(
        "| {beside}, their processes stopped (connections open) | 0/s | {:.2} s | {:.2}× |",
        stopped.as_secs_f64(),
        ratio(stopped)
    );
    println!(
        "\nAt most {seen} fakes in a submitter's registry in the {:.0} s after they started; \
         the relay used {:.0}% of a core during the flood's first minute; relay RSS {} MB \
         idle, {} MB with them.",
        seen_after.as_secs_f64(),
        relay_cpu_share * 100.0,
        relay_idle,
        relay_attacked
    );
}

/// The trivial job's median wall time, and how many announcements a second reached the
/// relay meanwhile.
fn time_job_with_flood_rate(relay: &Relay) -> (Duration, f64) {
    let metrics = format!("{}metrics", relay.http);
    let received = || {
        sum_of(&pws_tests::http::get(&metrics), |line| {
            line.starts_with("libp2p_gossipsub_messages_total")
                || line.starts_with("pws_relay_unregistered_announcements_total")
        })
        .unwrap_or(0.0)
    };
    let (before, started) = (received(), Instant::now());
    let time = median_job_time(relay);
    (
        time,
        (received() - before) / started.elapsed().as_secs_f64(),
    )
}

/// The median wall time of [`JOB_RUNS`] trivial jobs.
fn median_job_time(relay: &Relay) -> Duration {
    let mut times: Vec<Duration> = (0..JOB_RUNS)
        .map(|_| time_trivial_job(relay, JOB_TASKS))
        .collect();
    times.sort();
    times[JOB_RUNS / 2]
}

/// CPU time the relay's process has used, user and system.
fn cpu_seconds(relay: &Relay) -> f64 {
    let pid = relay.process.pid().expect("the relay runs");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the relay's stat");
    // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("a command") + 2..]
        .split(' ')
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // Linux counts them in USER_HZ, 100 a second.
    ticks / 100.0
}
