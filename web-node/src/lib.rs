//! `web-node`: a PWS compute node in a web page. The relay serves the page; opening it
//! starts a node that dials the relay over WebRTC-direct, reserves a relayed address, registers
//! and announces itself like `pws-node`, and runs tasks in Boa compiled to wasm inside Web
//! Workers (one per slot), so the page stays responsive and a task that runs too long or
//! uses too much memory is stopped by terminating its worker.
//!
//! The page's JavaScript (`www/`) calls [`page::start`]; each worker calls the [`worker`]
//! entry points. The coordinator page (`www/submit/`) is a submitter in the browser:
//! [`coordinator::connect`], then runs tasks and jobs through `pws-submit`'s scheduler. Build with `web-node/build.sh` (see the README).

#[cfg(target_arch = "wasm32")]
pub mod coordinator;
#[cfg(target_arch = "wasm32")]
mod join;
pub mod module_cap;
#[cfg(target_arch = "wasm32")]
pub mod page;
#[cfg(target_arch = "wasm32")]
mod pool;
#[cfg(target_arch = "wasm32")]
pub mod worker;

/// Task workers enforce their memory limit through the counting allocator.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: pws_node::memory::LimitedAllocator = pws_node::memory::LimitedAllocator;
