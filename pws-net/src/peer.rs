//! The event loop: the one place that owns the swarm. It keeps the connection to the relay
//! (with backoff), registers and announces a node, answers status requests, hands inbound
//! tasks to the node and routes answers back to whoever asked.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundFailure, OutboundRequestId, ResponseChannel};
use libp2p::swarm::{SwarmEvent, dial_opts::DialOpts};
use libp2p::{Multiaddr, PeerId, Swarm, gossipsub, identify};
use tokio::sync::{mpsc, oneshot};

use crate::batch::InboundBatch;
use crate::client::{Client, Command, NetError, Reply};
use crate::discovery::{self, Discovery};
use crate::identity::Identity;
use crate::protocol::{
    BatchResponse, ErrorKind, KAD_PROTOCOL, NodeState, NodeStatus, ProgressAck, ProgressReport,
    STATUS_TOPIC, TaskBatch, TaskRequest, TaskResponse, from_cbor, to_cbor,
};
use crate::rt::{self, Instant, Ticker};
use crate::status::{HEARTBEAT, Registry};
use crate::swarm::{self, Behaviour, BehaviourEvent, Role};
use crate::transport::TransportKind;

/// What a peer is and where it connects.
pub struct PeerConfig {
    pub role: Role,
    pub identity: Identity,
    /// Transports this peer speaks.
    pub transports: Vec<TransportKind>,
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// The relay to join, with its `/p2p/<id>`.
    pub relay: Option<Multiaddr>,
}

/// What the event loop reports to the program that runs it.
#[derive(Debug)]
pub enum Event {
    /// Listening on this address (without `/p2p/<id>`).
    Listening(Multiaddr),
    /// The connection to the relay opened (`true`) or was lost (`false`).
    Relay(bool),
    /// The node's registration at the relay was accepted.
    Registered,
    /// A task arrived; answer it through `reply` (dropping `reply` answers `rejected`).
    InboundTask {
        from: PeerId,
        task: TaskRequest,
        reply: oneshot::Sender<TaskResponse>,
    },
    /// The last connection to this peer closed: its tasks have nobody left to answer.
    PeerGone(PeerId),
    /// A node reported how far one of our tasks has come.
    Progress(ProgressReport),
}

/// A running peer: its command handle and its event stream.
pub struct Peer {
    pub client: Client,
    pub events: mpsc::Receiver<Event>,
}

/// Start the event loop of a peer on the current runtime (tokio, or the page's).
pub fn spawn(config: PeerConfig) -> Result<Peer> {
    let mut swarm = swarm::build(&config.identity, &config.role, &config.transports)?;
    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .with_context(|| format!("cannot listen on {addr}"))?;
    }
    swarm
        .behaviour_mut()
        .gossipsub
        .subscribe(&gossipsub::IdentTopic::new(STATUS_TOPIC))
        .map_err(|e| anyhow::anyhow!("cannot subscribe to the status topic: {e}"))?;
    let relay = config.relay.as_ref().map(RelayLink::new).transpose()?;
    if let Some(relay) = &relay {
        swarm
            .behaviour_mut()
            .kad
            .add_address(&relay.peer_id, relay.addr.clone());
    }
    let (command_tx, commands) = mpsc::channel(64);
    let (event_tx, events) = mpsc::channel(64);
    let client = Client {
        commands: command_tx,
        local_peer_id: *swarm.local_peer_id(),
    };
    let mut event_loop = EventLoop {
        swarm,
        is_node: matches!(config.role, Role::Node),
        role: config.role,
        relay,
        commands,
        events: event_tx,
        registry: Registry::default(),
        discovery: Discovery::default(),
        own_status: None,
        status_changed: false,
        relay_waiters: Vec::new(),
        pending_tasks: HashMap::new(),
        pending_batches: HashMap::new(),
        pending_status: HashMap::new(),
        inbound: HashMap::new(),
        next_inbound: 0,
        task_answers: FuturesUnordered::new(),
        unflushed_responses: 0,
        draining: None,
        dialed_once: false,
    };
    // Native WebRTC dials through its own listener's socket: with listeners to open, the
    // first dial waits for the first of them (bounded, in case none ever comes up).
    if config.listen.is_empty() {
        event_loop.dial_relay();
    } else if let Some(relay) = &mut event_loop.relay {
        relay.redial_at = Some(Instant::now() + FIRST_LISTENER_GRACE);
    }
    rt::spawn(event_loop.run());
    Ok(Peer { client, events })
}

/// The relay this peer keeps a connection to.
struct RelayLink {
    peer_id: PeerId,
    addr: Multiaddr,
    connected: bool,
    circuit_listener: Option<ListenerId>,
    backoff: Duration,
    redial_at: Option<Instant>,
}

const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait for a first listener before the relay is dialed anyway.
const FIRST_LISTENER_GRACE: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(4);
/// How long a stopping peer waits for its last answers to leave.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

impl RelayLink {
    fn new(addr: &Multiaddr) -> Result<Self> {
        let Some(Protocol::P2p(peer_id)) = addr.iter().last() else {
            anyhow::bail!("relay address {addr} must end with /p2p/<relay peer id>");
        };
        Ok(Self {
            peer_id,
            addr: addr.clone(),
            connected: false,
            circuit_listener: None,
            backoff: MIN_BACKOFF,
            redial_at: None,
        })
    }

    fn schedule_redial(&mut self) {
        self.redial_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

type TaskAnswer = (u64, Result<TaskResponse, oneshot::error::RecvError>);

/// Work a node took in and still has to answer.
enum Inbound {
    Task(ResponseChannel<TaskResponse>),
    /// A batch, with the submitter it came from (its remaining tasks die with the submitter).
    Batch(PeerId, InboundBatch),
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    role: Role,
    is_node: bool,
    relay: Option<RelayLink>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    registry: Registry,
    discovery: Discovery,
    own_status: Option<NodeStatus>,
    /// `own_status` changed since it was last announced.
    status_changed: bool,
    relay_waiters: Vec<Reply<PeerId>>,
    pending_tasks: HashMap<OutboundRequestId, Reply<TaskResponse>>,
    pending_batches: HashMap<OutboundRequestId, Reply<BatchResponse>>,
    pending_status: HashMap<OutboundRequestId, Reply<NodeStatus>>,
    inbound: HashMap<u64, Inbound>,
    next_inbound: u64,
    task_answers: FuturesUnordered<futures::future::BoxFuture<'static, TaskAnswer>>,
    unflushed_responses: usize,
    draining: Option<(Instant, Reply<()>)>,
    /// The relay has been dialed at least once.
    dialed_once: bool,
}

impl EventLoop {
    async fn run(mut self) {
        let mut heartbeat = Ticker::new(HEARTBEAT);
        // Status changes are announced at most this often.
        let mut tick = Ticker::new(Duration::from_millis(100));
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    // Every client is gone: nobody can use this peer any more.
                    None => return,
                },
                Some((id, answer)) = self.task_answers.next() => self.on_task_answer(id, answer),
                _ = heartbeat.tick() => self.on_heartbeat(),
                _ = tick.tick() => {
                    if std::mem::take(&mut self.status_changed) {
                        self.announce();
                    }
                    self.redial_if_due();
                    if self.discovery.registration_due(Instant::now()) {
                        self.register_if_connected();
                    }
                    if self.drained() {
                        return;
                    }
                }
            }
        }
    }

    fn dial_relay(&mut self) {
        let Some(relay) = &mut self.relay else { return };
        self.dialed_once = true;
        relay.redial_at = None;
        let opts = DialOpts::peer_id(relay.peer_id)
            .addresses(vec![relay.addr.clone()])
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::warn!("cannot dial the relay: {e}");
            relay.schedule_redial();
        }
    }

    /// Whether the relay is still waiting for its first dial (held until a listener is up).
    fn awaiting_first_listener(&self) -> bool {
        self.relay.is_some() && !self.dialed_once
    }

    fn redial_if_due(&mut self) {
        let due = self
            .relay
            .as_ref()
            .and_then(|relay| relay.redial_at)
            .is_some_and(|at| Instant::now() >= at);
        if due && self.draining.is_none() {
            self.dial_relay();
        }
    }

    fn relay_peer(&self) -> Option<PeerId> {
        self.relay.as_ref().map(|relay| relay.peer_id)
    }

    fn on_relay_connected(&mut self) {
        let Some(relay) = &mut self.relay else { return };
        let first = !relay.connected;
        relay.connected = true;
        relay.backoff = MIN_BACKOFF;
        relay.redial_at = None;
        if !first {
            return;
        }
        tracing::debug!(relay = %relay.peer_id, "connected to the relay");
        let _ = self.events.try_send(Event::Relay(true));
        for waiter in self.relay_waiters.drain(..) {
            let _ = waiter.send(Ok(relay.peer_id));
        }
        let relay_peer = relay.peer_id;
        if self.is_node {
            if relay.circuit_listener.is_none() {
                let circuit = relay.addr.clone().with(Protocol::P2pCircuit);
                match self.swarm.listen_on(circuit) {
                    Ok(id) => relay.circuit_listener = Some(id),
                    Err(e) => tracing::warn!("cannot reserve a relayed address: {e}"),
                }
            }
            self.discovery
                .register(self.swarm.behaviour_mut(), relay_peer);
            let kad = &mut self.swarm.behaviour_mut().kad;
            let _ = kad.bootstrap();
            if let Err(e) = kad.start_providing(discovery::provider_key()) {
                tracing::warn!("cannot announce this node in the DHT: {e}");
            }
        }
    }

    fn on_relay_lost(&mut self) {
        let Some(relay) = &mut self.relay else { return };
        if relay.connected {
            tracing::warn!(relay = %relay.peer_id, "lost the relay; reconnecting");
            let _ = self.events.try_send(Event::Relay(false));
        }
        relay.connected = false;
        if relay.redial_at.is_none() {
            relay.schedule_redial();
        }
        self.discovery
            .fail_discovery("the connection to the relay closed");
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                if !matches!(self.role, Role::Submitter) {
                    self.swarm.add_external_address(address.clone());
                    self.discovery.addresses_changed();
                }
                let _ = self.events.try_send(Event::Listening(address));
                if self.awaiting_first_listener() {
                    self.dial_relay();
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.swarm.remove_external_address(&address);
                self.discovery.addresses_changed();
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                addresses,
                reason,
            } => {
                tracing::debug!(?addresses, ?reason, "listener closed");
                for address in &addresses {
                    self.swarm.remove_external_address(address);
                }
                self.discovery.addresses_changed();
                // The circuit listener closes with the relay connection; it is reopened on
                // reconnection.
                if let Some(relay) = &mut self.relay
                    && relay.circuit_listener == Some(listener_id)
                {
                    relay.circuit_listener = None;
                }
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. }
                if Some(peer_id) == self.relay_peer() =>
            {
                self.on_relay_connected();
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                if Some(peer_id) == self.relay_peer() {
                    self.on_relay_lost();
                }
                // Nobody is left to read the rest of its batches.
                self.inbound
                    .retain(|_, work| !matches!(work, Inbound::Batch(from, _) if *from == peer_id));
                let _ = self.events.try_send(Event::PeerGone(peer_id));
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer_id),
                error,
                ..
            } if Some(peer_id) == self.relay_peer() && !self.swarm.is_connected(&peer_id) => {
                tracing::debug!("relay dial failed: {error}");
                self.on_relay_lost();
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
        }
    }

    fn register_if_connected(&mut self) {
        if let Some(relay) = &self.relay
            && relay.connected
            && self.is_node
            && self.draining.is_none()
        {
            let relay = relay.peer_id;
            self.discovery.register(self.swarm.behaviour_mut(), relay);
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::RendezvousClient(event) => {
                if matches!(event, libp2p::rendezvous::client::Event::Registered { .. }) {
                    let _ = self.events.try_send(Event::Registered);
                }
                self.discovery.on_rendezvous_event(event);
            }
            BehaviourEvent::Kad(event) => self.discovery.on_kad_event(event),
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })
                if info.protocols.contains(&KAD_PROTOCOL) =>
            {
                for addr in info.listen_addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Message { message, .. }) => {
                self.on_status_announcement(message);
            }
            BehaviourEvent::Task(event) => {
                self.on_work_event(event, Self::pending_tasks, Self::on_inbound_task)
            }
            BehaviourEvent::Batch(event) => {
                self.on_work_event(event, Self::pending_batches, Self::on_inbound_batch)
            }
            BehaviourEvent::Status(event) => self.on_status_event(event),
            BehaviourEvent::Progress(request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            }) => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .progress
                    .send_response(channel, ProgressAck {});
                let _ = self.events.try_send(Event::Progress(request));
            }
            _ => {}
        }
    }

    fn on_status_announcement(&mut self, message: gossipsub::Message) {
        let Some(source) = message.source else { return };
        match from_cbor::<NodeStatus>(&message.data) {
            Ok(status) => self.registry.update(source, status, Instant::now()),
            Err(e) => tracing::warn!(%source, "ignoring a status announcement: {e}"),
        }
    }

    /// Events of the task and batch protocols: requests to serve, answers to our requests.
    fn on_work_event<Request, Response>(
        &mut self,
        event: request_response::Event<Request, Response>,
        pending: fn(&mut Self) -> &mut HashMap<OutboundRequestId, Reply<Response>>,
        serve: fn(&mut Self, PeerId, Request, ResponseChannel<Response>),
    ) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => serve(self, peer, request, channel),
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => answer(pending(self), request_id, Ok(response)),
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                let error = self.task_failed(peer, &error);
                answer(pending(self), request_id, Err(error));
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                self.answer_failed(peer, &error);
            }
            request_response::Event::ResponseSent { .. } => {
                self.unflushed_responses = self.unflushed_responses.saturating_sub(1);
            }
        }
    }

    fn pending_tasks(&mut self) -> &mut HashMap<OutboundRequestId, Reply<TaskResponse>> {
        &mut self.pending_tasks
    }

    fn pending_batches(&mut self) -> &mut HashMap<OutboundRequestId, Reply<BatchResponse>> {
        &mut self.pending_batches
    }

    /// A task or batch sent to `peer` failed; a node that cannot be reached is no candidate
    /// until it is heard from again.
    fn task_failed(&mut self, peer: PeerId, error: &OutboundFailure) -> NetError {
        if matches!(
            error,
            OutboundFailure::DialFailure | OutboundFailure::ConnectionClosed
        ) {
            self.registry.remove(&peer);
        }
        describe_failure(peer, error)
    }

    /// An answer of ours did not reach its submitter.
    fn answer_failed(&mut self, peer: PeerId, error: &request_response::InboundFailure) {
        tracing::warn!(%peer, "inbound task failed: {error}");
        if matches!(
            error,
            request_response::InboundFailure::ConnectionClosed
                | request_response::InboundFailure::Io(_)
                | request_response::InboundFailure::Timeout
        ) {
            self.unflushed_responses = self.unflushed_responses.saturating_sub(1);
        }
    }

    fn on_inbound_task(
        &mut self,
        from: PeerId,
        task: TaskRequest,
        channel: ResponseChannel<TaskResponse>,
    ) {
        if self.draining.is_some() {
            self.respond(channel, stopping_error());
            return;
        }
        let id = self.next_inbound_id();
        match self.hand_out(id, from, task) {
            Ok(()) => {
                self.inbound.insert(id, Inbound::Task(channel));
            }
            Err(refusal) => self.respond(channel, refusal),
        }
    }

    fn on_inbound_batch(
        &mut self,
        from: PeerId,
        batch: TaskBatch,
        channel: ResponseChannel<BatchResponse>,
    ) {
        let mut batch = InboundBatch::new(batch, channel);
        if self.draining.is_some() {
            batch.answer_rest(stopping_error());
        }
        let id = self.next_inbound_id();
        self.continue_batch(id, from, batch);
    }

    /// Hand the batch's next task to the node, or send its answers once none is left.
    fn continue_batch(&mut self, id: u64, from: PeerId, mut batch: InboundBatch) {
        if let Some(task) = batch.next_task() {
            match self.hand_out(id, from, task) {
                Ok(()) => {
                    self.inbound.insert(id, Inbound::Batch(from, batch));
                    return;
                }
                Err(refusal) => batch.record(refusal),
            }
        }
        if batch.is_done() {
            self.respond_batch(batch);
        } else {
            self.continue_batch(id, from, batch);
        }
    }

    fn next_inbound_id(&mut self) -> u64 {
        self.next_inbound += 1;
        self.next_inbound
    }

    /// Give a task to the program running this node; its answer comes back under `id`.
    fn hand_out(&mut self, id: u64, from: PeerId, task: TaskRequest) -> Result<(), TaskResponse> {
        let (reply, answer) = oneshot::channel();
        self.events
            .try_send(Event::InboundTask { from, task, reply })
            .map_err(|_| TaskResponse::error(ErrorKind::Busy, "the node is overloaded"))?;
        self.task_answers
            .push(Box::pin(async move { (id, answer.await) }));
        Ok(())
    }

    fn on_task_answer(&mut self, id: u64, answer: Result<TaskResponse, oneshot::error::RecvError>) {
        let response = answer.unwrap_or_else(|_| stopping_error());
        match self.inbound.remove(&id) {
            Some(Inbound::Task(channel)) => self.respond(channel, response),
            Some(Inbound::Batch(from, mut batch)) => {
                batch.record(response);
                self.continue_batch(id, from, batch);
            }
            None => {}
        }
    }

    fn respond_batch(&mut self, batch: InboundBatch) {
        let (channel, response) = batch.finish();
        if self
            .swarm
            .behaviour_mut()
            .batch
            .send_response(channel, response)
            .is_ok()
        {
            self.unflushed_responses += 1;
        }
    }

    fn respond(&mut self, channel: ResponseChannel<TaskResponse>, response: TaskResponse) {
        if self
            .swarm
            .behaviour_mut()
            .task
            .send_response(channel, response)
            .is_ok()
        {
            self.unflushed_responses += 1;
        }
    }

    fn on_status_event(
        &mut self,
        event: request_response::Event<crate::protocol::StatusRequest, NodeStatus>,
    ) {
        match event {
            request_response::Event::Message {
                message: request_response::Message::Request { channel, .. },
                ..
            } => {
                if let Some(status) = self.current_status() {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .status
                        .send_response(channel, status);
                }
            }
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                self.registry.update(peer, response.clone(), Instant::now());
                answer(&mut self.pending_status, request_id, Ok(response));
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                self.registry.remove(&peer);
                answer(
                    &mut self.pending_status,
                    request_id,
                    Err(describe_failure(peer, &error)),
                );
            }
            request_response::Event::InboundFailure { .. }
            | request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::WaitForRelay(reply) => match &self.relay {
                None => {
                    let _ = reply.send(Err(NetError::NoRelay));
                }
                Some(relay) if relay.connected => {
                    let _ = reply.send(Ok(relay.peer_id));
                }
                Some(_) => self.relay_waiters.push(reply),
            },
            Command::DiscoverRendezvous(reply) => match &self.relay {
                Some(relay) if relay.connected => {
                    let relay = relay.peer_id;
                    self.discovery
                        .discover(self.swarm.behaviour_mut(), relay, reply);
                }
                Some(_) => {
                    let _ = reply.send(Err(NetError::Failed("not connected to the relay".into())));
                }
                None => {
                    let _ = reply.send(Err(NetError::NoRelay));
                }
            },
            Command::FindProviders(reply) => {
                self.discovery
                    .find_providers(self.swarm.behaviour_mut(), reply);
            }
            Command::QueryStatus(peer, reply) => {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .status
                    .send_request(&peer, Default::default());
                self.pending_status.insert(id, reply);
            }
            Command::SendTask(peer, task, reply) => {
                let id = self.swarm.behaviour_mut().task.send_request(&peer, task);
                self.pending_tasks.insert(id, reply);
            }
            Command::SendBatch(peer, batch, reply) => {
                let id = self.swarm.behaviour_mut().batch.send_request(&peer, batch);
                self.pending_batches.insert(id, reply);
            }
            Command::Registry(reply) => {
                self.registry.expire(Instant::now());
                let _ = reply.send(Ok(self.registry.snapshot()));
            }
            Command::SetStatus(status) => {
                // Announced on the next tick: a busy node changes status twice per task, and
                // signing and publishing each change would cost more than a trivial task.
                self.status_changed |= self.own_status.as_ref() != Some(&status);
                self.own_status = Some(status);
            }
            Command::ReportProgress(submitter, report) => {
                self.swarm
                    .behaviour_mut()
                    .progress
                    .send_request(&submitter, report);
            }
            Command::Shutdown(reply) => self.start_draining(reply),
        }
    }

    fn on_heartbeat(&mut self) {
        self.registry.expire(Instant::now());
        if self.draining.is_some() {
            return;
        }
        self.announce();
    }

    /// Publish this node's status. Publishing fails until a subscriber is known; the
    /// heartbeat retries, so the first announcement is never lost for good.
    fn announce(&mut self) {
        let Some(status) = self.current_status() else {
            return;
        };
        let data = to_cbor(&status);
        match self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(gossipsub::IdentTopic::new(STATUS_TOPIC), data)
        {
            Ok(_) => {}
            Err(e) => tracing::debug!("status not announced yet: {e}"),
        }
    }

    /// This node's status with its addresses as they are now.
    fn current_status(&self) -> Option<NodeStatus> {
        let mut status = self.own_status.clone()?;
        status.addrs = self
            .swarm
            .external_addresses()
            .map(ToString::to_string)
            .collect();
        Some(status)
    }

    fn start_draining(&mut self, reply: Reply<()>) {
        if let Some(status) = &mut self.own_status {
            status.state = NodeState::Stopping;
            status.free_slots = 0;
            self.announce();
        }
        let relay = self.relay_peer().filter(|_| self.is_node);
        if self.is_node {
            self.discovery.leave(self.swarm.behaviour_mut(), relay);
        }
        let inbound: Vec<_> = self.inbound.drain().map(|(_, work)| work).collect();
        for work in inbound {
            match work {
                Inbound::Task(channel) => self.respond(channel, stopping_error()),
                Inbound::Batch(_, mut batch) => {
                    batch.record(stopping_error());
                    self.respond_batch(batch);
                }
            }
        }
        self.draining = Some((Instant::now() + DRAIN_LIMIT, reply));
    }

    /// Whether a stopping peer has flushed its last answers (or waited long enough).
    fn drained(&mut self) -> bool {
        let Some((deadline, _)) = &self.draining else {
            return false;
        };
        if self.unflushed_responses > 0 && Instant::now() < *deadline {
            return false;
        }
        if let Some((_, reply)) = self.draining.take() {
            let _ = reply.send(Ok(()));
        }
        true
    }
}

/// Hand an outbound request's outcome to whoever is waiting for it.
fn answer<T>(
    pending: &mut HashMap<OutboundRequestId, Reply<T>>,
    id: OutboundRequestId,
    outcome: Result<T, NetError>,
) {
    if let Some(reply) = pending.remove(&id) {
        let _ = reply.send(outcome);
    }
}

fn stopping_error() -> TaskResponse {
    TaskResponse::error(
        ErrorKind::Rejected,
        "the node is shutting down; the task did not finish",
    )
}

fn describe_failure(peer: PeerId, error: &OutboundFailure) -> NetError {
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
