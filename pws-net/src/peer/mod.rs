//! The event loop: the one place that owns the swarm. It is a dispatcher — each swarm event,
//! command and timer goes to the part that owns it: the link to the relay
//! ([`relay_link`]), work asked of this peer ([`inbound`]), requests it awaits
//! ([`outbound`]), its own status ([`announce`]), a relay's admission of the peers of its
//! private network ([`admission`]), discovery and the registry.
//!
//! What it reports goes out on [`Peer::events`] and is never dropped: the loop waits until
//! there is room. The owner must therefore keep reading events, and never wait on the event
//! loop while it does not (a node sets its status through a watch channel for that reason).

mod admission;
mod announce;
mod dial_failure;
mod direct;
mod hole_punch;
mod inbound;
mod outbound;
mod registered;
mod relay_link;
mod relays;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use libp2p::request_response::{self, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId, Swarm, gossipsub, identify};
use tokio::sync::{mpsc, oneshot, watch};

pub use crate::access::Access;
use crate::client::{Client, Command, NetError, Reply};
use crate::discovery::Discovery;
use crate::gate::Admitted;
use crate::grant::SignedGrant;
use crate::identity::Identity;
use crate::metrics::{NetMetrics, Refusals, SharedRegistry};
use crate::protocol::{
    AdmissionRequest, AdmissionResponse, BatchResponse, KAD_PROTOCOL, NodeStatus, ProgressAck,
    ProgressReport, TaskBatch, TaskRequest, TaskResponse, from_cbor,
};
use crate::rt::{self, Instant, Ticker};
use crate::shipments::Shipments;
use crate::status::{self, HEARTBEAT, Registry};
use crate::swarm::{self, Behaviour, BehaviourEvent, Role};
use crate::transport::TransportKind;
use admission::Admissions;
use announce::Announcer;
use direct::DirectFirst;
use hole_punch::HolePunches;
use inbound::Inbound;
use outbound::{Outbound, Pending};
pub(crate) use registered::Registered;
use relays::Relays;

/// What a peer is and where it connects.
pub struct PeerConfig {
    pub role: Role,
    pub identity: Identity,
    /// Transports this peer speaks.
    pub transports: Vec<TransportKind>,
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// The relays to join, each with its `/p2p/<id>` (none: a relay itself, or a peer that
    /// dials nodes directly).
    pub relays: Vec<Multiaddr>,
    /// The network: open, or private (its names, this peer's grant, who is let in).
    pub access: Access,
    /// Where to keep the network's metrics (none: not measured).
    pub metrics: Option<SharedRegistry>,
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
    /// A submitter asks this node to do some work (nodes only). Answer through the work's
    /// reply; dropping it answers `rejected` (the node is stopping).
    Work { from: PeerId, work: Work },
    /// The last connection to this peer closed: its work has nobody left to answer (nodes
    /// only).
    PeerGone(PeerId),
    /// A node reported how far one of our tasks has come.
    Progress(ProgressReport),
}

/// One request a node serves, whole.
#[derive(Debug)]
pub enum Work {
    Task {
        task: TaskRequest,
        reply: oneshot::Sender<TaskResponse>,
    },
    /// Tasks with one source, to run one after another and answer together, in order.
    Batch {
        batch: TaskBatch,
        reply: oneshot::Sender<BatchResponse>,
    },
}

/// A running peer: its command handle and its event stream.
pub struct Peer {
    pub client: Client,
    pub events: mpsc::Receiver<Event>,
    /// Requests refused; the network refuses some before they are [`Event::Work`], the
    /// node the rest.
    pub refusals: Refusals,
}

/// How long a stopping peer waits for its last answers to leave.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);
/// How long a stopping peer then lets the peers it answered take their answers and leave.
const LINGER_LIMIT: Duration = Duration::from_secs(1);
/// How long a stopping peer then waits for its connections to close.
const CLOSE_LIMIT: Duration = Duration::from_secs(1);
/// Status changes are announced at most this often, and timers are checked as often.
const TICK: Duration = Duration::from_millis(100);

/// Start the event loop of a peer on the current runtime (tokio, or the page's).
pub fn spawn(config: PeerConfig) -> Result<Peer> {
    let status_topic = config.access.status_topic();
    // A relay of a private network lets only admitted peers use its services.
    let admitted = match (&config.role, config.access.owner()) {
        (Role::Relay(_), Some(_)) => Admitted::members_only(),
        _ => Admitted::everyone(),
    };
    let refusals = Refusals::default();
    let is_relay = matches!(config.role, Role::Relay(_));
    let registered = is_relay.then(Registered::default);
    let mut registry = config
        .metrics
        .as_ref()
        .map(|shared| shared.lock().expect("metrics registry lock"));
    let metrics = registry
        .as_deref_mut()
        .map(|registry| NetMetrics::register(registry, &refusals, registered.as_ref()));
    let mut swarm = swarm::build(
        &config.identity,
        &config.role,
        &config.transports,
        &status_topic,
        &admitted,
        registered.as_ref().map(Registered::source_filter),
        registry.as_deref_mut(),
    )?;
    drop(registry);
    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .with_context(|| format!("cannot listen on {addr}"))?;
    }
    // Nodes only publish (to the relay, which passes announcements on): the registry is the
    // submitters' and the relay's, and a node spends nothing on other nodes' announcements.
    if !matches!(config.role, Role::Node) {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&status_topic)
            .map_err(|e| anyhow::anyhow!("cannot subscribe to the status topic: {e}"))?;
    }
    let mut relays = Relays::new(&config.relays, &config.access)?;
    for relay in relays.links_mut() {
        let (peer_id, addr) = (relay.peer_id(), relay.addr().clone());
        swarm.behaviour_mut().kad.add_address(&peer_id, addr);
        relay.start(&mut swarm, !config.listen.is_empty());
    }
    let (command_tx, commands) = mpsc::channel(64);
    let (event_tx, events) = mpsc::channel(64);
    let (status_tx, status) = watch::channel(None);
    let client = Client {
        commands: command_tx,
        status: Arc::new(status_tx),
        local_peer_id: *swarm.local_peer_id(),
        shipments: Shipments::default(),
    };
    let is_node = matches!(config.role, Role::Node);
    let admissions = is_relay.then(|| Admissions::new(config.access.clone(), admitted));
    let browser_submitter = cfg!(target_arch = "wasm32") && matches!(config.role, Role::Submitter);
    let direct = DirectFirst::new(browser_submitter, &config.relays);
    let event_loop = EventLoop {
        admissions,
        registered,
        swarm,
        role: config.role,
        relays,
        inbound: Inbound::new(is_node, config.access.clone(), refusals.clone()),
        outbound: Outbound::default(),
        announcer: Announcer::new(status, status_topic, config.access.own_grant().cloned()),
        discovery: Discovery::new(&config.access),
        direct,
        hole_punches: HolePunches::default(),
        registry: Registry::new(config.access.clone()),
        own_grant: config.access.own_grant().cloned(),
        commands,
        events: event_tx,
        outbox: Vec::new(),
        draining: None,
        metrics,
    };
    rt::spawn(event_loop.run());
    Ok(Peer {
        client,
        events,
        refusals,
    })
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    /// A relay's admission of the peers of its network.
    admissions: Option<Admissions>,
    /// A relay's rendezvous registrations: only these peers' announcements travel on.
    registered: Option<Registered>,
    role: Role,
    relays: Relays,
    inbound: Inbound,
    outbound: Outbound,
    announcer: Announcer,
    discovery: Discovery,
    /// A browser's direct dials to native nodes.
    direct: DirectFirst,
    hole_punches: HolePunches,
    registry: Registry,
    /// This peer's grant of its private network, shown with each task and batch it sends.
    own_grant: Option<SignedGrant>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    /// Events produced by the last step, sent before the next one.
    outbox: Vec<Event>,
    /// Set once stopping.
    draining: Option<Draining>,
    metrics: Option<NetMetrics>,
}

impl EventLoop {
    async fn run(mut self) {
        let mut heartbeat = Ticker::new(HEARTBEAT);
        let mut tick = Ticker::new(TICK);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => {
                    if let Some(metrics) = &mut self.metrics {
                        metrics.on_swarm_event(&event, &self.swarm);
                    }
                    self.on_swarm_event(event);
                }
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    // Every client is gone: nobody can use this peer any more.
                    None => return,
                },
                answer = self.inbound.next_answer() => {
                    self.inbound.respond(self.swarm.behaviour_mut(), answer);
                }
                open = self.announcer.status_set() => if !open {
                    return;
                },
                _ = heartbeat.tick() => self.on_heartbeat(),
                _ = tick.tick() => self.on_tick(),
            }
            for event in self.outbox.drain(..) {
                // Waits for room: an event is never dropped. A closed channel means the
                // owner is gone, and with it anyone to tell.
                let _ = self.events.send(event).await;
            }
            self.relays.answer_waiters();
            // Checked after every step, so that a stopping peer is done as soon as its last
            // connection closes.
            if self.drained() {
                return;
            }
        }
    }

    fn is_node(&self) -> bool {
        matches!(self.role, Role::Node)
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                if !matches!(self.role, Role::Submitter) {
                    self.swarm.add_external_address(address.clone());
                    self.discovery.addresses_changed();
                }
                self.outbox.push(Event::Listening(address));
                for relay in self.relays.links_mut() {
                    relay.on_listening(&mut self.swarm);
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
                for relay in self.relays.links_mut() {
                    relay.on_listener_closed(listener_id);
                }
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. } if self.relays.is_relay(peer_id) => {
                let is_node = self.is_node();
                if let Some(relay) = self.relays.link_mut(peer_id) {
                    relay.on_connected(
                        &mut self.swarm,
                        &mut self.discovery,
                        is_node,
                        &mut self.outbox,
                    );
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                self.hole_punches
                    .on_connection_established(peer_id, &endpoint);
                if let Some(admissions) = &mut self.admissions {
                    admissions.on_connected(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.hole_punches.on_peer_gone(&peer_id);
                if let Some(admissions) = &mut self.admissions {
                    admissions.on_disconnected(&peer_id);
                }
                // A stopping peer closed it itself: nothing was lost.
                let leaving = self.draining.is_some();
                if let Some(relay) = self.relays.link_mut(peer_id)
                    && !leaving
                {
                    relay.on_lost(&mut self.discovery, &mut self.outbox);
                }
                if self.is_node() {
                    self.outbox.push(Event::PeerGone(peer_id));
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer_id),
                error,
                ..
            } if self.relays.is_relay(peer_id) && !self.swarm.is_connected(&peer_id) => {
                tracing::debug!(relay = %peer_id, "relay dial failed: {error}");
                if let Some(relay) = self.relays.link_mut(peer_id) {
                    let definite = dial_failure::definite(&error);
                    relay.on_dial_failed(definite, &mut self.discovery, &mut self.outbox);
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer_id),
                ..
            } => self.direct.on_dial_failed(peer_id),
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::RendezvousClient(event) => {
                match &event {
                    libp2p::rendezvous::client::Event::Registered { .. } => {
                        self.outbox.push(Event::Registered);
                    }
                    libp2p::rendezvous::client::Event::Discovered { registrations, .. } => {
                        for registration in registrations {
                            let record = &registration.record;
                            self.direct.learn(record.peer_id(), record.addresses());
                        }
                    }
                    _ => {}
                }
                self.discovery.on_rendezvous_event(event);
            }
            BehaviourEvent::RendezvousServer(event) => {
                if let Some(registered) = &mut self.registered {
                    registered.on_rendezvous_event(&event);
                    if let Some(metrics) = &self.metrics {
                        metrics.set_registered(registered.peers());
                    }
                }
            }
            BehaviourEvent::Kad(event) => self.discovery.on_kad_event(event),
            BehaviourEvent::Dcutr(event) => self.hole_punches.on_event(event),
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })
                if info.protocols.contains(&KAD_PROTOCOL) =>
            {
                for addr in info.listen_addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                let outcome = self.on_status_announcement(propagation_source, message);
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(
                        &message_id,
                        &propagation_source,
                        status::acceptance(&outcome),
                    );
            }
            BehaviourEvent::Task(event) => self.on_work_event(
                event,
                |outbound| &mut outbound.tasks,
                |inbound, from, task, channel, outbox| inbound.on_task(from, task, channel, outbox),
            ),
            BehaviourEvent::Batch(event) => self.on_work_event(
                event,
                |outbound| &mut outbound.batches,
                |inbound, from, batch, channel, outbox| {
                    inbound.on_batch(from, batch, channel, outbox)
                },
            ),
            BehaviourEvent::Status(event) => self.on_status_event(event),
            BehaviourEvent::Admission(event) => self.on_admission_event(event),
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
                self.outbox.push(Event::Progress(request));
            }
            _ => {}
        }
    }

    /// Take an announcement into the registry if it is valid: signed by the node it is about
    /// (gossipsub checked the signature against `source`), first-hand, decodable and within
    /// bounds.
    fn on_status_announcement(
        &mut self,
        from: PeerId,
        message: gossipsub::Message,
    ) -> Result<(), status::Refusal> {
        let Some(source) = message.source else {
            return Err(status::Refusal::Invalid("an unsigned announcement".into()));
        };
        if !status::first_hand(source, from, self.relays.is_relay(from)) {
            tracing::debug!(%source, %from, "ignoring a second-hand status announcement");
            return Err(status::Refusal::SecondHand);
        }
        if self
            .registered
            .as_ref()
            .is_some_and(|registered| !registered.contains(&source))
        {
            return Err(status::Refusal::Unregistered);
        }
        let status = from_cbor::<NodeStatus>(&message.data)
            .map_err(|e| status::Refusal::Invalid(e.to_string()))?;
        let outcome = self.registry.update(source, status, Instant::now());
        if let Err(refusal) = &outcome {
            tracing::debug!(%source, "ignoring a status announcement: {refusal}");
        }
        outcome
    }

    /// The admission protocol: requests to a relay, answers to our own request.
    fn on_admission_event(
        &mut self,
        event: request_response::Event<AdmissionRequest, AdmissionResponse>,
    ) {
        let (peer, answer) = match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                if let Some(admissions) = &mut self.admissions {
                    admissions.on_request(self.swarm.behaviour_mut(), peer, request, channel);
                }
                return;
            }
            request_response::Event::Message {
                peer,
                message: request_response::Message::Response { response, .. },
                ..
            } => (peer, Ok(response)),
            request_response::Event::OutboundFailure { peer, error, .. } => {
                (peer, Err(error.to_string()))
            }
            _ => return,
        };
        let is_node = self.is_node();
        if let Some(relay) = self.relays.link_mut(peer) {
            relay.on_admission(
                answer,
                &mut self.swarm,
                &mut self.discovery,
                is_node,
                &mut self.outbox,
            );
        }
    }

    /// Events of the task and batch protocols: requests to serve go to [`Inbound`], answers
    /// to our own requests to whoever awaits them.
    fn on_work_event<Request, Response>(
        &mut self,
        event: request_response::Event<Request, Response>,
        pending: fn(&mut Outbound) -> &mut Pending<Response>,
        serve: fn(&mut Inbound, PeerId, Request, ResponseChannel<Response>, &mut Vec<Event>),
    ) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => serve(&mut self.inbound, peer, request, channel, &mut self.outbox),
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => outbound::answer(pending(&mut self.outbound), request_id, Ok(response)),
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                let error = outbound::work_failed(&mut self.registry, peer, &error);
                outbound::answer(pending(&mut self.outbound), request_id, Err(error));
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                self.inbound.on_failure(peer, &error);
            }
            request_response::Event::ResponseSent { .. } => self.inbound.on_response_sent(),
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
                if let Some(status) = self.announcer.current(&self.swarm) {
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
            } => self
                .outbound
                .on_status(&mut self.registry, peer, request_id, response),
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => self
                .outbound
                .on_status_failure(&mut self.registry, peer, request_id, &error),
            request_response::Event::InboundFailure { .. }
            | request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_command(&mut self, command: Command) {
        let behaviour = self.swarm.behaviour_mut();
        match command {
            Command::WaitForRelay(reply) => self.relays.wait(reply),
            Command::DiscoverRendezvous(reply) => match self.relays.connected().next() {
                Some(relay) => self.discovery.discover(behaviour, relay, reply),
                None if self.relays.peer_ids().is_empty() => {
                    let _ = reply.send(Err(NetError::NoRelay));
                }
                None => {
                    let _ = reply.send(Err(NetError::Failed("not connected to a relay".into())));
                }
            },
            Command::FindProviders(reply) => self.discovery.find_providers(behaviour, reply),
            Command::QueryStatus(node, reply) => {
                // The first contact with a node: a browser tries its direct address first.
                // Others dial it now with every address known, even if another dial is under
                // way (Kademlia's, say, begun before the node's relayed address was known):
                // a request would wait for that one, up to its whole connect allowance.
                if !self.swarm.is_connected(&node) {
                    let dial = self.direct.dial(node).unwrap_or_else(|| {
                        DialOpts::peer_id(node)
                            .condition(PeerCondition::Disconnected)
                            .build()
                    });
                    let _ = self.swarm.dial(dial);
                }
                (self.outbound).query_status(self.swarm.behaviour_mut(), node, reply);
            }
            Command::SendTask(node, mut task, reply) => {
                task.grant.clone_from(&self.own_grant);
                self.outbound.send_task(behaviour, node, task, reply);
            }
            Command::SendBatch(node, mut batch, reply) => {
                batch.grant.clone_from(&self.own_grant);
                self.outbound.send_batch(behaviour, node, batch, reply);
            }
            Command::Registry(reply) => {
                self.registry.expire(Instant::now());
                let _ = reply.send(Ok(self.registry.snapshot()));
            }
            Command::ReportProgress(submitter, report) => {
                behaviour.progress.send_request(&submitter, report);
            }
            Command::Shutdown { answered, reply } => self.start_draining(answered, reply),
        }
    }

    fn on_heartbeat(&mut self) {
        self.registry.expire(Instant::now());
        self.announcer.on_heartbeat(&mut self.swarm);
    }

    /// Timers: announce a changed status, redial or re-register when due.
    fn on_tick(&mut self) {
        self.announcer.on_tick(&mut self.swarm);
        if self.draining.is_some() {
            return;
        }
        if let Some(admissions) = &mut self.admissions {
            admissions.on_tick(&mut self.swarm);
        }
        for relay in self.relays.links_mut() {
            relay.redial_if_due(&mut self.swarm);
        }
        if self.is_node() && self.discovery.registration_due(Instant::now()) {
            let connected: Vec<PeerId> = self.relays.connected().collect();
            for relay in connected {
                self.discovery.register(self.swarm.behaviour_mut(), relay);
            }
        }
    }

    /// Leave cleanly: announce stopping, unregister, and once every request taken in has
    /// been answered and flushed (or [`DRAIN_LIMIT`] has passed), close every connection.
    fn start_draining(&mut self, mut answered: Vec<PeerId>, reply: Reply<()>) {
        self.announcer.stop(&mut self.swarm);
        if self.is_node() {
            let relays = self.relays.peer_ids();
            self.discovery.leave(self.swarm.behaviour_mut(), &relays);
        }
        answered.extend(self.inbound.waiting_peers());
        self.draining = Some(Draining {
            deadline: Instant::now() + DRAIN_LIMIT,
            reply,
            step: DrainStep::Answering,
            answered,
        });
    }

    /// Whether a stopping peer has flushed its last answers and closed its connections (or
    /// waited long enough for each).
    fn drained(&mut self) -> bool {
        let Some(draining) = &mut self.draining else {
            return false;
        };
        if draining.step == DrainStep::Answering {
            if !self.inbound.settled() && Instant::now() < draining.deadline {
                return false;
            }
            draining.step = DrainStep::Lingering;
            draining.deadline = Instant::now() + LINGER_LIMIT;
        }
        if draining.step == DrainStep::Lingering {
            // An answer written out may not have left yet: QUIC drops what it has not sent
            // when its connection closes. The peers answered leave once they have theirs.
            let answered_connected = draining
                .answered
                .iter()
                .any(|peer| self.swarm.is_connected(peer));
            if answered_connected && Instant::now() < draining.deadline {
                return false;
            }
            draining.step = DrainStep::Closing;
            draining.deadline = Instant::now() + CLOSE_LIMIT;
            let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
            for peer in peers {
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
        if self.swarm.connected_peers().next().is_some() && Instant::now() < draining.deadline {
            return false;
        }
        if let Some(draining) = self.draining.take() {
            let _ = draining.reply.send(Ok(()));
        }
        true
    }
}

/// A stopping peer. It waits for its last answers to leave, then closes every connection:
/// a process that just exits sends nothing on QUIC or WebRTC, and the other side would keep
/// its tasks running until its idle timeout.
struct Draining {
    /// Until when the current step may take.
    deadline: Instant,
    /// Who to tell once done.
    reply: Reply<()>,
    step: DrainStep,
    /// The peers that had requests with us when we began to stop, or had just been answered
    /// (a stopping node ends its work before it stops its peer).
    answered: Vec<PeerId>,
}

#[derive(PartialEq)]
enum DrainStep {
    /// Until every request taken in is answered and the answers written out.
    Answering,
    /// Until the peers answered have left.
    Lingering,
    /// The connections were asked to close.
    Closing,
}
