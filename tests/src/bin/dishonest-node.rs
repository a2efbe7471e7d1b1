//! A node that lies: it joins the network like `pws-node` (built from the same `pws-net`
//! library) but answers every task with a wrong result. Tests use it to check that
//! `pws-submit map --replicas k --quorum q` catches faulty nodes. Not part of the product.
//!
//! Usage: dishonest-node <relay multiaddr> <wrong answer as JSON> [<network owner>]
//!
//! With a network owner it joins that private network's names, with no grant.

use pws_net::identity::Identity;
use pws_net::peer::{self, Event, PeerConfig, Work};
use pws_net::protocol::{BatchResponse, NodeState, NodeStatus, TaskResponse};
use pws_net::swarm::Role;
use pws_net::transport::{TransportKind, any_port_addrs};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pws_net::logging::init();
    let mut args = std::env::args().skip(1);
    let relay = args.next().expect("relay address").parse()?;
    let answer = args.next().unwrap_or_else(|| "666".into());
    let access = match args.next() {
        Some(owner) => pws_net::peer::Access::private(owner.parse()?, None, Default::default()),
        None => pws_net::peer::Access::open(),
    };
    let identity = Identity::ephemeral()?;
    let peer_id = identity.keypair.public().to_peer_id();
    let mut peer = peer::spawn(PeerConfig {
        role: Role::Node,
        identity,
        transports: TransportKind::ALL.to_vec(),
        listen: any_port_addrs(std::net::Ipv4Addr::LOCALHOST.into()),
        relays: vec![relay],
        access,
        metrics: None,
    })?;
    let mut completed = 0;
    let status = |completed| NodeStatus {
        state: NodeState::Idle,
        free_slots: 4,
        total_slots: 4,
        completed,
        version: "dishonest".into(),
        engine: "lies 1.0".into(),
        wasm: None,
        addrs: Vec::new(),
        browser: false,
        grant: None,
    };
    peer.client.set_status(status(completed));
    println!("{peer_id}");
    while let Some(event) = peer.events.recv().await {
        match event {
            Event::Work { work, .. } => {
                let lie = TaskResponse::ok(answer.clone());
                completed += match work {
                    Work::Task { reply, .. } => {
                        let _ = reply.send(lie);
                        1
                    }
                    Work::Batch { batch, reply } => {
                        let tasks = batch.inputs.len();
                        let _ = reply.send(BatchResponse::same_for_all(tasks, lie));
                        tasks as u64
                    }
                };
                peer.client.set_status(status(completed));
            }
            Event::Registered => println!("registered"),
            Event::Listening(_) | Event::Relay(_) | Event::PeerGone(_) | Event::Progress(_) => {}
        }
    }
    Ok(())
}
