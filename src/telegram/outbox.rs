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
//! most answers waiting, who is flooding) and queues one notice saying so. Messages that are
//! not answers to one member (quiz polls, scoreboards, notices) are never dropped; they are
//! few by nature. Answers to callback and inline queries skip the queues: they are not chat
//! messages and must come within seconds.

use std::collections::{HashMap, VecDeque};
use std::future::IntoFuture as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use teloxide::prelude::*;
use teloxide::types::{
    CallbackQueryId, ChatId, InlineKeyboardMarkup, InlineQueryId, InlineQueryResult,
    InputPollOption, LinkPreviewOptions, MessageId, ParseMode, PollType, ReplyParameters,
};
use teloxide::{ApiError, RequestError};
use tokio::sync::oneshot;

use super::limits;
use super::metrics::{DropStage, Metrics};
use super::send::{describe, with_retry, Pacer};

/// Messages queued for one group before older answers are dropped: what Telegram takes from
/// a group in a minute.
const GROUP_BACKLOG: usize = 20;
/// The same for a private chat (Telegram takes about one message a second there).
const PRIVATE_BACKLOG: usize = 60;

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
}

/// A message for a chat.
#[derive(Debug)]
pub struct Outgoing {
    /// What to do.
    pub op: Op,
    /// The member whose request this answers: such a message may be dropped when the chat's
    /// backlog is full. `None` for messages the chat needs whatever happens.
    pub answers: Option<i64>,
    /// Told the sent message, or `None` when it could not be sent.
    pub done: Option<oneshot::Sender<Option<Message>>>,
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
            answers: Some(user),
            done: None,
        }
    }

    /// An HTML message the chat needs whatever happens (never dropped).
    pub fn notice(html: String, reply_to: Option<MessageId>) -> Outgoing {
        Outgoing {
            op: Op::Send {
                html,
                keyboard: None,
                reply_to,
            },
            answers: None,
            done: None,
        }
    }

    /// Any operation, never dropped.
    pub fn op(op: Op) -> Outgoing {
        Outgoing {
            op,
            answers: None,
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
    /// Whether the busy notice went out since the queue was last empty.
    noticed: bool,
}

/// Called when a chat turns out to have moved to a new id (a group became a supergroup).
pub type OnMigrate = Box<dyn Fn(i64, i64) + Send + Sync>;

struct Inner {
    bot: Bot,
    pacer: Pacer,
    chats: Mutex<HashMap<i64, ChatQueue>>,
    /// Callback and inline query answers in flight.
    direct: AtomicUsize,
    metrics: Arc<Metrics>,
    on_migrate: OnMigrate,
    busy_notice: String,
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
        .filter_map(|i| i.answers)
    {
        *waiting.entry(member).or_default() += 1;
    }
    let Some(flooder) = waiting
        .iter()
        .max_by_key(|(member, n)| (**n, Some(**member) == item.answers, -**member))
        .map(|(member, _)| *member)
    else {
        return (Room::Full, None);
    };
    let Some(at) = items.iter().position(|i| i.answers == Some(flooder)) else {
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
    /// `busy_notice` is the HTML of the one notice a flooded chat gets; `on_migrate` learns
    /// of chats that moved; drops, retries and failures are counted in `metrics`.
    pub fn new(
        bot: Bot,
        per_second: u32,
        busy_notice: String,
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
        let mut chats = self.chats();
        let queue = chats.entry(chat).or_default();
        let mut keep = true;
        if queue.items.len() >= backlog(chat) {
            let (room, dropped) = make_room(&mut queue.items, &item);
            if let Some(dropped) = dropped {
                self.inner.metrics.flood_drop(DropStage::Outbox);
                if let Some(done) = dropped.done {
                    let _ = done.send(None);
                }
            }
            if room != Room::Full && !queue.noticed {
                queue.noticed = true;
                // First in line: the chat learns now, not after the backlog.
                queue
                    .items
                    .push_front(Outgoing::notice(self.inner.busy_notice.clone(), None));
            }
            keep = room != Room::DropNew;
        }
        if keep {
            queue.items.push_back(item);
        } else {
            self.inner.metrics.flood_drop(DropStage::Outbox);
            if let Some(done) = item.done {
                let _ = done.send(None);
            }
        }
        if !queue.sending {
            queue.sending = true;
            tokio::spawn(self.clone().send_all(chat));
        }
    }

    /// Queues a message and waits until it is sent; `None` if it could not be.
    pub async fn send(&self, chat: i64, op: Op) -> Option<Message> {
        let (tx, rx) = oneshot::channel();
        self.push(
            chat,
            Outgoing {
                op,
                answers: None,
                done: Some(tx),
            },
        );
        rx.await.ok().flatten()
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
                        let _ = done.send(message);
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
                    if let Some(done) = item.done {
                        let _ = done.send(None);
                    }
                }
            }
        }
    }

    /// Whether `chat`'s queue is empty; then it is forgotten and its sender stops.
    fn finished(&self, chat: i64) -> bool {
        let mut chats = self.chats();
        match chats.get(&chat) {
            Some(queue) if !queue.items.is_empty() => false,
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
                    .is_personal(false)
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
}
