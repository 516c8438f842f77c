//! The per-chat outbox and its sender: the last two stages of the
//! [pipeline](super::pipeline).
//!
//! Handlers only put messages here and return; they never wait for a chat's send budget. Each
//! chat has its own queue and, while the queue holds something, its own sender task, which
//! waits for the chat's turn under Telegram's limits ([`Pacer`]), sends with retries, and
//! moves on. A chat that is held back (20 messages a minute into a group, a 429 wait) holds up
//! no other chat.
//!
//! A queue is bounded by what Telegram would take from the chat in a minute. Past that, the
//! outbox drops what users no longer need (the oldest queued answer to the member with the
//! most answers waiting, who is flooding) and tells the chat which: one notice, replying to
//! the first message whose answer was skipped and counting the others, at most once a
//! minute. Everything that answers one member may be dropped this way: answers, page-turn
//! edits, "slow down" notices. A queued edit of a message is replaced by a newer edit of the
//! same message, since only the page last asked for matters. Messages the whole chat needs
//! (quiz polls, scoreboards) are never dropped for a backlog; they are few by nature, and a
//! hard bound of twice the backlog still holds them. Every drop is counted in [`Metrics`]
//! with its reason, and logged. Answers to callback and inline queries skip the queues: they
//! are not chat messages and must come within seconds.

use std::collections::{HashMap, VecDeque};
use std::future::IntoFuture as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use teloxide::prelude::*;
use teloxide::types::{
    CallbackQueryId, ChatId, InlineKeyboardMarkup, InlineQueryId, InlineQueryResult,
    InputPollOption, LinkPreviewOptions, MessageId, ParseMode, PollType, ReplyParameters,
};
use teloxide::{ApiError, RequestError};
use tokio::sync::oneshot;

use super::limits;
use super::metrics::{Dropped, Metrics};
use super::send::{describe, with_retry, Pacer};

/// Messages queued for one group before older answers are dropped: what Telegram takes from
/// a group in a minute.
const GROUP_BACKLOG: usize = 20;
/// The same for a private chat (Telegram takes about one message a second there).
const PRIVATE_BACKLOG: usize = 60;
/// How often a chat is told, at most, that answers were skipped.
const BUSY_NOTICE_EVERY: Duration = Duration::from_secs(60);

/// What to do in a chat.
#[derive(Debug, Clone)]
pub enum Op {
    /// Send an HTML message, as a reply to `reply_to` when given.
    Send {
        /// Telegram HTML.
        html: String,
        /// Buttons.
        keyboard: Option<InlineKeyboardMarkup>,
        /// The message it answers.
        reply_to: Option<MessageId>,
    },
    /// Replace the text and buttons of one of the bot's messages (page turning); if that
    /// fails, send the text anew as a reply to it.
    Edit {
        /// The message to edit.
        message: MessageId,
        /// Telegram HTML.
        html: String,
        /// Buttons.
        keyboard: Option<InlineKeyboardMarkup>,
    },
    /// Send a quiz poll.
    Poll {
        /// The question (at most 300 characters).
        question: String,
        /// The options.
        options: Vec<String>,
        /// Index of the correct option.
        correct: u8,
        /// The explanation shown after answering.
        explanation: String,
        /// Seconds the poll stays open (5 to 600); `None` keeps it open (a review's poll,
        /// answered at the member's pace).
        open_period: Option<u16>,
    },
    /// Close a poll early.
    StopPoll {
        /// The poll's message.
        message: MessageId,
    },
    /// The notice telling the chat which answers were skipped, written when its turn comes
    /// (so that it counts every answer skipped until then).
    BusyNotice,
}

/// A message for a chat.
#[derive(Debug)]
pub struct Outgoing {
    /// What to do.
    pub op: Op,
    /// The member whose request this answers, which makes it droppable when the chat's
    /// backlog is full. `None` for messages the chat needs whatever happens.
    pub droppable: Option<i64>,
    /// Told the sent message (`None` for an operation that yields none), or why it was not
    /// sent.
    pub done: Option<oneshot::Sender<Result<Option<Message>, Failure>>>,
}

/// Why a message someone waits for was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The chat is gone, or the bot may not post there: trying again will not help.
    Gone,
    /// Anything else (a timeout, a server error, a long flood wait, a full queue): worth
    /// another try later.
    Transient,
}

impl Failure {
    /// What a failed request means for sending there again.
    pub fn of(err: &RequestError) -> Failure {
        match err {
            RequestError::Api(
                ApiError::BotBlocked
                | ApiError::BotKicked
                | ApiError::BotKickedFromSupergroup
                | ApiError::BotKickedFromChannel
                | ApiError::ChatNotFound
                | ApiError::UserDeactivated
                | ApiError::GroupDeactivated
                | ApiError::CantInitiateConversation
                | ApiError::CantTalkWithBots
                | ApiError::NotEnoughRightsToPostMessages
                | ApiError::InvalidToken,
            ) => Failure::Gone,
            _ => Failure::Transient,
        }
    }
}

impl Outgoing {
    /// An HTML message answering member `user` (droppable under a flood).
    pub fn answer(
        user: i64,
        html: String,
        keyboard: Option<InlineKeyboardMarkup>,
        reply_to: Option<MessageId>,
    ) -> Outgoing {
        Outgoing {
            op: Op::Send {
                html,
                keyboard,
                reply_to,
            },
            droppable: Some(user),
            done: None,
        }
    }

    /// A page turn on `message` for member `user` (droppable, and replaced by a newer edit of
    /// the same message while it waits).
    pub fn edit(
        user: i64,
        message: MessageId,
        html: String,
        keyboard: Option<InlineKeyboardMarkup>,
    ) -> Outgoing {
        Outgoing {
            op: Op::Edit {
                message,
                html,
                keyboard,
            },
            droppable: Some(user),
            done: None,
        }
    }

    /// An HTML message the chat needs whatever happens (never dropped for a backlog).
    pub fn notice(html: String, reply_to: Option<MessageId>) -> Outgoing {
        Outgoing {
            op: Op::Send {
                html,
                keyboard: None,
                reply_to,
            },
            droppable: None,
            done: None,
        }
    }

    /// Any operation, never dropped for a backlog.
    pub fn op(op: Op) -> Outgoing {
        Outgoing {
            op,
            droppable: None,
            done: None,
        }
    }
}

/// How a full queue made room for a new message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Room {
    /// An older answer was dropped.
    Made,
    /// The new message is dropped.
    DropNew,
    /// Nothing is droppable: the new message is queued beyond the bound.
    Full,
}

#[derive(Debug, Default)]
struct ChatQueue {
    items: VecDeque<Outgoing>,
    /// Whether a sender task is draining this queue.
    sending: bool,
    /// Answers skipped that the chat has not been told of yet.
    untold: usize,
    /// The message the first of them answered.
    untold_first: Option<MessageId>,
    /// Whether a [`Op::BusyNotice`] waits in `items`.
    notice_queued: bool,
    /// When the last busy notice went out.
    last_notice: Option<Instant>,
}

impl ChatQueue {
    /// Queues `item`, making room in a full queue. Returns what was dropped, and why.
    fn enqueue(&mut self, chat: i64, item: Outgoing, now: Instant) -> Vec<(Outgoing, Dropped)> {
        // Only the newest page of a message matters: a newer edit takes the older one's place.
        if let Op::Edit { message, .. } = &item.op {
            let message = *message;
            let queued = self
                .items
                .iter_mut()
                .find(|i| matches!(&i.op, Op::Edit { message: m, .. } if *m == message));
            if let Some(queued) = queued {
                let old = std::mem::replace(queued, item);
                return vec![(old, Dropped::Superseded)];
            }
        }
        if self.items.len() < backlog(chat) {
            self.items.push_back(item);
            return Vec::new();
        }
        match make_room(&mut self.items, &item) {
            (Room::Made, Some(old)) => {
                self.skipped(&old, now);
                self.items.push_back(item);
                vec![(old, Dropped::Backlog)]
            }
            (Room::DropNew, _) | (Room::Made, None) => {
                self.skipped(&item, now);
                vec![(item, Dropped::Backlog)]
            }
            (Room::Full, _) if self.items.len() >= 2 * backlog(chat) => {
                vec![(item, Dropped::QueueFull)]
            }
            (Room::Full, _) => {
                self.items.push_back(item);
                Vec::new()
            }
        }
    }

    /// Notes an answer skipped for the backlog, and queues the notice first in line (the chat
    /// learns now, not after the backlog) unless one waits or went out within the minute.
    fn skipped(&mut self, item: &Outgoing, now: Instant) {
        self.untold += 1;
        if self.untold_first.is_none() {
            self.untold_first = match &item.op {
                Op::Send { reply_to, .. } => *reply_to,
                Op::Edit { message, .. } => Some(*message),
                _ => None,
            };
        }
        let recent = self
            .last_notice
            .is_some_and(|at| now.duration_since(at) < BUSY_NOTICE_EVERY);
        if !self.notice_queued && !recent {
            self.queue_notice();
        }
    }

    fn queue_notice(&mut self) {
        self.notice_queued = true;
        self.items.push_front(Outgoing::op(Op::BusyNotice));
    }

    /// The busy notice, once its turn has come: how many answers were skipped since the last
    /// one, and the message the first of them answered. `None` when there is nothing to tell.
    fn take_untold(&mut self, now: Instant) -> Option<(usize, Option<MessageId>)> {
        self.notice_queued = false;
        let untold = std::mem::take(&mut self.untold);
        let first = self.untold_first.take();
        (untold > 0).then(|| {
            self.last_notice = Some(now);
            (untold, first)
        })
    }
}

/// Called when a chat turns out to have moved to a new id (a group became a supergroup).
pub type OnMigrate = Box<dyn Fn(i64, i64) + Send + Sync>;

/// Writes the HTML of the notice saying that `n` answers were skipped (it replies to the
/// message the first of them answered).
pub type BusyNotice = Box<dyn Fn(usize) -> String + Send + Sync>;

struct Inner {
    bot: Bot,
    pacer: Pacer,
    chats: Mutex<HashMap<i64, ChatQueue>>,
    /// Callback and inline query answers in flight.
    direct: AtomicUsize,
    metrics: Arc<Metrics>,
    on_migrate: OnMigrate,
    busy_notice: BusyNotice,
}

/// The outbox of every chat. Cloning shares it.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").finish_non_exhaustive()
    }
}

/// Makes room in a full queue for `item` by dropping one answer: the oldest answer to the
/// member with the most answers waiting, the new one included (on a tie, the new item's
/// member, so that what was queued first goes first). Returns what it did and the message it
/// dropped from the queue.
fn make_room(items: &mut VecDeque<Outgoing>, item: &Outgoing) -> (Room, Option<Outgoing>) {
    let mut waiting: HashMap<i64, usize> = HashMap::new();
    for member in items
        .iter()
        .chain(std::iter::once(item))
        .filter_map(|i| i.droppable)
    {
        *waiting.entry(member).or_default() += 1;
    }
    let Some(flooder) = waiting
        .iter()
        .max_by_key(|(member, n)| (**n, Some(**member) == item.droppable, -**member))
        .map(|(member, _)| *member)
    else {
        return (Room::Full, None);
    };
    let Some(at) = items.iter().position(|i| i.droppable == Some(flooder)) else {
        // The new item is the flooder's only answer: it gives way to what is queued.
        return (Room::DropNew, None);
    };
    (Room::Made, items.remove(at))
}

fn backlog(chat: i64) -> usize {
    if chat < 0 {
        GROUP_BACKLOG
    } else {
        PRIVATE_BACKLOG
    }
}

impl Outbox {
    /// An outbox sending through `bot` at most `per_second` messages a second in all.
    /// `busy_notice` writes the notice a chat gets when its answers are skipped; `on_migrate`
    /// learns of chats that moved; drops, retries and failures are counted in `metrics`.
    pub fn new(
        bot: Bot,
        per_second: u32,
        busy_notice: BusyNotice,
        on_migrate: OnMigrate,
        metrics: Arc<Metrics>,
    ) -> Outbox {
        Outbox {
            inner: Arc::new(Inner {
                bot,
                pacer: Pacer::new(per_second),
                chats: Mutex::new(HashMap::new()),
                direct: AtomicUsize::new(0),
                metrics,
                on_migrate,
                busy_notice,
            }),
        }
    }

    fn chats(&self) -> MutexGuard<'_, HashMap<i64, ChatQueue>> {
        self.inner
            .chats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a message for `chat` and returns at once.
    pub fn push(&self, chat: i64, item: Outgoing) {
        let dropped = {
            let mut chats = self.chats();
            let queue = chats.entry(chat).or_default();
            let dropped = queue.enqueue(chat, item, Instant::now());
            if !queue.sending {
                queue.sending = true;
                tokio::spawn(self.clone().send_all(chat));
            }
            dropped
        };
        for (item, why) in dropped {
            self.dropped(chat, item, why);
        }
    }

    /// Counts and logs a message that will not be sent, and tells whoever waits for it.
    fn dropped(&self, chat: i64, item: Outgoing, why: Dropped) {
        self.inner.metrics.dropped(why);
        let member = item.droppable;
        let reason = why.reason();
        match why {
            Dropped::Superseded => {
                tracing::debug!(
                    chat,
                    member,
                    stage = "outbox",
                    reason,
                    "a newer edit replaced a queued one"
                );
            }
            // The sender has logged why, with the error.
            Dropped::SendFailed => {}
            Dropped::QueueFull => {
                tracing::warn!(chat, member, stage = "outbox", reason, "dropped a message");
            }
            _ => tracing::info!(chat, member, stage = "outbox", reason, "dropped a message"),
        }
        if let Some(done) = item.done {
            let _ = done.send(Err(Failure::Transient));
        }
    }

    /// Queues a message and waits until it is sent; `None` if it could not be.
    pub async fn send(&self, chat: i64, op: Op) -> Option<Message> {
        self.send_reporting(chat, op).await.ok().flatten()
    }

    /// Like [`Outbox::send`], saying why when the message was not sent.
    pub async fn send_reporting(&self, chat: i64, op: Op) -> Result<Option<Message>, Failure> {
        let (tx, rx) = oneshot::channel();
        self.push(
            chat,
            Outgoing {
                op,
                droppable: None,
                done: Some(tx),
            },
        );
        rx.await.unwrap_or(Err(Failure::Transient))
    }

    /// A chat's sender task: sends its queue in order, each at the chat's turn, until it is
    /// empty.
    async fn send_all(self, chat: i64) {
        loop {
            if self.finished(chat) {
                return;
            }
            self.inner.pacer.wait(chat).await;
            let item = {
                let mut chats = self.chats();
                let Some(queue) = chats.get_mut(&chat) else {
                    return;
                };
                match queue.items.pop_front() {
                    Some(Outgoing {
                        op: Op::BusyNotice, ..
                    }) => match queue.take_untold(Instant::now()) {
                        Some((n, first)) => Outgoing::op(Op::Send {
                            html: (self.inner.busy_notice)(n),
                            keyboard: None,
                            reply_to: first,
                        }),
                        None => continue,
                    },
                    Some(item) => item,
                    None => {
                        chats.remove(&chat);
                        return;
                    }
                }
            };
            match self.deliver(chat, &item.op).await {
                Ok(message) => {
                    if let Some(done) = item.done {
                        let _ = done.send(Ok(message));
                    }
                }
                Err(RequestError::MigrateToChatId(new)) => {
                    tracing::info!(
                        chat,
                        new = new.0,
                        "the chat moved to a new id; sending there"
                    );
                    self.migrate(chat, new.0, Some(item));
                    return;
                }
                Err(err) => {
                    self.inner.metrics.send_error();
                    tracing::warn!(chat, error = %describe(&err), "could not send a message");
                    let mut item = item;
                    if let Some(done) = item.done.take() {
                        let _ = done.send(Err(Failure::of(&err)));
                    }
                    self.dropped(chat, item, Dropped::SendFailed);
                }
            }
        }
    }

    /// Whether `chat`'s queue is empty; then it is forgotten and its sender stops. Answers
    /// skipped since the last notice get one before that.
    fn finished(&self, chat: i64) -> bool {
        let mut chats = self.chats();
        match chats.get_mut(&chat) {
            Some(queue) if !queue.items.is_empty() => false,
            Some(queue) if queue.untold > 0 => {
                queue.queue_notice();
                false
            }
            Some(_) => {
                chats.remove(&chat);
                true
            }
            None => true,
        }
    }

    /// Moves chat `old`'s queue (after `current`, the message that found out) to chat `new`
    /// and tells the rest of the bot.
    pub fn migrate(&self, old: i64, new: i64, current: Option<Outgoing>) {
        let moved: Vec<Outgoing> = {
            let mut chats = self.chats();
            let mut moved: Vec<Outgoing> = current.into_iter().collect();
            if let Some(queue) = chats.remove(&old) {
                moved.extend(queue.items);
                // The old queue's sender, if it is not the caller, finds no queue and stops.
            }
            moved
        };
        (self.inner.on_migrate)(old, new);
        for item in moved {
            self.push(new, item);
        }
    }

    /// Sends one operation, with retries.
    async fn deliver(&self, chat: i64, op: &Op) -> Result<Option<Message>, RequestError> {
        let bot = &self.inner.bot;
        let metrics = &*self.inner.metrics;
        let chat_id = ChatId(chat);
        match op {
            Op::Send {
                html,
                keyboard,
                reply_to,
            } => with_retry("sendMessage", metrics, || {
                let mut req = bot
                    .send_message(chat_id, html.clone())
                    .parse_mode(ParseMode::Html)
                    .link_preview_options(LinkPreviewOptions {
                        is_disabled: true,
                        url: None,
                        prefer_small_media: false,
                        prefer_large_media: false,
                        show_above_text: false,
                    });
                if let Some(id) = reply_to {
                    req = req
                        .reply_parameters(ReplyParameters::new(*id).allow_sending_without_reply());
                }
                if let Some(markup) = keyboard.clone() {
                    req = req.reply_markup(markup);
                }
                req.into_future()
            })
            .await
            .map(Some),
            Op::Edit {
                message,
                html,
                keyboard,
            } => {
                let edited = with_retry("editMessageText", metrics, || {
                    let mut req = bot
                        .edit_message_text(chat_id, *message, html.clone())
                        .parse_mode(ParseMode::Html);
                    if let Some(markup) = keyboard.clone() {
                        req = req.reply_markup(markup);
                    }
                    req.into_future()
                })
                .await;
                match edited {
                    Ok(m) => Ok(Some(m)),
                    // Pressing the same page twice changes nothing; Telegram says so.
                    Err(RequestError::Api(ApiError::MessageNotModified)) => Ok(None),
                    Err(err @ RequestError::MigrateToChatId(_)) => Err(err),
                    Err(err) => {
                        tracing::debug!(error = %describe(&err), "could not edit; sending anew");
                        Box::pin(self.deliver(
                            chat,
                            &Op::Send {
                                html: html.clone(),
                                keyboard: keyboard.clone(),
                                reply_to: Some(*message),
                            },
                        ))
                        .await
                    }
                }
            }
            Op::Poll {
                question,
                options,
                correct,
                explanation,
                open_period,
            } => with_retry("sendPoll", metrics, || {
                let poll = bot
                    .send_poll(
                        chat_id,
                        question.clone(),
                        options.iter().map(|o| InputPollOption::new(o.clone())),
                    )
                    .type_(PollType::Quiz)
                    .is_anonymous(false)
                    .correct_option_id(*correct)
                    .explanation(explanation.clone());
                match open_period {
                    Some(seconds) => poll.open_period(*seconds).into_future(),
                    None => poll.into_future(),
                }
            })
            .await
            .map(Some),
            Op::BusyNotice => Ok(None),
            Op::StopPoll { message } => {
                // Failing only means the poll had closed already.
                if let Err(err) = bot.stop_poll(chat_id, *message).await {
                    tracing::debug!(error = %describe(&err), "stopPoll failed (the poll was probably closed)");
                }
                Ok(None)
            }
        }
    }

    /// Answers a callback query (with a toast when `text` is given), outside the chat queues.
    pub fn answer_callback(&self, id: CallbackQueryId, text: Option<String>) {
        let bot = self.inner.bot.clone();
        let metrics = self.inner.metrics.clone();
        self.direct(async move {
            let text = text.map(|t| limits::toast(&t));
            with_retry("answerCallbackQuery", &metrics, || {
                let mut req = bot.answer_callback_query(id.clone());
                if let Some(text) = &text {
                    req = req.text(text.clone());
                }
                req.into_future()
            })
            .await
            .map(|_| ())
        });
    }

    /// Answers an inline query, outside the chat queues.
    pub fn answer_inline(&self, id: InlineQueryId, results: Vec<InlineQueryResult>) {
        let bot = self.inner.bot.clone();
        let metrics = self.inner.metrics.clone();
        self.direct(async move {
            with_retry("answerInlineQuery", &metrics, || {
                bot.answer_inline_query(id.clone(), results.clone())
                    .cache_time(60)
                    // Results depend on the asker (the allow-list, the text chosen in their
                    // private chat): Telegram must not serve them to anyone else.
                    .is_personal(true)
                    .into_future()
            })
            .await
            .map(|_| ())
        });
    }

    fn direct(
        &self,
        request: impl std::future::Future<Output = Result<(), RequestError>> + Send + 'static,
    ) {
        let inner = self.inner.clone();
        inner.direct.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            if let Err(err) = request.await {
                inner.metrics.send_error();
                tracing::warn!(error = %describe(&err), "could not answer a query");
            }
            inner.direct.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// Whether nothing is queued or being sent.
    pub fn is_idle(&self) -> bool {
        self.inner.direct.load(Ordering::SeqCst) == 0 && self.chats().is_empty()
    }

    /// Waits until everything queued is sent, or `limit` passes (at shutdown).
    pub async fn flush(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self.is_idle() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(user: i64, text: &str) -> Outgoing {
        Outgoing::answer(user, text.to_string(), None, None)
    }

    fn texts(items: &VecDeque<Outgoing>) -> Vec<String> {
        items
            .iter()
            .map(|i| match &i.op {
                Op::Send { html, .. } => html.clone(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_full_backlog_drops_the_oldest_answer_to_the_member_asking_most() {
        let mut items: VecDeque<Outgoing> = [
            answer(1, "a1"),
            answer(2, "b1"),
            answer(1, "a2"),
            Outgoing::notice("poll".into(), None),
            answer(1, "a3"),
        ]
        .into();
        // Member 2 asks again: member 1 still has the most waiting.
        let (room, dropped) = make_room(&mut items, &answer(2, "b2"));
        assert_eq!(room, Room::Made);
        assert_eq!(texts(&[dropped.unwrap()].into()), ["a1"]);
        assert_eq!(texts(&items), ["b1", "a2", "poll", "a3"]);
        // A tie (member 1: a2, a3; member 2: b1 and the new b3): the newcomer's member gives
        // way, their oldest first.
        let (_, dropped) = make_room(&mut items, &answer(2, "b3"));
        assert_eq!(texts(&[dropped.unwrap()].into()), ["b1"]);
        // A member with nothing queued, when others are not ahead of them: their new answer
        // is dropped rather than someone else's.
        let mut one: VecDeque<Outgoing> = [answer(1, "a1")].into();
        assert_eq!(make_room(&mut one, &answer(2, "b1")).0, Room::DropNew);
        // Nothing droppable: nothing dropped.
        let mut essential: VecDeque<Outgoing> = [Outgoing::notice("poll".into(), None)].into();
        assert_eq!(
            make_room(&mut essential, &Outgoing::notice("board".into(), None)).0,
            Room::Full
        );
    }

    fn edit(user: i64, message: i32, text: &str) -> Outgoing {
        Outgoing::edit(user, MessageId(message), text.to_string(), None)
    }

    fn question(user: i64, message: i32) -> Outgoing {
        Outgoing::answer(
            user,
            format!("answer to {message}"),
            None,
            Some(MessageId(message)),
        )
    }

    #[test]
    fn a_newer_page_turn_replaces_the_queued_one_of_the_same_message() {
        let mut queue = ChatQueue::default();
        let now = Instant::now();
        assert!(queue.enqueue(-1, edit(1, 50, "page 2"), now).is_empty());
        assert!(queue.enqueue(-1, answer(2, "b1"), now).is_empty());
        let dropped = queue.enqueue(-1, edit(1, 50, "page 3"), now);
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].1, Dropped::Superseded);
        // The newest page keeps the place in line; another message's edit queues on its own.
        assert!(queue.enqueue(-1, edit(1, 51, "other"), now).is_empty());
        let order: Vec<String> = queue
            .items
            .iter()
            .map(|i| match &i.op {
                Op::Edit { html, .. } | Op::Send { html, .. } => html.clone(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(order, ["page 3", "b1", "other"]);
    }

    #[test]
    fn page_turns_and_slow_down_notices_give_way_under_a_full_backlog() {
        let mut queue = ChatQueue::default();
        let now = Instant::now();
        // One member fills a group's queue with page turns of twenty different messages.
        for m in 0..GROUP_BACKLOG {
            let m = i32::try_from(m).unwrap();
            assert!(queue.enqueue(-1, edit(1, m, "page"), now).is_empty());
        }
        // Another member's question still gets in: the page turner's oldest edit gives way.
        let dropped = queue.enqueue(-1, question(2, 900), now);
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].1, Dropped::Backlog);
        assert_eq!(dropped[0].0.droppable, Some(1));
        assert!(queue.items.iter().any(|i| i.droppable == Some(2)));
    }

    #[test]
    fn the_busy_notice_counts_every_skipped_answer_and_names_the_first() {
        let mut queue = ChatQueue::default();
        let now = Instant::now();
        for m in 0..GROUP_BACKLOG {
            let m = i32::try_from(m).unwrap();
            queue.enqueue(-1, question(1, m), now);
        }
        // Three more questions from member 1: three of their answers are skipped.
        for m in 100..103 {
            let dropped = queue.enqueue(-1, question(1, m), now);
            assert_eq!(dropped.len(), 1);
        }
        // One notice, first in line.
        assert!(matches!(
            queue.items.front().map(|i| &i.op),
            Some(Op::BusyNotice)
        ));
        let notices = queue
            .items
            .iter()
            .filter(|i| matches!(i.op, Op::BusyNotice))
            .count();
        assert_eq!(notices, 1);
        // The oldest answers went first: the notice replies to the first question skipped.
        assert_eq!(queue.take_untold(now), Some((3, Some(MessageId(0)))));
        // Within the minute after a notice, skips are counted for the next one, not told at
        // once.
        queue.items.pop_front();
        queue.enqueue(-1, question(1, 200), now);
        assert!(!queue.items.iter().any(|i| matches!(i.op, Op::BusyNotice)));
        assert_eq!(queue.untold, 1);
        queue.enqueue(-1, question(1, 201), now + BUSY_NOTICE_EVERY);
        assert!(matches!(
            queue.items.front().map(|i| &i.op),
            Some(Op::BusyNotice)
        ));
        assert_eq!(
            queue.take_untold(now + BUSY_NOTICE_EVERY).map(|t| t.0),
            Some(2)
        );
    }

    #[test]
    fn a_queue_of_messages_the_chat_needs_still_has_a_hard_bound() {
        let mut queue = ChatQueue::default();
        let now = Instant::now();
        let mut refused = 0;
        for _ in 0..3 * GROUP_BACKLOG {
            let dropped = queue.enqueue(-1, Outgoing::notice("board".into(), None), now);
            refused += dropped
                .iter()
                .filter(|(_, why)| *why == Dropped::QueueFull)
                .count();
        }
        assert_eq!(queue.items.len(), 2 * GROUP_BACKLOG);
        assert_eq!(refused, GROUP_BACKLOG);
    }
}
