//! A gate in front of a behaviour: a policy admits or refuses each connection the first time
//! it uses the behaviour, and a refused connection is closed without anything of it reaching
//! the behaviour. The verdict is per connection, never per message, because the behaviours
//! behind a gate (the rendezvous server) keep per-request state that a dropped message would
//! leave half-done.
//!
//! The relay puts its rendezvous server behind a gate with [`PerAddress`]: one IP address
//! cannot register or discover through more than a burst of connections, then a few a second,
//! however many identities it makes. In a private network, its rendezvous server and its
//! circuit relay are also behind [`Admitted`]: only peers that showed a grant use them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    CloseConnection, ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour,
    THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};

use crate::rt::Instant;

/// Decides whether a connection may use the gated behaviour.
pub trait Policy: Send + 'static {
    fn admit(&mut self, peer: PeerId, remote: &Multiaddr, now: Instant) -> bool;
}

pub struct Gate<B> {
    inner: B,
    policy: Box<dyn Policy>,
    /// The remote address of each open connection.
    remotes: HashMap<ConnectionId, Multiaddr>,
    /// Each connection's verdict, once it used the behaviour.
    verdicts: HashMap<ConnectionId, bool>,
    /// Refused connections still to close.
    to_close: VecDeque<(PeerId, ConnectionId)>,
}

impl<B> Gate<B> {
    pub fn new(inner: B, policy: impl Policy) -> Self {
        Self {
            inner,
            policy: Box::new(policy),
            remotes: HashMap::new(),
            verdicts: HashMap::new(),
            to_close: VecDeque::new(),
        }
    }
}

impl<B: NetworkBehaviour> NetworkBehaviour for Gate<B> {
    type ConnectionHandler = B::ConnectionHandler;
    type ToSwarm = B::ToSwarm;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let handler = self.inner.handle_established_inbound_connection(
            connection_id,
            peer,
            local_addr,
            remote_addr,
        )?;
        self.remotes.insert(connection_id, remote_addr.clone());
        Ok(handler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner.handle_pending_outbound_connection(
            connection_id,
            maybe_peer,
            addresses,
            effective_role,
        )
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let handler = self.inner.handle_established_outbound_connection(
            connection_id,
            peer,
            addr,
            role_override,
            port_use,
        )?;
        self.remotes.insert(connection_id, addr.clone());
        Ok(handler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) = &event {
            self.remotes.remove(connection_id);
            self.verdicts.remove(connection_id);
        }
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        let admitted = match self.verdicts.get(&connection) {
            Some(verdict) => *verdict,
            None => {
                let admitted = self
                    .remotes
                    .get(&connection)
                    .is_some_and(|remote| self.policy.admit(peer, remote, Instant::now()));
                self.verdicts.insert(connection, admitted);
                if !admitted {
                    tracing::debug!(%peer, "connection refused at the gate");
                    self.to_close.push_back((peer, connection));
                }
                admitted
            }
        };
        if admitted {
            self.inner
                .on_connection_handler_event(peer, connection, event);
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if let Some((peer_id, connection)) = self.to_close.pop_front() {
            return Poll::Ready(ToSwarm::CloseConnection {
                peer_id,
                connection: CloseConnection::One(connection),
            });
        }
        self.inner.poll(cx)
    }
}

/// Both policies must admit a connection.
impl<A: Policy, B: Policy> Policy for (A, B) {
    fn admit(&mut self, peer: PeerId, remote: &Multiaddr, now: Instant) -> bool {
        self.0.admit(peer, remote, now) && self.1.admit(peer, remote, now)
    }
}

/// The peers a relay lets use its services: everyone in the open network; in a private
/// network, those it admitted after they showed a grant. Shared between the event loop, which
/// admits, and the gates, which ask.
#[derive(Debug, Clone, Default)]
pub struct Admitted(Option<Arc<Mutex<HashSet<PeerId>>>>);

impl Admitted {
    pub fn everyone() -> Self {
        Self(None)
    }

    pub fn members_only() -> Self {
        Self(Some(Arc::default()))
    }

    pub fn admit(&self, peer: PeerId) {
        if let Some(members) = &self.0 {
            members.lock().expect("admitted lock").insert(peer);
        }
    }

    pub fn forget(&self, peer: &PeerId) {
        if let Some(members) = &self.0 {
            members.lock().expect("admitted lock").remove(peer);
        }
    }

    pub fn contains(&self, peer: &PeerId) -> bool {
        self.0
            .as_ref()
            .is_none_or(|members| members.lock().expect("admitted lock").contains(peer))
    }
}

impl Policy for Admitted {
    fn admit(&mut self, peer: PeerId, _remote: &Multiaddr, _now: Instant) -> bool {
        self.contains(&peer)
    }
}

/// A token bucket per IP address: `burst` connections at once, then one more every
/// `refill`. Addresses whose bucket is full again are forgotten once many are known.
pub struct PerAddress {
    burst: u32,
    refill: Duration,
    buckets: HashMap<IpAddr, (f64, Instant)>,
}

/// Addresses remembered before those with a full bucket are forgotten.
const REMEMBERED_ADDRESSES: usize = 4096;

impl PerAddress {
    pub fn new(burst: u32, refill: Duration) -> Self {
        Self {
            burst,
            refill,
            buckets: HashMap::new(),
        }
    }

    fn tokens_at(&self, (tokens, at): (f64, Instant), now: Instant) -> f64 {
        let refilled = now.saturating_duration_since(at).as_secs_f64() / self.refill.as_secs_f64();
        (tokens + refilled).min(f64::from(self.burst))
    }
}

impl Policy for PerAddress {
    fn admit(&mut self, _peer: PeerId, remote: &Multiaddr, now: Instant) -> bool {
        let Some(ip) = remote.iter().find_map(|protocol| match protocol {
            Protocol::Ip4(ip) => Some(IpAddr::from(ip)),
            Protocol::Ip6(ip) => Some(IpAddr::from(ip)),
            _ => None,
        }) else {
            // No address to count against (a relayed or in-memory connection).
            return true;
        };
        if self.buckets.len() >= REMEMBERED_ADDRESSES {
            let full = f64::from(self.burst);
            let buckets = std::mem::take(&mut self.buckets);
            self.buckets = buckets
                .into_iter()
                .filter(|(_, bucket)| self.tokens_at(*bucket, now) < full)
                .collect();
        }
        let bucket = self
            .buckets
            .get(&ip)
            .copied()
            .unwrap_or((f64::from(self.burst), now));
        let tokens = self.tokens_at(bucket, now);
        let admitted = tokens >= 1.0;
        let left = if admitted { tokens - 1.0 } else { tokens };
        self.buckets.insert(ip, (left, now));
        admitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(ip: &str) -> Multiaddr {
        format!("/ip4/{ip}/tcp/4001").parse().unwrap()
    }

    #[test]
    fn one_address_gets_its_burst_then_its_rate() {
        let mut policy = PerAddress::new(3, Duration::from_millis(100));
        let start = Instant::now();
        let peer = PeerId::random();
        let admitted = (0..5)
            .filter(|_| policy.admit(peer, &from("10.0.0.1"), start))
            .count();
        assert_eq!(admitted, 3);
        assert!(
            policy.admit(peer, &from("10.0.0.2"), start),
            "another address"
        );
        let later = start + Duration::from_millis(100);
        assert!(policy.admit(peer, &from("10.0.0.1"), later), "refilled one");
        assert!(!policy.admit(peer, &from("10.0.0.1"), later));
    }

    #[test]
    fn connections_without_an_ip_address_are_not_counted() {
        let mut policy = PerAddress::new(1, Duration::from_secs(60));
        let relayed: Multiaddr = "/p2p-circuit".parse().unwrap();
        let now = Instant::now();
        assert!((0..10).all(|_| policy.admit(PeerId::random(), &relayed, now)));
    }
}
