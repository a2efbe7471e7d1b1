//! `--local N`: a relay and N nodes inside this process on loopback, so the whole system can
//! be seen working with one command and no set-up. (The nodes' sandbox workers are this
//! executable started again, so `main` calls `pws_node::sandbox::worker::run_if_requested`.)

use anyhow::{Context, Result};
use libp2p::Multiaddr;
use pws_net::identity::Identity;
use pws_net::swarm::RelayLimits;
use pws_net::transport::{TransportKind, any_port_addrs};
use pws_node::{NodeConfig, Report, SandboxLimits};
use relay::RelayConfig;
use tokio::sync::mpsc;

const LOOPBACK: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// Slots of each in-process node of `--local`: they share this machine's cores.
pub const LOCAL_NODE_SLOTS: u32 = 2;

/// A running local network; it stops with the process.
pub struct LocalNetwork {
    relay_addrs: Vec<Multiaddr>,
}

impl LocalNetwork {
    /// Start a relay and `nodes` nodes of `slots` slots each, and wait until every node is
    /// registered.
    pub async fn start(nodes: usize, slots: u32) -> Result<Self> {
        let (listen_tx, mut listening) = mpsc::unbounded_channel();
        let relay_config = RelayConfig {
            identity: Identity::ephemeral()?,
            listen: any_port_addrs(LOOPBACK),
            limits: RelayLimits::default(),
            // No web page: nobody opens a browser on a local test network.
            http: None,
            web_dir: Default::default(),
            access: pws_net::peer::Access::open(),
        };
        tokio::spawn(async move {
            let result = relay::run(relay_config, std::future::pending(), |addr| {
                let _ = listen_tx.send(addr);
            })
            .await;
            if let Err(e) = result {
                tracing::error!("local relay stopped: {e:#}");
            }
        });
        let mut relay_addrs = Vec::new();
        while relay_addrs.len() < TransportKind::ALL.len() {
            relay_addrs.push(
                listening
                    .recv()
                    .await
                    .context("the local relay did not start")?,
            );
        }
        let relay_tcp = relay_addrs
            .iter()
            .find(|addr| TransportKind::of(addr) == Some(TransportKind::Tcp))
            .cloned()
            .context("the local relay has no TCP address")?;

        let (registered_tx, mut registered) = mpsc::unbounded_channel();
        for index in 0..nodes {
            let config = NodeConfig {
                relays: vec![relay_tcp.clone()],
                slots,
                identity: Identity::ephemeral()?,
                listen: any_port_addrs(LOOPBACK),
                limits: SandboxLimits::default(),
                access: pws_net::peer::Access::open(),
                metrics: None,
            };
            let registered_tx = registered_tx.clone();
            tokio::spawn(async move {
                let result = pws_node::run(config, std::future::pending(), |report| {
                    if let Report::Registered = report {
                        let _ = registered_tx.send(index);
                    }
                })
                .await;
                if let Err(e) = result {
                    tracing::error!("local node stopped: {e:#}");
                }
            });
        }
        // A node registers again when its addresses change: count each node once.
        let mut ready = std::collections::HashSet::new();
        while ready.len() < nodes {
            ready.insert(
                registered
                    .recv()
                    .await
                    .context("a local node did not start")?,
            );
        }
        Ok(Self { relay_addrs })
    }

    /// The relay's address for one of the `transports`.
    pub fn relay_addr(&self, transports: &[TransportKind]) -> Option<&Multiaddr> {
        self.relay_addrs
            .iter()
            .find(|addr| TransportKind::of(addr).is_some_and(|kind| transports.contains(&kind)))
    }
}
