//! Sending to Telegram without losing answers: flood-control waits (`retry_after`) are
//! honoured, transient network failures and server errors are retried with backoff, and a
//! pace keeps the bot under Telegram's limits: about 30 messages a second in all, short bursts
//! into one chat, and 20 messages a minute into one group. Errors are logged without the bot
//! token ([`describe`]), even when a server echoes it back in an error body.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use teloxide::RequestError;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::metrics::Metrics;
use crate::config::Token;

/// The token to scrub from logged errors. One per process: the bot runs with one token, and
/// errors are logged from every part of the adapter.
static TOKEN: OnceLock<Token> = OnceLock::new();

/// Remembers the bot token, so that [`describe`] can keep it out of logs.
pub fn hide_in_logs(token: &Token) {
    let _ = TOKEN.set(token.clone());
}

/// `text` without the bot token.
pub fn redact(text: &str) -> String {
    match TOKEN.get() {
        Some(token) => token.redact(text),
        None => text.to_string(),
    }
}

/// A request error as one log-safe line: without the bot token, and with a long error body
/// (a proxy's HTML page) shortened.
pub fn describe(err: &RequestError) -> String {
    let text = redact(&err.to_string()).replace('\n', " ");
    super::limits::utf16_truncate(&text, 300)
}

/// Attempts per request before giving up.
const ATTEMPTS: u32 = 6;
/// Longest flood-control wait honoured; longer ones fail the request.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// Whether an error is worth retrying, and after how long.
fn retry_delay(err: &RequestError, attempt: u32) -> Option<Duration> {
    let backoff = Duration::from_millis(300 * 2u64.pow(attempt.min(5)));
    match err {
        RequestError::RetryAfter(secs) => {
            let wait = secs.duration();
            (wait <= MAX_RETRY_AFTER).then_some(wait + Duration::from_millis(50))
        }
        RequestError::Network(_) | RequestError::Io(_) => Some(backoff),
        // A gateway error page is not JSON; a 5xx with a JSON body is an unknown API error.
        RequestError::InvalidJson { .. } => Some(backoff),
        RequestError::Api(teloxide::ApiError::Unknown(text))
            if text.contains("Internal Server Error")
                || text.contains("Bad Gateway")
                || text.contains("Gateway")
                || text.contains("Service Unavailable") =>
        {
            Some(backoff)
        }
        _ => None,
    }
}

/// Runs `request` until it succeeds, retrying what is transient (each retry counted in
/// `metrics`).
pub async fn with_retry<T, F, Fut>(
    what: &str,
    metrics: &Metrics,
    mut request: F,
) -> Result<T, RequestError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RequestError>>,
{
    let mut attempt = 0;
    loop {
        match request().await {
            Ok(value) => return Ok(value),
            Err(err) => {
                attempt += 1;
                match retry_delay(&err, attempt) {
                    Some(delay) if attempt < ATTEMPTS => {
                        metrics.retry();
                        tracing::warn!(%what, attempt, ?delay, error = %describe(&err), "retrying");
                        tokio::time::sleep(delay).await;
                    }
                    _ => return Err(err),
                }
            }
        }
    }
}

/// Sends into one chat within any second: a reply and an edit or two, not a stream.
const CHAT_PER_SECOND: usize = 3;
/// Sends into one group or channel within any minute (Telegram refuses more).
const GROUP_PER_MINUTE: usize = 20;
/// The minute of that limit, with a second to spare for the overall pace, which can send a
/// little later than the chat's turn.
const GROUP_WINDOW: Duration = Duration::from_secs(61);

/// The pace of sends: at most `per_second` in all, spread evenly, and within each chat's
/// limits. Waiting here is cheaper than Telegram's flood-control waits, which grow when a bot
/// keeps hitting them.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    state: Mutex<PaceState>,
}

#[derive(Debug)]
struct PaceState {
    /// When the next send may go out, over all chats.
    next: Instant,
    /// Each chat's sends within the last minute (or booked for later), oldest first.
    chats: HashMap<i64, VecDeque<Instant>>,
}

impl Pacer {
    /// A pacer allowing `per_second` sends per second in all.
    pub fn new(per_second: u32) -> Pacer {
        Pacer {
            interval: Duration::from_secs(1) / per_second.max(1),
            state: Mutex::new(PaceState {
                next: Instant::now(),
                chats: HashMap::new(),
            }),
        }
    }

    /// Waits for the turn of a send into `chat` (negative ids are groups and channels): first
    /// the chat's, so that a chat held back holds up no other, then the overall one.
    pub async fn wait(&self, chat: i64) {
        let chat_turn = {
            let mut state = self.state.lock().await;
            let now = Instant::now();
            // Forget chats with nothing sent for a while, so the map stays small.
            state.chats.retain(|_, sent| {
                while sent.front().is_some_and(|&t| t + GROUP_WINDOW <= now) {
                    sent.pop_front();
                }
                !sent.is_empty()
            });
            let sent = state.chats.entry(chat).or_default();
            // The send CHAT_PER_SECOND back must be a second old, and in a group the one
            // GROUP_PER_MINUTE back a minute old.
            let nth_back = |n: usize| sent.len().checked_sub(n).and_then(|i| sent.get(i));
            let mut at = now;
            if let Some(&t) = nth_back(CHAT_PER_SECOND) {
                at = at.max(t + Duration::from_secs(1));
            }
            if chat < 0 {
                if let Some(&t) = nth_back(GROUP_PER_MINUTE) {
                    at = at.max(t + GROUP_WINDOW);
                }
            }
            sent.push_back(at);
            at
        };
        tokio::time::sleep_until(chat_turn).await;
        let at = {
            let mut state = self.state.lock().await;
            let at = state.next.max(Instant::now());
            state.next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When each of `n` sends into `chat` goes out, in seconds from the first.
    async fn send_times(pacer: &Pacer, chat: i64, n: usize) -> Vec<f64> {
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..n {
            pacer.wait(chat).await;
            times.push((Instant::now() - start).as_secs_f64());
        }
        times
    }

    #[tokio::test(start_paused = true)]
    async fn a_group_gets_twenty_messages_a_minute_and_other_chats_are_not_held_up() {
        let pacer = Pacer::new(1000);
        let group = send_times(&pacer, -100, 21).await;
        // Short bursts, then about one a second...
        assert!(group[2] < 0.1, "{group:?}");
        assert!((1.0..1.1).contains(&group[3]), "{group:?}");
        // ...and the 21st waits for the first to be a minute old.
        assert!(group[19] < 60.0, "{group:?}");
        assert!((61.0..61.1).contains(&group[20]), "{group:?}");
        // A private chat is not held to twenty a minute.
        let private = send_times(&pacer, 42, 30).await;
        assert!(private[29] < 10.0, "{private:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_chat_held_back_holds_up_no_other() {
        let pacer = std::sync::Arc::new(Pacer::new(1000));
        send_times(&pacer, -100, 20).await;
        // The group's next send waits most of a minute; another chat's goes at once.
        let waiting = pacer.clone();
        let held = tokio::spawn(async move { send_times(&waiting, -100, 1).await });
        tokio::task::yield_now().await;
        let other = send_times(&pacer, 42, 1).await;
        assert!(other[0] < 0.1, "{other:?}");
        assert!(!held.is_finished());
        let held = held.await.expect("the held send");
        assert!(held[0] > 50.0, "{held:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_overall_pace_spreads_sends_to_many_chats() {
        let pacer = Pacer::new(10);
        let start = Instant::now();
        for chat in 0..20 {
            pacer.wait(chat).await;
        }
        let elapsed = (Instant::now() - start).as_secs_f64();
        assert!((1.9..2.0).contains(&elapsed), "{elapsed}");
    }
}
