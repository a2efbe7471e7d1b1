//! A submitter's view of the network: connect to the relay, discover nodes (rendezvous and
//! DHT) and ask each for its status at once, rather than waiting for the next heartbeat.
//! Only nodes that answered that request are used: what peers announce on gossip about
//! themselves (free slots, liveness) costs nothing to fake, an answer at least shows the
//! node can be reached and speaks the protocol.

use std::collections::HashSet;
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use libp2p::{Multiaddr, PeerId};
use pws_net::client::{Client, NetResult};
use pws_net::identity::Identity;
use pws_net::peer::{self, Access, Event, PeerConfig};
use pws_net::protocol::ProgressReport;
use pws_net::rt::{self, Instant};
use pws_net::status::NodeInfo;
use pws_net::swarm::Role;
use pws_net::transport::TransportKind;
use tokio::sync::{Mutex, mpsc};

/// Room for a few dial attempts: a stalled one is given up after 5 s (`transport.rs`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// One WebRTC connection attempt: room for a redial after the first one stalls (5 s).
const WEBRTC_ATTEMPT: Duration = Duration::from_secs(6);
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(5);
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`Session::refresh_for_work`] waits for more answers after the first.
const MORE_ANSWERS_GRACE: Duration = Duration::from_millis(250);
/// Leaving: the event loop's own limits (2 s to flush, 1 s to close) and a little more.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(4);

/// A submitter connected to a relay. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Session {
    pub client: Client,
    /// Progress reports of this submitter's tasks.
    progress: Arc<Mutex<mpsc::Receiver<ProgressReport>>>,
    /// Nodes whose last status request from us was answered.
    answered: Arc<SyncMutex<HashSet<PeerId>>>,
}

impl Session {
    /// Join the open network at `relay` with a fresh identity, speaking only the
    /// `transports` given.
    pub async fn connect(relay: &Multiaddr, transports: &[TransportKind]) -> Result<Self> {
        Self::connect_as(
            std::slice::from_ref(relay),
            transports,
            Access::open(),
            None,
        )
        .await
    }

    /// Join the network `access` names through `relays` (any that can be reached) as
    /// `identity` (a fresh one if none: in the open network a submitter needs no lasting
    /// name).
    pub async fn connect_as(
        relays: &[Multiaddr],
        transports: &[TransportKind],
        access: Access,
        identity: Option<Identity>,
    ) -> Result<Self> {
        let mut relay_transports = Vec::new();
        for relay in relays {
            let relay_transport = TransportKind::of(relay)
                .with_context(|| format!("{relay} is not a TCP, QUIC or WebRTC-direct address"))?;
            if !transports.contains(&relay_transport) {
                bail!(
                    "the relay address {relay} uses {relay_transport}, which --transport \
                     excludes; give the relay's address for that transport"
                );
            }
            relay_transports.push(relay_transport);
        }
        let named = relays
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        // Listen on each transport where the relay is: native WebRTC dials through its own
        // listener's socket, and a hole punch through a NAT (DCUtR) must come from the port
        // our connection to the relay came from, which TCP and QUIC dial from only when they
        // listen. A browser dials through its own stack and listens nowhere.
        let listen = match relays.first() {
            Some(relay) if !cfg!(target_arch = "wasm32") => transports
                .iter()
                .map(|transport| transport.any_port_addr(listen_ip_for(relay)))
                .collect(),
            _ => Vec::new(),
        };
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        loop {
            let peer = peer::spawn(PeerConfig {
                role: Role::Submitter,
                identity: match &identity {
                    Some(identity) => identity.clone(),
                    None => Identity::ephemeral()?,
                },
                transports: transports.to_vec(),
                listen: listen.clone(),
                relays: relays.to_vec(),
                access: access.clone(),
                metrics: None,
            })?;
            let client = peer.client;
            let progress = Arc::new(Mutex::new(keep_progress(peer.events)));
            // A WebRTC handshake that fails leaves the relay routing our socket's packets to
            // the dead connection, so redials from the same socket stall until the relay
            // forgets it: try again from a fresh peer (a fresh socket) instead.
            let attempt = if relay_transports.iter().all(|t| *t == TransportKind::Webrtc) {
                WEBRTC_ATTEMPT.min(deadline - Instant::now())
            } else {
                CONNECT_TIMEOUT
            };
            match rt::timeout(attempt, client.wait_for_relay()).await {
                Ok(Ok(_)) => {
                    return Ok(Self {
                        client,
                        progress,
                        answered: Arc::default(),
                    });
                }
                Ok(Err(e)) => bail!("cannot reach the relay at {named}: {e}"),
                Err(_) if Instant::now() + WEBRTC_ATTEMPT / 2 < deadline => {
                    tracing::debug!("no connection to the relay yet; trying from a fresh socket");
                }
                Err(_) => bail!(
                    "cannot reach the relay at {named} within {}s; is it running, and is the address right?",
                    CONNECT_TIMEOUT.as_secs()
                ),
            }
        }
    }

    /// Leave the network: close every connection, so that nodes stop this submitter's
    /// unfinished tasks at once (a process that just exits sends nothing on QUIC or WebRTC).
    pub async fn close(&self) {
        match rt::timeout(CLOSE_TIMEOUT, self.client.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!("leaving the network: {e}"),
            Err(_) => tracing::debug!("leaving the network took too long"),
        }
    }

    /// The nodes registered at the relay or, where rendezvous finds none (the address given
    /// is a node's, not a relay's), the nodes the DHT knows. The DHT query starts at once but
    /// is only waited for when needed: it can take seconds when a known peer has died.
    pub async fn discover(&self) -> Vec<PeerId> {
        let providers = rt::timeout(DISCOVERY_TIMEOUT, self.client.find_providers());
        let registered = rt::timeout(DISCOVERY_TIMEOUT, self.client.discover_rendezvous()).await;
        let mut found: HashSet<PeerId> = match registered {
            Ok(Ok(peers)) if !peers.is_empty() => peers.into_iter().collect(),
            other => {
                tracing::debug!("rendezvous found no nodes ({other:?}); asking the DHT");
                match providers.await {
                    Ok(Ok(peers)) => peers.into_iter().collect(),
                    Ok(Err(e)) => {
                        tracing::debug!("DHT discovery failed: {e}");
                        HashSet::new()
                    }
                    Err(_) => {
                        tracing::debug!("DHT discovery timed out");
                        HashSet::new()
                    }
                }
            }
        };
        found.remove(&self.client.local_peer_id());
        found.into_iter().collect()
    }

    /// The next progress report for one of our tasks.
    pub async fn next_progress(&self) -> Option<ProgressReport> {
        self.progress.lock().await.recv().await
    }

    /// Discover nodes and ask each for its status; returns, once every node has answered or
    /// its request has timed out, the nodes that answered (now or before), with their
    /// status. One that cannot be reached is set aside until it answers a later request.
    pub async fn refresh(&self) -> Result<Vec<NodeInfo>> {
        self.ask_statuses(None).await
    }

    /// [`Session::refresh`] for work about to be sent: returns [`MORE_ANSWERS_GRACE`] after
    /// the first answer rather than waiting out nodes that do not answer (a closed tab, a
    /// sleeping phone, a node gone before its registration expired). Their requests go on in
    /// the background; a node that answers late is used from then on.
    pub async fn refresh_for_work(&self) -> Result<Vec<NodeInfo>> {
        self.ask_statuses(Some(MORE_ANSWERS_GRACE)).await
    }

    async fn ask_statuses(&self, grace: Option<Duration>) -> Result<Vec<NodeInfo>> {
        let (answers, mut answer) = mpsc::unbounded_channel();
        for peer in self.discover().await {
            let (client, answered, answers) =
                (self.client.clone(), self.answered.clone(), answers.clone());
            rt::spawn(async move {
                let _ = answers.send(ask_status(&client, &answered, peer).await);
            });
        }
        drop(answers);
        let mut first_answer: Option<Instant> = None;
        loop {
            let wait = match (grace, first_answer) {
                (Some(grace), Some(first)) => grace.saturating_sub(first.elapsed()),
                // Every request ends within its own timeout.
                _ => STATUS_TIMEOUT * 2,
            };
            match rt::timeout(wait, answer.recv()).await {
                Ok(Some(true)) => {
                    first_answer.get_or_insert_with(Instant::now);
                }
                Ok(Some(false)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        Ok(self.registry().await?)
    }

    /// The live nodes of the registry that answered our status request, ordered by peer id.
    pub async fn registry(&self) -> NetResult<Vec<NodeInfo>> {
        let mut nodes = self.client.registry().await?;
        let answered = self.answered.lock().expect("answered lock");
        nodes.retain(|node| answered.contains(&node.peer_id));
        Ok(nodes)
    }
}

/// Ask `peer` for its status and keep whether it answered in `answered`; true if it did.
async fn ask_status(client: &Client, answered: &SyncMutex<HashSet<PeerId>>, peer: PeerId) -> bool {
    match rt::timeout(STATUS_TIMEOUT, client.query_status(peer)).await {
        Ok(Ok(_)) => {
            answered.lock().expect("answered lock").insert(peer);
            true
        }
        Ok(Err(e)) => {
            tracing::debug!(%peer, "no status: {e}");
            answered.lock().expect("answered lock").remove(&peer);
            false
        }
        // Slow, not gone: a node that answered before keeps its work.
        Err(_) => {
            tracing::debug!(%peer, "no status in time");
            false
        }
    }
}

/// Read every event of the network (its loop waits for them to be read) and keep the
/// progress reports. A report is superseded by the next one for the same task, so one that
/// finds the queue full is dropped.
fn keep_progress(mut events: mpsc::Receiver<Event>) -> mpsc::Receiver<ProgressReport> {
    let (progress_tx, progress) = mpsc::channel(64);
    rt::spawn(async move {
        while let Some(event) = events.recv().await {
            if let Event::Progress(report) = event {
                let _ = progress_tx.try_send(report);
            }
        }
    });
    progress
}

/// Listen where the relay is: on loopback for a local relay, else on every interface.
fn listen_ip_for(relay: &Multiaddr) -> std::net::IpAddr {
    use libp2p::multiaddr::Protocol;
    let loopback = relay.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    });
    if loopback {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    }
}
