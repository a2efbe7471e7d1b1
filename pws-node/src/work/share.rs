//! Fair use of a node by the submitters it serves: a token bucket per submitter bounds how
//! many requests the node refuses it per second (`rate-limited` beyond; the requests it takes
//! up are bounded by its slots already, so a submitter that waits for each answer is never
//! limited however fast its tasks are), and when several wait for
//! slots a freed slot goes to the one holding the fewest (the longest waiting among equals),
//! so a submitter that floods the node keeps at most its share while others wait.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::PeerId;
use pws_net::protocol::{ErrorKind, TaskError};
use pws_net::rt::Instant;

/// Refused requests per second one submitter may send, per slot of the node (plus a base for
/// a node with few slots). A job retries a refused request after 100 ms: well under this.
const REQUESTS_PER_SLOT_PER_SECOND: f64 = 200.0;
const BASE_REQUESTS_PER_SECOND: f64 = 50.0;
/// A submitter refused a slot counts as waiting for this long after its last request.
const WAITING_FOR: Duration = Duration::from_secs(1);
/// How often submitters holding nothing whose bucket has refilled are forgotten (a new entry
/// starts with a full bucket, so forgetting them changes nothing).
const FORGET_IDLE_EVERY: Duration = Duration::from_secs(10);
/// Submitters known before idle ones are forgotten at once: the memory strangers can make a
/// node spend.
const REMEMBERED: usize = 1024;
/// A bucket is full again this long after its last request.
const REFILLED_AFTER: Duration = Duration::from_secs(2);

pub struct Share {
    /// Requests per second (and burst) per submitter.
    rate: f64,
    submitters: HashMap<PeerId, Submitter>,
    /// When idle submitters were last forgotten.
    forgot_idle: Option<Instant>,
}

#[derive(Default)]
struct Submitter {
    /// Slots its work holds now.
    held: u32,
    /// Refused a slot: since when it waits, and its latest request.
    waiting: Option<(Instant, Instant)>,
    tokens: f64,
    refilled: Option<Instant>,
}

impl Share {
    pub fn new(slots: u32) -> Self {
        Self {
            rate: BASE_REQUESTS_PER_SECOND + REQUESTS_PER_SLOT_PER_SECOND * slots as f64,
            submitters: HashMap::new(),
            forgot_idle: None,
        }
    }

    /// May `from` take one of the `free` slots now? `Ok` takes it (until [`Share::release`]),
    /// else the typed refusal to answer.
    pub fn admit(
        &mut self,
        from: PeerId,
        free: u32,
        total: u32,
        now: Instant,
    ) -> Result<(), TaskError> {
        self.forget_idle(now);
        let rate = self.rate;
        let submitter = self.submitters.entry(from).or_default();
        let elapsed = submitter.refilled.map_or(f64::INFINITY, |at| {
            now.saturating_duration_since(at).as_secs_f64()
        });
        submitter.tokens = (submitter.tokens + elapsed * rate).min(rate);
        submitter.refilled = Some(now);
        if submitter.tokens < 1.0 {
            return Err(TaskError::new(
                ErrorKind::RateLimited,
                format!(
                    "more than {rate:.0} requests a second from one submitter while no slot is \
                     free for it; slow down"
                ),
            ));
        }
        if free == 0 {
            self.refuse(from, now);
            let message = format!("all {total} slots of this node are in use");
            return Err(TaskError::new(ErrorKind::Busy, message));
        }
        let key = |s: &Submitter| (s.held, s.waiting.map_or(now, |(since, _)| since));
        let mine = key(&self.submitters[&from]);
        let before_me = self.submitters.iter().any(|(peer, other)| {
            *peer != from
                && other
                    .waiting
                    .is_some_and(|(_, last)| now.saturating_duration_since(last) < WAITING_FOR)
                && key(other) < mine
        });
        if before_me {
            self.refuse(from, now);
            let held = mine.0;
            let message = format!(
                "the free slots go to submitters waiting with fewer than your {held} of {total}"
            );
            return Err(TaskError::new(ErrorKind::Busy, message));
        }
        let submitter = self.submitters.get_mut(&from).expect("entered above");
        submitter.held += 1;
        submitter.waiting = None;
        Ok(())
    }

    /// Work of `from` left its slot.
    pub fn release(&mut self, from: PeerId) {
        if let Some(submitter) = self.submitters.get_mut(&from) {
            submitter.held = submitter.held.saturating_sub(1);
        }
    }

    /// `from` is refused a slot: it spends a token, and waits.
    fn refuse(&mut self, from: PeerId, now: Instant) {
        let submitter = self.submitters.get_mut(&from).expect("entered before");
        submitter.tokens -= 1.0;
        let since = submitter
            .waiting
            .filter(|(_, last)| now.saturating_duration_since(*last) < WAITING_FOR)
            .map_or(now, |(since, _)| since);
        submitter.waiting = Some((since, now));
    }

    /// Forget the submitters holding nothing whose bucket has refilled, every
    /// [`FORGET_IDLE_EVERY`] or once [`REMEMBERED`] are known; the map gives back its room.
    fn forget_idle(&mut self, now: Instant) {
        let due = self
            .forgot_idle
            .is_none_or(|at| now.saturating_duration_since(at) >= FORGET_IDLE_EVERY);
        if !due && self.submitters.len() < REMEMBERED {
            return;
        }
        self.forgot_idle = Some(now);
        self.submitters.retain(|_, s| {
            s.held > 0
                || s.refilled
                    .is_some_and(|at| now.saturating_duration_since(at) < REFILLED_AFTER)
        });
        self.submitters.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(result: Result<(), TaskError>) -> Option<ErrorKind> {
        result.err().map(|e| e.kind)
    }

    #[test]
    fn a_flood_beyond_the_rate_is_refused_rate_limited_then_refills() {
        let mut share = Share::new(1);
        let rate = share.rate as usize;
        let flooder = PeerId::random();
        let now = Instant::now();
        let refused = (0..rate * 2)
            .filter(|_| kind(share.admit(flooder, 0, 1, now)) == Some(ErrorKind::RateLimited))
            .count();
        assert_eq!(refused, rate, "a second's worth passes");
        let later = now + Duration::from_millis(100);
        assert_eq!(kind(share.admit(flooder, 1, 1, later)), None);
    }

    #[test]
    fn a_submitter_that_waits_for_its_answers_is_never_rate_limited() {
        let mut share = Share::new(1);
        let submitter = PeerId::random();
        let now = Instant::now();
        for _ in 0..share.rate as usize * 10 {
            assert_eq!(kind(share.admit(submitter, 1, 1, now)), None);
            share.release(submitter);
        }
    }

    #[test]
    fn a_freed_slot_goes_to_the_waiting_submitter_holding_fewer() {
        let mut share = Share::new(2);
        let (flooder, other) = (PeerId::random(), PeerId::random());
        let now = Instant::now();
        assert_eq!(kind(share.admit(flooder, 2, 2, now)), None);
        assert_eq!(kind(share.admit(flooder, 1, 2, now)), None);
        assert_eq!(kind(share.admit(other, 0, 2, now)), Some(ErrorKind::Busy));
        share.release(flooder);
        // The flooder asks first, but the other one waits holding nothing.
        let soon = now + Duration::from_millis(10);
        assert_eq!(
            kind(share.admit(flooder, 1, 2, soon)),
            Some(ErrorKind::Busy)
        );
        assert_eq!(kind(share.admit(other, 1, 2, soon)), None);
    }

    #[test]
    fn with_one_slot_two_waiting_submitters_take_turns() {
        let mut share = Share::new(1);
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut now = Instant::now();
        assert_eq!(kind(share.admit(a, 1, 1, now)), None);
        assert_eq!(kind(share.admit(b, 0, 1, now)), Some(ErrorKind::Busy));
        share.release(a);
        now += Duration::from_millis(5);
        assert_eq!(kind(share.admit(a, 1, 1, now)), Some(ErrorKind::Busy));
        assert_eq!(kind(share.admit(b, 1, 1, now)), None);
        share.release(b);
        now += Duration::from_millis(5);
        assert_eq!(
            kind(share.admit(b, 1, 1, now)),
            Some(ErrorKind::Busy),
            "a waited longer"
        );
        assert_eq!(kind(share.admit(a, 1, 1, now)), None);
    }

    #[test]
    fn a_submitter_that_stopped_asking_no_longer_holds_a_slot_back() {
        let mut share = Share::new(1);
        let (a, gone) = (PeerId::random(), PeerId::random());
        let now = Instant::now();
        assert_eq!(kind(share.admit(a, 1, 1, now)), None);
        assert_eq!(kind(share.admit(gone, 0, 1, now)), Some(ErrorKind::Busy));
        share.release(a);
        let later = now + WAITING_FOR;
        assert_eq!(kind(share.admit(a, 1, 1, later)), None);
    }

    #[test]
    fn submitters_that_left_are_forgotten_while_those_holding_slots_stay() {
        let mut share = Share::new(2);
        let (gone, holding, newcomer) = (PeerId::random(), PeerId::random(), PeerId::random());
        let now = Instant::now();
        assert_eq!(kind(share.admit(gone, 2, 2, now)), None);
        share.release(gone);
        assert_eq!(kind(share.admit(holding, 1, 2, now)), None);
        let later = now + FORGET_IDLE_EVERY;
        assert_eq!(kind(share.admit(newcomer, 1, 2, later)), None);
        assert!(
            !share.submitters.contains_key(&gone),
            "an idle submitter is forgotten"
        );
        assert!(
            share.submitters.contains_key(&holding),
            "one holding a slot is kept"
        );
        assert_eq!(share.submitters.len(), 2);
    }
}
