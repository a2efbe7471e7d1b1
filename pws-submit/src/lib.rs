//! `pws-submit`: the user's side. It joins the network through a relay (or starts a whole
//! network in-process with `--local`), discovers nodes, picks one by a strategy, sends a
//! task and reports its result. Jobs map one function over many inputs across every
//! available node: journaled in SQLite so they can be listed, read back and resumed.

pub mod cursor;
pub mod deadline;
pub mod dispatch;
pub mod exit;
pub mod job;
pub mod journal;
pub mod local;
pub mod output;
pub mod session;
pub mod source;
pub mod terminal;
