//! Identity: the libp2p key pair and the WebRTC certificate of a peer. Native peers keep
//! theirs in a data directory (see [`stored`]) so that their peer id and `/certhash` (and so
//! their addresses) survive restarts. A browser node keeps its key in the page's storage (one tab at a time: two tabs
//! must never share a peer id) and no certificate: the browser makes one per connection.

#[cfg(not(target_arch = "wasm32"))]
mod stored;

use anyhow::Result;
use libp2p::identity::Keypair;
#[cfg(not(target_arch = "wasm32"))]
use libp2p_webrtc::tokio::Certificate;

/// The key pair (and, natively, the WebRTC certificate) of one peer.
#[derive(Clone)]
pub struct Identity {
    pub keypair: Keypair,
    #[cfg(not(target_arch = "wasm32"))]
    pub certificate: Certificate,
}

impl Identity {
    /// A throw-away identity, for peers that need no stable address (submitters, tests,
    /// browser tabs).
    pub fn ephemeral() -> Result<Self> {
        Ok(Self {
            keypair: Keypair::generate_ed25519(),
            #[cfg(not(target_arch = "wasm32"))]
            certificate: stored::generate_certificate()?,
        })
    }

    pub fn peer_id(&self) -> libp2p::PeerId {
        self.keypair.public().to_peer_id()
    }
}
