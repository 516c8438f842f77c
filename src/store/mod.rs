//! Persistent state behind a trait: quiz scores, quiz history and the running quizzes (their
//! polls, correct options and deadlines), so nothing is lost on restart, SIGTERM or a crash
//! between two user actions. One implementation today: SQLite ([`sqlite::SqliteStore`]).

pub mod backup;
pub mod sqlite;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::quiz::QuizQuestion;

pub use sqlite::SqliteStore;

/// A quiz in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredQuiz {
    /// Quiz id.
    pub id: i64,
    /// Chat the quiz runs in.
    pub chat: i64,
    /// The questions, options already shuffled.
    pub questions: Vec<QuizQuestion>,
    /// Index of the question asked last, if any.
    pub current: Option<usize>,
    /// When the current question closes (unix seconds).
    pub deadline: Option<i64>,
    /// Poll carrying the current question, once sent.
    pub current_poll: Option<String>,
    /// Message carrying that poll, when known (to close it early).
    pub current_message: Option<i64>,
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
    /// Starts a quiz in `chat`; fails with `Ok(None)` if one is already running there.
    fn create_quiz(&self, chat: i64, questions: &[QuizQuestion], now: i64) -> Result<Option<i64>>;
    /// The running quiz of `chat`.
    fn running_quiz(&self, chat: i64) -> Result<Option<StoredQuiz>>;
    /// Every running quiz (to resume after a restart).
    fn running_quizzes(&self) -> Result<Vec<StoredQuiz>>;
    /// Moves a quiz to question `index`, closing at `deadline`.
    fn set_current(&self, quiz: i64, index: usize, deadline: i64) -> Result<()>;
    /// Records the poll (and its message) that carries question `index` of `quiz`.
    fn attach_poll(
        &self,
        quiz: i64,
        index: usize,
        poll: &str,
        correct_option: usize,
        message: Option<i64>,
    ) -> Result<()>;
    /// Counts a poll answer, at most once per user and poll.
    fn record_answer(
        &self,
        poll: &str,
        user: i64,
        name: &str,
        option: usize,
    ) -> Result<AnswerOutcome>;
    /// Ends a quiz (finished or stopped).
    fn finish_quiz(&self, quiz: i64, stopped: bool) -> Result<()>;
    /// The scoreboard of one quiz, best first.
    fn quiz_scoreboard(&self, quiz: i64) -> Result<Vec<PlayerRecord>>;
    /// One player's record in a chat.
    fn player(&self, chat: i64, user: i64) -> Result<Option<PlayerRecord>>;
    /// A chat's leaderboard, best first.
    fn leaderboard(&self, chat: i64, limit: usize) -> Result<Vec<PlayerRecord>>;
    /// Question keys asked in `chat` since `since` (unix seconds).
    fn seen_questions(&self, chat: i64, since: i64) -> Result<Vec<String>>;
}
