//! The live progress bar on stderr: done / failed / running / retried, nodes in use, rate,
//! ETA. Hidden when stderr is not a terminal or with `--quiet`.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::scheduler::Counters;

pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn new(total: u64, done: u64, quiet: bool) -> Self {
        let target = if quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(Some(total), target);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30.cyan/blue} {pos}/{len} {per_sec:>10} eta {eta:<4} {msg}",
            )
            .expect("valid template"),
        );
        bar.set_position(done);
        Self { bar }
    }

    pub fn update(&self, done: u64, failed: u64, counters: Counters) {
        self.bar.set_position(done);
        self.bar.set_message(format!(
            "failed {failed} · running {} · retried {} · nodes {}",
            counters.running, counters.retried, counters.nodes_in_use
        ));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
