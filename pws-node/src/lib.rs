//! `pws-node`: a compute node. It joins the network through a relay (directly and through a
//! relayed address), registers, announces its status, and runs the tasks it receives in
//! sandboxed Boa workers, at most `slots` at a time and never on the network event loop.
//!
//! Binaries that run a node must call [`sandbox::worker::run_if_requested`] first in `main`:
//! sandbox workers are the same executable, started again.

mod console;
pub mod engine;
pub mod memory;
mod progress;
pub mod sandbox;
mod slots;

use std::collections::HashMap;
use std::future::Future;

use anyhow::{Context, Result};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use pws_net::executor::{Cancel, Executor, Progress};
use pws_net::identity::Identity;
use pws_net::peer::{self, Event, PeerConfig};
use pws_net::protocol::{ErrorKind, ProgressReport, TaskError, TaskResponse};
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
    let mut running = Running::default();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            // Finished tasks first: their slots must be free before the next task is weighed.
            biased;
            Some(id) = finished.recv() => {
                running.finish(id);
                slots.release();
                client.set_status(slots.status()).await?;
            }
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
                    let (id, cancel) = running.start(from);
                    let mut guard = TaskGuard { id, reply: Some(reply), finished: finished_tx.clone() };
                    let progress = progress_to(&client, from, task.id);
                    let task = executor.execute(task, cancel, progress);
                    tokio::spawn(async move { guard.answer(task.await) });
                    client.set_status(slots.status()).await?;
                }
                Some(Event::PeerGone(peer)) => {
                    let cancelled = running.cancel_from(peer);
                    if cancelled > 0 {
                        tracing::info!(%peer, cancelled, "submitter gone: cancelled its tasks");
                    }
                }
                Some(Event::Listening(addr)) => {
                    report(Report::Listening(with_peer_id(addr, local_peer_id)));
                }
                Some(Event::Registered) => report(Report::Registered),
                // Nodes send progress; they do not receive it.
                Some(Event::Progress(_)) => {}
                None => anyhow::bail!("the network event loop stopped"),
            },
            _ = &mut shutdown => break,
        }
    }
    tracing::info!("shutting down");
    client.shutdown().await?;
    Ok(())
}

/// Progress reports of a task go back to its submitter when it gave the task an id.
fn progress_to(client: &pws_net::client::Client, submitter: PeerId, id: Option<u64>) -> Progress {
    match id {
        Some(id) => {
            let client = client.clone();
            Box::new(move |fraction| {
                client.report_progress(submitter, ProgressReport { id, fraction })
            })
        }
        None => Box::new(|_| {}),
    }
}

/// Relayed listen addresses already end in our `/p2p/<id>`; direct ones do not.
fn with_peer_id(addr: Multiaddr, peer_id: PeerId) -> Multiaddr {
    match addr.iter().last() {
        Some(Protocol::P2p(_)) => addr,
        _ => addr.with(Protocol::P2p(peer_id)),
    }
}

/// The tasks running now, by submitter, so a submitter that goes away has its tasks
/// cancelled (their slots freed) instead of computing answers nobody will read.
#[derive(Default)]
struct Running {
    next_id: u64,
    tasks: HashMap<u64, (PeerId, futures::channel::oneshot::Sender<()>)>,
}

impl Running {
    fn start(&mut self, from: PeerId) -> (u64, Cancel) {
        let id = self.next_id;
        self.next_id += 1;
        let (cancel_tx, cancel) = futures::channel::oneshot::channel();
        self.tasks.insert(id, (from, cancel_tx));
        (id, cancel)
    }

    fn finish(&mut self, id: u64) {
        self.tasks.remove(&id);
    }

    /// Cancel every task of `peer`; returns how many.
    fn cancel_from(&mut self, peer: PeerId) -> usize {
        let ids: Vec<u64> = self
            .tasks
            .iter()
            .filter(|(_, (from, _))| *from == peer)
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            if let Some((_, cancel)) = self.tasks.remove(id) {
                let _ = cancel.send(());
            }
        }
        ids.len()
    }
}

/// Answers a task exactly once and frees its slot, even if the task's future panicked.
struct TaskGuard {
    id: u64,
    reply: Option<oneshot::Sender<TaskResponse>>,
    finished: mpsc::UnboundedSender<u64>,
}

impl TaskGuard {
    /// Free the slot, then answer: a submitter that sends its next task as soon as it has
    /// the answer must find the slot free.
    fn answer(&mut self, response: TaskResponse) {
        if let Some(reply) = self.reply.take() {
            let _ = self.finished.send(self.id);
            let _ = reply.send(response);
        }
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.answer(TaskError::new(ErrorKind::Crashed, "the task ended without an answer").into());
    }
}
