use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use libp2p::Multiaddr;
use pws_net::protocol::TaskRequest;
use pws_net::strategy::Strategy;
use pws_net::transport::TransportKind;
use pws_submit::cursor::Cursor;
use pws_submit::dispatch;
use pws_submit::job::{self, inputs, scheduler::SchedulerOptions};
use pws_submit::journal::Journal;
use pws_submit::local::{LOCAL_NODE_SLOTS, LocalNetwork};
use pws_submit::output::{self, EXIT_NOT_RUN};
use pws_submit::session::Session;

#[global_allocator]
static ALLOCATOR: pws_node::memory::LimitedAllocator = pws_node::memory::LimitedAllocator;

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
    /// Where the submitter keeps its state (the last node used, for round-robin; the job
    /// journal). Default: the platform data dir (e.g. ~/.local/share/pws/submit).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// The job journal (SQLite). Default: jobs.sqlite in the data dir.
    #[arg(long, global = true)]
    journal: Option<PathBuf>,
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
    /// Run a function over many inputs across every available node; one JSON result line
    /// per input.
    Map {
        /// JavaScript file with the function; each input is passed to it.
        task: PathBuf,
        /// A JSON-lines file: one input (JSON value) per line; `-` reads standard input.
        #[arg(long, conflicts_with = "range", required_unless_present = "range")]
        inputs: Option<PathBuf>,
        /// Integer inputs START..END (END excluded), e.g. 0..1000.
        #[arg(long)]
        range: Option<String>,
        /// How to pick among nodes with free slots.
        #[arg(long, value_enum, default_value_t = Strategy::LeastLoaded)]
        strategy: Strategy,
        /// Wall-clock seconds each task may run; nodes cap this at their own limit.
        #[arg(long)]
        timeout: Option<f64>,
        /// Run each task on this many distinct nodes.
        #[arg(long, default_value_t = 1)]
        replicas: u32,
        /// Accept a result when this many replicas agree (default: a majority).
        #[arg(long)]
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

/// How a job runs and reports.
#[derive(Args)]
struct JobRunArgs {
    /// Write result lines here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write result lines as tasks complete instead of in input order.
    #[arg(long)]
    unordered: bool,
    /// Extra attempts for a task lost to a vanished or busy node.
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
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
    pws_net::logging::init();
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
/// errors), or a network or journal that could not be used (exit 3).
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
    let wait = Duration::try_from_secs_f64(cli.wait).map_err(|_| {
        usage(anyhow::anyhow!(
            "--wait must be a non-negative number of seconds"
        ))
    })?;
    let data_dir = cli.data_dir.clone().or_else(|| {
        directories::ProjectDirs::from("", "", "pws").map(|d| d.data_dir().join("submit"))
    });
    let journal_path = match (&cli.journal, &data_dir) {
        (Some(path), _) => Some(path.clone()),
        (None, Some(dir)) => Some(dir.join("jobs.sqlite")),
        (None, None) => None,
    };
    let open_journal = || -> Result<Journal, Failure> {
        let path = journal_path
            .as_deref()
            .context("no data directory for the job journal; pass --journal")?;
        Ok(Journal::open(path)?)
    };

    // Commands that need no network, and everything read from files before connecting:
    // a typo should fail fast.
    let work = match &cli.command {
        Command::Jobs { json } => {
            output::print_jobs(&open_journal()?.jobs()?, *json);
            return Ok(ExitCode::SUCCESS);
        }
        Command::Results { job } => {
            let journal = open_journal()?;
            let mut stdout = std::io::stdout().lock();
            journal.results(job, |line| {
                Ok(std::io::Write::write_all(
                    &mut stdout,
                    format!("{line}\n").as_bytes(),
                )?)
            })?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Run {
            task,
            input,
            timeout,
            ..
        } => Work::Task(read_task(task, input.as_deref(), *timeout).map_err(usage)?),
        Command::Nodes { .. } => Work::Nothing,
        Command::Map {
            task,
            inputs,
            range,
            strategy,
            timeout,
            replicas,
            quorum,
            ..
        } => {
            let code = read_code(task).map_err(usage)?;
            let quorum = quorum.unwrap_or(replicas / 2 + 1);
            if *replicas == 0 || quorum == 0 || quorum > *replicas {
                return Err(usage(anyhow::anyhow!(
                    "need 1 <= --quorum <= --replicas (got {quorum} of {replicas})"
                )));
            }
            let options = SchedulerOptions {
                strategy: *strategy,
                retries: 0,
                timeout_ms: timeout_ms(*timeout).map_err(usage)?,
                wait,
                replicas: *replicas,
                quorum,
            };
            let mut journal = open_journal()?;
            let job = match (inputs, range) {
                (Some(path), _) => {
                    let lines = inputs::json_lines(path).map_err(usage)?;
                    journal.create_job(
                        &code,
                        &serde_json::to_string(&options).expect("options serialize"),
                        lines,
                    )
                }
                (None, Some(range)) => {
                    let range = inputs::parse_range(range).map_err(usage)?;
                    journal.create_job(
                        &code,
                        &serde_json::to_string(&options).expect("options serialize"),
                        inputs::range(range),
                    )
                }
                (None, None) => unreachable!("clap requires --inputs or --range"),
            }
            .map_err(usage)?;
            eprintln!("job {job}");
            Work::Job(journal, job, options)
        }
        Command::Resume { job, .. } => {
            let journal = open_journal()?;
            let record = journal.job(job).map_err(usage)?;
            let mut options: SchedulerOptions = serde_json::from_str(&record.options)
                .context("the journaled job options are unreadable")?;
            options.wait = wait;
            Work::Job(journal, job.clone(), options)
        }
    };

    let transports = cli.transport.kinds();
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
            let local = LocalNetwork::start(nodes, LOCAL_NODE_SLOTS).await?;
            let relay = local
                .relay_addr(&transports)
                .context("the local relay has no address for the chosen transport")?
                .clone();
            (Some(local), relay)
        }
    };
    let session = Session::connect(&relay, &transports).await?;
    match (cli.command, work) {
        (Command::Run { strategy, json, .. }, Work::Task(task)) => {
            let cursor = Cursor::new(data_dir.as_deref());
            let outcome = dispatch::run(&session, &task, strategy, wait, &cursor).await;
            Ok(output::print_outcome(&outcome, json))
        }
        (Command::Nodes { json }, _) => {
            let nodes = session.refresh().await?;
            output::print_nodes(&nodes, json);
            Ok(ExitCode::SUCCESS)
        }
        (
            Command::Map { run, .. } | Command::Resume { run, .. },
            Work::Job(mut journal, job, mut options),
        ) => {
            options.retries = run.retries;
            let mut out = open_output(run.out.as_deref())?;
            let summary = job::run(
                &session,
                &mut journal,
                &job,
                options,
                job::Report {
                    out: &mut out,
                    ordered: !run.unordered,
                    quiet: run.quiet,
                },
                async {
                    let _ = tokio::signal::ctrl_c().await;
                },
            )
            .await?;
            Ok(output::print_summary(&summary))
        }
        _ => unreachable!("work matches its command"),
    }
}

/// What a command needs once connected.
enum Work {
    Nothing,
    Task(TaskRequest),
    Job(Journal, String, SchedulerOptions),
}

fn open_output(path: Option<&Path>) -> Result<Box<dyn std::io::Write>> {
    Ok(match path {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    })
}

fn read_code(path: &Path) -> Result<String> {
    if path.as_os_str() == "-" {
        let mut code = String::new();
        std::io::stdin()
            .read_to_string(&mut code)
            .context("cannot read the task from standard input")?;
        Ok(code)
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the task file {}", path.display()))
    }
}

fn timeout_ms(timeout: Option<f64>) -> Result<Option<u64>> {
    timeout
        .map(|secs| {
            Duration::try_from_secs_f64(secs)
                .ok()
                .filter(|t| !t.is_zero())
                .map(|t| t.as_millis() as u64)
                .context("--timeout must be a positive number of seconds")
        })
        .transpose()
}

fn read_task(path: &Path, input: Option<&str>, timeout: Option<f64>) -> Result<TaskRequest> {
    let code = read_code(path)?;
    if let Some(input) = input {
        serde_json::from_str::<serde_json::Value>(input)
            .with_context(|| format!("--input is not valid JSON: {input}"))?;
    }
    Ok(TaskRequest {
        code,
        input: input.map(str::to_string),
        timeout_ms: timeout_ms(timeout)?,
        id: None,
    })
}
