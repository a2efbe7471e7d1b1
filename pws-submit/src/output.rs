//! What `pws-submit` prints: plain results and a table for people, JSON for scripts.
//! Results go to stdout, errors to stderr.

use std::process::ExitCode;

use libp2p::Multiaddr;
use pws_net::protocol::{ErrorKind, Outcome, TaskError};
use pws_net::status::NodeInfo;
use serde::Serialize;
use serde_json::{Value, json};

use crate::dispatch::Dispatched;

/// Exit status when the task itself failed (syntax, thrown, limits, …).
pub const EXIT_TASK_FAILED: u8 = 1;
/// Exit status when the task could not run at all (no node, network failure, bad setup).
pub const EXIT_NOT_RUN: u8 = 3;

/// Print a task's outcome and return the process exit status it implies. What the task
/// logged goes to stderr, or into the object's `logs` with `--json`.
pub fn print_outcome(dispatched: &Dispatched, as_json: bool) -> ExitCode {
    let node = dispatched.node.map(|node| node.to_string());
    let logs = &dispatched.response.logs;
    let result = match &dispatched.response.outcome {
        Outcome::Ok(text) => serde_json::from_str::<Value>(text).map_err(|e| {
            TaskError::new(
                ErrorKind::InvalidValue,
                format!("the node answered with invalid JSON: {e}"),
            )
        }),
        Outcome::Error(error) => Err(error.clone()),
    };
    let mut object = match &result {
        Ok(value) => json!({"ok": value}),
        Err(error) => json!({"error": {"kind": error.kind, "message": error.message}}),
    };
    if as_json {
        object["node"] = json!(node);
        object["ms"] = json!(dispatched.ms);
        if !logs.is_empty() {
            object["logs"] = json!(logs);
        }
        println!("{object}");
    } else {
        for line in logs {
            eprintln!("{line}");
        }
        if let Ok(value) = &result {
            println!("{value}");
        }
    }
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error ({}): {}", error.kind, error.message);
            ExitCode::from(exit_status(error.kind))
        }
    }
}

fn exit_status(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::NoNodes | ErrorKind::Network | ErrorKind::Busy | ErrorKind::Rejected => {
            EXIT_NOT_RUN
        }
        _ => EXIT_TASK_FAILED,
    }
}

/// A registry entry as `nodes --json` shows it: the status plus the transports it is
/// reachable on.
#[derive(Serialize)]
struct NodeView<'a> {
    #[serde(flatten)]
    info: &'a NodeInfo,
    transports: Vec<String>,
}

fn transports(info: &NodeInfo) -> Vec<String> {
    let mut kinds: Vec<String> = info
        .status
        .addrs
        .iter()
        .filter_map(|addr| addr.parse::<Multiaddr>().ok())
        .map(|addr| pws_net::transport::describe(&addr))
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// Print the registry: a JSON array, or a table with each node's addresses beneath it.
pub fn print_nodes(nodes: &[NodeInfo], as_json: bool) {
    if as_json {
        let views: Vec<NodeView> = nodes
            .iter()
            .map(|info| NodeView {
                info,
                transports: transports(info),
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string(&views).expect("node views serialize")
        );
        return;
    }
    if nodes.is_empty() {
        println!("no nodes");
        return;
    }
    println!(
        "{:<52}  {:<8}  {:>5}  {:>9}  {:<15}  {:<7}  TRANSPORTS",
        "PEER ID", "STATE", "SLOTS", "COMPLETED", "ENGINE", "KIND"
    );
    for info in nodes {
        let status = &info.status;
        println!(
            "{:<52}  {:<8}  {:>5}  {:>9}  {:<15}  {:<7}  {}",
            info.peer_id.to_string(),
            status.state.to_string(),
            format!("{}/{}", status.free_slots, status.total_slots),
            status.completed,
            status.engine,
            if status.browser { "browser" } else { "native" },
            transports(info).join(","),
        );
        for addr in &status.addrs {
            println!("    {addr}");
        }
    }
}

/// `jobs`: a JSON array, or a table.
pub fn print_jobs(jobs: &[crate::journal::JobRecord], as_json: bool) {
    if as_json {
        println!("{}", serde_json::to_string(jobs).expect("jobs serialize"));
        return;
    }
    if jobs.is_empty() {
        println!("no jobs");
        return;
    }
    println!(
        "{:<10}  {:<12}  {:>15}  {:>7}  CREATED",
        "JOB", "STATE", "DONE/TOTAL", "FAILED"
    );
    for job in jobs {
        println!(
            "{:<10}  {:<12}  {:>15}  {:>7}  {}",
            job.id,
            job.state,
            format!("{}/{}", job.done, job.total),
            job.failed,
            job.created
        );
    }
}

/// Exit status when some tasks of a job failed.
pub const EXIT_SOME_FAILED: u8 = 1;
/// Exit status when a job was stopped by Ctrl-C (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// The end-of-job summary on stderr; returns the exit status it implies.
pub fn print_summary(summary: &crate::job::Summary) -> ExitCode {
    use crate::job::scheduler::End;
    let secs = summary.elapsed.as_secs_f64();
    let ran = summary.per_node.values().sum::<u64>();
    eprintln!(
        "job {}: {}/{} done, {} failed, {:.2} s, {:.0} tasks/s",
        summary.job,
        summary.done,
        summary.total,
        summary.failed,
        secs,
        ran as f64 / secs.max(f64::EPSILON)
    );
    for (node, count) in &summary.per_node {
        eprintln!("  {node}: {count} tasks");
    }
    for node in &summary.excluded {
        eprintln!("  {node}: excluded after failing repeatedly");
    }
    match summary.end {
        End::Complete if summary.failed == 0 => ExitCode::SUCCESS,
        End::Complete => ExitCode::from(EXIT_SOME_FAILED),
        End::NoNodes => {
            eprintln!(
                "no node was available; {} inputs are left: `pws-submit resume {}` continues",
                summary.total - summary.done,
                summary.job
            );
            ExitCode::from(EXIT_NOT_RUN)
        }
        End::Interrupted => {
            eprintln!(
                "interrupted; `pws-submit resume {}` runs the {} inputs left",
                summary.job,
                summary.total - summary.done
            );
            ExitCode::from(EXIT_INTERRUPTED)
        }
    }
}
