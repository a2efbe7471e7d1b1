//! The job scheduler: keeps every available node filled up to its slots (no waiting for a
//! round trip between tasks), picks among nodes with spare capacity by strategy, re-sends
//! tasks lost to busy, stopping or vanished nodes, excludes nodes that keep failing, and with
//! replicas runs each task on several distinct nodes and accepts a result a quorum agrees on.
//! Short tasks travel in batches (one request, one slot, answers together), sized from the
//! tasks' observed time so a batch lasts a few milliseconds and the end of a job still
//! spreads over every slot.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use libp2p::PeerId;
use pws_net::client::{NetError, NetResult};
use pws_net::protocol::{
    ErrorKind, MAX_TASK_REQUEST_BYTES, NodeState, Outcome, TaskBatch, TaskError, TaskResponse,
};
use pws_net::status::NodeInfo;
use pws_net::strategy::{self, Strategy};

use crate::session::Session;

/// Tasks issued but not yet final, at most: bounds memory (and the reorder buffer).
const WINDOW: usize = 4096;
/// Failures in a row after which a node is left out for the rest of the job.
const MAX_CONSECUTIVE_FAILURES: u32 = 3;
/// A node that answered busy gets no new task for this long.
const BUSY_COOLDOWN: Duration = Duration::from_millis(100);
const REGISTRY_POLL: Duration = Duration::from_millis(500);
/// How often new nodes are looked for (in the background: discovery can take seconds).
const DISCOVERY_INTERVAL: Duration = Duration::from_secs(3);
/// How long a batch should keep a slot busy: long enough to make a request's cost small
/// against its tasks, short enough that a job's last tasks still spread over every slot.
const BATCH_TARGET_MS: f64 = 10.0;
/// Most tasks in one batch.
const MAX_BATCH: usize = 64;
/// Most bytes of inputs and source in one batch, well under what a node reads.
const MAX_BATCH_BYTES: usize = MAX_TASK_REQUEST_BYTES as usize / 4;
/// Weight of the newest measurement in the running estimate of a task's time.
const TASK_TIME_WEIGHT: f64 = 0.2;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SchedulerOptions {
    #[serde(with = "strategy_name")]
    pub strategy: Strategy,
    /// Extra attempts for a task lost to the network or a busy node.
    pub retries: u32,
    pub timeout_ms: Option<u64>,
    /// How long to wait for any node while work remains.
    pub wait: Duration,
    /// Distinct nodes each task runs on.
    pub replicas: u32,
    /// Matching answers needed to accept a result.
    pub quorum: u32,
}

mod strategy_name {
    use clap::ValueEnum;
    use pws_net::strategy::Strategy;

    pub fn serialize<S: serde::Serializer>(s: &Strategy, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s.to_possible_value().expect("named").get_name())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Strategy, D::Error> {
        let name: String = serde::Deserialize::deserialize(de)?;
        Strategy::from_str(&name, false).map_err(serde::de::Error::custom)
    }
}

/// The inputs of a job, in index order.
pub trait Feed {
    fn next(&mut self) -> anyhow::Result<Option<(u64, String)>>;
}

/// A task's final result.
pub struct Finished {
    pub index: u64,
    pub input: String,
    pub outcome: Outcome,
    /// The node whose answer is the result (the first of the agreeing ones).
    pub node: Option<PeerId>,
    pub ms: f64,
    /// Times the task was sent to a node.
    pub attempts: u32,
    /// With replicas: every node's answer.
    pub answers: Vec<(PeerId, Outcome)>,
}

/// What the scheduler tells the progress display.
#[derive(Default, Clone, Copy)]
pub struct Counters {
    pub running: usize,
    pub retried: u64,
    pub nodes_in_use: usize,
}

/// Why a run ended.
pub enum End {
    /// Every input has a final result.
    Complete,
    /// No node was available for the wait time; the unfinished tasks stay pending.
    NoNodes,
    /// Stopped from outside (Ctrl-C); the unfinished tasks stay pending.
    Interrupted,
}

/// A task not yet final.
struct Active {
    input: String,
    attempts: u32,
    retries_left: u32,
    /// Nodes it was sent to (replicas must land on distinct nodes).
    tried: Vec<PeerId>,
    answers: Vec<(PeerId, Outcome, f64)>,
}

/// Answers of one request to a node, each with the node's own time for it in milliseconds.
type Answers = NetResult<Vec<(TaskResponse, f64)>>;
type Flight = (Vec<u64>, PeerId, Instant, Answers);

pub struct Scheduler<'a> {
    session: &'a Session,
    code: String,
    options: SchedulerOptions,
    nodes: Vec<NodeInfo>,
    in_flight: HashMap<PeerId, u32>,
    cooling: HashMap<PeerId, Instant>,
    failures: HashMap<PeerId, u32>,
    pub excluded: HashSet<PeerId>,
    previous: Option<PeerId>,
    counters: Counters,
    active: BTreeMap<u64, Active>,
    /// One entry per dispatch still needed (a task with replicas appears several times).
    queue: VecDeque<u64>,
    /// Running estimate of one task's time on a node, in milliseconds.
    task_ms: Option<f64>,
    /// Tasks sent and not yet answered.
    tasks_in_flight: usize,
}

impl<'a> Scheduler<'a> {
    pub fn new(session: &'a Session, code: String, options: SchedulerOptions) -> Self {
        Self {
            session,
            code,
            options,
            nodes: Vec::new(),
            in_flight: HashMap::new(),
            cooling: HashMap::new(),
            failures: HashMap::new(),
            excluded: HashSet::new(),
            previous: None,
            counters: Counters::default(),
            active: BTreeMap::new(),
            queue: VecDeque::new(),
            task_ms: None,
            tasks_in_flight: 0,
        }
    }

    /// Run every task of `feed`; `on_finished` gets each final result once.
    pub async fn run(
        &mut self,
        feed: &mut dyn Feed,
        mut on_finished: impl FnMut(Finished, Counters) -> anyhow::Result<()>,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<End> {
        let mut running: FuturesUnordered<BoxFuture<'a, Flight>> = FuturesUnordered::new();
        let mut feed_done = false;
        let mut poll = tokio::time::interval(REGISTRY_POLL);
        let mut idle_since: Option<Instant> = None;
        self.nodes = self.session.refresh().await?;
        let discovery = self.session.clone();
        let _discovery = AbortOnDrop(tokio::spawn(async move {
            loop {
                tokio::time::sleep(DISCOVERY_INTERVAL).await;
                let _ = discovery.refresh().await;
            }
        }));
        tokio::pin!(stop);
        loop {
            // Read ahead: enough to fill every slot twice over, bounded by the window.
            let read_ahead = (self.capacity().max(1) * 2 * self.batch_limit()).min(WINDOW);
            while !feed_done && self.queue.len() < read_ahead && self.active.len() < WINDOW {
                match feed.next()? {
                    Some((index, input)) => self.admit(index, input),
                    None => feed_done = true,
                }
            }
            while let Some(node) = self.queue.front().and_then(|index| self.pick(*index)) {
                let batch = self.take_batch();
                running.push(self.dispatch(batch, node));
            }
            self.counters.running = self.tasks_in_flight;
            self.counters.nodes_in_use = self.in_flight.values().filter(|n| **n > 0).count();
            if feed_done && self.active.is_empty() {
                return Ok(End::Complete);
            }
            // Nothing can run: wait for nodes, up to the limit.
            if running.is_empty() && !self.queue.is_empty() {
                let since = *idle_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= self.options.wait {
                    return Ok(End::NoNodes);
                }
            } else {
                idle_since = None;
            }
            tokio::select! {
                Some((indices, node, started, answers)) = running.next() => {
                    *self.in_flight.entry(node).or_default() -= 1;
                    self.tasks_in_flight -= indices.len();
                    let ms = started.elapsed().as_secs_f64() * 1000.0;
                    for finished in self.settle_flight(indices, node, ms, answers) {
                        on_finished(finished, self.counters)?;
                    }
                }
                _ = poll.tick() => self.nodes = self.session.client.registry().await?,
                _ = &mut stop => return Ok(End::Interrupted),
            }
        }
    }

    fn admit(&mut self, index: u64, input: String) {
        self.active.insert(
            index,
            Active {
                input,
                attempts: 0,
                retries_left: self.options.retries,
                tried: Vec::new(),
                answers: Vec::new(),
            },
        );
        for _ in 0..self.options.replicas.max(1) {
            self.queue.push_back(index);
        }
    }

    /// Tasks per request now: as many as fill [`BATCH_TARGET_MS`] at the tasks' observed
    /// time, one until a time is known or with replicas (which must land on distinct nodes).
    fn batch_limit(&self) -> usize {
        match self.task_ms {
            Some(ms) if self.options.replicas <= 1 => {
                ((BATCH_TARGET_MS / ms.max(0.001)) as usize).clamp(1, MAX_BATCH)
            }
            _ => 1,
        }
    }

    /// The next tasks to send to one node: the batch limit, but no more than a fair share of
    /// what is queued (so every slot gets work) and of the bytes a request may carry.
    fn take_batch(&mut self) -> Vec<u64> {
        let fair_share = self.queue.len().div_ceil(self.capacity().max(1));
        let size = self.batch_limit().min(fair_share).max(1);
        let mut batch = Vec::with_capacity(size);
        let mut bytes = self.code.len();
        while batch.len() < size {
            let Some(&index) = self.queue.front() else {
                break;
            };
            let input_bytes = self.active.get(&index).map_or(0, |task| task.input.len());
            if !batch.is_empty() && bytes + input_bytes > MAX_BATCH_BYTES {
                break;
            }
            bytes += input_bytes;
            batch.push(index);
            self.queue.pop_front();
        }
        batch
    }

    /// Send `indices` to `node` in one batch request (the node reports each task's time).
    fn dispatch(&mut self, indices: Vec<u64>, node: PeerId) -> BoxFuture<'a, Flight> {
        let mut inputs = Vec::with_capacity(indices.len());
        for index in &indices {
            let task = self.active.get_mut(index).expect("queued tasks are active");
            task.attempts += 1;
            task.tried.push(node);
            inputs.push(Some(task.input.clone()));
        }
        *self.in_flight.entry(node).or_default() += 1;
        self.tasks_in_flight += indices.len();
        self.previous = Some(node);
        let client = self.session.client.clone();
        let count = inputs.len();
        if count > 1 {
            tracing::debug!(%node, "sending {count} tasks in one batch");
        }
        let batch = TaskBatch {
            code: self.code.clone(),
            inputs,
            timeout_ms: self.options.timeout_ms,
        };
        Box::pin(async move {
            let started = Instant::now();
            let answers = client
                .send_batch(node, batch)
                .await
                .and_then(|response| batch_answers(response.answers, count));
            (indices, node, started, answers)
        })
    }

    /// Total slots of the usable nodes.
    fn capacity(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| !self.excluded.contains(&n.peer_id))
            .map(|n| n.status.total_slots as usize)
            .sum()
    }

    /// A node with a spare slot for task `index`: one it has not been sent to, or (without
    /// replicas, when there is no other) any.
    fn pick(&self, index: u64) -> Option<PeerId> {
        let task = self.active.get(&index)?;
        let now = Instant::now();
        let spare: Vec<NodeInfo> = self
            .nodes
            .iter()
            .filter(|n| !self.excluded.contains(&n.peer_id))
            .filter(|n| {
                self.cooling
                    .get(&n.peer_id)
                    .is_none_or(|until| now >= *until)
            })
            .map(|n| {
                let ours = self.in_flight.get(&n.peer_id).copied().unwrap_or(0);
                let mut view = n.clone();
                view.status.free_slots = n.status.total_slots.saturating_sub(ours);
                view.status.state = if ours == 0 {
                    NodeState::Idle
                } else {
                    NodeState::Busy
                };
                view
            })
            .collect();
        let mut rng = rand::rng();
        let tried: HashSet<PeerId> = task.tried.iter().copied().collect();
        let untried = strategy::pick(
            self.options.strategy,
            &spare,
            &tried,
            self.previous,
            &mut rng,
        );
        if untried.is_some() || self.options.replicas > 1 {
            return untried;
        }
        strategy::pick(
            self.options.strategy,
            &spare,
            &HashSet::new(),
            self.previous,
            &mut rng,
        )
    }

    /// Take in the answers of one request; returns the results that became final.
    fn settle_flight(
        &mut self,
        indices: Vec<u64>,
        node: PeerId,
        ms: f64,
        answers: Answers,
    ) -> Vec<Finished> {
        match answers {
            Ok(answers) => {
                let per_task = answers.iter().map(|(_, ms)| ms).sum::<f64>() / answers.len() as f64;
                self.task_ms = Some(self.task_ms.map_or(per_task, |estimate| {
                    estimate + TASK_TIME_WEIGHT * (per_task - estimate)
                }));
                indices
                    .into_iter()
                    .zip(answers)
                    .filter_map(|(index, (response, ms))| {
                        self.settle(index, node, ms, Ok(response))
                    })
                    .collect()
            }
            Err(e) => {
                let failures = self.failures.entry(node).or_default();
                *failures += 1;
                if *failures >= MAX_CONSECUTIVE_FAILURES && self.excluded.insert(node) {
                    tracing::warn!(%node, "excluded after {failures} failures in a row");
                }
                let error = TaskError::new(ErrorKind::Network, e.to_string());
                indices
                    .into_iter()
                    .filter_map(|index| self.settle(index, node, ms, Err(error.clone())))
                    .collect()
            }
        }
    }

    /// Take in one task's answer (or the network error that lost it); returns the task's
    /// final result once it has one.
    fn settle(
        &mut self,
        index: u64,
        node: PeerId,
        ms: f64,
        answer: Result<TaskResponse, TaskError>,
    ) -> Option<Finished> {
        let outcome = match answer {
            Ok(TaskResponse {
                outcome: Outcome::Error(error),
                ..
            }) if error.kind.is_retryable_elsewhere() => {
                self.cooling.insert(node, Instant::now() + BUSY_COOLDOWN);
                self.retry_or(index, error)?
            }
            Ok(response) => {
                self.failures.remove(&node);
                response.outcome
            }
            Err(error) => self.retry_or(index, error)?,
        };
        let task = self.active.get_mut(&index)?;
        task.answers.push((node, outcome, ms));
        let verdict = verdict(
            &task.answers,
            self.options.replicas.max(1),
            self.options.quorum.max(1),
        )?;
        let task = self.active.remove(&index).expect("present above");
        self.queue.retain(|queued| *queued != index);
        let (node, ms) = verdict
            .agreed
            .first()
            .map_or((None, ms), |(node, ms)| (Some(*node), *ms));
        Some(Finished {
            index,
            input: task.input,
            outcome: verdict.outcome,
            node,
            ms,
            attempts: task.attempts,
            answers: if self.options.replicas > 1 {
                task.answers
                    .into_iter()
                    .map(|(node, outcome, _)| (node, outcome))
                    .collect()
            } else {
                Vec::new()
            },
        })
    }

    /// Send the task again if it has retries left (`None`), else take `error` as its answer.
    fn retry_or(&mut self, index: u64, error: TaskError) -> Option<Outcome> {
        let task = self.active.get_mut(&index)?;
        if task.retries_left == 0 {
            return Some(Outcome::Error(error));
        }
        tracing::debug!(index, "{error}; sending again");
        task.retries_left -= 1;
        self.counters.retried += 1;
        self.queue.push_front(index);
        None
    }
}

/// A batch answer's entries with each task's node time in milliseconds; a node that
/// answered a different number of tasks than it was sent is a failed request.
fn batch_answers(answers: Vec<pws_net::protocol::BatchAnswer>, sent: usize) -> Answers {
    if answers.len() != sent {
        return Err(NetError::Failed(format!(
            "the node answered {} of a batch of {sent} tasks",
            answers.len()
        )));
    }
    Ok(answers
        .into_iter()
        .map(|answer| (answer.response, answer.micros as f64 / 1000.0))
        .collect())
}

/// Stops a background task when the scheduler is done.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A decided task: the accepted outcome and the nodes (with their times) that gave it.
struct Verdict {
    outcome: Outcome,
    agreed: Vec<(PeerId, f64)>,
}

/// Answers agree when their canonical JSON (keys sorted) is equal, or they failed the same
/// way. `None` while the question is still open.
fn verdict(answers: &[(PeerId, Outcome, f64)], replicas: u32, quorum: u32) -> Option<Verdict> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, (_, outcome, _)) in answers.iter().enumerate() {
        groups.entry(canonical(outcome)).or_default().push(i);
    }
    if let Some(members) = groups
        .values()
        .find(|members| members.len() >= quorum as usize)
    {
        return Some(Verdict {
            outcome: answers[members[0]].1.clone(),
            agreed: members
                .iter()
                .map(|&i| (answers[i].0, answers[i].2))
                .collect(),
        });
    }
    if answers.len() < replicas as usize {
        return None;
    }
    Some(Verdict {
        outcome: Outcome::Error(TaskError::new(
            ErrorKind::Disagreement,
            format!(
                "no {quorum} of the {replicas} nodes agreed ({} different answers)",
                groups.len()
            ),
        )),
        agreed: Vec::new(),
    })
}

fn canonical(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Ok(text) => serde_json::from_str::<serde_json::Value>(text)
            .map_or_else(|_| format!("invalid:{text}"), |value| value.to_string()),
        Outcome::Error(error) => format!("error:{}", error.kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(json: &str) -> (PeerId, Outcome, f64) {
        (PeerId::random(), Outcome::Ok(json.into()), 1.0)
    }

    #[test]
    fn a_quorum_of_equal_json_wins_whatever_the_key_order() {
        let answers = [
            answer(r#"{"a":1,"b":2}"#),
            answer("666"),
            answer(r#"{"b":2, "a":1}"#),
        ];
        let verdict = verdict(&answers, 3, 2).expect("decided");
        assert_eq!(verdict.outcome, Outcome::Ok(r#"{"a":1,"b":2}"#.into()));
        assert_eq!(verdict.agreed.len(), 2);
    }

    #[test]
    fn undecided_until_all_answers_then_disagreement() {
        let two = [answer("1"), answer("2")];
        assert!(verdict(&two, 3, 2).is_none());
        let three = [answer("1"), answer("2"), answer("3")];
        let verdict = verdict(&three, 3, 2).expect("decided");
        assert!(matches!(verdict.outcome, Outcome::Error(e) if e.kind == ErrorKind::Disagreement));
    }

    #[test]
    fn one_replica_is_its_own_quorum() {
        let verdict = verdict(&[answer("7")], 1, 1).expect("decided");
        assert_eq!(verdict.outcome, Outcome::Ok("7".into()));
    }
}
