//! The quiz state machine over the store. Time is passed in (`now`, unix seconds), so tests
//! drive it with a fake clock; the adapters decide when to call [`QuizService::step`].
//!
//! A quiz asks its questions one at a time. The next question comes when the current one's
//! open period ends (or at once when `force` is set, as the terminal does after an answer).
//! Everything lives in the store, so after a restart a running quiz resumes where it was and
//! answers to its open poll still count.

use std::collections::HashSet;
use std::sync::Arc;

use rand::Rng;

use super::pool::{parse_request, QuestionPool, Scope};
use super::QuizQuestion;
use crate::config::QuizSettings;
use crate::corpus::Corpus;
use crate::error::Result;
use crate::store::{AnswerOutcome, PlayerRecord, Store};

/// How long a chat's questions count as recently seen.
const RECENT_SECS: i64 = 7 * 24 * 3600;

/// A quiz that was just started.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    /// Quiz id.
    pub quiz: i64,
    /// Number of questions.
    pub count: usize,
    /// What it keeps to, for the announcement.
    pub scope: String,
    /// Fewer questions than asked for were available.
    pub requested: usize,
}

/// What the adapter should do next for a chat's quiz.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Ask this question (send a poll, or print it).
    Ask {
        /// Quiz id.
        quiz: i64,
        /// 0-based question index.
        index: usize,
        /// Questions in the quiz.
        total: usize,
        /// The question.
        question: QuizQuestion,
        /// When it closes (unix seconds).
        deadline: i64,
    },
    /// Wait until the current question closes.
    Wait {
        /// Quiz id.
        quiz: i64,
        /// Unix seconds.
        until: i64,
    },
    /// The quiz is over: post its scoreboard.
    Finished {
        /// Quiz id.
        quiz: i64,
        /// Best first.
        board: Vec<PlayerRecord>,
        /// Questions asked.
        total: usize,
    },
    /// No quiz is running in this chat.
    Idle,
}

/// Quizzes for every chat.
pub struct QuizService {
    store: Arc<dyn Store>,
    pool: QuestionPool,
    settings: QuizSettings,
}

impl std::fmt::Debug for QuizService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuizService")
            .field("settings", &self.settings)
            .finish()
    }
}

impl QuizService {
    /// A service over a store and a question pool.
    pub fn new(store: Arc<dyn Store>, pool: QuestionPool, settings: QuizSettings) -> QuizService {
        QuizService {
            store,
            pool,
            settings,
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The settings.
    pub fn settings(&self) -> &QuizSettings {
        &self.settings
    }

    /// Starts a quiz in `chat` from `/quiz` arguments. `Err` is a message for the user.
    pub fn start<R: Rng>(
        &self,
        corpus: &Corpus,
        chat: i64,
        args: &str,
        now: i64,
        rng: &mut R,
    ) -> Result<Result<Started, String>> {
        if self.store.running_quiz(chat)?.is_some() {
            return Ok(Err(
                "A quiz is already running here. Answer its questions, or /stop it first.".into(),
            ));
        }
        let request = match parse_request(
            args,
            self.settings.questions as usize,
            self.settings.max_questions as usize,
            corpus,
        ) {
            Ok(r) => r,
            Err(message) => return Ok(Err(message)),
        };
        let seen: HashSet<String> = self
            .store
            .seen_questions(chat, now - RECENT_SECS)?
            .into_iter()
            .collect();
        let questions = self.pool.pick(corpus, &request, &seen, rng);
        let scope = match &request.scope {
            Scope::All => "the whole text".to_string(),
            Scope::Section(d, s) => corpus
                .section(*d, *s)
                .map(|sec| format!("§{} {}", sec.number, sec.title))
                .unwrap_or_default(),
            Scope::Topic(t) => format!("“{t}”"),
        };
        if questions.is_empty() {
            return Ok(Err(match request.scope {
                Scope::Topic(t) => format!("I have no questions about “{t}”. Try another word, a section (/quiz §2) or /sections."),
                _ => "I could not make questions from this part of the text.".to_string(),
            }));
        }
        let Some(quiz) = self.store.create_quiz(chat, &questions, now)? else {
            return Ok(Err(
                "A quiz is already running here. Answer its questions, or /stop it first.".into(),
            ));
        };
        Ok(Ok(Started {
            quiz,
            count: questions.len(),
            scope,
            requested: request.count,
        }))
    }

    /// Advances a chat's quiz as far as `now` allows. With `expected`, only that quiz is
    /// advanced (a driver of a stopped quiz must not move the next one on).
    pub fn step(&self, chat: i64, expected: Option<i64>, now: i64, force: bool) -> Result<Step> {
        let Some(quiz) = self.store.running_quiz(chat)? else {
            return Ok(Step::Idle);
        };
        if expected.is_some_and(|id| id != quiz.id) {
            return Ok(Step::Idle);
        }
        let total = quiz.questions.len();
        let open = i64::from(self.settings.open_period_secs);
        if let Some(i) = quiz.current {
            if quiz.current_poll.is_none() {
                // Asked but never delivered (a crash or a failed send): ask it again.
                let deadline = now + open;
                self.store.set_current(quiz.id, i, deadline)?;
                return Ok(Step::Ask {
                    quiz: quiz.id,
                    index: i,
                    total,
                    question: quiz.questions[i].clone(),
                    deadline,
                });
            }
            if !force && quiz.deadline.is_some_and(|d| d > now) {
                return Ok(Step::Wait {
                    quiz: quiz.id,
                    until: quiz.deadline.unwrap_or(now),
                });
            }
        }
        let next = quiz.current.map_or(0, |i| i + 1);
        if next >= total {
            self.store.finish_quiz(quiz.id, false)?;
            return Ok(Step::Finished {
                quiz: quiz.id,
                board: self.store.quiz_scoreboard(quiz.id)?,
                total,
            });
        }
        let deadline = now + open;
        self.store.set_current(quiz.id, next, deadline)?;
        Ok(Step::Ask {
            quiz: quiz.id,
            index: next,
            total,
            question: quiz.questions[next].clone(),
            deadline,
        })
    }

    /// Records the poll that carries a question.
    pub fn attach_poll(
        &self,
        quiz: i64,
        index: usize,
        poll: &str,
        correct: usize,
        message: Option<i64>,
    ) -> Result<()> {
        self.store.attach_poll(quiz, index, poll, correct, message)
    }

    /// Counts a poll answer. An empty option list (a retracted vote) changes nothing.
    pub fn answer_poll(
        &self,
        poll: &str,
        user: i64,
        name: &str,
        options: &[u8],
    ) -> Result<Option<AnswerOutcome>> {
        match options.first() {
            None => Ok(None),
            Some(&option) => Ok(Some(self.store.record_answer(
                poll,
                user,
                name,
                usize::from(option),
            )?)),
        }
    }

    /// Stops a chat's quiz; returns its scoreboard, or `None` when none was running.
    pub fn stop(&self, chat: i64) -> Result<Option<(Vec<PlayerRecord>, Option<i64>)>> {
        let Some(quiz) = self.store.running_quiz(chat)? else {
            return Ok(None);
        };
        self.store.finish_quiz(quiz.id, true)?;
        Ok(Some((
            self.store.quiz_scoreboard(quiz.id)?,
            quiz.current_message,
        )))
    }

    /// A player's record in a chat.
    pub fn score(&self, chat: i64, user: i64) -> Result<Option<PlayerRecord>> {
        self.store.player(chat, user)
    }

    /// A chat's leaderboard.
    pub fn top(&self, chat: i64) -> Result<Vec<PlayerRecord>> {
        self.store.leaderboard(chat, 10)
    }

    /// (chat, quiz) of every running quiz, to resume after a restart.
    pub fn running(&self) -> Result<Vec<(i64, i64)>> {
        Ok(self
            .store
            .running_quizzes()?
            .into_iter()
            .map(|q| (q.chat, q.id))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;
    use rand::SeedableRng;

    fn service() -> (QuizService, Corpus) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let corpus = Corpus::load(&root.join("corpus")).unwrap();
        let bank = crate::quiz::bank::load(&root.join("corpus/quiz"), &corpus)
            .unwrap()
            .questions;
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
        (
            QuizService::new(store, QuestionPool::new(bank), QuizSettings::default()),
            corpus,
        )
    }

    #[test]
    fn a_quiz_runs_on_the_clock_and_ends_with_a_scoreboard() {
        let (svc, corpus) = service();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let started = svc.start(&corpus, 1, "3", 1000, &mut rng).unwrap().unwrap();
        assert_eq!(started.count, 3);
        assert!(svc
            .start(&corpus, 1, "", 1000, &mut rng)
            .unwrap()
            .unwrap_err()
            .contains("already running"));
        let mut now = 1000;
        for i in 0..3 {
            let Step::Ask {
                quiz,
                index,
                question,
                deadline,
                ..
            } = svc.step(1, None, now, false).unwrap()
            else {
                panic!("expected a question");
            };
            assert_eq!(index, i);
            assert_eq!(deadline, now + 30);
            let poll = format!("poll-{i}");
            svc.attach_poll(quiz, index, &poll, question.correct, None)
                .unwrap();
            // Before the deadline the quiz waits.
            assert_eq!(
                svc.step(1, None, now + 10, false).unwrap(),
                Step::Wait {
                    quiz,
                    until: deadline
                }
            );
            // Ann always right, Bob always wrong; Bob's duplicate update changes nothing.
            let wrong = (question.correct + 1) % question.options.len();
            svc.answer_poll(&poll, 10, "Ann", &[question.correct as u8])
                .unwrap();
            svc.answer_poll(&poll, 20, "Bob", &[wrong as u8]).unwrap();
            assert_eq!(
                svc.answer_poll(&poll, 20, "Bob", &[question.correct as u8])
                    .unwrap(),
                Some(AnswerOutcome::Duplicate)
            );
            assert_eq!(
                svc.answer_poll(&poll, 30, "Cy", &[]).unwrap(),
                None,
                "retracted vote"
            );
            now = deadline;
        }
        let Step::Finished { board, total, .. } = svc.step(1, None, now, false).unwrap() else {
            panic!("expected the end");
        };
        assert_eq!(total, 3);
        assert_eq!(board[0].name, "Ann");
        assert_eq!(
            (board[0].correct, board[0].best_streak, board[0].points),
            (3, 3, 35)
        );
        assert_eq!((board[1].name.as_str(), board[1].correct), ("Bob", 0));
        assert_eq!(svc.step(1, None, now, false).unwrap(), Step::Idle);
        assert_eq!(svc.top(1).unwrap()[0].name, "Ann");
    }

    #[test]
    fn bad_requests_get_messages_and_change_nothing() {
        let (svc, corpus) = service();
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        for args in ["0", "9999", "zanzibar", "§77"] {
            assert!(
                svc.start(&corpus, 5, args, 0, &mut rng).unwrap().is_err(),
                "{args}"
            );
        }
        assert_eq!(svc.step(5, None, 0, false).unwrap(), Step::Idle);
        assert_eq!(
            svc.answer_poll("unknown", 1, "X", &[0]).unwrap(),
            Some(AnswerOutcome::UnknownPoll)
        );
    }

    #[test]
    fn topics_and_sections_keep_to_their_scope_and_repeats_are_avoided() {
        let (svc, corpus) = service();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let started = svc.start(&corpus, 2, "4 §6", 0, &mut rng).unwrap().unwrap();
        let quiz = svc.store().running_quiz(2).unwrap().unwrap();
        assert_eq!(quiz.id, started.quiz);
        assert!(quiz.questions.iter().all(|q| q.section == 6));
        let first: HashSet<String> = quiz.questions.iter().map(|q| q.key.clone()).collect();
        svc.stop(2).unwrap();
        svc.start(&corpus, 2, "4 §6", 10, &mut rng)
            .unwrap()
            .unwrap();
        let again: HashSet<String> = svc
            .store()
            .running_quiz(2)
            .unwrap()
            .unwrap()
            .questions
            .iter()
            .map(|q| q.key.clone())
            .collect();
        assert!(
            first.is_disjoint(&again),
            "recently seen questions come last"
        );
        svc.stop(2).unwrap();
        let started = svc
            .start(&corpus, 3, "soviets", 0, &mut rng)
            .unwrap()
            .unwrap();
        assert_eq!(started.count, 5);
    }
}
