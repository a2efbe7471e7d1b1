//! Requests this peer sent and awaits: tasks, batches and status queries, each answered to
//! whoever asked. A node that cannot be reached leaves the registry until heard from again.

use std::collections::HashMap;

use libp2p::PeerId;
use libp2p::request_response::{OutboundFailure, OutboundRequestId};

use crate::client::{NetError, Reply};
use crate::protocol::{BatchResponse, NodeStatus, TaskBatch, TaskRequest, TaskResponse};
use crate::rt::Instant;
use crate::status::Registry;
use crate::swarm::Behaviour;

pub(super) type Pending<T> = HashMap<OutboundRequestId, Reply<T>>;

#[derive(Default)]
pub(super) struct Outbound {
    pub tasks: Pending<TaskResponse>,
    pub batches: Pending<BatchResponse>,
    status: Pending<NodeStatus>,
}

impl Outbound {
    pub fn send_task(
        &mut self,
        behaviour: &mut Behaviour,
        node: PeerId,
        task: TaskRequest,
        reply: Reply<TaskResponse>,
    ) {
        let id = behaviour.task.send_request(&node, task);
        self.tasks.insert(id, reply);
    }

    pub fn send_batch(
        &mut self,
        behaviour: &mut Behaviour,
        node: PeerId,
        batch: TaskBatch,
        reply: Reply<BatchResponse>,
    ) {
        let id = behaviour.batch.send_request(&node, batch);
        self.batches.insert(id, reply);
    }

    pub fn query_status(
        &mut self,
        behaviour: &mut Behaviour,
        node: PeerId,
        reply: Reply<NodeStatus>,
    ) {
        let id = behaviour.status.send_request(&node, Default::default());
        self.status.insert(id, reply);
    }

    /// A node answered our status query; the answer also refreshes the registry.
    pub fn on_status(
        &mut self,
        registry: &mut Registry,
        node: PeerId,
        id: OutboundRequestId,
        status: NodeStatus,
    ) {
        if let Err(refusal) = registry.update(node, status.clone(), Instant::now()) {
            tracing::debug!(%node, "status answer not registered: {refusal}");
        }
        answer(&mut self.status, id, Ok(status));
    }

    pub fn on_status_failure(
        &mut self,
        registry: &mut Registry,
        node: PeerId,
        id: OutboundRequestId,
        error: &OutboundFailure,
    ) {
        registry.remove(&node);
        answer(&mut self.status, id, Err(describe_failure(node, error)));
    }
}

/// Hand an outbound request's outcome to whoever is waiting for it.
pub(super) fn answer<T>(
    pending: &mut Pending<T>,
    id: OutboundRequestId,
    outcome: Result<T, NetError>,
) {
    if let Some(reply) = pending.remove(&id) {
        let _ = reply.send(outcome);
    }
}

/// A task or batch sent to `node` failed; a node that cannot be reached is no candidate
/// until it is heard from again.
pub(super) fn work_failed(
    registry: &mut Registry,
    node: PeerId,
    error: &OutboundFailure,
) -> NetError {
    if matches!(
        error,
        OutboundFailure::DialFailure | OutboundFailure::ConnectionClosed
    ) {
        registry.remove(&node);
    }
    describe_failure(node, error)
}

fn describe_failure(peer: PeerId, error: &OutboundFailure) -> NetError {
    use std::io::ErrorKind::{InvalidData, Other, UnexpectedEof, Unsupported};
    if let OutboundFailure::Io(e) = error
        && matches!(e.kind(), InvalidData | Unsupported | UnexpectedEof | Other)
    {
        // What the codec says of an answer it cannot decode (or that exceeds its limit).
        return NetError::Malformed(format!("node {peer} sent a malformed answer: {e}"));
    }
    NetError::Failed(match error {
        OutboundFailure::DialFailure => format!("cannot reach node {peer}"),
        OutboundFailure::Timeout => format!("node {peer} did not answer in time"),
        OutboundFailure::ConnectionClosed => {
            format!("the connection to node {peer} closed before it answered")
        }
        OutboundFailure::UnsupportedProtocols => format!("peer {peer} is not a PWS node"),
        OutboundFailure::Io(e) => format!("stream to node {peer} failed: {e}"),
    })
}
