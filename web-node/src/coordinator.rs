//! The coordinator page's submitter: the same session, dispatch and job scheduler as
//! `pws-submit`, over a browser swarm. It joins through the relay over WebRTC-direct and
//! reaches nodes through their relayed addresses; the relay only passes encrypted streams on.
//! Answers go to the page as JSON text in the shapes `pws-submit` prints.

use std::rc::Rc;
use std::time::Duration;

use futures::channel::oneshot;
use libp2p::Multiaddr;
use pws_net::protocol::TaskRequest;
use pws_net::strategy::Strategy;
use pws_net::transport::TransportKind;
use pws_submit::cursor::Cursor;
use pws_submit::dispatch;
use pws_submit::job::scheduler::{End, Feed, Scheduler};
use pws_submit::job::{self, JobSpec, inputs};
use pws_submit::session::Session;
use pws_submit::source::TaskSource;
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::join;

/// How long a task or job waits for a node to be available (`pws-submit --wait`'s default).
const WAIT: Duration = Duration::from_secs(10);
/// Extra attempts for a job's task lost to a vanished or busy node (`map --retries`).
const RETRIES: u32 = 3;

/// A submitter connected to the relay.
#[wasm_bindgen]
pub struct Coordinator {
    session: Session,
    /// Where round-robin goes on from, across the page's runs.
    cursor: Rc<Cursor>,
}

/// A fresh key for the page to keep (libp2p's protobuf encoding).
#[wasm_bindgen]
pub fn new_key() -> Result<Vec<u8>, JsError> {
    join::key_of(&join::identity_of(None)?)
}

/// The peer id of `key`: what a private network's owner grants.
#[wasm_bindgen]
pub fn peer_id_of(key: &[u8]) -> Result<String, JsError> {
    Ok(join::identity_of(Some(key))?.peer_id().to_string())
}

/// Join the network at `relay` (the relay's WebRTC-direct address) as `key`; `network` and
/// `grant` name a private network and the page's grant.
#[wasm_bindgen]
pub async fn connect(
    relay: String,
    key: Vec<u8>,
    network: Option<String>,
    grant: Option<String>,
) -> Result<Coordinator, JsError> {
    join::init_logging();
    let relay: Multiaddr = relay
        .parse()
        .map_err(|e| JsError::new(&format!("bad relay address {relay}: {e}")))?;
    let identity = join::identity_of(Some(&key))?;
    let access = join::access_of(network.as_deref(), grant.as_deref())?;
    let session = Session::connect_as(&[relay], &[TransportKind::Webrtc], access, Some(identity))
        .await
        .map_err(join::to_js)?;
    Ok(Coordinator {
        session,
        cursor: Rc::new(Cursor::new(None)),
    })
}

#[wasm_bindgen]
impl Coordinator {
    #[wasm_bindgen(getter)]
    pub fn peer_id(&self) -> String {
        self.session.client.local_peer_id().to_string()
    }

    /// The registry as the announcements built it: a JSON array of the nodes, each with its
    /// peer id and announced status.
    pub fn nodes(&self) -> js_sys::Promise {
        let client = self.session.client.clone();
        future_to_promise(async move {
            let nodes = client.registry().await.map_err(to_js_value)?;
            Ok(json_text(&json!(nodes)))
        })
    }

    /// Look for nodes now (rendezvous and the DHT) and ask each for its status, rather than
    /// waiting for their next announcements; resolves to [`Coordinator::nodes`]' list.
    pub fn discover(&self) -> js_sys::Promise {
        let session = self.session.clone();
        future_to_promise(async move {
            session
                .refresh_for_work()
                .await
                .map_err(|e| to_js_value(format!("{e:#}")))?;
            let nodes = session.client.registry().await.map_err(to_js_value)?;
            Ok(json_text(&json!(nodes)))
        })
    }

    /// Run one task (`task`: JavaScript source or a WebAssembly module's bytes) and resolve
    /// to `pws-submit run --json`'s object. `on_progress` gets the fractions the task reports.
    pub fn run(
        &self,
        task: Vec<u8>,
        input: Option<String>,
        strategy: &str,
        timeout_ms: Option<u32>,
        on_progress: js_sys::Function,
    ) -> Result<js_sys::Promise, JsError> {
        let strategy = strategy_of(strategy)?;
        let request = TaskRequest {
            input: input.map(|input| checked_json(&input)).transpose()?,
            timeout_ms: timeout_ms.map(u64::from),
            ..source_of(task)?.request()
        };
        let (session, cursor) = (self.session.clone(), self.cursor.clone());
        Ok(future_to_promise(async move {
            let report = |fraction: f64| {
                let _ = on_progress.call1(&JsValue::NULL, &fraction.into());
            };
            let dispatched =
                dispatch::run(&session, &request, strategy, WAIT, &cursor, report).await;
            Ok(json_text(&dispatched.to_json()))
        }))
    }

    /// Start a job: `task` over the inputs (`range`, e.g. `0..200`, or `lines`, one JSON
    /// value per line). `on_result` gets each result line (`pws-submit map`'s format) with the
    /// scheduler's counters: `(line, running, retried, nodes_in_use)`.
    pub fn map(
        &self,
        task: Vec<u8>,
        range: Option<String>,
        lines: Option<String>,
        strategy: &str,
        timeout_ms: Option<u32>,
        on_result: js_sys::Function,
    ) -> Result<Job, JsError> {
        let spec = JobSpec {
            source: source_of(task)?,
            strategy: strategy_of(strategy)?,
            timeout_ms: timeout_ms.map(u64::from),
            replicas: 1,
            quorum: 1,
        };
        let (mut feed, total) = feed_of(range, lines)?;
        let session = self.session.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let finished = future_to_promise(async move {
            let mut scheduler = Scheduler::new(&session, &spec, RETRIES, WAIT);
            let on_finished = |finished, counters: job::scheduler::Counters| {
                let (_, line) = job::result_line(&finished);
                let _ = on_result.apply(
                    &JsValue::NULL,
                    &js_sys::Array::of4(
                        &line.into(),
                        &(counters.running as f64).into(),
                        &(counters.retried as f64).into(),
                        &(counters.nodes_in_use as f64).into(),
                    ),
                );
                Ok(())
            };
            let stop = async {
                let _ = stopped.await;
            };
            let end = (scheduler.run(&mut feed, on_finished, stop).await)
                .map_err(|e| to_js_value(format!("{e:#}")))?;
            let left_out: Vec<String> = (scheduler.left_out().iter())
                .map(ToString::to_string)
                .collect();
            Ok(json_text(&json!({
                "end": match end {
                    End::Complete => "complete",
                    End::NoNodes => "no-nodes",
                    End::Interrupted => "cancelled",
                },
                "left_out": left_out,
            })))
        });
        Ok(Job {
            total,
            stop: Some(stop),
            finished,
        })
    }
}

/// A running job: `finished` resolves to `{end, left_out}` once every input has a result,
/// no node is left for the wait time, or [`Job::cancel`] was called.
#[wasm_bindgen]
pub struct Job {
    total: u64,
    stop: Option<oneshot::Sender<()>>,
    finished: js_sys::Promise,
}

#[wasm_bindgen]
impl Job {
    #[wasm_bindgen(getter)]
    pub fn total(&self) -> f64 {
        // A number in JavaScript.
        self.total as f64
    }

    #[wasm_bindgen(getter)]
    pub fn finished(&self) -> js_sys::Promise {
        self.finished.clone()
    }

    /// Stop sending tasks; the tasks that were running are abandoned.
    pub fn cancel(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A job's inputs: a range, produced as the scheduler reads it (a long range costs no
/// memory), or JSON lines, checked before the job starts.
enum Inputs {
    Range(std::iter::Enumerate<std::ops::Range<i64>>),
    Lines(std::iter::Enumerate<std::vec::IntoIter<String>>),
}

impl Feed for Inputs {
    fn next(&mut self) -> anyhow::Result<Option<(u64, String)>> {
        Ok(match self {
            Inputs::Range(range) => range.next().map(|(i, n)| (i as u64, n.to_string())),
            Inputs::Lines(lines) => lines.next().map(|(i, line)| (i as u64, line)),
        })
    }
}

/// The inputs and how many there are.
fn feed_of(range: Option<String>, lines: Option<String>) -> Result<(Inputs, u64), JsError> {
    match (range, lines) {
        (Some(range), None) => {
            let range = inputs::parse_range(&range).map_err(|e| JsError::new(&e))?;
            let total = range.end.abs_diff(range.start);
            Ok((Inputs::Range(range.enumerate()), total))
        }
        (None, Some(lines)) => {
            let reader = std::io::Cursor::new(lines);
            let lines: anyhow::Result<Vec<String>> =
                inputs::json_lines_of("the inputs".into(), reader).collect();
            let lines = lines.map_err(join::to_js)?;
            let total = lines.len() as u64;
            Ok((Inputs::Lines(lines.into_iter().enumerate()), total))
        }
        _ => Err(JsError::new("give the inputs as a range or as JSON lines")),
    }
}

fn source_of(task: Vec<u8>) -> Result<TaskSource, JsError> {
    TaskSource::from_bytes(task).map_err(join::to_js)
}

/// `random`, `least-loaded` or `round-robin`, as `--strategy` takes them.
fn strategy_of(name: &str) -> Result<Strategy, JsError> {
    serde_json::from_value(json!(name)).map_err(|_| JsError::new(&format!("no strategy {name}")))
}

fn checked_json(text: &str) -> Result<String, JsError> {
    serde_json::from_str::<serde_json::Value>(text)
        .map_err(|e| JsError::new(&format!("the input is not JSON: {e}")))?;
    Ok(text.to_string())
}

fn json_text(value: &serde_json::Value) -> JsValue {
    JsValue::from_str(&value.to_string())
}

fn to_js_value(error: impl std::fmt::Display) -> JsValue {
    js_sys::Error::new(&error.to_string()).into()
}
