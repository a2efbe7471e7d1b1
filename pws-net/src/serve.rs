//! A node's work loop, whatever runs its tasks: take tasks from the network while slots are
//! free (answer `busy` otherwise), run them on the [`Executor`], answer, keep the announced
//! status current, and cancel the tasks of submitters that went away. The native node and
//! the browser node both run this loop.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use anyhow::Result;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use crate::client::Client;
use crate::executor::{Cancel, Executor, Progress};
use crate::peer::{Event, Peer};
use crate::protocol::{ErrorKind, NodeStatus, Outcome, ProgressReport, TaskError, TaskResponse};
use crate::rt::{self, Instant};
use crate::slots::Slots;

/// Milestones a node reports to whoever runs it.
#[derive(Debug, Clone)]
pub enum Report {
    /// Listening on this full address (with `/p2p/<id>`).
    Listening(Multiaddr),
    /// The connection to the relay opened (`true`) or was lost (`false`).
    Relay(bool),
    /// Registered (again) at the relay.
    Registered,
    /// The status the node announces changed (a task started or finished).
    Status(NodeStatus),
    /// A task finished: `None` when it returned a result, else its error kind.
    Finished {
        error: Option<ErrorKind>,
        elapsed: Duration,
    },
}

/// How a node serves.
pub struct ServeConfig {
    /// Tasks run at once.
    pub slots: u32,
    /// The node runs in a web browser (announced so submitters can tell).
    pub browser: bool,
}

/// Serve tasks arriving at `peer` until `shutdown` resolves, then leave the network cleanly.
pub async fn serve<E: Executor>(
    mut peer: Peer,
    executor: E,
    config: ServeConfig,
    shutdown: impl Future<Output = ()>,
    mut report: impl FnMut(Report),
) -> Result<()> {
    let client = peer.client.clone();
    let local_peer_id = client.local_peer_id();
    let mut slots = Slots::new(config.slots, executor.engine(), config.browser);
    client.set_status(slots.status()).await?;
    report(Report::Status(slots.status()));
    let (finished_tx, mut finished) = mpsc::unbounded_channel();
    let mut running = Running::default();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            // Finished tasks first: their slots must be free before the next task is weighed.
            biased;
            Some(done) = finished.recv() => {
                let Finished { id, error, elapsed } = done;
                running.finish(id);
                slots.release();
                client.set_status(slots.status()).await?;
                report(Report::Finished { error, elapsed });
                report(Report::Status(slots.status()));
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
                    let mut guard = TaskGuard {
                        id,
                        started: Instant::now(),
                        reply: Some(reply),
                        finished: finished_tx.clone(),
                    };
                    let progress = progress_to(&client, from, task.id);
                    let task = executor.execute(task, cancel, progress);
                    rt::spawn(async move { guard.answer(task.await) });
                    client.set_status(slots.status()).await?;
                    report(Report::Status(slots.status()));
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
                Some(Event::Relay(connected)) => report(Report::Relay(connected)),
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
fn progress_to(client: &Client, submitter: PeerId, id: Option<u64>) -> Progress {
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

/// A task that left its slot.
struct Finished {
    id: u64,
    error: Option<ErrorKind>,
    elapsed: Duration,
}

/// Answers a task exactly once and frees its slot, even if the task's future panicked.
struct TaskGuard {
    id: u64,
    started: Instant,
    reply: Option<oneshot::Sender<TaskResponse>>,
    finished: mpsc::UnboundedSender<Finished>,
}

impl TaskGuard {
    /// Free the slot, then answer: a submitter that sends its next task as soon as it has
    /// the answer must find the slot free.
    fn answer(&mut self, response: TaskResponse) {
        if let Some(reply) = self.reply.take() {
            let error = match &response.outcome {
                Outcome::Ok(_) => None,
                Outcome::Error(error) => Some(error.kind),
            };
            let _ = self.finished.send(Finished {
                id: self.id,
                error,
                elapsed: self.started.elapsed(),
            });
            let _ = reply.send(response);
        }
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.answer(TaskError::new(ErrorKind::Crashed, "the task ended without an answer").into());
    }
}
