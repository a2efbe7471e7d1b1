//! Discovery both ways: rendezvous at the relay, and Kademlia providers of a well-known key
//! (so a submitter that knows any peer, not only the relay, can find nodes).

use std::collections::HashSet;
use std::time::Duration;

use libp2p::kad::{self, GetProvidersOk, QueryId, QueryResult, RecordKey};
use libp2p::{PeerId, rendezvous};

use crate::access::Access;
use crate::client::{NetError, Reply};
use crate::rt::Instant;
use crate::swarm::Behaviour;

/// Registration lifetime a node asks for; it re-registers at half of it.
pub const REGISTRATION_TTL: Duration = Duration::from_secs(60);

/// Outstanding discovery requests and the node's registration schedule, under the names of
/// this peer's network.
pub struct Discovery {
    namespace: rendezvous::Namespace,
    provider_key: RecordKey,
    rendezvous_waiters: Vec<Reply<Vec<PeerId>>>,
    provider_queries: Vec<(QueryId, HashSet<PeerId>, Reply<Vec<PeerId>>)>,
    next_registration: Option<Instant>,
    /// Our addresses changed since the last registration.
    addresses_changed: bool,
}

impl Discovery {
    pub fn new(access: &Access) -> Self {
        Self {
            namespace: rendezvous::Namespace::new(access.rendezvous_namespace())
                .expect("a peer id fits in a namespace"),
            provider_key: RecordKey::new(&access.provider_key()),
            rendezvous_waiters: Vec::new(),
            provider_queries: Vec::new(),
            next_registration: None,
            addresses_changed: false,
        }
    }

    /// The DHT key nodes of this network provide.
    pub fn provider_key(&self) -> RecordKey {
        self.provider_key.clone()
    }

    /// Register (or refresh) this node at the relay; rendezvous needs at least one address.
    pub fn register(&mut self, behaviour: &mut Behaviour, relay: PeerId) {
        match behaviour.rendezvous_client.register(
            self.namespace.clone(),
            relay,
            Some(REGISTRATION_TTL.as_secs()),
        ) {
            Ok(()) => {
                self.addresses_changed = false;
                self.next_registration = Some(Instant::now() + REGISTRATION_TTL / 2);
            }
            Err(e) => tracing::debug!("not registering yet: {e}"),
        }
    }

    /// Note that our addresses changed, so the registration should be renewed soon.
    pub fn addresses_changed(&mut self) {
        self.addresses_changed = true;
    }

    /// Whether the registration should be sent (again): addresses changed, or it is due for
    /// a refresh before its TTL runs out.
    pub fn registration_due(&self, now: Instant) -> bool {
        self.addresses_changed || self.next_registration.is_some_and(|due| now >= due)
    }

    /// Stop refreshing and withdraw the registrations and the provider record.
    pub fn leave(&mut self, behaviour: &mut Behaviour, relays: &[PeerId]) {
        self.next_registration = None;
        self.addresses_changed = false;
        for relay in relays {
            behaviour
                .rendezvous_client
                .unregister(self.namespace.clone(), *relay);
        }
        behaviour.kad.stop_providing(&self.provider_key);
    }

    pub fn discover(
        &mut self,
        behaviour: &mut Behaviour,
        relay: PeerId,
        reply: Reply<Vec<PeerId>>,
    ) {
        if self.rendezvous_waiters.is_empty() {
            behaviour
                .rendezvous_client
                .discover(Some(self.namespace.clone()), None, None, relay);
        }
        self.rendezvous_waiters.push(reply);
    }

    pub fn find_providers(&mut self, behaviour: &mut Behaviour, reply: Reply<Vec<PeerId>>) {
        let id = behaviour.kad.get_providers(self.provider_key.clone());
        self.provider_queries.push((id, HashSet::new(), reply));
    }

    pub fn on_rendezvous_event(&mut self, event: rendezvous::client::Event) {
        match event {
            rendezvous::client::Event::Discovered { registrations, .. } => {
                let peers: Vec<PeerId> = registrations
                    .iter()
                    .map(|registration| registration.record.peer_id())
                    .collect();
                tracing::debug!(count = peers.len(), "rendezvous discovery");
                for waiter in self.rendezvous_waiters.drain(..) {
                    let _ = waiter.send(Ok(peers.clone()));
                }
            }
            rendezvous::client::Event::DiscoverFailed { error, .. } => {
                for waiter in self.rendezvous_waiters.drain(..) {
                    let _ = waiter.send(Err(NetError::Failed(format!(
                        "rendezvous discovery failed: {error:?}"
                    ))));
                }
            }
            rendezvous::client::Event::Registered { ttl, .. } => {
                tracing::debug!(ttl, "registered at the relay");
            }
            rendezvous::client::Event::RegisterFailed { error, .. } => {
                tracing::warn!("registration at the relay failed: {error:?}");
            }
            rendezvous::client::Event::Expired { .. } => {}
        }
    }

    /// A rendezvous request that never reached the relay (connection lost) fails its waiters.
    pub fn fail_discovery(&mut self, why: &str) {
        for waiter in self.rendezvous_waiters.drain(..) {
            let _ = waiter.send(Err(NetError::Failed(why.to_string())));
        }
    }

    pub fn on_kad_event(&mut self, event: kad::Event) {
        let kad::Event::OutboundQueryProgressed {
            id, result, step, ..
        } = event
        else {
            return;
        };
        let QueryResult::GetProviders(result) = result else {
            return;
        };
        let Some(index) = self.provider_queries.iter().position(|(q, ..)| *q == id) else {
            return;
        };
        match result {
            Ok(GetProvidersOk::FoundProviders { providers, .. }) => {
                self.provider_queries[index].1.extend(providers);
            }
            Ok(GetProvidersOk::FinishedWithNoAdditionalRecord { .. }) => {}
            Err(e) => tracing::debug!("provider query: {e}"),
        }
        if step.last {
            let (_, found, reply) = self.provider_queries.swap_remove(index);
            let _ = reply.send(Ok(found.into_iter().collect()));
        }
    }
}
