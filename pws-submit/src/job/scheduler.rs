//! The job scheduler: keeps every available node filled up to its slots (no waiting for a
//! round trip between tasks), picks among nodes with spare capacity by strategy, re-sends
//! tasks lost to busy, stopping or vanished nodes, excludes nodes that keep failing, and with
//! replicas runs each task on several distinct nodes until a quorum agrees ([`super::quorum`]).
//! Short tasks travel in batches (one request, one slot, answers together), sized from the
//! tasks' observed time so a batch lasts a few milliseconds and the end of a job still
//! spreads over every slot.
//!
//! Nodes are strangers: one is used only once it answered a status request (see
//! [`super::Network`]), gets one request at a time until it has answered one (announcing
//! thousands of free slots wins it nothing), and is set aside at once when it stays silent
//! past a request's deadline ([`crate::deadline`]) or answers something other than what was
//! asked; its tasks go elsewhere.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use futures::StreamExt;
use futures::future::LocalBoxFuture;
use futures::stream::FuturesUnordered;
use libp2p::PeerId;
use pws_net::client::NetError;
use pws_net::protocol::{
    BatchAnswer, ErrorKind, MAX_TASK_REQUEST_BYTES, NodeState, Outcome, TaskBatch, TaskError,
    TaskResponse,
};
use pws_net::rt::{self, Instant, Ticker};
use pws_net::status::NodeInfo;
use pws_net::strategy;

use super::quorum::{self, Answer};
use super::{JobSpec, Network};
use crate::deadline;

/// Tasks issued but not yet final, at most: bounds memory (and the reorder buffer).
const WINDOW: usize = 4096;
/// Network failures in a row after which a node is set aside for [`SET_ASIDE`], doubled
/// with each further failure up to [`MAX_SET_ASIDE`]: a node that died gets no more tasks,
/// one that was restarted (a phone, a laptop) is used again once it answers.
const MAX_CONSECUTIVE_FAILURES: u32 = 3;
const SET_ASIDE: Duration = Duration::from_secs(2);
const MAX_SET_ASIDE: Duration = Duration::from_secs(60);
/// A node that answered busy gets no new task for this long.
const BUSY_COOLDOWN: Duration = Duration::from_millis(100);
/// A node that answered `rate-limited` (we sent it too much) gets none for this long.
const RATE_LIMITED_COOLDOWN: Duration = Duration::from_secs(1);
const REGISTRY_POLL: Duration = Duration::from_millis(500);
/// How often new nodes are looked for (alongside the work: discovery can take seconds).
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

/// How long a node is set aside after `failures` network failures in a row, if at all.
fn set_aside_after(failures: u32) -> Option<Duration> {
    let beyond = failures.checked_sub(MAX_CONSECUTIVE_FAILURES)?;
    Some(
        SET_ASIDE
            .saturating_mul(1 << beyond.min(16))
            .min(MAX_SET_ASIDE),
    )
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    answers: Vec<Answer>,
}

/// Answers of one request to a node, each with the node's own time for it in milliseconds.
type Answers = Result<Vec<(TaskResponse, f64)>, Lost>;

/// Why a request's answers did not come.
#[derive(Debug)]
enum Lost {
    /// The network lost it (the node vanished, a stream broke): it may come back.
    Network(NetError),
    /// The node broke the protocol: silent past the deadline, or an answer that does not
    /// fit the request. It is not sent more.
    Misbehaved(String),
}

impl From<NetError> for Lost {
    fn from(error: NetError) -> Self {
        match error {
            NetError::Malformed(message) => Lost::Misbehaved(message),
            other => Lost::Network(other),
        }
    }
}
type Flight = (Vec<u64>, PeerId, Instant, Answers);

pub struct Scheduler<'a, N> {
    network: &'a N,
    spec: &'a JobSpec,
    /// Extra attempts for a task lost to the network or a busy node.
    retries: u32,
    /// How long to wait for any node while work remains.
    wait: Duration,
    nodes: Vec<NodeInfo>,
    in_flight: HashMap<PeerId, u32>,
    /// Nodes that answered a request of this job; the others get one at a time.
    proven: HashSet<PeerId>,
    cooling: HashMap<PeerId, Instant>,
    /// Network failures in a row, per node.
    failures: HashMap<PeerId, u32>,
    /// Nodes that misbehaved (silent past the deadline, answers not asked for): left out
    /// for the rest of the job.
    excluded: HashSet<PeerId>,
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

impl<'a, N: Network> Scheduler<'a, N> {
    pub fn new(network: &'a N, spec: &'a JobSpec, retries: u32, wait: Duration) -> Self {
        Self {
            network,
            spec,
            retries,
            wait,
            nodes: Vec::new(),
            in_flight: HashMap::new(),
            proven: HashSet::new(),
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
        let mut running: FuturesUnordered<LocalBoxFuture<'a, Flight>> = FuturesUnordered::new();
        let mut feed_done = false;
        let mut poll = Ticker::new(REGISTRY_POLL);
        let mut idle_since: Option<Instant> = None;
        self.nodes = self.able(self.network.refresh().await?);
        let discovery = keep_discovering(self.network);
        tokio::pin!(discovery, stop);
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
                if since.elapsed() >= self.wait {
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
                _ = poll.tick() => self.nodes = self.able(self.network.registry().await?),
                () = &mut discovery => {}
                () = &mut stop => return Ok(End::Interrupted),
            }
        }
    }

    fn admit(&mut self, index: u64, input: String) {
        self.active.insert(
            index,
            Active {
                input,
                attempts: 0,
                retries_left: self.retries,
                tried: Vec::new(),
                answers: Vec::new(),
            },
        );
        for _ in 0..self.spec.replicas {
            self.queue.push_back(index);
        }
    }

    /// Tasks per request now: as many as fill [`BATCH_TARGET_MS`] at the tasks' observed
    /// time, one until a time is known or with replicas (which must land on distinct nodes).
    fn batch_limit(&self) -> usize {
        match self.task_ms {
            Some(ms) if self.spec.replicas <= 1 => {
                ((BATCH_TARGET_MS / ms.max(0.001)) as usize).clamp(1, MAX_BATCH)
            }
            _ => 1,
        }
    }

    /// The nodes that can run the job's tasks (WebAssembly needs a node that runs it).
    fn able(&self, mut nodes: Vec<NodeInfo>) -> Vec<NodeInfo> {
        let kind = self.spec.source.kind();
        nodes.retain(|node| node.status.runs(kind));
        nodes
    }

    /// The next tasks to send to one node: the batch limit, but no more than a fair share of
    /// what is queued (so every slot gets work) and of the bytes a request may carry.
    fn take_batch(&mut self) -> Vec<u64> {
        let fair_share = self.queue.len().div_ceil(self.capacity().max(1));
        let size = self.batch_limit().min(fair_share).max(1);
        let mut batch = Vec::with_capacity(size);
        let mut bytes = self.spec.source.byte_len();
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
    fn dispatch(&mut self, indices: Vec<u64>, node: PeerId) -> LocalBoxFuture<'a, Flight> {
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
        let count = inputs.len();
        if count > 1 {
            tracing::debug!(%node, "sending {count} tasks in one batch");
        }
        let request_bytes =
            self.spec.source.byte_len() + inputs.iter().flatten().map(String::len).sum::<usize>();
        let deadline = deadline::for_request(self.spec.timeout_ms, count, request_bytes);
        let task = self.spec.source.request();
        let batch = TaskBatch {
            code: task.code,
            wasm: task.wasm,
            inputs,
            timeout_ms: self.spec.timeout_ms,
            grant: None,
        };
        let network = self.network;
        Box::pin(async move {
            let started = Instant::now();
            let answers = match rt::timeout(deadline, network.send_batch(node, batch)).await {
                Ok(Ok(response)) => batch_answers(response.answers, count),
                Ok(Err(e)) => Err(Lost::from(e)),
                Err(_) => Err(Lost::Misbehaved(format!(
                    "node {node} did not answer within {:.1} s",
                    deadline.as_secs_f64()
                ))),
            };
            (indices, node, started, answers)
        })
    }

    /// Total slots of the usable nodes.
    fn capacity(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| !self.excluded.contains(&n.peer_id))
            .map(|n| self.slots_of(n) as usize)
            .sum()
    }

    /// The slots we use on `node`: what it announces once it has answered us, one before.
    fn slots_of(&self, node: &NodeInfo) -> u32 {
        if self.proven.contains(&node.peer_id) {
            node.status.total_slots
        } else {
            node.status.total_slots.min(1)
        }
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
                view.status.free_slots = self.slots_of(n).saturating_sub(ours);
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
        let untried = strategy::pick(self.spec.strategy, &spare, &tried, self.previous, &mut rng);
        if untried.is_some() || self.spec.replicas > 1 {
            return untried;
        }
        strategy::pick(
            self.spec.strategy,
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
                self.proven.insert(node);
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
            Err(lost) => {
                let error = match lost {
                    Lost::Network(e) => {
                        let failures = self.failures.entry(node).or_default();
                        *failures += 1;
                        if let Some(pause) = set_aside_after(*failures) {
                            tracing::info!(%node, "set aside for {pause:?} after {failures} failures in a row");
                            self.cooling.insert(node, Instant::now() + pause);
                        }
                        e.to_string()
                    }
                    Lost::Misbehaved(why) => {
                        if self.excluded.insert(node) {
                            tracing::warn!(%node, "set aside: {why}");
                        }
                        why
                    }
                };
                let error = TaskError::new(ErrorKind::Network, error);
                indices
                    .into_iter()
                    .filter_map(|index| self.settle(index, node, ms, Err(error.clone())))
                    .collect()
            }
        }
    }

    /// Nodes left out at the end of the job: those that misbehaved, and those whose last
    /// requests all failed.
    pub fn left_out(&self) -> HashSet<PeerId> {
        let failing = self
            .failures
            .iter()
            .filter(|(_, failures)| **failures >= MAX_CONSECUTIVE_FAILURES)
            .map(|(node, _)| *node);
        self.excluded.iter().copied().chain(failing).collect()
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
                let cooldown = match error.kind {
                    ErrorKind::RateLimited => RATE_LIMITED_COOLDOWN,
                    _ => BUSY_COOLDOWN,
                };
                self.cooling.insert(node, Instant::now() + cooldown);
                self.retry_or(index, error)?
            }
            Ok(response) => {
                self.failures.remove(&node);
                response.outcome
            }
            Err(error) => self.retry_or(index, error)?,
        };
        let task = self.active.get_mut(&index)?;
        task.answers.push(Answer { node, outcome, ms });
        let verdict = quorum::verdict(&task.answers, self.spec.replicas, self.spec.quorum)?;
        let outcome = verdict.outcome;
        let (node, ms) = verdict
            .agreed
            .first()
            .map_or((None, ms), |answer| (Some(answer.node), answer.ms));
        let task = self.active.remove(&index).expect("present above");
        self.queue.retain(|queued| *queued != index);
        Some(Finished {
            index,
            input: task.input,
            outcome,
            node,
            ms,
            attempts: task.attempts,
            answers: if self.spec.replicas > 1 {
                task.answers
                    .into_iter()
                    .map(|answer| (answer.node, answer.outcome))
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

/// Look for new nodes every so often; never ends (it runs for as long as it is polled).
async fn keep_discovering(network: &impl Network) {
    loop {
        rt::sleep(DISCOVERY_INTERVAL).await;
        let _ = network.refresh().await;
    }
}

/// A batch answer's entries with each task's node time in milliseconds; a node that
/// answered a different number of tasks than it was sent misbehaved.
fn batch_answers(answers: Vec<BatchAnswer>, sent: usize) -> Answers {
    if answers.len() != sent {
        return Err(Lost::Misbehaved(format!(
            "the node answered {} of a batch of {sent} tasks",
            answers.len()
        )));
    }
    Ok(answers
        .into_iter()
        .map(|answer| (answer.response, answer.micros as f64 / 1000.0))
        .collect())
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use pws_net::client::NetResult;
    use pws_net::protocol::{BatchResponse, NodeStatus};
    use pws_net::strategy::Strategy;

    use super::*;
    use crate::source::TaskSource;

    /// How a fake node answers.
    #[derive(Clone, Copy)]
    enum Behaviour {
        /// Returns its input, reporting this many microseconds per task.
        Echo { micros: u64 },
        /// Returns this JSON whatever the input.
        Constant(&'static str),
        /// Has no free slot.
        Busy,
        /// Never answers: the connection is lost.
        Vanished,
        /// Takes the request and never answers.
        Silent,
        /// Answers one task more than it was sent.
        Miscounts,
    }

    /// Nodes that answer at once, each as its behaviour says; every batch sent is recorded.
    struct FakeNetwork {
        nodes: Vec<(NodeInfo, Behaviour)>,
        sent: RefCell<Vec<(PeerId, Vec<String>)>>,
    }

    impl FakeNetwork {
        /// One node per entry: its behaviour, slots and tasks completed before (least-loaded
        /// picks the node with the fewest first).
        fn new(nodes: &[(Behaviour, u32, u64)]) -> Self {
            let mut nodes: Vec<(NodeInfo, Behaviour)> = nodes
                .iter()
                .map(|&(behaviour, slots, completed)| {
                    let status = NodeStatus {
                        state: NodeState::Idle,
                        free_slots: slots,
                        total_slots: slots,
                        completed,
                        version: "test".into(),
                        engine: "test".into(),
                        wasm: None,
                        addrs: Vec::new(),
                        browser: false,
                        grant: None,
                    };
                    let info = NodeInfo {
                        name: None,
                        peer_id: PeerId::random(),
                        status,
                    };
                    (info, behaviour)
                })
                .collect();
            nodes.sort_by_key(|(info, _)| info.peer_id);
            Self {
                nodes,
                sent: RefCell::default(),
            }
        }

        /// The node made with `completed` tasks completed.
        fn node(&self, completed: u64) -> PeerId {
            let (info, _) = self
                .nodes
                .iter()
                .find(|(info, _)| info.status.completed == completed)
                .expect("a node with that count");
            info.peer_id
        }

        fn infos(&self) -> Vec<NodeInfo> {
            self.nodes.iter().map(|(info, _)| info.clone()).collect()
        }

        fn batches_to(&self, node: PeerId) -> usize {
            self.sent
                .borrow()
                .iter()
                .filter(|(to, _)| *to == node)
                .count()
        }

        fn batch_sizes(&self) -> Vec<usize> {
            self.sent
                .borrow()
                .iter()
                .map(|(_, inputs)| inputs.len())
                .collect()
        }
    }

    impl Network for FakeNetwork {
        async fn refresh(&self) -> anyhow::Result<Vec<NodeInfo>> {
            Ok(self.infos())
        }

        async fn registry(&self) -> NetResult<Vec<NodeInfo>> {
            Ok(self.infos())
        }

        async fn send_batch(&self, node: PeerId, batch: TaskBatch) -> NetResult<BatchResponse> {
            let inputs: Vec<String> = batch.inputs.into_iter().flatten().collect();
            self.sent.borrow_mut().push((node, inputs.clone()));
            let (_, behaviour) = self
                .nodes
                .iter()
                .find(|(info, _)| info.peer_id == node)
                .expect("sent to a known node");
            match behaviour {
                Behaviour::Silent => return std::future::pending().await,
                Behaviour::Miscounts => {
                    let extra = inputs.len() + 1;
                    return Ok(BatchResponse::same_for_all(extra, TaskResponse::ok("1")));
                }
                _ => {}
            }
            let answer = |response: TaskResponse, micros| BatchAnswer { response, micros };
            let answers = inputs.into_iter().map(|input| match *behaviour {
                Behaviour::Echo { micros } => Ok(answer(TaskResponse::ok(input), micros)),
                Behaviour::Constant(json) => Ok(answer(TaskResponse::ok(json), 1000)),
                Behaviour::Busy => Ok(answer(TaskResponse::error(ErrorKind::Busy, "full"), 0)),
                Behaviour::Vanished => Err(NetError::Failed("connection closed".into())),
                Behaviour::Silent | Behaviour::Miscounts => unreachable!("answered above"),
            });
            Ok(BatchResponse {
                answers: answers.collect::<NetResult<_>>()?,
            })
        }
    }

    /// Inputs `0..n`, each the JSON of its index.
    struct Numbers(std::ops::Range<u64>);

    impl Feed for Numbers {
        fn next(&mut self) -> anyhow::Result<Option<(u64, String)>> {
            Ok(self.0.next().map(|n| (n, n.to_string())))
        }
    }

    fn spec(replicas: u32, quorum: u32) -> JobSpec {
        JobSpec {
            source: TaskSource::JavaScript("n => n".into()),
            strategy: Strategy::LeastLoaded,
            timeout_ms: None,
            replicas,
            quorum,
        }
    }

    struct Run {
        end: End,
        finished: BTreeMap<u64, Finished>,
        excluded: HashSet<PeerId>,
    }

    /// Run inputs `0..count` on `network`, bounded in time.
    async fn run(network: &FakeNetwork, spec: &JobSpec, retries: u32, count: u64) -> Run {
        let mut scheduler = Scheduler::new(network, spec, retries, Duration::from_secs(1));
        let mut finished = BTreeMap::new();
        let mut inputs = Numbers(0..count);
        let end = scheduler.run(
            &mut inputs,
            |result, _| {
                assert!(
                    finished.insert(result.index, result).is_none(),
                    "final once"
                );
                Ok(())
            },
            std::future::pending(),
        );
        let end = tokio::time::timeout(Duration::from_secs(10), end)
            .await
            .expect("the run ends")
            .unwrap();
        Run {
            end,
            finished,
            excluded: scheduler.left_out(),
        }
    }

    fn error_kind(outcome: &Outcome) -> Option<ErrorKind> {
        match outcome {
            Outcome::Error(error) => Some(error.kind),
            Outcome::Ok(_) => None,
        }
    }

    #[tokio::test]
    async fn a_task_lost_to_a_vanished_node_is_sent_up_to_retries_more_times() {
        let network = FakeNetwork::new(&[(Behaviour::Vanished, 1, 0)]);
        let run = run(&network, &spec(1, 1), 2, 1).await;
        assert_eq!(run.end, End::Complete);
        let result = &run.finished[&0];
        assert_eq!(result.attempts, 3);
        assert_eq!(error_kind(&result.outcome), Some(ErrorKind::Network));
        assert_eq!(network.batches_to(network.node(0)), 3);
    }

    /// Node 0 answers as `bad` says and is picked first (least-loaded); node 10 answers well.
    fn a_bad_node_and_a_good_one(bad: Behaviour) -> FakeNetwork {
        FakeNetwork::new(&[(bad, 1, 0), (Behaviour::Echo { micros: 100 }, 1, 10)])
    }

    #[tokio::test]
    async fn a_busy_node_sends_the_task_to_another() {
        let network = a_bad_node_and_a_good_one(Behaviour::Busy);
        let run = run(&network, &spec(1, 1), 3, 1).await;
        let result = &run.finished[&0];
        assert_eq!(result.outcome, Outcome::Ok("0".into()));
        assert_eq!(result.node, Some(network.node(10)));
        assert_eq!(result.attempts, 2, "tried the busy node first");
        assert!(run.excluded.is_empty(), "busy is no failure");
    }

    #[tokio::test]
    async fn a_node_failing_three_times_in_a_row_is_left_out() {
        let network = a_bad_node_and_a_good_one(Behaviour::Vanished);
        let run = run(&network, &spec(1, 1), 10, 20).await;
        assert_eq!(run.end, End::Complete);
        assert_eq!(run.finished.len(), 20);
        assert!(
            run.finished
                .values()
                .all(|r| r.node == Some(network.node(10)))
        );
        assert_eq!(run.excluded, HashSet::from([network.node(0)]));
        assert_eq!(network.batches_to(network.node(0)), 3);
    }

    #[test]
    fn a_failing_node_is_set_aside_longer_each_time_up_to_a_minute() {
        let pauses: Vec<Option<u64>> = (1..=12)
            .map(|failures| set_aside_after(failures).map(|pause| pause.as_secs()))
            .collect();
        assert_eq!(
            pauses,
            [None, None, Some(2), Some(4), Some(8), Some(16), Some(32)]
                .into_iter()
                .chain([Some(60); 5])
                .collect::<Vec<_>>()
        );
        assert_eq!(set_aside_after(u32::MAX), Some(MAX_SET_ASIDE));
    }

    /// A node that swallows requests (or answers what was not asked) while announcing
    /// thousands of free slots gets one request, is set aside, and its task goes elsewhere.
    #[tokio::test]
    async fn a_silent_or_miscounting_node_gets_one_request_and_is_set_aside() {
        for bad in [Behaviour::Silent, Behaviour::Miscounts] {
            let network =
                FakeNetwork::new(&[(bad, 4096, 0), (Behaviour::Echo { micros: 100 }, 1, 10)]);
            let spec = JobSpec {
                timeout_ms: Some(100),
                ..spec(1, 1)
            };
            let run = run(&network, &spec, 1, 20).await;
            assert_eq!(run.end, End::Complete);
            assert!(
                run.finished
                    .iter()
                    .all(|(index, r)| r.outcome == Outcome::Ok(index.to_string()))
            );
            assert_eq!(network.batches_to(network.node(0)), 1);
            assert_eq!(run.excluded, HashSet::from([network.node(0)]));
        }
    }

    #[tokio::test]
    async fn short_tasks_travel_in_batches_of_at_most_64() {
        let network = FakeNetwork::new(&[(Behaviour::Echo { micros: 10 }, 2, 0)]);
        let run = run(&network, &spec(1, 1), 0, 2000).await;
        assert_eq!(run.finished.len(), 2000);
        assert!(
            run.finished
                .iter()
                .all(|(index, r)| r.outcome == Outcome::Ok(index.to_string()))
        );
        let sizes = network.batch_sizes();
        assert_eq!(sizes[0], 1, "one task until a time is known");
        assert_eq!(sizes.iter().max(), Some(&MAX_BATCH));
    }

    #[test]
    fn the_batch_limit_fills_the_target_time() {
        let network = FakeNetwork::new(&[]);
        let single = spec(1, 1);
        let mut scheduler = Scheduler::new(&network, &single, 0, Duration::ZERO);
        assert_eq!(scheduler.batch_limit(), 1, "no time observed yet");
        scheduler.task_ms = Some(0.5);
        assert_eq!(scheduler.batch_limit(), 20);
        scheduler.task_ms = Some(0.01);
        assert_eq!(scheduler.batch_limit(), MAX_BATCH);
        scheduler.task_ms = Some(50.0);
        assert_eq!(scheduler.batch_limit(), 1);
        let replicated = spec(3, 2);
        let mut scheduler = Scheduler::new(&network, &replicated, 0, Duration::ZERO);
        scheduler.task_ms = Some(0.5);
        assert_eq!(scheduler.batch_limit(), 1, "replicas go one by one");
    }

    #[test]
    fn a_batch_takes_a_fair_share_of_the_queue() {
        let network = FakeNetwork::new(&[
            (Behaviour::Echo { micros: 10 }, 2, 0),
            (Behaviour::Echo { micros: 10 }, 2, 1),
        ]);
        let spec = spec(1, 1);
        let mut scheduler = Scheduler::new(&network, &spec, 0, Duration::ZERO);
        scheduler.nodes = network.infos();
        scheduler.proven = scheduler.nodes.iter().map(|n| n.peer_id).collect();
        scheduler.task_ms = Some(0.01);
        for index in 0..8 {
            scheduler.admit(index, index.to_string());
        }
        assert_eq!(scheduler.take_batch(), [0, 1], "8 tasks over 4 slots");
    }

    #[test]
    fn a_batch_carries_at_most_a_quarter_of_a_request() {
        let network = FakeNetwork::new(&[(Behaviour::Echo { micros: 10 }, 1, 0)]);
        let spec = spec(1, 1);
        let mut scheduler = Scheduler::new(&network, &spec, 0, Duration::ZERO);
        scheduler.task_ms = Some(0.01);
        let large = "1".repeat(MAX_BATCH_BYTES * 2 / 5);
        for index in 0..5 {
            scheduler.admit(index, large.clone());
        }
        scheduler.admit(5, "1".repeat(MAX_BATCH_BYTES + 1));
        assert_eq!(scheduler.take_batch(), [0, 1]);
        assert_eq!(scheduler.take_batch(), [2, 3]);
        assert_eq!(scheduler.take_batch(), [4]);
        assert_eq!(
            scheduler.take_batch(),
            [5],
            "too large for the limit, sent alone"
        );
    }

    /// Nodes 0 and 1 answer honestly, node 2 always answers 666.
    fn two_honest_nodes_and_a_liar() -> FakeNetwork {
        FakeNetwork::new(&[
            (Behaviour::Echo { micros: 100 }, 2, 0),
            (Behaviour::Echo { micros: 100 }, 2, 1),
            (Behaviour::Constant("666"), 2, 2),
        ])
    }

    #[tokio::test]
    async fn replicas_land_on_distinct_nodes_and_a_quorum_outvotes_a_liar() {
        let network = two_honest_nodes_and_a_liar();
        let liar = network.node(2);
        let run = run(&network, &spec(3, 2), 0, 20).await;
        assert_eq!(run.finished.len(), 20);
        for (index, result) in &run.finished {
            assert_eq!(result.outcome, Outcome::Ok(index.to_string()));
            assert_ne!(result.node, Some(liar));
            assert!((2..=3).contains(&result.answers.len()));
        }
        for index in 0..20 {
            let nodes: Vec<PeerId> = network
                .sent
                .borrow()
                .iter()
                .filter(|(_, inputs)| inputs.contains(&index.to_string()))
                .map(|(node, _)| *node)
                .collect();
            let distinct: HashSet<&PeerId> = nodes.iter().collect();
            assert_eq!(
                distinct.len(),
                nodes.len(),
                "input {index} went to {nodes:?}"
            );
        }
    }

    #[tokio::test]
    async fn without_a_quorum_every_replica_answers_and_the_result_is_a_disagreement() {
        let network = two_honest_nodes_and_a_liar();
        let run = run(&network, &spec(3, 3), 0, 5).await;
        for result in run.finished.values() {
            assert_eq!(error_kind(&result.outcome), Some(ErrorKind::Disagreement));
            assert_eq!(result.answers.len(), 3);
            assert_eq!(result.node, None);
        }
    }
}
