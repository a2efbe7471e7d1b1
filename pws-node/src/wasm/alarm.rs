//! The time limit of WebAssembly tasks, by epoch interruption: the task's store traps once
//! the engine's epoch moves on, and the epoch moves on only when a task's deadline passes.
//! The task thread arms the alarm; another thread (the worker's main thread, which has
//! nothing else to do) waits for the deadline and ticks. A worker whose task was stopped this
//! way lives on, with its compiled modules.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Alarm {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    deadline: Option<Instant>,
    closed: bool,
}

impl Alarm {
    /// Tick the epoch at `deadline` unless disarmed first.
    pub fn arm(&self, deadline: Instant) {
        self.update(|state| state.deadline = Some(deadline));
    }

    /// Forget the deadline. Once this returns no tick for it can happen: ticks are taken
    /// under the same lock.
    pub fn disarm(&self) {
        self.update(|state| state.deadline = None);
    }

    /// Stop [`Alarm::ring`]: the worker is done.
    pub fn close(&self) {
        self.update(|state| state.closed = true);
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.state.lock().expect("alarm lock"));
        self.changed.notify_all();
    }

    /// Call `tick` at every armed deadline, until closed.
    pub fn ring(&self, tick: impl Fn()) {
        let mut state = self.state.lock().expect("alarm lock");
        while !state.closed {
            let wait = match state.deadline {
                None => None,
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        tick();
                        state.deadline = None;
                        continue;
                    }
                    Some(deadline - now)
                }
            };
            state = match wait {
                None => self.changed.wait(state).expect("alarm lock"),
                Some(wait) => {
                    self.changed
                        .wait_timeout(state, wait.max(Duration::from_micros(100)))
                        .expect("alarm lock")
                        .0
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::mpsc;

    use super::*;

    #[test]
    fn rings_at_armed_deadlines_only() {
        let alarm = Arc::new(Alarm::default());
        let (ticked, ticks) = mpsc::channel();
        let ringing = std::thread::spawn({
            let alarm = alarm.clone();
            move || alarm.ring(|| ticked.send(()).expect("the test listens"))
        });
        alarm.arm(Instant::now() + Duration::from_secs(3600));
        alarm.disarm();
        alarm.arm(Instant::now());
        ticks
            .recv_timeout(Duration::from_secs(10))
            .expect("the alarm rang");
        alarm.close();
        ringing.join().unwrap();
        assert!(ticks.try_recv().is_err(), "it rang once");
    }
}
