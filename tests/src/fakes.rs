//! Nodes that never work, for the tests and benchmarks of a network under attack: the
//! `silent-node` binary (registered nodes that swallow every request, or identities that only
//! announce themselves on gossip), how many of them a submitter's registry holds, and the
//! time of a job of trivial tasks beside them.

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use pws_net::transport::TransportKind;
use pws_submit::session::Session;

use crate::{Process, READY_TIMEOUT, Relay, Submit, bin, json_lines, path_of, task_file};

/// A `silent-node` process and the peer ids of its identities.
pub struct SilentNodes {
    pub process: Process,
    pub ids: Vec<String>,
}

impl SilentNodes {
    /// Start `identities` fresh identities at the relay at `relay_addr`, announcing `slots`
    /// free slots each (`gossip`: announcing only, unreachable); returns once all are up
    /// (allowing a second for every 20 identities to connect).
    pub fn start(relay_addr: &str, slots: u32, identities: usize, gossip: bool) -> SilentNodes {
        let mut fakes = Self::launch(relay_addr, slots, identities, gossip);
        let allowed = READY_TIMEOUT + Duration::from_secs(identities as u64 / 20);
        fakes
            .process
            .wait_for_line_within(allowed, "ready", |line| line == "ready");
        fakes
    }

    /// Start them as [`SilentNodes::start`] does, but return once every identity exists,
    /// while they are still connecting: a flood may outrun the relay, and what reaches a
    /// submitter is then the measure ([`most_seen_by_a_submitter`]).
    pub fn launch(relay_addr: &str, slots: u32, identities: usize, gossip: bool) -> SilentNodes {
        Self::launch_command(
            Command::new(bin("silent-node")),
            relay_addr,
            slots,
            identities,
            gossip,
        )
    }

    /// As [`SilentNodes::launch`], at the lowest CPU priority (`nice -n 19`): an attacker's
    /// processes run on the attacker's machines, so on a machine shared with the honest
    /// peers they should take only the CPU those leave.
    pub fn launch_niced(
        relay_addr: &str,
        slots: u32,
        identities: usize,
        gossip: bool,
    ) -> SilentNodes {
        let mut command = Command::new("nice");
        command.args(["-n", "19"]).arg(bin("silent-node"));
        Self::launch_command(command, relay_addr, slots, identities, gossip)
    }

    /// Give every thread of the fakes' process the CPU priority `niceness` (on Linux a
    /// priority is a thread's own, so each is set).
    pub fn renice(&self, niceness: i32) {
        let pid = self.process.pid().expect("the fakes run");
        let threads: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
            .expect("the fakes' threads")
            .map(|entry| {
                entry
                    .expect("a thread")
                    .file_name()
                    .into_string()
                    .expect("a tid")
            })
            .collect();
        let status = Command::new("renice")
            .args(["-n", &niceness.to_string(), "-p"])
            .args(&threads)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("renice runs");
        assert!(status.success(), "renice {niceness} failed");
    }

    fn launch_command(
        mut command: Command,
        relay_addr: &str,
        slots: u32,
        identities: usize,
        gossip: bool,
    ) -> SilentNodes {
        command.args([relay_addr, &slots.to_string(), &identities.to_string()]);
        if gossip {
            command.arg("gossip");
        }
        let mut process = Process::spawn("silent-node", &mut command);
        for _ in 0..identities {
            process
                .wait_for_line_within(READY_TIMEOUT, "a peer id", |line| line.starts_with("12D3"));
        }
        let ids = process.seen().to_vec();
        SilentNodes { process, ids }
    }
}

/// How many of `fakes` a fresh submitter's registry holds once `at_least` are there or
/// `within` has passed, whichever comes first: the most it held meanwhile.
pub fn most_seen_by_a_submitter(
    relay: &Relay,
    fakes: &HashSet<String>,
    at_least: usize,
    within: Duration,
) -> usize {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let relay_addr = relay.tcp().parse().expect("the relay's address");
        let session = Session::connect(&relay_addr, &[TransportKind::Tcp])
            .await
            .expect("connected to the relay");
        let deadline = tokio::time::Instant::now() + within;
        let mut most = 0;
        while most < at_least && tokio::time::Instant::now() < deadline {
            let registry = session.client.registry().await.expect("a registry");
            let seen = registry
                .iter()
                .filter(|node| fakes.contains(&node.peer_id.to_string()))
                .count();
            most = most.max(seen);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        most
    })
}

/// `pws-submit map` over `0..count` of a trivial task through `relay`; checks every result
/// and returns the job's wall time.
pub fn time_trivial_job(relay: &Relay, count: u64) -> Duration {
    let task = task_file("function(n) { return n + 1; }");
    let started = Instant::now();
    let output = Submit::new()
        .args(["--relay", &relay.tcp(), "map", path_of(&task)])
        .args(["--range", &format!("0..{count}"), "--quiet"])
        .expect_success();
    let elapsed = started.elapsed();
    let results = json_lines(&output.stdout);
    assert_eq!(results.len() as u64, count);
    assert!(
        results
            .iter()
            .all(|line| line["ok"] == line["index"].as_u64().expect("an index") + 1)
    );
    elapsed
}
