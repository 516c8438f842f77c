//! Where updates come from: the first stage of the [pipeline](super::pipeline).
//!
//! An update source hands updates to [`Pipeline::submit`] and waits on the [`Completion`] it
//! gets back before telling Telegram the update is done. Long polling ([`long_poll`]) is the
//! default source; the webhook ([`listener`](super::listener)) has the same shape: it submits
//! the update and answers the HTTP request when its completion resolves.
//!
//! Why a listener of our own rather than teloxide's polling: teloxide confirms updates to
//! Telegram (the next `getUpdates` offset) as soon as it has handed them to its dispatcher,
//! before their handlers have run, so a crash or a restart lost every update still queued,
//! poll answers included. Here a batch of updates is confirmed only when each of them has
//! been handled, or after [`BATCH_LIMIT`] at most, so that one stuck handler cannot hold up
//! every chat. Handlers are quick by construction (they queue replies instead of waiting to
//! send them), so waiting for a batch costs little.
//!
//! [`Completion`]: super::pipeline::Completion

use std::future::IntoFuture as _;
use std::sync::Arc;
use std::time::Duration;

use teloxide::prelude::*;
use teloxide::types::AllowedUpdate;
use teloxide::{ApiError, RequestError};
use tokio::sync::watch;

use super::pipeline::Pipeline;
use super::send::describe;

/// Seconds Telegram holds a `getUpdates` request open when there is nothing new.
const POLL_SECS: u32 = 10;
/// Longest wait for a batch's handlers before confirming it anyway.
pub const BATCH_LIMIT: Duration = Duration::from_secs(10);
/// Longest pause between failed `getUpdates` calls.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The update kinds the bot reads.
pub(super) fn wanted() -> Vec<AllowedUpdate> {
    vec![
        AllowedUpdate::Message,
        AllowedUpdate::CallbackQuery,
        AllowedUpdate::InlineQuery,
        AllowedUpdate::PollAnswer,
    ]
}

/// Long-polls Telegram and feeds `pipeline` until `stop` turns true; then waits (at most
/// [`BATCH_LIMIT`]) for the updates in hand, confirms them, and returns. A token Telegram
/// refuses (401: revoked, or never valid) ends it with [`super::TokenRefused`]: retrying
/// cannot help, and the host must know.
pub async fn long_poll(
    bot: Bot,
    pipeline: Arc<Pipeline>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), super::TokenRefused> {
    // A webhook left set (by webhook mode, which keeps it at a stop) would make every
    // getUpdates fail with a 409.
    if let Err(err) = bot.delete_webhook().into_future().await {
        tracing::warn!(error = %describe(&err), "could not remove a webhook");
    }
    let mut offset: i32 = 0;
    let mut backoff = Duration::from_secs(1);
    while !*stop.borrow() {
        let request = bot
            .get_updates()
            .offset(offset)
            .timeout(POLL_SECS)
            .allowed_updates(wanted())
            .into_future();
        let result = tokio::select! {
            result = request => result,
            _ = stop.changed() => break,
        };
        let updates = match result {
            Ok(updates) => {
                backoff = Duration::from_secs(1);
                pipeline.app().metrics.contacted();
                updates
            }
            Err(RequestError::Api(ApiError::InvalidToken)) => return Err(super::TokenRefused),
            Err(err) => {
                match &err {
                    RequestError::Api(ApiError::TerminatedByOtherGetUpdates) => tracing::warn!(
                        retry_in = ?backoff,
                        "getUpdates conflict (409): another process is polling Telegram with this bot's token; only one may run at a time"
                    ),
                    _ => {
                        tracing::warn!(retry_in = ?backoff, error = %describe(&err), "getUpdates failed")
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => break,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let mut pending = Vec::with_capacity(updates.len());
        for update in updates {
            let next = i32::try_from(update.id.0)
                .unwrap_or(i32::MAX)
                .saturating_add(1);
            offset = offset.max(next);
            pending.push(pipeline.submit(update));
        }
        // Confirmed by the next getUpdates (its offset), once handled.
        let deadline = tokio::time::Instant::now() + BATCH_LIMIT;
        for done in pending {
            if tokio::time::timeout_at(deadline, done).await.is_err() {
                tracing::warn!(
                    "an update is still being handled after {BATCH_LIMIT:?}; confirming its batch so other chats go on"
                );
                break;
            }
        }
    }
    // Confirm the last batch, so that a restart does not handle it again.
    if offset > 0 {
        let confirm = bot
            .get_updates()
            .offset(offset)
            .limit(1)
            .timeout(0)
            .into_future();
        if let Ok(Err(err)) = tokio::time::timeout(Duration::from_secs(5), confirm).await {
            tracing::warn!(error = %describe(&err), "could not confirm the last updates");
        }
    }
    Ok(())
}
