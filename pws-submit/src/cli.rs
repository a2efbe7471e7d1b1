//! The command line as clap parses it: each flag gets its type (and is checked) by a value
//! parser, so what is left for `main` is to do what it says.

use std::num::ParseIntError;
use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use libp2p::{Multiaddr, PeerId};
use pws_net::grant;
use pws_net::strategy::Strategy;
use pws_net::transport::TransportKind;
use pws_node::network_args::PrivateNetworkArgs;
use pws_submit::job::inputs;

/// Send JavaScript tasks to PWS nodes and print their results.
#[derive(Parser)]
#[command(version)]
pub struct Cli {
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub private_network: PrivateNetworkArgs,
    /// Transports used to reach the relay and the nodes.
    #[arg(long, global = true, value_enum, default_value_t = TransportChoice::Any)]
    pub transport: TransportChoice,
    /// Seconds to wait for a node to become available before giving up.
    #[arg(long, global = true, default_value = "10", value_parser = seconds)]
    pub wait: Duration,
    /// Where the submitter keeps its state (the last node used, for round-robin; the job
    /// journal). Default: the platform data dir (e.g. ~/.local/share/pws/submit).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// The job journal (SQLite). Default: jobs.sqlite in the data dir.
    #[arg(long, global = true)]
    pub journal: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

// The network: one of the two, for every command but `jobs` and `results`.
#[derive(Args)]
#[group(id = "relay_or_local", multiple = false)]
pub struct NetworkArgs {
    /// Address of the relay, ending in /p2p/<relay peer id> (as the relay prints it). Give
    /// it more than once (or a comma list in PWS_RELAY) to use whichever relays answer.
    #[arg(long, global = true, env = "PWS_RELAY", value_delimiter = ',')]
    relay: Vec<Multiaddr>,
    /// Start a relay and N nodes inside this process, on loopback, and use them.
    #[arg(long, global = true, value_name = "N", value_parser = at_least_one::<usize>)]
    local: Option<usize>,
}

/// Where the network comes from.
pub enum NetworkSource {
    /// One or more relays of the same network.
    Relays(Vec<Multiaddr>),
    /// A relay and this many nodes, started in this process.
    Local(usize),
}

impl NetworkArgs {
    /// The network a command uses. The group rejects both flags on the same side of the
    /// command's name, but clap checks a group per command, before global flags reach the
    /// subcommand: so "required for these commands", and both flags given on either side,
    /// are checked here.
    pub fn source(self) -> Result<NetworkSource> {
        match (self.relay.is_empty(), self.local) {
            (false, None) => Ok(NetworkSource::Relays(self.relay)),
            (true, Some(nodes)) => Ok(NetworkSource::Local(nodes)),
            (true, None) => bail!(
                "no network given: pass --relay <relay address> (or set PWS_RELAY), or --local N"
            ),
            (false, Some(_)) => bail!("give either --relay or --local, not both"),
        }
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Print this submitter's peer id (its identity in the data dir, made if there is none),
    /// one line. As a network's owner, this is the network's name.
    Id,
    /// Sign a grant of the private network this submitter owns (the network named by its
    /// peer id) and print it, one line.
    Grant {
        /// The peer the grant is for (see `pws-node id`, `pws-submit id`).
        peer: PeerId,
        /// What the peer may do: `submit` tasks, or serve them as a `node`.
        #[arg(long)]
        role: grant::Role,
        /// How long the grant lasts, e.g. "30d", "12h".
        #[arg(long, default_value = "30d", value_parser = humantime::parse_duration)]
        expires: Duration,
        /// A name for the peer, shown in `nodes` (at most 64 bytes).
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Run one task and print its result as one line of JSON.
    Run {
        /// JavaScript file: a function expression (called with the input) or a script whose
        /// completion value is the result; or a WebAssembly module (a WASI command reading
        /// the input on stdin, writing the result on stdout). `-` reads standard input.
        task: PathBuf,
        /// JSON value passed to the task's function.
        #[arg(long)]
        input: Option<String>,
        /// How to pick the node.
        #[arg(long, value_parser = strategy(), default_value = "random")]
        strategy: Strategy,
        /// Print a result object: {"ok": <value>, "node", "ms"} or {"error": {"kind", "message"}, ...}
        /// (with "logs" when the task wrote to the console).
        #[arg(long)]
        json: bool,
        /// Wall-clock seconds the task may run; nodes cap this at their own limit.
        #[arg(long, value_parser = positive_seconds)]
        timeout: Option<Duration>,
    },
    /// List the nodes of the network with their status.
    Nodes {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Keep the list live: ask again every 2 s until Ctrl-C (which then exits 0). In a
        /// terminal the table is redrawn in place; otherwise each refresh is printed after
        /// the last (with --json, one array per line).
        #[arg(long)]
        watch: bool,
    },
    /// Run a function over many inputs across every available node; one JSON result line
    /// per input.
    Map {
        /// JavaScript file with the function, or a WebAssembly module; each input is passed
        /// to it.
        task: PathBuf,
        #[command(flatten)]
        inputs: InputArgs,
        /// How to pick among nodes with free slots.
        #[arg(long, value_parser = strategy(), default_value = "least-loaded")]
        strategy: Strategy,
        /// Wall-clock seconds each task may run; nodes cap this at their own limit.
        #[arg(long, value_parser = positive_seconds)]
        timeout: Option<Duration>,
        /// Run each task on this many distinct nodes.
        #[arg(long, default_value_t = 1, value_parser = at_least_one::<u32>)]
        replicas: u32,
        /// Accept a result when this many replicas agree (default: a majority).
        #[arg(long, value_parser = at_least_one::<u32>)]
        quorum: Option<u32>,
        #[command(flatten)]
        run: JobRunArgs,
    },
    /// List the jobs in the journal with their progress.
    Jobs {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the result lines a job has so far, in input order.
    Results {
        /// The job id (see `jobs`).
        job: String,
    },
    /// Continue an interrupted job: run only the inputs without a final result.
    Resume {
        /// The job id (see `jobs`).
        job: String,
        #[command(flatten)]
        run: JobRunArgs,
    },
}

// A job's inputs: exactly one of the two.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct InputArgs {
    /// A JSON-lines file: one input (JSON value) per line; `-` reads standard input.
    #[arg(long)]
    inputs: Option<PathBuf>,
    /// Integer inputs START..END (END excluded), e.g. 0..1000.
    #[arg(long, value_parser = inputs::parse_range)]
    range: Option<Range<i64>>,
}

impl InputArgs {
    /// The inputs as JSON texts, streamed.
    pub fn open(self) -> Result<Box<dyn Iterator<Item = Result<String>>>> {
        match self.range {
            Some(range) => Ok(Box::new(inputs::range(range))),
            None => inputs::json_lines(&self.inputs.expect("clap requires --inputs or --range")),
        }
    }
}

// How this run of a job goes and reports (not journaled: a resumed job may differ).
#[derive(Args)]
pub struct JobRunArgs {
    /// Write result lines here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write result lines as tasks complete instead of in input order.
    #[arg(long)]
    pub unordered: bool,
    /// Extra attempts for a task lost to a vanished or busy node.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TransportChoice {
    Tcp,
    Quic,
    Webrtc,
    Any,
}

impl TransportChoice {
    pub fn kinds(self) -> Vec<TransportKind> {
        match self {
            TransportChoice::Tcp => vec![TransportKind::Tcp],
            TransportChoice::Quic => vec![TransportKind::Quic],
            TransportChoice::Webrtc => vec![TransportKind::Webrtc],
            TransportChoice::Any => TransportKind::ALL.to_vec(),
        }
    }
}

/// A [`Strategy`] by its name (serde's); clap lists the names in `--help`.
fn strategy() -> impl TypedValueParser<Value = Strategy> {
    PossibleValuesParser::new(["random", "least-loaded", "round-robin"]).map(|name| {
        serde_json::from_value(serde_json::Value::String(name))
            .expect("each possible value names a strategy")
    })
}

/// A whole number, 1 or more.
fn at_least_one<T>(text: &str) -> Result<T, String>
where
    T: FromStr<Err = ParseIntError> + From<u8> + PartialOrd,
{
    let number: T = text.parse().map_err(|e: ParseIntError| e.to_string())?;
    if number < T::from(1) {
        return Err("must be at least 1".into());
    }
    Ok(number)
}

/// Seconds, zero or more.
fn seconds(text: &str) -> Result<Duration, String> {
    text.parse()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| "expected a non-negative number of seconds".into())
}

/// Seconds, more than zero.
fn positive_seconds(text: &str) -> Result<Duration, String> {
    seconds(text)
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| "expected a positive number of seconds".into())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    const RELAY: &str = "/ip4/127.0.0.1/tcp/4001";

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("pws-submit").chain(args.iter().copied()))
    }

    fn source(args: &[&str]) -> Result<NetworkSource> {
        parse(args).unwrap().network.source()
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_strategy_is_offered_by_its_name() {
        for name in ["random", "least-loaded", "round-robin"] {
            let Command::Run { strategy, .. } =
                parse(&["run", "t.js", "--strategy", name]).unwrap().command
            else {
                panic!("a run command");
            };
            assert_eq!(serde_json::to_value(strategy).unwrap(), name);
        }
        assert!(parse(&["run", "t.js", "--strategy", "fastest"]).is_err());
    }

    #[test]
    fn the_network_is_the_relay_or_a_local_one_given_on_either_side() {
        assert!(matches!(
            source(&["--relay", RELAY, "nodes"]),
            Ok(NetworkSource::Relays(relays)) if relays.len() == 1
        ));
        assert!(matches!(
            source(&["--relay", RELAY, "--relay", RELAY, "nodes"]),
            Ok(NetworkSource::Relays(relays)) if relays.len() == 2
        ));
        assert!(matches!(
            source(&["nodes", "--local", "2"]),
            Ok(NetworkSource::Local(2))
        ));
        assert!(source(&["nodes"]).is_err());
        assert!(source(&["--relay", RELAY, "nodes", "--local", "2"]).is_err());
        assert!(parse(&["--relay", RELAY, "--local", "2", "nodes"]).is_err());
        assert!(parse(&["--local", "0", "nodes"]).is_err());
        assert!(parse(&["jobs"]).is_ok(), "the journal needs no network");
    }

    #[test]
    fn durations_and_ranges_are_typed_and_checked() {
        let cli = parse(&["--wait", "0.5", "map", "t.js", "--range", "3..6"]).unwrap();
        assert_eq!(cli.wait, Duration::from_millis(500));
        let Command::Map {
            inputs, replicas, ..
        } = cli.command
        else {
            panic!("a map command");
        };
        assert_eq!(inputs.range, Some(3..6));
        assert_eq!(replicas, 1);
        assert_eq!(parse(&["jobs"]).unwrap().wait, Duration::from_secs(10));
        assert!(parse(&["--wait", "0", "jobs"]).is_ok());
        assert!(parse(&["--wait", "soon", "jobs"]).is_err());
        assert!(parse(&["run", "t.js", "--timeout", "0"]).is_err());
        assert!(parse(&["map", "t.js", "--range", "6..3"]).is_err());
        assert!(parse(&["map", "t.js"]).is_err(), "inputs are required");
        assert!(parse(&["map", "t.js", "--range", "0..1", "--inputs", "-"]).is_err());
        assert!(parse(&["map", "t.js", "--range", "0..1", "--replicas", "0"]).is_err());
    }
}
