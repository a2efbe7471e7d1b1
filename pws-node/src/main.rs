use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use libp2p::Multiaddr;
use pws_net::identity::{Identity, data_dir_or_default};
use pws_node::{Limits, NodeConfig, Report};

/// A PWS compute node: joins the network through a relay and runs the JavaScript tasks it
/// receives until stopped (Ctrl-C or SIGTERM).
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
    /// Iterations a single loop of a task may run before the task ends with "timeout".
    #[arg(long, default_value_t = Limits::default().loop_iterations)]
    max_loop_iterations: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    pws_net::process::init();
    let args = Args::parse();
    let data_dir = data_dir_or_default(args.data_dir, "node")?;
    let slots = match args.slots {
        Some(0) => anyhow::bail!("--slots must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
    };
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
        identity: Identity::load_or_create(&data_dir)?,
        listen,
        limits: Limits {
            loop_iterations: args.max_loop_iterations,
            ..Limits::default()
        },
    };
    pws_node::run(
        config,
        pws_net::process::shutdown_signal(),
        |report| match report {
            Report::Listening(addr) => println!("{addr}"),
            Report::Registered => println!("registered"),
        },
    )
    .await
}
