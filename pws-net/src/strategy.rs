//! How a submitter picks a node: pure functions over a registry snapshot.

use std::collections::HashSet;

use libp2p::PeerId;
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::protocol::NodeState;
use crate::status::NodeInfo;

/// A rule for choosing among the nodes that can take a task now. Its name (serde's) is the
/// kebab-case one users write: `random`, `least-loaded`, `round-robin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Any idle node, uniformly at random (any node with a free slot when none is idle).
    #[default]
    Random,
    /// The node with the fewest completed tasks; among equals, the one with most free slots.
    LeastLoaded,
    /// The next node after the previously used one, in peer-id order.
    RoundRobin,
}

/// Pick a node from `nodes` (sorted by peer id) for the next task.
///
/// Nodes without a free slot and those in `skip` (busy or unreachable on an earlier attempt)
/// are never chosen. `previous` is the node the last task went to, for round-robin.
pub fn pick(
    strategy: Strategy,
    nodes: &[NodeInfo],
    skip: &HashSet<PeerId>,
    previous: Option<PeerId>,
    rng: &mut impl rand::Rng,
) -> Option<PeerId> {
    let available: Vec<&NodeInfo> = nodes
        .iter()
        .filter(|node| node.status.has_free_slot() && !skip.contains(&node.peer_id))
        .collect();
    match strategy {
        Strategy::Random => {
            let idle: Vec<&NodeInfo> = available
                .iter()
                .copied()
                .filter(|node| node.status.state == NodeState::Idle)
                .collect();
            let pool = if idle.is_empty() { &available } else { &idle };
            (!pool.is_empty()).then(|| pool[rng.random_range(0..pool.len())].peer_id)
        }
        Strategy::LeastLoaded => available
            .iter()
            .min_by_key(|node| {
                (
                    node.status.completed,
                    std::cmp::Reverse(node.status.free_slots),
                    node.peer_id,
                )
            })
            .map(|node| node.peer_id),
        Strategy::RoundRobin => {
            let after_previous = previous.and_then(|previous| {
                available
                    .iter()
                    .find(|node| node.peer_id > previous)
                    .map(|node| node.peer_id)
            });
            after_previous.or_else(|| available.first().map(|node| node.peer_id))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::NodeStatus;

    fn node(state: NodeState, free_slots: u32, completed: u64) -> NodeInfo {
        NodeInfo {
            peer_id: PeerId::random(),
            name: None,
            status: NodeStatus {
                state,
                free_slots,
                total_slots: 4,
                completed,
                version: "test".into(),
                engine: "test".into(),
                wasm: None,
                addrs: vec![],
                browser: false,
                grant: None,
            },
        }
    }

    fn sorted(mut nodes: Vec<NodeInfo>) -> Vec<NodeInfo> {
        nodes.sort_by_key(|n| n.peer_id);
        nodes
    }

    #[test]
    fn strategies_are_named_in_kebab_case() {
        let names = serde_json::to_string(&[
            Strategy::Random,
            Strategy::LeastLoaded,
            Strategy::RoundRobin,
        ])
        .unwrap();
        assert_eq!(names, r#"["random","least-loaded","round-robin"]"#);
        let parsed: Strategy = serde_json::from_str(r#""round-robin""#).unwrap();
        assert_eq!(parsed, Strategy::RoundRobin);
    }

    #[test]
    fn random_prefers_idle_nodes() {
        let nodes = sorted(vec![
            node(NodeState::Busy, 3, 0),
            node(NodeState::Idle, 4, 9),
            node(NodeState::Busy, 1, 0),
        ]);
        let idle = nodes
            .iter()
            .find(|n| n.status.state == NodeState::Idle)
            .unwrap()
            .peer_id;
        let mut rng = rand::rng();
        for _ in 0..50 {
            let picked = pick(Strategy::Random, &nodes, &HashSet::new(), None, &mut rng);
            assert_eq!(picked, Some(idle));
        }
    }

    #[test]
    fn random_falls_back_to_any_free_slot_and_reaches_all() {
        let nodes = sorted(vec![
            node(NodeState::Busy, 1, 0),
            node(NodeState::Busy, 2, 0),
        ]);
        let mut rng = rand::rng();
        let seen: HashSet<PeerId> = (0..200)
            .filter_map(|_| pick(Strategy::Random, &nodes, &HashSet::new(), None, &mut rng))
            .collect();
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn full_stopping_and_skipped_nodes_are_never_picked() {
        let nodes = sorted(vec![
            node(NodeState::Busy, 0, 0),
            node(NodeState::Stopping, 4, 0),
            node(NodeState::Idle, 4, 5),
        ]);
        let usable = nodes
            .iter()
            .find(|n| n.status.state == NodeState::Idle)
            .unwrap()
            .peer_id;
        let mut rng = rand::rng();
        for strategy in [
            Strategy::Random,
            Strategy::LeastLoaded,
            Strategy::RoundRobin,
        ] {
            assert_eq!(
                pick(strategy, &nodes, &HashSet::new(), None, &mut rng),
                Some(usable)
            );
            let skip = HashSet::from([usable]);
            assert_eq!(pick(strategy, &nodes, &skip, None, &mut rng), None);
        }
    }

    #[test]
    fn least_loaded_picks_fewest_completed_then_most_free() {
        let nodes = sorted(vec![
            node(NodeState::Idle, 4, 7),
            node(NodeState::Busy, 1, 2),
            node(NodeState::Busy, 3, 2),
        ]);
        let expected = nodes
            .iter()
            .find(|n| n.status.completed == 2 && n.status.free_slots == 3)
            .unwrap()
            .peer_id;
        let picked = pick(
            Strategy::LeastLoaded,
            &nodes,
            &HashSet::new(),
            None,
            &mut rand::rng(),
        );
        assert_eq!(picked, Some(expected));
    }

    #[test]
    fn round_robin_cycles_through_every_node() {
        let nodes = sorted(vec![
            node(NodeState::Idle, 1, 0),
            node(NodeState::Idle, 1, 0),
            node(NodeState::Idle, 1, 0),
        ]);
        let mut previous = None;
        let mut order = Vec::new();
        for _ in 0..6 {
            previous = pick(
                Strategy::RoundRobin,
                &nodes,
                &HashSet::new(),
                previous,
                &mut rand::rng(),
            );
            order.push(previous.unwrap());
        }
        let ids: Vec<PeerId> = nodes.iter().map(|n| n.peer_id).collect();
        assert_eq!(order[..3], ids[..]);
        assert_eq!(order[3..], ids[..]);
    }

    #[test]
    fn round_robin_continues_after_a_node_that_left() {
        let nodes = sorted(vec![
            node(NodeState::Idle, 1, 0),
            node(NodeState::Idle, 1, 0),
        ]);
        let gone = PeerId::random();
        let picked = pick(
            Strategy::RoundRobin,
            &nodes,
            &HashSet::new(),
            Some(gone),
            &mut rand::rng(),
        );
        let expected = nodes
            .iter()
            .find(|n| n.peer_id > gone)
            .unwrap_or(&nodes[0])
            .peer_id;
        assert_eq!(picked, Some(expected));
    }
}
