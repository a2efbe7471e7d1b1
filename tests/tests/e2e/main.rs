//! End-to-end tests: real relay, node and submitter processes on loopback.

mod attacks;
mod browser;
mod cli;
mod discovery;
mod errors;
mod interop;
mod jobs;
mod resilience;
mod sandbox;
mod strategies;
mod transports;
mod wire;
