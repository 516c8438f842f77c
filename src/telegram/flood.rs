//! Per-sender flood control: a token bucket that never bites normal use (a question every
//! couple of seconds keeps being answered) but stops floods (dozens of messages in a few
//! seconds), so one user cannot delay everyone else's answers. The pipeline asks it on an
//! update's arrival, before any work is queued. A sender is a user (a positive id), or the
//! chat someone posts as (a negative id: an anonymous admin posting as the group, a channel),
//! so that all anonymous admins of one group share a bucket and other groups' do not.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The verdict on one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Handle it.
    Allow,
    /// Drop it and tell the user once to slow down.
    Warn,
    /// Drop it silently (already warned).
    Drop,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
    warned: bool,
}

/// Token buckets per user.
#[derive(Debug)]
pub struct FloodGuard {
    burst: f64,
    refill: Duration,
    buckets: Mutex<HashMap<i64, Bucket>>,
}

impl FloodGuard {
    /// `burst` messages at once, one more every `refill`.
    pub fn new(burst: u32, refill: Duration) -> FloodGuard {
        FloodGuard {
            burst: f64::from(burst.max(1)),
            refill: refill.max(Duration::from_millis(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Judges a message from `sender` (a user id, or the id of the chat posted as) arriving at
    /// `now`.
    pub fn check(&self, sender: i64, now: Instant) -> Verdict {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > 10_000 {
            // Forget users whose buckets are full again.
            let (burst, refill) = (self.burst, self.refill);
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() / refill.as_secs_f64()
                    < burst
            });
        }
        let bucket = buckets.entry(sender).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
            warned: false,
        });
        let gained = now.duration_since(bucket.updated).as_secs_f64() / self.refill.as_secs_f64();
        bucket.tokens = (bucket.tokens + gained).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            // One warning a flood: the flood is over once the user has been quiet long enough
            // to fill the bucket again, not when a token trickles back in mid-flood.
            if bucket.tokens >= self.burst {
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

    #[test]
    fn a_question_every_two_seconds_is_never_limited() {
        let guard = FloodGuard::new(6, Duration::from_secs(2));
        let start = Instant::now();
        for i in 0..200 {
            let at = start + Duration::from_secs(2 * i);
            assert_eq!(guard.check(1, at), Verdict::Allow);
        }
    }

    #[test]
    fn a_flood_is_stopped_with_one_warning_and_other_users_are_unaffected() {
        let guard = FloodGuard::new(6, Duration::from_secs(2));
        let now = Instant::now();
        let verdicts: Vec<Verdict> = (0..30).map(|_| guard.check(1, now)).collect();
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Allow).count(), 6);
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Warn).count(), 1);
        assert_eq!(guard.check(2, now), Verdict::Allow);
        assert_eq!(guard.check(1, now + Duration::from_secs(2)), Verdict::Allow);
    }

    #[test]
    fn a_flood_that_goes_on_is_warned_once_and_a_later_one_again() {
        let guard = FloodGuard::new(6, Duration::from_secs(2));
        let start = Instant::now();
        // A message every half second for a minute: a token trickles back every 2 s.
        let verdicts: Vec<Verdict> = (0..120)
            .map(|i| guard.check(1, start + Duration::from_millis(500 * i)))
            .collect();
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Warn).count(), 1);
        assert!(verdicts.iter().filter(|v| **v == Verdict::Allow).count() > 20);
        // After a quiet spell long enough to fill the bucket, a new flood is warned again.
        let later = start + Duration::from_secs(120);
        let again: Vec<Verdict> = (0..10).map(|_| guard.check(1, later)).collect();
        assert_eq!(again.iter().filter(|v| **v == Verdict::Warn).count(), 1);
    }
}
