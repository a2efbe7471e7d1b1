//! Node status: how often nodes announce it on gossipsub, and the registry that every peer
//! builds from those announcements (and from direct status answers), with expiry. Identities
//! are free, so the registry is bounded in entries and entry size, believes only what a node
//! says of itself, and gossip that breaks these rules is rejected (and scores its sender down).

use std::collections::HashMap;
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, gossipsub};
use serde::Serialize;

use crate::access::{Access, Checked};
use crate::grant::{self, Role};
use crate::protocol::{NodeState, NodeStatus};
use crate::rt::Instant;

/// Most nodes a registry holds. Announcements of further nodes are ignored until entries
/// expire: nodes already known keep their place against a flood of fresh identities.
pub const MAX_REGISTRY_ENTRIES: usize = 4096;
/// Longest `version` or `engine` text a status may carry.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest address text a status may carry.
pub const MAX_ADDR_BYTES: usize = 512;

/// Why a status is not taken into the registry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The status breaks the protocol: whoever sent or forwarded it is at fault.
    #[error("invalid status: {0}")]
    Invalid(String),
    /// The registry is full of other nodes; nobody is at fault.
    #[error("the registry is full ({MAX_REGISTRY_ENTRIES} nodes)")]
    Full,
    /// A node of a private network without a valid node grant of its owner.
    #[error("not admitted to this network: {0}")]
    Unauthorized(String),
    /// Passed on by a peer that is neither its author nor our relay (see [`first_hand`]).
    #[error("an announcement passed on by a peer that is neither its author nor the relay")]
    SecondHand,
    /// At a relay: its author is not registered at the relay's rendezvous point (yet).
    #[error("its author is not registered at this relay")]
    Unregistered,
}

/// Whether an announcement by `author` may come to us from `from` (`from_our_relay`: `from`
/// is one of our relays). A node publishes its status straight to the relays it is
/// connected to, and they pass it on to the submitters: so a relay (which has no relay of its
/// own) takes announcements only from their authors, and every other peer only from their
/// authors or from its relays. Any other peer passing on announcements is the cheapest way to
/// fill registries with nodes that do not exist: one connection, as many fresh keys as it
/// likes.
pub fn first_hand(author: PeerId, from: PeerId, from_our_relay: bool) -> bool {
    from == author || from_our_relay
}

/// Whether `status` is one `node` may announce: sizes within bounds, slot counts that agree,
/// and addresses that are well-formed and, when they name a peer, name `node` itself.
pub fn check(node: PeerId, status: &NodeStatus) -> Result<(), Refusal> {
    let invalid = |why: String| Err(Refusal::Invalid(why));
    let wasm = status.wasm.as_ref().map_or(0, String::len);
    if [status.version.len(), status.engine.len(), wasm]
        .into_iter()
        .any(|len| len > MAX_NAME_BYTES)
    {
        return invalid(format!("version or engine over {MAX_NAME_BYTES} bytes"));
    }
    if status.free_slots > status.total_slots {
        return invalid("more free slots than slots".into());
    }
    for addr in &status.addrs {
        if addr.len() > MAX_ADDR_BYTES {
            return invalid(format!("an address over {MAX_ADDR_BYTES} bytes"));
        }
        let Ok(parsed) = addr.parse::<Multiaddr>() else {
            return invalid(format!("not a multiaddr: {addr:?}"));
        };
        if let Some(Protocol::P2p(named)) = parsed.iter().last()
            && named != node
        {
            return invalid(format!("an address of another peer: {addr}"));
        }
    }
    Ok(())
}

/// What gossipsub should do with an announcement after the registry took it or not.
pub fn acceptance(outcome: &Result<(), Refusal>) -> gossipsub::MessageAcceptance {
    match outcome {
        Ok(()) => gossipsub::MessageAcceptance::Accept,
        // Nobody at fault, or a forwarder that may be an honest peer of an older version.
        Err(
            Refusal::Full | Refusal::SecondHand | Refusal::Unauthorized(_) | Refusal::Unregistered,
        ) => gossipsub::MessageAcceptance::Ignore,
        Err(Refusal::Invalid(_)) => gossipsub::MessageAcceptance::Reject,
    }
}

/// Gossipsub peer scoring for the status topic: a peer that forwards invalid statuses loses
/// score fast and is ignored, then cut off. Loopback, NATs and browser tabs put many honest
/// peers behind one IP, so co-location is not held against them; and most peers never
/// publish, so mesh delivery counts are not either.
pub fn score_params(
    topic: gossipsub::TopicHash,
) -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let status_topic = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.5,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        ..Default::default()
    };
    let params = gossipsub::PeerScoreParams {
        topics: [(topic, status_topic)].into(),
        ip_colocation_factor_weight: 0.0,
        ..Default::default()
    };
    (params, gossipsub::PeerScoreThresholds::default())
}

/// A node re-announces its status this often even when nothing changed, so late joiners
/// learn the registry and silent nodes can be told apart from live ones.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A registry entry not refreshed for this long is dropped: the node is gone.
pub const ENTRY_TTL: Duration = Duration::from_secs(10);

/// One node as a peer currently knows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeInfo {
    #[serde(serialize_with = "serialize_display")]
    pub peer_id: PeerId,
    /// In a private network: the name the owner gave the node in its grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub status: NodeStatus,
}

fn serialize_display<S: serde::Serializer>(
    value: &impl std::fmt::Display,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// The nodes this peer has heard from recently (in a private network, only those that show
/// a node grant of its owner), with the names their grants give them.
#[derive(Debug, Default)]
pub struct Registry {
    entries: HashMap<PeerId, (NodeStatus, Option<String>, Instant)>,
    access: Access,
    checked: Checked,
}

impl Registry {
    pub fn new(access: Access) -> Self {
        Self {
            access,
            ..Self::default()
        }
    }

    /// Record what `peer` said about itself at `now`, if it may say it and there is room; a
    /// stopping node leaves at once.
    pub fn update(
        &mut self,
        peer: PeerId,
        status: NodeStatus,
        now: Instant,
    ) -> Result<(), Refusal> {
        check(peer, &status)?;
        let granted = self
            .checked
            .check(
                &self.access,
                peer,
                Role::Node,
                status.grant.as_ref(),
                grant::unix_now(),
            )
            .map_err(|e| Refusal::Unauthorized(e.to_string()))?;
        if status.state == NodeState::Stopping {
            self.entries.remove(&peer);
        } else if self.entries.contains_key(&peer) || self.entries.len() < MAX_REGISTRY_ENTRIES {
            let name = granted.map(|grant| grant.name);
            self.entries.insert(peer, (status, name, now));
        } else {
            return Err(Refusal::Full);
        }
        Ok(())
    }

    pub fn remove(&mut self, peer: &PeerId) {
        self.entries.remove(peer);
    }

    /// Forget nodes that have not announced themselves within [`ENTRY_TTL`].
    pub fn expire(&mut self, now: Instant) {
        self.entries
            .retain(|_, (_, _, seen)| now.saturating_duration_since(*seen) < ENTRY_TTL);
    }

    /// The live nodes, ordered by peer id so listings and round-robin are stable.
    pub fn snapshot(&self) -> Vec<NodeInfo> {
        let mut nodes: Vec<NodeInfo> = self
            .entries
            .iter()
            .map(|(peer, (status, name, _))| NodeInfo {
                peer_id: *peer,
                name: name.clone(),
                status: status.clone(),
            })
            .collect();
        nodes.sort_by_key(|node| node.peer_id);
        nodes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(completed: u64) -> NodeStatus {
        NodeStatus {
            state: NodeState::Idle,
            free_slots: 1,
            total_slots: 1,
            completed,
            version: "test".into(),
            engine: "test".into(),
            wasm: None,
            addrs: vec![],
            browser: false,
            grant: None,
        }
    }

    #[test]
    fn newer_announcements_replace_older_ones() {
        let mut registry = Registry::default();
        let peer = PeerId::random();
        let now = Instant::now();
        registry.update(peer, status(1), now).unwrap();
        registry.update(peer, status(2), now).unwrap();
        let nodes = registry.snapshot();
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].status.completed, 2);
    }

    #[test]
    fn stopping_nodes_leave_at_once() {
        let mut registry = Registry::default();
        let peer = PeerId::random();
        registry.update(peer, status(1), Instant::now()).unwrap();
        let mut stopping = status(1);
        stopping.state = NodeState::Stopping;
        registry.update(peer, stopping, Instant::now()).unwrap();
        assert!(registry.snapshot().is_empty());
    }

    #[test]
    fn silent_nodes_expire() {
        let mut registry = Registry::default();
        let start = Instant::now();
        let (old, fresh) = (PeerId::random(), PeerId::random());
        registry.update(old, status(0), start).unwrap();
        registry
            .update(fresh, status(0), start + ENTRY_TTL)
            .unwrap();
        registry.expire(start + ENTRY_TTL + Duration::from_millis(1));
        let nodes = registry.snapshot();
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].peer_id, fresh);
    }

    #[test]
    fn announcements_come_from_their_author_or_the_relay() {
        let (author, relay, stranger) = (PeerId::random(), PeerId::random(), PeerId::random());
        // From the author, or passed on by one of our relays; never by anyone else.
        assert!(first_hand(author, author, false));
        assert!(first_hand(author, relay, true));
        assert!(!first_hand(author, stranger, false));
        assert_eq!(
            acceptance(&Err(Refusal::SecondHand)),
            gossipsub::MessageAcceptance::Ignore
        );
    }

    #[test]
    fn a_full_registry_keeps_the_nodes_it_knows() {
        let mut registry = Registry::default();
        let now = Instant::now();
        let known: Vec<PeerId> = (0..MAX_REGISTRY_ENTRIES)
            .map(|_| PeerId::random())
            .collect();
        for peer in &known {
            registry.update(*peer, status(0), now).unwrap();
        }
        let stranger = PeerId::random();
        assert_eq!(
            registry.update(stranger, status(0), now),
            Err(Refusal::Full)
        );
        assert_eq!(registry.update(known[0], status(5), now), Ok(()));
        registry.expire(now + ENTRY_TTL);
        assert_eq!(
            registry.update(stranger, status(0), now + ENTRY_TTL),
            Ok(())
        );
    }

    #[test]
    fn a_status_must_be_small_and_about_its_sender() {
        let node = PeerId::random();
        let other = PeerId::random();
        let relayed = |id: PeerId| format!("/ip4/127.0.0.1/tcp/1/p2p/{other}/p2p-circuit/p2p/{id}");
        let valid = NodeStatus {
            addrs: vec!["/ip4/127.0.0.1/tcp/4001".into(), relayed(node)],
            ..status(0)
        };
        assert_eq!(check(node, &valid), Ok(()));
        let invalid = [
            NodeStatus {
                addrs: vec![relayed(other)],
                ..status(0)
            },
            NodeStatus {
                addrs: vec!["not an address".into()],
                ..status(0)
            },
            NodeStatus {
                engine: "e".repeat(MAX_NAME_BYTES + 1),
                wasm: None,
                ..status(0)
            },
            NodeStatus {
                free_slots: 4096,
                ..status(0)
            },
        ];
        let mut registry = Registry::default();
        for status in invalid {
            let refused = registry.update(node, status.clone(), Instant::now());
            assert!(matches!(refused, Err(Refusal::Invalid(_))), "{status:?}");
            assert_eq!(acceptance(&refused), gossipsub::MessageAcceptance::Reject);
        }
        assert!(registry.snapshot().is_empty());
    }

    #[test]
    fn json_shape_is_flat() {
        let peer = PeerId::random();
        let info = NodeInfo {
            peer_id: peer,
            name: None,
            status: status(3),
        };
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["peer_id"], peer.to_string());
        assert_eq!(json["completed"], 3);
        assert_eq!(json["state"], "idle");
    }
}
