//! The quiz driver every adapter shares: it decides what happens next in one quiz and records
//! what the adapter reports back, while the adapter only delivers (a Telegram poll, a question
//! printed in the terminal) and waits. It is a synchronous state machine without I/O of its
//! own: the Telegram adapter runs it from an async task (its store calls on the blocking
//! pool), the terminal calls it between lines the user types.
//!
//! Rules it keeps for every adapter: a question is recorded as asked before it is delivered
//! and never asked twice; a question that cannot be delivered ends the quiz; a quiz whose
//! stored state cannot be read ends instead of being retried forever; a quiz is followed by
//! id, so it keeps running when its chat moves to a new id.

use std::sync::Arc;

use super::session::{QuizService, Step};
use super::{shorten, QuizQuestion, MAX_QUESTION_CHARS};
use crate::error::{Error, Result};
use crate::store::PlayerRecord;

/// What the adapter does next for a quiz.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Deliver this question, then report it with [`Driver::delivered`] or
    /// [`Driver::undeliverable`].
    Ask(Question),
    /// Nothing to do before `until` (unix seconds), when the current question closes.
    Wait {
        /// Unix seconds.
        until: i64,
    },
    /// The quiz is over: post its scoreboard in `chat`.
    Finished {
        /// The chat the quiz ran in.
        chat: i64,
        /// Best first.
        board: Vec<PlayerRecord>,
    },
    /// The quiz's stored state could not be read; it has been ended. Tell `chat`.
    Unreadable {
        /// The chat the quiz ran in.
        chat: i64,
    },
    /// The quiz is no longer running (stopped, or ended elsewhere): nothing to do.
    Over,
}

/// A question to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// The chat to ask it in.
    pub chat: i64,
    /// 0-based index.
    pub index: usize,
    /// Questions in the quiz.
    pub total: usize,
    /// The question.
    pub question: QuizQuestion,
    /// When it closes (unix seconds).
    pub deadline: i64,
}

impl Question {
    /// The question as a quiz poll shows it, "[2/5] …", within Telegram's 300 characters.
    pub fn poll_text(&self) -> String {
        shorten(
            &format!(
                "[{}/{}] {}",
                self.index + 1,
                self.total,
                self.question.question
            ),
            MAX_QUESTION_CHARS,
        )
    }
}

/// Drives one quiz.
#[derive(Debug, Clone)]
pub struct Driver {
    service: Arc<QuizService>,
    quiz: i64,
}

impl Driver {
    /// The driver of quiz `quiz`.
    pub fn new(service: Arc<QuizService>, quiz: i64) -> Driver {
        Driver { service, quiz }
    }

    /// The quiz this driver drives.
    pub fn quiz(&self) -> i64 {
        self.quiz
    }

    /// What to do at `now` (unix seconds). With `answered`, the adapter knows the current
    /// question has been answered (the terminal's one player) and the quiz moves on without
    /// waiting for it to close.
    pub fn next(&self, now: i64, answered: bool) -> Result<Next> {
        match self.service.step(self.quiz, now, answered) {
            Ok(Step::Ask {
                chat,
                index,
                total,
                question,
                deadline,
                ..
            }) => Ok(Next::Ask(Question {
                chat,
                index,
                total,
                question,
                deadline,
            })),
            Ok(Step::Wait { until, .. }) => Ok(Next::Wait { until }),
            Ok(Step::Finished { chat, board, .. }) => Ok(Next::Finished { chat, board }),
            Ok(Step::Idle) => Ok(Next::Over),
            Err(Error::BadRecord(why)) => {
                tracing::error!(quiz = self.quiz, %why, "ending a quiz whose state cannot be read");
                let chat = self.service.store().quiz(self.quiz)?.map(|q| q.chat);
                self.service.abandon(self.quiz)?;
                Ok(chat.map_or(Next::Over, |chat| Next::Unreadable { chat }))
            }
            Err(err) => Err(err),
        }
    }

    /// Records that `question` went out as poll `poll` (in message `message`, when known) and
    /// closes at `deadline` (counted from its delivery, so a poll that waited in a busy
    /// chat's queue never overlaps the next), so that answers to it count. `false` when the
    /// quiz was stopped while the poll was on its way: the poll must be closed at once, and
    /// its votes count for nothing.
    pub fn delivered(
        &self,
        question: &Question,
        poll: &str,
        message: Option<i64>,
        deadline: i64,
    ) -> Result<bool> {
        self.service.poll_delivered(
            self.quiz,
            question.index,
            poll,
            question.question.correct,
            message,
            deadline,
        )
    }

    /// Records that the question could not be delivered (the chat is gone, or the bot may not
    /// post there): the quiz ends.
    pub fn undeliverable(&self) -> Result<()> {
        self.service.abandon(self.quiz)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::QuizSettings;
    use crate::corpus::Corpus;
    use crate::quiz::pool::QuestionPool;
    use crate::store::{SqliteStore, Store};
    use rand::SeedableRng;

    fn started(questions: &str) -> (Driver, Arc<QuizService>, Corpus) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let corpus = Corpus::load(&root.join("corpus")).unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
        let service = Arc::new(QuizService::new(
            store,
            QuestionPool::new(Vec::new()),
            QuizSettings::default(),
        ));
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let quiz = service
            .start(&corpus, 42, 1, questions, 0, false, &mut rng)
            .unwrap()
            .unwrap()
            .quiz;
        (Driver::new(service.clone(), quiz), service, corpus)
    }

    #[test]
    fn a_question_recorded_but_not_delivered_before_a_crash_is_never_asked_again() {
        let (driver, _service, _) = started("2");
        let Next::Ask(first) = driver.next(0, false).unwrap() else {
            panic!("a first question");
        };
        // The process dies here, after recording the question and perhaps after posting it.
        // A new driver (after the restart) waits for the question to close, then moves on.
        let again = Driver::new(driver.service.clone(), driver.quiz());
        assert_eq!(
            again.next(1, false).unwrap(),
            Next::Wait {
                until: first.deadline
            }
        );
        let Next::Ask(second) = again.next(first.deadline, false).unwrap() else {
            panic!("the second question");
        };
        assert_eq!(second.index, 1);
        assert!(second.poll_text().starts_with("[2/2] "));
        let Next::Finished { chat, board } = again.next(second.deadline, false).unwrap() else {
            panic!("the end");
        };
        assert_eq!((chat, board.len()), (42, 0));
        assert_eq!(again.next(second.deadline, false).unwrap(), Next::Over);
    }

    #[test]
    fn an_undeliverable_question_ends_the_quiz_and_an_unreadable_one_says_so() {
        let (driver, service, _) = started("2");
        let Next::Ask(_) = driver.next(0, false).unwrap() else {
            panic!("a question");
        };
        driver.undeliverable().unwrap();
        assert_eq!(driver.next(100, false).unwrap(), Next::Over);
        let broken = service
            .store()
            .create_quiz(43, 1, "[{", 0)
            .unwrap()
            .unwrap();
        let driver = Driver::new(service.clone(), broken);
        assert_eq!(
            driver.next(0, false).unwrap(),
            Next::Unreadable { chat: 43 }
        );
        assert_eq!(driver.next(0, false).unwrap(), Next::Over);
    }
}
