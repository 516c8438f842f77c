//! Adding a text from the chat: who may, the bounded download (`getFile`, then a stream cut
//! off past `uploads.max_file_mb`, or the local file a local Bot API server names), and the
//! one progress message, edited at most every [`EDIT_EVERY`], while the library reads the
//! file in the document reader's child process off the core's permits, so other chats are
//! answered meanwhile.

use std::future::IntoFuture;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use teloxide::net::Download;
use teloxide::prelude::*;
use teloxide::types::{FileId, MessageId, ParseMode, ReplyParameters};

use super::outbox::Outgoing;
use super::pipeline::Pipeline;
use super::send::{describe, with_retry};
use crate::commands::{Caller, Reply};
use crate::library::{Added, Interrupted};

/// Least time between two edits of a progress message.
pub const EDIT_EVERY: Duration = Duration::from_secs(3);

/// A file a message carries.
#[derive(Debug, Clone)]
pub struct FileRef {
    id: String,
    name: String,
    size: u64,
}

impl FileRef {
    /// The document `message` carries, if any.
    pub fn of(message: &Message) -> Option<FileRef> {
        let doc = message.document()?;
        Some(FileRef {
            id: doc.file.id.0.clone(),
            name: doc.file_name.clone().unwrap_or_else(|| "file".into()),
            size: u64::from(doc.file.size),
        })
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The progress message of one text: sent once, then edited no more often than
/// [`EDIT_EVERY`].
struct Progress {
    bot: Bot,
    pipeline: Arc<Pipeline>,
    chat: i64,
    message: Option<MessageId>,
    /// When the message was sent or last edited.
    last: Instant,
    /// Whether it was edited yet: the first edit ("Ready", or a refusal) need not wait.
    edited: bool,
}

impl Progress {
    async fn send(
        pipeline: &Arc<Pipeline>,
        chat: i64,
        reply_to: MessageId,
        html: String,
    ) -> Progress {
        let bot = pipeline.bot().clone();
        let metrics = pipeline.app().metrics.clone();
        let sent = with_retry("send progress", &metrics, || {
            bot.send_message(ChatId(chat), html.clone())
                .parse_mode(ParseMode::Html)
                .reply_parameters(ReplyParameters::new(reply_to).allow_sending_without_reply())
                .into_future()
        })
        .await;
        let message = match sent {
            Ok(m) => Some(m.id),
            Err(err) => {
                tracing::warn!(chat, error = %describe(&err), "could not send a progress message");
                None
            }
        };
        Progress {
            bot,
            pipeline: pipeline.clone(),
            chat,
            message,
            last: Instant::now(),
            edited: false,
        }
    }

    /// Edits the message to `html`, waiting out [`EDIT_EVERY`] since the last edit.
    async fn edit(&mut self, html: String) {
        let Some(message) = self.message else {
            self.pipeline
                .outbox()
                .push(self.chat, Outgoing::notice(html, None));
            return;
        };
        if self.edited {
            tokio::time::sleep(EDIT_EVERY.saturating_sub(self.last.elapsed())).await;
        }
        let metrics = self.pipeline.app().metrics.clone();
        let (bot, chat) = (self.bot.clone(), self.chat);
        let edited = with_retry("edit progress", &metrics, || {
            bot.edit_message_text(ChatId(chat), message, html.clone())
                .parse_mode(ParseMode::Html)
                .into_future()
        })
        .await;
        if let Err(err) = edited {
            tracing::warn!(chat, error = %describe(&err), "could not edit a progress message");
        }
        self.last = Instant::now();
        self.edited = true;
    }
}

/// Downloads `file` (at most `limit` bytes): the local file a local Bot API server names,
/// else a streamed download stopped past the limit. `Err` is what the member is told.
async fn download(bot: &Bot, file: &FileRef, limit: u64) -> Result<Vec<u8>, String> {
    let too_big = || {
        format!(
            "{} is over the limit of {} MB (uploads.max_file_mb).",
            file.name,
            limit >> 20
        )
    };
    let meta = match bot.get_file(FileId(file.id.clone())).await {
        Ok(meta) => meta,
        Err(err) => {
            let why = describe(&err);
            tracing::warn!(error = %why, "getFile failed for an added text");
            return Err(if why.contains("too big") {
                format!(
                    "{} is too big for Telegram to hand to bots (20 MB on Telegram's own Bot API server).",
                    file.name
                )
            } else {
                "Telegram would not give me that file. Please send it again.".to_string()
            });
        }
    };
    if u64::from(meta.size) > limit {
        return Err(too_big());
    }
    // A local Bot API server (`--local`) gives the file's absolute path on this machine.
    let local = Path::new(&meta.path);
    if local.is_absolute() {
        if let Ok(m) = tokio::fs::metadata(local).await {
            if m.len() > limit {
                return Err(too_big());
            }
            return tokio::fs::read(local)
                .await
                .map_err(|_| "I could not read that file. Please send it again.".to_string());
        }
    }
    let mut stream = bot.download_file_stream(&meta.path);
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            tracing::warn!(error = %e, "downloading an added text failed");
            "The download of that file broke off. Please send it again.".to_string()
        })?;
        if bytes.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_big());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Adds the text `file`, sent in `chat` by `caller` in `message`: refusals are one reply;
/// otherwise one progress message, edited as the text is read, indexed and given vectors.
pub async fn add_text(
    pipeline: Arc<Pipeline>,
    chat: i64,
    group: bool,
    message: MessageId,
    mut caller: Caller,
    file: FileRef,
) {
    let app = pipeline.app().clone();
    let refuse = |text: String| {
        let html = super::render::reply(&Reply::notice(text), app.handler.tag()).html;
        pipeline
            .outbox()
            .push(chat, Outgoing::notice(html, Some(message)));
    };
    if group && !caller.admin {
        caller.admin = app.roles.is_admin(pipeline.bot(), chat, caller.user).await;
    }
    if let Err(why) = app.library.may_add(caller.user, caller.admin || !group) {
        return refuse(why);
    }
    if let Err(why) = app.library.check_upload(chat, &file.name, file.size) {
        return refuse(why);
    }
    let limit = app.library.max_file_bytes();
    let mut progress = Progress::send(
        &pipeline,
        chat,
        message,
        format!("Reading {}…", escape(&file.name)),
    )
    .await;
    let bytes = match download(pipeline.bot(), &file, limit).await {
        Ok(b) => b,
        Err(why) => return progress.edit(escape(&why)).await,
    };
    let progress_id = progress.message.map(|m| i64::from(m.0));
    let (library_app, name) = (app.clone(), file.name.clone());
    let started = Instant::now();
    let (pages_tx, mut pages) = tokio::sync::watch::channel((0usize, 0usize));
    let sink: crate::formats::progress::Sink = Arc::new(move |done, total| {
        let _ = pages_tx.send((done, total));
    });
    // Off the core's permits: reading a book takes a child process many seconds, and the
    // other chats' questions must not wait for it.
    let mut reading = tokio::task::spawn_blocking(move || {
        let library = &library_app.library;
        let job = library.begin(
            chat,
            &caller,
            &name,
            bytes,
            progress_id,
            crate::commands::unix_now(),
        )?;
        crate::formats::progress::with_progress(sink, || library.finish(job))
    });
    let outcome = loop {
        tokio::select! {
            outcome = &mut reading => break outcome,
            changed = pages.changed() => {
                if changed.is_err() {
                    break (&mut reading).await;
                }
                // Pages are shown once the message has stood EDIT_EVERY (a short text is
                // ready before then), then at most every EDIT_EVERY, the newest page each time.
                tokio::select! {
                    outcome = &mut reading => break outcome,
                    () = tokio::time::sleep(EDIT_EVERY.saturating_sub(progress.last.elapsed())) => {}
                }
                let (done, total) = *pages.borrow_and_update();
                if done < total {
                    progress
                        .edit(format!("Reading {}… page {done} of {total}", escape(&file.name)))
                        .await;
                }
            }
        }
    };
    let added: Added = match outcome {
        Ok(Ok(added)) => added,
        Ok(Err(why)) => return progress.edit(escape(&why)).await,
        Err(_) => {
            return progress
                .edit("Sorry, reading that file failed. Please try again later.".into())
                .await
        }
    };
    tracing::info!(
        chat,
        text = added.id,
        ms = started.elapsed().as_millis() as u64,
        "an added text answers"
    );
    let ready = added.ready_html();
    progress.edit(ready.clone()).await;
    if added.semantic {
        return;
    }
    let semantic = tokio::task::spawn_blocking(move || {
        crate::search::dense::run_in_background_priority();
        added.add_semantic()
    })
    .await
    .unwrap_or(false);
    if semantic {
        tracing::info!(
            chat,
            ms = started.elapsed().as_millis() as u64,
            "semantic ranking on for an added text"
        );
        let done = ready.replace(
            "Ask away (semantic ranking joins in about a minute).",
            "Ask away. Semantic ranking is on.",
        );
        progress.edit(done).await;
    }
}

/// Tells each chat whose text a restart interrupted that it was not added.
pub async fn tell_interrupted(pipeline: Arc<Pipeline>, interrupted: Vec<Interrupted>) {
    for job in interrupted {
        let html = escape(&job.notice());
        let edited = match job.message.and_then(|m| i32::try_from(m).ok()) {
            Some(id) => pipeline
                .bot()
                .edit_message_text(ChatId(job.chat), MessageId(id), html.clone())
                .await
                .is_ok(),
            None => false,
        };
        if !edited {
            pipeline
                .outbox()
                .push(job.chat, Outgoing::notice(html, None));
        }
    }
}
