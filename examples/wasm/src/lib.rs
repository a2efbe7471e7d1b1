//! What the example tasks share: reading the task's input from stdin.

use std::io::Read;

/// The task's input (JSON text), trimmed; empty when the task has none.
pub fn input() -> String {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .expect("stdin is readable");
    text.trim().to_owned()
}

/// The integers of a JSON number or array of numbers (`7`, `[0, 100]`); `None` otherwise.
pub fn integers(json: &str) -> Option<Vec<u64>> {
    let inner = json.strip_prefix('[').and_then(|rest| rest.strip_suffix(']'));
    inner
        .unwrap_or(json)
        .split(',')
        .map(|n| n.trim().parse().ok())
        .collect()
}
