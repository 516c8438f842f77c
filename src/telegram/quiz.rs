//! Quizzes on Telegram: native quiz polls, one driver task per running quiz that sends each
//! question and waits for its poll to close, and poll answers routed by poll id (they carry
//! no chat). All state is in the store, so drivers resume after a restart.

use std::future::IntoFuture as _;
use std::sync::Arc;
use std::time::Duration;

use teloxide::prelude::*;
use teloxide::types::{InputPollOption, MaybeAnonymousUser, MessageId, PollType};

use super::send::with_retry;
use super::{send_reply, App};
use crate::commands::{unix_now, Content, Reply};
use crate::quiz::session::Step;
use crate::quiz::{shorten, MAX_QUESTION_CHARS};
use crate::store::AnswerOutcome;

/// Runs a chat's quiz until it ends or is stopped.
pub async fn drive(bot: Bot, app: Arc<App>, chat: i64, quiz_id: i64) {
    let Some(service) = app.handler.quiz().cloned() else {
        return;
    };
    loop {
        let step = match service.step(chat, Some(quiz_id), unix_now(), false) {
            Ok(step) => step,
            Err(err) => {
                tracing::error!(error = %err, chat, "quiz step failed; retrying shortly");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        match step {
            Step::Idle => return,
            Step::Wait { until, .. } => {
                let secs = (until - unix_now()).clamp(0, 600) as u64;
                tokio::time::sleep(Duration::from_secs(secs) + Duration::from_millis(500)).await;
            }
            Step::Finished { board, .. } => {
                let reply = Reply::plain(Content::Scoreboard {
                    title: "Quiz over! Scores:".into(),
                    board,
                });
                if let Err(err) = send_reply(&bot, &app, ChatId(chat), None, &reply).await {
                    tracing::warn!(error = %err, chat, "could not post the scoreboard");
                }
                return;
            }
            Step::Ask {
                quiz,
                index,
                total,
                question,
                deadline,
            } => {
                let text = shorten(
                    &format!("[{}/{}] {}", index + 1, total, question.question),
                    MAX_QUESTION_CHARS,
                );
                let open = (deadline - unix_now()).clamp(5, 600) as u32;
                app.pacer.wait(chat).await;
                let sent = with_retry("sendPoll", || {
                    bot.send_poll(
                        ChatId(chat),
                        text.clone(),
                        question
                            .options
                            .iter()
                            .map(|o| InputPollOption::new(o.clone())),
                    )
                    .type_(PollType::Quiz)
                    .is_anonymous(false)
                    .correct_option_id(question.correct as u8)
                    .explanation(question.explanation.clone())
                    .open_period(open as u16)
                    .into_future()
                })
                .await;
                let attached = match &sent {
                    Ok(message) => match message.poll() {
                        Some(poll) => service
                            .attach_poll(
                                quiz,
                                index,
                                &poll.id.0,
                                question.correct,
                                Some(i64::from(message.id.0)),
                            )
                            .map_err(|e| e.to_string()),
                        None => Err("the Bot API returned no poll".to_string()),
                    },
                    Err(err) => Err(err.to_string()),
                };
                if let Err(why) = attached {
                    // The chat is gone or the bot cannot post there: end the quiz cleanly.
                    tracing::warn!(chat, error = %why, "could not send a quiz question; stopping the quiz");
                    let _ = service.stop(chat);
                    let reply = Reply::notice(
                        "I could not post the next quiz question, so the quiz has ended.",
                    );
                    let _ = send_reply(&bot, &app, ChatId(chat), None, &reply).await;
                    return;
                }
            }
        }
    }
}

/// Closes a quiz's open poll early (on /stop); failures only mean it had closed already.
pub async fn close_poll(bot: &Bot, chat: i64, message: i64) {
    let Ok(id) = i32::try_from(message) else {
        return;
    };
    if let Err(err) = bot.stop_poll(ChatId(chat), MessageId(id)).await {
        tracing::debug!(error = %err, "stopPoll failed (the poll was probably closed)");
    }
}

/// Counts a poll answer. Unknown polls, retracted votes and duplicates change nothing.
pub async fn on_poll_answer(answer: PollAnswer, app: Arc<App>) -> anyhow::Result<()> {
    let Some(service) = app.handler.quiz() else {
        return Ok(());
    };
    let MaybeAnonymousUser::User(user) = &answer.voter else {
        return Ok(());
    };
    let name = match &user.last_name {
        Some(last) => format!("{} {last}", user.first_name),
        None => user.first_name.clone(),
    };
    match service.answer_poll(
        &answer.poll_id.0,
        user.id.0 as i64,
        &name,
        &answer.option_ids,
    ) {
        Ok(Some(AnswerOutcome::Recorded { chat, correct, .. })) => {
            tracing::debug!(chat, correct, "quiz answer recorded");
        }
        Ok(_) => {}
        Err(err) => tracing::error!(error = %err, "could not record a quiz answer"),
    }
    Ok(())
}

/// Restarts the drivers of quizzes that were running when the bot stopped.
pub fn resume(bot: &Bot, app: &Arc<App>) {
    let Some(service) = app.handler.quiz() else {
        return;
    };
    match service.running() {
        Ok(running) => {
            for (chat, quiz) in running {
                tracing::info!(chat, quiz, "resuming a quiz");
                tokio::spawn(drive(bot.clone(), app.clone(), chat, quiz));
            }
        }
        Err(err) => tracing::error!(error = %err, "could not list running quizzes"),
    }
}
