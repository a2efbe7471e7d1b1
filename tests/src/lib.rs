//! A harness for end-to-end tests: start the real `relay` and `pws-node` binaries as child
//! processes on loopback, wait for their readiness lines (never a sleep), run `pws-submit`
//! through one builder, and kill everything on drop. When a test fails, the children's logs
//! are printed.
//!
//! Every child is hermetic: a temporary data directory, and HOME and the XDG base
//! directories pointed into a temporary directory of its own. The binaries are built from
//! the current source before their first use in each test process.

use std::path::Path;

pub mod binaries;
pub mod browser;
pub mod coordinator;
pub mod fakes;
pub mod http;
pub mod metrics;
pub mod netns;
pub mod network;
pub mod private;
pub mod process;
pub mod submit;

pub use binaries::{bin, bin_dir};
pub use network::{Node, Relay, peer_id_in};
pub use nix::sys::signal::Signal;
pub use process::{
    Finished, Process, READY_TIMEOUT, children_of, rss_bytes, rss_with_children, signal,
};
pub use submit::{
    SUBMIT_TIMEOUT, Submit, SubmitterDir, json_lines, list_nodes, parse_json_line, run_json,
    wait_until_busy,
};

/// Path of a file in the workspace's `examples/`.
pub fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
        .to_str()
        .expect("utf-8 path")
        .to_string()
}

/// Write a task to a temporary file and return the file (keep it alive while used).
pub fn task_file(code: &str) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut file = tempfile::Builder::new()
        .suffix(".js")
        .tempfile()
        .expect("temp file");
    file.write_all(code.as_bytes()).expect("write task");
    file
}

pub fn path_of(file: &tempfile::NamedTempFile) -> &str {
    file.path().to_str().expect("utf-8 path")
}
