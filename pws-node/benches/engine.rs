//! Engine benchmarks; prints tables. Run with `cargo bench -p pws-node --bench engine`.
//!
//! 1. Cost of an isolated trivial task in the engine: a context built on demand (what a
//!    worker would pay without preparation), a context prepared ahead (what a task pays in
//!    the worker, which builds the next context while idle), and a reused context (not
//!    isolated; the floor).
//! 2. A fixed set of CPU tasks in Boa against `node` on the same machine, as ratios.

use std::time::{Duration, Instant};

use boa_engine::{Context, Source};
use pws_net::protocol::{Outcome, TaskRequest};
use pws_node::engine::{Engine, EngineLimits};

#[path = "shared/cpu_set.rs"]
mod cpu_set;
use cpu_set::CPU_SET;
#[path = "shared/v8.rs"]
mod v8;
use v8::node_times;

const TRIVIAL: &str = "function() { return 2 + 2; }";
const RUNS: usize = 2000;

fn main() {
    isolation_overhead();
    cpu_set();
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn isolation_overhead() {
    let engine = Engine::new(EngineLimits::default());
    let task = TaskRequest::new(TRIVIAL);
    let on_demand = median(
        (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                let response = engine.run(engine.prepare(), &task);
                let elapsed = started.elapsed();
                assert_eq!(response.outcome, Outcome::Ok("4".into()));
                elapsed
            })
            .collect(),
    );
    let prepared = median(
        (0..RUNS)
            .map(|_| {
                let context = engine.prepare();
                let started = Instant::now();
                let response = engine.run(context, &task);
                let elapsed = started.elapsed();
                assert_eq!(response.outcome, Outcome::Ok("4".into()));
                elapsed
            })
            .collect(),
    );
    let mut shared = Context::default();
    let reused = median(
        (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                let value = shared
                    .eval(Source::from_bytes("(function() { return 2 + 2; })()"))
                    .unwrap();
                let elapsed = started.elapsed();
                assert_eq!(value.as_number(), Some(4.0));
                elapsed
            })
            .collect(),
    );
    println!("| trivial task in the engine (median of {RUNS}) | time |");
    println!("|---|---|");
    println!("| fresh context built on demand | {} |", us(on_demand));
    println!(
        "| fresh context prepared ahead (what a task waits for) | {} |",
        us(prepared)
    );
    println!(
        "| one reused context (not isolated; reference) | {} |",
        us(reused)
    );
}

fn cpu_set() {
    let engine = Engine::new(EngineLimits::default());
    let node_times = node_times();
    println!("\n| task | Boa | node | Boa / node |");
    println!("|---|---|---|---|");
    for (index, (name, body)) in CPU_SET.iter().enumerate() {
        let task = TaskRequest::new(format!("function() {{ {body} }}"));
        let boa = (0..3)
            .map(|_| {
                let context = engine.prepare();
                let started = Instant::now();
                let response = engine.run(context, &task);
                assert!(
                    matches!(response.outcome, Outcome::Ok(_)),
                    "{name}: {response:?}"
                );
                started.elapsed()
            })
            .min()
            .unwrap();
        let boa_ms = boa.as_secs_f64() * 1000.0;
        match node_times.as_ref().map(|times| times[index]) {
            Some(node_ms) => println!(
                "| {name} | {boa_ms:.0} ms | {node_ms:.1} ms | {:.0}× |",
                boa_ms / node_ms
            ),
            None => println!("| {name} | {boa_ms:.0} ms | (node not installed) | |"),
        }
    }
}
