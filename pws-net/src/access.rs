//! Which network a peer is in: the open network, or a private one named by its owner's peer
//! id. A private network has names of its own (rendezvous namespace, DHT key, gossip topic),
//! so it never mixes with the open network or with another private network; and its peers
//! act only for peers that show a grant of its owner (see [`crate::grant`]).

use std::collections::{HashMap, HashSet};

use libp2p::{PeerId, gossipsub};

use crate::grant::{self, Role, SignedGrant};
use crate::protocol::{NODES_PROVIDER_KEY, RENDEZVOUS_NAMESPACE, STATUS_TOPIC};

/// The network a peer is in, and what it shows others to be let in.
#[derive(Debug, Clone, Default)]
pub struct Access {
    private: Option<Private>,
}

#[derive(Debug, Clone)]
struct Private {
    owner: PeerId,
    /// This peer's own grant, shown to the peers it asks.
    grant: Option<SignedGrant>,
    /// Peers refused whatever grant they show.
    deny: HashSet<PeerId>,
}

/// Why a peer is not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unauthorized {
    #[error("{0} is denied in this network")]
    Denied(PeerId),
    #[error("no grant of network {0} shown")]
    NoGrant(PeerId),
    #[error("{0}")]
    Refused(#[from] grant::Refusal),
}

impl Access {
    /// The open network: everyone is let in.
    pub fn open() -> Self {
        Self::default()
    }

    /// The private network of `owner`, showing `grant` (none for the owner itself) and
    /// refusing the peers in `deny`.
    pub fn private(owner: PeerId, grant: Option<SignedGrant>, deny: HashSet<PeerId>) -> Self {
        Self {
            private: Some(Private { owner, grant, deny }),
        }
    }

    /// The owner of the private network this peer is in.
    pub fn owner(&self) -> Option<PeerId> {
        self.private.as_ref().map(|p| p.owner)
    }

    /// The grant this peer shows.
    pub fn own_grant(&self) -> Option<&SignedGrant> {
        self.private.as_ref()?.grant.as_ref()
    }

    /// Where nodes register at the relay: `pws`, or `pws/<owner>`.
    pub fn rendezvous_namespace(&self) -> String {
        self.named(RENDEZVOUS_NAMESPACE, "/")
    }

    /// The DHT key nodes provide: `/pws/nodes`, or `/pws/nodes/<owner>`.
    pub fn provider_key(&self) -> Vec<u8> {
        let open = std::str::from_utf8(NODES_PROVIDER_KEY).expect("the key is text");
        self.named(open, "/").into_bytes()
    }

    /// The gossipsub topic of status announcements: `pws/status/1`, or `pws/status/1/<owner>`.
    pub fn status_topic(&self) -> gossipsub::IdentTopic {
        gossipsub::IdentTopic::new(self.named(STATUS_TOPIC, "/"))
    }

    fn named(&self, open: &str, separator: &str) -> String {
        match self.owner() {
            None => open.to_string(),
            Some(owner) => format!("{open}{separator}{owner}"),
        }
    }

    /// Whether `peer` is refused whatever grant it shows.
    pub fn denies(&self, peer: PeerId) -> bool {
        self.private
            .as_ref()
            .is_some_and(|p| p.deny.contains(&peer))
    }

    /// Whether `peer` may act as `role` here, showing `presented`, at `now` (Unix seconds):
    /// anyone in the open network; in a private one, the owner, or a peer with a valid grant
    /// that is not denied. `Ok` carries the grant's name, if any.
    pub fn check(
        &self,
        peer: PeerId,
        role: Role,
        presented: Option<&SignedGrant>,
        now: u64,
    ) -> Result<Option<grant::Grant>, Unauthorized> {
        let Some(private) = &self.private else {
            return Ok(None);
        };
        if self.denies(peer) {
            return Err(Unauthorized::Denied(peer));
        }
        if peer == private.owner {
            return Ok(None);
        }
        let presented = presented.ok_or(Unauthorized::NoGrant(private.owner))?;
        Ok(Some(presented.verify(private.owner, peer, role, now)?))
    }
}

impl Access {
    /// Whether `peer` is a member at all, in either role (what a relay asks before it
    /// introduces a peer): the owner, or a peer showing a valid grant of either role.
    pub fn admits(
        &self,
        peer: PeerId,
        presented: Option<&SignedGrant>,
        now: u64,
    ) -> Result<Option<grant::Grant>, Unauthorized> {
        let role = presented
            .and_then(SignedGrant::role)
            .unwrap_or(Role::Submit);
        self.check(peer, role, presented, now)
    }
}

/// Grants already checked, per peer, so that a peer showing the same grant again costs a
/// lookup, not a signature check. Bounded: when full, entries are dropped and checked anew.
#[derive(Debug, Default)]
pub struct Checked {
    entries: HashMap<PeerId, (SignedGrant, grant::Grant)>,
}

/// Peers whose grants are remembered at once.
const MAX_CHECKED: usize = 4096;

impl Checked {
    /// [`Access::check`], remembering grants that pass. A peer that showed a valid grant
    /// before passes without showing it again, until it expires.
    pub fn check(
        &mut self,
        access: &Access,
        peer: PeerId,
        role: Role,
        presented: Option<&SignedGrant>,
        now: u64,
    ) -> Result<Option<grant::Grant>, Unauthorized> {
        if access.denies(peer) {
            return Err(Unauthorized::Denied(peer));
        }
        if let Some((known, granted)) = self.entries.get(&peer)
            && presented.is_none_or(|shown| shown == known)
            && granted.role == role
            && granted.expires > now
        {
            return Ok(Some(granted.clone()));
        }
        let granted = access.check(peer, role, presented, now)?;
        if let (Some(granted), Some(shown)) = (&granted, presented) {
            if self.entries.len() >= MAX_CHECKED {
                self.entries.clear();
            }
            self.entries.insert(peer, (shown.clone(), granted.clone()));
        }
        Ok(granted)
    }
}

#[cfg(test)]
mod tests {
    use libp2p::identity::Keypair;

    use super::*;
    use crate::grant::Grant;

    fn network() -> (Keypair, PeerId) {
        let owner = Keypair::generate_ed25519();
        let id = owner.public().to_peer_id();
        (owner, id)
    }

    fn grant(owner: &Keypair, peer: PeerId, role: Role) -> SignedGrant {
        let grant = Grant {
            network: owner.public().to_peer_id(),
            peer,
            role,
            expires: 1000,
            name: "a".into(),
        };
        SignedGrant::sign(owner, &grant).unwrap()
    }

    #[test]
    fn private_networks_have_names_of_their_own() {
        let (_, owner) = network();
        let open = Access::open();
        let private = Access::private(owner, None, HashSet::new());
        assert_eq!(open.rendezvous_namespace(), "pws");
        assert_eq!(private.rendezvous_namespace(), format!("pws/{owner}"));
        assert_ne!(open.provider_key(), private.provider_key());
        assert_ne!(open.status_topic().hash(), private.status_topic().hash());
    }

    #[test]
    fn the_open_network_lets_everyone_in() {
        let open = Access::open();
        assert_eq!(
            open.check(PeerId::random(), Role::Submit, None, 0),
            Ok(None)
        );
    }

    #[test]
    fn a_private_network_lets_in_the_owner_and_granted_peers_only() {
        let (owner_key, owner) = network();
        let (member, stranger, denied) = (PeerId::random(), PeerId::random(), PeerId::random());
        let access = Access::private(owner, None, [denied].into());
        let mut checked = Checked::default();
        let member_grant = grant(&owner_key, member, Role::Submit);
        assert_eq!(
            checked.check(&access, owner, Role::Submit, None, 0),
            Ok(None)
        );
        let granted = checked.check(&access, member, Role::Submit, Some(&member_grant), 0);
        assert_eq!(granted.unwrap().unwrap().peer, member);
        // Remembered: the next request need not show it again, until it expires.
        assert!(
            checked
                .check(&access, member, Role::Submit, None, 999)
                .is_ok()
        );
        assert_eq!(
            checked.check(&access, member, Role::Submit, None, 1000),
            Err(Unauthorized::NoGrant(owner))
        );
        // A grant shown by another peer is not theirs.
        assert!(matches!(
            checked.check(&access, stranger, Role::Submit, Some(&member_grant), 0),
            Err(Unauthorized::Refused(_))
        ));
        let denied_grant = grant(&owner_key, denied, Role::Submit);
        assert_eq!(
            checked.check(&access, denied, Role::Submit, Some(&denied_grant), 0),
            Err(Unauthorized::Denied(denied))
        );
        assert!(checked.check(&access, member, Role::Node, None, 0).is_err());
    }
}
