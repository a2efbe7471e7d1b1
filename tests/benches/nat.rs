//! Hole punching through NATs, in the network-namespace test bed of the NAT tests (it needs
//! root); prints a table. Run with `cargo bench -p pws-tests --bench nat`.
//!
//! A relay on the public segment and a node on a LAN behind a NAT that keeps its mappings
//! (Linux MASQUERADE). One-shot submitters, one after another, each on a fresh host of a
//! second LAN, run one task of 2 s (so that their connection lasts while hole punching
//! tries): first behind a NAT that keeps its mappings too, then behind one that randomizes
//! its ports. The node's log says of each submitter whether a direct connection came, and
//! how long after it reached the node through the relay.

use pws_tests::netns::{Nat, NatBed};
use std::time::Duration;

use pws_tests::{Node, Relay, Submit, path_of, task_file};

#[path = "shared/stats.rs"]
mod stats;

const ROUNDS: usize = 20;
/// What the node logs when a hole punch worked.
const DIRECT: &str = "direct connection by hole punching";

fn main() {
    let mut bed = NatBed::new();
    let relay = Relay::start_on_host(&bed.public());
    let mut node_lan = bed.lan(Nat::EndpointIndependent);
    let node_host = bed.host(&mut node_lan);
    let node = Node::start_on_host(&relay, &node_host, &["--slots", "1"]);
    let task = task_file(
        "function() { const end = Date.now() + 2000; while (Date.now() < end) {} return 1; }",
    );

    println!("| submitter's NAT | submitters | direct connection | time to direct p50 / max |");
    println!("|---|---|---|---|");
    for (name, nat) in [
        ("keeps its mappings", Nat::EndpointIndependent),
        ("randomizes its ports", Nat::RandomPorts),
    ] {
        let mut lan = bed.lan(nat);
        let mut times = Vec::new();
        for _ in 0..ROUNDS {
            let logged = node.process.stderr_so_far().len();
            Submit::on_host(&bed.host(&mut lan))
                .args(["--relay", &relay.tcp(), "run", path_of(&task)])
                .expect_success();
            let log = node.process.stderr_so_far();
            if let Some(line) = log[logged..].lines().find(|line| line.contains(DIRECT)) {
                times.push(time_to_direct(line));
            }
        }
        let direct = times.len();
        let spread = match times.iter().max() {
            Some(max) => format!(
                "{} / {}",
                stats::ms(stats::percentile(&times, 0.5)),
                stats::ms(*max)
            ),
            None => "—".to_string(),
        };
        println!(
            "| {name} | {ROUNDS} | {direct} ({:.0}%) | {spread} |",
            100.0 * direct as f64 / ROUNDS as f64
        );
    }
}

/// The time from relayed to direct in a line of the node's log (`after_ms=Some(N)`).
fn time_to_direct(line: &str) -> Duration {
    let rest = &line[line.find("after_ms=Some(").expect("the time to direct") + 14..];
    let ms = rest[..rest.find(')').expect("the end of the time")]
        .parse()
        .expect("milliseconds");
    Duration::from_millis(ms)
}
