//! Per-sender flood control: token buckets that never bite a reader at human pace (a question
//! every few seconds, and a few button presses on each answer) but stop floods (dozens of
//! messages in a few seconds), so one user cannot delay everyone else's answers. The pipeline
//! asks it on an update's arrival, before any work is queued.
//!
//! Each kind of input has its own bucket ([`Kind`]), sized for what a person does with it: a
//! curious reader presses Full passage, Context and More on an answer and then asks again, and
//! those presses must not use up the allowance for the next question. A sender is a user (a
//! positive id), or the chat someone posts as (a negative id: an anonymous admin posting as
//! the group, a channel), so that all anonymous admins of one group share a bucket and other
//! groups' do not.
//!
//! Time is the caller's, in seconds. Messages are judged by Telegram's own timestamp
//! (`message.date`), so a backlog delivered at once after a polling stall, a restart or an
//! outage is judged at the pace it was written, not as a burst. Button presses and inline
//! queries carry no timestamp and are judged by arrival.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The verdict on one update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Handle it.
    Allow,
    /// Drop it and tell the sender once to slow down.
    Warn,
    /// Drop it (the sender was told at the start of this flood).
    Drop,
}

/// The kinds of input, each with a bucket of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Messages: questions and commands.
    Message,
    /// Button presses.
    Button,
    /// Inline queries, which come as the user types.
    Inline,
}

impl Kind {
    /// The metrics and log name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Button => "button",
            Kind::Inline => "inline",
        }
    }
}

/// A bucket's size: `burst` at once, one more every `refill`.
#[derive(Debug, Clone, Copy)]
pub struct Allowance {
    burst: f64,
    refill_secs: f64,
}

impl Allowance {
    /// `burst` updates at once, one more every `refill`.
    pub fn new(burst: u32, refill: Duration) -> Allowance {
        Allowance {
            burst: f64::from(burst.max(1)),
            refill_secs: refill.as_secs_f64().max(0.001),
        }
    }

    /// The allowances for every kind, from the one for messages (`telegram.flood_burst`,
    /// `telegram.flood_refill_secs`): button presses get twice the burst and twice the rate,
    /// since a reader presses up to three buttons on each answer (Full passage, Context,
    /// More) and turns pages faster than they ask; inline queries the same, since Telegram
    /// sends one as the user types.
    pub fn per_kind(messages: Allowance) -> [(Kind, Allowance); 3] {
        let faster = Allowance {
            burst: messages.burst * 2.0,
            refill_secs: messages.refill_secs / 2.0,
        };
        [
            (Kind::Message, messages),
            (Kind::Button, faster),
            (Kind::Inline, faster),
        ]
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    /// The latest time seen for this sender, in the caller's seconds.
    updated: f64,
    warned: bool,
}

/// Token buckets per sender and kind of input.
#[derive(Debug)]
pub struct FloodGuard {
    allowances: HashMap<Kind, Allowance>,
    buckets: Mutex<HashMap<(Kind, i64), Bucket>>,
}

impl FloodGuard {
    /// A guard giving messages `messages`, and the other kinds what
    /// [`Allowance::per_kind`] derives from it.
    pub fn new(messages: Allowance) -> FloodGuard {
        FloodGuard {
            allowances: Allowance::per_kind(messages).into_iter().collect(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Judges an update of `kind` from `sender` (a user id, or the id of the chat posted as)
    /// stamped `at` seconds. Stamps may come out of order (updates of one second, a backlog);
    /// an older stamp than the last one gains nothing.
    pub fn check(&self, kind: Kind, sender: i64, at: f64) -> Verdict {
        let allowance = self
            .allowances
            .get(&kind)
            .copied()
            .unwrap_or(Allowance::new(1, Duration::from_secs(1)));
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > 10_000 {
            // Forget senders whose buckets are full again.
            let allowances = &self.allowances;
            buckets.retain(|(kind, _), b| {
                allowances
                    .get(kind)
                    .is_some_and(|a| b.tokens + (at - b.updated).max(0.0) / a.refill_secs < a.burst)
            });
        }
        let bucket = buckets.entry((kind, sender)).or_insert(Bucket {
            tokens: allowance.burst,
            updated: at,
            warned: false,
        });
        let gained = (at - bucket.updated).max(0.0) / allowance.refill_secs;
        bucket.tokens = (bucket.tokens + gained).min(allowance.burst);
        bucket.updated = bucket.updated.max(at);
        if bucket.tokens >= 1.0 {
            // One warning a flood: the flood is over once the sender has been quiet long
            // enough to fill the bucket again, not when a token trickles back in mid-flood.
            if bucket.tokens >= allowance.burst {
                bucket.warned = false;
            }
            bucket.tokens -= 1.0;
            Verdict::Allow
        } else if bucket.warned {
            Verdict::Drop
        } else {
            bucket.warned = true;
            Verdict::Warn
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> FloodGuard {
        FloodGuard::new(Allowance::new(6, Duration::from_secs(2)))
    }

    #[test]
    fn a_question_every_two_seconds_is_never_limited() {
        let guard = guard();
        for i in 0..200 {
            assert_eq!(
                guard.check(Kind::Message, 1, 2.0 * f64::from(i)),
                Verdict::Allow
            );
        }
    }

    #[test]
    fn a_curious_reader_pressing_three_buttons_on_each_answer_is_never_limited() {
        // A question every 4 s, and Full passage, Context and More pressed within a second
        // or two of each answer.
        let guard = guard();
        for i in 0..100 {
            let asked = 4.0 * f64::from(i);
            assert_eq!(guard.check(Kind::Message, 1, asked), Verdict::Allow);
            for press in 1..=3 {
                let at = asked + 0.5 * f64::from(press);
                assert_eq!(guard.check(Kind::Button, 1, at), Verdict::Allow, "{i}");
            }
        }
    }

    #[test]
    fn a_backlog_written_at_a_normal_pace_is_not_a_flood() {
        // Twenty questions a few seconds apart, all delivered at once after a stall: judged
        // by when they were written.
        let guard = guard();
        for i in 0..20 {
            let written = 1000.0 + 3.0 * f64::from(i);
            assert_eq!(guard.check(Kind::Message, 1, written), Verdict::Allow);
        }
    }

    #[test]
    fn a_flood_is_stopped_with_one_warning_and_other_users_are_unaffected() {
        let guard = guard();
        let verdicts: Vec<Verdict> = (0..30)
            .map(|_| guard.check(Kind::Message, 1, 0.0))
            .collect();
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Allow).count(), 6);
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Warn).count(), 1);
        assert_eq!(guard.check(Kind::Message, 2, 0.0), Verdict::Allow);
        assert_eq!(guard.check(Kind::Message, 1, 2.0), Verdict::Allow);
    }

    #[test]
    fn pressing_buttons_does_not_use_up_the_allowance_for_questions() {
        let guard = guard();
        let presses: Vec<Verdict> = (0..40).map(|_| guard.check(Kind::Button, 1, 0.0)).collect();
        assert_eq!(presses.iter().filter(|v| **v == Verdict::Allow).count(), 12);
        assert_eq!(presses.iter().filter(|v| **v == Verdict::Warn).count(), 1);
        assert_eq!(guard.check(Kind::Message, 1, 0.0), Verdict::Allow);
    }

    #[test]
    fn a_flood_that_goes_on_is_warned_once_and_a_later_one_again() {
        let guard = guard();
        // A message every half second for a minute: a token trickles back every 2 s.
        let verdicts: Vec<Verdict> = (0..120)
            .map(|i| guard.check(Kind::Message, 1, 0.5 * f64::from(i)))
            .collect();
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Warn).count(), 1);
        assert!(verdicts.iter().filter(|v| **v == Verdict::Allow).count() > 20);
        // After a quiet spell long enough to fill the bucket, a new flood is warned again.
        let again: Vec<Verdict> = (0..10)
            .map(|_| guard.check(Kind::Message, 1, 120.0))
            .collect();
        assert_eq!(again.iter().filter(|v| **v == Verdict::Warn).count(), 1);
    }

    #[test]
    fn stamps_out_of_order_gain_nothing() {
        let guard = guard();
        for _ in 0..6 {
            assert_eq!(guard.check(Kind::Message, 1, 100.0), Verdict::Allow);
        }
        // An older stamp after newer ones does not refill the bucket.
        assert_eq!(guard.check(Kind::Message, 1, 50.0), Verdict::Warn);
    }
}
