//! Sending to Telegram without losing answers: flood-control waits (`retry_after`) are
//! honoured, transient network failures and server errors are retried with backoff, and a
//! global pace keeps the bot under Telegram's ~30 messages per second.

use std::future::Future;
use std::time::Duration;

use teloxide::RequestError;
use tokio::sync::Mutex;
use tokio::time::Instant;

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

/// Runs `request` until it succeeds, retrying what is transient.
pub async fn with_retry<T, F, Fut>(what: &str, mut request: F) -> Result<T, RequestError>
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
                        tracing::warn!(%what, attempt, ?delay, error = %err, "retrying");
                        tokio::time::sleep(delay).await;
                    }
                    _ => return Err(err),
                }
            }
        }
    }
}

/// A global pace: at most `per_second` sends, spread evenly.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    /// A pacer allowing `per_second` sends per second.
    pub fn new(per_second: u32) -> Pacer {
        Pacer {
            interval: Duration::from_secs(1) / per_second.max(1),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this send's turn.
    pub async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let at = (*next).max(now);
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}
