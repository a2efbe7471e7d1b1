//! A harness for end-to-end tests: start the real `relay` and `pws-node` binaries as child
//! processes on loopback, wait for their readiness lines (never a sleep), run `pws-submit`,
//! and kill everything on drop. When a test fails, the children's logs are printed.
//!
//! The binaries are found next to the test executable's directory (`target/<profile>/`), so
//! build them first: `cargo build --bins && cargo test`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use serde_json::Value;
use tempfile::TempDir;

pub mod browser;

/// Bound on every wait for a child's readiness line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one `pws-submit` invocation.
pub const SUBMIT_TIMEOUT_SECS: u32 = 60;

/// The directory of the workspace binaries: the test executable's `target/<profile>/`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps")
        .to_path_buf()
}

/// Path of a workspace binary, built into the same target directory as this test.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (cargo build --bins)",
        path.display()
    );
    path
}

/// A child process whose stdout lines arrive on a channel and whose stderr is kept for the
/// failure report.
pub struct Process {
    name: String,
    /// `None` once the process was waited for.
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    stderr_lines: mpsc::Receiver<String>,
}

/// What a background process printed, once it exited.
pub struct Finished {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Process {
    pub fn spawn(name: &str, command: &mut Command) -> Process {
        let mut child = command
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        let (stderr_tx, stderr_lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = stderr_tx.send(line);
            }
        });
        Process {
            name: name.to_string(),
            child: Some(child),
            lines,
            seen: Vec::new(),
            stderr,
            stderr_lines,
        }
    }

    /// Wait (bounded) for a stderr line matching `predicate`; returns it.
    pub fn wait_for_stderr_line(&mut self, what: &str, predicate: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr_lines.recv_timeout(left) {
                Ok(line) if predicate(&line) => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "{} did not print {what} on stderr within {READY_TIMEOUT:?}; stderr: {}",
                    self.name,
                    self.stderr.lock().unwrap()
                ),
            }
        }
    }

    /// Wait (bounded by [`SUBMIT_TIMEOUT_SECS`]) for the process to exit on its own.
    pub fn wait_with_output(&mut self) -> Finished {
        let mut child = self.child.take().expect("process still running");
        let pid = child.id().to_string();
        let (tx, exited) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = match exited.recv_timeout(Duration::from_secs(SUBMIT_TIMEOUT_SECS.into())) {
            Ok(status) => status.expect("wait for child"),
            Err(_) => {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
                panic!("{} did not exit within {SUBMIT_TIMEOUT_SECS} s", self.name);
            }
        };
        // The reader threads end with the pipes; collect what they read.
        let stdout: Vec<String> = self.lines.iter().collect();
        self.stderr_lines.iter().for_each(drop);
        self.seen.extend(stdout.iter().cloned());
        Finished {
            status,
            stdout: stdout.join("\n"),
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }

    /// Wait (bounded) for the next stdout line matching `predicate`; returns it.
    pub fn wait_for_line(&mut self, what: &str, predicate: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if predicate(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "{} did not print {what} within {:?}; stdout so far: {:?}",
                    self.name, READY_TIMEOUT, self.seen
                ),
            }
        }
    }

    /// Send SIGTERM and wait (bounded) for the process to exit; returns whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        let mut child = self.child.take().expect("process still running");
        let pid = child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let (tx, exited) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        match exited.recv_timeout(READY_TIMEOUT) {
            Ok(status) => status.expect("wait for child").success(),
            Err(_) => {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
                panic!(
                    "{} did not exit within {READY_TIMEOUT:?} of SIGTERM",
                    self.name
                );
            }
        }
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- {} stdout ----\n{}\n---- {} stderr ----\n{}",
                self.name,
                self.seen.join("\n"),
                self.name,
                self.stderr.lock().unwrap()
            );
        }
    }
}

/// The relay binary on loopback, with its own data directory.
pub struct Relay {
    pub process: Process,
    pub addrs: Vec<Multiaddr>,
    /// Base URL of the web node page, e.g. `http://127.0.0.1:34567/`.
    pub http: String,
    pub data_dir: TempDir,
}

impl Relay {
    pub fn start() -> Relay {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let listen = [
            "/ip4/127.0.0.1/tcp/0",
            "/ip4/127.0.0.1/udp/0/quic-v1",
            "/ip4/127.0.0.1/udp/0/webrtc-direct",
        ]
        .map(|addr| addr.parse().expect("valid multiaddr"));
        Self::start_on(data_dir, &listen, "127.0.0.1:0")
    }

    /// A relay listening on exactly `listen`, serving its web page on `http`.
    pub fn start_listening(listen: &[Multiaddr], http: &str) -> Relay {
        Self::start_on(tempfile::tempdir().expect("temp dir"), listen, http)
    }

    fn start_on(data_dir: TempDir, listen: &[Multiaddr], http: &str) -> Relay {
        let mut command = Command::new(bin("relay"));
        command.arg("--data-dir").arg(data_dir.path());
        for addr in listen {
            command.arg("--listen").arg(addr.to_string());
        }
        command.args(["--http", http]);
        let mut process = Process::spawn("relay", &mut command);
        let page = process.wait_for_stderr_line("the web page's address", |line| {
            line.contains("web node page at http://")
        });
        let http = page[page.find("http://").expect("a URL")..]
            .trim()
            .to_string();
        let addrs = (0..listen.len())
            .map(|_| {
                process
                    .wait_for_line("a listen address", |line| line.starts_with('/'))
                    .parse()
                    .expect("relay prints multiaddrs")
            })
            .collect();
        Relay {
            process,
            addrs,
            http,
            data_dir,
        }
    }

    /// The relay's address for a transport: "tcp", "quic-v1" or "webrtc-direct".
    pub fn addr(&self, transport: &str) -> String {
        self.addrs
            .iter()
            .map(ToString::to_string)
            .find(|addr| addr.contains(&format!("/{transport}/")))
            .unwrap_or_else(|| panic!("relay has no {transport} address: {:?}", self.addrs))
    }

    pub fn tcp(&self) -> String {
        self.addr("tcp")
    }

    /// Stop the relay and start it again on the same ports with the same identity.
    pub fn restart(self) -> Relay {
        let Relay {
            mut process,
            addrs,
            data_dir,
            ..
        } = self;
        process.kill();
        drop(process);
        let listen: Vec<Multiaddr> = addrs
            .iter()
            .map(|addr| {
                addr.iter()
                    .take_while(|p| !matches!(p, Protocol::P2p(_) | Protocol::Certhash(_)))
                    .collect()
            })
            .collect();
        let restarted = Self::start_on(data_dir, &listen, "127.0.0.1:0");
        assert_eq!(
            restarted.addrs, addrs,
            "a restarted relay keeps its addresses"
        );
        restarted
    }
}

/// A `pws-node` process, registered at a relay.
pub struct Node {
    pub process: Process,
    pub peer_id: String,
    pub addrs: Vec<String>,
    _data_dir: TempDir,
}

impl Node {
    /// A node listening on loopback on every transport.
    pub fn start(relay: &Relay, extra_args: &[&str]) -> Node {
        let mut args = vec![
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--listen",
            "/ip4/127.0.0.1/udp/0/quic-v1",
            "--listen",
            "/ip4/127.0.0.1/udp/0/webrtc-direct",
        ];
        args.extend_from_slice(extra_args);
        Self::start_with(relay, &args)
    }

    /// A node with exactly these arguments (besides relay and data dir).
    pub fn start_with(relay: &Relay, args: &[&str]) -> Node {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new(bin("pws-node"));
        command
            .arg("--relay")
            .arg(relay.tcp())
            .arg("--data-dir")
            .arg(data_dir.path())
            .args(args);
        let mut process = Process::spawn("pws-node", &mut command);
        process.wait_for_line("registered", |line| line == "registered");
        let addrs: Vec<String> = process
            .seen
            .iter()
            .filter(|line| line.starts_with('/'))
            .cloned()
            .collect();
        let peer_id = addrs
            .first()
            .and_then(|addr| addr.rsplit("/p2p/").next())
            .expect("a node prints its addresses before registering")
            .to_string();
        Node {
            process,
            peer_id,
            addrs,
            _data_dir: data_dir,
        }
    }

    /// Wait (bounded) until the node prints `registered` again, e.g. after a relay restart.
    pub fn wait_registered(&mut self) {
        self.process
            .wait_for_line("registered", |line| line == "registered");
    }
}

/// Run `pws-submit` with `args` (bounded by `timeout`), with a data directory of its own.
pub fn submit(args: &[&str]) -> Output {
    submit_with_stdin(args, "")
}

pub fn submit_with_stdin(args: &[&str], stdin: &str) -> Output {
    submit_with(args, stdin, &[])
}

/// Run `pws-submit` with `args`, `stdin` and extra environment variables.
pub fn submit_with(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    submit_within(SUBMIT_TIMEOUT_SECS, args, stdin, env)
}

/// Run `pws-submit` like [`submit_with`], bounded by `timeout_secs` instead.
pub fn submit_within(
    timeout_secs: u32,
    args: &[&str],
    stdin: &str,
    env: &[(&str, &str)],
) -> Output {
    use std::io::Write;
    let mut child = Command::new("timeout")
        .args(["--kill-after=5", &timeout_secs.to_string()])
        .arg(bin("pws-submit"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pws-submit");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let output = child.wait_with_output().expect("wait for pws-submit");
    assert_ne!(
        output.status.code(),
        Some(124),
        "pws-submit {args:?} timed out; stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Run a task file through `pws-submit run --json` and return the result object.
pub fn run_json(relay_addr: &str, extra: &[&str], task: &str) -> Value {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut args = vec!["--relay", relay_addr, "--data-dir"];
    let dir = data_dir
        .path()
        .to_str()
        .expect("utf-8 temp path")
        .to_string();
    args.push(&dir);
    args.extend_from_slice(&["run", "--json", task]);
    args.extend_from_slice(extra);
    let output = submit(&args);
    parse_json_line(&output)
}

/// The single JSON line a `--json` command prints on stdout.
pub fn parse_json_line(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON value ({e}): {stdout:?}; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The JSON lines a command printed (e.g. `map`'s result lines).
pub fn json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

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

/// Ask the registry (bounded number of times) until the only node reports itself busy.
pub fn wait_until_busy(relay_addr: &str) {
    for _ in 0..100 {
        let listing = parse_json_line(&submit(&["--relay", relay_addr, "nodes", "--json"]));
        if listing[0]["state"] == "busy" {
            return;
        }
    }
    panic!("the node never became busy");
}

/// Process ids of the children of `pid` (a node's sandbox workers).
pub fn children_of(pid: u32) -> Vec<u32> {
    let output = Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .expect("run pgrep");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}
