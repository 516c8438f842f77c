//! The Telegram adapter: updates in, the shared [`commands`](crate::commands) handling, replies
//! out as Telegram messages. The whole path of an update is laid out in [`pipeline`]; updates
//! come from [`source`] (long polling) or [`listener`] (a webhook), go through the flood guard ([`flood`]) and roles
//! ([`roles`]), are rendered ([`render`]) within Telegram's limits ([`limits`], [`callback`])
//! and leave through per-chat queues ([`outbox`], [`send`]). Quizzes run as native polls
//! ([`quiz`]). What the bot did is counted in [`metrics`] and served as `/metrics` by
//! [`listener`].

pub mod callback;
pub mod connections;
pub mod flood;
pub mod limits;
pub mod listener;
pub mod metrics;
pub mod outbox;
pub mod pipeline;
pub mod quiz;
pub mod render;
pub mod roles;
pub mod send;
pub mod source;
pub mod upload;

use std::collections::HashMap;
use std::future::IntoFuture as _;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use teloxide::dispatching::UpdateHandler;
use teloxide::prelude::*;
use teloxide::types::{BotCommand, BotCommandScope, Me};

use crate::commands::{self, Handler};
use crate::library::Library;
use flood::FloodGuard;
pub use metrics::Metrics;
use pipeline::Pipeline;
use roles::{Allowed, Roles};
use send::{describe, with_retry};

/// Longest text (characters) accepted as a question from Telegram.
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// How long the bot waits at shutdown for queued messages to go out.
const FLUSH_LIMIT: Duration = Duration::from_secs(3);

/// Everything the Telegram pipeline needs that outlives one update.
#[derive(Debug)]
pub struct App {
    /// Shared command handling over the host's texts.
    pub handler: Handler,
    /// The host's texts and those added from the chats; routes each chat to its text.
    pub library: Library,
    /// Per-sender flood control of messages, button presses and inline queries.
    pub flood: FloodGuard,
    /// Cached chat roles.
    pub roles: Roles,
    /// The chats the bot serves.
    pub allowed: Allowed,
    /// What the bot did, for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Quiz polls sent but not yet recorded: an answer to an unknown poll may be to one of
    /// them, and waits for them before it is given up.
    pub polls_in_flight: AtomicUsize,
    /// One permit per core for core work: jobs beyond that wait their turn instead of each
    /// taking a thread (and its buffers) of the blocking pool at once.
    working: tokio::sync::Semaphore,
    /// Permits for work that is mostly the state database (poll answers, quiz steps, review
    /// polls): an outside lock on the database then stalls those, never a search.
    storing: tokio::sync::Semaphore,
    /// The one permit of inline queries: anyone may type one, so they get a budget of their
    /// own and never take the chats' permits.
    inline: tokio::sync::Semaphore,
    max_sends_per_sec: u32,
    /// When each chat outside the allow-list was last told so.
    refusals: Mutex<HashMap<i64, Instant>>,
}

/// Another job holds the permit asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// How long an inline query waits for the inline permit: a member typing sends a query per
/// pause, and one search takes milliseconds, so a longer wait means many people at once.
pub const INLINE_WAIT: Duration = Duration::from_secs(2);

/// Jobs on the state database at once (SQLite serialises writers; two let a read go beside a
/// write).
const STORE_PERMITS: usize = 2;

impl App {
    /// An app over a handler with the given flood settings, serving every chat and sending at
    /// most 25 messages a second (see [`App::with_max_sends_per_sec`],
    /// [`App::with_allowed_chats`]).
    pub fn new(handler: Handler, flood_burst: u32, flood_refill: Duration) -> App {
        App {
            library: Library::new(handler.clone(), &crate::config::Settings::default()),
            handler,
            flood: FloodGuard::new(flood::Allowance::new(flood_burst, flood_refill)),
            roles: Roles::default(),
            allowed: Allowed::new(&[], &[]),
            metrics: Arc::new(Metrics::new()),
            polls_in_flight: AtomicUsize::new(0),
            working: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            ),
            storing: tokio::sync::Semaphore::new(STORE_PERMITS),
            inline: tokio::sync::Semaphore::new(1),
            max_sends_per_sec: 25,
            refusals: Mutex::new(HashMap::new()),
        }
    }

    /// Serves `library` (the host's handler and the texts added from the chats).
    pub fn with_library(mut self, library: Library) -> App {
        self.handler = library.host().clone();
        self.library = library;
        self
    }

    /// Opens the texts added from the chats (recorded in the handler's store, their files
    /// under `settings.data_dir`) beside the host's.
    pub fn with_library_from(self, settings: &crate::config::Settings) -> App {
        let library = Library::open(self.handler.clone(), settings);
        self.with_library(library)
    }

    /// Sets the global send pace (`telegram.max_sends_per_sec`).
    pub fn with_max_sends_per_sec(mut self, per_second: u32) -> App {
        self.max_sends_per_sec = per_second;
        self
    }

    /// Serves only `chats` (`telegram.allowed_chats`; empty serves everyone), following the
    /// chat moves recorded in the store.
    pub fn with_allowed_chats(mut self, chats: &[i64]) -> App {
        let moves = match self.handler.quiz() {
            Some(quiz) => quiz.store().chat_moves().unwrap_or_else(|err| {
                tracing::warn!(error = %err, "could not read the recorded chat moves");
                Vec::new()
            }),
            None => Vec::new(),
        };
        self.allowed = Allowed::new(chats, &moves);
        self
    }

    /// The global send pace.
    pub fn max_sends_per_sec(&self) -> u32 {
        self.max_sends_per_sec
    }

    /// Runs core work (search, SQLite, rendering) on the blocking pool, at most one job per
    /// core at a time. `None` when the runtime is shutting down. A panic in the job continues
    /// in the caller, where the pipeline turns it into an apology.
    pub async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        job: impl FnOnce(&App) -> T + Send + 'static,
    ) -> Option<T> {
        let permit = self.working.acquire().await.ok()?;
        self.run_blocking(permit, job).await
    }

    /// Runs work that is mostly the state database (see [`App::blocking`]) on its own
    /// permits.
    pub async fn store_blocking<T: Send + 'static>(
        self: &Arc<Self>,
        job: impl FnOnce(&App) -> T + Send + 'static,
    ) -> Option<T> {
        let permit = self.storing.acquire().await.ok()?;
        self.run_blocking(permit, job).await
    }

    /// Runs an inline query's search on the inline permit, or `Err(Busy)` when other inline
    /// queries hold it for longer than [`INLINE_WAIT`].
    pub async fn inline_blocking<T: Send + 'static>(
        self: &Arc<Self>,
        job: impl FnOnce(&App) -> T + Send + 'static,
    ) -> Result<Option<T>, Busy> {
        let permit = match tokio::time::timeout(INLINE_WAIT, self.inline.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Ok(None),
            Err(_) => return Err(Busy),
        };
        Ok(self.run_blocking(permit, job).await)
    }

    async fn run_blocking<T: Send + 'static>(
        self: &Arc<Self>,
        _permit: tokio::sync::SemaphorePermit<'_>,
        job: impl FnOnce(&App) -> T + Send + 'static,
    ) -> Option<T> {
        let app = self.clone();
        match tokio::task::spawn_blocking(move || job(&app)).await {
            Ok(out) => Some(out),
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(_) => None,
        }
    }

    /// Records a move of chat `old` to `new` (a group became a supergroup): its scores,
    /// history and running quiz, and its place on the allow-list.
    pub async fn migrate_chat(self: &Arc<Self>, old: i64, new: i64) {
        self.allowed.moved(old, new);
        self.library.moved(old, new);
        let moved = self
            .store_blocking(move |app| match app.handler.quiz() {
                Some(quiz) => quiz.migrate(old, new, commands::unix_now()),
                None => Ok(()),
            })
            .await;
        if let Some(Err(err)) = moved {
            tracing::error!(old, new, error = %err, "could not move a chat's quiz state");
        }
    }

    /// Whether chat `chat`, outside the allow-list, should be told so now (at most once
    /// every `every`).
    fn first_refusal(&self, chat: i64, now: Instant, every: Duration) -> bool {
        let mut told = self
            .refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if told.len() > 10_000 {
            told.retain(|_, at| now.duration_since(*at) < every);
        }
        match told.get(&chat) {
            Some(at) if now.duration_since(*at) < every => false,
            _ => {
                told.insert(chat, now);
                true
            }
        }
    }
}

/// Routing for a dptree dispatcher (the `teloxide_tests` harness): every update goes through
/// the same [`Pipeline`], and the handler returns once the replies it queued are sent.
pub fn schema() -> UpdateHandler<anyhow::Error> {
    dptree::entry().endpoint(
        |bot: Bot, me: Me, update: Update, app: Arc<App>| async move {
            let pipeline = Pipeline::new(bot, me, app);
            pipeline.submit(update).await;
            pipeline.outbox().flush(Duration::from_secs(30)).await;
            Ok(())
        },
    )
}

/// The command menu Telegram shows: everything in private chats, the same in groups.
pub fn bot_commands() -> Vec<BotCommand> {
    commands::COMMANDS
        .iter()
        .flat_map(|c| {
            std::iter::once(BotCommand::new(c.name, c.description)).chain(
                c.aliases
                    .iter()
                    .map(move |a| BotCommand::new(*a, format!("same as /{}", c.name))),
            )
        })
        .collect()
}

/// Registers the command menu for private chats and groups.
pub async fn register_commands(bot: &Bot, metrics: &Metrics) -> Result<(), teloxide::RequestError> {
    for scope in [
        BotCommandScope::AllPrivateChats,
        BotCommandScope::AllGroupChats,
    ] {
        with_retry("setMyCommands", metrics, || {
            bot.set_my_commands(bot_commands())
                .scope(scope.clone())
                .into_future()
        })
        .await?;
    }
    Ok(())
}

/// Telegram refused the bot token (401 Unauthorized): it was revoked in @BotFather, or is
/// wrong. The process exits with code 2, which the systemd unit does not restart.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("Telegram refused the bot token (401 Unauthorized): it was revoked or is wrong; get the current one from @BotFather and set TELOXIDE_TOKEN")]
pub struct TokenRefused;

/// Runs the bot until SIGTERM or Ctrl-C: binds its listener (if `mode` has one), checks the
/// connection, registers the command menu, resumes running quizzes, then long-polls or
/// serves the webhook. At a stop it finishes the updates in hand and sends what is queued,
/// each within a bound.
pub async fn run(bot: Bot, app: Arc<App>, mode: listener::Mode) -> anyhow::Result<()> {
    // Bound first, so that a taken port fails the start at once.
    let bound = match &mode {
        listener::Mode::Webhook(hook) => {
            Some(listener::bind(hook.listen, "telegram.listen").await?)
        }
        listener::Mode::Polling {
            metrics: Some(addr),
        } => Some(listener::bind(*addr, "telegram.metrics_listen").await?),
        listener::Mode::Polling { metrics: None } => None,
    };
    let metrics = app.metrics.clone();
    let me = match with_retry("getMe", &metrics, || bot.get_me().into_future()).await {
        Ok(me) => me,
        Err(teloxide::RequestError::Api(teloxide::ApiError::InvalidToken)) => {
            return Err(TokenRefused.into())
        }
        Err(e) => anyhow::bail!("cannot reach the Telegram Bot API: {}", describe(&e)),
    };
    tracing::info!(username = %me.username(), "connected");
    if let Err(err) = register_commands(&bot, &metrics).await {
        tracing::warn!(error = %describe(&err), "could not register the command menu");
    }
    let pipeline = Pipeline::new(bot.clone(), me, app);
    pipeline.resume_quizzes().await;
    let interrupted = pipeline.app().library.take_interrupted();
    if !interrupted.is_empty() {
        tokio::spawn(upload::tell_interrupted(pipeline.clone(), interrupted));
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stopping");
        let _ = stop.send(true);
        // Keep the sender alive until the source has seen the stop.
        std::future::pending::<()>().await;
    });
    match (mode, bound) {
        (listener::Mode::Webhook(hook), Some(bound)) => {
            listener::webhook(bot, pipeline.clone(), bound, hook, stopped).await?;
        }
        (_, bound) => {
            if let Some(bound) = bound {
                tracing::info!("serving /metrics and /healthz (telegram.metrics_listen)");
                tokio::spawn(listener::serve_operations(bound, metrics, stopped.clone()));
            }
            let polled = source::long_poll(bot, pipeline.clone(), stopped).await;
            if let Err(refused) = polled {
                // What is queued cannot be sent with a refused token either.
                return Err(refused.into());
            }
        }
    }
    if !pipeline.outbox().flush(FLUSH_LIMIT).await {
        tracing::warn!("stopped with messages still queued");
    }
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The settings of every property test in the adapter: a fixed seed, so a failure is the same
/// on every machine, and 256 cases, which CI runs in seconds. A longer run:
/// `PROPTEST_CASES=100000 PROPTEST_RNG_SEED=<any number> cargo test --release --lib props`
/// (and `... callback`).
#[cfg(test)]
pub(crate) fn proptest_config() -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, RngSeed};
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5747_4459);
    Config {
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> Arc<App> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/handbook");
        let engine = crate::Engine::in_memory(&dir).expect("the handbook fixture indexes");
        Arc::new(App::new(
            Handler::new(Arc::new(engine)),
            10,
            Duration::from_secs(1),
        ))
    }

    /// Anyone may send inline queries: a crowd of them must neither take the chats' permits
    /// nor queue without end.
    /// (Real time: tokio's paused clock does not advance while a blocking job runs; the busy
    /// query waits INLINE_WAIT, 2 s.)
    #[tokio::test]
    async fn inline_queries_have_a_budget_of_their_own() {
        let app = app();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (started, has_started) = tokio::sync::oneshot::channel::<()>();
        let holder = {
            let app = app.clone();
            tokio::spawn(async move {
                app.inline_blocking(move |_| {
                    let _ = started.send(());
                    let _ = released.recv();
                    1
                })
                .await
            })
        };
        has_started.await.unwrap();
        assert_eq!(app.inline_blocking(|_| 2).await, Err(Busy));
        assert_eq!(app.blocking(|_| 3).await, Some(3), "chats do not wait");
        assert_eq!(app.store_blocking(|_| 4).await, Some(4));
        release.send(()).unwrap();
        assert_eq!(holder.await.unwrap(), Ok(Some(1)));
        assert_eq!(app.inline_blocking(|_| 5).await, Ok(Some(5)));
    }
}
