//! Every relay this peer was given, so that none is a single point of failure: each has its
//! own link (a node reserves, registers and announces at each), and a caller waiting for the
//! network is answered once any relay lets this peer in — or once every relay has failed
//! for certain.

use anyhow::Result;
use libp2p::{Multiaddr, PeerId};

use super::relay_link::RelayLink;
use crate::access::Access;
use crate::client::{NetError, Reply};

pub(super) struct Relays {
    links: Vec<RelayLink>,
    /// Callers waiting for a first relay.
    waiters: Vec<Reply<PeerId>>,
}

impl Relays {
    /// Links to the relays at `addrs`, each of which must end with `/p2p/<relay peer id>`.
    pub fn new(addrs: &[Multiaddr], access: &Access) -> Result<Self> {
        Ok(Self {
            links: addrs
                .iter()
                .map(|addr| RelayLink::new(addr, access))
                .collect::<Result<_>>()?,
            waiters: Vec::new(),
        })
    }

    pub fn links_mut(&mut self) -> impl Iterator<Item = &mut RelayLink> {
        self.links.iter_mut()
    }

    /// The link to `peer`, if it is one of our relays.
    pub fn link_mut(&mut self, peer: PeerId) -> Option<&mut RelayLink> {
        self.links.iter_mut().find(|link| link.peer_id() == peer)
    }

    pub fn is_relay(&self, peer: PeerId) -> bool {
        self.links.iter().any(|link| link.peer_id() == peer)
    }

    pub fn peer_ids(&self) -> Vec<PeerId> {
        self.links.iter().map(RelayLink::peer_id).collect()
    }

    /// The relays this peer is connected to and admitted by, in the order given.
    pub fn connected(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.links.iter().filter_map(RelayLink::connected_peer)
    }

    /// Answer `reply` with a relay's peer id once one lets this peer in.
    pub fn wait(&mut self, reply: Reply<PeerId>) {
        if self.links.is_empty() {
            let _ = reply.send(Err(NetError::NoRelay));
            return;
        }
        self.waiters.push(reply);
        self.answer_waiters();
    }

    /// Answer the waiting callers if the links say how: a relay is usable, or every relay
    /// failed for certain.
    pub fn answer_waiters(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let answer = match self.connected().next() {
            Some(relay) => Ok(relay),
            None => {
                let failures: Option<Vec<&str>> =
                    self.links.iter().map(RelayLink::failure).collect();
                match failures {
                    Some(failures) => Err(failures.join("; ")),
                    None => return,
                }
            }
        };
        for waiter in self.waiters.drain(..) {
            let _ = waiter.send(answer.clone().map_err(NetError::Failed));
        }
    }
}
