//! Nodes that cost nothing to run and never work: each joins the network with a fresh
//! identity and announces itself idle with many free slots, then swallows every task and
//! batch it is sent (holding the request open, never answering). Tests use it to check that
//! a submitter does not hang on them and that its jobs finish elsewhere. Not part of the
//! product.
//!
//! Usage: silent-node <relay multiaddr> <free slots> [<identities> [gossip]]
//!
//! By default each identity is a node that registers at the relay and answers status
//! requests; with `gossip`, the identities only announce themselves on gossip (they answer
//! nothing and cannot be dialed). Prints each identity's peer id, then `ready` once every
//! identity has reached the relay (and registered, for nodes).

use anyhow::Context;
use pws_net::identity::Identity;
use pws_net::peer::{self, Event, PeerConfig, Work};
use pws_net::protocol::{NodeState, NodeStatus};
use pws_net::swarm::Role;
use pws_net::transport::{TransportKind, any_port_addrs};
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pws_net::logging::init();
    let mut args = std::env::args().skip(1);
    let relay: libp2p::Multiaddr = args.next().context("relay address")?.parse()?;
    let slots: u32 = args.next().context("free slots")?.parse()?;
    let identities: usize = args.next().map_or(Ok(1), |n| n.parse())?;
    let gossip_only = args.next().as_deref() == Some("gossip");
    let status = NodeStatus {
        state: NodeState::Idle,
        free_slots: slots,
        total_slots: slots,
        completed: 0,
        version: "silent".into(),
        engine: "nothing 1.0".into(),
        addrs: Vec::new(),
        browser: false,
    };
    let (ready_tx, mut ready) = mpsc::channel(identities.max(1));
    for _ in 0..identities {
        let identity = Identity::ephemeral()?;
        println!("{}", identity.keypair.public().to_peer_id());
        let (role, transports, listen) = if gossip_only {
            (Role::Submitter, vec![TransportKind::Tcp], Vec::new())
        } else {
            let listen = any_port_addrs(std::net::Ipv4Addr::LOCALHOST.into());
            (Role::Node, TransportKind::ALL.to_vec(), listen)
        };
        let mut peer = peer::spawn(PeerConfig {
            role,
            identity,
            transports,
            listen,
            relay: Some(relay.clone()),
        })?;
        peer.client.set_status(status.clone());
        let ready_tx = ready_tx.clone();
        tokio::spawn(async move {
            if gossip_only {
                let _ = peer.client.wait_for_relay().await;
                let _ = ready_tx.send(()).await;
            }
            // Requests are held, never answered: dropping a reply would fail it at once.
            let mut swallowed = Vec::new();
            while let Some(event) = peer.events.recv().await {
                match event {
                    Event::Work { work, .. } => swallowed.push(match work {
                        Work::Task { reply, .. } => Box::new(reply) as Box<dyn Send>,
                        Work::Batch { reply, .. } => Box::new(reply),
                    }),
                    Event::Registered => {
                        let _ = ready_tx.send(()).await;
                    }
                    _ => {}
                }
            }
        });
    }
    for _ in 0..identities {
        ready.recv().await.context("an identity stopped")?;
    }
    println!("ready");
    std::future::pending().await
}
