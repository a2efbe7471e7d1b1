//! The transports a peer speaks: TCP (Noise + Yamux), QUIC and WebRTC-direct natively, only
//! WebRTC-direct in a browser; the Yamux settings of TCP and relayed connections; and which
//! transport a multiaddr uses.

use std::fmt;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, yamux};

#[cfg(not(target_arch = "wasm32"))]
pub use native::{build, install_crypto_provider};

/// The Yamux configuration of every TCP and relayed connection.
///
/// rust-yamux closes the whole connection on a data frame whose body exceeds 1 MiB
/// (`FrameTooLarge`), yet lets a stream's receive window grow past 2 MiB. js-yamux sends queued
/// data as one frame as large as the window it was granted, so a js-libp2p peer's request over
/// ~1 MiB killed its connection. libp2p-yamux exposes no window setting; but yamux lets all
/// streams of a connection together grow beyond their initial 256 KiB window by at most
/// `1 GiB − max_num_streams × 256 KiB`. With [`YAMUX_MAX_STREAMS`] that headroom is 768 KiB, so
/// no window we grant, and no frame a peer may send us, exceeds 1 MiB.
pub fn yamux_config() -> yamux::Config {
    let mut config = yamux::Config::default();
    config.set_max_num_streams(YAMUX_MAX_STREAMS);
    config
}

/// Largest data frame body rust-yamux accepts (`MAX_FRAME_BODY_LEN` of yamux 0.14).
const YAMUX_MAX_FRAME_BODY: usize = 1024 * 1024;
/// A stream's initial receive window (yamux's `DEFAULT_CREDIT`).
const YAMUX_INITIAL_WINDOW: usize = 256 * 1024;
/// What all streams of a connection may have in their windows together (yamux's default
/// `max_connection_receive_window`).
const YAMUX_CONNECTION_WINDOW: usize = 1024 * 1024 * 1024;
/// The stream limit that leaves exactly one frame body of window to a single stream.
const YAMUX_MAX_STREAMS: usize = (YAMUX_CONNECTION_WINDOW
    - (YAMUX_MAX_FRAME_BODY - YAMUX_INITIAL_WINDOW))
    / YAMUX_INITIAL_WINDOW;
const _: () = assert!(
    YAMUX_CONNECTION_WINDOW - YAMUX_MAX_STREAMS * YAMUX_INITIAL_WINDOW + YAMUX_INITIAL_WINDOW
        == YAMUX_MAX_FRAME_BODY
);

/// One of the transports PWS peers speak directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    Tcp,
    Quic,
    Webrtc,
}

impl TransportKind {
    pub const ALL: [TransportKind; 3] = [
        TransportKind::Tcp,
        TransportKind::Quic,
        TransportKind::Webrtc,
    ];

    /// The transport a multiaddr dials with, or `None` for addresses of no direct transport.
    /// A relayed (`/p2p-circuit`) address reports the transport used to reach the relay.
    pub fn of(addr: &Multiaddr) -> Option<TransportKind> {
        let mut kind = None;
        for protocol in addr.iter() {
            match protocol {
                Protocol::Tcp(_) => kind = Some(TransportKind::Tcp),
                Protocol::QuicV1 => kind = Some(TransportKind::Quic),
                Protocol::WebRTCDirect => kind = Some(TransportKind::Webrtc),
                Protocol::P2pCircuit => return kind,
                _ => {}
            }
        }
        kind
    }

    /// The listen address on `ip` with an OS-chosen port.
    pub fn any_port_addr(self, ip: std::net::IpAddr) -> Multiaddr {
        let base = Multiaddr::from(ip);
        match self {
            TransportKind::Tcp => base.with(Protocol::Tcp(0)),
            TransportKind::Quic => base.with(Protocol::Udp(0)).with(Protocol::QuicV1),
            TransportKind::Webrtc => base.with(Protocol::Udp(0)).with(Protocol::WebRTCDirect),
        }
    }
}

/// One listen address per transport on `ip`, with OS-chosen ports.
pub fn any_port_addrs(ip: std::net::IpAddr) -> Vec<Multiaddr> {
    TransportKind::ALL
        .iter()
        .map(|kind| kind.any_port_addr(ip))
        .collect()
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Tcp => "tcp",
            TransportKind::Quic => "quic",
            TransportKind::Webrtc => "webrtc",
        })
    }
}

/// Whether an address goes through a circuit relay.
pub fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| p == Protocol::P2pCircuit)
}

/// A readable name for how an address is reached: `tcp`, `quic`, `webrtc`, or `relay/<t>`.
pub fn describe(addr: &Multiaddr) -> String {
    let kind = TransportKind::of(addr).map_or("other".to_string(), |k| k.to_string());
    if is_relayed(addr) {
        format!("relay/{kind}")
    } else {
        kind
    }
}

/// Longest time to set up one connection, dial to secured and multiplexed: a dial to where
/// nothing answers fails then, not after the transports' own, much longer, timeouts.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use anyhow::Result;
    use futures::future::Either;
    use libp2p::core::muxing::StreamMuxerBox;
    use libp2p::core::transport::timeout::TransportTimeout;
    use libp2p::core::transport::{Boxed, OptionalTransport};
    use libp2p::core::{Transport as _, upgrade};
    use libp2p::{PeerId, noise, quic, tcp};

    use super::{CONNECT_TIMEOUT, TransportKind};
    use crate::identity::Identity;

    /// The composed transport over the chosen kinds (the relay client is added by the builder).
    pub fn build(
        identity: &Identity,
        kinds: &[TransportKind],
    ) -> Result<Boxed<(PeerId, StreamMuxerBox)>> {
        let keypair = &identity.keypair;
        let tcp = kinds.contains(&TransportKind::Tcp).then(|| -> Result<_> {
            Ok(
                tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
                    .upgrade(upgrade::Version::V1Lazy)
                    .authenticate(noise::Config::new(keypair)?)
                    .multiplex(super::yamux_config())
                    .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer))),
            )
        });
        let quic = kinds.contains(&TransportKind::Quic).then(|| {
            quic::tokio::Transport::new(quic::Config::new(keypair))
                .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)))
        });
        let webrtc = kinds.contains(&TransportKind::Webrtc).then(|| {
            libp2p_webrtc::tokio::Transport::new(keypair.clone(), identity.certificate.clone())
                .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)))
        });
        let transport = optional(tcp.transpose()?)
            .or_transport(optional(quic))
            .or_transport(optional(webrtc))
            .map(|either, _| match either {
                Either::Left(Either::Left(output)) | Either::Left(Either::Right(output)) => output,
                Either::Right(output) => output,
            });
        Ok(TransportTimeout::new(transport, CONNECT_TIMEOUT).boxed())
    }

    fn optional<T>(transport: Option<T>) -> OptionalTransport<T> {
        transport.map_or_else(OptionalTransport::none, OptionalTransport::some)
    }

    /// rustls panics on the first WebRTC handshake when both of its crypto providers are linked
    /// and none is chosen; every binary calls this once at start-up.
    pub fn install_crypto_provider() {
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_of_addresses() {
        let tcp: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        let quic: Multiaddr = "/ip4/127.0.0.1/udp/4001/quic-v1".parse().unwrap();
        let webrtc: Multiaddr = "/ip4/127.0.0.1/udp/4002/webrtc-direct".parse().unwrap();
        let relayed: Multiaddr =
            "/ip4/127.0.0.1/udp/4001/quic-v1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit"
                .parse()
                .unwrap();
        assert_eq!(TransportKind::of(&tcp), Some(TransportKind::Tcp));
        assert_eq!(TransportKind::of(&quic), Some(TransportKind::Quic));
        assert_eq!(TransportKind::of(&webrtc), Some(TransportKind::Webrtc));
        assert_eq!(TransportKind::of(&relayed), Some(TransportKind::Quic));
        assert!(is_relayed(&relayed) && !is_relayed(&quic));
        assert_eq!(describe(&relayed), "relay/quic");
    }
}
