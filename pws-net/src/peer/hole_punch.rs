//! Hole punching (DCUtR) as this peer sees it: when a peer that reached us through a relay
//! got a direct connection, and how long after, or that it could not. Said in the log (a
//! node's operator sees whether its NAT lets peers in; the NAT tests read it).

use std::collections::HashMap;

use libp2p::core::ConnectedPoint;
use libp2p::{PeerId, dcutr};

use crate::rt::Instant;

#[derive(Default)]
pub(super) struct HolePunches {
    /// Peers connected to us only through a relay so far, and since when. Only connected
    /// peers are kept, so the connection limits bound it.
    relayed_since: HashMap<PeerId, Instant>,
}

impl HolePunches {
    pub fn on_connection_established(&mut self, peer: PeerId, endpoint: &ConnectedPoint) {
        if endpoint.is_relayed() {
            self.relayed_since.entry(peer).or_insert_with(Instant::now);
        }
    }

    /// The peer's last connection closed.
    pub fn on_peer_gone(&mut self, peer: &PeerId) {
        self.relayed_since.remove(peer);
    }

    pub fn on_event(&mut self, event: dcutr::Event) {
        let peer = event.remote_peer_id;
        let after_ms = self
            .relayed_since
            .remove(&peer)
            .map(|since| since.elapsed().as_millis());
        match event.result {
            Ok(_) => tracing::info!(
                %peer,
                ?after_ms,
                "direct connection by hole punching; the relay no longer carries our requests"
            ),
            Err(error) => tracing::info!(
                %peer,
                ?after_ms,
                "no direct connection ({error}); the relay keeps carrying our traffic"
            ),
        }
    }
}
