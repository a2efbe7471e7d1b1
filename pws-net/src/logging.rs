//! Logging and crypto set-up every native PWS program does first.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Logs go to stderr, filtered by `RUST_LOG` (default: our own info, libp2p's errors only;
/// its warnings are mostly routine on a network where peers come and go, and the WebRTC
/// stack reports a dial that lost a race to a faster transport as an error). Also installs
/// the TLS crypto provider, which QUIC and WebRTC need before their first handshake.
pub fn init() {
    crate::transport::install_crypto_provider();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(
            "error,pws_net=info,pws_node=info,pws_submit=info,relay=info,libp2p_webrtc=off,webrtc=off",
        )
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person: a file or a pipe gets plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
