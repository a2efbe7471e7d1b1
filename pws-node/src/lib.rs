//! `pws-node`: a compute node. It joins the network through a relay (directly and through a
//! relayed address), registers, announces its status, and runs the tasks it receives in
//! sandboxed Boa workers, at most `slots` at a time and never on the network event loop.
//!
//! Binaries that run a node must call [`sandbox::worker::run_if_requested`] first in `main`:
//! sandbox workers are the same executable, started again.

mod console;
pub mod engine;
pub mod memory;
pub mod sandbox;
mod slots;

use std::future::Future;

use anyhow::{Context, Result};
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use pws_net::executor::Executor;
use pws_net::identity::Identity;
use pws_net::peer::{self, Event, PeerConfig};
use pws_net::protocol::{ErrorKind, TaskError, TaskResponse};
use pws_net::swarm::Role;
use pws_net::transport::TransportKind;
use tokio::sync::{mpsc, oneshot};

pub use engine::EngineLimits;
pub use sandbox::{Sandbox, SandboxLimits};
use slots::Slots;

#[global_allocator]
static ALLOCATOR: memory::LimitedAllocator = memory::LimitedAllocator;

/// Everything a node needs to run.
pub struct NodeConfig {
    pub relay: Multiaddr,
    pub slots: u32,
    pub identity: Identity,
    pub listen: Vec<Multiaddr>,
    pub limits: SandboxLimits,
}

/// Milestones a node reports to whoever runs it.
#[derive(Debug, Clone)]
pub enum Report {
    /// Listening on this full address (with `/p2p/<id>`).
    Listening(Multiaddr),
    /// Registered (again) at the relay.
    Registered,
}

/// Run a node until `shutdown` resolves, then leave the network cleanly.
pub async fn run(
    config: NodeConfig,
    shutdown: impl Future<Output = ()>,
    mut report: impl FnMut(Report),
) -> Result<()> {
    let local_peer_id = config.identity.keypair.public().to_peer_id();
    let executor = Sandbox::start(config.limits, config.slots as usize)
        .context("cannot start the sandbox workers")?;
    let mut peer = peer::spawn(PeerConfig {
        role: Role::Node,
        identity: config.identity,
        transports: TransportKind::ALL.to_vec(),
        listen: config.listen,
        relay: Some(config.relay),
    })?;
    let client = peer.client.clone();
    let mut slots = Slots::new(config.slots, executor.engine());
    client.set_status(slots.status()).await?;
    let (finished_tx, mut finished) = mpsc::unbounded_channel();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            event = peer.events.recv() => match event {
                Some(Event::InboundTask { from, task, reply }) => {
                    if !slots.try_take() {
                        tracing::debug!(%from, "busy: refusing a task");
                        let _ = reply.send(TaskResponse::error(
                            ErrorKind::Busy,
                            format!("all {} slots of this node are in use", slots.total()),
                        ));
                        continue;
                    }
                    let mut guard = TaskGuard { reply: Some(reply), finished: finished_tx.clone() };
                    let running = executor.execute(task);
                    tokio::spawn(async move { guard.answer(running.await) });
                    client.set_status(slots.status()).await?;
                }
                Some(Event::Listening(addr)) => {
                    report(Report::Listening(with_peer_id(addr, local_peer_id)));
                }
                Some(Event::Registered) => report(Report::Registered),
                None => anyhow::bail!("the network event loop stopped"),
            },
            Some(()) = finished.recv() => {
                slots.release();
                client.set_status(slots.status()).await?;
            }
            _ = &mut shutdown => break,
        }
    }
    tracing::info!("shutting down");
    client.shutdown().await?;
    Ok(())
}

/// Relayed listen addresses already end in our `/p2p/<id>`; direct ones do not.
fn with_peer_id(addr: Multiaddr, peer_id: libp2p::PeerId) -> Multiaddr {
    match addr.iter().last() {
        Some(Protocol::P2p(_)) => addr,
        _ => addr.with(Protocol::P2p(peer_id)),
    }
}

/// Answers a task exactly once and frees its slot, even if the task's future panicked.
struct TaskGuard {
    reply: Option<oneshot::Sender<TaskResponse>>,
    finished: mpsc::UnboundedSender<()>,
}

impl TaskGuard {
    fn answer(&mut self, response: TaskResponse) {
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(response);
        }
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.answer(TaskError::new(ErrorKind::Crashed, "the task ended without an answer").into());
        let _ = self.finished.send(());
    }
}
