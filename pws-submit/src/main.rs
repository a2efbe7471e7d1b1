//! `pws-submit`: read and check everything the command line names, then join the network
//! and do the command's work.

mod cli;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::Parser;
use libp2p::Multiaddr;
use pws_net::grant::{self, Grant, SignedGrant};
use pws_net::identity::Identity;
use pws_net::peer::Access;
use pws_net::protocol::TaskRequest;
use pws_net::strategy::Strategy;
use pws_net::transport::TransportKind;
use pws_submit::cursor::Cursor;
use pws_submit::exit::ExitStatus;
use pws_submit::job::{self, JobSpec};
use pws_submit::journal::{Job, Journal};
use pws_submit::local::{LOCAL_NODE_SLOTS, LocalNetwork};
use pws_submit::session::Session;
use pws_submit::source::TaskSource;
use pws_submit::{dispatch, output};

use cli::{Cli, Command, JobRunArgs, NetworkSource};

/// How often `nodes --watch` asks again.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

#[global_allocator]
static ALLOCATOR: pws_node::memory::LimitedAllocator = pws_node::memory::LimitedAllocator;

fn main() -> ExitCode {
    pws_node::sandbox::worker::run_if_requested();
    pws_net::logging::init();
    match submit(Cli::parse()) {
        Ok(status) => status.into(),
        Err(Failure { status, error }) => {
            eprintln!(
                "error: {}",
                pws_submit::terminal::printable(&format!("{error:#}"))
            );
            status.into()
        }
    }
}

/// Why nothing ran, and the exit status that says which way.
struct Failure {
    status: ExitStatus,
    error: anyhow::Error,
}

/// A network or journal that could not be used.
impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure {
            status: ExitStatus::NotRun,
            error,
        }
    }
}

/// A mistake in how the command was called.
fn usage(error: anyhow::Error) -> Failure {
    Failure {
        status: ExitStatus::Usage,
        error,
    }
}

/// Do what the command line says. Everything local is read and checked before connecting:
/// a typo should fail fast.
fn submit(cli: Cli) -> Result<ExitStatus, Failure> {
    let data_dir = cli.data_dir.or_else(default_data_dir);
    let journal_path = cli
        .journal
        .or_else(|| data_dir.as_ref().map(|dir| dir.join("jobs.sqlite")));
    let open_journal = || -> Result<Journal, Failure> {
        let path = journal_path
            .as_deref()
            .context("no data directory for the job journal; pass --journal")?;
        Ok(Journal::open(path)?)
    };
    let work = match cli.command {
        Command::Id => {
            println!("{}", own_identity(data_dir.as_deref())?.peer_id());
            return Ok(ExitStatus::Success);
        }
        Command::Grant {
            peer,
            role,
            expires,
            name,
        } => {
            let owner = own_identity(data_dir.as_deref())?;
            let grant = Grant {
                network: owner.peer_id(),
                peer,
                role,
                expires: grant::unix_now().saturating_add(expires.as_secs()),
                name,
            };
            println!(
                "{}",
                SignedGrant::sign(&owner.keypair, &grant).map_err(usage)?
            );
            return Ok(ExitStatus::Success);
        }
        Command::Jobs { json } => {
            output::print_jobs(&open_journal()?.jobs()?, json);
            return Ok(ExitStatus::Success);
        }
        Command::Results { job } => {
            print_results(&open_journal()?, &job)?;
            return Ok(ExitStatus::Success);
        }
        Command::Run {
            task,
            input,
            strategy,
            json,
            timeout,
        } => Work::Task {
            request: read_task(&task, input, timeout).map_err(usage)?,
            strategy,
            json,
            cursor: Cursor::new(data_dir.as_deref()),
        },
        Command::Nodes { json, watch } => Work::Nodes { json, watch },
        Command::Map {
            task,
            inputs,
            strategy,
            timeout,
            replicas,
            quorum,
            run,
        } => {
            let spec = JobSpec {
                source: TaskSource::read(&task).map_err(usage)?,
                strategy,
                timeout_ms: timeout.map(millis),
                replicas,
                quorum: job::quorum_of(replicas, quorum).map_err(|e| usage(anyhow!(e)))?,
            };
            let mut journal = open_journal()?;
            let inputs = inputs.open().map_err(usage)?;
            let job = journal.create_job(&spec, inputs).map_err(usage)?;
            eprintln!("job {}", job.record.id);
            Work::Job { journal, job, run }
        }
        Command::Resume { job, run } => {
            let journal = open_journal()?;
            let job = journal
                .job(&job)?
                .with_context(|| format!("no job {job} in the journal (see `pws-submit jobs`)"))
                .map_err(usage)?;
            Work::Job { journal, job, run }
        }
    };
    let source = cli.network.source().map_err(usage)?;
    let access = cli.private_network.access().map_err(usage)?;
    // In a private network grants name peers: the submitter shows its lasting identity.
    let identity = match access.owner() {
        Some(_) => Some(own_identity(data_dir.as_deref())?),
        None => None,
    };
    let joining = Joining { access, identity };
    let runtime = tokio::runtime::Runtime::new().expect("cannot start the tokio runtime");
    runtime.block_on(work.run(source, joining, &cli.transport.kinds(), cli.wait))
}

/// The network a command joins, and as whom.
struct Joining {
    access: Access,
    identity: Option<Identity>,
}

/// What a command does once connected.
enum Work {
    Task {
        request: TaskRequest,
        strategy: Strategy,
        json: bool,
        cursor: Cursor,
    },
    Nodes {
        json: bool,
        watch: bool,
    },
    Job {
        journal: Journal,
        job: Job,
        run: JobRunArgs,
    },
}

impl Work {
    async fn run(
        self,
        source: NetworkSource,
        joining: Joining,
        transports: &[TransportKind],
        wait: Duration,
    ) -> Result<ExitStatus, Failure> {
        let relays = relays_of(source, transports).await?;
        let session =
            Session::connect_as(&relays, transports, joining.access, joining.identity).await?;
        let status = self.run_connected(&session, wait).await;
        session.close().await;
        status
    }

    async fn run_connected(self, session: &Session, wait: Duration) -> Result<ExitStatus, Failure> {
        Ok(match self {
            Work::Task {
                request,
                strategy,
                json,
                cursor,
            } => {
                let bar = progress_bar();
                let on_progress = |fraction: f64| bar.set_position((fraction * 1000.0) as u64);
                let run = dispatch::run(session, &request, strategy, wait, &cursor, on_progress);
                let status = tokio::select! {
                    outcome = run => output::print_outcome(&outcome, json),
                    _ = tokio::signal::ctrl_c() => ExitStatus::Interrupted,
                };
                bar.finish_and_clear();
                status
            }
            Work::Nodes { json, watch } => watch_nodes(session, json, watch).await?,
            Work::Job {
                mut journal,
                job,
                run,
            } => {
                let mut out = open_output(run.out.as_deref())?;
                let options = job::RunOptions {
                    retries: run.retries,
                    wait,
                    out: &mut out,
                    ordered: !run.unordered,
                    quiet: run.quiet,
                };
                let ctrl_c = async {
                    let _ = tokio::signal::ctrl_c().await;
                };
                let summary = job::run(session, &mut journal, &job, options, ctrl_c).await?;
                output::print_summary(&summary)
            }
        })
    }
}

/// A task's progress on stderr, when it is a terminal.
fn progress_bar() -> indicatif::ProgressBar {
    if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(1000)
    } else {
        indicatif::ProgressBar::hidden()
    }
}

/// `nodes`: the registry once, or (`watch`) again and again until Ctrl-C.
async fn watch_nodes(session: &Session, json: bool, watch: bool) -> Result<ExitStatus> {
    let redraw = watch && !json && std::io::stdout().is_terminal();
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let mut first = true;
    loop {
        let nodes = tokio::select! {
            nodes = session.refresh() => nodes?,
            _ = &mut ctrl_c => return Ok(stopped(watch)),
        };
        if redraw {
            // Clear the terminal and go home: the table is redrawn in place.
            print!("\x1b[2J\x1b[H");
        } else if !first && !json {
            println!();
        }
        output::print_nodes(&nodes, json);
        std::io::stdout().flush()?;
        if !watch {
            return Ok(ExitStatus::Success);
        }
        first = false;
        tokio::select! {
            () = tokio::time::sleep(WATCH_INTERVAL) => {}
            _ = &mut ctrl_c => return Ok(stopped(watch)),
        }
    }
}

/// Ctrl-C is how a watch ends; anything else it interrupts.
fn stopped(watch: bool) -> ExitStatus {
    if watch {
        ExitStatus::Success
    } else {
        ExitStatus::Interrupted
    }
}

/// The relays to connect to: those given, or that of a network started in this process
/// (it runs as long as the process).
async fn relays_of(source: NetworkSource, transports: &[TransportKind]) -> Result<Vec<Multiaddr>> {
    match source {
        NetworkSource::Relays(relays) => Ok(relays),
        NetworkSource::Local(nodes) => LocalNetwork::start(nodes, LOCAL_NODE_SLOTS)
            .await?
            .relay_addr(transports)
            .cloned()
            .map(|relay| vec![relay])
            .context("the local relay has no address for the chosen transport"),
    }
}

/// This submitter's lasting identity, kept in its data directory.
fn own_identity(data_dir: Option<&Path>) -> Result<Identity> {
    let dir =
        data_dir.context("no data directory for the submitter's identity; pass --data-dir")?;
    Identity::load_or_create(dir)
}

/// The submitter's platform data directory, e.g. `~/.local/share/pws/submit`; none without
/// a home directory.
fn default_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "pws").map(|dirs| dirs.data_dir().join("submit"))
}

/// `results`: the job's result lines so far, in input order.
fn print_results(journal: &Journal, job: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    journal.results(job, |line| {
        Ok(writeln!(
            stdout,
            "{}",
            pws_submit::terminal::safe_json(line)
        )?)
    })
}

fn open_output(path: Option<&Path>) -> Result<Box<dyn Write>> {
    Ok(match path {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    })
}

fn read_task(path: &Path, input: Option<String>, timeout: Option<Duration>) -> Result<TaskRequest> {
    let source = TaskSource::read(path)?;
    if let Some(input) = &input {
        serde_json::from_str::<serde_json::Value>(input)
            .with_context(|| format!("--input is not valid JSON: {input}"))?;
    }
    Ok(TaskRequest {
        input,
        timeout_ms: timeout.map(millis),
        ..source.request()
    })
}

/// Milliseconds, as the wire gives task time limits.
fn millis(duration: Duration) -> u64 {
    duration.as_millis() as u64
}
