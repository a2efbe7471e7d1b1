//! WebAssembly task benchmarks; prints tables. Run with `cargo bench -p pws-tests --bench wasm`
//! (needs `rustup target add wasm32-wasip1`; the CPU set is built from
//! `examples/wasm/src/bin/cpuset.rs` both natively and for wasm32-wasip1).
//!
//! 1. The CPU task set, time per task on one core: the Rust source compiled natively, the
//!    same source as WebAssembly on a native node (wasmtime) and on a browser node (headless
//!    Chromium's engine; the page must be built: `web-node/build.sh`), the JavaScript set on
//!    the native node (Boa) and in `node` (V8). The Rust program times its own runs (fastest
//!    of five), so neither process start nor the network is counted; Boa's times are the
//!    node's.
//! 2. A CPU-bound job (`examples/primes.wasm`) over 1, 2 and 4 nodes of one slot each:
//!    wall time, speedup and efficiency per node. All nodes share this machine's cores.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pws_net::protocol::{Outcome, TaskRequest};
use pws_net::transport::TransportKind;
use pws_submit::session::Session;
use pws_submit::source::TaskSource;
use pws_tests::browser::Browser;
use pws_tests::{Node, Relay, Submit, json_lines};
use serde_json::Value;

#[path = "../../pws-node/benches/shared/cpu_set.rs"]
mod cpu_set;
use cpu_set::CPU_SET;
#[path = "../../pws-node/benches/shared/v8.rs"]
mod v8;

/// The Rust twin of each entry of [`CPU_SET`], by the name `cpuset` takes.
const RUST_NAMES: [&str; 5] = ["sum", "fib", "sort", "json", "string"];
const JOB_TASKS: u64 = 48;
const NODE_COUNTS: [usize; 3] = [1, 2, 4];
/// Loading the browser node's page and joining the network.
const BROWSER_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

// Sandbox workers started from this process run under the same allocator as in pws-node.
#[global_allocator]
static ALLOCATOR: pws_node::memory::LimitedAllocator = pws_node::memory::LimitedAllocator;

fn main() {
    pws_node::sandbox::worker::run_if_requested();
    pws_net::transport::install_crypto_provider();
    let (native, wasm) = build_cpuset();
    cpu_set(&native, &wasm);
    job_speedup();
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Build `cpuset` natively and for wasm32-wasip1; returns both paths.
fn build_cpuset() -> (PathBuf, PathBuf) {
    let manifest = examples_dir().join("wasm/Cargo.toml");
    for target in [None, Some("wasm32-wasip1")] {
        let mut cargo = Command::new(env!("CARGO"));
        cargo.args(["build", "--release", "--bin", "cpuset", "--manifest-path"]);
        cargo.arg(&manifest);
        if let Some(target) = target {
            cargo.args(["--target", target]);
        }
        let status = cargo.status().expect("cargo runs");
        assert!(status.success(), "building cpuset for {target:?} failed");
    }
    let built = examples_dir().join("wasm/target");
    (
        built.join("release/cpuset"),
        built.join("wasm32-wasip1/release/cpuset.wasm"),
    )
}

/// The fastest of five runs, in ms, as `cpuset` reports it, and its result.
fn cpuset_answer(answer: &str) -> (f64, Value) {
    let answer: Value = serde_json::from_str(answer).expect("cpuset answers JSON");
    let micros = answer["micros"].as_f64().expect("micros");
    (micros / 1000.0, answer["result"].clone())
}

fn cpu_set(native: &Path, wasm: &Path) {
    let relay = Relay::start();
    let native_node = Node::start(&relay, &["--slots", "1"]);
    let mut browser = Browser::open(&relay.http);
    let browser_node = browser.wait_until_node_connected(BROWSER_CONNECT_TIMEOUT);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let session = runtime.block_on(async {
        Session::connect(
            &relay.tcp().parse().expect("relay address"),
            &[TransportKind::Tcp],
        )
        .await
        .expect("connected")
    });
    let known = |id: &str| {
        let nodes = runtime.block_on(session.refresh()).expect("nodes");
        nodes
            .into_iter()
            .find(|node| node.peer_id.to_string() == id)
            .unwrap_or_else(|| panic!("node {id} is not known"))
            .peer_id
    };
    let (native_node, browser_node) = (known(&native_node.peer_id), known(&browser_node));
    let module = TaskSource::read(wasm).expect("cpuset.wasm");
    let v8 = v8::node_times();

    println!(
        "| task | native (Rust) | wasm on a native node | wasm / native | wasm in Chromium | Chromium / native | Boa | node (V8) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (index, ((label, body), name)) in CPU_SET.iter().zip(RUST_NAMES).enumerate() {
        let input = format!("\"{name}\"");
        let (native_ms, native_result) = cpuset_answer(&run_native(native, &input));

        let ask = |node, request: TaskRequest| {
            runtime
                .block_on(session.client.send_task(node, request))
                .expect("an answer")
        };
        let wasm_ms = |node| {
            let task = TaskRequest {
                input: Some(input.clone()),
                ..module.request()
            };
            let answer = ask(node, task);
            let Outcome::Ok(answer) = answer.outcome else {
                panic!("{label} in wasm on {node}: {answer:?}");
            };
            let (ms, result) = cpuset_answer(&answer);
            assert_eq!(result, native_result, "{label}: wasm and native agree");
            ms
        };
        let (wasm_ms, browser_ms) = (wasm_ms(native_node), wasm_ms(browser_node));

        let js = TaskRequest::new(format!("function() {{ {body} }}"));
        let boa_ms = (0..3)
            .map(|_| {
                let started = Instant::now();
                let answer = ask(native_node, js.clone());
                assert!(
                    matches!(answer.outcome, Outcome::Ok(_)),
                    "{label}: {answer:?}"
                );
                started.elapsed()
            })
            .min()
            .expect("three runs")
            .as_secs_f64()
            * 1000.0;
        let v8_ms = v8
            .as_ref()
            .map_or("(node not installed)".to_string(), |times| {
                format!("{:.1} ms", times[index])
            });
        println!(
            "| {label} | {native_ms:.2} ms | {wasm_ms:.2} ms | {:.2}× | {browser_ms:.2} ms | {:.2}× | {boa_ms:.0} ms | {v8_ms} |",
            wasm_ms / native_ms,
            browser_ms / native_ms
        );
    }
}

/// Run the native `cpuset` with `input` on stdin; its answer.
fn run_native(native: &Path, input: &str) -> String {
    let mut child = Command::new(native)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the native cpuset starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(input.as_bytes()).expect("input written");
    drop(stdin);
    let output = child.wait_with_output().expect("the native cpuset ends");
    assert!(output.status.success(), "native cpuset {input}: {output:?}");
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// `map examples/primes.wasm --range 0..JOB_TASKS` on 1, 2 and 4 one-slot nodes.
fn job_speedup() {
    let primes = examples_dir().join("primes.wasm");
    let primes = primes.to_str().expect("utf-8 path");
    println!(
        "\n| {JOB_TASKS} primes.wasm tasks (100,000 numbers each) | wall time | speedup | efficiency per node |"
    );
    println!("|---|---|---|---|");
    let mut one_node: Option<Duration> = None;
    for count in NODE_COUNTS {
        let relay = Relay::start();
        let _nodes: Vec<Node> = (0..count)
            .map(|_| Node::start(&relay, &["--slots", "1"]))
            .collect();
        // A first job warms every node up (modules compiled, workers started).
        let run = || {
            let started = Instant::now();
            let output = Submit::new()
                .args(["--relay", &relay.tcp(), "map", primes, "--quiet"])
                .args(["--range", &format!("0..{JOB_TASKS}")])
                .expect_success();
            let elapsed = started.elapsed();
            let results = json_lines(&output.stdout);
            assert_eq!(results.len() as u64, JOB_TASKS);
            assert_eq!(results[0]["ok"], 9592);
            elapsed
        };
        run();
        let wall = run();
        let base = *one_node.get_or_insert(wall);
        let speedup = base.as_secs_f64() / wall.as_secs_f64();
        println!(
            "| {count} node{} | {:.2} s | {speedup:.2}× | {:.0}% |",
            if count == 1 { "" } else { "s" },
            wall.as_secs_f64(),
            speedup / count as f64 * 100.0
        );
    }
}
