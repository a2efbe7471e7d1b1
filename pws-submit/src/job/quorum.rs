//! Replicas' answers compared: a result is accepted when a quorum of them agree, and is a
//! disagreement when every replica has answered and no quorum formed.

use std::collections::BTreeMap;

use libp2p::PeerId;
use pws_net::protocol::{ErrorKind, Outcome, TaskError};

/// One replica's answer to a task.
#[derive(Debug, Clone)]
pub struct Answer {
    pub node: PeerId,
    pub outcome: Outcome,
    /// The node's own time for the task, in milliseconds.
    pub ms: f64,
}

/// A decided task: the accepted outcome and the answers that gave it.
#[derive(Debug)]
pub struct Verdict<'a> {
    pub outcome: Outcome,
    pub agreed: Vec<&'a Answer>,
}

/// Answers agree when their canonical JSON (keys sorted) is equal, or they failed the same
/// way. `None` while the question is still open: no quorum yet, and replicas still to answer.
pub fn verdict(answers: &[Answer], replicas: u32, quorum: u32) -> Option<Verdict<'_>> {
    let mut groups: BTreeMap<String, Vec<&Answer>> = BTreeMap::new();
    for answer in answers {
        groups
            .entry(canonical(&answer.outcome))
            .or_default()
            .push(answer);
    }
    if let Some(agreed) = groups
        .values()
        .find(|members| members.len() >= quorum as usize)
    {
        return Some(Verdict {
            outcome: agreed[0].outcome.clone(),
            agreed: agreed.clone(),
        });
    }
    if answers.len() < replicas as usize {
        return None;
    }
    Some(Verdict {
        outcome: Outcome::Error(TaskError::new(
            ErrorKind::Disagreement,
            format!(
                "no {quorum} of the {replicas} nodes agreed ({} different answers)",
                groups.len()
            ),
        )),
        agreed: Vec::new(),
    })
}

fn canonical(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Ok(text) => serde_json::from_str::<serde_json::Value>(text)
            .map_or_else(|_| format!("invalid:{text}"), |value| value.to_string()),
        Outcome::Error(error) => format!("error:{}", error.kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(json: &str) -> Answer {
        Answer {
            node: PeerId::random(),
            outcome: Outcome::Ok(json.into()),
            ms: 1.0,
        }
    }

    fn failure(kind: ErrorKind, message: &str) -> Answer {
        Answer {
            outcome: Outcome::Error(TaskError::new(kind, message)),
            ..answer("null")
        }
    }

    #[test]
    fn a_quorum_of_equal_json_wins_whatever_the_key_order() {
        let answers = [
            answer(r#"{"a":1,"b":2}"#),
            answer("666"),
            answer(r#"{"b":2, "a":1}"#),
        ];
        let verdict = verdict(&answers, 3, 2).expect("decided");
        assert_eq!(verdict.outcome, Outcome::Ok(r#"{"a":1,"b":2}"#.into()));
        let agreed: Vec<PeerId> = verdict.agreed.iter().map(|a| a.node).collect();
        assert_eq!(agreed, [answers[0].node, answers[2].node]);
    }

    #[test]
    fn undecided_until_all_answers_then_disagreement() {
        let two = [answer("1"), answer("2")];
        assert!(verdict(&two, 3, 2).is_none());
        let three = [answer("1"), answer("2"), answer("3")];
        let verdict = verdict(&three, 3, 2).expect("decided");
        assert!(matches!(verdict.outcome, Outcome::Error(e) if e.kind == ErrorKind::Disagreement));
        assert!(verdict.agreed.is_empty());
    }

    #[test]
    fn one_replica_is_its_own_quorum() {
        let answers = [answer("7")];
        let verdict = verdict(&answers, 1, 1).expect("decided");
        assert_eq!(verdict.outcome, Outcome::Ok("7".into()));
    }

    #[test]
    fn failures_of_the_same_kind_agree_whatever_their_message() {
        let answers = [
            failure(ErrorKind::Thrown, "at line 1"),
            failure(ErrorKind::Thrown, "at line 2"),
        ];
        let verdict = verdict(&answers, 3, 2).expect("decided");
        assert!(matches!(verdict.outcome, Outcome::Error(e) if e.kind == ErrorKind::Thrown));
    }

    #[test]
    fn invalid_json_agrees_only_with_the_same_text() {
        let answers = [answer("{oops"), answer("{oops "), answer("{oops")];
        let verdict = verdict(&answers, 3, 2).expect("decided");
        assert_eq!(verdict.outcome, Outcome::Ok("{oops".into()));
        assert_eq!(verdict.agreed.len(), 2);
    }
}
