use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use libp2p::Multiaddr;
use pws_net::identity::Identity;
use pws_node::network_args::PrivateNetworkArgs;
use pws_node::{EngineLimits, NodeConfig, Report, SandboxLimits, budget};

#[global_allocator]
static ALLOCATOR: pws_node::memory::LimitedAllocator = pws_node::memory::LimitedAllocator;

/// A PWS compute node: joins the network through a relay and runs the JavaScript tasks it
/// receives, each in a sandbox, until stopped (Ctrl-C or SIGTERM).
#[derive(Parser)]
#[command(version, subcommand_negates_reqs = true)]
struct Args {
    #[command(subcommand)]
    command: Option<NodeCommand>,
    /// Address of the relay, ending in /p2p/<relay peer id> (as the relay prints it). Give
    /// it more than once (or a comma list in PWS_RELAY) to register and serve at every one.
    #[arg(long, env = "PWS_RELAY", value_delimiter = ',', required = true)]
    relay: Vec<Multiaddr>,
    /// Tasks run at once; more are answered "busy". Default: the number of CPU cores, or
    /// fewer if they do not fit in --max-total-memory.
    #[arg(long)]
    slots: Option<u32>,
    /// Memory the node and all its tasks may use together, in MiB. Each slot counts its
    /// --max-memory plus 320 MiB (task stack and engine), and the node keeps 256 MiB;
    /// --slots beyond that is refused. Default: half of the machine's memory.
    #[arg(long)]
    max_total_memory: Option<u64>,
    /// Where the node keeps its identity. Default: the platform data dir (e.g. ~/.local/share/pws/node).
    #[arg(long, global = true)]
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
    #[command(flatten)]
    private_network: PrivateNetworkArgs,
    /// Iterations a single loop of a task may run before the task ends with "timeout".
    #[arg(long, default_value_t = EngineLimits::default().loop_iterations)]
    max_loop_iterations: u64,
    /// Serve the node's metrics (tasks by outcome, task durations, slots, worker restarts,
    /// refusals, connections, bandwidth) in Prometheus' text format at http://ADDR/metrics.
    /// Off by default.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Print this node's peer id (its identity in --data-dir, made if there is none), one line.
    Id,
}

fn main() -> Result<()> {
    pws_node::sandbox::worker::run_if_requested();
    pws_net::logging::init();
    let args = Args::parse();
    if let Some(NodeCommand::Id) = args.command {
        println!(
            "{}",
            Identity::load_or_create(&data_dir(args.data_dir)?)?.peer_id()
        );
        return Ok(());
    }

    let max_time = Duration::try_from_secs_f64(args.max_time)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| anyhow::anyhow!("--max-time must be a positive number of seconds"))?;
    if args.max_memory == 0 {
        anyhow::bail!("--max-memory must be at least 1 MiB");
    }
    let slots = slots_within_budget(&args)?;
    let listen = if args.relay_only {
        Vec::new()
    } else if args.listen.is_empty() {
        pws_net::transport::any_port_addrs(std::net::Ipv4Addr::UNSPECIFIED.into())
    } else {
        args.listen
    };
    let access = args.private_network.access()?;
    let metrics = args
        .metrics
        .map(|addr| (addr, pws_net::metrics::registry()));
    let config = NodeConfig {
        access,
        metrics: metrics.as_ref().map(|(_, registry)| registry.clone()),
        relays: args.relay,
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
            if let Some((addr, registry)) = metrics {
                serve_metrics(addr, registry).await?;
            }
            let report = |report| match report {
                Report::Listening(addr) => println!("{addr}"),
                Report::Registered => println!("registered"),
                Report::Relay(_) | Report::Status(_) | Report::Finished { .. } => {}
            };
            pws_node::run(config, stop_signal()?, report).await
        })
}

/// Serve `registry` at http://`addr`/metrics in the background.
async fn serve_metrics(addr: SocketAddr, registry: pws_net::metrics::SharedRegistry) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot serve metrics on {addr} (see --metrics)"))?;
    tracing::info!("metrics at http://{}/metrics", listener.local_addr()?);
    let app = pws_net::metrics::route(registry);
    pws_net::http::spawn(listener, app, "the metrics server");
    Ok(())
}

/// `--slots` (default: the CPU cores), checked against `--max-total-memory`: an explicit
/// number that does not fit is refused, the default is lowered to what fits.
fn slots_within_budget(args: &Args) -> Result<u32> {
    const MIB: u64 = 1024 * 1024;
    let per_task = args.max_memory as u64 * MIB;
    let total = args
        .max_total_memory
        .map_or_else(budget::default_total_bytes, |mib| mib.saturating_mul(MIB));
    let fit = u32::try_from(budget::slots_that_fit(total, per_task)).unwrap_or(u32::MAX);
    let needs = |slots: u32| {
        (budget::NODE_RESERVE_BYTES + u64::from(slots) * budget::slot_bytes(per_task)) / MIB
    };
    if fit == 0 {
        anyhow::bail!(
            "--max-total-memory {} MiB cannot hold even one slot with --max-memory {} MiB \
             (that needs {} MiB); raise --max-total-memory or lower --max-memory",
            total / MIB,
            args.max_memory,
            needs(1)
        );
    }
    match args.slots {
        Some(0) => anyhow::bail!("--slots must be at least 1"),
        Some(slots) if slots > fit => anyhow::bail!(
            "--slots {slots} with --max-memory {} MiB needs {} MiB, more than \
             --max-total-memory {} MiB allows ({fit} slots fit); lower --slots or \
             --max-memory, or raise --max-total-memory",
            args.max_memory,
            needs(slots),
            total / MIB
        ),
        Some(slots) => Ok(slots),
        None => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
            if cores > fit {
                tracing::warn!(
                    "running {fit} slots, not one per core ({cores}): more do not fit in \
                     {} MiB of memory with --max-memory {} MiB",
                    total / MIB,
                    args.max_memory
                );
            }
            Ok(cores.min(fit))
        }
    }
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
