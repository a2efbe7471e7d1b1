//! `pws-node`: a compute node. It joins the network through a relay (directly and through a
//! relayed address), registers, announces its status, and runs the work it receives — whole
//! tasks and batches — in its [`work`] loop: at most `slots` at a time, never on the
//! network event loop, each task through an [`executor::Executor`].
//!
//! Natively the executor is the [`sandbox`]: a [`pool`] of supervised worker processes
//! running Boa. Binaries that run a node must call [`sandbox::worker::run_if_requested`]
//! first in `main` (sandbox workers are the same executable, started again) and declare
//! [`memory::LimitedAllocator`] their global allocator (it enforces a worker's memory limit).
//!
//! The work loop, the executor interface and the engine ([`engine`], with its `console` and
//! `progress` globals and the [`memory`] limit) also build for `wasm32`, where the browser node
//! (`web-node`) runs the same loop with Web Workers as its executor.

#[cfg(not(target_arch = "wasm32"))]
pub mod budget;
mod console;
pub mod engine;
pub mod executor;
pub mod memory;
#[cfg(not(target_arch = "wasm32"))]
pub mod metrics;
#[cfg(not(target_arch = "wasm32"))]
pub mod network_args;
pub mod pool;
mod progress;
pub mod runner;
#[cfg(not(target_arch = "wasm32"))]
pub mod sandbox;
#[cfg(not(target_arch = "wasm32"))]
mod trim;
pub mod wasm;
pub mod work;

pub use engine::EngineLimits;
#[cfg(not(target_arch = "wasm32"))]
pub use native::{NodeConfig, run};
#[cfg(not(target_arch = "wasm32"))]
pub use sandbox::{Sandbox, SandboxLimits};
pub use work::Report;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::future::Future;

    use anyhow::{Context, Result};
    use libp2p::Multiaddr;
    use pws_net::identity::Identity;
    use pws_net::metrics::SharedRegistry;
    use pws_net::peer::{self, Access, PeerConfig};
    use pws_net::swarm::Role;
    use pws_net::transport::TransportKind;

    use crate::metrics::NodeMetrics;
    use crate::sandbox::{self, SandboxLimits};
    use crate::work::{self, Report, ServeConfig};

    /// Everything a node needs to run.
    pub struct NodeConfig {
        /// The relays to register and serve at (at least one).
        pub relays: Vec<Multiaddr>,
        pub slots: u32,
        pub identity: Identity,
        pub listen: Vec<Multiaddr>,
        pub limits: SandboxLimits,
        /// The network served: open, or private (with this node's grant).
        pub access: Access,
        /// Where to keep the node's metrics (none: not measured).
        pub metrics: Option<SharedRegistry>,
    }

    /// Run a node until `shutdown` resolves, then leave the network cleanly.
    pub async fn run(
        config: NodeConfig,
        shutdown: impl Future<Output = ()>,
        mut report: impl FnMut(Report),
    ) -> Result<()> {
        let executor = sandbox::start(config.limits, config.slots as usize)
            .context("cannot start the sandbox workers")?;
        let metrics = config.metrics.as_ref().map(|registry| {
            let mut registry = registry.lock().expect("metrics registry lock");
            NodeMetrics::register(&mut registry, executor.restarts())
        });
        let report = move |event: Report| {
            if let Some(metrics) = &metrics {
                metrics.record(&event);
            }
            report(event);
        };
        let peer = peer::spawn(PeerConfig {
            role: Role::Node,
            identity: config.identity,
            transports: TransportKind::ALL.to_vec(),
            listen: config.listen,
            relays: config.relays,
            access: config.access,
            metrics: config.metrics.clone(),
        })?;
        let config = ServeConfig {
            slots: config.slots,
            browser: false,
        };
        let trimming = tokio::spawn(crate::trim::trim_heap_periodically());
        let served = work::serve(peer, executor, config, shutdown, report).await;
        trimming.abort();
        served
    }
}
