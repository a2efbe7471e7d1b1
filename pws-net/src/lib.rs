//! `pws-net`: the network every PWS peer shares — the wire protocol, the libp2p swarm
//! (identity, transports, behaviours), the event loop that owns it, discovery, status
//! announcements and the registry built from them, and node-selection strategies.
//!
//! The relay, `pws-node` and `pws-submit` each start a [`peer::spawn`] event loop with their
//! [`swarm::Role`] and talk to it through a [`client::Client`]; a node receives whole
//! requests (a task or a batch) as [`peer::Event::Work`] and answers them through the reply
//! each carries. What a node does with them lives in `pws-node`. Everything but the native
//! transports and files also builds for `wasm32`.

pub mod access;
pub mod arrival;
pub mod bounded;
pub mod client;
pub mod discovery;
pub mod gate;
pub mod grant;
#[cfg(not(target_arch = "wasm32"))]
pub mod http;
pub mod identity;
#[cfg(not(target_arch = "wasm32"))]
pub mod logging;
pub mod metrics;
pub mod module;
pub mod peer;
#[cfg(not(target_arch = "wasm32"))]
pub mod private_files;
pub mod protocol;
pub mod rt;
pub mod shipments;
pub mod status;
pub mod strategy;
pub mod swarm;
pub mod transport;
