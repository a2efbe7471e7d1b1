//! A NAT test bed in Linux network namespaces (it needs root, iproute2 and iptables): a
//! "public" segment, 198.51.100.0/24, for the relay and any public peer, and private LANs in
//! 192.0.2.0/24, each behind its own NAT router. Every address is from the documentation
//! ranges, so nothing here can reach a real host. The namespaces (and with them every
//! interface and NAT rule) are removed on drop.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::bin;

/// The public segment's bridge address, where the relay listens.
pub const PUBLIC_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// How a LAN's router maps its hosts' connections.
#[derive(Debug, Clone, Copy)]
pub enum Nat {
    /// Linux's MASQUERADE: a host's source port is kept where it can be, the same mapping
    /// whatever the destination (endpoint-independent), so hole punching can work.
    EndpointIndependent,
    /// MASQUERADE with `--random-fully`: a fresh random port per connection, so no peer can
    /// predict the mapping and hole punching cannot work.
    RandomPorts,
}

pub struct NatBed {
    prefix: String,
    namespaces: Vec<String>,
    lans: u8,
}

/// A LAN behind its own NAT router.
pub struct Lan {
    router: String,
    /// The LAN's first address: its /26 starts here.
    base: Ipv4Addr,
    hosts: u8,
}

/// A machine of the bed: a namespace of its own with one address.
pub struct Host {
    pub netns: String,
    pub ip: Ipv4Addr,
}

impl Host {
    /// The command that runs one of the workspace's binaries on this host.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.netns])
            .arg(bin(program));
        command
    }

    /// `GET url` from inside this host's namespace (a node's metrics, say): the body of a
    /// `200 OK` answer. The request goes from a thread that has entered the namespace.
    pub fn http_get(&self, url: &str) -> String {
        let netns = std::fs::File::open(format!("/var/run/netns/{}", self.netns))
            .unwrap_or_else(|e| panic!("cannot open namespace {}: {e}", self.netns));
        let url = url.to_string();
        std::thread::spawn(move || {
            nix::sched::setns(netns, nix::sched::CloneFlags::CLONE_NEWNET)
                .expect("the thread enters the namespace");
            crate::http::get(&url)
        })
        .join()
        .expect("the request in the namespace")
    }
}

impl NatBed {
    /// The public segment, with nothing behind it yet. Fails the test with the reason if
    /// namespaces cannot be made here (not root, no iproute2).
    pub fn new() -> NatBed {
        static BEDS: AtomicUsize = AtomicUsize::new(0);
        let mut bed = NatBed {
            prefix: format!(
                "pws{}-{}",
                std::process::id(),
                BEDS.fetch_add(1, Ordering::Relaxed)
            ),
            namespaces: Vec::new(),
            lans: 0,
        };
        let public = bed.namespace("pub");
        ip(&public, "link add br0 type bridge");
        ip(&public, &format!("addr add {PUBLIC_IP}/24 dev br0"));
        ip(&public, "link set br0 up");
        bed
    }

    /// The public segment as a host (the relay's place).
    pub fn public(&self) -> Host {
        Host {
            netns: format!("{}pub", self.prefix),
            ip: PUBLIC_IP,
        }
    }

    /// A new LAN behind a router that maps as `nat` says.
    pub fn lan(&mut self, nat: Nat) -> Lan {
        let k = self.lans;
        self.lans += 1;
        let router = self.namespace(&format!("r{k}"));
        let public = format!("{}pub", self.prefix);
        let wan_ip = Ipv4Addr::new(198, 51, 100, 10 + k);
        let base = Ipv4Addr::new(192, 0, 2, 64 * k);
        let gateway = Ipv4Addr::from(u32::from(base) + 1);
        run(&format!(
            "ip link add wan netns {router} type veth peer name wan{k} netns {public}"
        ));
        ip(&public, &format!("link set wan{k} master br0"));
        ip(&public, &format!("link set wan{k} up"));
        ip(&router, &format!("addr add {wan_ip}/24 dev wan"));
        ip(&router, "link set wan up");
        ip(&router, "link add lan type bridge");
        ip(&router, &format!("addr add {gateway}/26 dev lan"));
        ip(&router, "link set lan up");
        in_netns(&router, "sysctl -qw net.ipv4.ip_forward=1");
        let random = match nat {
            Nat::EndpointIndependent => "",
            Nat::RandomPorts => " --random-fully",
        };
        in_netns(
            &router,
            &format!("iptables -t nat -A POSTROUTING -o wan -j MASQUERADE{random}"),
        );
        // Like a home router, drop what arrives unasked from outside. A bare Linux router
        // answers it with a refusal instead, which no home router does and which ends a hole
        // punch at its first packet.
        in_netns(
            &router,
            "iptables -A INPUT -i wan -m conntrack --ctstate NEW,INVALID -j DROP",
        );
        Lan {
            router,
            base,
            hosts: 0,
        }
    }

    /// A new machine on `lan`, its traffic routed through the LAN's router.
    pub fn host(&mut self, lan: &mut Lan) -> Host {
        let j = lan.hosts;
        lan.hosts += 1;
        let netns = self.namespace(&format!(
            "{}h{j}",
            lan.router.trim_start_matches(&self.prefix)
        ));
        let host_ip = Ipv4Addr::from(u32::from(lan.base) + 10 + u32::from(j));
        let gateway = Ipv4Addr::from(u32::from(lan.base) + 1);
        let router = &lan.router;
        run(&format!(
            "ip link add eth0 netns {netns} type veth peer name h{j} netns {router}"
        ));
        ip(router, &format!("link set h{j} master lan"));
        ip(router, &format!("link set h{j} up"));
        ip(&netns, &format!("addr add {host_ip}/26 dev eth0"));
        ip(&netns, "link set eth0 up");
        ip(&netns, &format!("route add default via {gateway}"));
        Host { netns, ip: host_ip }
    }

    /// A namespace of this bed, with its loopback up.
    fn namespace(&mut self, name: &str) -> String {
        let netns = format!("{}{name}", self.prefix);
        let created = Command::new("ip").args(["netns", "add", &netns]).output();
        match created {
            Ok(output) if output.status.success() => {}
            Ok(output) => panic!(
                "cannot create network namespace {netns} (the NAT tests need root and \
                 iproute2): {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            Err(e) => panic!("cannot run `ip` (the NAT tests need iproute2): {e}"),
        }
        self.namespaces.push(netns.clone());
        ip(&netns, "link set lo up");
        netns
    }
}

impl Default for NatBed {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NatBed {
    fn drop(&mut self) {
        for netns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", netns]).status();
        }
    }
}

/// `ip -n <netns> <args>`.
fn ip(netns: &str, args: &str) {
    run(&format!("ip -n {netns} {args}"));
}

/// A command run inside `netns`.
fn in_netns(netns: &str, command: &str) {
    run(&format!("ip netns exec {netns} {command}"));
}

/// Run a set-up command (words separated by spaces); fail the test with its words if it
/// fails.
fn run(command: &str) {
    let words: Vec<&str> = command.split(' ').collect();
    let output = Command::new(words[0])
        .args(&words[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{command}` (the NAT tests need it): {e}"));
    assert!(
        output.status.success(),
        "`{command}` failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
}
