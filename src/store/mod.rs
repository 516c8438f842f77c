//! Persistent state behind a trait: quiz scores, quiz history and the running quizzes (their
//! polls, correct options and deadlines), so nothing is lost on restart, SIGTERM or a crash
//! between two user actions. One implementation today: SQLite ([`sqlite::SqliteStore`]).
//!
//! It also keeps each member's review deck (the quiz questions they got wrong, with their
//! Leitner box and when they are due again), their record by section, and each chat's
//! current text.
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

/// What a quiz answer records besides the score ([`Store::record_answer_with`]).
#[derive(Debug, Clone, Copy)]
pub struct AnswerFollowUp<'a> {
    /// The question's document.
    pub doc: usize,
    /// The question's section.
    pub section: usize,
    /// The question's key, for the review card.
    pub key: &'a str,
    /// The question as JSON, for the review card.
    pub question: &'a str,
    /// When it was answered (unix seconds): a wrong answer's card is due then.
    pub now: i64,
}

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
    /// An answer to a review poll, counted for the member's deck.
    Reviewed {
        /// The private chat the review runs in.
        chat: i64,
        /// The member.
        user: i64,
        /// The card's key.
        key: String,
        /// Whether it was right.
        correct: bool,
    },
}

/// A card of a member's review deck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// The question's stable key.
    pub key: String,
    /// The question, as the quiz module's JSON.
    pub question: String,
    /// Leitner box, from 1.
    pub level: i64,
    /// When it is due (unix seconds).
    pub due: i64,
}

/// A member's deck at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeckSummary {
    /// Cards in the deck.
    pub cards: i64,
    /// Cards due now.
    pub due_now: i64,
    /// When the next card not yet due is due (unix seconds), if any.
    pub next_due: Option<i64>,
}

/// What answering a review poll did to its card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewAnswer {
    /// The chat the review runs in.
    pub chat: i64,
    /// The card's key.
    pub key: String,
    /// Whether it was right.
    pub correct: bool,
    /// The card's box after the answer.
    pub level: i64,
    /// When it is due again.
    pub due: i64,
}

/// The Leitner rule: (box, right?, now) → (new box, due). The quiz module decides it.
pub type ScheduleRule<'a> = &'a dyn Fn(i64, bool, i64) -> (i64, i64);

/// A member's record in one section of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionRecord {
    /// Document index.
    pub doc: usize,
    /// Section number.
    pub section: usize,
    /// Questions answered.
    pub answered: i64,
    /// Right answers.
    pub correct: i64,
}

/// How a chat's current text names a text added from a chat: this prefix and the text's id
/// (host texts are named by their file name, which never starts with it).
pub const ADDED_TEXT_PREFIX: &str = "added:";

/// Where a text added from a chat stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextStatus {
    /// Being read: a job that a crash or restart leaves unfinished.
    Reading,
    /// Read, indexed and served.
    Ready,
    /// Removed by the chat (its row stays, so that old buttons can say so).
    Removed,
}

/// A text added from a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRecord {
    /// Its id: never given twice.
    pub id: i64,
    /// The chat it belongs to (a member's private chat for a text added there).
    pub chat: i64,
    /// SHA-256 (hex) of the file: where its files live under `data_dir/texts`.
    pub sha: String,
    /// The file name it was sent with.
    pub file: String,
    /// Its title, once read.
    pub title: String,
    /// Who added it.
    pub added_by: i64,
    /// Their name then.
    pub added_by_name: String,
    /// When (unix seconds).
    pub added_at: i64,
    /// Where it stands.
    pub status: TextStatus,
    /// The message telling its progress, to edit.
    pub message: Option<i64>,
    /// Size of the file.
    pub bytes: u64,
}

/// A text about to be read ([`Store::begin_text`]).
#[derive(Debug, Clone)]
pub struct NewText<'a> {
    /// The chat adding it.
    pub chat: i64,
    /// SHA-256 (hex) of the file.
    pub sha: &'a str,
    /// Its file name.
    pub file: &'a str,
    /// Who adds it.
    pub by: i64,
    /// Their name.
    pub by_name: &'a str,
    /// When (unix seconds).
    pub now: i64,
    /// The progress message, once sent.
    pub message: Option<i64>,
    /// Size of the file.
    pub bytes: u64,
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
    /// Records that question `index` of `quiz` went out as poll `poll` (in `message`) and
    /// closes at `deadline`, counted from when Telegram had it; `false`, recording nothing,
    /// when the quiz has meanwhile stopped or moved on (its votes then count for nothing).
    #[allow(clippy::too_many_arguments)]
    fn poll_delivered(
        &self,
        quiz: i64,
        index: usize,
        poll: &str,
        correct_option: usize,
        message: Option<i64>,
        deadline: i64,
    ) -> Result<bool>;
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
    ) -> Result<AnswerOutcome> {
        self.record_answer_with(poll, user, name, option, rule, None)
    }
    /// [`Store::record_answer`], and in the same transaction what the answer also records
    /// (`follow`): its section's record and, when it is wrong, a review card. So a crash or
    /// a database error never keeps the score and loses the rest (a redelivered answer is a
    /// duplicate and would never write them).
    fn record_answer_with(
        &self,
        poll: &str,
        user: i64,
        name: &str,
        option: usize,
        rule: ScoreRule<'_>,
        follow: Option<&AnswerFollowUp<'_>>,
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
    /// The questions (JSON) of the quiz poll `poll` belongs to and the question's index.
    fn poll_question(&self, poll: &str) -> Result<Option<(String, usize)>>;
    /// The chat whose quiz poll `poll` is, if it is one.
    fn poll_chat(&self, poll: &str) -> Result<Option<i64>>;
    /// Puts a question (key and JSON) in `user`'s deck, in the first box, due at `now`; a
    /// card already there goes back to the first box.
    fn add_card(&self, user: i64, key: &str, question: &str, now: i64) -> Result<()>;
    /// `user`'s card due soonest among those due at `now`, other than `skip`.
    fn due_card(&self, user: i64, now: i64, skip: Option<&str>) -> Result<Option<Card>>;
    /// `user`'s deck at `now`.
    fn deck(&self, user: i64, now: i64) -> Result<DeckSummary>;
    /// Records the poll that asks `user` card `key` in `chat`.
    fn attach_review_poll(
        &self,
        poll: &str,
        user: i64,
        chat: i64,
        key: &str,
        correct_option: usize,
    ) -> Result<()>;
    /// Counts `user`'s answer to review poll `poll` once, moving its card by `rule`; `None`
    /// when the poll is not a review poll of this user or was answered already.
    fn answer_review(
        &self,
        poll: &str,
        user: i64,
        option: usize,
        now: i64,
        rule: ScheduleRule<'_>,
    ) -> Result<Option<ReviewAnswer>>;
    /// Counts one answer of `user` in `chat` to a question of section `section` of `doc`.
    fn record_section(
        &self,
        chat: i64,
        user: i64,
        doc: usize,
        section: usize,
        correct: bool,
    ) -> Result<()>;
    /// `user`'s records by section in `chat`.
    fn section_records(&self, chat: i64, user: i64) -> Result<Vec<SectionRecord>>;
    /// Sets (`Some(file)`) or clears the current text of `chat`.
    fn set_chat_text(&self, chat: i64, document: Option<&str>) -> Result<()>;
    /// The current text (document file name) of `chat`, if one is set.
    fn chat_text(&self, chat: i64) -> Result<Option<String>>;
    /// Records that a text is being read (a job, status 'reading'); returns its id.
    fn begin_text(&self, job: &NewText<'_>) -> Result<i64>;
    /// Marks text `id` ready, with its title: written last, once its files are in place.
    fn finish_text(&self, id: i64, title: &str) -> Result<()>;
    /// Forgets a text that was being read and will not be (a refusal, or a crash before it
    /// was ready).
    fn discard_text(&self, id: i64) -> Result<()>;
    /// Every added text, removed ones and unfinished jobs included, oldest first.
    fn added_texts(&self) -> Result<Vec<TextRecord>>;
    /// Removes text `id` (whose documents, as quiz questions number them, are `docs`): drops
    /// the review cards of its questions and clears it as any chat's current text. Returns
    /// how many cards were dropped, or `None` if it was not a ready text.
    fn remove_text(&self, id: i64, docs: std::ops::Range<usize>) -> Result<Option<usize>>;
}
