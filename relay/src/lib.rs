//! The relay: the one well-known peer of a PWS network. It only introduces peers — a
//! rendezvous point where nodes register, a circuit relay (v2) for nodes behind NAT, the
//! Kademlia bootstrap peer, and a gossipsub member that forwards status announcements. Task
//! traffic it relays stays end-to-end encrypted; it never runs or reads a task. It also
//! serves the browser node's page ([`web`]), so opening the relay's URL makes a tab a node.

pub mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use pws_net::identity::Identity;
use pws_net::peer::{self, Access, Event, PeerConfig};
use pws_net::swarm::{RelayLimits, Role};
use pws_net::transport::TransportKind;

/// Fixed default ports, so a relay's address can be written down once and shared.
pub const DEFAULT_TCP_PORT: u16 = 4001;
pub const DEFAULT_QUIC_PORT: u16 = 4001;
pub const DEFAULT_WEBRTC_PORT: u16 = 4002;
/// Where the web node page is served by default.
pub const DEFAULT_HTTP_PORT: u16 = 8080;

pub struct RelayConfig {
    pub identity: Identity,
    pub listen: Vec<Multiaddr>,
    pub limits: RelayLimits,
    /// Serve the web node page on this address (none: no web server).
    pub http: Option<SocketAddr>,
    /// The built page (see [`web::default_web_dir`]).
    pub web_dir: PathBuf,
    /// The network introduced: open, or private (only peers showing a grant of its owner).
    pub access: Access,
}

/// TCP, QUIC and WebRTC-direct on all IPv4 interfaces at the fixed default ports.
pub fn default_listen_addrs() -> Vec<Multiaddr> {
    [
        format!("/ip4/0.0.0.0/tcp/{DEFAULT_TCP_PORT}"),
        format!("/ip4/0.0.0.0/udp/{DEFAULT_QUIC_PORT}/quic-v1"),
        format!("/ip4/0.0.0.0/udp/{DEFAULT_WEBRTC_PORT}/webrtc-direct"),
    ]
    .iter()
    .map(|addr| addr.parse().expect("default listen addresses are valid"))
    .collect()
}

/// Run the relay until `shutdown` resolves; `on_listen` gets each full listen address
/// (with `/p2p/<id>`) as soon as the relay listens on it.
pub async fn run(
    config: RelayConfig,
    shutdown: impl Future<Output = ()>,
    mut on_listen: impl FnMut(Multiaddr),
) -> Result<()> {
    let local_peer_id = config.identity.keypair.public().to_peer_id();
    let webrtc = web::WebrtcAddrs::default();
    let metrics = pws_net::metrics::registry();
    let owner = config.access.owner();
    let mut peer = peer::spawn(PeerConfig {
        role: Role::Relay(config.limits),
        identity: config.identity,
        transports: TransportKind::ALL.to_vec(),
        listen: config.listen,
        relays: Vec::new(),
        access: config.access,
        metrics: Some(metrics.clone()),
    })?;
    if let Some(http) = config.http {
        let client = peer.client.clone();
        let bound =
            web::start(http, config.web_dir, webrtc.clone(), owner, client, metrics).await?;
        tracing::info!("web node page at http://{bound}/");
    }
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            event = peer.events.recv() => match event {
                Some(Event::Listening(addr)) => {
                    let addr = addr.with(Protocol::P2p(local_peer_id));
                    webrtc.learn(&addr);
                    on_listen(addr);
                }
                Some(_) => {}
                None => anyhow::bail!("the network event loop stopped"),
            },
            _ = &mut shutdown => break,
        }
    }
    peer.client.shutdown().await?;
    Ok(())
}
