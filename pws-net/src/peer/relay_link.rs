//! The link to one relay: dial it (after the first listener is up, since native WebRTC dials
//! through its listener's socket), redial with backoff when it is lost, and — for a node —
//! reserve a relayed address, register at its rendezvous point and announce the node in the
//! DHT each time the connection opens.

use std::time::Duration;

use anyhow::Result;
use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId, Swarm};

use super::Event;
use crate::access::Access;
use crate::discovery::Discovery;
use crate::protocol::{AdmissionRequest, AdmissionResponse};
use crate::rt::Instant;
use crate::swarm::Behaviour;

const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(4);
/// Longest wait for a first listener before the relay is dialed anyway.
const FIRST_LISTENER_GRACE: Duration = Duration::from_secs(1);

pub(super) struct RelayLink {
    peer_id: PeerId,
    addr: Multiaddr,
    connected: bool,
    circuit_listener: Option<ListenerId>,
    backoff: Duration,
    redial_at: Option<Instant>,
    /// The relay has been dialed at least once.
    dialed_once: bool,
    /// In a private network: what this peer shows the relay on each connection before it
    /// uses the relay (its grant; none for the owner).
    admission: Option<AdmissionRequest>,
    /// The relay admitted this peer on the current connection (always, in the open network).
    admitted: bool,
    /// Why the relay cannot be used, when that is definite: the last dial was refused or
    /// unreachable, or the relay refused this peer. Cleared when a connection opens.
    failure: Option<String>,
}

impl RelayLink {
    /// A link to the relay at `addr`, which must end with `/p2p/<relay peer id>`.
    pub fn new(addr: &Multiaddr, access: &Access) -> Result<Self> {
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
            dialed_once: false,
            admission: access.owner().map(|_| AdmissionRequest {
                grant: access.own_grant().cloned(),
            }),
            admitted: false,
            failure: None,
        })
    }

    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    pub fn addr(&self) -> &Multiaddr {
        &self.addr
    }

    /// The relay's peer id while connected to it (and admitted by it).
    pub fn connected_peer(&self) -> Option<PeerId> {
        (self.connected && self.admitted).then_some(self.peer_id)
    }

    /// Dial now if this peer has nothing to listen on; else at its first listener (or after
    /// a grace period, in case none ever comes up).
    pub fn start(&mut self, swarm: &mut Swarm<Behaviour>, has_listeners: bool) {
        if has_listeners {
            self.redial_at = Some(Instant::now() + FIRST_LISTENER_GRACE);
        } else {
            self.dial(swarm);
        }
    }

    /// A listener came up: the first one releases the held first dial.
    pub fn on_listening(&mut self, swarm: &mut Swarm<Behaviour>) {
        if !self.dialed_once {
            self.dial(swarm);
        }
    }

    pub fn redial_if_due(&mut self, swarm: &mut Swarm<Behaviour>) {
        if self.redial_at.is_some_and(|at| Instant::now() >= at) {
            self.dial(swarm);
        }
    }

    fn dial(&mut self, swarm: &mut Swarm<Behaviour>) {
        self.dialed_once = true;
        self.redial_at = None;
        // A dial that stalled (seen with WebRTC under load) holds on until the transport's
        // timeout; the default condition would refuse every redial meanwhile.
        let opts = DialOpts::peer_id(self.peer_id)
            .condition(PeerCondition::Disconnected)
            .addresses(vec![self.addr.clone()])
            .build();
        if let Err(e) = swarm.dial(opts) {
            tracing::warn!("cannot dial the relay: {e}");
            self.schedule_redial();
        }
    }

    fn schedule_redial(&mut self) {
        self.redial_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// Why this relay cannot be used now, if that is definite.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// A connection to the relay opened: in a private network, show the relay our grant
    /// first; else it is ours to use.
    pub fn on_connected(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        discovery: &mut Discovery,
        is_node: bool,
        outbox: &mut Vec<Event>,
    ) {
        let first = !self.connected;
        self.connected = true;
        self.failure = None;
        self.backoff = MIN_BACKOFF;
        self.redial_at = None;
        if !first {
            return;
        }
        tracing::debug!(relay = %self.peer_id, "connected to the relay");
        match &self.admission {
            Some(request) => {
                let relay = self.peer_id;
                swarm
                    .behaviour_mut()
                    .admission
                    .send_request(&relay, request.clone());
            }
            None => self.on_admitted(swarm, discovery, is_node, outbox),
        }
    }

    /// The relay answered our admission request (`Err`: the request failed, e.g. a relay that
    /// does not speak the protocol: it introduces everyone).
    pub fn on_admission(
        &mut self,
        answer: Result<AdmissionResponse, String>,
        swarm: &mut Swarm<Behaviour>,
        discovery: &mut Discovery,
        is_node: bool,
        outbox: &mut Vec<Event>,
    ) {
        match answer {
            Ok(AdmissionResponse { refused: Some(why) }) => {
                tracing::warn!(relay = %self.peer_id, "the relay does not admit this peer: {why}");
                self.failure = Some(format!("the relay refused this peer: {why}"));
            }
            Ok(_) => self.on_admitted(swarm, discovery, is_node, outbox),
            Err(e) => {
                tracing::debug!("no admission answer ({e}); using the relay as an open one");
                self.on_admitted(swarm, discovery, is_node, outbox);
            }
        }
    }

    /// The relay lets this peer in. A node then reserves a relayed address, registers and
    /// announces itself in the DHT.
    fn on_admitted(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        discovery: &mut Discovery,
        is_node: bool,
        outbox: &mut Vec<Event>,
    ) {
        self.admitted = true;
        outbox.push(Event::Relay(true));
        if !is_node {
            return;
        }
        if self.circuit_listener.is_none() {
            match swarm.listen_on(self.addr.clone().with(Protocol::P2pCircuit)) {
                Ok(id) => self.circuit_listener = Some(id),
                Err(e) => tracing::warn!("cannot reserve a relayed address: {e}"),
            }
        }
        discovery.register(swarm.behaviour_mut(), self.peer_id);
        let kad = &mut swarm.behaviour_mut().kad;
        let _ = kad.bootstrap();
        if let Err(e) = kad.start_providing(discovery.provider_key()) {
            tracing::warn!("cannot announce this node in the DHT: {e}");
        }
    }

    /// A dial of the relay failed: `definite` says why when it was refused or unreachable
    /// (callers waiting for the network hear it at once). The link keeps redialing, as a
    /// relay may yet come up.
    pub fn on_dial_failed(
        &mut self,
        definite: Option<String>,
        discovery: &mut Discovery,
        outbox: &mut Vec<Event>,
    ) {
        self.failure = definite;
        self.on_lost(discovery, outbox);
    }

    /// The last connection to the relay closed, or a dial failed: try again after a backoff.
    pub fn on_lost(&mut self, discovery: &mut Discovery, outbox: &mut Vec<Event>) {
        if self.connected {
            tracing::warn!(relay = %self.peer_id, "lost the relay; reconnecting");
            outbox.push(Event::Relay(false));
        }
        self.connected = false;
        self.admitted = false;
        if self.redial_at.is_none() {
            self.schedule_redial();
        }
        discovery.fail_discovery("the connection to the relay closed");
    }

    /// The circuit listener closes with the relay connection; it is reopened on reconnection.
    pub fn on_listener_closed(&mut self, listener: ListenerId) {
        if self.circuit_listener == Some(listener) {
            self.circuit_listener = None;
        }
    }
}
