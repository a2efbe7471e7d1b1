use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use libp2p::Multiaddr;
use pws_net::protocol::TaskRequest;
use pws_net::strategy::Strategy;
use pws_net::transport::TransportKind;
use pws_submit::cursor::Cursor;
use pws_submit::dispatch;
use pws_submit::local::LocalNetwork;
use pws_submit::output::{self, EXIT_NOT_RUN};
use pws_submit::session::Session;

/// Send JavaScript tasks to PWS nodes and print their results.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Address of the relay, ending in /p2p/<relay peer id> (as the relay prints it).
    #[arg(long, global = true, env = "PWS_RELAY")]
    relay: Option<Multiaddr>,
    /// Start a relay and N nodes inside this process, on loopback, and use them.
    #[arg(long, global = true, value_name = "N")]
    local: Option<usize>,
    /// Transports used to reach the relay and the nodes.
    #[arg(long, global = true, value_enum, default_value_t = TransportChoice::Any)]
    transport: TransportChoice,
    /// Seconds to wait for a node to become available before giving up.
    #[arg(long, global = true, default_value_t = 10.0)]
    wait: f64,
    /// Where the submitter keeps its state (the last node used, for round-robin).
    /// Default: the platform data dir (e.g. ~/.local/share/pws/submit).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one task and print its result as one line of JSON.
    Run {
        /// JavaScript file: a function expression (called with the input) or a script whose
        /// completion value is the result. `-` reads standard input.
        task: PathBuf,
        /// JSON value passed to the task's function.
        #[arg(long)]
        input: Option<String>,
        /// How to pick the node.
        #[arg(long, value_enum, default_value_t = Strategy::Random)]
        strategy: Strategy,
        /// Print a result object: {"ok": <value>, "node", "ms"} or {"error": {"kind", "message"}, ...}
        /// (with "logs" when the task wrote to the console).
        #[arg(long)]
        json: bool,
        /// Wall-clock seconds the task may run; nodes cap this at their own limit.
        #[arg(long)]
        timeout: Option<f64>,
    },
    /// List the nodes of the network with their status.
    Nodes {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum TransportChoice {
    Tcp,
    Quic,
    Webrtc,
    Any,
}

impl TransportChoice {
    fn kinds(self) -> Vec<TransportKind> {
        match self {
            TransportChoice::Tcp => vec![TransportKind::Tcp],
            TransportChoice::Quic => vec![TransportKind::Quic],
            TransportChoice::Webrtc => vec![TransportKind::Webrtc],
            TransportChoice::Any => TransportKind::ALL.to_vec(),
        }
    }
}

fn main() -> ExitCode {
    pws_node::sandbox::worker::run_if_requested();
    pws_net::process::init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("cannot start the tokio runtime");
    match runtime.block_on(submit(cli)) {
        Ok(code) => code,
        Err(Failure::Usage(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(Failure::NotRun(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_NOT_RUN)
        }
    }
}

/// Why nothing ran: a mistake in how the command was called (exit 2, like clap's own usage
/// errors), or a network that could not be used (exit 3).
enum Failure {
    Usage(anyhow::Error),
    NotRun(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::NotRun(e)
    }
}

fn usage(e: anyhow::Error) -> Failure {
    Failure::Usage(e)
}

async fn submit(cli: Cli) -> Result<ExitCode, Failure> {
    let transports = cli.transport.kinds();
    let wait = Duration::try_from_secs_f64(cli.wait).map_err(|_| {
        usage(anyhow::anyhow!(
            "--wait must be a non-negative number of seconds"
        ))
    })?;
    // Read the task before touching the network: a typo should fail fast.
    let task = match &cli.command {
        Command::Run {
            task,
            input,
            timeout,
            ..
        } => Some(read_task(task, input.as_deref(), *timeout).map_err(usage)?),
        Command::Nodes { .. } => None,
    };
    let (_local, relay) = match (cli.local, cli.relay) {
        (Some(_), Some(_)) => {
            return Err(usage(anyhow::anyhow!(
                "give either --relay or --local, not both"
            )));
        }
        (None, None) => {
            return Err(usage(anyhow::anyhow!(
                "no network given: pass --relay <relay address> (or set PWS_RELAY), or --local N"
            )));
        }
        (None, Some(relay)) => (None, relay),
        (Some(0), None) => return Err(usage(anyhow::anyhow!("--local needs at least 1 node"))),
        (Some(nodes), None) => {
            let local = LocalNetwork::start(nodes).await?;
            let relay = local
                .relay_addr(&transports)
                .context("the local relay has no address for the chosen transport")?
                .clone();
            (Some(local), relay)
        }
    };
    let session = Session::connect(&relay, &transports).await?;
    match cli.command {
        Command::Run { strategy, json, .. } => {
            let data_dir = pws_net::identity::data_dir_or_default(cli.data_dir, "submit").ok();
            let cursor = Cursor::new(data_dir.as_deref());
            let task = task.expect("read above for `run`");
            let outcome = dispatch::run(&session, &task, strategy, wait, &cursor).await;
            Ok(output::print_outcome(&outcome, json))
        }
        Command::Nodes { json } => {
            let nodes = session.refresh().await?;
            output::print_nodes(&nodes, json);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn read_task(path: &PathBuf, input: Option<&str>, timeout: Option<f64>) -> Result<TaskRequest> {
    let code = if path.as_os_str() == "-" {
        let mut code = String::new();
        std::io::stdin()
            .read_to_string(&mut code)
            .context("cannot read the task from standard input")?;
        code
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the task file {}", path.display()))?
    };
    if let Some(input) = input {
        serde_json::from_str::<serde_json::Value>(input)
            .with_context(|| format!("--input is not valid JSON: {input}"))?;
    }
    let timeout_ms = timeout
        .map(|secs| {
            Duration::try_from_secs_f64(secs)
                .ok()
                .filter(|t| !t.is_zero())
                .map(|t| t.as_millis() as u64)
                .context("--timeout must be a positive number of seconds")
        })
        .transpose()?;
    Ok(TaskRequest {
        code,
        input: input.map(str::to_string),
        timeout_ms,
    })
}
