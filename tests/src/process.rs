//! Child processes of a test: started with a temporary home of their own, read line by line,
//! waited for within bounds, signalled, and killed on drop (printing their logs when the
//! test failed).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;

/// Bound on every wait for a child's readiness line, and on its exit after SIGTERM.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Where programs keep per-user files: every child gets these pointed into a temporary
/// directory, so nothing a test starts can write under the real home directory.
const HOME_VARIABLES: &[(&str, &str)] = &[
    ("HOME", ""),
    ("XDG_DATA_HOME", ".local/share"),
    ("XDG_CONFIG_HOME", ".config"),
    ("XDG_CACHE_HOME", ".cache"),
    ("XDG_STATE_HOME", ".local/state"),
];

/// Run `work` (which waits for the process `pid`) on a thread; if it does not finish within
/// `timeout`, SIGKILL the process and return `None`.
pub(crate) fn within<T: Send + 'static>(
    pid: u32,
    timeout: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    match done.recv_timeout(timeout) {
        Ok(value) => Some(value),
        Err(_) => {
            let _ = signal(pid, Signal::SIGKILL);
            None
        }
    }
}

/// Send `signal` to the process `pid`.
pub fn signal(pid: u32, signal: Signal) -> nix::Result<()> {
    let pid = i32::try_from(pid).expect("a pid fits in pid_t");
    kill(Pid::from_raw(pid), signal)
}

/// Process ids of the children of `pid` (e.g. a node's sandbox workers), from `/proc`.
pub fn children_of(pid: u32) -> Vec<u32> {
    let entries = std::fs::read_dir("/proc").expect("read /proc");
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&candidate| parent_of(candidate) == Some(pid))
        .collect()
}

/// Resident memory of the process `pid` in bytes (`VmRSS` in `/proc/<pid>/status`), if it
/// still runs.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Resident memory of `pid` and all its children (a node and its sandbox workers).
pub fn rss_with_children(pid: u32) -> u64 {
    let children = children_of(pid).into_iter().filter_map(rss_bytes);
    rss_bytes(pid).unwrap_or(0) + children.sum::<u64>()
}

/// The parent pid in `/proc/<pid>/stat`: the second field after the command name, which is
/// in parentheses and may itself contain spaces and parentheses.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// The command line as a person would type it, for failure reports.
pub(crate) fn command_line(command: &Command) -> String {
    let envs = command.get_envs().filter_map(|(key, value)| {
        let value = value?;
        let is_home = key == "TMPDIR"
            || HOME_VARIABLES
                .iter()
                .any(|(name, _)| OsStr::new(name) == key);
        (!is_home).then(|| format!("{}={}", key.display(), value.display()))
    });
    let words = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|word| word.display().to_string());
    envs.chain(words).collect::<Vec<_>>().join(" ")
}

/// A child process whose stdout lines arrive on a channel and whose stderr is kept for the
/// failure report.
pub struct Process {
    name: String,
    command_line: String,
    /// `None` once the process was waited for.
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    stderr_lines: mpsc::Receiver<String>,
    /// The child's home, and any directory its arguments name that must outlive it.
    _dirs: Vec<TempDir>,
}

/// What a process printed, once it exited.
pub struct Finished {
    pub command_line: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Assert the process exited 0; returns what it printed.
    #[track_caller]
    pub fn expect_success(self) -> Finished {
        assert!(self.status.success(), "expected success\n{}", self.report());
        self
    }

    /// Assert the process exited with `code`; returns what it printed.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Finished {
        assert_eq!(
            self.status.code(),
            Some(code),
            "expected exit code {code}\n{}",
            self.report()
        );
        self
    }

    /// The command line, exit status and output, for a failed assertion.
    pub fn report(&self) -> String {
        format!(
            "command: {}\nstatus: {}\n---- stdout ----\n{}\n---- stderr ----\n{}",
            self.command_line, self.status, self.stdout, self.stderr
        )
    }
}

impl Process {
    pub fn spawn(name: &str, command: &mut Command) -> Process {
        Self::spawn_with_stdin(name, command, None)
    }

    /// Start `command` with its own temporary home, feeding it `stdin` (if any) and
    /// closing it.
    pub(crate) fn spawn_with_stdin(
        name: &str,
        command: &mut Command,
        stdin: Option<Vec<u8>>,
    ) -> Process {
        let home = tempfile::tempdir().expect("temp dir");
        for (variable, below) in HOME_VARIABLES {
            command.env(variable, home.path().join(below));
        }
        // Temporary files too (a node's sandbox directory), so a killed child leaves none.
        let tmp = home.path().join("tmp");
        std::fs::create_dir(&tmp).expect("temp dir for the child");
        command.env("TMPDIR", &tmp);
        if !command.get_envs().any(|(key, _)| key == "RUST_LOG") {
            let level = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
            command.env("RUST_LOG", level);
        }
        let command_line = command_line(command);
        let mut child = command
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command_line}: {e}"));
        if let Some(bytes) = stdin {
            let mut pipe = child.stdin.take().expect("piped stdin");
            // A thread: a child that prints before reading must not block on us.
            std::thread::spawn(move || pipe.write_all(&bytes));
        }
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
            command_line,
            child: Some(child),
            lines,
            seen: Vec::new(),
            stderr,
            stderr_lines,
            _dirs: vec![home],
        }
    }

    /// Keep `dir` alive as long as the process.
    pub(crate) fn keep(&mut self, dir: TempDir) {
        self._dirs.push(dir);
    }

    /// The stdout lines read so far.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// What the process wrote on stderr so far.
    pub fn stderr_so_far(&self) -> String {
        self.stderr.lock().unwrap().clone()
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

    /// Wait (bounded by `timeout`) for the process to exit on its own; returns everything
    /// it printed. SIGKILLs it and fails if it does not exit in time.
    pub fn wait_with_output(&mut self, timeout: Duration) -> Finished {
        let mut child = self.child.take().expect("process still running");
        let status = within(child.id(), timeout, move || child.wait())
            .unwrap_or_else(|| panic!("{} did not exit within {timeout:?}", self.name))
            .expect("wait for child");
        // The reader threads end with the pipes; collect what they read.
        self.seen.extend(self.lines.iter());
        self.stderr_lines.iter().for_each(drop);
        Finished {
            command_line: self.command_line.clone(),
            status,
            stdout: self.seen.join("\n"),
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }

    /// Wait (bounded) for the next stdout line matching `predicate`; returns it.
    pub fn wait_for_line(&mut self, what: &str, predicate: impl Fn(&str) -> bool) -> String {
        self.wait_for_line_within(READY_TIMEOUT, what, predicate)
    }

    /// As [`Process::wait_for_line`], for something that takes longer than starting up.
    pub fn wait_for_line_within(
        &mut self,
        timeout: Duration,
        what: &str,
        predicate: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
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
                    "{} did not print {what} within {timeout:?}; {} lines of stdout so far, the \
                     last: {:?}",
                    self.name,
                    self.seen.len(),
                    self.seen.last()
                ),
            }
        }
    }

    /// Send `signal` to the running process.
    pub fn signal(&self, signal: Signal) {
        let pid = self.pid().expect("process still running");
        self::signal(pid, signal).unwrap_or_else(|e| panic!("cannot signal {}: {e}", self.name));
    }

    /// Send SIGTERM and wait (bounded) for the process to exit; returns whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        self.signal(Signal::SIGTERM);
        let mut child = self.child.take().expect("process still running");
        within(child.id(), READY_TIMEOUT, move || child.wait())
            .unwrap_or_else(|| {
                panic!(
                    "{} did not exit within {READY_TIMEOUT:?} of SIGTERM",
                    self.name
                )
            })
            .expect("wait for child")
            .success()
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            within(child.id(), READY_TIMEOUT, move || child.wait());
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- {} ({}) stdout ----\n{}\n---- {} stderr ----\n{}",
                self.name,
                self.command_line,
                self.seen.join("\n"),
                self.name,
                self.stderr.lock().unwrap()
            );
        }
    }
}
