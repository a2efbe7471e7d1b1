//! The handle other crates use to talk to the network: a cheap, clonable [`Client`] that sends
//! commands to the event loop (which alone owns the swarm) and awaits their answers.

use std::sync::Arc;

use libp2p::PeerId;
use tokio::sync::{mpsc, oneshot, watch};

use crate::protocol::{
    BatchResponse, ErrorKind, NodeStatus, Outcome, ProgressReport, TaskBatch, TaskRequest,
    TaskResponse,
};
use crate::shipments::Shipments;
use crate::status::NodeInfo;

/// Why a network operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NetError {
    #[error("the network event loop has stopped")]
    Stopped,
    #[error("this peer has no relay configured")]
    NoRelay,
    #[error("{0}")]
    Failed(String),
    /// The peer answered something that is not a valid answer (undecodable, too large).
    #[error("{0}")]
    Malformed(String),
}

pub type NetResult<T> = Result<T, NetError>;

pub(crate) type Reply<T> = oneshot::Sender<NetResult<T>>;

pub(crate) enum Command {
    WaitForRelay(Reply<PeerId>),
    DiscoverRendezvous(Reply<Vec<PeerId>>),
    FindProviders(Reply<Vec<PeerId>>),
    QueryStatus(PeerId, Reply<NodeStatus>),
    SendTask(PeerId, TaskRequest, Reply<TaskResponse>),
    SendBatch(PeerId, TaskBatch, Reply<BatchResponse>),
    Registry(Reply<Vec<NodeInfo>>),
    ReportProgress(PeerId, ProgressReport),
    Shutdown {
        /// Peers just answered, who must get to read their answers before we close.
        answered: Vec<PeerId>,
        reply: Reply<()>,
    },
}

/// Commands in, answers out; see [`crate::peer::spawn`].
#[derive(Clone)]
pub struct Client {
    pub(crate) commands: mpsc::Sender<Command>,
    /// This node's status; the event loop announces the latest value.
    pub(crate) status: Arc<watch::Sender<Option<NodeStatus>>>,
    pub(crate) local_peer_id: PeerId,
    /// Which node has which WebAssembly module.
    pub(crate) shipments: Shipments,
}

impl Client {
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    async fn ask<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> NetResult<T> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| NetError::Stopped)?;
        answer.await.map_err(|_| NetError::Stopped)?
    }

    /// Resolves once a connection to the relay is open; returns the relay's peer id.
    pub async fn wait_for_relay(&self) -> NetResult<PeerId> {
        self.ask(Command::WaitForRelay).await
    }

    /// Nodes registered at the relay's rendezvous point.
    pub async fn discover_rendezvous(&self) -> NetResult<Vec<PeerId>> {
        self.ask(Command::DiscoverRendezvous).await
    }

    /// Nodes providing the well-known key in the DHT.
    pub async fn find_providers(&self) -> NetResult<Vec<PeerId>> {
        self.ask(Command::FindProviders).await
    }

    /// Ask a node for its status; the answer also updates the registry.
    pub async fn query_status(&self, node: PeerId) -> NetResult<NodeStatus> {
        self.ask(|reply| Command::QueryStatus(node, reply)).await
    }

    /// Send a task to a node and wait for its outcome. A WebAssembly module travels with
    /// the first request of it to the node; later ones name it by hash.
    pub async fn send_task(&self, node: PeerId, task: TaskRequest) -> NetResult<TaskResponse> {
        let Some(module) = task.wasm.clone() else {
            return self.ask(|reply| Command::SendTask(node, task, reply)).await;
        };
        let send = |module| {
            let task = TaskRequest {
                wasm: Some(module),
                ..task.clone()
            };
            self.ask(|reply| Command::SendTask(node, task, reply))
        };
        let unknown = |response: &TaskResponse| is_unknown_module(&response.outcome);
        self.shipments.send(node, &module, send, unknown).await
    }

    /// Send several tasks with one source to a node; they run one after another in one of
    /// its slots and the answers come back together, in order. Modules travel as with
    /// [`Client::send_task`].
    pub async fn send_batch(&self, node: PeerId, batch: TaskBatch) -> NetResult<BatchResponse> {
        let Some(module) = batch.wasm.clone() else {
            return self
                .ask(|reply| Command::SendBatch(node, batch, reply))
                .await;
        };
        let send = |module| {
            let batch = TaskBatch {
                wasm: Some(module),
                ..batch.clone()
            };
            self.ask(|reply| Command::SendBatch(node, batch, reply))
        };
        let unknown = |response: &BatchResponse| {
            (response.answers.first()).is_some_and(|a| is_unknown_module(&a.response.outcome))
        };
        self.shipments.send(node, &module, send, unknown).await
    }

    /// The live nodes this peer knows, ordered by peer id.
    pub async fn registry(&self) -> NetResult<Vec<NodeInfo>> {
        self.ask(Command::Registry).await
    }

    /// Replace this node's announced status. Never waits: the event loop announces the
    /// latest status on its next tick (a busy node changes status twice per task, and
    /// signing and publishing each change would cost more than a trivial task).
    pub fn set_status(&self, status: NodeStatus) {
        self.status.send_replace(Some(status));
    }

    /// Tell `submitter` how far one of its tasks has come. Best effort and never blocking:
    /// a report that finds the event loop busy is dropped (a later one supersedes it).
    pub fn report_progress(&self, submitter: PeerId, report: ProgressReport) {
        let _ = self
            .commands
            .try_send(Command::ReportProgress(submitter, report));
    }

    /// Leave the network cleanly: announce stopping, unregister, answer pending tasks with
    /// `rejected`, flush, close every connection, and stop the event loop.
    pub async fn shutdown(&self) -> NetResult<()> {
        self.shutdown_after_answering(Vec::new()).await
    }

    /// [`Self::shutdown`], after the peers in `answered`, whose requests were just answered
    /// (with `rejected`: a stopping node ends its work before it leaves), have left or had
    /// time to read their answers.
    pub async fn shutdown_after_answering(&self, answered: Vec<PeerId>) -> NetResult<()> {
        self.ask(|reply| Command::Shutdown { answered, reply })
            .await
    }
}

fn is_unknown_module(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Error(error) if error.kind == ErrorKind::UnknownModule)
}
