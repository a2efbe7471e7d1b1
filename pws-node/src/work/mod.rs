//! A node's work loop, whatever runs its tasks: take whole requests (a task or a batch) from
//! the network while slots are free and the submitter is within its fair share ([`share`];
//! answer `busy` or `rate-limited` otherwise), run them on the [`Executor`],
//! answer each exactly once, keep the announced status current, and cancel the work of
//! submitters that went away or of a node that stops. The native node and the browser node
//! both run this loop.

mod batch;
mod modules;
mod running;
mod share;
mod slots;

use std::future::Future;
use std::time::Duration;

use anyhow::Result;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use pws_net::client::Client;
use pws_net::metrics::Refusals;
use pws_net::peer::{Event, Peer, Work};
use pws_net::protocol::{
    BatchResponse, ErrorKind, NodeStatus, Outcome, ProgressReport, TaskError, TaskRequest,
    TaskResponse,
};
use pws_net::rt::{self, Instant};
use tokio::sync::{mpsc, oneshot};

use crate::executor::{CancelReason, Executor, Progress};
pub use batch::BATCH_TIME_FACTOR;
use batch::Ran;
use modules::ModuleStore;
use running::Running;
use share::Share;
use slots::Slots;

/// Milestones a node reports to whoever runs it.
#[derive(Debug, Clone)]
pub enum Report {
    /// Listening on this full address (with `/p2p/<id>`).
    Listening(Multiaddr),
    /// The connection to the relay opened (`true`) or was lost (`false`).
    Relay(bool),
    /// Registered (again) at the relay.
    Registered,
    /// The status the node announces changed (work started or finished).
    Status(NodeStatus),
    /// A task finished: `None` when it returned a result, else its error kind.
    Finished {
        error: Option<ErrorKind>,
        elapsed: Duration,
    },
}

/// How a node serves.
pub struct ServeConfig {
    /// Requests (tasks or batches) run at once.
    pub slots: u32,
    /// The node runs in a web browser (announced so submitters can tell).
    pub browser: bool,
}

/// Serve work arriving at `peer` until `shutdown` resolves, then leave the network cleanly:
/// running work is stopped and answered `rejected`, and the answers are flushed.
pub async fn serve<E: Executor>(
    mut peer: Peer,
    executor: E,
    config: ServeConfig,
    shutdown: impl Future<Output = ()>,
    mut report: impl FnMut(Report),
) -> Result<()> {
    let (finished_tx, mut finished) = mpsc::unbounded_channel();
    let mut node = WorkLoop {
        slots: Slots::new(
            config.slots,
            executor.engine(),
            executor.wasm_engine(),
            config.browser,
        ),
        share: Share::new(config.slots),
        modules: ModuleStore::default(),
        running: Running::default(),
        client: peer.client.clone(),
        refusals: peer.refusals.clone(),
        executor,
        finished: finished_tx,
    };
    node.publish_status(&mut report);
    let local_peer_id = node.client.local_peer_id();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            // Finished work first: its slot must be free before the next request is weighed.
            biased;
            Some(done) = finished.recv() => node.on_finished(done, &mut report),
            event = peer.events.recv() => match event {
                Some(Event::Work { from, work }) => {
                    node.accept(from, work);
                    node.publish_status(&mut report);
                }
                Some(Event::PeerGone(peer)) => {
                    let cancelled = node.running.cancel_from(peer, CancelReason::SubmitterGone);
                    if cancelled > 0 {
                        tracing::info!(%peer, cancelled, "submitter gone: cancelled its work");
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
    let answered = node.running.cancel_all(CancelReason::Stopping);
    // The event loop finishes once the stopped work's answers have left and been read; until
    // then it may still hand over requests, which are refused.
    let mut stopped = std::pin::pin!(node.client.shutdown_after_answering(answered));
    loop {
        tokio::select! {
            result = &mut stopped => return Ok(result?),
            event = peer.events.recv() => match event {
                Some(Event::Work { work, .. }) => {
                    refuse(work, TaskError::stopping(), &peer.refusals);
                }
                Some(_) => {}
                None => return Ok(()),
            },
        }
    }
}

/// The node's state between events: its slots, the work running in them, and how to run
/// more.
struct WorkLoop<E> {
    slots: Slots,
    share: Share,
    /// The WebAssembly modules submitters sent.
    modules: ModuleStore,
    running: Running,
    client: Client,
    refusals: Refusals,
    executor: E,
    finished: mpsc::UnboundedSender<Finished>,
}

impl<E: Executor> WorkLoop<E> {
    /// Take a request into a free slot, or refuse it at once (`busy`, `rate-limited`; for a
    /// WebAssembly task, `unsupported` or `unknown-module`).
    fn accept(&mut self, from: PeerId, mut work: Work) {
        if let Err(refusal) = self.resolve_module(&mut work) {
            refuse(work, refusal, &self.refusals);
            return;
        }
        let (free, total) = (self.slots.free(), self.slots.total());
        if let Err(refusal) = self.share.admit(from, free, total, Instant::now()) {
            tracing::debug!(%from, "refusing work: {refusal}");
            refuse(work, refusal, &self.refusals);
            return;
        }
        assert!(self.slots.try_take(), "admitted to a free slot");
        let (id, cancel) = self.running.start(from);
        let finished = self.finished.clone();
        let client = self.client.clone();
        match work {
            Work::Task { task, reply } => {
                let mut guard = AnswerOnce::new(id, finished, Reply::Task(reply));
                let progress = progress_to(&client, from, &task);
                let running = self.executor.execute(task, cancel, progress);
                rt::spawn(async move {
                    let started = Instant::now();
                    let response = running.await;
                    guard.task_answered(response, started.elapsed());
                });
            }
            Work::Batch { batch, reply } => {
                let tasks = batch.inputs.len();
                let mut guard = AnswerOnce::new(id, finished, Reply::Batch(reply, tasks));
                let executor = self.executor.clone();
                rt::spawn(async move {
                    let progress = |task: &TaskRequest| progress_to(&client, from, task);
                    let (response, ran) = batch::run(&executor, batch, cancel, progress).await;
                    guard.batch_answered(response, ran);
                });
            }
        }
    }

    /// Give a WebAssembly request its module's bytes: those it brought (kept for later
    /// requests) or those kept from an earlier one.
    fn resolve_module(&mut self, work: &mut Work) -> Result<(), TaskError> {
        let module = match work {
            Work::Task { task, .. } => task.wasm.as_mut(),
            Work::Batch { batch, .. } => batch.wasm.as_mut(),
        };
        let Some(module) = module else {
            return Ok(());
        };
        if !self.slots.runs_wasm() {
            return Err(TaskError::new(
                ErrorKind::Unsupported,
                "this node does not run WebAssembly tasks",
            ));
        }
        self.modules.resolve(module)
    }

    fn on_finished(&mut self, done: Finished, report: &mut impl FnMut(Report)) {
        if let Some(from) = self.running.finish(done.id) {
            self.share.release(from);
        }
        self.slots.release(done.ran.len() as u64);
        for (error, elapsed) in done.ran {
            report(Report::Finished { error, elapsed });
        }
        self.publish_status(report);
    }

    fn publish_status(&self, report: &mut impl FnMut(Report)) {
        let status = self.slots.status();
        self.client.set_status(status.clone());
        report(Report::Status(status));
    }
}

/// Answer a request that will not run, and count it.
fn refuse(work: Work, error: TaskError, refusals: &Refusals) {
    refusals.count(error.kind);
    match work {
        Work::Task { reply, .. } => {
            let _ = reply.send(error.into());
        }
        Work::Batch { batch, reply } => {
            let _ = reply.send(BatchResponse::same_for_all(
                batch.inputs.len(),
                error.into(),
            ));
        }
    }
}

/// Progress reports of a task go back to its submitter when it gave the task an id.
fn progress_to(client: &Client, submitter: PeerId, task: &TaskRequest) -> Progress {
    match task.id {
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

/// Work that left its slot, with what ran of it.
struct Finished {
    id: u64,
    ran: Ran,
}

/// Where a request's answer goes.
enum Reply {
    Task(oneshot::Sender<TaskResponse>),
    /// With the number of tasks the batch holds.
    Batch(oneshot::Sender<BatchResponse>, usize),
}

/// Answers a request exactly once and frees its slot, even if the work's future panicked
/// or was dropped.
struct AnswerOnce {
    id: u64,
    reply: Option<Reply>,
    finished: mpsc::UnboundedSender<Finished>,
}

impl AnswerOnce {
    fn new(id: u64, finished: mpsc::UnboundedSender<Finished>, reply: Reply) -> Self {
        Self {
            id,
            reply: Some(reply),
            finished,
        }
    }

    fn task_answered(&mut self, response: TaskResponse, elapsed: Duration) {
        let error = match &response.outcome {
            Outcome::Ok(_) => None,
            Outcome::Error(error) => Some(error.kind),
        };
        if let Some(Reply::Task(reply)) = self.leave_slot(vec![(error, elapsed)]) {
            let _ = reply.send(response);
        }
    }

    fn batch_answered(&mut self, response: BatchResponse, ran: Ran) {
        if let Some(Reply::Batch(reply, _)) = self.leave_slot(ran) {
            let _ = reply.send(response);
        }
    }

    /// Free the slot before answering: a submitter that sends its next request as soon as it
    /// has the answer must find the slot free.
    fn leave_slot(&mut self, ran: Ran) -> Option<Reply> {
        let reply = self.reply.take()?;
        let _ = self.finished.send(Finished { id: self.id, ran });
        Some(reply)
    }
}

impl Drop for AnswerOnce {
    fn drop(&mut self) {
        let crashed = TaskError::new(ErrorKind::Crashed, "the work ended without an answer");
        match self.leave_slot(Vec::new()) {
            Some(Reply::Task(reply)) => {
                let _ = reply.send(crashed.into());
            }
            Some(Reply::Batch(reply, tasks)) => {
                let _ = reply.send(BatchResponse::same_for_all(tasks, crashed.into()));
            }
            None => {}
        }
    }
}
