//! The network under test: the `relay` and `pws-node` binaries on loopback, each with a
//! temporary data directory, ready once they print their readiness lines.

use std::path::Path;
use std::process::Command;

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use tempfile::TempDir;

use crate::binaries::bin;
use crate::netns::Host;
use crate::process::Process;

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
        Self::start_with(&[])
    }

    /// A relay on loopback on every transport, with these arguments too.
    pub fn start_with(extra_args: &[&str]) -> Relay {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let listen = [
            "/ip4/127.0.0.1/tcp/0",
            "/ip4/127.0.0.1/udp/0/quic-v1",
            "/ip4/127.0.0.1/udp/0/webrtc-direct",
        ]
        .map(|addr| addr.parse().expect("valid multiaddr"));
        Self::start_on(data_dir, &listen, "127.0.0.1:0", extra_args)
    }

    /// A relay on `host` of a NAT test bed, listening there on TCP and QUIC.
    pub fn start_on_host(host: &Host) -> Relay {
        Self::start_on_host_with(host, &[])
    }

    /// As [`Relay::start_on_host`], with these arguments too.
    pub fn start_on_host_with(host: &Host, extra_args: &[&str]) -> Relay {
        let listen = [
            format!("/ip4/{}/tcp/0", host.ip),
            format!("/ip4/{}/udp/0/quic-v1", host.ip),
        ]
        .map(|addr| addr.parse().expect("valid multiaddr"));
        let http = format!("{}:0", host.ip);
        let data_dir = tempfile::tempdir().expect("temp dir");
        Self::start_command(host.command("relay"), data_dir, &listen, &http, extra_args)
    }

    /// A relay listening on exactly `listen`, serving its web page on `http`.
    pub fn start_listening(listen: &[Multiaddr], http: &str) -> Relay {
        Self::start_on(tempfile::tempdir().expect("temp dir"), listen, http, &[])
    }

    fn start_on(data_dir: TempDir, listen: &[Multiaddr], http: &str, extra: &[&str]) -> Relay {
        Self::start_command(Command::new(bin("relay")), data_dir, listen, http, extra)
    }

    fn start_command(
        mut command: Command,
        data_dir: TempDir,
        listen: &[Multiaddr],
        http: &str,
        extra: &[&str],
    ) -> Relay {
        command.arg("--data-dir").arg(data_dir.path()).args(extra);
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
        let restarted = Self::start_on(data_dir, &listen, "127.0.0.1:0", &[]);
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
        Self::start_command(relay, args, Command::new(bin("pws-node")), data_dir)
    }

    /// A node listening on loopback, keeping its identity in `data_dir` (see [`peer_id_in`]).
    pub fn start_in_data_dir(relay: &Relay, data_dir: TempDir, extra_args: &[&str]) -> Node {
        let mut args = vec!["--listen", "/ip4/127.0.0.1/tcp/0"];
        args.extend_from_slice(extra_args);
        Self::start_command(relay, &args, Command::new(bin("pws-node")), data_dir)
    }

    /// A node on `host` of a NAT test bed, listening on all its addresses (TCP and QUIC).
    pub fn start_on_host(relay: &Relay, host: &Host, extra_args: &[&str]) -> Node {
        let mut args = vec![
            "--listen",
            "/ip4/0.0.0.0/tcp/0",
            "--listen",
            "/ip4/0.0.0.0/udp/0/quic-v1",
        ];
        args.extend_from_slice(extra_args);
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut node = Self::start_command(relay, &args, host.command("pws-node"), data_dir);
        // Behind a NAT only the relayed address reaches the node: wait until the node is
        // registered with it (its first registration may have come before its reservation).
        if !node.addrs.iter().any(|addr| addr.contains("/p2p-circuit")) {
            node.process
                .wait_for_line("a relayed address", |line| line.contains("/p2p-circuit"));
            node.wait_registered();
        }
        node
    }

    /// A node from another build of `pws-node` (the aarch64 one, say, which the kernel runs
    /// through qemu-user's binfmt handler), listening on loopback over TCP.
    pub fn start_binary(relay: &Relay, program: &Path, extra_args: &[&str]) -> Node {
        let mut args = vec!["--listen", "/ip4/127.0.0.1/tcp/0"];
        args.extend_from_slice(extra_args);
        let data_dir = tempfile::tempdir().expect("temp dir");
        Self::start_command(relay, &args, Command::new(program), data_dir)
    }

    /// A node listening on loopback, started in the working directory `cwd`.
    pub fn start_in(relay: &Relay, cwd: &Path, extra_args: &[&str]) -> Node {
        let mut command = Command::new(bin("pws-node"));
        command.current_dir(cwd);
        let mut args = vec!["--listen", "/ip4/127.0.0.1/tcp/0"];
        args.extend_from_slice(extra_args);
        let data_dir = tempfile::tempdir().expect("temp dir");
        Self::start_command(relay, &args, command, data_dir)
    }

    fn start_command(
        relay: &Relay,
        args: &[&str],
        mut command: Command,
        data_dir: TempDir,
    ) -> Node {
        command
            .arg("--relay")
            .arg(relay.tcp())
            .arg("--data-dir")
            .arg(data_dir.path())
            .args(args);
        let mut process = Process::spawn("pws-node", &mut command);
        process.wait_for_line("registered", |line| line == "registered");
        let addrs: Vec<String> = process
            .seen()
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

/// `<binary> id --data-dir <data_dir>`: the peer id of the identity kept there (made if
/// there is none), for `pws-node` or `relay`.
pub fn peer_id_in(binary: &str, data_dir: &Path) -> String {
    let mut command = Command::new(bin(binary));
    command.arg("id").arg("--data-dir").arg(data_dir);
    let output = Process::spawn(binary, &mut command)
        .wait_with_output(crate::READY_TIMEOUT)
        .expect_success();
    let line = output.stdout.trim().to_string();
    assert!(
        line.parse::<libp2p::PeerId>().is_ok() && output.stdout.lines().count() == 1,
        "{binary} id printed {:?}",
        output.stdout
    );
    line
}
