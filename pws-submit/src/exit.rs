//! What `pws-submit`'s exit status means, in one place.

use std::process::ExitCode;

/// The process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success = 0,
    /// The task, or some tasks of a job, failed.
    TaskFailed = 1,
    /// A mistake in how the command was called (clap's own errors exit with 2 too).
    Usage = 2,
    /// Nothing could run: no node available, relay unreachable, network or journal failure.
    NotRun = 3,
    /// Stopped by Ctrl-C (128 + SIGINT); a job can be resumed.
    Interrupted = 130,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status as u8)
    }
}
