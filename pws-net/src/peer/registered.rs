//! The peers registered at this relay's rendezvous point. A relay passes on only their
//! status announcements: an identity costs nothing to make, but registering is limited per
//! IP address (see the rendezvous gate), so a flood of fresh identities announcing themselves
//! on gossip reaches no submitter. Mirrors the rendezvous server's registrations, and is
//! bounded as they are. Gossipsub's codec on each connection reads the same set, so an
//! unregistered author's announcement is dropped before its signature is checked: a flood of
//! them costs the relay no signature checks.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use libp2p::PeerId;
use libp2p::gossipsub::SourceFilter;
use libp2p::rendezvous::{Namespace, server};
use prometheus_client::metrics::counter::Counter;

#[derive(Default)]
pub struct Registered {
    namespaces: HashMap<PeerId, HashSet<Namespace>>,
    /// The same peers, shared with the connections' gossipsub codecs.
    authors: Arc<RwLock<HashSet<PeerId>>>,
    /// Announcements the codecs dropped: their authors were not registered.
    refused: Counter,
}

impl Registered {
    pub fn on_rendezvous_event(&mut self, event: &server::Event) {
        match event {
            server::Event::PeerRegistered { peer, registration } => {
                self.namespaces
                    .entry(*peer)
                    .or_default()
                    .insert(registration.namespace.clone());
                self.authors.write().expect("authors lock").insert(*peer);
            }
            server::Event::PeerUnregistered { peer, namespace } => self.remove(*peer, namespace),
            server::Event::RegistrationExpired(registration) => {
                self.remove(registration.record.peer_id(), &registration.namespace)
            }
            _ => {}
        }
    }

    /// How many peers are registered.
    pub fn peers(&self) -> usize {
        self.namespaces.len()
    }

    pub fn contains(&self, peer: &PeerId) -> bool {
        self.namespaces.contains_key(peer)
    }

    /// Gossipsub's filter of message authors: the registered peers, as they change.
    pub fn source_filter(&self) -> SourceFilter {
        let (authors, refused) = (Arc::clone(&self.authors), self.refused.clone());
        SourceFilter::new(move |peer| {
            let registered = authors.read().expect("authors lock").contains(peer);
            if !registered {
                refused.inc();
            }
            registered
        })
    }

    /// How many announcements [`Self::source_filter`] has refused.
    pub fn refused(&self) -> &Counter {
        &self.refused
    }

    fn remove(&mut self, peer: PeerId, namespace: &Namespace) {
        if let Some(namespaces) = self.namespaces.get_mut(&peer) {
            namespaces.remove(namespace);
            if namespaces.is_empty() {
                self.namespaces.remove(&peer);
                self.authors.write().expect("authors lock").remove(&peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use libp2p::core::PeerRecord;
    use libp2p::identity::Keypair;
    use libp2p::rendezvous::{Registration, Ttl};

    use super::*;

    fn registration(key: &Keypair, namespace: &str) -> Registration {
        Registration {
            namespace: Namespace::new(namespace.to_owned()).unwrap(),
            record: PeerRecord::new(key, Vec::new()).unwrap(),
            ttl: 60 as Ttl,
        }
    }

    #[test]
    fn a_peer_counts_while_any_of_its_registrations_lasts() {
        let key = Keypair::generate_ed25519();
        let peer = key.public().to_peer_id();
        let mut registered = Registered::default();
        let filter = registered.source_filter();
        assert!(!registered.contains(&peer));
        assert!(!filter.allows(&peer));
        assert_eq!(registered.refused().get(), 1);
        for namespace in ["a", "b"] {
            registered.on_rendezvous_event(&server::Event::PeerRegistered {
                peer,
                registration: registration(&key, namespace),
            });
        }
        registered
            .on_rendezvous_event(&server::Event::RegistrationExpired(registration(&key, "a")));
        assert!(registered.contains(&peer), "still registered in b");
        assert!(filter.allows(&peer));
        assert_eq!(
            registered.refused().get(),
            1,
            "a registered author is not counted"
        );
        registered.on_rendezvous_event(&server::Event::PeerUnregistered {
            peer,
            namespace: Namespace::new("b".to_owned()).unwrap(),
        });
        assert!(!registered.contains(&peer));
        assert!(!filter.allows(&peer));
    }
}
