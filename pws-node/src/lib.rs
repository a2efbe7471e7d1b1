//! `pws-node`: a compute node. It joins the network through a relay (directly and through a
//! relayed address), registers, announces its status, and runs the tasks it receives in
//! sandboxed Boa workers, at most `slots` at a time and never on the network event loop.
//!
//! Binaries that run a node must call [`sandbox::worker::run_if_requested`] first in `main`:
//! sandbox workers are the same executable, started again.
//!
//! The engine ([`engine`], with its `console` and `progress` globals and the [`memory`]
//! limit) also builds for `wasm32`, where the browser node (`web-node`) runs it in a Web
//! Worker instead of a worker process.

mod console;
pub mod engine;
pub mod memory;
mod progress;
pub mod runner;
#[cfg(not(target_arch = "wasm32"))]
pub mod sandbox;

pub use engine::EngineLimits;
#[cfg(not(target_arch = "wasm32"))]
pub use native::{NodeConfig, run};
pub use pws_net::serve::Report;
#[cfg(not(target_arch = "wasm32"))]
pub use sandbox::{Sandbox, SandboxLimits};

#[global_allocator]
static ALLOCATOR: memory::LimitedAllocator = memory::LimitedAllocator;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::future::Future;

    use anyhow::{Context, Result};
    use libp2p::Multiaddr;
    use pws_net::identity::Identity;
    use pws_net::peer::{self, PeerConfig};
    use pws_net::serve::{self, Report, ServeConfig};
    use pws_net::swarm::Role;
    use pws_net::transport::TransportKind;

    use crate::sandbox::{Sandbox, SandboxLimits};

    /// Everything a node needs to run.
    pub struct NodeConfig {
        pub relay: Multiaddr,
        pub slots: u32,
        pub identity: Identity,
        pub listen: Vec<Multiaddr>,
        pub limits: SandboxLimits,
    }

    /// Run a node until `shutdown` resolves, then leave the network cleanly.
    pub async fn run(
        config: NodeConfig,
        shutdown: impl Future<Output = ()>,
        report: impl FnMut(Report),
    ) -> Result<()> {
        let executor = Sandbox::start(config.limits, config.slots as usize)
            .context("cannot start the sandbox workers")?;
        let peer = peer::spawn(PeerConfig {
            role: Role::Node,
            identity: config.identity,
            transports: TransportKind::ALL.to_vec(),
            listen: config.listen,
            relay: Some(config.relay),
        })?;
        let config = ServeConfig {
            slots: config.slots,
            browser: false,
        };
        serve::serve(peer, executor, config, shutdown, report).await
    }
}
