//! End-to-end tests: real relay, node and submitter processes on loopback.

mod aarch64;
mod attacks;
mod browser;
mod cli;
mod coordinator;
mod discovery;
mod errors;
mod fairness;
mod interop;
mod jobs;
mod metrics;
mod nat;
mod private;
mod relays;
mod resilience;
mod sandbox;
mod strategies;
mod transports;
mod untrusted_nodes;
mod wasm;
mod wire;
