//! Result lines in input order (the default) or, with `--unordered`, as they complete.
//! Ordered output holds a finished line until every input issued before it has finished;
//! the scheduler's window bounds how many can wait.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// The order in which inputs were handed to the scheduler, shared with the feed.
pub type Issued = Rc<RefCell<VecDeque<u64>>>;

pub struct Reorder {
    ordered: bool,
    issued: Issued,
    finished: HashMap<u64, String>,
}

impl Reorder {
    pub fn new(ordered: bool) -> Self {
        Self {
            ordered,
            issued: Issued::default(),
            finished: HashMap::new(),
        }
    }

    /// The log the feed appends each issued index to.
    pub fn issued(&self) -> Issued {
        self.issued.clone()
    }

    /// A final line for `index`; returns the lines that can be written now.
    pub fn push(&mut self, index: u64, line: String) -> Vec<String> {
        if !self.ordered {
            self.issued.borrow_mut().retain(|i| *i != index);
            return vec![line];
        }
        self.finished.insert(index, line);
        let mut ready = Vec::new();
        let mut issued = self.issued.borrow_mut();
        while let Some(line) = issued.front().and_then(|front| self.finished.remove(front)) {
            issued.pop_front();
            ready.push(line);
        }
        ready
    }

    /// Lines still held back (the run stopped before earlier inputs finished), in order.
    pub fn drain(&mut self) -> Vec<String> {
        let mut held: Vec<(u64, String)> = self.finished.drain().collect();
        held.sort_by_key(|(index, _)| *index);
        held.into_iter().map(|(_, line)| line).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_output_waits_for_earlier_inputs() {
        let mut reorder = Reorder::new(true);
        reorder.issued().borrow_mut().extend([3, 5, 8]);
        assert!(reorder.push(5, "five".into()).is_empty());
        assert!(reorder.push(8, "eight".into()).is_empty());
        assert_eq!(reorder.push(3, "three".into()), ["three", "five", "eight"]);
    }

    #[test]
    fn unordered_output_passes_straight_through_and_drain_keeps_order() {
        let mut reorder = Reorder::new(false);
        assert_eq!(reorder.push(9, "nine".into()), ["nine"]);
        let mut ordered = Reorder::new(true);
        ordered.issued().borrow_mut().extend([1, 2, 3]);
        ordered.push(3, "three".into());
        ordered.push(2, "two".into());
        assert_eq!(ordered.drain(), ["two", "three"]);
    }
}
