//! The Telegram adapter: translates updates into [`commands`](crate::commands) calls and
//! replies into Telegram messages. All routing is in [`schema`]; services arrive through
//! `dptree` dependencies. Inline queries, callback queries and poll answers carry no chat
//! context of their own and are routed outside any per-chat state.

pub mod flood;
pub mod quiz;
pub mod render;
pub mod send;

use std::future::IntoFuture as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use teloxide::dispatching::{UpdateFilterExt as _, UpdateHandler};
use teloxide::prelude::*;
use teloxide::types::{
    BotCommand, BotCommandScope, ChatId, InlineKeyboardButton, InlineKeyboardMarkup,
    InlineQueryResult, InlineQueryResultArticle, InputMessageContent, InputMessageContentText,
    MaybeInaccessibleMessage, Me, MessageEntityKind, MessageId, ParseMode, ReplyParameters,
};

use crate::commands::{self, Command, Handler, Parsed, Reply};
use flood::{FloodGuard, Verdict};
use send::{with_retry, Pacer};

/// Longest text (characters) accepted as a question from Telegram.
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// Everything the Telegram handlers need.
#[derive(Debug)]
pub struct App {
    /// Shared command handling.
    pub handler: Handler,
    /// Per-user flood control.
    pub flood: FloodGuard,
    /// Global send pace.
    pub pacer: Pacer,
    /// One permit per core for answering: questions beyond that wait their turn instead of
    /// each taking a thread (and its buffers) of the blocking pool at once.
    answering: tokio::sync::Semaphore,
}

impl App {
    /// An app over a handler with the given flood settings, sending at most 25 messages a
    /// second (see [`App::with_max_sends_per_sec`]).
    pub fn new(handler: Handler, flood_burst: u32, flood_refill: Duration) -> App {
        App {
            handler,
            flood: FloodGuard::new(flood_burst, flood_refill),
            pacer: Pacer::new(25),
            answering: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            ),
        }
    }

    /// Runs CPU-bound answering (the semantic model takes milliseconds) on the blocking pool,
    /// at most one job per core at a time. `None` if the job panicked or the app is closing.
    async fn answer<T: Send + 'static>(
        self: &Arc<Self>,
        job: impl FnOnce(&App) -> T + Send + 'static,
    ) -> Option<T> {
        let _permit = self.answering.acquire().await.ok()?;
        let app = self.clone();
        match tokio::task::spawn_blocking(move || job(&app)).await {
            Ok(out) => Some(out),
            Err(e) => {
                tracing::error!("answering failed: {e}");
                None
            }
        }
    }

    /// Sets the global send pace (`telegram.max_sends_per_sec`).
    pub fn with_max_sends_per_sec(mut self, per_second: u32) -> App {
        self.pacer = Pacer::new(per_second);
        self
    }
}

type HandlerResult = anyhow::Result<()>;

/// All routing.
pub fn schema() -> UpdateHandler<anyhow::Error> {
    dptree::entry()
        .branch(Update::filter_message().endpoint(on_message))
        .branch(Update::filter_callback_query().endpoint(on_callback))
        .branch(Update::filter_inline_query().endpoint(on_inline_query))
        .branch(Update::filter_poll_answer().endpoint(quiz::on_poll_answer))
}

/// The command menu Telegram shows: everything in private chats, the same in groups.
pub fn bot_commands() -> Vec<BotCommand> {
    commands::COMMANDS
        .iter()
        .map(|c| BotCommand::new(c.name, c.description))
        .collect()
}

/// Registers the command menu for private chats and groups.
pub async fn register_commands(bot: &Bot) -> Result<(), teloxide::RequestError> {
    for scope in [
        BotCommandScope::AllPrivateChats,
        BotCommandScope::AllGroupChats,
    ] {
        with_retry("setMyCommands", || {
            bot.set_my_commands(bot_commands())
                .scope(scope.clone())
                .into_future()
        })
        .await?;
    }
    Ok(())
}

fn keyboard(rows: &[Vec<(String, String)>]) -> Option<InlineKeyboardMarkup> {
    if rows.is_empty() {
        return None;
    }
    Some(InlineKeyboardMarkup::new(rows.iter().map(|row| {
        row.iter()
            .map(|(label, data)| InlineKeyboardButton::callback(label.clone(), data.clone()))
            .collect::<Vec<_>>()
    })))
}

/// Sends a rendered reply into `chat`, as a reply to `reply_to` when given.
pub async fn send_reply(
    bot: &Bot,
    app: &App,
    chat: ChatId,
    reply_to: Option<MessageId>,
    reply: &Reply,
) -> Result<Message, teloxide::RequestError> {
    let message = render::reply(reply, app.handler.tag());
    let markup = keyboard(&message.buttons);
    app.pacer.wait(chat.0).await;
    with_retry("sendMessage", || {
        let mut req = bot
            .send_message(chat, message.html.clone())
            .parse_mode(ParseMode::Html)
            .link_preview_options(teloxide::types::LinkPreviewOptions {
                is_disabled: true,
                url: None,
                prefer_small_media: false,
                prefer_large_media: false,
                show_above_text: false,
            });
        if let Some(id) = reply_to {
            req = req.reply_parameters(ReplyParameters::new(id).allow_sending_without_reply());
        }
        if let Some(markup) = markup.clone() {
            req = req.reply_markup(markup);
        }
        req.into_future()
    })
    .await
}

/// Whether a group message is addressed to the bot, and the question it carries.
fn addressed_question(msg: &Message, me: &Me, text: &str) -> Option<String> {
    let username = me.username();
    let mention = format!("@{username}");
    let mentioned = msg.parse_entities().unwrap_or_default().iter().any(|e| {
        matches!(e.kind(), MessageEntityKind::Mention) && e.text().eq_ignore_ascii_case(&mention)
    }) || text
        .to_ascii_lowercase()
        .contains(&mention.to_ascii_lowercase());
    let replied_to_us = msg
        .reply_to_message()
        .and_then(|m| m.from.as_ref())
        .is_some_and(|u| u.id == me.id);
    if mentioned {
        // ASCII lowercasing keeps byte offsets, so the cut below stays on char boundaries
        // (usernames are ASCII).
        let lower = text.to_ascii_lowercase();
        let stripped = match lower.find(&mention.to_ascii_lowercase()) {
            Some(at) => format!("{} {}", &text[..at], &text[at + mention.len()..]),
            None => text.to_string(),
        };
        return Some(stripped.trim().to_string());
    }
    replied_to_us.then(|| text.to_string())
}

async fn on_message(bot: Bot, me: Me, msg: Message, app: Arc<App>) -> HandlerResult {
    let private = msg.chat.is_private();
    let Some(text) = msg.text() else {
        if private {
            send_reply(
                &bot,
                &app,
                msg.chat.id,
                Some(msg.id),
                &Reply::notice("I can only read text. Send me a question about the text."),
            )
            .await?;
        }
        return Ok(());
    };
    let parsed = commands::parse(text, Some(me.username()));
    let command = match parsed {
        Parsed::OtherBot => return Ok(()),
        Parsed::Command(c) => c,
        Parsed::Unknown(name) => {
            if private {
                let reply = Reply::notice(format!(
                    "I don't know /{name}. Send /help for the commands."
                ));
                send_reply(&bot, &app, msg.chat.id, Some(msg.id), &reply).await?;
            }
            return Ok(());
        }
        Parsed::Text(text) if private => Command::Ask(text),
        Parsed::Text(text) => match addressed_question(&msg, &me, &text) {
            Some(q) => Command::Ask(q),
            None => return Ok(()),
        },
    };
    let user = msg
        .from
        .as_ref()
        .map(|u| u.id.0 as i64)
        .unwrap_or(msg.chat.id.0);
    match app.flood.check(user, Instant::now()) {
        Verdict::Allow => {}
        Verdict::Warn => {
            let reply = Reply::notice("You're sending messages faster than I can read them. I'll answer again in a few seconds.");
            send_reply(&bot, &app, msg.chat.id, Some(msg.id), &reply).await?;
            return Ok(());
        }
        Verdict::Drop => return Ok(()),
    }
    let chat = msg.chat.id.0;
    let name = msg
        .from
        .as_ref()
        .map(|u| u.first_name.clone())
        .unwrap_or_else(|| "You".to_string());
    let reply = match &command {
        Command::Quiz(args) => {
            let (reply, started) = app.handler.quiz_start(chat, args, commands::unix_now());
            send_reply(&bot, &app, msg.chat.id, Some(msg.id), &reply).await?;
            if let Some(started) = started {
                tokio::spawn(quiz::drive(bot.clone(), app.clone(), chat, started.quiz));
            }
            return Ok(());
        }
        Command::Stop => {
            let (reply, open_poll) = app.handler.quiz_stop(chat);
            if let Some(message) = open_poll {
                quiz::close_poll(&bot, chat, message).await;
            }
            reply
        }
        Command::Score => app.handler.score(chat, user, &name),
        Command::Top => app.handler.top(chat),
        Command::Ask(q) if q.chars().count() > MAX_MESSAGE_CHARS => Reply::notice(format!(
            "That's a long message. Please ask a shorter question (under {MAX_MESSAGE_CHARS} characters)."
        )),
        other => {
            let command = other.clone();
            match app.answer(move |app| app.handler.command(&command)).await {
                Some(Some(reply)) => reply,
                Some(None) => Reply::notice("Send /help for the commands."),
                None => Reply::notice("Something went wrong while answering. Please try again."),
            }
        }
    };
    send_reply(&bot, &app, msg.chat.id, Some(msg.id), &reply).await?;
    Ok(())
}

/// The question a message of ours answered: the text of the message it replies to (answers
/// are sent as replies), without a command or a mention of the bot.
fn answered_question(message: &MaybeInaccessibleMessage) -> Option<String> {
    let MaybeInaccessibleMessage::Regular(m) = message else {
        return None;
    };
    let text = m.reply_to_message()?.text()?;
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

async fn on_callback(bot: Bot, q: CallbackQuery, app: Arc<App>) -> HandlerResult {
    let data = q.data.clone().unwrap_or_default();
    let question = q.message.as_ref().and_then(answered_question);
    let outcome = app.handler.action(&data, question.as_deref());
    // Always answer the callback query, with the error as a toast when there is one.
    let toast = outcome.as_ref().err().cloned();
    let answer = with_retry("answerCallbackQuery", || {
        let mut req = bot.answer_callback_query(q.id.clone());
        if let Some(text) = &toast {
            req = req.text(text.clone());
        }
        req.into_future()
    })
    .await;
    if let Err(err) = answer {
        tracing::warn!(error = %err, "could not answer a callback query");
    }
    let Ok(reply) = outcome else {
        return Ok(());
    };
    let Some(message) = q.message.as_ref() else {
        return Ok(());
    };
    let (chat, message_id) = match message {
        MaybeInaccessibleMessage::Regular(m) => (m.chat.id, m.id),
        MaybeInaccessibleMessage::Inaccessible(m) => (m.chat.id, m.message_id),
    };
    if reply.replace {
        let rendered = render::reply(&reply, app.handler.tag());
        let markup = keyboard(&rendered.buttons);
        app.pacer.wait(chat.0).await;
        let edited = with_retry("editMessageText", || {
            let mut req = bot
                .edit_message_text(chat, message_id, rendered.html.clone())
                .parse_mode(ParseMode::Html);
            if let Some(markup) = markup.clone() {
                req = req.reply_markup(markup);
            }
            req.into_future()
        })
        .await;
        match edited {
            Ok(_) => {}
            // Pressing the same page twice changes nothing; Telegram says so.
            Err(teloxide::RequestError::Api(teloxide::ApiError::MessageNotModified)) => {}
            Err(_) => {
                send_reply(&bot, &app, chat, Some(message_id), &reply).await?;
            }
        }
    } else {
        send_reply(&bot, &app, chat, Some(message_id), &reply).await?;
    }
    Ok(())
}

async fn on_inline_query(bot: Bot, q: InlineQuery, app: Arc<App>) -> HandlerResult {
    let query = q.query.trim();
    let mut results: Vec<InlineQueryResult> = Vec::new();
    if !query.is_empty() && query.chars().count() <= MAX_MESSAGE_CHARS {
        let question = query.to_string();
        let answer = app.answer(move |app| app.handler.engine().ask(&question, 10));
        if let Some(Ok(answer)) = answer.await {
            if answer.answered {
                for item in &answer.results {
                    let single =
                        Reply::plain(commands::Content::More(vec![crate::answer::AnswerItem {
                            rank: 1,
                            ..item.clone()
                        }]));
                    let html = render::reply(&single, app.handler.tag()).html;
                    let html = html.trim_start_matches("<b>1.</b> ").to_string();
                    let content = InputMessageContent::Text(
                        InputMessageContentText::new(html).parse_mode(ParseMode::Html),
                    );
                    let title: String = item.citation.to_string().chars().take(120).collect();
                    let description: String = item.excerpt.text.chars().take(200).collect();
                    results.push(InlineQueryResult::Article(
                        InlineQueryResultArticle::new(
                            format!("{}-{}", item.passage, app.handler.tag()),
                            title,
                            content,
                        )
                        .description(description),
                    ));
                }
            } else {
                let (title, description, html) = render::not_covered(&answer);
                let content = InputMessageContent::Text(
                    InputMessageContentText::new(html).parse_mode(ParseMode::Html),
                );
                results.push(InlineQueryResult::Article(
                    InlineQueryResultArticle::new(
                        format!("none-{}", app.handler.tag()),
                        title,
                        content,
                    )
                    .description(description),
                ));
            }
        }
    }
    with_retry("answerInlineQuery", || {
        bot.answer_inline_query(q.id.clone(), results.clone())
            .cache_time(60)
            .is_personal(false)
            .into_future()
    })
    .await?;
    Ok(())
}

/// Runs the bot until SIGTERM or Ctrl-C: checks the connection, registers the command menu,
/// then long-polls and dispatches updates.
pub async fn run(bot: Bot, app: Arc<App>) -> anyhow::Result<()> {
    let me = with_retry("getMe", || bot.get_me().into_future())
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the Telegram Bot API: {e}"))?;
    tracing::info!(username = %me.username(), "connected");
    if let Err(err) = register_commands(&bot).await {
        tracing::warn!(error = %err, "could not register the command menu");
    }
    quiz::resume(&bot, &app);
    let mut dispatcher = Dispatcher::builder(bot, schema())
        .dependencies(dptree::deps![app])
        .default_handler(|_| async {})
        .error_handler(
            teloxide::error_handlers::LoggingErrorHandler::with_custom_text(
                "an update handler failed",
            ),
        )
        .build();
    let token = dispatcher.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stopping");
        loop {
            match token.shutdown() {
                Ok(done) => {
                    done.await;
                    break;
                }
                // The dispatcher is not running yet: try again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    dispatcher.dispatch().await;
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
