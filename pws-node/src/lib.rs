//! `pws-node`: a compute node. It joins the network through a relay (directly and through a
//! relayed address), registers, announces its status, and runs the tasks it receives in the
//! Boa executor, at most `slots` at a time and always off the network event loop.

pub mod executor;
mod slots;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use anyhow::Result;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use pws_net::executor::Executor;
use pws_net::identity::Identity;
use pws_net::peer::{self, Event, PeerConfig};
use pws_net::protocol::{ErrorKind, TaskError, TaskResponse};
use pws_net::swarm::Role;
use pws_net::transport::TransportKind;
use tokio::sync::{mpsc, oneshot};

pub use executor::{BoaExecutor, Limits};
use slots::Slots;

/// Everything a node needs to run.
pub struct NodeConfig {
    pub relay: Multiaddr,
    pub slots: u32,
    pub identity: Identity,
    pub listen: Vec<Multiaddr>,
    pub limits: Limits,
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
    let mut peer = peer::spawn(PeerConfig {
        role: Role::Node,
        identity: config.identity,
        transports: TransportKind::ALL.to_vec(),
        listen: config.listen,
        relay: Some(config.relay),
    })?;
    let client = peer.client.clone();
    let executor: Arc<dyn Executor> = Arc::new(BoaExecutor::new(config.limits));
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
                        let _ = reply.send(TaskResponse::Error(TaskError::new(
                            ErrorKind::Busy,
                            format!("all {} slots of this node are in use", slots.total()),
                        )));
                        continue;
                    }
                    let executor = executor.clone();
                    let mut guard = TaskGuard { reply: Some(reply), finished: finished_tx.clone() };
                    spawn_task(move || {
                        let response = std::panic::catch_unwind(AssertUnwindSafe(|| executor.execute(&task)))
                            .unwrap_or_else(|_| crashed("the engine panicked while running the task"));
                        guard.answer(response);
                    });
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

/// Answers a task exactly once and frees its slot, even if its thread never ran or died.
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
        self.answer(crashed("the task ended without an answer"));
        let _ = self.finished.send(());
    }
}

fn crashed(message: &str) -> TaskResponse {
    TaskResponse::Error(TaskError::new(ErrorKind::Crashed, message))
}

/// JavaScript runs on its own thread with a large stack: deep nesting in a task must not
/// overflow the stack of a shared runtime thread.
fn spawn_task(job: impl FnOnce() + Send + 'static) {
    const TASK_STACK_BYTES: usize = 256 * 1024 * 1024;
    let spawned = std::thread::Builder::new()
        .name("pws-task".into())
        .stack_size(TASK_STACK_BYTES)
        .spawn(job);
    if let Err(e) = spawned {
        // The job and its guard are dropped, which answers the submitter and frees the slot.
        tracing::error!("cannot start a task thread: {e}");
    }
}
