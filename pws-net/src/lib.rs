//! `pws-net`: what every PWS peer shares — the wire protocol, the libp2p swarm (identity,
//! transports, behaviours), discovery, status announcements and node-selection strategies.
//!
//! The relay, `pws-node` and `pws-submit` each start a [`peer::spawn`] event loop with their
//! [`swarm::Role`] and talk to it through a [`client::Client`].

pub mod client;
pub mod discovery;
pub mod executor;
pub mod identity;
pub mod peer;
pub mod process;
pub mod protocol;
pub mod status;
pub mod strategy;
pub mod swarm;
pub mod transport;
