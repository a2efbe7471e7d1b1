use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use libp2p::Multiaddr;
use pws_net::identity::Identity;
use pws_node::{EngineLimits, NodeConfig, Report, SandboxLimits};

#[global_allocator]
static ALLOCATOR: pws_node::memory::LimitedAllocator = pws_node::memory::LimitedAllocator;

/// A PWS compute node: joins the network through a relay and runs the JavaScript tasks it
/// receives, each in a sandbox, until stopped (Ctrl-C or SIGTERM).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address of the relay, ending in /p2p/<relay peer id> (as the relay prints it).
    #[arg(long, env = "PWS_RELAY")]
    relay: Multiaddr,
    /// Tasks run at once; more are answered "busy". Default: the number of CPU cores.
    #[arg(long)]
    slots: Option<u32>,
    /// Where the node keeps its identity. Default: the platform data dir (e.g. ~/.local/share/pws/node).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Listen address (repeatable). Default: TCP, QUIC and WebRTC-direct on all IPv4
    /// interfaces, OS-chosen ports.
    #[arg(long)]
    listen: Vec<Multiaddr>,
    /// Listen on nothing directly: be reachable only through the relay (for devices behind
    /// NAT or a firewall).
    #[arg(long, conflicts_with = "listen")]
    relay_only: bool,
    /// Wall-clock seconds a task may run before it is stopped ("timeout"). Submitters may
    /// ask for less, never more.
    #[arg(long, default_value_t = SandboxLimits::default().max_time.as_secs_f64())]
    max_time: f64,
    /// Memory a task may use, in MiB, before it is stopped ("out-of-memory").
    #[arg(long, default_value_t = SandboxLimits::default().max_memory_bytes / (1024 * 1024))]
    max_memory: usize,
    /// Iterations a single loop of a task may run before the task ends with "timeout".
    #[arg(long, default_value_t = EngineLimits::default().loop_iterations)]
    max_loop_iterations: u64,
}

fn main() -> Result<()> {
    pws_node::sandbox::worker::run_if_requested();
    pws_net::logging::init();
    let args = Args::parse();
    let slots = match args.slots {
        Some(0) => anyhow::bail!("--slots must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
    };
    let max_time = Duration::try_from_secs_f64(args.max_time)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| anyhow::anyhow!("--max-time must be a positive number of seconds"))?;
    if args.max_memory == 0 {
        anyhow::bail!("--max-memory must be at least 1 MiB");
    }
    let listen = if args.relay_only {
        Vec::new()
    } else if args.listen.is_empty() {
        pws_net::transport::any_port_addrs(std::net::Ipv4Addr::UNSPECIFIED.into())
    } else {
        args.listen
    };
    let config = NodeConfig {
        relay: args.relay,
        slots,
        identity: Identity::load_or_create(&data_dir(args.data_dir)?)?,
        listen,
        limits: SandboxLimits {
            max_time,
            max_memory_bytes: args.max_memory * 1024 * 1024,
            engine: EngineLimits {
                loop_iterations: args.max_loop_iterations,
                ..EngineLimits::default()
            },
        },
    };
    // Tasks run in worker processes; one thread carries the network and the supervision,
    // which keeps an idle node small.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let report = |report| match report {
                Report::Listening(addr) => println!("{addr}"),
                Report::Registered => println!("registered"),
                Report::Relay(_) | Report::Status(_) | Report::Finished { .. } => {}
            };
            pws_node::run(config, stop_signal()?, report).await
        })
}

/// `--data-dir`, else the platform data directory (e.g. `~/.local/share/pws/node`).
fn data_dir(explicit: Option<PathBuf>) -> Result<PathBuf> {
    let default =
        || directories::ProjectDirs::from("", "", "pws").map(|d| d.data_dir().join("node"));
    explicit
        .or_else(default)
        .ok_or_else(|| anyhow::anyhow!("cannot find a home directory; pass --data-dir"))
}

/// Resolves on Ctrl-C or SIGTERM (what service managers send): the node leaves cleanly.
fn stop_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut interrupt, mut terminate) = (
        signal(SignalKind::interrupt())?,
        signal(SignalKind::terminate())?,
    );
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
