//! What a peer measures of its network, for Prometheus. libp2p's own metrics (connections,
//! protocol events, bandwidth by transport) are recorded as the event loop sees its events;
//! beside them the peers and connections held and, on a relay, the reservations, circuits and
//! rendezvous registrations it holds; and the requests a node refused, by reason.
//!
//! Everything lives in one [`SharedRegistry`] that the program creates, registers its own
//! metrics in, and serves in Prometheus' text format ([`route`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use libp2p::metrics::{Metrics, Recorder};
use libp2p::swarm::SwarmEvent;
use libp2p::{PeerId, Swarm, identify, relay};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::peer::Registered;
use crate::protocol::ErrorKind;
use crate::swarm::{Behaviour, BehaviourEvent};

/// The registry a program's metrics live in, shared by whoever records and whoever serves.
pub type SharedRegistry = Arc<Mutex<Registry>>;

/// A registry for a program's metrics.
pub fn registry() -> SharedRegistry {
    Arc::new(Mutex::new(Registry::default()))
}

/// Requests a node refused instead of running them, by reason (the error kind answered).
/// Counting is cheap and works unregistered, so a peer without metrics counts too.
#[derive(Clone, Default)]
pub struct Refusals(Family<ReasonLabel, Counter>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

impl Refusals {
    pub fn count(&self, kind: ErrorKind) {
        self.0
            .get_or_create(&ReasonLabel {
                reason: kind.as_str(),
            })
            .inc();
    }

    /// How many were refused for this reason.
    pub fn get(&self, kind: ErrorKind) -> u64 {
        self.0
            .get_or_create(&ReasonLabel {
                reason: kind.as_str(),
            })
            .get()
    }

    fn register(&self, registry: &mut Registry) {
        registry.register(
            "inbound_refusals",
            "Tasks and batches refused instead of run, by the error kind answered",
            self.0.clone(),
        );
    }
}

/// The event loop's metrics: libp2p's, and what the peer holds.
pub struct NetMetrics {
    libp2p: Metrics,
    peers: Gauge,
    connections: Gauge,
    /// A relay's only.
    relay: Option<RelayGauges>,
}

impl NetMetrics {
    /// Register the event loop's metrics (and `refusals`) in `registry`; a relay's too when
    /// it has `registered` peers.
    pub fn register(
        registry: &mut Registry,
        refusals: &Refusals,
        registered: Option<&Registered>,
    ) -> Self {
        let libp2p = Metrics::new(registry);
        let pws = registry.sub_registry_with_prefix("pws");
        refusals.register(pws);
        Self {
            libp2p,
            peers: gauge(pws, "peers", "Peers connected"),
            connections: gauge(pws, "connections", "Connections established"),
            relay: registered.map(|registered| {
                RelayGauges::register(pws.sub_registry_with_prefix("relay"), registered)
            }),
        }
    }

    pub fn on_swarm_event(&mut self, event: &SwarmEvent<BehaviourEvent>, swarm: &Swarm<Behaviour>) {
        self.libp2p.record(event);
        match event {
            SwarmEvent::ConnectionEstablished { .. } | SwarmEvent::ConnectionClosed { .. } => {
                let info = swarm.network_info();
                self.peers.set(info.num_peers() as i64);
                self.connections
                    .set(i64::from(info.connection_counters().num_established()));
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event, swarm),
            _ => {}
        }
        if let SwarmEvent::ConnectionClosed {
            peer_id,
            num_established: 0,
            ..
        } = event
            && let Some(relay) = &mut self.relay
        {
            relay.on_peer_gone(peer_id);
        }
    }

    fn on_behaviour_event(&mut self, event: &BehaviourEvent, swarm: &Swarm<Behaviour>) {
        match event {
            BehaviourEvent::Kad(event) => self.libp2p.record(event),
            BehaviourEvent::Gossipsub(event) => self.libp2p.record(event),
            // libp2p's identify metrics keep a peer's info until its last connection closes.
            // An identification can come out of the behaviour after that (a one-shot submitter
            // gone at once), and its info would be kept for good.
            BehaviourEvent::Identify(identify::Event::Received { peer_id, .. })
                if !swarm.is_connected(peer_id) => {}
            BehaviourEvent::Identify(event) => self.libp2p.record(event),
            BehaviourEvent::Ping(event) => self.libp2p.record(event),
            BehaviourEvent::Dcutr(event) => self.libp2p.record(event),
            BehaviourEvent::RelayServer(event) => {
                self.libp2p.record(event);
                if let Some(relay) = &mut self.relay {
                    relay.on_relay_event(event);
                }
            }
            _ => {}
        }
    }

    /// The relay's rendezvous point holds this many peers' registrations.
    pub fn set_registered(&self, peers: usize) {
        if let Some(relay) = &self.relay {
            relay.registered.set(peers as i64);
        }
    }
}

fn gauge(registry: &mut Registry, name: &str, help: &str) -> Gauge {
    let gauge = Gauge::default();
    registry.register(name, help, gauge.clone());
    gauge
}

/// What a relay holds.
struct RelayGauges {
    /// Peers holding a reservation (behind NAT or in browsers).
    reservations: Gauge,
    /// Who they are. libp2p's relay reports a closed reservation for every closed connection,
    /// reserved or not, so the count is kept by peer: a reservation ends when it times out
    /// or its peer's last connection closes.
    reserving: HashSet<PeerId>,
    circuits: Gauge,
    /// Peers registered at the rendezvous point.
    registered: Gauge,
}

impl RelayGauges {
    fn register(registry: &mut Registry, registered: &Registered) -> Self {
        registry.register(
            "unregistered_announcements",
            "Status announcements dropped unread: their authors are not registered here",
            registered.refused().clone(),
        );
        Self {
            reservations: gauge(registry, "reservations", "Peers holding a reservation"),
            reserving: HashSet::new(),
            circuits: gauge(registry, "circuits", "Circuits relayed now"),
            registered: gauge(
                registry,
                "registered_peers",
                "Peers registered at the rendezvous point",
            ),
        }
    }

    fn on_relay_event(&mut self, event: &relay::Event) {
        match event {
            relay::Event::ReservationReqAccepted { src_peer_id, .. } => {
                self.reserving.insert(*src_peer_id);
            }
            relay::Event::ReservationTimedOut { src_peer_id } => {
                self.reserving.remove(src_peer_id);
            }
            relay::Event::CircuitReqAccepted { .. } => {
                self.circuits.inc();
            }
            relay::Event::CircuitClosed { .. } => {
                self.circuits.dec();
            }
            _ => return,
        };
        self.reservations.set(self.reserving.len() as i64);
    }

    fn on_peer_gone(&mut self, peer: &PeerId) {
        self.reserving.remove(peer);
        self.reservations.set(self.reserving.len() as i64);
    }
}

/// The registry in Prometheus' classic text format (0.0.4), which every scraper reads and
/// `promtool check metrics` checks.
pub fn encode(registry: &SharedRegistry) -> String {
    let mut open_metrics = String::new();
    let registry = registry.lock().expect("metrics registry lock");
    prometheus_client::encoding::text::encode(&mut open_metrics, &registry)
        .expect("writing to a String cannot fail");
    classic_text(&open_metrics)
}

/// prometheus-client writes OpenMetrics, which differs from the classic format in what
/// matters here in three ways: a counter's family is named without the `_total` its samples
/// carry, units have `# UNIT` lines, and the exposition ends in `# EOF`.
fn classic_text(open_metrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = open_metrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut classic = String::with_capacity(open_metrics.len());
    for line in open_metrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let descriptor = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|kind| Some((kind, line.strip_prefix(kind)?)));
        match descriptor {
            Some((kind, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let suffix = if counters.contains(name) {
                    "_total"
                } else {
                    ""
                };
                classic.push_str(&format!("{kind}{name}{suffix} {tail}"));
            }
            None => classic.push_str(line),
        }
        classic.push('\n');
    }
    classic
}

/// `GET /metrics`: the registry in Prometheus' text format.
#[cfg(not(target_arch = "wasm32"))]
pub fn route(registry: SharedRegistry) -> axum::Router {
    use axum::http::header;
    let handler = move || {
        let text = encode(&registry);
        async move {
            (
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                text,
            )
        }
    };
    axum::Router::new().route("/metrics", axum::routing::get(handler))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_as_their_samples_and_open_metrics_lines_go() {
        let registry = registry();
        let refusals = Refusals::default();
        refusals.count(ErrorKind::Busy);
        refusals.register(&mut registry.lock().unwrap());
        let mut lock = registry.lock().unwrap();
        let gauge: Gauge = Gauge::default();
        lock.register_with_unit(
            "wait",
            "Time waited",
            prometheus_client::registry::Unit::Seconds,
            gauge,
        );
        drop(lock);
        assert_eq!(
            encode(&registry),
            "# HELP inbound_refusals_total Tasks and batches refused instead of run, by the \
             error kind answered.\n\
             # TYPE inbound_refusals_total counter\n\
             inbound_refusals_total{reason=\"busy\"} 1\n\
             # HELP wait_seconds Time waited.\n\
             # TYPE wait_seconds gauge\n\
             wait_seconds 0\n"
        );
    }
}
