//! The relay's side of a private network: a peer is admitted once it shows a valid grant (of
//! either role) on the admission protocol. Until then the relay's gated services (rendezvous,
//! circuit relay) close its connection at their first request, and a peer not admitted within
//! [`ADMISSION_DEADLINE`] is disconnected. An open relay admits everyone who asks.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::request_response::ResponseChannel;
use libp2p::{PeerId, Swarm};

use crate::access::Access;
use crate::gate::Admitted;
use crate::grant;
use crate::protocol::{AdmissionRequest, AdmissionResponse};
use crate::rt::Instant;
use crate::swarm::Behaviour;

/// How long a peer connected to a private network's relay has to show its grant.
pub const ADMISSION_DEADLINE: Duration = Duration::from_secs(10);

pub(super) struct Admissions {
    access: Access,
    admitted: Admitted,
    /// Peers connected and not admitted, with the time they must be admitted by.
    awaiting: HashMap<PeerId, Instant>,
}

impl Admissions {
    pub fn new(access: Access, admitted: Admitted) -> Self {
        Self {
            access,
            admitted,
            awaiting: HashMap::new(),
        }
    }

    pub fn on_connected(&mut self, peer: PeerId) {
        if self.access.owner().is_some() && !self.admitted.contains(&peer) {
            self.awaiting
                .entry(peer)
                .or_insert_with(|| Instant::now() + ADMISSION_DEADLINE);
        }
    }

    /// The peer's last connection closed: it shows its grant again when it comes back.
    pub fn on_disconnected(&mut self, peer: &PeerId) {
        self.awaiting.remove(peer);
        self.admitted.forget(peer);
    }

    pub fn on_request(
        &mut self,
        behaviour: &mut Behaviour,
        peer: PeerId,
        request: AdmissionRequest,
        channel: ResponseChannel<AdmissionResponse>,
    ) {
        let refused = match self
            .access
            .admits(peer, request.grant.as_ref(), grant::unix_now())
        {
            Ok(_) => {
                self.admitted.admit(peer);
                self.awaiting.remove(&peer);
                None
            }
            Err(why) => {
                tracing::debug!(%peer, "not admitted: {why}");
                Some(why.to_string())
            }
        };
        let _ = behaviour
            .admission
            .send_response(channel, AdmissionResponse { refused });
    }

    /// Disconnect the peers whose time to show a grant is over.
    pub fn on_tick(&mut self, swarm: &mut Swarm<Behaviour>) {
        let now = Instant::now();
        let late: Vec<PeerId> = self
            .awaiting
            .iter()
            .filter(|(_, by)| now >= **by)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in late {
            self.awaiting.remove(&peer);
            let _ = swarm.disconnect_peer_id(peer);
        }
    }
}
