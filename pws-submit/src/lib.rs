//! `pws-submit`: the user's side. It joins the network through a relay (or starts a whole
//! network in-process with `--local`), discovers nodes, picks one by a strategy, sends a
//! task and reports its result. Jobs map one function over many inputs across every
//! available node: journaled in SQLite so they can be listed, read back and resumed.
//!
//! The session, dispatch and the job scheduler also build for `wasm32`: the coordinator
//! page (`web-node`) is a submitter in the browser.

pub mod cursor;
pub mod deadline;
pub mod dispatch;
#[cfg(not(target_arch = "wasm32"))]
pub mod exit;
pub mod job;
#[cfg(not(target_arch = "wasm32"))]
pub mod journal;
#[cfg(not(target_arch = "wasm32"))]
pub mod local;
#[cfg(not(target_arch = "wasm32"))]
pub mod output;
pub mod session;
pub mod source;
pub mod terminal;
