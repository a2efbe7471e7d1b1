//! Nodes that cost nothing to run and never work: each joins the network with a fresh
//! identity and announces itself idle with many free slots, then swallows every task and
//! batch it is sent (holding the request open, never answering). Tests use it to check that
//! a submitter does not hang on them and that its jobs finish elsewhere. Not part of the
//! product.
//!
//! Usage: silent-node <relay multiaddr> <free slots> [<identities> [gossip]]
//!
//! By default each identity is a node that registers at the relay and answers status
//! requests; with `gossip`, each identity is the cheapest fake an attacker can run: a bare
//! swarm (TCP, Noise, Yamux, gossipsub) connected to the relay that announces itself every
//! heartbeat, subscribes to nothing and answers nothing. Prints each identity's peer id, then
//! `ready` once every identity has registered (nodes) or announced itself (gossip).

use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, SwarmBuilder, gossipsub, noise, tcp, yamux};
use pws_net::identity::Identity;
use pws_net::peer::{self, Event, PeerConfig, Work};
use pws_net::protocol::{NodeState, NodeStatus, STATUS_TOPIC, to_cbor};
use pws_net::status::HEARTBEAT;
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
        wasm: None,
        addrs: Vec::new(),
        browser: false,
        grant: None,
    };
    let (ready_tx, mut ready) = mpsc::channel(identities.max(1));
    for _ in 0..identities {
        let identity = Identity::ephemeral()?;
        println!("{}", identity.keypair.public().to_peer_id());
        let ready_tx = ready_tx.clone();
        if gossip_only {
            let announcement = to_cbor(&status);
            let relay = relay.clone();
            tokio::spawn(async move {
                if let Err(e) = announce_forever(identity, relay, announcement, ready_tx).await {
                    eprintln!("a fake identity stopped: {e:#}");
                }
            });
            continue;
        }
        let peer = peer::spawn(PeerConfig {
            role: Role::Node,
            identity,
            transports: TransportKind::ALL.to_vec(),
            listen: any_port_addrs(std::net::Ipv4Addr::LOCALHOST.into()),
            relays: vec![relay.clone()],
            access: pws_net::peer::Access::open(),
            metrics: None,
        })?;
        peer.client.set_status(status.clone());
        let peer::Peer {
            client, mut events, ..
        } = peer;
        tokio::spawn(async move {
            // The peer runs as long as a client of it lives.
            let _client = client;
            // Requests are held, never answered: dropping a reply would fail it at once.
            let mut swallowed = Vec::new();
            while let Some(event) = events.recv().await {
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

/// Keep one fake identity connected to the relay and announcing `announcement` every
/// heartbeat; tells `announced` after its first announcement left.
async fn announce_forever(
    identity: Identity,
    relay: Multiaddr,
    announcement: Vec<u8>,
    announced: mpsc::Sender<()>,
) -> anyhow::Result<()> {
    let mut swarm = SwarmBuilder::with_existing_identity(identity.keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_behaviour(|key| {
            gossipsub::Behaviour::<gossipsub::IdentityTransform>::new(
                gossipsub::MessageAuthenticity::Signed(key.clone()),
                gossipsub::Config::default(),
            )
            .map_err(Box::<dyn std::error::Error + Send + Sync>::from)
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    let topic = gossipsub::IdentTopic::new(STATUS_TOPIC);
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let (mut dialing, mut told) = (false, false);
    loop {
        tokio::select! {
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { .. }
                | SwarmEvent::OutgoingConnectionError { .. } => dialing = false,
                _ => {}
            },
            _ = heartbeat.tick() => {
                // Refused (the relay's handshake queue is full) or cut off: try again.
                if swarm.connected_peers().next().is_none() && !dialing {
                    dialing = swarm.dial(relay.clone()).is_ok();
                }
                // Publishing fails until the relay's subscription is known.
                let published = swarm
                    .behaviour_mut()
                    .publish(topic.clone(), announcement.clone())
                    .is_ok();
                if published && !std::mem::replace(&mut told, true) {
                    announced.send(()).await?;
                }
            }
        }
    }
}
