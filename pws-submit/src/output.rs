//! What `pws-submit` prints: plain results and a table for people, JSON for scripts.
//! Results go to stdout, errors to stderr.

use libp2p::Multiaddr;
use pws_net::protocol::ErrorKind;
use pws_net::status::NodeInfo;
use serde::Serialize;

use crate::dispatch::Dispatched;
use crate::exit::ExitStatus;
use crate::job::Summary;
use crate::job::scheduler::End;
use crate::journal::JobRecord;
use crate::terminal::{printable, safe_json};

/// Print a task's outcome and return the process exit status it implies. What the task
/// logged goes to stderr, or into the object's `logs` with `--json`.
pub fn print_outcome(dispatched: &Dispatched, as_json: bool) -> ExitStatus {
    let result = dispatched.result();
    if as_json {
        println!("{}", safe_json(&dispatched.to_json().to_string()));
    } else {
        for line in &dispatched.response.logs {
            eprintln!("{}", printable(line));
        }
        if let Ok(value) = &result {
            println!("{}", safe_json(&value.to_string()));
        }
    }
    match result {
        Ok(_) => ExitStatus::Success,
        Err(error) => {
            eprintln!("error ({}): {}", error.kind, printable(&error.message));
            exit_status(error.kind)
        }
    }
}

/// A task that failed for want of a node did not run; any other failure is the task's own
/// (syntax, thrown, limits, …).
fn exit_status(kind: ErrorKind) -> ExitStatus {
    match kind {
        ErrorKind::NoNodes
        | ErrorKind::Network
        | ErrorKind::Busy
        | ErrorKind::RateLimited
        | ErrorKind::Rejected
        | ErrorKind::Unsupported
        | ErrorKind::UnknownModule => ExitStatus::NotRun,
        _ => ExitStatus::TaskFailed,
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
            safe_json(&serde_json::to_string(&views).expect("node views serialize"))
        );
        return;
    }
    if nodes.is_empty() {
        println!("no nodes");
        return;
    }
    println!(
        "{:<52}  {:<8}  {:>5}  {:>9}  {:<22}  {:<7}  TRANSPORTS",
        "PEER ID", "STATE", "SLOTS", "COMPLETED", "ENGINES", "KIND"
    );
    for info in nodes {
        let status = &info.status;
        println!(
            "{:<52}  {:<8}  {:>5}  {:>9}  {:<22}  {:<7}  {}",
            info.peer_id.to_string(),
            status.state.to_string(),
            format!("{}/{}", status.free_slots, status.total_slots),
            status.completed,
            printable(&status.engines()),
            if status.browser { "browser" } else { "native" },
            transports(info).join(","),
        );
        for addr in &status.addrs {
            println!("    {}", printable(addr));
        }
    }
}

/// `jobs`: a JSON array, or a table.
pub fn print_jobs(jobs: &[JobRecord], as_json: bool) {
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

/// The end-of-job summary on stderr; returns the exit status it implies.
pub fn print_summary(summary: &Summary) -> ExitStatus {
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
        eprintln!("  {node}: left out (it failed repeatedly or misbehaved)");
    }
    match summary.end {
        End::Complete if summary.failed == 0 => ExitStatus::Success,
        End::Complete => ExitStatus::TaskFailed,
        End::NoNodes => {
            eprintln!(
                "no node was available; {} inputs are left: `pws-submit resume {}` continues",
                summary.total - summary.done,
                summary.job
            );
            ExitStatus::NotRun
        }
        End::Interrupted => {
            eprintln!(
                "interrupted; `pws-submit resume {}` runs the {} inputs left",
                summary.job,
                summary.total - summary.done
            );
            ExitStatus::Interrupted
        }
    }
}
