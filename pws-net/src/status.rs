//! Node status: how often nodes announce it on gossipsub, and the registry that every peer
//! builds from those announcements (and from direct status answers), with expiry.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::PeerId;
use serde::Serialize;

use crate::protocol::{NodeState, NodeStatus};
use crate::rt::Instant;

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
    #[serde(flatten)]
    pub status: NodeStatus,
}

fn serialize_display<S: serde::Serializer>(
    value: &impl std::fmt::Display,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// The nodes this peer has heard from recently.
#[derive(Debug, Default)]
pub struct Registry {
    entries: HashMap<PeerId, (NodeStatus, Instant)>,
}

impl Registry {
    /// Record what `peer` said about itself at `now`; a stopping node leaves at once.
    pub fn update(&mut self, peer: PeerId, status: NodeStatus, now: Instant) {
        if status.state == NodeState::Stopping {
            self.entries.remove(&peer);
        } else {
            self.entries.insert(peer, (status, now));
        }
    }

    pub fn remove(&mut self, peer: &PeerId) {
        self.entries.remove(peer);
    }

    /// Forget nodes that have not announced themselves within [`ENTRY_TTL`].
    pub fn expire(&mut self, now: Instant) {
        self.entries
            .retain(|_, (_, seen)| now.saturating_duration_since(*seen) < ENTRY_TTL);
    }

    /// The live nodes, ordered by peer id so listings and round-robin are stable.
    pub fn snapshot(&self) -> Vec<NodeInfo> {
        let mut nodes: Vec<NodeInfo> = self
            .entries
            .iter()
            .map(|(peer, (status, _))| NodeInfo {
                peer_id: *peer,
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
            addrs: vec![],
            browser: false,
        }
    }

    #[test]
    fn newer_announcements_replace_older_ones() {
        let mut registry = Registry::default();
        let peer = PeerId::random();
        let now = Instant::now();
        registry.update(peer, status(1), now);
        registry.update(peer, status(2), now);
        let nodes = registry.snapshot();
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].status.completed, 2);
    }

    #[test]
    fn stopping_nodes_leave_at_once() {
        let mut registry = Registry::default();
        let peer = PeerId::random();
        registry.update(peer, status(1), Instant::now());
        let mut stopping = status(1);
        stopping.state = NodeState::Stopping;
        registry.update(peer, stopping, Instant::now());
        assert!(registry.snapshot().is_empty());
    }

    #[test]
    fn silent_nodes_expire() {
        let mut registry = Registry::default();
        let start = Instant::now();
        let (old, fresh) = (PeerId::random(), PeerId::random());
        registry.update(old, status(0), start);
        registry.update(fresh, status(0), start + ENTRY_TTL);
        registry.expire(start + ENTRY_TTL + Duration::from_millis(1));
        let nodes = registry.snapshot();
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].peer_id, fresh);
    }

    #[test]
    fn json_shape_is_flat() {
        let peer = PeerId::random();
        let info = NodeInfo {
            peer_id: peer,
            status: status(3),
        };
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["peer_id"], peer.to_string());
        assert_eq!(json["completed"], 3);
        assert_eq!(json["state"], "idle");
    }
}
