//! A browser reaches a native node directly where it can: over the node's WebRTC-direct
//! address rather than a circuit through the relay. Left to itself, libp2p dials every known
//! address of a peer at once, and the circuit wins (the connection to the relay is already
//! up). So a browser first dials only a node's WebRTC-direct addresses, and only those in the
//! relay's own scope (loopback, a private network, or the internet: a node's private address
//! seen from a page loaded over the internet would only cost a timeout); once that fails, it
//! reaches the node through the relay for good.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId};

/// Nodes whose direct addresses are kept: as many as a registry holds.
const MAX_NODES: usize = crate::status::MAX_REGISTRY_ENTRIES;
/// Direct addresses kept per node.
const MAX_ADDRS: usize = 4;

/// Where an address can be reached from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Loopback,
    Private,
    Internet,
}

fn scope_of(addr: &Multiaddr) -> Option<Scope> {
    let ip: IpAddr = match addr.iter().next()? {
        Protocol::Ip4(ip) => ip.into(),
        Protocol::Ip6(ip) => ip.into(),
        _ => return None,
    };
    Some(match ip {
        ip if ip.is_loopback() => Scope::Loopback,
        IpAddr::V4(ip) if ip.is_private() || ip.is_link_local() => Scope::Private,
        IpAddr::V6(ip) if ip.is_unique_local() || ip.is_unicast_link_local() => Scope::Private,
        _ => Scope::Internet,
    })
}

fn is_webrtc_direct(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::WebRTCDirect))
        && !addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

#[derive(Default)]
pub(super) struct DirectFirst {
    /// The relay's scope; none: this peer does not try direct first (it is not a browser).
    scope: Option<Scope>,
    candidates: HashMap<PeerId, Vec<Multiaddr>>,
    failed: HashSet<PeerId>,
}

impl DirectFirst {
    /// Direct first for a browser peer using `relays`; `enabled` false: never.
    pub fn new(enabled: bool, relays: &[Multiaddr]) -> Self {
        Self {
            scope: relays.first().filter(|_| enabled).and_then(scope_of),
            ..Self::default()
        }
    }

    /// `addrs` are `node`'s (from its registration): keep the ones worth a direct dial.
    pub fn learn(&mut self, node: PeerId, addrs: &[Multiaddr]) {
        let Some(scope) = self.scope else { return };
        let direct: Vec<Multiaddr> = (addrs.iter())
            .filter(|addr| is_webrtc_direct(addr) && scope_of(addr) == Some(scope))
            .take(MAX_ADDRS)
            .cloned()
            .collect();
        if direct.is_empty() || self.failed.contains(&node) {
            return;
        }
        if self.candidates.len() < MAX_NODES || self.candidates.contains_key(&node) {
            self.candidates.insert(node, direct);
        }
    }

    /// The dial that tries `node`'s direct addresses alone, if there is one to try. Requests to
    /// `node` wait for it (libp2p does not dial a peer it is dialing already).
    pub fn dial(&self, node: PeerId) -> Option<DialOpts> {
        let addrs = self.candidates.get(&node)?;
        Some(
            DialOpts::peer_id(node)
                .addresses(addrs.clone())
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build(),
        )
    }

    /// A dial to `node` failed: reach it through the relay from now on.
    pub fn on_dial_failed(&mut self, node: PeerId) {
        if self.candidates.remove(&node).is_some() {
            self.failed.insert(node);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> Multiaddr {
        text.parse().unwrap()
    }

    const CERT: &str = "certhash/uEiDAEsJDBl0DM1DpWPj6AcHRyD5eaaeajIR5wed7pQ7KJQ";

    #[test]
    fn only_direct_webrtc_addresses_in_the_relays_scope_are_tried_once() {
        let relay = addr("/ip4/192.168.1.2/udp/4002/webrtc-direct");
        let mut direct = DirectFirst::new(true, &[relay]);
        let node = PeerId::random();
        let lan = addr(&format!("/ip4/192.168.1.7/udp/5000/webrtc-direct/{CERT}"));
        direct.learn(
            node,
            &[
                addr("/ip4/192.168.1.7/tcp/4001"),
                addr(&format!("/ip4/127.0.0.1/udp/5000/webrtc-direct/{CERT}")),
                addr(&format!("/ip4/203.0.113.9/udp/5000/webrtc-direct/{CERT}")),
                addr(&format!(
                    "/ip4/192.168.1.2/udp/4002/webrtc-direct/{CERT}/p2p/{node}/p2p-circuit"
                )),
                lan.clone(),
            ],
        );
        let dial = direct.dial(node).expect("a direct dial");
        assert_eq!(dial.get_peer_id(), Some(node));
        assert_eq!(direct.candidates[&node], vec![lan.clone()]);

        direct.on_dial_failed(node);
        assert!(direct.dial(node).is_none());
        direct.learn(node, &[lan]);
        assert!(
            direct.dial(node).is_none(),
            "a failed node is not tried again"
        );
    }

    #[test]
    fn a_peer_that_is_not_a_browser_never_tries() {
        let relay = addr("/ip4/127.0.0.1/udp/4002/webrtc-direct");
        let mut direct = DirectFirst::new(false, &[relay]);
        let node = PeerId::random();
        direct.learn(
            node,
            &[addr(&format!(
                "/ip4/127.0.0.1/udp/5000/webrtc-direct/{CERT}"
            ))],
        );
        assert!(direct.dial(node).is_none());
    }
}
