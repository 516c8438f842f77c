//! The quiz state machine over the store. Time is passed in (`now`, unix seconds), so tests
//! drive it with a fake clock; the [driver](super::driver) decides when to call
//! [`QuizService::step`].
//!
//! A quiz asks its questions one at a time. The next question comes when the current one's
//! open period ends (or at once when `force` is set, as the terminal does after an answer).
//! Everything lives in the store, so after a restart a running quiz resumes where it was and
//! answers to its open poll still count. A question is recorded as asked (and seen by the
//! chat) before it is posted, and never asked again: after a crash between the two, the quiz
//! moves on rather than risk posting it twice.

use std::collections::HashSet;
use std::sync::Arc;

use rand::Rng;

use super::pool::{parse_request, QuestionPool, Scope};
use super::QuizQuestion;
use crate::config::QuizSettings;
use crate::corpus::Corpus;
use crate::error::{Error, Result};
use crate::store::{AnswerOutcome, PlayerRecord, Store, StoredQuiz};

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

/// What the adapter should do next for a quiz.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Ask this question (send a poll, or print it).
    Ask {
        /// Quiz id.
        quiz: i64,
        /// The chat the quiz runs in (it changes when a group becomes a supergroup).
        chat: i64,
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
        /// The chat the quiz ran in.
        chat: i64,
        /// Best first.
        board: Vec<PlayerRecord>,
        /// Questions asked.
        total: usize,
    },
    /// The quiz is not running (stopped, finished, or never existed).
    Idle,
}

/// The outcome of `/stop`.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// The quiz was stopped.
    Stopped {
        /// Its scoreboard, best first.
        board: Vec<PlayerRecord>,
        /// The message of its open poll, to close it.
        open_poll: Option<i64>,
    },
    /// Only the quiz's starter or an admin may stop it.
    NotAllowed,
    /// No quiz is running in the chat.
    NotRunning,
}

/// Quizzes for every chat.
pub struct QuizService {
    store: Arc<dyn Store>,
    pool: QuestionPool,
    settings: QuizSettings,
    /// Added to the document index of every question asked (a text added from a chat numbers
    /// its documents apart from the host's, so that records by section never mix them).
    doc_base: usize,
}

impl std::fmt::Debug for QuizService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuizService")
            .field("settings", &self.settings)
            .finish()
    }
}

/// A stored quiz's questions, decoded.
fn questions(quiz: &StoredQuiz) -> Result<Vec<QuizQuestion>> {
    serde_json::from_str(&quiz.questions)
        .map_err(|e| Error::BadRecord(format!("the questions of quiz {}: {e}", quiz.id)))
}

impl QuizService {
    /// A service over a store and a question pool.
    pub fn new(store: Arc<dyn Store>, pool: QuestionPool, settings: QuizSettings) -> QuizService {
        QuizService {
            store,
            pool,
            settings,
            doc_base: 0,
        }
    }

    /// The same store and settings over another text's questions, whose documents are
    /// numbered from `doc_base` in what the store records.
    pub fn with_pool(&self, pool: QuestionPool, doc_base: usize) -> QuizService {
        QuizService {
            store: Arc::clone(&self.store),
            pool,
            settings: self.settings.clone(),
            doc_base,
        }
    }

    /// What the store's document numbers start from for this service's text.
    pub fn doc_base(&self) -> usize {
        self.doc_base
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The settings.
    pub fn settings(&self) -> &QuizSettings {
        &self.settings
    }

    /// Starts a quiz in `chat` for user `by` from `/quiz` arguments. With `cooldown`, a quiz
    /// started in the chat less than `cooldown_secs` ago refuses a new one. `Err` is a message
    /// for the user.
    #[allow(clippy::too_many_arguments)]
    pub fn start<R: Rng>(
        &self,
        corpus: &Corpus,
        chat: i64,
        by: i64,
        args: &str,
        now: i64,
        cooldown: bool,
        rng: &mut R,
    ) -> Result<Result<Started, String>> {
        self.start_in(corpus, None, chat, by, args, now, cooldown, rng)
    }

    /// [`Self::start`], keeping to document `doc` when given (the chat's current text): its
    /// questions only, and `§N` is section N of that document.
    #[allow(clippy::too_many_arguments)]
    pub fn start_in<R: Rng>(
        &self,
        corpus: &Corpus,
        doc: Option<usize>,
        chat: i64,
        by: i64,
        args: &str,
        now: i64,
        cooldown: bool,
        rng: &mut R,
    ) -> Result<Result<Started, String>> {
        let running = "A quiz is already running here. Answer its questions, or /stop it first.";
        if self.store.running_quiz(chat)?.is_some() {
            return Ok(Err(running.into()));
        }
        if cooldown {
            let wait = i64::from(self.settings.cooldown_secs);
            if let Some(last) = self.store.last_quiz_start(chat)? {
                let left = last.saturating_add(wait).saturating_sub(now);
                if left > 0 {
                    return Ok(Err(format!(
                        "A quiz was started here moments ago. The next one can start in {left} s."
                    )));
                }
            }
        }
        let mut request = match parse_request(
            args,
            self.settings.questions as usize,
            self.settings.max_questions as usize,
            corpus,
        ) {
            Ok(r) => r,
            Err(message) => return Ok(Err(message)),
        };
        if let (Some(d), Scope::Section(_, n)) = (doc, &request.scope) {
            if corpus.section(d, *n).is_none() {
                return Ok(Err(format!(
                    "This chat's text has no section {n}. See /sections."
                )));
            }
            request.scope = Scope::Section(d, *n);
        }
        let seen: HashSet<String> = self
            .store
            .seen_questions(chat, now - RECENT_SECS)?
            .into_iter()
            .collect();
        let mut questions = self.pool.pick_in(corpus, &request, doc, &seen, rng);
        for q in &mut questions {
            q.doc += self.doc_base;
        }
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
        let json = serde_json::to_string(&questions).map_err(|e| Error::Store(e.to_string()))?;
        let Some(quiz) = self.store.create_quiz(chat, by, &json, now)? else {
            return Ok(Err(running.into()));
        };
        Ok(Ok(Started {
            quiz,
            count: questions.len(),
            scope,
            requested: request.count,
        }))
    }

    /// The running quiz of `chat`, if any.
    pub fn running_in(&self, chat: i64) -> Result<Option<i64>> {
        Ok(self.store.running_quiz(chat)?.map(|q| q.id))
    }

    /// Advances quiz `quiz` as far as `now` allows; `force` moves on without waiting for the
    /// current question to close. A quiz whose questions cannot be decoded is an
    /// [`Error::BadRecord`].
    pub fn step(&self, quiz: i64, now: i64, force: bool) -> Result<Step> {
        let Some(quiz) = self.store.quiz(quiz)? else {
            return Ok(Step::Idle);
        };
        let questions = questions(&quiz)?;
        let total = questions.len();
        if quiz.current.is_some() && !force {
            if let Some(until) = quiz.deadline.filter(|&d| d > now) {
                // Also when the question has no poll: it may have been posted just before a
                // crash, and asking it again could post it twice.
                return Ok(Step::Wait {
                    quiz: quiz.id,
                    until,
                });
            }
        }
        let next = quiz.current.map_or(0, |i| i + 1);
        let Some(question) = questions.get(next).cloned() else {
            self.store.finish_quiz(quiz.id, false)?;
            return Ok(Step::Finished {
                quiz: quiz.id,
                chat: quiz.chat,
                board: self.scoreboard(quiz.id)?,
                total,
            });
        };
        let deadline = now + i64::from(self.settings.open_period_secs);
        self.store
            .begin_question(quiz.id, next, &question.key, deadline, now)?;
        Ok(Step::Ask {
            quiz: quiz.id,
            chat: quiz.chat,
            index: next,
            total,
            question,
            deadline,
        })
    }

    /// Records that question `index` of `quiz` reached the chat as `poll` and closes at
    /// `deadline`; `false` when the quiz stopped or moved on while the poll was on its way.
    pub fn poll_delivered(
        &self,
        quiz: i64,
        index: usize,
        poll: &str,
        correct: usize,
        message: Option<i64>,
        deadline: i64,
    ) -> Result<bool> {
        self.store
            .poll_delivered(quiz, index, poll, correct, message, deadline)
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

    /// Counts a poll answer at `now`: a quiz poll's (scored; the question's section counted
    /// for the member; a wrong answer puts the question in the member's review deck) or a
    /// review poll's (its card moves on the Leitner schedule). An empty option list (a
    /// retracted vote) changes nothing.
    pub fn answer_poll(
        &self,
        poll: &str,
        user: i64,
        name: &str,
        options: &[u8],
        now: i64,
    ) -> Result<Option<AnswerOutcome>> {
        let Some(&option) = options.first() else {
            return Ok(None);
        };
        let option = usize::from(option);
        // What the answer records besides the score, written in the same transaction.
        let question = self.poll_question(poll)?;
        let json = match &question {
            Some(q) => Some(serde_json::to_string(q).map_err(|e| Error::Store(e.to_string()))?),
            None => None,
        };
        let follow =
            question
                .as_ref()
                .zip(json.as_deref())
                .map(|(q, json)| crate::store::AnswerFollowUp {
                    doc: q.doc,
                    section: q.section,
                    key: &q.key,
                    question: json,
                    now,
                });
        let outcome = self.store.record_answer_with(
            poll,
            user,
            name,
            option,
            &super::score,
            follow.as_ref(),
        )?;
        match &outcome {
            AnswerOutcome::Recorded { .. } => {}
            AnswerOutcome::UnknownPoll => {
                if let Some(answer) =
                    self.store
                        .answer_review(poll, user, option, now, &super::review::schedule)?
                {
                    return Ok(Some(AnswerOutcome::Reviewed {
                        chat: answer.chat,
                        user,
                        key: answer.key,
                        correct: answer.correct,
                    }));
                }
            }
            _ => {}
        }
        Ok(Some(outcome))
    }

    /// The question a quiz poll asked, if it can be read.
    fn poll_question(&self, poll: &str) -> Result<Option<QuizQuestion>> {
        let Some((json, index)) = self.store.poll_question(poll)? else {
            return Ok(None);
        };
        let questions: Vec<QuizQuestion> = match serde_json::from_str(&json) {
            Ok(q) => q,
            Err(_) => return Ok(None),
        };
        Ok(questions.into_iter().nth(index))
    }

    /// The next card of `user`'s review at `now`, other than `skip` (the card just answered).
    pub fn review_next(
        &self,
        user: i64,
        now: i64,
        skip: Option<&str>,
    ) -> Result<super::review::ReviewNext> {
        super::review::next(self.store.as_ref(), user, now, skip)
    }

    /// Records the poll that asks `user` review card `key` in `chat`.
    pub fn attach_review_poll(
        &self,
        poll: &str,
        user: i64,
        chat: i64,
        key: &str,
        correct: usize,
    ) -> Result<()> {
        self.store
            .attach_review_poll(poll, user, chat, key, correct)
    }

    /// `user`'s records by section in `chat`.
    pub fn sections(&self, chat: i64, user: i64) -> Result<Vec<crate::store::SectionRecord>> {
        self.store.section_records(chat, user)
    }

    /// A quiz's scoreboard so far.
    pub fn scoreboard(&self, quiz: i64) -> Result<Vec<PlayerRecord>> {
        Ok(super::scoreboard(self.store.quiz_answers(quiz)?))
    }

    /// Stops `chat`'s quiz for user `by`: allowed to the member who started it and to an
    /// `admin`. Works on a quiz whose questions cannot be decoded.
    pub fn stop(&self, chat: i64, by: i64, admin: bool) -> Result<Stop> {
        let Some(quiz) = self.store.running_quiz(chat)? else {
            return Ok(Stop::NotRunning);
        };
        // A quiz from before starters were recorded may be stopped by anyone, as then.
        if !admin && quiz.started_by.is_some_and(|starter| starter != by) {
            return Ok(Stop::NotAllowed);
        }
        self.store.finish_quiz(quiz.id, true)?;
        Ok(Stop::Stopped {
            board: self.scoreboard(quiz.id)?,
            open_poll: quiz.current_message,
        })
    }

    /// Ends quiz `quiz` without a scoreboard (its question could not be posted, or its record
    /// cannot be read).
    pub fn abandon(&self, quiz: i64) -> Result<()> {
        self.store.finish_quiz(quiz, true)
    }

    /// A player's record in a chat.
    pub fn score(&self, chat: i64, user: i64) -> Result<Option<PlayerRecord>> {
        self.store.player(chat, user)
    }

    /// A chat's leaderboard.
    pub fn top(&self, chat: i64) -> Result<Vec<PlayerRecord>> {
        self.store.leaderboard(chat, 10)
    }

    /// Clears a chat's scores; returns how many player records there were.
    pub fn reset(&self, chat: i64) -> Result<usize> {
        self.store.reset_scores(chat)
    }

    /// Moves a chat's scores, history and running quiz to its new id.
    pub fn migrate(&self, old: i64, new: i64, now: i64) -> Result<()> {
        self.store.migrate_chat(old, new, now)
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
        let started = svc
            .start(&corpus, 1, 10, "3", 1000, true, &mut rng)
            .unwrap()
            .unwrap();
        assert_eq!(started.count, 3);
        assert!(svc
            .start(&corpus, 1, 10, "", 1000, true, &mut rng)
            .unwrap()
            .unwrap_err()
            .contains("already running"));
        let mut now = 1000;
        for i in 0..3 {
            let Step::Ask {
                quiz,
                chat,
                index,
                question,
                deadline,
                ..
            } = svc.step(started.quiz, now, false).unwrap()
            else {
                panic!("expected a question");
            };
            assert_eq!((index, chat), (i, 1));
            assert_eq!(deadline, now + 30);
            let poll = format!("poll-{i}");
            svc.attach_poll(quiz, index, &poll, question.correct, None)
                .unwrap();
            // Before the deadline the quiz waits.
            assert_eq!(
                svc.step(quiz, now + 10, false).unwrap(),
                Step::Wait {
                    quiz,
                    until: deadline
                }
            );
            // Ann always right, Bob always wrong; Bob's duplicate update changes nothing.
            let wrong = (question.correct + 1) % question.options.len();
            svc.answer_poll(&poll, 10, "Ann", &[question.correct as u8], now)
                .unwrap();
            svc.answer_poll(&poll, 20, "Bob", &[wrong as u8], now)
                .unwrap();
            assert_eq!(
                svc.answer_poll(&poll, 20, "Bob", &[question.correct as u8], now)
                    .unwrap(),
                Some(AnswerOutcome::Duplicate)
            );
            assert_eq!(
                svc.answer_poll(&poll, 30, "Cy", &[], now).unwrap(),
                None,
                "retracted vote"
            );
            now = deadline;
        }
        let Step::Finished { board, total, .. } = svc.step(started.quiz, now, false).unwrap()
        else {
            panic!("expected the end");
        };
        assert_eq!(total, 3);
        assert_eq!(board[0].name, "Ann");
        assert_eq!(
            (board[0].correct, board[0].best_streak, board[0].points),
            (3, 3, 35)
        );
        assert_eq!((board[1].name.as_str(), board[1].correct), ("Bob", 0));
        assert_eq!(svc.step(started.quiz, now, false).unwrap(), Step::Idle);
        assert_eq!(svc.top(1).unwrap()[0].name, "Ann");
        // Bob's wrong answers joined his review deck, due at once; Ann's deck is empty.
        let bob = svc.store().deck(20, now).unwrap();
        assert_eq!((bob.cards, bob.due_now), (3, 3));
        assert_eq!(svc.store().deck(10, now).unwrap().cards, 0);
        let by_section: i64 = svc
            .sections(1, 20)
            .unwrap()
            .iter()
            .map(|r| r.answered)
            .sum();
        assert_eq!(by_section, 3, "every answer counts for its section");
    }

    #[test]
    fn bad_requests_get_messages_and_change_nothing() {
        let (svc, corpus) = service();
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        for args in ["0", "9999", "zanzibar", "§77"] {
            assert!(
                svc.start(&corpus, 5, 1, args, 0, true, &mut rng)
                    .unwrap()
                    .is_err(),
                "{args}"
            );
        }
        assert_eq!(svc.running_in(5).unwrap(), None);
        assert_eq!(
            svc.answer_poll("unknown", 1, "X", &[0], 0).unwrap(),
            Some(AnswerOutcome::UnknownPoll)
        );
    }

    #[test]
    fn topics_and_sections_keep_to_their_scope_and_repeats_are_avoided() {
        let (svc, corpus) = service();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let keys = |svc: &QuizService, quiz: i64| -> HashSet<String> {
            let stored = svc.store().quiz(quiz).unwrap().unwrap();
            questions(&stored)
                .unwrap()
                .into_iter()
                .map(|q| q.key)
                .collect()
        };
        let started = svc
            .start(&corpus, 2, 1, "4 §6", 0, false, &mut rng)
            .unwrap()
            .unwrap();
        let stored = svc.store().running_quiz(2).unwrap().unwrap();
        assert_eq!(stored.id, started.quiz);
        assert!(questions(&stored).unwrap().iter().all(|q| q.section == 6));
        let first = keys(&svc, started.quiz);
        // Only asked questions count as seen: run the whole quiz.
        let mut now = 0;
        while let Step::Ask { deadline, .. } = svc.step(started.quiz, now, false).unwrap() {
            now = deadline;
        }
        let again = svc
            .start(&corpus, 2, 1, "4 §6", now, false, &mut rng)
            .unwrap()
            .unwrap();
        assert!(
            first.is_disjoint(&keys(&svc, again.quiz)),
            "recently seen questions come last"
        );
        svc.stop(2, 1, false).unwrap();
        let started = svc
            .start(&corpus, 3, 1, "soviets", 0, false, &mut rng)
            .unwrap()
            .unwrap();
        assert_eq!(started.count, 5);
    }

    #[test]
    fn a_question_is_seen_when_asked_so_a_start_stop_loop_cannot_use_up_the_pool() {
        let (svc, corpus) = service();
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        for i in 0..5 {
            let started = svc
                .start(&corpus, 9, 1, "20", i * 1000, false, &mut rng)
                .unwrap()
                .unwrap();
            // Started and stopped before its first question: nothing was asked.
            svc.stop(9, 1, false).unwrap();
            assert_eq!(svc.step(started.quiz, i * 1000, false).unwrap(), Step::Idle);
        }
        assert!(svc.store().seen_questions(9, 0).unwrap().is_empty());
        let started = svc
            .start(&corpus, 9, 1, "2", 10_000, false, &mut rng)
            .unwrap()
            .unwrap();
        svc.step(started.quiz, 10_000, false).unwrap();
        assert_eq!(svc.store().seen_questions(9, 0).unwrap().len(), 1);
    }

    #[test]
    fn only_the_starter_or_an_admin_stops_a_quiz_and_groups_cool_down() {
        let (svc, corpus) = service();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        svc.start(&corpus, -7, 100, "2", 0, true, &mut rng)
            .unwrap()
            .unwrap();
        assert_eq!(svc.stop(-7, 200, false).unwrap(), Stop::NotAllowed);
        assert!(matches!(
            svc.stop(-7, 200, true).unwrap(),
            Stop::Stopped { .. }
        ));
        assert_eq!(svc.stop(-7, 100, false).unwrap(), Stop::NotRunning);
        let cooldown = i64::from(QuizSettings::default().cooldown_secs);
        let refused = svc
            .start(&corpus, -7, 100, "2", cooldown - 1, true, &mut rng)
            .unwrap()
            .unwrap_err();
        assert!(refused.contains("in 1 s"), "{refused}");
        svc.start(&corpus, -7, 100, "2", cooldown, true, &mut rng)
            .unwrap()
            .unwrap();
        svc.stop(-7, 100, false).unwrap();
        // The starter may stop their own quiz; without the cooldown (private chats) a new one
        // may start at once.
        svc.start(&corpus, -7, 100, "2", cooldown, false, &mut rng)
            .unwrap()
            .unwrap();
    }

    #[test]
    fn a_quiz_whose_questions_cannot_be_read_is_an_error_and_can_still_be_stopped() {
        let (svc, _) = service();
        let id = svc
            .store()
            .create_quiz(4, 1, "{broken", 0)
            .unwrap()
            .unwrap();
        assert!(matches!(svc.step(id, 0, false), Err(Error::BadRecord(_))));
        assert!(matches!(
            svc.stop(4, 2, true).unwrap(),
            Stop::Stopped { .. }
        ));
        assert_eq!(svc.step(id, 0, false).unwrap(), Step::Idle);
    }
}
