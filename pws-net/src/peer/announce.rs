//! This node's own status: kept current by the program running the node (through a watch
//! channel, so it never waits on the event loop), announced on gossipsub when it changed (at
//! most once a tick) and on every heartbeat, and given to whoever asks for it.

use libp2p::{Swarm, gossipsub};
use tokio::sync::watch;

use crate::grant::SignedGrant;
use crate::protocol::{MAX_STATUS_ADDRS, NodeState, NodeStatus, to_cbor};
use crate::swarm::Behaviour;

pub(super) struct Announcer {
    own: watch::Receiver<Option<NodeStatus>>,
    /// The status topic of this node's network.
    topic: gossipsub::IdentTopic,
    /// This node's grant of its private network, shown in its status.
    grant: Option<SignedGrant>,
    /// The status changed since it was last announced.
    changed: bool,
    /// The node is leaving: it announces `stopping` and nothing after.
    stopping: bool,
}

impl Announcer {
    pub fn new(
        own: watch::Receiver<Option<NodeStatus>>,
        topic: gossipsub::IdentTopic,
        grant: Option<SignedGrant>,
    ) -> Self {
        Self {
            own,
            topic,
            grant,
            changed: false,
            stopping: false,
        }
    }

    /// Resolves when the node sets a new status; `false` once nobody can set it any more.
    pub async fn status_set(&mut self) -> bool {
        let open = self.own.changed().await.is_ok();
        self.changed |= open;
        open
    }

    /// Announce the status if it changed since the last announcement.
    pub fn on_tick(&mut self, swarm: &mut Swarm<Behaviour>) {
        if std::mem::take(&mut self.changed) && !self.stopping {
            self.announce(swarm);
        }
    }

    pub fn on_heartbeat(&mut self, swarm: &mut Swarm<Behaviour>) {
        if !self.stopping {
            self.announce(swarm);
        }
    }

    /// Tell the network this node stops: no free slots, and gone from registries.
    pub fn stop(&mut self, swarm: &mut Swarm<Behaviour>) {
        self.stopping = true;
        self.announce(swarm);
    }

    /// Publish the status. Publishing fails until a subscriber is known; the heartbeat
    /// retries, so the first announcement is never lost for good.
    fn announce(&mut self, swarm: &mut Swarm<Behaviour>) {
        let Some(status) = self.current(swarm) else {
            return;
        };
        if let Err(e) = swarm
            .behaviour_mut()
            .gossipsub
            .publish(self.topic.clone(), to_cbor(&status))
        {
            tracing::debug!("status not announced yet: {e}");
        }
    }

    /// This node's status with its addresses as they are now; `None` for peers that are
    /// not nodes (or not yet serving).
    pub fn current(&self, swarm: &Swarm<Behaviour>) -> Option<NodeStatus> {
        let mut status = self.own.borrow().clone()?;
        status.addrs = swarm
            .external_addresses()
            .map(ToString::to_string)
            .take(MAX_STATUS_ADDRS)
            .collect();
        status.grant.clone_from(&self.grant);
        if self.stopping {
            status.state = NodeState::Stopping;
            status.free_slots = 0;
        }
        Some(status)
    }
}
