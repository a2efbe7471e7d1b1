//! Work this peer is asked to do: each task or batch request goes whole to the program
//! running the node (as [`Event::Work`]) with a reply channel; its answer is sent back on the
//! request's stream. A stopping peer waits until every answer has left. One peer may have at
//! most [`MAX_REQUESTS_PER_PEER`] requests with the node at once; more are answered `busy`.

use std::collections::HashMap;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use libp2p::PeerId;
use libp2p::request_response::{InboundFailure, ResponseChannel};
use tokio::sync::oneshot;

use super::{Event, Work};
use crate::access::{Access, Checked};
use crate::grant::{self, Role, SignedGrant};
use crate::metrics::Refusals;
use crate::protocol::{
    BatchResponse, ErrorKind, MAX_BATCH_TASKS, TaskBatch, TaskError, TaskRequest, TaskResponse,
};
use crate::swarm::Behaviour;

/// An answer ready to go back to its submitter.
pub(super) enum Answer {
    Task(ResponseChannel<TaskResponse>, TaskResponse),
    Batch(ResponseChannel<BatchResponse>, BatchResponse),
}

/// Requests (tasks or batches) one peer may have with the node at once. A node answers
/// `busy` past its free slots anyway; this bounds what one peer can make it hold.
pub const MAX_REQUESTS_PER_PEER: usize = 64;

pub(super) struct Inbound {
    /// Whether this peer runs tasks; other peers refuse them at once.
    serves: bool,
    /// Who may send work: everyone, or the submitters of a private network.
    access: Access,
    checked: Checked,
    /// Answers to come, each with the peer that asked (`None`: refused, not counted).
    answers: FuturesUnordered<BoxFuture<'static, (Option<PeerId>, Answer)>>,
    /// Requests handed to the node and not yet answered, per peer.
    in_flight: HashMap<PeerId, usize>,
    /// Answers handed to the swarm and not yet written out.
    unflushed: usize,
    refusals: Refusals,
}

impl Inbound {
    pub fn new(serves: bool, access: Access, refusals: Refusals) -> Self {
        Self {
            refusals,
            serves,
            access,
            checked: Checked::default(),
            answers: FuturesUnordered::new(),
            in_flight: HashMap::new(),
            unflushed: 0,
        }
    }

    pub fn on_task(
        &mut self,
        from: PeerId,
        task: TaskRequest,
        channel: ResponseChannel<TaskResponse>,
        outbox: &mut Vec<Event>,
    ) {
        if let Some(refusal) = self.refusal(from, task.grant.as_ref()) {
            self.refuse(Answer::Task(channel, refusal));
            return;
        }
        let (reply, answer) = oneshot::channel();
        outbox.push(Event::Work {
            from,
            work: Work::Task { task, reply },
        });
        self.answers.push(Box::pin(async move {
            // A node that drops the reply has stopped.
            let response = answer.await.unwrap_or_else(|_| stopping());
            (Some(from), Answer::Task(channel, response))
        }));
    }

    pub fn on_batch(
        &mut self,
        from: PeerId,
        batch: TaskBatch,
        channel: ResponseChannel<BatchResponse>,
        outbox: &mut Vec<Event>,
    ) {
        let tasks = batch.inputs.len();
        if tasks > MAX_BATCH_TASKS {
            // Decoding kept one input past the cap: one answer says why, for the whole batch.
            let refusal = TaskError::new(
                ErrorKind::Rejected,
                format!("a batch holds at most {MAX_BATCH_TASKS} tasks"),
            );
            self.refusals.count(refusal.kind);
            self.refuse(Answer::Batch(
                channel,
                BatchResponse::same_for_all(1, refusal.into()),
            ));
            return;
        }
        if let Some(refusal) = self.refusal(from, batch.grant.as_ref()) {
            let answer = Answer::Batch(channel, BatchResponse::same_for_all(tasks, refusal));
            self.refuse(answer);
            return;
        }
        let (reply, answer) = oneshot::channel();
        outbox.push(Event::Work {
            from,
            work: Work::Batch { batch, reply },
        });
        self.answers.push(Box::pin(async move {
            let response = answer
                .await
                .unwrap_or_else(|_| BatchResponse::same_for_all(tasks, stopping()));
            (Some(from), Answer::Batch(channel, response))
        }));
    }

    /// Why a request from `from`, showing `grant`, is not handed to the node, if it is not
    /// (counted among the refusals); counts it among the peer's requests if it is.
    fn refusal(&mut self, from: PeerId, grant: Option<&SignedGrant>) -> Option<TaskResponse> {
        let refusal = self.admit(from, grant).err()?;
        self.refusals.count(refusal.kind);
        Some(refusal.into())
    }

    fn admit(&mut self, from: PeerId, grant: Option<&SignedGrant>) -> Result<(), TaskError> {
        if !self.serves {
            return Err(TaskError::new(
                ErrorKind::Rejected,
                "this peer does not run tasks",
            ));
        }
        let now = grant::unix_now();
        if let Err(unauthorized) = self
            .checked
            .check(&self.access, from, Role::Submit, grant, now)
        {
            return Err(TaskError::new(
                ErrorKind::Unauthorized,
                format!("this node serves a private network: {unauthorized}"),
            ));
        }
        let in_flight = self.in_flight.entry(from).or_default();
        if *in_flight >= MAX_REQUESTS_PER_PEER {
            return Err(TaskError::new(
                ErrorKind::Busy,
                format!("at most {MAX_REQUESTS_PER_PEER} requests per peer at once"),
            ));
        }
        *in_flight += 1;
        Ok(())
    }

    fn refuse(&mut self, answer: Answer) {
        self.answers.push(Box::pin(async move { (None, answer) }));
    }

    /// The next answer the node gave; pending while none is outstanding.
    pub async fn next_answer(&mut self) -> Answer {
        let Some((from, answer)) = self.answers.next().await else {
            return std::future::pending().await;
        };
        if let Some(from) = from
            && let Some(in_flight) = self.in_flight.get_mut(&from)
        {
            *in_flight -= 1;
            if *in_flight == 0 {
                self.in_flight.remove(&from);
            }
        }
        answer
    }

    /// Send an answer on its request's stream.
    pub fn respond(&mut self, behaviour: &mut Behaviour, answer: Answer) {
        let sent = match answer {
            Answer::Task(channel, response) => {
                behaviour.task.send_response(channel, response).is_ok()
            }
            Answer::Batch(channel, response) => {
                behaviour.batch.send_response(channel, response).is_ok()
            }
        };
        if sent {
            self.unflushed += 1;
        }
    }

    /// An answer was written out.
    pub fn on_response_sent(&mut self) {
        self.unflushed = self.unflushed.saturating_sub(1);
    }

    /// An answer of ours did not reach its submitter.
    pub fn on_failure(&mut self, peer: PeerId, error: &InboundFailure) {
        tracing::warn!(%peer, "inbound task failed: {error}");
        if matches!(
            error,
            InboundFailure::ConnectionClosed | InboundFailure::Io(_) | InboundFailure::Timeout
        ) {
            self.unflushed = self.unflushed.saturating_sub(1);
        }
    }

    /// The peers with requests not yet answered.
    pub fn waiting_peers(&self) -> Vec<PeerId> {
        self.in_flight.keys().copied().collect()
    }

    /// Every request taken in has been answered and the answers written out.
    pub fn settled(&self) -> bool {
        self.answers.is_empty() && self.unflushed == 0
    }
}

fn stopping() -> TaskResponse {
    TaskError::stopping().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_peer_may_have_only_so_many_requests_at_once() {
        let refusals = Refusals::default();
        let mut inbound = Inbound::new(true, Access::open(), refusals.clone());
        let (greedy, other) = (PeerId::random(), PeerId::random());
        for _ in 0..MAX_REQUESTS_PER_PEER {
            assert_eq!(inbound.refusal(greedy, None), None);
        }
        let refusal = inbound
            .refusal(greedy, None)
            .expect("one request too many is refused");
        assert!(
            matches!(&refusal.outcome, crate::protocol::Outcome::Error(e) if e.kind == ErrorKind::Busy),
            "{refusal:?}"
        );
        assert_eq!(
            inbound.refusal(other, None),
            None,
            "another peer is not held back"
        );
        assert_eq!(refusals.get(ErrorKind::Busy), 1, "the refusal is counted");
    }

    #[test]
    fn a_peer_that_runs_no_tasks_refuses_them() {
        let refusal = Inbound::new(false, Access::open(), Refusals::default())
            .refusal(PeerId::random(), None)
            .unwrap();
        assert!(
            matches!(&refusal.outcome, crate::protocol::Outcome::Error(e) if e.kind == ErrorKind::Rejected),
            "{refusal:?}"
        );
    }
}
