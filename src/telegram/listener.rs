//! The bot's HTTP listener: the webhook, a second [update source](super::source), and the
//! operations endpoints `/healthz` and `/metrics`.
//!
//! A webhook request is handled like a polled update: its update goes to
//! [`Pipeline::submit`], and the HTTP answer goes back when the update's completion resolves
//! (or after [`BATCH_LIMIT`]). Telegram takes a 200 as delivery, so an update interrupted by a
//! crash gets no answer and Telegram delivers it again. Requests without the secret Telegram
//! was given in `setWebhook` get 401 before their body is read; a body is read only up to
//! [`MAX_UPDATE_BYTES`] and within [`BODY_READ_LIMIT`], and at most [`MAX_IN_FLIGHT`]
//! requests are handled at once (the rest get 503, which Telegram retries). Refusals are
//! logged at most once a minute, with their count.
//!
//! A small axum router of our own rather than teloxide's webhook listener: teloxide's answers
//! Telegram as soon as it has queued the update, before it is handled, which is what its
//! polling does too and what [`source`](super::source) exists to avoid.
//!
//! At a stop the listener takes no new requests, lets those in hand finish (bounded), and
//! leaves the webhook set: updates sent meanwhile wait at Telegram for the next start.

use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use rand::Rng as _;
use sha2::{Digest as _, Sha256};
use teloxide::prelude::*;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::metrics::Metrics;
use super::pipeline::Pipeline;
use super::send::{describe, with_retry};
use super::source::{wanted, BATCH_LIMIT};
use crate::config::Secret;

/// The header Telegram carries the webhook's secret in.
const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// Longest wait at a stop for requests in hand: one update's bound, and a little.
const DRAIN_LIMIT: Duration = Duration::from_secs(12);
/// Length of a secret chosen at start: 256 bits of `A-Z a-z 0-9`, well within Telegram's 256.
const RANDOM_SECRET_LEN: usize = 43;
/// The largest webhook body read: an update is a few kilobytes, the longest message with
/// its entities and a reply well under this.
pub const MAX_UPDATE_BYTES: usize = 256 * 1024;
/// Longest wait for a webhook body to arrive once its headers have.
pub const BODY_READ_LIMIT: Duration = Duration::from_secs(10);
/// Webhook requests handled at once; Telegram itself opens at most 40 connections (its
/// `max_connections` default), so more means someone else is calling.
pub const MAX_IN_FLIGHT: usize = 64;

/// Where updates come from.
#[derive(Debug)]
pub enum Mode {
    /// Long polling (the default), with `/metrics` and `/healthz` served on `metrics` if set.
    Polling {
        /// `telegram.metrics_listen`.
        metrics: Option<SocketAddr>,
    },
    /// A webhook.
    Webhook(Webhook),
}

/// A webhook's settings.
#[derive(Debug)]
pub struct Webhook {
    /// The public https URL Telegram calls (`telegram.webhook_url`); its path is served.
    pub url: url::Url,
    /// Where to listen (`telegram.listen`).
    pub listen: SocketAddr,
    /// The secret Telegram must send.
    pub secret: Secret,
}

/// A secret chosen at random, for a webhook configured without one.
pub fn random_secret() -> Secret {
    let text: String = rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(RANDOM_SECRET_LEN)
        .map(char::from)
        .collect();
    Secret::new(text)
}

/// Whether `given` is the secret, in time that does not depend on where they differ (or on
/// their lengths): both are hashed, and the digests compared whole.
fn secret_matches(secret: &Secret, given: &[u8]) -> bool {
    let want = Sha256::digest(secret.expose().as_bytes());
    let got = Sha256::digest(given);
    want.iter()
        .zip(got.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// Binds `addr`, naming the setting on failure.
pub async fn bind(addr: SocketAddr, key: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} ({key}): {e}"))
}

/// How long the bot may go without hearing from Telegram before `/healthz` fails: a long
/// poll returns at least every 10 s, and the webhook's registration is checked every
/// [`WEBHOOK_CHECK_EVERY`].
pub const HEALTH_LIMIT: Duration = Duration::from_secs(45);
/// How often webhook mode asks Telegram whether its webhook is still set (`getWebhookInfo`).
const WEBHOOK_CHECK_EVERY: Duration = Duration::from_secs(20);

/// `/healthz`: 200 while the bot hears from Telegram, 503 once it has not for
/// [`HEALTH_LIMIT`] (the process may run and still be deaf).
async fn health(metrics: Arc<Metrics>) -> (StatusCode, String) {
    let silent = metrics.silent_for();
    if silent > HEALTH_LIMIT {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "unhealthy: no contact with Telegram for {} s\n",
                silent.as_secs()
            ),
        )
    } else {
        (StatusCode::OK, "ok\n".to_string())
    }
}

/// The routes every listener has: `/healthz` and `/metrics`.
fn operations(metrics: Arc<Metrics>) -> Router {
    let for_health = metrics.clone();
    Router::new()
        .route("/healthz", get(move || health(for_health.clone())))
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.render(),
                    )
                }
            }),
        )
}

/// Serves `/healthz` and `/metrics` on `listener` until `stop`.
pub async fn serve_operations(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
) {
    serve(listener, operations(metrics), stop).await;
}

struct Hook {
    pipeline: Arc<Pipeline>,
    secret: Secret,
    in_flight: tokio::sync::Semaphore,
    refusals: RefusalLog,
}

/// Refused webhook requests, logged at most once a minute with their count, so that someone
/// knocking at the port cannot flood the log.
#[derive(Default)]
struct RefusalLog {
    /// Refusals since the last line.
    count: AtomicU64,
    /// When the last line was written (unix seconds).
    logged: AtomicU64,
}

impl RefusalLog {
    fn refused(&self, status: StatusCode, why: &'static str) {
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.logged.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 60
            && self
                .logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.count.store(0, Ordering::Relaxed);
            tracing::warn!(
                refused = count,
                status = status.as_u16(),
                "webhook requests refused in the last minute (the latest: {why})"
            );
        }
    }
}

async fn deliver(State(hook): State<Arc<Hook>>, request: Request) -> StatusCode {
    // The secret first, from the headers alone: a request without it is never read further.
    let given = request
        .headers()
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !secret_matches(&hook.secret, given) {
        hook.refusals
            .refused(StatusCode::UNAUTHORIZED, "without the right secret token");
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(_permit) = hook.in_flight.try_acquire() else {
        hook.refusals
            .refused(StatusCode::SERVICE_UNAVAILABLE, "too many requests at once");
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let read = axum::body::to_bytes(request.into_body(), MAX_UPDATE_BYTES);
    let body = match tokio::time::timeout(BODY_READ_LIMIT, read).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => {
            hook.refusals
                .refused(StatusCode::PAYLOAD_TOO_LARGE, "a body over 256 KB");
            return StatusCode::PAYLOAD_TOO_LARGE;
        }
        Err(_) => {
            hook.refusals.refused(
                StatusCode::REQUEST_TIMEOUT,
                "a body that did not arrive in time",
            );
            return StatusCode::REQUEST_TIMEOUT;
        }
    };
    hook.pipeline.app().metrics.contacted();
    let update: Update = match serde_json::from_slice(&body) {
        Ok(update) => update,
        Err(err) => {
            tracing::warn!(error = %err, bytes = body.len(), "a webhook request whose body is not an update; refused (400)");
            return StatusCode::BAD_REQUEST;
        }
    };
    let done = hook.pipeline.submit(update);
    if tokio::time::timeout(BATCH_LIMIT, done).await.is_err() {
        tracing::warn!(
            "an update is still being handled after {BATCH_LIMIT:?}; confirming it to Telegram so its other updates come"
        );
    }
    StatusCode::OK
}

/// Registers the webhook with Telegram, then feeds `pipeline` from `listener` until `stop`.
pub async fn webhook(
    bot: Bot,
    pipeline: Arc<Pipeline>,
    listener: TcpListener,
    hook: Webhook,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let metrics = pipeline.app().metrics.clone();
    with_retry("setWebhook", &metrics, || {
        bot.set_webhook(hook.url.clone())
            .secret_token(hook.secret.expose().to_string())
            .allowed_updates(wanted())
            .into_future()
    })
    .await
    .map_err(|e| anyhow::anyhow!("could not set the webhook: {}", describe(&e)))?;
    tracing::info!(
        url = %hook.url,
        listen = %hook.listen,
        "webhook set; Telegram delivers updates to it"
    );
    tokio::spawn(check_webhook(
        bot.clone(),
        hook.url.to_string(),
        metrics.clone(),
        stop.clone(),
    ));
    let routes = Router::new()
        .route(hook.url.path(), post(deliver))
        .with_state(Arc::new(Hook {
            pipeline,
            secret: hook.secret,
            in_flight: tokio::sync::Semaphore::new(MAX_IN_FLIGHT),
            refusals: RefusalLog::default(),
        }))
        .merge(operations(metrics));
    serve(listener, routes, stop).await;
    Ok(())
}

/// Asks Telegram every [`WEBHOOK_CHECK_EVERY`] whether the webhook is still `url`: a quiet
/// chat sends no requests, so this is how `/healthz` knows the bot still hears Telegram.
async fn check_webhook(
    bot: Bot,
    url: String,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        match bot.get_webhook_info().into_future().await {
            Ok(info) if info.url.as_ref().map(|u| u.as_str()) == Some(url.as_str()) => {
                metrics.contacted();
            }
            Ok(_) => tracing::warn!(
                "Telegram no longer has this bot's webhook (another process set or removed it); updates do not reach it"
            ),
            Err(err) => tracing::warn!(error = %describe(&err), "getWebhookInfo failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(WEBHOOK_CHECK_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Serves `routes` until `stop`, then lets the requests in hand finish, at most
/// [`DRAIN_LIMIT`].
async fn serve(listener: TcpListener, routes: Router, mut stop: watch::Receiver<bool>) {
    let mut stopping = stop.clone();
    let server = axum::serve(super::connections::Bounded::new(listener), routes)
        .with_graceful_shutdown(async move {
            let _ = stopping.wait_for(|s| *s).await;
        })
        .into_future();
    let mut server = tokio::spawn(server);
    tokio::select! {
        done = &mut server => {
            if let Ok(Err(err)) = done {
                tracing::error!(error = %err, "the listener failed");
            }
            return;
        }
        _ = stop.wait_for(|s| *s) => {}
    }
    if tokio::time::timeout(DRAIN_LIMIT, &mut server)
        .await
        .is_err()
    {
        tracing::warn!("requests still in hand after {DRAIN_LIMIT:?}; stopping anyway");
        server.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_secret_matches() {
        let secret = Secret::new("abc_DEF-123");
        assert!(secret_matches(&secret, b"abc_DEF-123"));
        for wrong in [&b""[..], b"abc_DEF-12", b"abc_DEF-1234", b"ABC_DEF-123"] {
            assert!(!secret_matches(&secret, wrong));
        }
    }

    #[test]
    fn a_random_secret_is_one_telegram_accepts_and_differs_each_time() {
        let a = random_secret();
        assert!(a.is_valid());
        assert_eq!(a.expose().len(), RANDOM_SECRET_LEN);
        assert_ne!(a.expose(), random_secret().expose());
    }
}
