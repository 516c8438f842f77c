//! The bot's pipeline, in the order an update travels:
//!
//! **update → guard → command → reply values → per-chat outbox → sender**
//!
//! 1. **Update.** An update source ([`source`](super::source): long polling; a webhook can be a
//!    second one) hands each update to [`Pipeline::submit`] and gets back a [`Completion`]
//!    that resolves when the update has been handled. The source confirms updates to Telegram
//!    only then, so a crash loses nothing that was not finished.
//! 2. **Guard** ([`Pipeline::guard`]), on arrival, on the source's own task, before anything can
//!    wait: only what is addressed to the bot goes on; chats outside `telegram.allowed_chats`
//!    get one polite line now and then; the flood guard judges each sender (a user, or the
//!    chat an anonymous admin or a channel posts as) with a bucket for each kind of input
//!    (messages by Telegram's own timestamps), and a flood is answered with one notice and
//!    then dropped. Every update that goes no further is counted with its reason
//!    ([`Dropped`]); every update gets one debug line with its verdict and latency.
//! 3. **Command** ([`Pipeline::handle`]). Updates of one chat are handled one at a time in
//!    arrival order, different chats at once, each update on a task of its own: a panic
//!    stays in its update and becomes a logged error and a short apology. Role lookups
//!    (`getChatMember`) are awaited here; the core's work (search, SQLite, rendering) runs on
//!    the blocking pool, one job per core at a time, never on the async worker threads.
//! 4. **Reply values.** The core returns [`Reply`] values; they are rendered to Telegram HTML
//!    within Telegram's limits and become [`Outgoing`] messages.
//! 5. **Per-chat outbox** ([`outbox`](super::outbox)): handlers queue messages and return. Each
//!    chat's queue is bounded; under a flood the older answers to the flooding member go
//!    first, and the chat is told which were skipped.
//! 6. **Sender**: each chat with messages waiting has its own sender, paced to Telegram's
//!    limits for that chat and overall, with retries; a chat held back holds up no other.
//!
//! Quizzes run beside the pipeline: one driver task per running quiz
//! ([`quiz`](super::quiz)), which sends its polls through the same outbox.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use teloxide::prelude::*;
use teloxide::types::{
    CallbackQueryId, InlineKeyboardButtonKind, InlineQueryId, MaybeInaccessibleMessage, Me,
    MessageId, PollAnswer, UpdateKind,
};
use tokio::sync::oneshot;

use super::flood::{Kind, Verdict};
use super::metrics::{Dropped, Refusal};
use super::outbox::{Op, Outbox, Outgoing};
use super::{callback, limits, render, App, MAX_MESSAGE_CHARS};
use crate::commands::parse::strip_mention;
use crate::commands::{self, unix_now, Action, Caller, Command, Content, Parsed, Reply};
use crate::store::AnswerOutcome;

/// The notice for a sender who floods.
const SLOW_DOWN: &str =
    "You're sending messages faster than I can read them. I'll answer again in a few seconds.";
/// The notice a chat gets when its backlog is full and `n` answers were skipped; it replies
/// to the message the first of them answered.
fn busy(n: usize) -> String {
    let skipped = match n {
        0 | 1 => "my answer to this message".to_string(),
        2 => "my answers to this message and one other".to_string(),
        n => format!("my answers to this message and {} others", n - 1),
    };
    format!(
        "This chat is asking faster than Telegram lets me answer, so I skipped {skipped}. Ask again in a minute if yours is missing."
    )
}
/// How long an answer to an unknown poll waits for the quiz polls being sent.
const POLL_WAIT: Duration = Duration::from_secs(10);
/// How often a chat outside the allow-list is told so, at most.
const REFUSAL_EVERY: Duration = Duration::from_secs(600);

/// Resolves when an update has been handled (or given up on).
#[derive(Debug)]
pub struct Completion(Option<oneshot::Receiver<()>>);

impl Completion {
    /// A completion for an update that needed no handling.
    fn done() -> Completion {
        Completion(None)
    }
}

impl Future for Completion {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.0.as_mut() {
            None => Poll::Ready(()),
            // A dropped sender means the handler is gone: finished as far as anyone can tell.
            Some(rx) => Pin::new(rx).poll(cx).map(|_| ()),
        }
    }
}

/// What a message asks for.
#[derive(Debug)]
enum Input {
    Command(Command),
    Unknown(String),
    NotText,
    /// A file to add as a text (sent privately, captioned `/add`, or replied to with `/add`).
    Add(super::upload::FileRef),
}

/// An update that passed the guard, ready for handling.
#[derive(Debug)]
enum Work {
    Message {
        chat: i64,
        group: bool,
        message: MessageId,
        caller: Caller,
        input: Input,
    },
    Callback {
        id: CallbackQueryId,
        chat: i64,
        group: bool,
        message: MessageId,
        caller: Caller,
        action: Action,
        tag: String,
        question: Option<String>,
    },
    Inline {
        id: InlineQueryId,
        user: i64,
        query: String,
        /// When it reached the bot: Telegram gives up on a query after about 10 s.
        arrived: Instant,
    },
    PollAnswer(PollAnswer),
    Migrate {
        old: i64,
        new: i64,
    },
}

/// An inline query older than this is not searched: Telegram stops waiting for its answer
/// after about 10 s, and a backlog of them would only keep the inline permit busy.
const INLINE_STALE: Duration = Duration::from_secs(8);

/// Why an update went no further than the guard: its verdict, for the update's log line.
#[derive(Debug, Clone, Copy)]
struct Stopped {
    chat: Option<i64>,
    verdict: &'static str,
}

impl Stopped {
    fn new(chat: impl Into<Option<i64>>, verdict: &'static str) -> Stopped {
        Stopped {
            chat: chat.into(),
            verdict,
        }
    }
}

/// What the guard lets through: the chat whose order it keeps (if any), the work, and whom
/// to apologise to should handling panic.
type Passed = (Option<i64>, Work, Apology);

/// The name of an update's kind, for its log line.
fn kind_name(kind: &UpdateKind) -> &'static str {
    match kind {
        UpdateKind::Message(_) => "message",
        UpdateKind::CallbackQuery(_) => "button",
        UpdateKind::InlineQuery(_) => "inline",
        UpdateKind::PollAnswer(_) => "poll_answer",
        _ => "other",
    }
}

/// What to do if handling an update panics.
#[derive(Debug, Clone)]
enum Apology {
    /// Say sorry in the chat, replying to the message.
    Chat(i64, MessageId),
    /// Say sorry on the button (its query is then answered).
    Callback(CallbackQueryId),
    /// Nobody to tell.
    Nobody,
}

/// The pipeline of one running bot.
pub struct Pipeline {
    app: Arc<App>,
    bot: Bot,
    me: Me,
    outbox: Outbox,
    order: Arc<ChatOrder>,
    drivers: Mutex<HashSet<i64>>,
    /// The flood guard's clock for input that carries no timestamp (seconds from here).
    epoch: Instant,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("me", &self.me.username())
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// A pipeline for the bot `me`, reached through `bot`, with the services of `app`.
    pub fn new(bot: Bot, me: Me, app: Arc<App>) -> Arc<Pipeline> {
        let on_migrate = {
            let app = app.clone();
            Box::new(move |old: i64, new: i64| {
                let app = app.clone();
                tokio::spawn(async move { app.migrate_chat(old, new).await });
            })
        };
        app.handler.set_username(me.username());
        let outbox = Outbox::new(
            bot.clone(),
            app.max_sends_per_sec(),
            {
                let tag = app.handler.tag().to_string();
                Box::new(move |n| html(&Reply::notice(busy(n)), &tag))
            },
            on_migrate,
            app.metrics.clone(),
        );
        Arc::new(Pipeline {
            app,
            bot,
            me,
            outbox,
            order: Arc::new(ChatOrder::default()),
            drivers: Mutex::new(HashSet::new()),
            epoch: Instant::now(),
        })
    }

    /// The services.
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// The bot, for what the outbox does not send (a text's progress message).
    pub(super) fn bot(&self) -> &Bot {
        &self.bot
    }

    /// The outbox.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Takes one update in; the completion resolves once it has been handled.
    pub fn submit(self: &Arc<Self>, update: Update) -> Completion {
        let arrived = Instant::now();
        let id = update.id.0;
        let kind = kind_name(&update.kind);
        let (chat, work, apology) = match self.guard(update, arrived) {
            Ok(passed) => passed,
            Err(stopped) => {
                tracing::debug!(
                    update = id,
                    chat = stopped.chat,
                    kind,
                    verdict = stopped.verdict,
                    latency_ms = arrived.elapsed().as_millis(),
                    "update"
                );
                return Completion::done();
            }
        };
        let question = matches!(
            &work,
            Work::Message {
                input: Input::Command(Command::Ask(_)),
                ..
            }
        );
        let this = self.clone();
        let job = async move {
            this.clone().handle(work).await;
            this.app.metrics.update_handled();
            tracing::debug!(
                update = id,
                chat,
                kind,
                verdict = "handled",
                latency_ms = arrived.elapsed().as_millis(),
                "update"
            );
            if question {
                this.app
                    .metrics
                    .answer_latency(arrived.elapsed().as_secs_f64());
            }
        };
        let this = self.clone();
        let on_panic = move || this.apologise(apology);
        match chat {
            Some(chat) => ChatOrder::run(&self.order, chat, Box::pin(job), Box::new(on_panic)),
            None => ChatOrder::run_alone(Box::pin(job), Box::new(on_panic)),
        }
    }

    fn apologise(&self, apology: Apology) {
        self.app.metrics.panicked();
        let sorry = Reply::apology();
        match apology {
            Apology::Chat(chat, message) => self.outbox.push(
                chat,
                Outgoing::notice(html(&sorry, self.app.handler.tag()), Some(message)),
            ),
            Apology::Callback(id) => {
                let Content::Notice(text) = sorry.content else {
                    return;
                };
                self.outbox.answer_callback(id, Some(text));
            }
            Apology::Nobody => {}
        }
    }

    // ----------------------------------------------------------------------------------------
    // 2. Guard: on arrival.

    /// Counts and logs an update the guard drops.
    fn drop_update(&self, why: Dropped, chat: Option<i64>, member: Option<i64>) -> Stopped {
        self.app.metrics.dropped(why);
        let reason = why.reason();
        if why != Dropped::NotForMe && why != Dropped::Unsupported {
            tracing::info!(chat, member, stage = "guard", reason, "dropped an update");
        }
        Stopped::new(chat, reason)
    }

    /// Seconds on the flood guard's clock for input judged by its arrival.
    fn arrival_secs(&self, now: Instant) -> f64 {
        now.duration_since(self.epoch).as_secs_f64()
    }

    /// Decides on arrival what an update is and whether it goes on.
    fn guard(self: &Arc<Self>, update: Update, now: Instant) -> Result<Passed, Stopped> {
        match update.kind {
            UpdateKind::Message(msg) => self.guard_message(msg, now),
            UpdateKind::CallbackQuery(q) => self.guard_callback(q, now),
            UpdateKind::InlineQuery(q) => {
                let user = i64::try_from(q.from.id.0).unwrap_or(i64::MAX);
                let at = self.arrival_secs(now);
                if self.app.flood.check(Kind::Inline, user, at) != Verdict::Allow {
                    // An inline query needs no answer; a flood of them gets none.
                    return Err(self.drop_update(Dropped::FloodInline, None, Some(user)));
                }
                let work = Work::Inline {
                    id: q.id,
                    user,
                    query: q.query,
                    arrived: now,
                };
                Ok((None, work, Apology::Nobody))
            }
            UpdateKind::PollAnswer(answer) => {
                // One voter's answers in arrival order (a changed vote after the first must
                // not overtake it): keyed by the voter, whose id is also their private chat's.
                let voter = match &answer.voter {
                    teloxide::types::MaybeAnonymousUser::User(user) => {
                        i64::try_from(user.id.0).ok()
                    }
                    teloxide::types::MaybeAnonymousUser::Chat(chat) => Some(chat.id.0),
                };
                Ok((voter, Work::PollAnswer(answer), Apology::Nobody))
            }
            UpdateKind::Error(value) => {
                tracing::debug!(%value, "an update of a kind this bot does not read");
                Err(self.drop_update(Dropped::Unsupported, None, None))
            }
            _ => Err(self.drop_update(Dropped::Unsupported, None, None)),
        }
    }

    fn guard_message(&self, msg: Message, now: Instant) -> Result<Passed, Stopped> {
        let chat = msg.chat.id.0;
        if let Some(new) = msg.migrate_to_chat_id() {
            // The allow-list follows at once: the new supergroup's first messages may come in
            // this very batch, before the move's handler has run.
            self.app.allowed.moved(chat, new.0);
            let work = Work::Migrate {
                old: chat,
                new: new.0,
            };
            return Ok((Some(chat), work, Apology::Nobody));
        }
        if let Some(old) = msg.migrate_from_chat_id() {
            // The same move, told in the new supergroup (it may arrive first).
            self.app.allowed.moved(old.0, chat);
            return Err(Stopped::new(chat, "moved"));
        }
        let private = msg.chat.is_private();
        let not_for_me = || self.drop_update(Dropped::NotForMe, Some(chat), None);
        let username = self.me.username();
        let is_add = |text: Option<&str>| {
            text.is_some_and(|t| {
                matches!(
                    commands::parse(t, Some(username)),
                    Parsed::Command(Command::Add)
                )
            })
        };
        // A file to add: any document sent privately; in a group, one captioned /add or
        // replied to with /add (both reach a bot in privacy mode). Other files in a group are
        // chatter.
        let replied_file = msg
            .reply_to_message()
            .and_then(super::upload::FileRef::of)
            .filter(|_| is_add(msg.text()));
        let own_file = super::upload::FileRef::of(&msg).filter(|_| {
            private && msg.caption().is_none_or(|c| !c.starts_with('/')) || is_add(msg.caption())
        });
        let input = match (own_file.or(replied_file), msg.text()) {
            (Some(file), _) => Input::Add(file),
            (None, None) if msg.document().is_some() => return Err(not_for_me()),
            (None, None) if private && msg.from.is_some() => Input::NotText,
            (None, None) => return Err(not_for_me()),
            (None, Some(text)) => match commands::parse(text, Some(username)) {
                Parsed::OtherBot => return Err(not_for_me()),
                Parsed::Command(c) => Input::Command(c),
                Parsed::Unknown(name) if private => Input::Unknown(name),
                Parsed::Unknown(_) => return Err(not_for_me()),
                Parsed::Text(text) if private => Input::Command(Command::Ask(text)),
                Parsed::Text(text) => match addressed_question(&msg, &self.me, &text) {
                    Some(question) => Input::Command(Command::Ask(question)),
                    None => return Err(not_for_me()),
                },
            },
        };
        if !self.app.allowed.chat(chat) {
            self.refuse(chat, now);
            return Err(Stopped::new(chat, "refused:not_allowed"));
        }
        // Someone posting as a chat (an anonymous admin as the group itself, a channel) is
        // judged as that chat; everyone else as themselves.
        let (sender, name) = match (&msg.sender_chat, &msg.from) {
            (Some(as_chat), _) => (as_chat.id.0, as_chat.title().unwrap_or("Admin").to_string()),
            (None, Some(user)) => (
                i64::try_from(user.id.0).unwrap_or(i64::MAX),
                display_name(user),
            ),
            (None, None) => (chat, "You".to_string()),
        };
        // Judged by when Telegram says it was sent: a backlog written at a reading pace is no
        // flood, however it arrives.
        let written = msg.date.timestamp() as f64;
        self.flood_check(sender, chat, msg.id, written)?;
        let anonymous_admin = msg
            .sender_chat
            .as_ref()
            .is_some_and(|c| c.id == msg.chat.id);
        let work = Work::Message {
            chat,
            group: !private,
            message: msg.id,
            caller: Caller {
                user: sender,
                name,
                admin: private || anonymous_admin,
            },
            input,
        };
        Ok((Some(chat), work, Apology::Chat(chat, msg.id)))
    }

    fn guard_callback(&self, q: CallbackQuery, now: Instant) -> Result<Passed, Stopped> {
        let (chat, message, question, private) = match &q.message {
            Some(MaybeInaccessibleMessage::Regular(m)) => {
                (m.chat.id.0, m.id, answered_question(m), m.chat.is_private())
            }
            Some(MaybeInaccessibleMessage::Inaccessible(m)) => {
                (m.chat.id.0, m.message_id, None, m.chat.is_private())
            }
            None => {
                // A button on an inline message: ours have none.
                self.outbox.answer_callback(q.id, None);
                return Err(self.drop_update(Dropped::Unsupported, None, None));
            }
        };
        if !self.app.allowed.chat(chat) {
            self.app.metrics.refused(Refusal::NotAllowed);
            self.outbox.answer_callback(q.id, None);
            return Err(Stopped::new(chat, "refused:not_allowed"));
        }
        let user = i64::try_from(q.from.id.0).unwrap_or(i64::MAX);
        match self
            .app
            .flood
            .check(Kind::Button, user, self.arrival_secs(now))
        {
            Verdict::Allow => {}
            verdict => {
                // A button press is always answered, even when ignored.
                let toast = (verdict == Verdict::Warn).then(|| SLOW_DOWN.to_string());
                self.outbox.answer_callback(q.id, toast);
                return Err(self.drop_update(Dropped::FloodButton, Some(chat), Some(user)));
            }
        }
        let data = q.data.as_deref().unwrap_or_default();
        let (action, tag) = match callback::decode_any(data) {
            Ok((action, tag)) => (action, tag.to_string()),
            Err(why) => {
                self.outbox
                    .answer_callback(q.id, Some(why.message().to_string()));
                return Err(Stopped::new(chat, "told:bad_button"));
            }
        };
        let work = Work::Callback {
            id: q.id.clone(),
            chat,
            group: !private,
            message,
            caller: Caller {
                user,
                name: display_name(&q.from),
                admin: private,
            },
            action,
            tag,
            question,
        };
        Ok((Some(chat), work, Apology::Callback(q.id)))
    }

    /// The flood guard's verdict on a message from `sender` in `chat`, written at `written`
    /// (Telegram's timestamp): whether it goes on. The first message dropped in a flood gets
    /// a notice in the chat, replying to it (droppable itself, like any answer to a member).
    fn flood_check(
        &self,
        sender: i64,
        chat: i64,
        message: MessageId,
        written: f64,
    ) -> Result<(), Stopped> {
        match self.app.flood.check(Kind::Message, sender, written) {
            Verdict::Allow => Ok(()),
            Verdict::Warn => {
                let notice = html(&Reply::notice(SLOW_DOWN), self.app.handler.tag());
                self.outbox
                    .push(chat, Outgoing::answer(sender, notice, None, Some(message)));
                Err(self.drop_update(Dropped::FloodMessage, Some(chat), Some(sender)))
            }
            Verdict::Drop => Err(self.drop_update(Dropped::FloodMessage, Some(chat), Some(sender))),
        }
    }

    /// Tells a chat outside the allow-list, at most every [`REFUSAL_EVERY`], that the bot
    /// does not serve it, with its id (which is what its host needs to allow it).
    fn refuse(&self, chat: i64, now: Instant) {
        self.app.metrics.refused(Refusal::NotAllowed);
        if !self.app.first_refusal(chat, now, REFUSAL_EVERY) {
            return;
        }
        tracing::info!(
            chat,
            "a chat outside telegram.allowed_chats wrote to the bot"
        );
        let line = format!(
            "Sorry, this bot only serves the study groups its host has chosen. (This chat's id is {chat}.)"
        );
        self.outbox.push(
            chat,
            Outgoing::notice(html(&Reply::notice(line), self.app.handler.tag()), None),
        );
    }

    // ----------------------------------------------------------------------------------------
    // 3. Command, 4. reply values, 5. into the outbox.

    async fn handle(self: Arc<Self>, work: Work) {
        match work {
            Work::Message {
                chat,
                group,
                message,
                mut caller,
                input,
            } => {
                if let Input::Add(file) = input {
                    // Its own task: reading a book takes a while, and neither this chat's
                    // next messages nor the next batch of updates wait for it. (Telegram is
                    // told the update is done; a restart meanwhile discards the job and tells
                    // the chat.)
                    tokio::spawn(super::upload::add_text(
                        self.clone(),
                        chat,
                        group,
                        message,
                        caller,
                        file,
                    ));
                    return;
                }
                if group && !caller.admin && matches!(&input, Input::Command(c) if c.needs_role()) {
                    caller.admin = self.app.roles.is_admin(&self.bot, chat, caller.user).await;
                }
                let user = caller.user;
                let Some((outgoing, started, review)) = self
                    .app
                    .blocking(move |app| command(app, chat, group, &caller, message, input))
                    .await
                else {
                    return;
                };
                for item in outgoing {
                    self.outbox.push(chat, item);
                }
                if let Some(quiz) = started {
                    self.app.metrics.quiz_run();
                    self.start_driver(quiz);
                }
                if review {
                    tokio::spawn(super::quiz::review_next(self.clone(), chat, user, None));
                }
            }
            Work::Callback {
                id,
                chat,
                group,
                message,
                mut caller,
                action,
                tag,
                question,
            } => {
                if group && matches!(action, Action::Reset(_) | Action::Remove { .. }) {
                    caller.admin = self.app.roles.is_admin(&self.bot, chat, caller.user).await;
                }
                let outcome = self
                    .app
                    .blocking(move |app| {
                        let reply =
                            app.library
                                .action(&action, &tag, chat, &caller, question.as_deref());
                        reply.map(|(reply, tag)| rendered(&reply, &tag, caller.user, message))
                    })
                    .await;
                match outcome {
                    None => self.outbox.answer_callback(id, None),
                    Some(Err(toast)) => self.outbox.answer_callback(id, Some(toast)),
                    Some(Ok(item)) => {
                        self.outbox.answer_callback(id, None);
                        self.outbox.push(chat, item);
                    }
                }
            }
            Work::Inline {
                id,
                user,
                query,
                arrived,
            } => {
                if !self.app.allowed.everyone()
                    && !self
                        .app
                        .allowed
                        .user(&self.app.roles, &self.bot, user)
                        .await
                {
                    // Someone outside the allowed chats: no answer at all.
                    self.app.metrics.refused(Refusal::NotAllowed);
                    return;
                }
                // A query Telegram has given up on is not worth a search.
                if arrived.elapsed() > INLINE_STALE {
                    return self.drop_inline(Dropped::StaleInline, user);
                }
                let results = self
                    .app
                    .inline_blocking(move |app| {
                        let query = query.trim();
                        if query.is_empty() || query.chars().count() > MAX_MESSAGE_CHARS {
                            return Vec::new();
                        }
                        // Inline queries carry no chat: the member's private chat's text rules,
                        // a text they added there included (a group's texts stay in the group).
                        let handler = app.library.handler_for(user);
                        let doc = handler.chat_doc(user);
                        match handler.engine().ask_in(query, 10, doc) {
                            Ok(answer) => render::inline_results(&answer, handler.tag()),
                            Err(_) => Vec::new(),
                        }
                    })
                    .await;
                let results = match results {
                    Ok(results) => results.unwrap_or_default(),
                    // Another inline query is being searched: the client asks again as the
                    // member types on, so this one is answered with nothing at once.
                    Err(super::Busy) => {
                        self.drop_inline(Dropped::InlineBusy, user);
                        Vec::new()
                    }
                };
                self.outbox.answer_inline(id, results);
            }
            Work::PollAnswer(answer) => {
                if !self.voter_belongs(&answer).await {
                    return;
                }
                let again = answer.clone();
                let voter = match &answer.voter {
                    teloxide::types::MaybeAnonymousUser::User(u) => u.id.0,
                    _ => 0,
                };
                let outcome = self
                    .app
                    .store_blocking(move |app| poll_answer(app, &answer))
                    .await;
                // Telegram can deliver an answer before the bot has recorded the poll it
                // answers (its send is still on its way back): wait for the polls in flight,
                // then try once more.
                let outcome = if outcome == Some(Some(AnswerOutcome::UnknownPoll)) {
                    let deadline = Instant::now() + POLL_WAIT;
                    while self.app.polls_in_flight.load(Ordering::SeqCst) > 0
                        && Instant::now() < deadline
                    {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    self.app
                        .store_blocking(move |app| poll_answer(app, &again))
                        .await
                } else {
                    outcome
                };
                if outcome == Some(Some(AnswerOutcome::UnknownPoll)) {
                    self.app.metrics.dropped(Dropped::StalePoll);
                    tracing::info!(
                        member = voter,
                        stage = "handle",
                        reason = "stale_poll",
                        "dropped an update"
                    );
                }
                // A review goes on when its poll is answered.
                if let Some(Some(AnswerOutcome::Reviewed {
                    chat, user, key, ..
                })) = outcome
                {
                    tokio::spawn(super::quiz::review_next(
                        self.clone(),
                        chat,
                        user,
                        Some(key),
                    ));
                }
            }
            Work::Migrate { old, new } => {
                tracing::info!(old, new, "the group became a supergroup; moving its state");
                self.app.migrate_chat(old, new).await;
                self.outbox.migrate(old, new, None);
            }
        }
    }

    /// Counts and logs an inline query given up (`why`).
    fn drop_inline(&self, why: Dropped, user: i64) {
        self.app.metrics.dropped(why);
        tracing::info!(
            member = user,
            stage = "handle",
            reason = why.reason(),
            "dropped an update"
        );
    }

    /// Whether the voter on a quiz poll belongs to the poll's chat. A poll forwarded out of its
    /// group can be voted on by anyone; such votes must not reach that group's leaderboard
    /// or the voter's review deck. Votes on unknown polls (review polls, polls still being
    /// recorded) pass: those checks are the store's. A lookup Telegram cannot answer counts
    /// the vote, so that a member's vote is never lost to a network blip.
    async fn voter_belongs(&self, answer: &PollAnswer) -> bool {
        let teloxide::types::MaybeAnonymousUser::User(user) = &answer.voter else {
            return true;
        };
        let voter = i64::try_from(user.id.0).unwrap_or(i64::MAX);
        let poll = answer.poll_id.0.clone();
        let chat = self
            .app
            .store_blocking(move |app| {
                app.handler
                    .quiz()
                    .and_then(|q| q.store().poll_chat(&poll).ok().flatten())
            })
            .await
            .flatten();
        let Some(chat) = chat else {
            return true;
        };
        let belongs = if chat > 0 {
            chat == voter
        } else {
            self.app.roles.membership(&self.bot, chat, voter).await
                != super::roles::Membership::Outside
        };
        if !belongs {
            self.app.metrics.dropped(Dropped::Outsider);
            tracing::info!(
                chat,
                member = voter,
                stage = "guard",
                reason = "outsider",
                "dropped an update"
            );
        }
        belongs
    }

    /// Starts the driver of quiz `quiz`, unless one is running.
    pub fn start_driver(self: &Arc<Self>, quiz: i64) {
        let fresh = self
            .drivers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(quiz);
        if !fresh {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let driven = tokio::spawn(super::quiz::drive(this.clone(), quiz)).await;
            if let Err(err) = driven {
                tracing::error!(quiz, error = %err, "a quiz driver failed; the quiz resumes at the next start");
            }
            this.drivers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&quiz);
        });
    }

    /// Restarts the drivers of quizzes that were running when the bot stopped.
    pub async fn resume_quizzes(self: &Arc<Self>) {
        let running = self
            .app
            .store_blocking(|app| app.handler.quiz().map(|q| q.running()))
            .await
            .flatten();
        match running {
            Some(Ok(running)) => {
                for (chat, quiz) in running {
                    tracing::info!(chat, quiz, "resuming a quiz");
                    self.start_driver(quiz);
                }
            }
            Some(Err(err)) => tracing::error!(error = %err, "could not list running quizzes"),
            None => {}
        }
    }
}

/// The display name of a user.
fn display_name(user: &teloxide::types::User) -> String {
    match &user.last_name {
        Some(last) => format!("{} {last}", user.first_name),
        None => user.first_name.clone(),
    }
}

/// Whether a group message is addressed to the bot, and the question it carries: a mention of
/// the bot's exact username, or a reply to one of the bot's answers (not to its polls,
/// scoreboards or notices).
fn addressed_question(msg: &Message, me: &Me, text: &str) -> Option<String> {
    if let Some(question) = strip_mention(text, me.username()) {
        return Some(question);
    }
    let replied_to_answer = msg
        .reply_to_message()
        .is_some_and(|replied| is_our_answer(replied, me));
    replied_to_answer.then(|| text.to_string())
}

/// Whether a message is one of the bot's answers: its buttons are an answer's.
fn is_our_answer(message: &Message, me: &Me) -> bool {
    message.from.as_ref().is_some_and(|u| u.id == me.id)
        && message.poll().is_none()
        && message.reply_markup().is_some_and(|markup| {
            markup.inline_keyboard.iter().flatten().any(|button| {
                matches!(&button.kind, InlineKeyboardButtonKind::CallbackData(data) if callback::is_answer_button(data))
            })
        })
}

/// The question a message of ours answered: the text of the message it replies to (answers
/// are sent as replies), without a command or a mention of the bot.
fn answered_question(message: &Message) -> Option<String> {
    let text = message.reply_to_message()?.text()?;
    // A question edited past what the bot reads is not read again by "More".
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return None;
    }
    let text = match commands::parse(text, None) {
        Parsed::Command(Command::Ask(q)) => q,
        Parsed::Text(t) => t,
        _ => return None,
    };
    let words: Vec<&str> = text
        .split_whitespace()
        .filter(|w| !w.starts_with('@'))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// A reply rendered as Telegram HTML.
fn html(reply: &Reply, tag: &str) -> String {
    render::reply(reply, tag).html
}

/// A reply to a button press on `message`, from `user`: an edit of the message (page turning)
/// or a new message replying to it.
fn rendered(reply: &Reply, tag: &str, user: i64, message: MessageId) -> Outgoing {
    let rendered = render::reply(reply, tag);
    let keyboard = limits::keyboard(&rendered.buttons);
    if reply.replace {
        Outgoing::edit(user, message, rendered.html, keyboard)
    } else {
        Outgoing::answer(user, rendered.html, keyboard, Some(message))
    }
}

/// The command stage of a message, on the blocking pool: the core's reply, rendered, and the
/// quiz it started.
fn command(
    app: &App,
    chat: i64,
    group: bool,
    caller: &Caller,
    message: MessageId,
    input: Input,
) -> (Vec<Outgoing>, Option<i64>, bool) {
    let answer = |reply: &Reply, tag: &str| {
        let rendered = render::reply(reply, tag);
        let keyboard = limits::keyboard(&rendered.buttons);
        Outgoing::answer(caller.user, rendered.html, keyboard, Some(message))
    };
    let command = match input {
        Input::NotText => {
            let reply = Reply::notice("I can only read text. Send me a question about the text.");
            return (vec![answer(&reply, app.handler.tag())], None, false);
        }
        Input::Unknown(name) => {
            let reply = Reply::notice(format!(
                "I don't know /{name}. Send /help for the commands."
            ));
            return (vec![answer(&reply, app.handler.tag())], None, false);
        }
        Input::Command(Command::Ask(q)) if q.chars().count() > MAX_MESSAGE_CHARS => {
            app.metrics.refused(Refusal::TooLong);
            let reply = Reply::notice(format!(
                "That's a long message. Please ask a shorter question (under {MAX_MESSAGE_CHARS} characters)."
            ));
            return (vec![answer(&reply, app.handler.tag())], None, false);
        }
        Input::Command(command) => command,
        // Handled before the command stage.
        Input::Add(_) => return (Vec::new(), None, false),
    };
    debug_panic(&command);
    let (reply, started, open_poll, tag) =
        app.library
            .command_in_chat(chat, caller, group, &command, unix_now());
    if let Content::Answer(answer) = &reply.content {
        if answer.answered {
            app.metrics.answered();
        } else {
            app.metrics.refused(Refusal::NotInText);
        }
    }
    let mut out = Vec::new();
    if let Some(poll) = open_poll.and_then(|m| i32::try_from(m).ok()) {
        out.push(Outgoing::op(Op::StopPoll {
            message: MessageId(poll),
        }));
    }
    let mut item = answer(&reply, &tag);
    // What the whole chat needs is never dropped under a flood: a quiz starting or stopping.
    if started.is_some()
        || matches!(reply.content, Content::Scoreboard { .. }) && command == Command::Stop
    {
        item.droppable = None;
    }
    out.push(item);
    let review = matches!(reply.content, Content::ReviewStarted { .. });
    (out, started.map(|s| s.quiz), review)
}

/// Counts a poll answer, on the blocking pool. Unknown polls, retracted votes and duplicates
/// change nothing.
fn poll_answer(app: &App, answer: &PollAnswer) -> Option<AnswerOutcome> {
    let service = app.handler.quiz()?;
    let teloxide::types::MaybeAnonymousUser::User(user) = &answer.voter else {
        return None;
    };
    let user_id = i64::try_from(user.id.0).unwrap_or(i64::MAX);
    match service.answer_poll(
        &answer.poll_id.0,
        user_id,
        &display_name(user),
        &answer.option_ids,
        unix_now(),
    ) {
        Ok(outcome) => {
            if let Some(AnswerOutcome::Recorded { chat, correct, .. }) = &outcome {
                tracing::debug!(chat, correct, "quiz answer recorded");
            }
            outcome
        }
        Err(err) => {
            tracing::error!(error = %err, "could not record a quiz answer");
            None
        }
    }
}

/// In debug builds (the tests' binary), a question containing the text of the environment
/// variable `STUDYBOT_DEBUG_PANIC` panics, so that tests can prove a panic stays in its
/// update. Release builds have no such hook.
fn debug_panic(command: &Command) {
    #[cfg(debug_assertions)]
    if let (Command::Ask(question), Ok(trigger)) = (command, std::env::var("STUDYBOT_DEBUG_PANIC"))
    {
        if !trigger.is_empty() && question.contains(&trigger) {
            panic!("a deliberate panic (STUDYBOT_DEBUG_PANIC)");
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = command;
}

// --------------------------------------------------------------------------------------------
// Per-chat order.

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;
type OnPanic = Box<dyn FnOnce() + Send>;

struct Queued {
    job: Job,
    on_panic: OnPanic,
    done: oneshot::Sender<()>,
}

/// Runs each chat's jobs one at a time in the order they came, and different chats' at once.
/// Each job is a task of its own, so a panic ends only that job.
#[derive(Default)]
struct ChatOrder {
    queues: Mutex<HashMap<i64, VecDeque<Queued>>>,
}

impl ChatOrder {
    fn run(order: &Arc<ChatOrder>, chat: i64, job: Job, on_panic: OnPanic) -> Completion {
        let (done, rx) = oneshot::channel();
        let item = Queued {
            job,
            on_panic,
            done,
        };
        let mut queues = order
            .queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match queues.get_mut(&chat) {
            // The chat's worker is running: it takes this job in turn.
            Some(queue) => queue.push_back(item),
            None => {
                queues.insert(chat, VecDeque::new());
                tokio::spawn(Self::work(order.clone(), chat, item));
            }
        }
        Completion(Some(rx))
    }

    fn run_alone(job: Job, on_panic: OnPanic) -> Completion {
        let (done, rx) = oneshot::channel();
        tokio::spawn(Self::one(Queued {
            job,
            on_panic,
            done,
        }));
        Completion(Some(rx))
    }

    async fn one(item: Queued) {
        let Queued {
            job,
            on_panic,
            done,
        } = item;
        if let Err(err) = tokio::spawn(job).await {
            if err.is_panic() {
                let panic = err.into_panic();
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(panic = %why, "handling an update panicked; the bot goes on");
                on_panic();
            }
        }
        let _ = done.send(());
    }

    async fn work(order: Arc<ChatOrder>, chat: i64, first: Queued) {
        let mut item = first;
        loop {
            Self::one(item).await;
            let next = {
                let mut queues = order
                    .queues
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match queues.get_mut(&chat).and_then(VecDeque::pop_front) {
                    Some(next) => next,
                    None => {
                        queues.remove(&chat);
                        return;
                    }
                }
            };
            item = next;
        }
    }
}
