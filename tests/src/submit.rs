//! The one way tests run `pws-submit`: a builder that always passes a temporary
//! `--data-dir` (the round-robin cursor and the job journal live there), so no test can
//! write the submitter's state under the real home directory.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::binaries::bin;
use crate::netns::Host;
use crate::process::{Finished, Process};

/// Bound on one `pws-submit` invocation unless [`Submit::timeout`] says otherwise.
pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(60);

/// A submitter data directory shared by several runs, for tests about state kept between
/// runs (round-robin across runs; `jobs`, `results` and `resume` reading a job's journal).
pub struct SubmitterDir(TempDir);

impl SubmitterDir {
    pub fn new() -> SubmitterDir {
        SubmitterDir(tempfile::tempdir().expect("temp dir"))
    }

    /// A `pws-submit` run using this data directory.
    pub fn submit(&self) -> Submit {
        Submit::in_data_dir(self.0.path())
    }
}

impl Default for SubmitterDir {
    fn default() -> Self {
        Self::new()
    }
}

/// One `pws-submit` run: add arguments, then run it to completion (`expect_success`,
/// `expect_code`, `run`) or start it in the background (`spawn`).
#[must_use = "a Submit does nothing until it is run"]
pub struct Submit {
    command: Command,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    /// The data directory when it is this run's own.
    own_dir: Option<TempDir>,
}

impl Submit {
    /// A run with a data directory of its own.
    pub fn new() -> Submit {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut submit = Self::in_data_dir(dir.path());
        submit.own_dir = Some(dir);
        submit
    }

    /// A run on `host` of a NAT test bed, with a data directory of its own.
    pub fn on_host(host: &Host) -> Submit {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut submit = Self::with_command(host.command("pws-submit"), dir.path());
        submit.own_dir = Some(dir);
        submit
    }

    fn in_data_dir(data_dir: &Path) -> Submit {
        Self::with_command(Command::new(bin("pws-submit")), data_dir)
    }

    fn with_command(mut command: Command, data_dir: &Path) -> Submit {
        command.arg("--data-dir").arg(data_dir);
        Submit {
            command,
            stdin: None,
            timeout: SUBMIT_TIMEOUT,
            own_dir: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Submit {
        self.command.arg(arg);
        self
    }

    pub fn args(mut self, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Submit {
        self.command.args(args);
        self
    }

    /// `--relay <relay> map <task> --range <range>`.
    pub fn map_range(self, relay: &str, task: &str, range: &str) -> Submit {
        self.args(["--relay", relay, "map", task, "--range", range])
    }

    /// What the run reads on standard input (otherwise nothing).
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Submit {
        self.stdin = Some(input.into());
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Submit {
        self.command.env(key, value);
        self
    }

    /// Bound on the run (default [`SUBMIT_TIMEOUT`]); a run that takes longer is killed and
    /// fails the test.
    pub fn timeout(mut self, timeout: Duration) -> Submit {
        self.timeout = timeout;
        self
    }

    /// Start the run in the background (e.g. to interrupt it); `name` labels its logs.
    pub fn spawn(mut self, name: &str) -> Process {
        let mut process = Process::spawn_with_stdin(name, &mut self.command, self.stdin);
        if let Some(dir) = self.own_dir {
            process.keep(dir);
        }
        process
    }

    /// Run to completion, whatever the exit status.
    pub fn run(self) -> Finished {
        let timeout = self.timeout;
        self.spawn("pws-submit").wait_with_output(timeout)
    }

    /// Run to completion and assert it exited 0; prints the command line, status and output
    /// otherwise.
    #[track_caller]
    pub fn expect_success(self) -> Finished {
        self.run().expect_success()
    }

    /// Run to completion and assert it exited with `code`.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Finished {
        self.run().expect_code(code)
    }
}

impl Default for Submit {
    fn default() -> Self {
        Self::new()
    }
}

/// Run a task file through `pws-submit run --json` and return the result object (exit 0
/// with an `ok` value, non-zero with an `error`).
pub fn run_json(relay_addr: &str, extra: &[&str], task: &str) -> Value {
    let output = Submit::new()
        .args(["--relay", relay_addr, "run", "--json", task])
        .args(extra)
        .run();
    let result = parse_json_line(&output);
    assert_eq!(
        output.status.success(),
        result.get("ok").is_some(),
        "exit status and result disagree\n{}",
        output.report()
    );
    result
}

/// The single JSON line a `--json` command prints on stdout.
pub fn parse_json_line(output: &Finished) -> Value {
    serde_json::from_str(output.stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e})\n{}", output.report()))
}

/// The JSON lines a command printed (e.g. `map`'s result lines).
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// The node list as `pws-submit nodes --json` prints it.
pub fn list_nodes(relay_addr: &str) -> Value {
    parse_json_line(
        &Submit::new()
            .args(["--relay", relay_addr, "nodes", "--json"])
            .expect_success(),
    )
}

/// Ask the registry (bounded number of times) until the only node reports itself busy.
pub fn wait_until_busy(relay_addr: &str) {
    for _ in 0..100 {
        if list_nodes(relay_addr)[0]["state"] == "busy" {
            return;
        }
    }
    panic!("the node never became busy");
}
