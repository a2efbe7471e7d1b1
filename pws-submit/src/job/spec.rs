//! What a job is: its task (JavaScript or WebAssembly) and everything that decides its results, journaled with it so
//! that a resumed job computes the same thing. How one run executes it is not part of it
//! (see [`super::RunOptions`]).

use pws_net::strategy::Strategy;
use serde::{Deserialize, Serialize};

use crate::source::TaskSource;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// What each task runs (the journal keeps it in a column of its own).
    #[serde(skip)]
    pub source: TaskSource,
    pub strategy: Strategy,
    /// Wall-clock limit per task; nodes cap it at their own.
    pub timeout_ms: Option<u64>,
    /// Distinct nodes each task runs on.
    pub replicas: u32,
    /// Matching answers needed to accept a result.
    pub quorum: u32,
}

/// `quorum` if given, else a majority of `replicas`; at most `replicas` (both are at least 1).
pub fn quorum_of(replicas: u32, quorum: Option<u32>) -> Result<u32, String> {
    let quorum = quorum.unwrap_or(replicas / 2 + 1);
    if quorum > replicas {
        return Err(format!(
            "need 1 <= --quorum <= --replicas (got {quorum} of {replicas})"
        ));
    }
    Ok(quorum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_quorum_is_a_majority_and_never_above_the_replicas() {
        assert_eq!(quorum_of(1, None), Ok(1));
        assert_eq!(quorum_of(3, None), Ok(2));
        assert_eq!(quorum_of(4, None), Ok(3));
        assert_eq!(quorum_of(3, Some(3)), Ok(3));
        assert!(quorum_of(2, Some(3)).is_err());
    }

    #[test]
    fn the_journaled_form_leaves_the_code_to_its_own_column() {
        let spec = JobSpec {
            source: TaskSource::JavaScript("x => x".into()),
            strategy: Strategy::LeastLoaded,
            timeout_ms: Some(500),
            replicas: 3,
            quorum: 2,
        };
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(
            json,
            r#"{"strategy":"least-loaded","timeout_ms":500,"replicas":3,"quorum":2}"#
        );
        let read: JobSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(
            read,
            JobSpec {
                source: TaskSource::default(),
                ..spec
            }
        );
    }
}
