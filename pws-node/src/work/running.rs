//! The work running now, by submitter: one id space for tasks and batches, and the one path
//! by which running work is stopped early (its submitter left, or the node stops).

use std::collections::HashMap;

use libp2p::PeerId;

use crate::executor::{Cancel, CancelReason, Trigger};

#[derive(Default)]
pub struct Running {
    next_id: u64,
    /// Each piece of work until it has left its slot: its submitter, and its stop signal
    /// until fired.
    work: HashMap<u64, (PeerId, Option<Trigger>)>,
}

impl Running {
    /// Note work from `from`; returns its id and the signal that stops it.
    pub fn start(&mut self, from: PeerId) -> (u64, Cancel) {
        let id = self.next_id;
        self.next_id += 1;
        let (trigger, cancel) = Cancel::new();
        self.work.insert(id, (from, Some(trigger)));
        (id, cancel)
    }

    /// The work left its slot; returns its submitter.
    pub fn finish(&mut self, id: u64) -> Option<PeerId> {
        self.work.remove(&id).map(|(from, _)| from)
    }

    /// Stop every piece of work of `peer`; returns how many.
    pub fn cancel_from(&mut self, peer: PeerId, reason: CancelReason) -> usize {
        let mut cancelled = 0;
        for (from, trigger) in self.work.values_mut() {
            if *from == peer
                && let Some(trigger) = trigger.take()
            {
                trigger.fire(reason);
                cancelled += 1;
            }
        }
        cancelled
    }

    /// Stop all work; the peers it was for.
    pub fn cancel_all(&mut self, reason: CancelReason) -> Vec<PeerId> {
        let mut peers = Vec::new();
        for (from, trigger) in self.work.values_mut() {
            if let Some(trigger) = trigger.take() {
                trigger.fire(reason);
                peers.push(*from);
            }
        }
        peers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn a_departed_submitter_has_only_its_own_work_stopped() {
        let (alice, bob) = (PeerId::random(), PeerId::random());
        let mut running = Running::default();
        let (first, alice_1) = running.start(alice);
        let (second, alice_2) = running.start(alice);
        let (_, bob_1) = running.start(bob);
        assert_ne!(first, second, "ids are unique");
        assert_eq!(running.cancel_from(alice, CancelReason::SubmitterGone), 2);
        assert_eq!(running.cancel_from(alice, CancelReason::SubmitterGone), 0);
        assert_eq!(
            running.finish(first),
            Some(alice),
            "stopped work still leaves its slot"
        );
        for cancel in [alice_1, alice_2] {
            assert_eq!(
                cancel.fired().now_or_never(),
                Some(CancelReason::SubmitterGone)
            );
        }
        assert_eq!(bob_1.clone().fired().now_or_never(), None);
        assert_eq!(
            running.cancel_all(CancelReason::Stopping),
            vec![bob],
            "alice's work was already stopped"
        );
        assert_eq!(bob_1.fired().now_or_never(), Some(CancelReason::Stopping));
    }

    #[test]
    fn finished_work_is_not_cancelled() {
        let peer = PeerId::random();
        let mut running = Running::default();
        let (id, cancel) = running.start(peer);
        running.finish(id);
        assert_eq!(running.cancel_from(peer, CancelReason::SubmitterGone), 0);
        assert_eq!(
            cancel.fired().now_or_never(),
            None,
            "a dropped trigger never fires"
        );
    }
}
