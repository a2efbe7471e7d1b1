//! A journaled job run: inputs paged from the journal into the scheduler, results written
//! back in batches and to the output, with a progress bar on the terminal.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Result;
use libp2p::PeerId;

use super::progress::Progress;
use super::reorder::{self, Reorder};
use super::scheduler::{End, Feed, Scheduler};
use super::{Network, result_line};
use crate::journal::{FinalResult, Job, JobState, Journal};

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

/// How this run executes a job: chosen anew by each `map` or `resume`, never journaled.
pub struct RunOptions<'o> {
    /// Extra attempts for a task lost to a vanished or busy node.
    pub retries: u32,
    /// How long to wait for any node while work remains.
    pub wait: Duration,
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
    network: &impl Network,
    journal: &mut Journal,
    job: &Job,
    options: RunOptions<'_>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Summary> {
    let RunOptions {
        retries,
        wait,
        out,
        ordered,
        quiet,
    } = options;
    let record = &job.record;
    let id = record.id.as_str();
    let started = Instant::now();
    let progress = Progress::new(record.total, record.done, quiet);
    let mut per_node: BTreeMap<PeerId, u64> = BTreeMap::new();
    let (mut done, mut failed) = (record.done, record.failed);
    let mut reorder = Reorder::new(ordered);
    let mut batch: Vec<FinalResult> = Vec::new();
    let mut last_flush = Instant::now();
    let mut scheduler = Scheduler::new(network, &job.spec, retries, wait);
    let end = {
        let mut feed = JournalFeed {
            journal: journal.reopen()?,
            job: id.to_string(),
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
                        journal.record(id, &batch)?;
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
    journal.record(id, &batch)?;
    for ready in reorder.drain() {
        writeln!(out, "{ready}")?;
    }
    out.flush()?;
    progress.finish();
    journal.set_state(
        id,
        match end {
            End::Complete => JobState::Done,
            End::NoNodes | End::Interrupted => JobState::Interrupted,
        },
    )?;
    Ok(Summary {
        job: id.to_string(),
        end,
        total: record.total,
        done,
        failed,
        elapsed: started.elapsed(),
        per_node,
        excluded: scheduler.left_out().into_iter().collect(),
    })
}
