//! How long a submitter waits for a node's answer: the time the work may run on the node plus
//! a grace for transfer. A node still silent after that swallowed the request (overloaded,
//! broken or hostile); `run` reports a timeout and a job sends the work elsewhere.

use std::time::Duration;

pub use pws_node::work::BATCH_TIME_FACTOR;

/// The limit a node applies when the submitter asks for none: `pws-node`'s default
/// `--max-time`. Tasks meant to run longer must say so with `--timeout`.
pub const DEFAULT_TASK_LIMIT: Duration = Duration::from_secs(30);
/// Allowance for dialing, queueing and answering, whatever the size.
const GRACE: Duration = Duration::from_secs(1);
/// Extra allowance per MiB of request, for slow (relayed) links.
const GRACE_PER_MIB: Duration = Duration::from_secs(1);

/// The deadline of a request of `request_bytes` carrying `tasks` tasks, each allowed
/// `timeout_ms` (the node's default when `None`). A node runs a batch for at most
/// [`BATCH_TIME_FACTOR`] times the per-task limit.
pub fn for_request(timeout_ms: Option<u64>, tasks: usize, request_bytes: usize) -> Duration {
    let limit = timeout_ms.map_or(DEFAULT_TASK_LIMIT, Duration::from_millis);
    let runs = (tasks as u32).clamp(1, BATCH_TIME_FACTOR);
    let transfer = GRACE_PER_MIB.mul_f64(request_bytes as f64 / (1024.0 * 1024.0));
    limit * runs + GRACE + transfer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_is_the_work_time_plus_a_grace() {
        assert_eq!(for_request(Some(2000), 1, 0), Duration::from_secs(3));
        assert_eq!(for_request(None, 1, 0), DEFAULT_TASK_LIMIT + GRACE);
        assert_eq!(
            for_request(Some(1000), 1, 2 * 1024 * 1024),
            Duration::from_secs(4)
        );
        let batch = for_request(Some(1000), 256, 0);
        assert_eq!(batch, Duration::from_secs(BATCH_TIME_FACTOR as u64 + 1));
    }
}
