//! WebAssembly tasks: a WASI preview 1 command reads the task's input on stdin and writes its
//! JSON result on stdout; stderr becomes its log. It gets no files, no environment, no
//! arguments but a program name and no sockets; clocks and random are allowed.
//!
//! Native nodes run modules on wasmtime in their sandbox workers ([`WasmRunner`]); the
//! browser node runs them on the browser's engine. Both read a run's end the same way
//! ([`answer`]).

pub mod answer;
#[cfg(not(target_arch = "wasm32"))]
mod pipes;
#[cfg(not(target_arch = "wasm32"))]
mod runner;

pub use answer::WasmLimits;
#[cfg(not(target_arch = "wasm32"))]
pub use runner::*;
