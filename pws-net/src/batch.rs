//! A batch a node is working through: its tasks run one after another in a single slot (each
//! in a context of its own, as any task), and their answers are sent back together.

use std::collections::VecDeque;

use libp2p::request_response::ResponseChannel;

use crate::protocol::{
    BatchAnswer, BatchResponse, ErrorKind, MAX_BATCH_TASKS, Outcome, TaskBatch, TaskRequest,
    TaskResponse,
};
use crate::rt::Instant;

/// Answers beyond this many bytes are not gathered: the rest of the batch is answered `busy`
/// (the submitter sends those tasks again), so a batch answer always fits its size limit.
const ANSWER_BYTES_LIMIT: usize = 8 * 1024 * 1024;

pub struct InboundBatch {
    tasks: VecDeque<TaskRequest>,
    answers: Vec<BatchAnswer>,
    channel: ResponseChannel<BatchResponse>,
    started: Instant,
    bytes: usize,
}

impl InboundBatch {
    pub fn new(batch: TaskBatch, channel: ResponseChannel<BatchResponse>) -> Self {
        let mut inbound = Self {
            tasks: batch.tasks().collect(),
            answers: Vec::with_capacity(batch.inputs.len()),
            channel,
            started: Instant::now(),
            bytes: 0,
        };
        if inbound.tasks.len() > MAX_BATCH_TASKS {
            inbound.answer_rest(TaskResponse::error(
                ErrorKind::Rejected,
                format!("a batch holds at most {MAX_BATCH_TASKS} tasks"),
            ));
        }
        inbound
    }

    /// The next task to run, if any is left.
    pub fn next_task(&mut self) -> Option<TaskRequest> {
        let task = self.tasks.pop_front()?;
        self.started = Instant::now();
        Some(task)
    }

    /// The answer of the task last taken. A task refused (busy, stopping, cancelled) means
    /// the rest would be refused too: they get the same answer without being tried.
    pub fn record(&mut self, response: TaskResponse) {
        let refused = match &response.outcome {
            Outcome::Error(error) => error.kind.is_retryable_elsewhere(),
            Outcome::Ok(_) => false,
        };
        if refused {
            self.push(response.clone());
            self.answer_rest(response);
            return;
        }
        self.push(response);
        if self.bytes > ANSWER_BYTES_LIMIT {
            self.answer_rest(TaskResponse::error(
                ErrorKind::Busy,
                "the batch's answer is full; send the rest again",
            ));
        }
    }

    /// Answer every task not yet run with `response`.
    pub fn answer_rest(&mut self, response: TaskResponse) {
        for _ in self.tasks.drain(..) {
            self.answers.push(BatchAnswer {
                response: response.clone(),
                micros: 0,
            });
        }
    }

    pub fn is_done(&self) -> bool {
        self.tasks.is_empty()
    }

    pub fn finish(self) -> (ResponseChannel<BatchResponse>, BatchResponse) {
        (
            self.channel,
            BatchResponse {
                answers: self.answers,
            },
        )
    }

    fn push(&mut self, response: TaskResponse) {
        self.bytes += match &response.outcome {
            Outcome::Ok(json) => json.len(),
            Outcome::Error(error) => error.message.len(),
        } + response.logs.iter().map(String::len).sum::<usize>();
        self.answers.push(BatchAnswer {
            response,
            micros: self.started.elapsed().as_micros() as u64,
        });
    }
}
