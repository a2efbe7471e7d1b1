//! The composed `NetworkBehaviour` of every PWS peer and the construction of its swarm.
//!
//! All three roles run the same behaviour so they interoperate by construction; the parts
//! only the relay serves (rendezvous server, circuit relay server) are toggled on by role.

use std::num::NonZeroU32;
use std::time::Duration;

use anyhow::{Context, Result};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    Swarm, SwarmBuilder, connection_limits, dcutr, gossipsub, identify, kad, noise, ping, relay,
    rendezvous,
};

use crate::arrival::ArrivalDeadline;
use crate::gate::{Admitted, Gate, PerAddress};
use crate::identity::Identity;
use crate::protocol::{
    ADMISSION_PROTOCOL, AdmissionRequest, AdmissionResponse, BATCH_PROTOCOL, BatchResponse,
    IDENTIFY_PROTOCOL_VERSION, KAD_PROTOCOL, MAX_BATCH_RESPONSE_BYTES, MAX_STATUS_BYTES,
    MAX_TASK_REQUEST_BYTES, MAX_TASK_RESPONSE_BYTES, NodeStatus, PROGRESS_PROTOCOL, ProgressAck,
    ProgressReport, STATUS_PROTOCOL, StatusRequest, TASK_PROTOCOL, TaskBatch, TaskRequest,
    TaskResponse,
};
use crate::transport::TransportKind;

/// What a peer is in the network; decides which behaviours serve and which only ask.
#[derive(Debug, Clone)]
pub enum Role {
    Relay(RelayLimits),
    Node,
    Submitter,
}

/// Limits of the circuit relay. libp2p's defaults (128 KiB and 2 minutes per circuit) suit a
/// hole punch, not task traffic of a node that is only reachable through the relay; no limit
/// at all would make the relay a free anonymous tunnel. These fit task traffic (4 MiB
/// requests, answers up to 32 MiB, a job's worth of them per circuit) and little else.
#[derive(Debug, Clone)]
pub struct RelayLimits {
    pub max_reservations: usize,
    pub max_reservations_per_peer: usize,
    pub max_circuits: usize,
    pub max_circuits_per_peer: usize,
    /// Bytes per circuit and direction; 0 means unlimited.
    pub max_circuit_bytes: u64,
    pub max_circuit_duration: Duration,
    /// Incoming connections established at once: every node and browser tab keeps one.
    pub max_connections: u32,
}

impl Default for RelayLimits {
    fn default() -> Self {
        Self {
            max_reservations: 1024,
            max_reservations_per_peer: 2,
            max_circuits: 1024,
            max_circuits_per_peer: 64,
            max_circuit_bytes: 256 * 1024 * 1024,
            max_circuit_duration: Duration::from_secs(30 * 60),
            max_connections: 16384,
        }
    }
}

/// A token bucket of libp2p's relay rate limiters: `burst` tokens, one more every `refill`.
struct Rate {
    burst: u32,
    refill: Duration,
}

/// Reservations one peer may make: nodes re-reserve after each relay restart and on every
/// new connection, so a burst of them passes.
const RESERVATIONS_PER_PEER: Rate = Rate {
    burst: 20,
    refill: Duration::from_secs(10),
};
/// Reservations from one IP address: room for many nodes behind one NAT re-reserving at once,
/// not for one host making hundreds of identities.
const RESERVATIONS_PER_IP: Rate = Rate {
    burst: 64,
    refill: Duration::from_secs(10),
};
/// Circuits one peer may open: a submitter opens one to each relayed node of its job.
const CIRCUITS_PER_PEER: Rate = Rate {
    burst: 128,
    refill: Duration::from_secs(1),
};
/// Circuits opened from one IP address.
const CIRCUITS_PER_IP: Rate = Rate {
    burst: 256,
    refill: Duration::from_millis(500),
};

/// Connections from one IP address that may use the rendezvous server (a node registers
/// once per connection, a submitter discovers once per run): room for many nodes behind one
/// NAT, not for one host registering hundreds of identities.
const RENDEZVOUS_PER_IP: Rate = Rate {
    burst: 128,
    refill: Duration::from_millis(250),
};

impl RelayLimits {
    fn to_config(&self) -> relay::Config {
        let burst = |rate: &Rate| NonZeroU32::new(rate.burst).expect("bursts are positive");
        relay::Config {
            max_reservations: self.max_reservations,
            max_reservations_per_peer: self.max_reservations_per_peer,
            max_circuits: self.max_circuits,
            max_circuits_per_peer: self.max_circuits_per_peer,
            max_circuit_bytes: self.max_circuit_bytes,
            max_circuit_duration: self.max_circuit_duration,
            reservation_rate_limiters: Vec::new(),
            circuit_src_rate_limiters: Vec::new(),
            ..relay::Config::default()
        }
        .reservation_rate_per_peer(burst(&RESERVATIONS_PER_PEER), RESERVATIONS_PER_PEER.refill)
        .reservation_rate_per_ip(burst(&RESERVATIONS_PER_IP), RESERVATIONS_PER_IP.refill)
        .circuit_src_per_peer(burst(&CIRCUITS_PER_PEER), CIRCUITS_PER_PEER.refill)
        .circuit_src_per_ip(burst(&CIRCUITS_PER_IP), CIRCUITS_PER_IP.refill)
    }
}

/// Shortest registration TTL the relay's rendezvous server accepts, in seconds. libp2p's
/// default minimum is two hours, which would leave dead nodes listed for that long.
pub const MIN_REGISTRATION_TTL: u64 = 30;
/// Longest registration TTL the relay accepts, in seconds (libp2p's default is 72 h): a
/// registration that is not renewed is gone within hours.
pub const MAX_REGISTRATION_TTL: u64 = 4 * 60 * 60;
/// Registrations (namespaces) one peer may hold at the relay; PWS nodes use one.
pub const MAX_REGISTRATIONS_PER_PEER: usize = 4;

/// Connections one peer may hold to us at once: a direct one, a relayed one and the upgrade
/// of a hole punch, with one to spare.
pub const MAX_CONNECTIONS_PER_PEER: u32 = 4;
/// Incoming connections still in their handshake at once.
pub const MAX_PENDING_INCOMING: u32 = 256;
/// Incoming connections established at once, for a node or submitter; the relay takes
/// [`RelayLimits::max_connections`].
pub const MAX_ESTABLISHED_INCOMING: u32 = 1024;
/// Past this share of the machine's memory in use by this process, new connections are
/// refused (the ones open go on).
pub const MAX_MEMORY_FRACTION: f64 = 0.5;
/// A task or batch request must arrive whole within this time after its stream opened; the
/// node's answer may take much longer (the request timeout below).
pub const REQUEST_ARRIVAL_DEADLINE: Duration = Duration::from_secs(20);
/// Task or batch streams at once per connection and protocol, both directions together:
/// with [`MAX_CONNECTIONS_PER_PEER`], what one peer can make a node read at once is bounded
/// (each request up to 4 MiB until its arrival deadline).
pub const MAX_TASK_STREAMS_PER_CONNECTION: usize = 32;

/// Refuses new connections while this process uses too much memory. The browser gives a page
/// no way to measure it, so there it does nothing.
#[cfg(not(target_arch = "wasm32"))]
type MemoryLimits = libp2p::memory_connection_limits::Behaviour;
#[cfg(target_arch = "wasm32")]
type MemoryLimits = libp2p::swarm::dummy::Behaviour;

#[cfg(not(target_arch = "wasm32"))]
fn memory_limits() -> MemoryLimits {
    MemoryLimits::with_max_percentage(MAX_MEMORY_FRACTION)
}

#[cfg(target_arch = "wasm32")]
fn memory_limits() -> MemoryLimits {
    libp2p::swarm::dummy::Behaviour
}

fn connection_limits(role: &Role) -> connection_limits::Behaviour {
    let established_incoming = match role {
        Role::Relay(limits) => limits.max_connections,
        Role::Node | Role::Submitter => MAX_ESTABLISHED_INCOMING,
    };
    connection_limits::Behaviour::new(
        connection_limits::ConnectionLimits::default()
            .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER))
            .with_max_pending_incoming(Some(MAX_PENDING_INCOMING))
            .with_max_established_incoming(Some(established_incoming)),
    )
}

/// The codec of the task and batch protocols: CBOR within the size limits, every inbound
/// request under the arrival deadline.
type TaskCodec<Request, Response> =
    ArrivalDeadline<request_response::cbor::codec::Codec<Request, Response>>;

fn task_codec<Request, Response>(max_response: u64) -> TaskCodec<Request, Response> {
    ArrivalDeadline::new(
        request_response::cbor::codec::Codec::default()
            .set_request_size_maximum(MAX_TASK_REQUEST_BYTES)
            .set_response_size_maximum(max_response),
        REQUEST_ARRIVAL_DEADLINE,
    )
}

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub connection_limits: connection_limits::Behaviour,
    pub memory_limits: MemoryLimits,
    pub relay_client: relay::client::Behaviour,
    pub relay_server: Toggle<Gate<relay::Behaviour>>,
    pub rendezvous_server: Toggle<Gate<rendezvous::server::Behaviour>>,
    pub rendezvous_client: rendezvous::client::Behaviour,
    pub dcutr: dcutr::Behaviour,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    pub gossipsub: gossipsub::Behaviour,
    pub task: request_response::Behaviour<TaskCodec<TaskRequest, TaskResponse>>,
    pub batch: request_response::Behaviour<TaskCodec<TaskBatch, BatchResponse>>,
    pub status: request_response::cbor::Behaviour<StatusRequest, NodeStatus>,
    pub progress: request_response::cbor::Behaviour<ProgressReport, ProgressAck>,
    pub admission: request_response::cbor::Behaviour<AdmissionRequest, AdmissionResponse>,
}

/// Build the swarm of a peer with `role`, speaking the transports in `kinds`.
#[cfg(not(target_arch = "wasm32"))]
pub fn build(
    identity: &Identity,
    role: &Role,
    kinds: &[TransportKind],
    status_topic: &gossipsub::IdentTopic,
    admitted: &Admitted,
    authors: Option<gossipsub::SourceFilter>,
    metrics: Option<&mut prometheus_client::registry::Registry>,
) -> Result<Swarm<Behaviour>> {
    let transport = crate::transport::build(identity, kinds)?;
    // Bytes are counted either way (an atomic add per read or write); unregistered, nobody
    // reads them.
    let mut unregistered = prometheus_client::registry::Registry::default();
    let swarm = SwarmBuilder::with_existing_identity(identity.keypair.clone())
        .with_tokio()
        .with_other_transport(|_| transport)?
        .with_dns()?
        .with_relay_client(noise::Config::new, crate::transport::yamux_config)?
        .with_bandwidth_metrics(metrics.unwrap_or(&mut unregistered))
        .with_behaviour(behaviour_of(role, status_topic, admitted, authors))
        .map_err(|e| anyhow::anyhow!("cannot build the network behaviour: {e}"))?
        .with_swarm_config(|config| config.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build();
    Ok(swarm)
}

/// Build the swarm of a browser peer: WebRTC-direct through the browser's own stack is its
/// only direct transport, circuit relay the way others reach it.
#[cfg(target_arch = "wasm32")]
pub fn build(
    identity: &Identity,
    role: &Role,
    _kinds: &[TransportKind],
    status_topic: &gossipsub::IdentTopic,
    admitted: &Admitted,
    authors: Option<gossipsub::SourceFilter>,
    // A page serves no metrics.
    _metrics: Option<&mut prometheus_client::registry::Registry>,
) -> Result<Swarm<Behaviour>> {
    use libp2p::webrtc_websys;
    let swarm = SwarmBuilder::with_existing_identity(identity.keypair.clone())
        .with_wasm_bindgen()
        .with_other_transport(|key| {
            let webrtc = webrtc_websys::Transport::new(webrtc_websys::Config::new(key));
            // A direct dial to a node the page cannot reach fails in seconds, not the
            // browser's ICE timeout.
            libp2p::core::transport::timeout::TransportTimeout::with_outgoing_timeout(
                webrtc,
                crate::transport::CONNECT_TIMEOUT,
            )
        })?
        .with_relay_client(noise::Config::new, crate::transport::yamux_config)?
        .with_behaviour(behaviour_of(role, status_topic, admitted, authors))
        .map_err(|e| anyhow::anyhow!("cannot build the network behaviour: {e}"))?
        .with_swarm_config(|config| config.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build();
    Ok(swarm)
}

const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// The swarm builder's behaviour constructor for `role`.
fn behaviour_of<'a>(
    role: &'a Role,
    status_topic: &'a gossipsub::IdentTopic,
    admitted: &'a Admitted,
    authors: Option<gossipsub::SourceFilter>,
) -> impl FnOnce(&libp2p::identity::Keypair, relay::client::Behaviour) -> Result<Behaviour, BuildError>
+ 'a {
    move |key, relay_client| {
        behaviour(key, relay_client, role, status_topic, admitted, authors)
            .map_err(BuildError::from)
    }
}

fn behaviour(
    key: &libp2p::identity::Keypair,
    relay_client: relay::client::Behaviour,
    role: &Role,
    status_topic: &gossipsub::IdentTopic,
    admitted: &Admitted,
    authors: Option<gossipsub::SourceFilter>,
) -> Result<Behaviour> {
    let peer_id = key.public().to_peer_id();
    let (relay_server, rendezvous_server) = match role {
        Role::Relay(limits) => (
            Some(Gate::new(
                relay::Behaviour::new(peer_id, limits.to_config()),
                admitted.clone(),
            )),
            Some(Gate::new(
                rendezvous::server::Behaviour::new(
                    rendezvous::server::Config::default()
                        .with_min_ttl(MIN_REGISTRATION_TTL)
                        .with_max_ttl(MAX_REGISTRATION_TTL)
                        .with_max_registration_per_peer(MAX_REGISTRATIONS_PER_PEER),
                ),
                (
                    PerAddress::new(RENDEZVOUS_PER_IP.burst, RENDEZVOUS_PER_IP.refill),
                    admitted.clone(),
                ),
            )),
        ),
        Role::Node | Role::Submitter => (None, None),
    };

    let mut kad_config = kad::Config::new(KAD_PROTOCOL);
    kad_config.set_query_timeout(Duration::from_secs(10));
    let mut kad =
        kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad_config);
    // On loopback and LANs no external address is ever confirmed, so Kademlia would stay a
    // client everywhere; relay and nodes must answer queries.
    kad.set_mode(Some(match role {
        Role::Relay(_) | Role::Node => kad::Mode::Server,
        Role::Submitter => kad::Mode::Client,
    }));

    // Every announcement is checked (peer::on_status_announcement) before it is passed on;
    // a relay refuses unregistered authors' before even checking their signatures.
    let mut gossipsub_config = gossipsub::ConfigBuilder::default();
    gossipsub_config
        .heartbeat_interval(Duration::from_millis(500))
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .max_transmit_size(MAX_STATUS_BYTES as usize);
    if let Some(authors) = authors {
        gossipsub_config.source_filter(authors);
    }
    let mut gossipsub = gossipsub::Behaviour::new(
        gossipsub::MessageAuthenticity::Signed(key.clone()),
        gossipsub_config
            .build()
            .context("invalid gossipsub configuration")?,
    )
    .map_err(|e| anyhow::anyhow!("cannot create gossipsub: {e}"))?;
    let (params, thresholds) = crate::status::score_params(status_topic.hash());
    gossipsub
        .with_peer_score(params, thresholds)
        .map_err(|e| anyhow::anyhow!("invalid gossipsub peer scoring: {e}"))?;

    let (task_support, status_support, progress_support) = match role {
        Role::Node => (
            ProtocolSupport::Inbound,
            ProtocolSupport::Inbound,
            ProtocolSupport::Outbound,
        ),
        Role::Submitter => (
            ProtocolSupport::Outbound,
            ProtocolSupport::Outbound,
            ProtocolSupport::Inbound,
        ),
        Role::Relay(_) => (
            ProtocolSupport::Outbound,
            ProtocolSupport::Outbound,
            ProtocolSupport::Outbound,
        ),
    };
    // Long tasks are bounded by the node's own limits, not by the network layer; how long a
    // request may take to arrive is bounded by the codec.
    let task_config = request_response::Config::default()
        .with_request_timeout(Duration::from_secs(24 * 60 * 60))
        .with_max_concurrent_streams(MAX_TASK_STREAMS_PER_CONNECTION);
    let task = request_response::Behaviour::with_codec(
        task_codec(MAX_TASK_RESPONSE_BYTES),
        [(TASK_PROTOCOL, task_support.clone())],
        task_config.clone(),
    );
    let batch = request_response::Behaviour::with_codec(
        task_codec(MAX_BATCH_RESPONSE_BYTES),
        [(BATCH_PROTOCOL, task_support)],
        task_config,
    );
    let status = request_response::Behaviour::with_codec(
        request_response::cbor::codec::Codec::default()
            .set_request_size_maximum(MAX_STATUS_BYTES)
            .set_response_size_maximum(MAX_STATUS_BYTES),
        [(STATUS_PROTOCOL, status_support)],
        request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
    );

    let progress = request_response::Behaviour::with_codec(
        request_response::cbor::codec::Codec::default()
            .set_request_size_maximum(MAX_STATUS_BYTES)
            .set_response_size_maximum(MAX_STATUS_BYTES),
        [(PROGRESS_PROTOCOL, progress_support)],
        request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
    );
    let admission = request_response::Behaviour::with_codec(
        request_response::cbor::codec::Codec::default()
            .set_request_size_maximum(MAX_STATUS_BYTES)
            .set_response_size_maximum(MAX_STATUS_BYTES),
        [(
            ADMISSION_PROTOCOL,
            match role {
                Role::Relay(_) => ProtocolSupport::Inbound,
                Role::Node | Role::Submitter => ProtocolSupport::Outbound,
            },
        )],
        request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
    );

    Ok(Behaviour {
        connection_limits: connection_limits(role),
        memory_limits: memory_limits(),
        relay_client,
        relay_server: relay_server.into(),
        rendezvous_server: rendezvous_server.into(),
        rendezvous_client: rendezvous::client::Behaviour::new(key.clone()),
        dcutr: dcutr::Behaviour::new(peer_id),
        identify: identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL_VERSION.to_string(), key.public())
                .with_agent_version(format!("pws/{}", env!("CARGO_PKG_VERSION"))),
        ),
        ping: ping::Behaviour::default(),
        kad,
        gossipsub,
        task,
        batch,
        status,
        progress,
        admission,
    })
}
