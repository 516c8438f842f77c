//! Persistent state behind a trait: quiz scores, quiz history and the running quizzes (their
//! polls, correct options and deadlines), so nothing is lost on restart, SIGTERM or a crash
//! between two user actions. One implementation today: SQLite ([`sqlite::SqliteStore`]).
//!
//! The store only persists: what a quiz question is, how answers score and how scoreboards
//! rank are the [`quiz`](crate::quiz) module's rules. Questions are kept as the quiz module's
//! JSON, which the store never reads, so a row it cannot decode can still be listed and
//! stopped.

pub mod backup;
pub mod sqlite;

use serde::{Deserialize, Serialize};

use crate::error::Result;

pub use sqlite::SqliteStore;

/// A quiz in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredQuiz {
    /// Quiz id.
    pub id: i64,
    /// Chat the quiz runs in.
    pub chat: i64,
    /// Who started it (a user id, or the chat's id for an anonymous admin), when known.
    pub started_by: Option<i64>,
    /// The questions, options already shuffled, as the quiz module's JSON.
    pub questions: String,
    /// Index of the question asked last, if any.
    pub current: Option<usize>,
    /// When the current question closes (unix seconds).
    pub deadline: Option<i64>,
    /// Poll carrying the current question, once sent.
    pub current_poll: Option<String>,
    /// Message carrying that poll, when known (to close it early).
    pub current_message: Option<i64>,
}

/// How one answer scores, decided by the quiz rules inside the store's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scored {
    /// Whether the answer is right.
    pub correct: bool,
    /// Points it earns.
    pub points: i64,
    /// The player's run of right answers after it.
    pub streak: i64,
}

/// The scoring rule: (chosen option, correct option, the player's streak so far) → score.
pub type ScoreRule<'a> = &'a dyn Fn(usize, usize, i64) -> Scored;

/// One recorded answer of a quiz, in question order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerRow {
    /// User id.
    pub user: i64,
    /// Display name when answering.
    pub name: String,
    /// Whether it was right.
    pub correct: bool,
    /// Points it earned.
    pub points: i64,
}

/// A player's record in one chat (or in one quiz, for a quiz's scoreboard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlayerRecord {
    /// User id.
    pub user: i64,
    /// Display name.
    pub name: String,
    /// Points.
    pub points: i64,
    /// Questions answered.
    pub answered: i64,
    /// Correct answers.
    pub correct: i64,
    /// Longest run of correct answers.
    pub best_streak: i64,
}

/// What happened to a poll answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerOutcome {
    /// Counted.
    Recorded {
        /// The chat of the quiz.
        chat: i64,
        /// Whether it was right.
        correct: bool,
        /// Points it earned.
        points: i64,
    },
    /// The poll is not one of ours (or its quiz was deleted).
    UnknownPoll,
    /// This user already answered this poll (a duplicate update).
    Duplicate,
}

/// Storage of quiz state and scores. Every method is one transaction.
pub trait Store: Send + Sync {
    /// Starts a quiz in `chat` started by `by`, with its questions as JSON; fails with
    /// `Ok(None)` if one is already running there.
    fn create_quiz(&self, chat: i64, by: i64, questions: &str, now: i64) -> Result<Option<i64>>;
    /// The running quiz of `chat`.
    fn running_quiz(&self, chat: i64) -> Result<Option<StoredQuiz>>;
    /// The quiz `id`, if it is still running.
    fn quiz(&self, id: i64) -> Result<Option<StoredQuiz>>;
    /// Every running quiz (to resume after a restart).
    fn running_quizzes(&self) -> Result<Vec<StoredQuiz>>;
    /// When the latest quiz in `chat` started (unix seconds), if any ever did.
    fn last_quiz_start(&self, chat: i64) -> Result<Option<i64>>;
    /// Moves a quiz to question `index` (its key `question`), closing at `deadline`, and marks
    /// the question seen in the quiz's chat at `now`. Called before the question is posted,
    /// so that after a crash the question is known to have been (perhaps) asked.
    fn begin_question(
        &self,
        quiz: i64,
        index: usize,
        question: &str,
        deadline: i64,
        now: i64,
    ) -> Result<()>;
    /// Records the poll (and its message) that carries question `index` of `quiz`.
    fn attach_poll(
        &self,
        quiz: i64,
        index: usize,
        poll: &str,
        correct_option: usize,
        message: Option<i64>,
    ) -> Result<()>;
    /// Counts a poll answer, at most once per user and poll, scored by `rule`.
    fn record_answer(
        &self,
        poll: &str,
        user: i64,
        name: &str,
        option: usize,
        rule: ScoreRule<'_>,
    ) -> Result<AnswerOutcome>;
    /// Ends a quiz (finished or stopped).
    fn finish_quiz(&self, quiz: i64, stopped: bool) -> Result<()>;
    /// The answers recorded in one quiz, in question order.
    fn quiz_answers(&self, quiz: i64) -> Result<Vec<AnswerRow>>;
    /// One player's record in a chat.
    fn player(&self, chat: i64, user: i64) -> Result<Option<PlayerRecord>>;
    /// A chat's leaderboard, best first.
    fn leaderboard(&self, chat: i64, limit: usize) -> Result<Vec<PlayerRecord>>;
    /// Question keys asked in `chat` since `since` (unix seconds).
    fn seen_questions(&self, chat: i64, since: i64) -> Result<Vec<String>>;
    /// Clears the players' records of `chat`; returns how many there were.
    fn reset_scores(&self, chat: i64) -> Result<usize>;
    /// Moves everything of chat `old` (scores, history, running quiz) to chat `new`, as
    /// when a group becomes a supergroup, and remembers the move.
    fn migrate_chat(&self, old: i64, new: i64, now: i64) -> Result<()>;
    /// Every chat move recorded, as (old id, new id).
    fn chat_moves(&self) -> Result<Vec<(i64, i64)>>;
}
