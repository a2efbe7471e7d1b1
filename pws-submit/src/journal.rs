//! The job journal: every job, its code, its inputs and each task's final result, in SQLite.
//! Inputs are copied in before the job starts, so a job can always be resumed from the
//! journal alone; results are written in batched transactions, so the journal does not
//! bound throughput.

use std::fmt;
use std::path::Path;

use anyhow::{Context, Result};
use pws_net::module::WasmModule;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::job::JobSpec;
use crate::source::TaskSource;

/// How many inputs are copied in one transaction.
const INPUT_BATCH: usize = 10_000;

pub struct Journal {
    conn: Connection,
    path: std::path::PathBuf,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Its inputs are being copied in; a job left so failed to load them.
    Loading,
    /// Ready to run, running, or its submitter was killed: `resume` continues it.
    Running,
    /// Every input has a final result.
    Done,
    /// Stopped (Ctrl-C, or no node left) with inputs left: `resume` continues it.
    Interrupted,
}

impl JobState {
    const ALL: [JobState; 4] = [Self::Loading, Self::Running, Self::Done, Self::Interrupted];

    /// The name `jobs` prints and the journal stores.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Loading => "loading",
            Self::Running => "running",
            Self::Done => "done",
            Self::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for JobState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl ToSql for JobState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for JobState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let name = value.as_str()?;
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == name)
            .ok_or_else(|| FromSqlError::Other(format!("unknown job state {name:?}").into()))
    }
}

/// A job's source in the `code` column: JavaScript as text, a WebAssembly module as a blob.
impl ToSql for TaskSource {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            TaskSource::JavaScript(code) => code.as_str().into(),
            TaskSource::Wasm(module) => {
                let bytes = module.bytes.as_ref().map_or(&[][..], |bytes| &bytes.0[..]);
                bytes.into()
            }
        })
    }
}

impl FromSql for TaskSource {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Blob(bytes) => Ok(TaskSource::Wasm(WasmModule::new(bytes.to_vec()))),
            _ => Ok(TaskSource::JavaScript(value.as_str()?.to_owned())),
        }
    }
}

/// A job as `pws-submit jobs` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    pub id: String,
    pub state: JobState,
    pub total: u64,
    pub done: u64,
    pub failed: u64,
    pub created: String,
}

/// A journaled job: how far it got, and what it is.
#[derive(Debug, Clone)]
pub struct Job {
    pub record: JobRecord,
    pub spec: JobSpec,
}

/// A task's final result as written to the journal.
pub struct FinalResult {
    pub index: u64,
    pub ok: bool,
    pub line: String,
}

impl Journal {
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            pws_net::private_files::create_dir(dir)?;
        }
        pws_net::private_files::ensure_exists(path)?;
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the job journal {}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS jobs (
                 id TEXT PRIMARY KEY,
                 created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
                 code TEXT NOT NULL,
                 options TEXT NOT NULL,
                 state TEXT NOT NULL,
                 total INTEGER NOT NULL DEFAULT 0
             );
             CREATE TABLE IF NOT EXISTS tasks (
                 job TEXT NOT NULL REFERENCES jobs(id),
                 idx INTEGER NOT NULL,
                 input TEXT NOT NULL,
                 ok INTEGER,
                 result TEXT,
                 PRIMARY KEY (job, idx)
             );",
        )
        .context("cannot set up the job journal")?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// A second connection to the same journal (SQLite in WAL mode lets one read while
    /// another writes).
    pub fn reopen(&self) -> Result<Self> {
        Self::open(&self.path)
    }

    /// Record a new job and copy in its inputs (JSON texts, in order).
    pub fn create_job(
        &mut self,
        spec: &JobSpec,
        inputs: impl Iterator<Item = Result<String>>,
    ) -> Result<Job> {
        let id = format!("{:08x}", rand::random::<u32>());
        let options = serde_json::to_string(spec).expect("a job spec serializes");
        self.conn.execute(
            "INSERT INTO jobs (id, code, options, state) VALUES (?1, ?2, ?3, ?4)",
            params![id, spec.source, options, JobState::Loading],
        )?;
        let mut inputs = inputs.enumerate().peekable();
        let mut total = 0u64;
        while inputs.peek().is_some() {
            let tx = self.conn.transaction()?;
            {
                let mut insert =
                    tx.prepare_cached("INSERT INTO tasks (job, idx, input) VALUES (?1, ?2, ?3)")?;
                for (index, input) in inputs.by_ref().take(INPUT_BATCH) {
                    insert.execute(params![id, index as i64, input?])?;
                    total += 1;
                }
            }
            tx.commit()?;
        }
        self.conn.execute(
            "UPDATE jobs SET total = ?2, state = ?3 WHERE id = ?1",
            params![id, total as i64, JobState::Running],
        )?;
        self.job(&id)?.context("a job just created is missing")
    }

    /// The job `id`, if the journal has it.
    pub fn job(&self, id: &str) -> Result<Option<Job>> {
        let row = self
            .conn
            .query_row(&format!("{JOB_QUERY} WHERE j.id = ?1"), [id], |row| {
                Ok((
                    job_record(row)?,
                    row.get::<_, TaskSource>(6)?,
                    row.get::<_, String>(7)?,
                ))
            })
            .optional()?;
        let Some((record, source, options)) = row else {
            return Ok(None);
        };
        let spec: JobSpec = serde_json::from_str(&options)
            .with_context(|| format!("the journaled options of job {id} are unreadable"))?;
        Ok(Some(Job {
            record,
            spec: JobSpec { source, ..spec },
        }))
    }

    pub fn jobs(&self) -> Result<Vec<JobRecord>> {
        let mut query = self
            .conn
            .prepare(&format!("{JOB_QUERY} ORDER BY j.created, j.rowid"))?;
        let jobs = query.query_map([], job_record)?.collect::<Result<_, _>>()?;
        Ok(jobs)
    }

    /// Up to `limit` inputs of `job` without a final result, after index `after`.
    pub fn pending(
        &self,
        job: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, String)>> {
        let mut query = self.conn.prepare_cached(
            "SELECT idx, input FROM tasks WHERE job = ?1 AND result IS NULL AND idx > ?2
             ORDER BY idx LIMIT ?3",
        )?;
        let after = after.map_or(-1, |a| a as i64);
        let rows = query
            .query_map(params![job, after, limit as i64], |row| {
                Ok((row.get::<_, i64>(0)? as u64, row.get::<_, String>(1)?))
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Write a batch of final results in one transaction.
    pub fn record(&mut self, job: &str, results: &[FinalResult]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut update = tx.prepare_cached(
                "UPDATE tasks SET ok = ?3, result = ?4 WHERE job = ?1 AND idx = ?2",
            )?;
            for result in results {
                update.execute(params![job, result.index as i64, result.ok, result.line])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn set_state(&self, job: &str, state: JobState) -> Result<()> {
        self.conn.execute(
            "UPDATE jobs SET state = ?2 WHERE id = ?1",
            params![job, state],
        )?;
        Ok(())
    }

    /// Call `each` with every result line of `job`, in input order.
    pub fn results(&self, job: &str, mut each: impl FnMut(&str) -> Result<()>) -> Result<()> {
        let mut query = self.conn.prepare(
            "SELECT result FROM tasks WHERE job = ?1 AND result IS NOT NULL ORDER BY idx",
        )?;
        let mut rows = query.query([job])?;
        while let Some(row) = rows.next()? {
            each(&row.get::<_, String>(0)?)?;
        }
        Ok(())
    }
}

const JOB_QUERY: &str = "SELECT j.id, j.state, j.total,
        (SELECT count(*) FROM tasks t WHERE t.job = j.id AND t.result IS NOT NULL),
        (SELECT count(*) FROM tasks t WHERE t.job = j.id AND t.ok = 0),
        j.created, j.code, j.options
    FROM jobs j";

fn job_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<JobRecord> {
    Ok(JobRecord {
        id: row.get(0)?,
        state: row.get(1)?,
        total: row.get::<_, i64>(2)? as u64,
        done: row.get::<_, i64>(3)? as u64,
        failed: row.get::<_, i64>(4)? as u64,
        created: row.get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use pws_net::strategy::Strategy;

    use super::*;

    #[test]
    fn a_job_keeps_its_inputs_and_only_pending_ones_are_returned() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(&dir.path().join("jobs.sqlite")).unwrap();
        let spec = JobSpec {
            source: TaskSource::JavaScript("x => x".into()),
            strategy: Strategy::RoundRobin,
            timeout_ms: None,
            replicas: 3,
            quorum: 2,
        };
        let inputs = (0..25_000).map(|i| Ok(i.to_string()));
        let created = journal.create_job(&spec, inputs).unwrap();
        assert_eq!(created.record.total, 25_000);
        assert_eq!(created.record.state, JobState::Running);
        assert_eq!(created.spec, spec);
        let job = created.record.id;
        let first = journal.pending(&job, None, 3).unwrap();
        assert_eq!(first, [(0, "0".into()), (1, "1".into()), (2, "2".into())]);
        journal
            .record(
                &job,
                &[FinalResult {
                    index: 1,
                    ok: false,
                    line: "{}".into(),
                }],
            )
            .unwrap();
        let next = journal.pending(&job, None, 3).unwrap();
        assert_eq!(next.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 2, 3]);
        journal.set_state(&job, JobState::Interrupted).unwrap();
        let record = journal.job(&job).unwrap().unwrap().record;
        assert_eq!((record.done, record.failed), (1, 1));
        assert_eq!(record.state, JobState::Interrupted);
        let mut lines = Vec::new();
        journal
            .results(&job, |line| {
                lines.push(line.to_string());
                Ok(())
            })
            .unwrap();
        assert_eq!(lines, ["{}"]);
        assert!(journal.job("nope").unwrap().is_none());
    }
}
