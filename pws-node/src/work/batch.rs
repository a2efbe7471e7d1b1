//! A batch in its slot: its tasks run one after another (each in a context of its own, as any
//! task), and their answers are gathered for one response, in order. A batch holds its slot
//! for at most [`BATCH_TIME_FACTOR`] times its per-task limit, not 256 times.

use std::collections::VecDeque;
use std::time::Duration;

use pws_net::protocol::{
    BatchAnswer, BatchResponse, ErrorKind, MAX_BATCH_TASKS, Outcome, TaskBatch, TaskRequest,
    TaskResponse,
};
use pws_net::rt::Instant;

use crate::executor::{Cancel, Executor, Progress};

/// Answers beyond this many bytes are not gathered: the rest of the batch is answered `busy`
/// (the submitter sends those tasks again), so a batch answer always fits its size limit.
const ANSWER_BYTES_LIMIT: usize = 8 * 1024 * 1024;

/// A batch runs for at most this many times its per-task time limit; the task running when
/// that time is up is stopped (`timeout`) and the tasks not yet run are answered `busy`, for
/// the submitter to send again.
pub const BATCH_TIME_FACTOR: u32 = 4;

/// What ran of a batch: each task's error kind (`None` for a result) and node time.
pub type Ran = Vec<(Option<ErrorKind>, Duration)>;

/// Run `batch` on `executor`; `progress` gives each task's progress sink.
pub async fn run<E: Executor>(
    executor: &E,
    batch: TaskBatch,
    cancel: Cancel,
    progress: impl Fn(&TaskRequest) -> Progress,
) -> (BatchResponse, Ran) {
    let mut sequence = Sequence::new(batch);
    let begun = Instant::now();
    let mut budget = None;
    while let Some(mut task) = sequence.next_task() {
        let limit = executor.time_limit(&task);
        let budget = *budget.get_or_insert(limit * BATCH_TIME_FACTOR);
        let left = budget.saturating_sub(begun.elapsed());
        if left < Duration::from_millis(1) {
            sequence.out_of_time(task, budget);
            break;
        }
        task.timeout_ms = Some(limit.min(left).as_millis() as u64);
        let started = Instant::now();
        let sink = progress(&task);
        let response = executor.execute(task, cancel.clone(), sink).await;
        sequence.record(response, started.elapsed());
    }
    sequence.finish()
}

/// The pure part: which task comes next and what the batch answers.
struct Sequence {
    batch: TaskBatch,
    /// Inputs not yet run; each becomes a task (a copy of the code) only when it runs.
    inputs: VecDeque<Option<String>>,
    answers: Vec<BatchAnswer>,
    ran: Ran,
    bytes: usize,
}

impl Sequence {
    fn new(mut batch: TaskBatch) -> Self {
        let inputs = VecDeque::from(std::mem::take(&mut batch.inputs));
        let mut sequence = Self {
            answers: Vec::with_capacity(inputs.len().min(MAX_BATCH_TASKS)),
            batch,
            inputs,
            ran: Vec::new(),
            bytes: 0,
        };
        // Decoding refuses more; a batch built in this process could still hold more.
        if sequence.inputs.len() > MAX_BATCH_TASKS {
            sequence.answer_rest(TaskResponse::error(
                ErrorKind::Rejected,
                format!("a batch holds at most {MAX_BATCH_TASKS} tasks"),
            ));
        }
        sequence
    }

    fn next_task(&mut self) -> Option<TaskRequest> {
        let input = self.inputs.pop_front()?;
        Some(self.batch.task(input))
    }

    /// The answer of the task last taken, after `elapsed`. A task refused (busy, stopping,
    /// cancelled) means the rest would be refused too: they get the same answer untried.
    fn record(&mut self, response: TaskResponse, elapsed: Duration) {
        let error = match &response.outcome {
            Outcome::Ok(_) => None,
            Outcome::Error(error) => Some(error.kind),
        };
        self.ran.push((error, elapsed));
        self.bytes += match &response.outcome {
            Outcome::Ok(json) => json.len(),
            Outcome::Error(error) => error.message.len(),
        } + response.logs.iter().map(String::len).sum::<usize>();
        let refused = error.is_some_and(ErrorKind::is_retryable_elsewhere);
        let rest = refused.then(|| response.clone());
        self.answers.push(BatchAnswer {
            response,
            micros: elapsed.as_micros() as u64,
        });
        if let Some(refusal) = rest {
            self.answer_rest(refusal);
        } else if self.bytes > ANSWER_BYTES_LIMIT {
            self.answer_rest(TaskResponse::error(
                ErrorKind::Busy,
                "the batch's answer is full; send the rest again",
            ));
        }
    }

    /// The batch used its time before `next` ran: it and the rest are answered `busy`.
    fn out_of_time(&mut self, next: TaskRequest, budget: Duration) {
        self.inputs.push_front(next.input);
        self.answer_rest(TaskResponse::error(
            ErrorKind::Busy,
            format!(
                "the batch used its {:.3} s in the slot ({BATCH_TIME_FACTOR} times the task time limit); send the rest again",
                budget.as_secs_f64()
            ),
        ));
    }

    /// Answer every task not yet run with `response` (and no node time).
    fn answer_rest(&mut self, response: TaskResponse) {
        for _ in self.inputs.drain(..) {
            self.answers.push(BatchAnswer {
                response: response.clone(),
                micros: 0,
            });
        }
    }

    fn finish(self) -> (BatchResponse, Ran) {
        let response = BatchResponse {
            answers: self.answers,
        };
        (response, self.ran)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(inputs: usize) -> TaskBatch {
        TaskBatch {
            wasm: None,
            code: "function(x) { return x; }".into(),
            inputs: (0..inputs).map(|i| Some(i.to_string())).collect(),
            timeout_ms: None,
            grant: None,
        }
    }

    fn drive(mut sequence: Sequence, answer: impl Fn(&TaskRequest) -> TaskResponse) -> Sequence {
        while let Some(task) = sequence.next_task() {
            let response = answer(&task);
            sequence.record(response, Duration::from_micros(7));
        }
        sequence
    }

    #[test]
    fn tasks_run_in_order_and_every_input_gets_one_answer() {
        let sequence = drive(Sequence::new(batch(5)), |task| {
            TaskResponse::ok(task.input.clone().unwrap())
        });
        let (response, ran) = sequence.finish();
        let results: Vec<_> = response
            .answers
            .iter()
            .map(|a| a.response.outcome.clone())
            .collect();
        let expected: Vec<_> = (0..5).map(|i| Outcome::Ok(i.to_string())).collect();
        assert_eq!(results, expected);
        assert!(response.answers.iter().all(|a| a.micros == 7));
        assert_eq!(ran.len(), 5);
    }

    #[test]
    fn a_task_failing_by_itself_does_not_stop_the_rest() {
        let sequence = drive(Sequence::new(batch(3)), |task| {
            if task.input.as_deref() == Some("1") {
                TaskResponse::error(ErrorKind::Thrown, "no")
            } else {
                TaskResponse::ok("1")
            }
        });
        let (response, ran) = sequence.finish();
        assert_eq!(ran.len(), 3);
        assert_eq!(ran[1].0, Some(ErrorKind::Thrown));
        assert!(matches!(
            response.answers[2].response.outcome,
            Outcome::Ok(_)
        ));
    }

    #[test]
    fn a_refusal_answers_the_rest_untried() {
        let sequence = drive(Sequence::new(batch(4)), |task| {
            if task.input.as_deref() == Some("1") {
                TaskResponse::error(ErrorKind::Rejected, "stopping")
            } else {
                TaskResponse::ok("1")
            }
        });
        let (response, ran) = sequence.finish();
        assert_eq!(ran.len(), 2, "only the first two ran");
        assert_eq!(response.answers.len(), 4);
        for answer in &response.answers[1..] {
            let Outcome::Error(error) = &answer.response.outcome else {
                panic!("refused tasks answer the refusal");
            };
            assert_eq!(error.kind, ErrorKind::Rejected);
        }
        assert_eq!(response.answers[1].micros, 7, "the refused task ran");
        assert_eq!(response.answers[2].micros, 0, "the rest did not");
    }

    #[test]
    fn answers_past_the_size_limit_end_the_batch_as_busy() {
        let big = "x".repeat(ANSWER_BYTES_LIMIT / 2 + 1);
        let sequence = drive(Sequence::new(batch(4)), |_| TaskResponse::ok(big.clone()));
        let (response, ran) = sequence.finish();
        assert_eq!(ran.len(), 2);
        let Outcome::Error(error) = &response.answers[2].response.outcome else {
            panic!("the rest is refused");
        };
        assert_eq!(error.kind, ErrorKind::Busy);
    }

    #[test]
    fn a_batch_out_of_time_answers_the_rest_busy() {
        let mut sequence = Sequence::new(batch(4));
        let first = sequence.next_task().unwrap();
        sequence.record(TaskResponse::ok(first.input.unwrap()), Duration::ZERO);
        let next = sequence.next_task().unwrap();
        sequence.out_of_time(next, Duration::from_secs(4));
        assert!(sequence.next_task().is_none());
        let (response, ran) = sequence.finish();
        assert_eq!((response.answers.len(), ran.len()), (4, 1));
        for answer in &response.answers[1..] {
            let Outcome::Error(error) = &answer.response.outcome else {
                panic!("the rest is refused");
            };
            assert_eq!(error.kind, ErrorKind::Busy);
        }
    }

    #[test]
    fn oversized_and_empty_batches() {
        let (response, ran) = drive(Sequence::new(batch(MAX_BATCH_TASKS + 1)), |_| {
            unreachable!("no task of an oversized batch runs")
        })
        .finish();
        assert!(ran.is_empty());
        assert_eq!(response.answers.len(), MAX_BATCH_TASKS + 1);
        let (empty, _) = Sequence::new(batch(0)).finish();
        assert!(empty.answers.is_empty());
    }
}
