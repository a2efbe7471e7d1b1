//! Jobs: one function mapped over many inputs across the network. Inputs are journaled
//! first, then the scheduler runs whatever has no final result yet, so a job interrupted in
//! any way can be resumed and every input ends with exactly one result line.

pub mod inputs;
mod progress;
mod reorder;
pub mod scheduler;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Result;
use libp2p::PeerId;
use pws_net::protocol::Outcome;
use serde_json::{Value, json};

use crate::journal::{FinalResult, Journal};
use crate::session::Session;
use progress::Progress;
use reorder::Reorder;
use scheduler::{End, Feed, Finished, Scheduler, SchedulerOptions};

/// Results are written to the journal in batches of this many, or this often.
const JOURNAL_BATCH: usize = 1000;
const JOURNAL_INTERVAL: Duration = Duration::from_millis(200);
/// Inputs are read back from the journal in pages of this many.
const FEED_PAGE: usize = 1000;

/// What a finished (or stopped) job run reports.
pub struct Summary {
    pub job: String,
    pub end: End,
    pub total: u64,
    pub done: u64,
    pub failed: u64,
    pub elapsed: Duration,
    pub per_node: BTreeMap<PeerId, u64>,
    pub excluded: Vec<PeerId>,
}

/// Inputs without a final result, paged from the journal (through a connection of its
/// own, while results are written through another).
struct JournalFeed {
    journal: Journal,
    job: String,
    page: std::vec::IntoIter<(u64, String)>,
    last: Option<u64>,
    issued: reorder::Issued,
}

impl Feed for JournalFeed {
    fn next(&mut self) -> Result<Option<(u64, String)>> {
        let next = match self.page.next() {
            Some(next) => Some(next),
            None => {
                self.page = self
                    .journal
                    .pending(&self.job, self.last, FEED_PAGE)?
                    .into_iter();
                self.page.next()
            }
        };
        if let Some((index, _)) = &next {
            self.last = Some(*index);
            self.issued.borrow_mut().push_back(*index);
        }
        Ok(next)
    }
}

/// The JSON line of one result: `{"index", "input", "ok" | "error", "node", "ms",
/// "attempts"}`, plus `"answers"` (every node's) when the task ran on replicas.
pub fn result_line(finished: &Finished) -> (bool, String) {
    let input: Value = serde_json::from_str(&finished.input).unwrap_or(Value::Null);
    let mut line = json!({"index": finished.index, "input": input});
    let ok = set_outcome(&mut line, &finished.outcome);
    line["node"] = json!(finished.node.map(|n| n.to_string()));
    line["ms"] = json!(finished.ms);
    line["attempts"] = json!(finished.attempts);
    if !finished.answers.is_empty() {
        line["answers"] = finished
            .answers
            .iter()
            .map(|(node, outcome)| {
                let mut answer = json!({"node": node.to_string()});
                set_outcome(&mut answer, outcome);
                answer
            })
            .collect();
    }
    (ok, line.to_string())
}

/// Put `"ok": <value>` or `"error": {"kind", "message"}` into `object`; true for ok.
fn set_outcome(object: &mut Value, outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Ok(text) => match serde_json::from_str::<Value>(text) {
            Ok(value) => {
                object["ok"] = value;
                true
            }
            Err(e) => {
                object["error"] = json!({
                    "kind": "invalid-value",
                    "message": format!("the node answered with invalid JSON: {e}"),
                });
                false
            }
        },
        Outcome::Error(error) => {
            object["error"] = json!({"kind": error.kind, "message": error.message});
            false
        }
    }
}

/// Where and how a job's results are shown.
pub struct Report<'o> {
    /// Result lines go here.
    pub out: &'o mut dyn Write,
    /// In input order (else as they complete).
    pub ordered: bool,
    /// No progress bar.
    pub quiet: bool,
}

/// Run (or continue) `job` from the journal until every input has a final result, no node
/// is left, or `stop` resolves.
pub async fn run(
    session: &Session,
    journal: &mut Journal,
    job: &str,
    options: SchedulerOptions,
    report: Report<'_>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Summary> {
    let Report {
        out,
        ordered,
        quiet,
    } = report;
    let record = journal.job(job)?;
    let started = Instant::now();
    let progress = Progress::new(record.total, record.done, quiet);
    let mut per_node: BTreeMap<PeerId, u64> = BTreeMap::new();
    let (mut done, mut failed) = (record.done, record.failed);
    let mut reorder = Reorder::new(ordered);
    let mut batch: Vec<FinalResult> = Vec::new();
    let mut last_flush = Instant::now();
    let mut scheduler = Scheduler::new(session, record.code.clone(), options);
    let end = {
        let mut feed = JournalFeed {
            journal: journal.reopen()?,
            job: job.to_string(),
            page: Vec::new().into_iter(),
            last: None,
            issued: reorder.issued(),
        };
        scheduler
            .run(
                &mut feed,
                |finished, counters| {
                    let (ok, line) = result_line(&finished);
                    done += 1;
                    if !ok {
                        failed += 1;
                    }
                    if let Some(node) = finished.node {
                        *per_node.entry(node).or_default() += 1;
                    }
                    for ready in reorder.push(finished.index, line.clone()) {
                        writeln!(out, "{ready}")?;
                    }
                    batch.push(FinalResult {
                        index: finished.index,
                        ok,
                        line,
                    });
                    if batch.len() >= JOURNAL_BATCH || last_flush.elapsed() >= JOURNAL_INTERVAL {
                        journal.record(job, &batch)?;
                        batch.clear();
                        last_flush = Instant::now();
                    }
                    progress.update(done, failed, counters);
                    Ok(())
                },
                stop,
            )
            .await?
    };
    journal.record(job, &batch)?;
    for ready in reorder.drain() {
        writeln!(out, "{ready}")?;
    }
    out.flush()?;
    progress.finish();
    journal.set_state(
        job,
        match end {
            End::Complete => "done",
            End::NoNodes | End::Interrupted => "interrupted",
        },
    )?;
    Ok(Summary {
        job: job.to_string(),
        end,
        total: record.total,
        done,
        failed,
        elapsed: started.elapsed(),
        per_node,
        excluded: scheduler.excluded.iter().copied().collect(),
    })
}
