//! `pws-net`: what every PWS peer shares — the wire protocol, the libp2p swarm (identity,
//! transports, behaviours), discovery, status announcements and node-selection strategies.
//!
//! The relay, `pws-node` and `pws-submit` each start a [`peer::spawn`] event loop with their
//! [`swarm::Role`] and talk to it through a [`client::Client`]; nodes (native and in the
//! browser) hand it to [`serve::serve`] with the [`executor::Executor`] that runs their tasks.
//! Everything but the native transports, files and signals also builds for `wasm32`.

mod batch;
pub mod client;
pub mod discovery;
pub mod executor;
pub mod identity;
pub mod peer;
#[cfg(not(target_arch = "wasm32"))]
pub mod process;
pub mod protocol;
pub mod rt;
pub mod serve;
mod slots;
pub mod status;
pub mod strategy;
pub mod swarm;
pub mod transport;
