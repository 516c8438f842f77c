//! Quizzes on Telegram: the shared [quiz driver](crate::quiz::driver) run as one task per
//! running quiz, delivering questions as native quiz polls through the chat's outbox and
//! sleeping until each poll closes. Poll answers carry no chat; they are routed by poll id in
//! the [pipeline](super::pipeline). All state is in the store, so drivers resume after a
//! restart, and the driver runs whether or not the quiz's announcement could be sent.
//!
//! Reviews ([`review_next`]) are simpler: a member's due cards are asked one at a time in their
//! private chat as polls that stay open, and the next one is sent when an answer arrives.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use teloxide::types::MessageId;

use super::outbox::{Failure, Op};
use super::pipeline::Pipeline;
use crate::commands::{unix_now, Reply};
use crate::quiz::driver::{Driver, Next};
use crate::quiz::{shorten, MAX_QUESTION_CHARS};

/// How long to wait before trying a quiz step again after the database or a send failed.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// The longest wait between two tries of a quiz poll that fails to send.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Runs quiz `quiz` until it ends or is stopped.
pub async fn drive(pipeline: Arc<Pipeline>, quiz: i64) {
    let app = pipeline.app().clone();
    let Some(service) = app.handler.quiz().cloned() else {
        return;
    };
    let driver = Driver::new(service.clone(), quiz);
    let outbox = pipeline.outbox().clone();
    let tag = app.handler.tag().to_string();
    let notice = |reply: Reply| {
        super::outbox::Outgoing::notice(super::render::reply(&reply, &tag).html, None)
    };
    loop {
        let step = driver.clone();
        let next = match app
            .store_blocking(move |_| step.next(unix_now(), false))
            .await
        {
            None => return,
            Some(Ok(next)) => next,
            Some(Err(err)) => {
                tracing::error!(error = %err, quiz, "quiz step failed; retrying shortly");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        match next {
            Next::Over => return,
            Next::Wait { until } => {
                let secs = u64::try_from((until - unix_now()).clamp(0, 600)).unwrap_or(0);
                tokio::time::sleep(Duration::from_secs(secs) + Duration::from_millis(500)).await;
            }
            Next::Finished { chat, board } => {
                outbox.push(chat, notice(Reply::quiz_over(board)));
                return;
            }
            Next::Unreadable { chat } => {
                outbox.push(chat, notice(Reply::quiz_unreadable()));
                return;
            }
            Next::Ask(question) => {
                let open = (question.deadline - unix_now()).clamp(5, 600);
                let poll = Op::Poll {
                    question: question.poll_text(),
                    options: question.question.options.clone(),
                    correct: u8::try_from(question.question.correct).unwrap_or(0),
                    explanation: question.question.explanation.clone(),
                    open_period: Some(u16::try_from(open).unwrap_or(30)),
                };
                let chat = question.chat;
                let in_flight = InFlight::new(&app.polls_in_flight);
                // Timeouts, server errors and long flood waits never end a quiz: the poll is
                // tried again, less often each time, for as long as the quiz runs; only a
                // chat that is gone, or one that has blocked the bot, ends it.
                let mut wait = RETRY_AFTER;
                let sent = loop {
                    match outbox.send_reporting(chat, poll.clone()).await {
                        Ok(sent) => break sent,
                        Err(Failure::Transient) => {
                            tracing::warn!(
                                quiz,
                                "a quiz poll could not be sent; trying again in {} s",
                                wait.as_secs()
                            );
                            tokio::time::sleep(wait).await;
                            wait = (wait * 2).min(MAX_RETRY_AFTER);
                            let service = service.clone();
                            let running = app
                                .store_blocking(move |_| {
                                    service.store().quiz(quiz).map(|q| q.is_some())
                                })
                                .await;
                            if matches!(running, Some(Ok(false)) | None) {
                                return;
                            }
                        }
                        Err(Failure::Gone) => break None,
                    }
                };
                let delivered = sent
                    .as_ref()
                    .and_then(|m| Some((m.poll()?.id.0.clone(), m.id)));
                // The poll closes `open` seconds after Telegram has it, however long it
                // waited in the chat's queue: the driver waits for that, not for the deadline
                // set when the question was drawn.
                let closes = unix_now() + open;
                let step = driver.clone();
                let recorded = app
                    .store_blocking(move |_| match delivered {
                        Some((poll, MessageId(message))) => step
                            .delivered(&question, &poll, Some(i64::from(message)), closes)
                            .map(|current| {
                                if current {
                                    Delivery::Current
                                } else {
                                    Delivery::AfterStop(MessageId(message))
                                }
                            }),
                        None => step.undeliverable().map(|()| Delivery::Failed),
                    })
                    .await;
                drop(in_flight);
                match recorded {
                    Some(Ok(Delivery::Current)) => {}
                    Some(Ok(Delivery::AfterStop(message))) => {
                        // Stopped while the poll waited in the queue: close it at once; its
                        // votes count for nothing.
                        tracing::info!(
                            quiz,
                            "a quiz poll arrived after its quiz stopped; closing it"
                        );
                        outbox.push(chat, super::outbox::Outgoing::op(Op::StopPoll { message }));
                        return;
                    }
                    Some(Ok(Delivery::Failed)) => {
                        // The chat is gone or the bot may not post there: the quiz has ended.
                        tracing::warn!(quiz, "could not send a quiz question; the quiz has ended");
                        outbox.push(chat, notice(Reply::quiz_undeliverable()));
                        return;
                    }
                    Some(Err(err)) => {
                        tracing::error!(error = %err, quiz, "could not record a quiz poll");
                    }
                    None => return,
                }
            }
        }
    }
}

/// Sends `user`'s next review card to `chat` (their private chat), other than `skip` (the card
/// just answered), or the message that ends the review.
pub async fn review_next(pipeline: Arc<Pipeline>, chat: i64, user: i64, skip: Option<String>) {
    let app = pipeline.app().clone();
    let outbox = pipeline.outbox().clone();
    let tag = app.handler.tag().to_string();
    let next = app
        .store_blocking(move |app| app.handler.review_next(user, unix_now(), skip.as_deref()))
        .await;
    let due = match next {
        None => return,
        Some(Err(reply)) => {
            let html = super::render::reply(&reply, &tag).html;
            outbox.push(chat, super::outbox::Outgoing::notice(html, None));
            return;
        }
        Some(Ok(due)) => due,
    };
    let question = &due.question;
    let poll = Op::Poll {
        question: shorten(
            &format!("[review, box {}] {}", due.level, question.question),
            MAX_QUESTION_CHARS,
        ),
        options: question.options.clone(),
        correct: u8::try_from(question.correct).unwrap_or(0),
        explanation: question.explanation.clone(),
        open_period: None,
    };
    let in_flight = InFlight::new(&app.polls_in_flight);
    let sent = outbox.send(chat, poll).await;
    let Some(poll) = sent.as_ref().and_then(|m| Some(m.poll()?.id.0.clone())) else {
        tracing::warn!(chat, "could not send a review question");
        return;
    };
    let (key, correct) = (due.key.clone(), question.correct);
    let recorded = app
        .store_blocking(move |app| match app.handler.quiz() {
            Some(service) => service.attach_review_poll(&poll, user, chat, &key, correct),
            None => Ok(()),
        })
        .await;
    drop(in_flight);
    if let Some(Err(err)) = recorded {
        tracing::error!(error = %err, chat, "could not record a review poll");
    }
}

/// What became of a quiz poll sent.
enum Delivery {
    /// It carries the quiz's current question.
    Current,
    /// It reached the chat after the quiz was stopped: to be closed.
    AfterStop(MessageId),
    /// It could not be sent: the quiz has ended.
    Failed,
}

/// Counts a quiz poll from its sending until it is recorded (or given up), even if the
/// driver panics in between.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn new(count: &'a AtomicUsize) -> InFlight<'a> {
        count.fetch_add(1, Ordering::SeqCst);
        InFlight(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
