use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use libp2p::Multiaddr;
use pws_net::identity::Identity;
use pws_net::swarm::RelayLimits;
use relay::RelayConfig;

/// The PWS relay: rendezvous point, circuit relay and DHT bootstrap peer. Prints each full
/// listen address (with /p2p/<id>) on its own line on stdout as soon as it listens.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Option<RelayCommand>,
    /// Listen address (repeatable). Default: /ip4/0.0.0.0/tcp/4001,
    /// /ip4/0.0.0.0/udp/4001/quic-v1 and /ip4/0.0.0.0/udp/4002/webrtc-direct.
    #[arg(long)]
    listen: Vec<Multiaddr>,
    /// Where the relay keeps its identity and WebRTC certificate, so its addresses survive
    /// restarts. Default: the platform data dir (e.g. ~/.local/share/pws/relay).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Most reservations held at once (each lets one node behind NAT or in a browser be
    /// reached through the relay).
    #[arg(long, default_value_t = RelayLimits::default().max_reservations)]
    max_reservations: usize,
    /// Most reservations one peer may hold at once.
    #[arg(long, default_value_t = RelayLimits::default().max_reservations_per_peer)]
    max_reservations_per_peer: usize,
    /// Most circuits relayed at once.
    #[arg(long, default_value_t = RelayLimits::default().max_circuits)]
    max_circuits: usize,
    /// Most circuits one peer may be an end of at once.
    #[arg(long, default_value_t = RelayLimits::default().max_circuits_per_peer)]
    max_circuits_per_peer: usize,
    /// Bytes one circuit may carry in each direction; 0 means unlimited.
    #[arg(long, default_value_t = RelayLimits::default().max_circuit_bytes)]
    max_circuit_bytes: u64,
    /// How long one circuit may stay open (e.g. "30m", "24h").
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    max_circuit_duration: Duration,
    /// Introduce only the peers of the private network of this owner (a peer id): each must
    /// show a grant of it before it may reserve, register or discover.
    #[arg(long, env = "PWS_NETWORK", value_name = "OWNER")]
    network: Option<libp2p::PeerId>,
    /// Refuse this peer of the private network whatever grant it shows (repeatable).
    #[arg(long, value_name = "PEER_ID", requires = "network")]
    deny: Vec<libp2p::PeerId>,
    /// Most incoming connections established at once (every node and browser tab keeps
    /// one). The relay raises its open-file limit to fit them, as far as the system allows.
    #[arg(long, default_value_t = RelayLimits::default().max_connections)]
    max_connections: u32,
    /// Serve the web node page (open it in a browser to make the tab a node) on this address.
    #[arg(long, default_value_t = SocketAddr::from(([0, 0, 0, 0], relay::DEFAULT_HTTP_PORT)))]
    http: SocketAddr,
    /// Do not serve the web node page.
    #[arg(long, conflicts_with = "http")]
    no_http: bool,
    /// Directory of the built web node page. Default: `web` next to this executable, else
    /// web-node/dist of the source tree (built by web-node/build.sh).
    #[arg(long)]
    web_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum RelayCommand {
    /// Print the relay's peer id (its identity in --data-dir, made if there is none), one line.
    Id,
}

#[tokio::main]
async fn main() -> Result<()> {
    pws_net::logging::init();
    let args = Args::parse();
    let data_dir = args
        .data_dir
        .or_else(|| {
            directories::ProjectDirs::from("", "", "pws").map(|d| d.data_dir().join("relay"))
        })
        .ok_or_else(|| anyhow::anyhow!("cannot find a home directory; pass --data-dir"))?;
    if let Some(RelayCommand::Id) = args.command {
        println!("{}", Identity::load_or_create(&data_dir)?.peer_id());
        return Ok(());
    }
    let listen = if args.listen.is_empty() {
        relay::default_listen_addrs()
    } else {
        args.listen
    };
    raise_open_file_limit(args.max_connections);
    let config = RelayConfig {
        identity: Identity::load_or_create(&data_dir)?,
        listen,
        limits: RelayLimits {
            max_reservations: args.max_reservations,
            max_reservations_per_peer: args.max_reservations_per_peer,
            max_circuits: args.max_circuits,
            max_circuits_per_peer: args.max_circuits_per_peer,
            max_circuit_bytes: args.max_circuit_bytes,
            max_circuit_duration: args.max_circuit_duration,
            max_connections: args.max_connections,
        },
        http: (!args.no_http).then_some(args.http),
        web_dir: args.web_dir.unwrap_or_else(relay::web::default_web_dir),
        access: match args.network {
            Some(owner) => {
                pws_net::peer::Access::private(owner, None, args.deny.iter().copied().collect())
            }
            None => pws_net::peer::Access::open(),
        },
    };
    // Ctrl-C or SIGTERM (what service managers send) stops the relay cleanly.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let stop = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    };
    relay::run(config, stop, |addr| println!("{addr}")).await
}

/// Each connection is an open file: raise the soft limit (1024 on many systems) as far as the
/// hard limit allows, and say so when that is still short of `max_connections`.
fn raise_open_file_limit(max_connections: u32) {
    // Listeners, the data directory, the web server's connections and some to spare.
    const OTHER_FILES: u64 = 512;
    let wanted = u64::from(max_connections) + OTHER_FILES;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) if limit < wanted => tracing::warn!(
            "the open-file limit is {limit}: the relay can hold about {} connections, not {max_connections} (raise `ulimit -n`)",
            limit.saturating_sub(OTHER_FILES)
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot raise the open-file limit: {e}"),
    }
}
