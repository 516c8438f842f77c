//! SQLite storage: WAL mode, versioned migrations, one transaction per user action.
//!
//! Busy and locked database: another connection (a maintenance shell, another program) may
//! hold the write lock for a moment. No write is dropped for that: every connection
//! retries with growing pauses for about half a minute, logging while it waits
//! ([`busy_pause`]), and every transaction takes the write lock when it begins (`IMMEDIATE`),
//! the one point where SQLite can wait for it; a deferred transaction that read first and
//! then wanted to write would fail at once instead, whatever the busy handler says. Only
//! when the pauses run out does an operation fail, with an error, never silently.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use rusqlite_migration::{Migrations, M};

use super::{
    AnswerFollowUp, AnswerOutcome, AnswerRow, Card, DeckSummary, NewText, PlayerRecord,
    ReviewAnswer, ScheduleRule, ScoreRule, SectionRecord, Store, StoredQuiz, TextRecord,
    TextStatus, ADDED_TEXT_PREFIX,
};
use crate::error::{Error, Result};

/// Schema versions, oldest first. Never edit a released migration; add a new one.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            "CREATE TABLE players (
            chat INTEGER NOT NULL,
            user INTEGER NOT NULL,
            name TEXT NOT NULL,
            points INTEGER NOT NULL DEFAULT 0,
            answered INTEGER NOT NULL DEFAULT 0,
            correct INTEGER NOT NULL DEFAULT 0,
            streak INTEGER NOT NULL DEFAULT 0,
            best_streak INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (chat, user)
        );
        CREATE TABLE quizzes (
            id INTEGER PRIMARY KEY,
            chat INTEGER NOT NULL,
            started_at INTEGER NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'stopped')),
            questions TEXT NOT NULL,
            current INTEGER,
            deadline INTEGER
        );
        CREATE UNIQUE INDEX one_running_quiz_per_chat ON quizzes (chat) WHERE status = 'running';
        CREATE TABLE polls (
            poll_id TEXT PRIMARY KEY,
            quiz INTEGER NOT NULL REFERENCES quizzes (id),
            idx INTEGER NOT NULL,
            correct_option INTEGER NOT NULL,
            message_id INTEGER,
            UNIQUE (quiz, idx)
        );
        CREATE TABLE answers (
            poll_id TEXT NOT NULL REFERENCES polls (poll_id),
            user INTEGER NOT NULL,
            name TEXT NOT NULL,
            option INTEGER NOT NULL,
            correct INTEGER NOT NULL,
            points INTEGER NOT NULL,
            PRIMARY KEY (poll_id, user)
        );
        CREATE TABLE seen (
            chat INTEGER NOT NULL,
            question TEXT NOT NULL,
            asked_at INTEGER NOT NULL
        );
        CREATE INDEX seen_by_chat ON seen (chat, asked_at);",
        ),
        // Who started a quiz (only they or an admin may stop it), and the chats that moved to a
        // new id when their group became a supergroup.
        M::up(
            "ALTER TABLE quizzes ADD COLUMN started_by INTEGER;
        CREATE INDEX quizzes_by_chat ON quizzes (chat, started_at);
        CREATE TABLE chat_moves (
            old INTEGER PRIMARY KEY,
            new INTEGER NOT NULL,
            moved_at INTEGER NOT NULL
        );",
        ),
        // Review decks (Leitner boxes), review polls, records by section and each chat's
        // current text (by file name, which survives documents being added or removed).
        M::up(
            "CREATE TABLE review_cards (
            user INTEGER NOT NULL,
            key TEXT NOT NULL,
            question TEXT NOT NULL,
            level INTEGER NOT NULL,
            due INTEGER NOT NULL,
            PRIMARY KEY (user, key)
        );
        CREATE INDEX review_cards_due ON review_cards (user, due);
        CREATE TABLE review_polls (
            poll_id TEXT PRIMARY KEY,
            user INTEGER NOT NULL,
            chat INTEGER NOT NULL,
            key TEXT NOT NULL,
            correct_option INTEGER NOT NULL,
            answered INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE section_records (
            chat INTEGER NOT NULL,
            user INTEGER NOT NULL,
            doc INTEGER NOT NULL,
            section INTEGER NOT NULL,
            answered INTEGER NOT NULL DEFAULT 0,
            correct INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (chat, user, doc, section)
        );
        CREATE TABLE chat_texts (
            chat INTEGER PRIMARY KEY,
            document TEXT NOT NULL
        );",
        ),
        // Texts added from the chats: one row per text and chat, written as a job when
        // reading starts ('reading') and made 'ready' last, once its files are in place.
        // Removed texts keep their row, so that a button on an old answer can say so and
        // a text number is never given twice.
        M::up(
            "CREATE TABLE added_texts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            chat INTEGER NOT NULL,
            sha TEXT NOT NULL,
            file TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            added_by INTEGER NOT NULL,
            added_by_name TEXT NOT NULL,
            added_at INTEGER NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('reading', 'ready', 'removed')),
            message INTEGER,
            bytes INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX added_texts_by_chat ON added_texts (chat, status);",
        ),
    ])
}

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "studybot.sqlite3";

/// Longest single pause while the database is busy.
const BUSY_PAUSE_MAX: std::time::Duration = std::time::Duration::from_secs(1);
/// Pauses while the database is busy before an operation fails: 5 ms doubling up to
/// [`BUSY_PAUSE_MAX`], about 33 s in all.
const BUSY_RETRIES: i32 = 40;

/// How long to wait before retrying the `attempt`-th time (0-based) a lock the database is
/// busy with, or `None` to give up: bounded exponential backoff.
pub fn busy_pause(attempt: i32) -> Option<std::time::Duration> {
    if !(0..BUSY_RETRIES).contains(&attempt) {
        return None;
    }
    let doubling = std::time::Duration::from_millis(5).saturating_mul(1 << attempt.min(16));
    Some(doubling.min(BUSY_PAUSE_MAX))
}

/// Times the database was found busy and an operation waited (all connections of the process).
static BUSY_WAITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many times, since the process started, a store operation waited for a busy database.
pub fn busy_waits() -> u64 {
    BUSY_WAITS.load(std::sync::atomic::Ordering::Relaxed)
}

/// SQLite's busy handler: called (with how many times it was called before for the same
/// lock) when another connection holds a lock this one needs; `true` retries.
fn on_busy(attempt: i32) -> bool {
    BUSY_WAITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match busy_pause(attempt) {
        Some(pause) => {
            if attempt == 3 || (attempt > 0 && attempt % 10 == 0) {
                tracing::warn!("database busy (another connection holds a lock), retry {attempt}");
            } else {
                tracing::debug!("database busy, retrying in {pause:?}");
            }
            std::thread::sleep(pause);
            true
        }
        None => {
            tracing::error!("database busy through {attempt} retries: this operation fails");
            false
        }
    }
}

/// The SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) `data_dir/studybot.sqlite3` and migrates it.
    pub fn open(data_dir: &Path) -> Result<SqliteStore> {
        std::fs::create_dir_all(data_dir).map_err(|source| Error::Io {
            context: format!("creating the data folder {}", data_dir.display()),
            source,
        })?;
        let conn = Connection::open(data_dir.join(DB_FILE))?;
        Self::setup(conn)
    }

    /// An in-memory store, for tests.
    pub fn open_in_memory() -> Result<SqliteStore> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<SqliteStore> {
        // First, so that even switching to WAL waits for a busy database.
        conn.busy_handler(Some(on_busy))?;
        conn.set_transaction_behavior(TransactionBehavior::Immediate);
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrations().to_latest(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The columns of a quiz row, in [`QuizRow`] order.
const QUIZ_COLUMNS: &str = "id, chat, questions, current, deadline, started_by";

/// A quiz row: id, chat, questions (JSON), current index, deadline, starter.
type QuizRow = (i64, i64, String, Option<i64>, Option<i64>, Option<i64>);

fn load_quiz(row: &rusqlite::Row<'_>) -> rusqlite::Result<QuizRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn to_quiz(conn: &Connection, raw: QuizRow) -> Result<StoredQuiz> {
    let (id, chat, questions, current, deadline, started_by) = raw;
    let current = current.and_then(|c| usize::try_from(c).ok());
    let poll: Option<(String, Option<i64>)> = match current {
        Some(idx) => conn
            .query_row(
                "SELECT poll_id, message_id FROM polls WHERE quiz = ?1 AND idx = ?2",
                params![id, idx as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?,
        None => None,
    };
    let (current_poll, current_message) = match poll {
        Some((p, m)) => (Some(p), m),
        None => (None, None),
    };
    Ok(StoredQuiz {
        id,
        chat,
        started_by,
        questions,
        current,
        deadline,
        current_poll,
        current_message,
    })
}

fn record(row: &rusqlite::Row<'_>) -> rusqlite::Result<PlayerRecord> {
    Ok(PlayerRecord {
        user: row.get(0)?,
        name: row.get(1)?,
        points: row.get(2)?,
        answered: row.get(3)?,
        correct: row.get(4)?,
        best_streak: row.get(5)?,
    })
}

impl Store for SqliteStore {
    fn create_quiz(&self, chat: i64, by: i64, questions: &str, now: i64) -> Result<Option<i64>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let running: Option<i64> = tx
            .query_row(
                "SELECT id FROM quizzes WHERE chat = ?1 AND status = 'running'",
                [chat],
                |r| r.get(0),
            )
            .optional()?;
        if running.is_some() {
            return Ok(None);
        }
        tx.execute(
            "INSERT INTO quizzes (chat, started_at, status, questions, started_by)
             VALUES (?1, ?2, 'running', ?3, ?4)",
            params![chat, now, questions, by],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(Some(id))
    }

    fn running_quiz(&self, chat: i64) -> Result<Option<StoredQuiz>> {
        let conn = self.conn();
        let raw = conn
            .query_row(
                &format!(
                    "SELECT {QUIZ_COLUMNS} FROM quizzes WHERE chat = ?1 AND status = 'running'"
                ),
                [chat],
                load_quiz,
            )
            .optional()?;
        raw.map(|r| to_quiz(&conn, r)).transpose()
    }

    fn quiz(&self, id: i64) -> Result<Option<StoredQuiz>> {
        let conn = self.conn();
        let raw = conn
            .query_row(
                &format!("SELECT {QUIZ_COLUMNS} FROM quizzes WHERE id = ?1 AND status = 'running'"),
                [id],
                load_quiz,
            )
            .optional()?;
        raw.map(|r| to_quiz(&conn, r)).transpose()
    }

    fn last_quiz_start(&self, chat: i64) -> Result<Option<i64>> {
        Ok(self.conn().query_row(
            "SELECT MAX(started_at) FROM quizzes WHERE chat = ?1",
            [chat],
            |r| r.get(0),
        )?)
    }

    fn running_quizzes(&self) -> Result<Vec<StoredQuiz>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {QUIZ_COLUMNS} FROM quizzes WHERE status = 'running'"
        ))?;
        let raws = stmt
            .query_map([], load_quiz)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter().map(|r| to_quiz(&conn, r)).collect()
    }

    fn begin_question(
        &self,
        quiz: i64,
        index: usize,
        question: &str,
        deadline: i64,
        now: i64,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = tx.execute(
            "UPDATE quizzes SET current = ?2, deadline = ?3 WHERE id = ?1 AND status = 'running'",
            params![quiz, index as i64, deadline],
        )?;
        if changed > 0 {
            tx.execute(
                "INSERT INTO seen (chat, question, asked_at)
                 SELECT chat, ?2, ?3 FROM quizzes WHERE id = ?1",
                params![quiz, question, now],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn attach_poll(
        &self,
        quiz: i64,
        index: usize,
        poll: &str,
        correct_option: usize,
        message: Option<i64>,
    ) -> Result<()> {
        self.conn().execute(
            "INSERT OR REPLACE INTO polls (poll_id, quiz, idx, correct_option, message_id)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![poll, quiz, index as i64, correct_option as i64, message],
        )?;
        Ok(())
    }

    fn poll_delivered(
        &self,
        quiz: i64,
        index: usize,
        poll: &str,
        correct_option: usize,
        message: Option<i64>,
        deadline: i64,
    ) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let moved = tx.execute(
            "UPDATE quizzes SET deadline = ?3
             WHERE id = ?1 AND current = ?2 AND status = 'running'",
            params![quiz, index as i64, deadline],
        )?;
        if moved == 0 {
            return Ok(false);
        }
        tx.execute(
            "INSERT OR REPLACE INTO polls (poll_id, quiz, idx, correct_option, message_id)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![poll, quiz, index as i64, correct_option as i64, message],
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn record_answer_with(
        &self,
        poll: &str,
        user: i64,
        name: &str,
        option: usize,
        rule: ScoreRule<'_>,
        follow: Option<&AnswerFollowUp<'_>>,
    ) -> Result<AnswerOutcome> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found: Option<(i64, i64)> = tx
            .query_row(
                "SELECT q.chat, p.correct_option FROM polls p JOIN quizzes q ON q.id = p.quiz
                 WHERE p.poll_id = ?1",
                [poll],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((chat, correct_option)) = found else {
            return Ok(AnswerOutcome::UnknownPoll);
        };
        let already: bool = tx
            .query_row(
                "SELECT 1 FROM answers WHERE poll_id = ?1 AND user = ?2",
                params![poll, user],
                |_| Ok(true),
            )
            .optional()?
            .unwrap_or(false);
        if already {
            return Ok(AnswerOutcome::Duplicate);
        }
        let streak: i64 = tx
            .query_row(
                "SELECT streak FROM players WHERE chat = ?1 AND user = ?2",
                params![chat, user],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        let scored = rule(
            option,
            usize::try_from(correct_option).unwrap_or(usize::MAX),
            streak,
        );
        let (correct, points, new_streak) = (scored.correct, scored.points, scored.streak);
        tx.execute(
            "INSERT INTO answers (poll_id, user, name, option, correct, points) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![poll, user, name, option as i64, correct, points],
        )?;
        tx.execute(
            "INSERT INTO players (chat, user, name, points, answered, correct, streak, best_streak)
             VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?6)
             ON CONFLICT (chat, user) DO UPDATE SET
               name = excluded.name,
               points = points + excluded.points,
               answered = answered + 1,
               correct = correct + excluded.correct,
               streak = excluded.streak,
               best_streak = MAX(best_streak, excluded.streak)",
            params![chat, user, name, points, i64::from(correct), new_streak],
        )?;
        if let Some(follow) = follow {
            add_section_answer(&tx, chat, user, follow.doc, follow.section, correct)?;
            if !correct {
                put_card(&tx, user, follow.key, follow.question, follow.now)?;
            }
        }
        tx.commit()?;
        Ok(AnswerOutcome::Recorded {
            chat,
            correct,
            points,
        })
    }

    fn finish_quiz(&self, quiz: i64, stopped: bool) -> Result<()> {
        let status = if stopped { "stopped" } else { "finished" };
        self.conn().execute(
            "UPDATE quizzes SET status = ?2 WHERE id = ?1 AND status = 'running'",
            params![quiz, status],
        )?;
        Ok(())
    }

    fn quiz_answers(&self, quiz: i64) -> Result<Vec<AnswerRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT a.user, a.name, a.correct, a.points FROM answers a
             JOIN polls p ON p.poll_id = a.poll_id WHERE p.quiz = ?1 ORDER BY p.idx",
        )?;
        let rows = stmt
            .query_map([quiz], |r| {
                Ok(AnswerRow {
                    user: r.get(0)?,
                    name: r.get(1)?,
                    correct: r.get(2)?,
                    points: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn player(&self, chat: i64, user: i64) -> Result<Option<PlayerRecord>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT user, name, points, answered, correct, best_streak FROM players
                 WHERE chat = ?1 AND user = ?2",
                params![chat, user],
                record,
            )
            .optional()?)
    }

    fn leaderboard(&self, chat: i64, limit: usize) -> Result<Vec<PlayerRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT user, name, points, answered, correct, best_streak FROM players
             WHERE chat = ?1 ORDER BY points DESC, correct DESC, answered ASC, name ASC LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![chat, limit as i64], record)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn seen_questions(&self, chat: i64, since: i64) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT DISTINCT question FROM seen WHERE chat = ?1 AND asked_at >= ?2")?;
        let rows = stmt
            .query_map(params![chat, since], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(rows)
    }

    fn reset_scores(&self, chat: i64) -> Result<usize> {
        // Everything `/score` and `/top` show goes back to zero together: the players'
        // records and their records by section.
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let players = tx.execute("DELETE FROM players WHERE chat = ?1", [chat])?;
        tx.execute("DELETE FROM section_records WHERE chat = ?1", [chat])?;
        tx.commit()?;
        Ok(players)
    }

    fn migrate_chat(&self, old: i64, new: i64, now: i64) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Records the new chat already has (answers counted there before the move was seen)
        // are added to, not overwritten.
        tx.execute(
            "INSERT INTO players (chat, user, name, points, answered, correct, streak, best_streak)
             SELECT ?2, user, name, points, answered, correct, streak, best_streak
             FROM players WHERE chat = ?1
             ON CONFLICT (chat, user) DO UPDATE SET
               points = points + excluded.points,
               answered = answered + excluded.answered,
               correct = correct + excluded.correct,
               best_streak = MAX(best_streak, excluded.best_streak)",
            params![old, new],
        )?;
        tx.execute("DELETE FROM players WHERE chat = ?1", [old])?;
        // One running quiz per chat: if the new chat already runs one, the old one stops.
        tx.execute(
            "UPDATE quizzes SET status = 'stopped' WHERE chat = ?1 AND status = 'running'
             AND EXISTS (SELECT 1 FROM quizzes WHERE chat = ?2 AND status = 'running')",
            params![old, new],
        )?;
        tx.execute(
            "UPDATE quizzes SET chat = ?2 WHERE chat = ?1",
            params![old, new],
        )?;
        tx.execute(
            "UPDATE seen SET chat = ?2 WHERE chat = ?1",
            params![old, new],
        )?;
        tx.execute(
            "INSERT INTO section_records (chat, user, doc, section, answered, correct)
             SELECT ?2, user, doc, section, answered, correct FROM section_records WHERE chat = ?1
             ON CONFLICT (chat, user, doc, section) DO UPDATE SET
               answered = answered + excluded.answered,
               correct = correct + excluded.correct",
            params![old, new],
        )?;
        tx.execute("DELETE FROM section_records WHERE chat = ?1", [old])?;
        tx.execute(
            "INSERT OR IGNORE INTO chat_texts (chat, document)
             SELECT ?2, document FROM chat_texts WHERE chat = ?1",
            params![old, new],
        )?;
        tx.execute("DELETE FROM chat_texts WHERE chat = ?1", [old])?;
        tx.execute(
            "UPDATE added_texts SET chat = ?2 WHERE chat = ?1",
            params![old, new],
        )?;
        tx.execute(
            "INSERT INTO chat_moves (old, new, moved_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (old) DO UPDATE SET new = excluded.new, moved_at = excluded.moved_at",
            params![old, new, now],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn chat_moves(&self) -> Result<Vec<(i64, i64)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT old, new FROM chat_moves ORDER BY moved_at")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn poll_chat(&self, poll: &str) -> Result<Option<i64>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT q.chat FROM polls p JOIN quizzes q ON q.id = p.quiz WHERE p.poll_id = ?1",
                [poll],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn poll_question(&self, poll: &str) -> Result<Option<(String, usize)>> {
        let found: Option<(String, i64)> = self
            .conn()
            .query_row(
                "SELECT q.questions, p.idx FROM polls p JOIN quizzes q ON q.id = p.quiz
                 WHERE p.poll_id = ?1",
                [poll],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(found.and_then(|(q, i)| Some((q, usize::try_from(i).ok()?))))
    }

    fn add_card(&self, user: i64, key: &str, question: &str, now: i64) -> Result<()> {
        put_card(&self.conn(), user, key, question, now)
    }

    fn due_card(&self, user: i64, now: i64, skip: Option<&str>) -> Result<Option<Card>> {
        let card = self
            .conn()
            .query_row(
                "SELECT key, question, level, due FROM review_cards
                 WHERE user = ?1 AND due <= ?2 AND key IS NOT ?3
                 ORDER BY due, key LIMIT 1",
                params![user, now, skip],
                |r| {
                    Ok(Card {
                        key: r.get(0)?,
                        question: r.get(1)?,
                        level: r.get(2)?,
                        due: r.get(3)?,
                    })
                },
            )
            .optional()?;
        Ok(card)
    }

    fn deck(&self, user: i64, now: i64) -> Result<DeckSummary> {
        let (cards, due_now, next_due) = self.conn().query_row(
            "SELECT COUNT(*), COALESCE(SUM(due <= ?2), 0), MIN(CASE WHEN due > ?2 THEN due END)
             FROM review_cards WHERE user = ?1",
            params![user, now],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(DeckSummary {
            cards,
            due_now,
            next_due,
        })
    }

    fn attach_review_poll(
        &self,
        poll: &str,
        user: i64,
        chat: i64,
        key: &str,
        correct_option: usize,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // One review poll per member is open: an older one (a second /review, a poll left
        // unanswered last week) is superseded, and an answer to it changes nothing.
        tx.execute(
            "UPDATE review_polls SET answered = 2 WHERE user = ?1 AND answered = 0",
            [user],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO review_polls (poll_id, user, chat, key, correct_option)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![poll, user, chat, key, correct_option as i64],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn answer_review(
        &self,
        poll: &str,
        user: i64,
        option: usize,
        now: i64,
        rule: ScheduleRule<'_>,
    ) -> Result<Option<ReviewAnswer>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found: Option<(i64, String, i64)> = tx
            .query_row(
                "SELECT chat, key, correct_option FROM review_polls
                 WHERE poll_id = ?1 AND user = ?2 AND answered = 0",
                params![poll, user],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((chat, key, correct_option)) = found else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE review_polls SET answered = 1 WHERE poll_id = ?1",
            [poll],
        )?;
        let level: Option<i64> = tx
            .query_row(
                "SELECT level FROM review_cards WHERE user = ?1 AND key = ?2",
                params![user, key],
                |r| r.get(0),
            )
            .optional()?;
        let correct = i64::try_from(option).is_ok_and(|o| o == correct_option);
        let (level, due) = rule(level.unwrap_or(1), correct, now);
        tx.execute(
            "UPDATE review_cards SET level = ?3, due = ?4 WHERE user = ?1 AND key = ?2",
            params![user, key, level, due],
        )?;
        tx.commit()?;
        Ok(Some(ReviewAnswer {
            chat,
            key,
            correct,
            level,
            due,
        }))
    }

    fn record_section(
        &self,
        chat: i64,
        user: i64,
        doc: usize,
        section: usize,
        correct: bool,
    ) -> Result<()> {
        add_section_answer(&self.conn(), chat, user, doc, section, correct)
    }

    fn section_records(&self, chat: i64, user: i64) -> Result<Vec<SectionRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT doc, section, answered, correct FROM section_records
             WHERE chat = ?1 AND user = ?2 ORDER BY doc, section",
        )?;
        let rows = stmt
            .query_map(params![chat, user], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(doc, section, answered, correct)| {
                Some(SectionRecord {
                    doc: usize::try_from(doc).ok()?,
                    section: usize::try_from(section).ok()?,
                    answered,
                    correct,
                })
            })
            .collect())
    }

    fn set_chat_text(&self, chat: i64, document: Option<&str>) -> Result<()> {
        let conn = self.conn();
        match document {
            Some(file) => conn.execute(
                "INSERT INTO chat_texts (chat, document) VALUES (?1, ?2)
                 ON CONFLICT (chat) DO UPDATE SET document = excluded.document",
                params![chat, file],
            )?,
            None => conn.execute("DELETE FROM chat_texts WHERE chat = ?1", [chat])?,
        };
        Ok(())
    }

    fn chat_text(&self, chat: i64) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT document FROM chat_texts WHERE chat = ?1",
                [chat],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn begin_text(&self, job: &NewText<'_>) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO added_texts (chat, sha, file, added_by, added_by_name, added_at, status, message, bytes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'reading', ?7, ?8)",
            params![
                job.chat,
                job.sha,
                job.file,
                job.by,
                job.by_name,
                job.now,
                job.message,
                job.bytes as i64
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn finish_text(&self, id: i64, title: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE added_texts SET status = 'ready', title = ?2 WHERE id = ?1 AND status = 'reading'",
            params![id, title],
        )?;
        Ok(())
    }

    fn discard_text(&self, id: i64) -> Result<()> {
        self.conn().execute(
            "DELETE FROM added_texts WHERE id = ?1 AND status = 'reading'",
            [id],
        )?;
        Ok(())
    }

    fn added_texts(&self) -> Result<Vec<TextRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, chat, sha, file, title, added_by, added_by_name, added_at, status, message, bytes
             FROM added_texts ORDER BY id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                let status: String = r.get(8)?;
                Ok(TextRecord {
                    id: r.get(0)?,
                    chat: r.get(1)?,
                    sha: r.get(2)?,
                    file: r.get(3)?,
                    title: r.get(4)?,
                    added_by: r.get(5)?,
                    added_by_name: r.get(6)?,
                    added_at: r.get(7)?,
                    status: match status.as_str() {
                        "reading" => TextStatus::Reading,
                        "ready" => TextStatus::Ready,
                        _ => TextStatus::Removed,
                    },
                    message: r.get(9)?,
                    bytes: r.get::<_, i64>(10)?.max(0) as u64,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn remove_text(&self, id: i64, docs: std::ops::Range<usize>) -> Result<Option<usize>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = tx.execute(
            "UPDATE added_texts SET status = 'removed' WHERE id = ?1 AND status = 'ready'",
            [id],
        )?;
        if changed == 0 {
            return Ok(None);
        }
        let (first, end) = (docs.start as i64, docs.end as i64);
        let cards = tx.execute(
            "DELETE FROM review_cards WHERE json_extract(question, '$.doc') >= ?1
             AND json_extract(question, '$.doc') < ?2",
            params![first, end],
        )?;
        tx.execute(
            "DELETE FROM chat_texts WHERE document = ?1",
            [format!("{ADDED_TEXT_PREFIX}{id}")],
        )?;
        tx.commit()?;
        Ok(Some(cards))
    }
}

/// Puts question `key` in `user`'s deck, in the first box, due at `now`.
fn put_card(conn: &Connection, user: i64, key: &str, question: &str, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO review_cards (user, key, question, level, due) VALUES (?1, ?2, ?3, 1, ?4)
         ON CONFLICT (user, key) DO UPDATE SET
           question = excluded.question, level = 1, due = excluded.due",
        params![user, key, question, now],
    )?;
    Ok(())
}

/// Counts one answer in a section's record.
fn add_section_answer(
    conn: &Connection,
    chat: i64,
    user: i64,
    doc: usize,
    section: usize,
    correct: bool,
) -> Result<()> {
    conn.execute(
        "INSERT INTO section_records (chat, user, doc, section, answered, correct)
         VALUES (?1, ?2, ?3, ?4, 1, ?5)
         ON CONFLICT (chat, user, doc, section) DO UPDATE SET
           answered = answered + 1, correct = correct + excluded.correct",
        params![chat, user, doc as i64, section as i64, i64::from(correct)],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Scored;

    /// The tests' own scoring rule: 10 points a right answer.
    fn ten(option: usize, correct: usize, streak: i64) -> Scored {
        let right = option == correct;
        Scored {
            correct: right,
            points: if right { 10 } else { 0 },
            streak: if right { streak + 1 } else { 0 },
        }
    }

    const QUESTIONS: &str = r#"[{"key":"q1"},{"key":"q2"}]"#;

    /// Removing an added text drops the review cards of its questions only, clears it as a
    /// chat's current text, keeps its row (for old buttons) and moves with a migrated chat.
    #[test]
    fn removing_a_text_drops_only_its_cards_and_keeps_its_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let job = NewText {
            chat: -5,
            sha: "abc",
            file: "book.pdf",
            by: 7,
            by_name: "Ann",
            now: 10,
            message: Some(3),
            bytes: 100,
        };
        let id = store.begin_text(&job).unwrap();
        assert_eq!(store.added_texts().unwrap()[0].status, TextStatus::Reading);
        store.finish_text(id, "Book").unwrap();
        store.migrate_chat(-5, -1005, 11).unwrap();
        let record = &store.added_texts().unwrap()[0];
        assert_eq!(
            (record.chat, record.status, record.title.as_str()),
            (-1005, TextStatus::Ready, "Book")
        );
        let base = id as usize * 1_000_000;
        store
            .add_card(7, "k1", &format!(r#"{{"doc":{base}}}"#), 1)
            .unwrap();
        store.add_card(7, "k2", r#"{"doc":0}"#, 1).unwrap();
        store
            .set_chat_text(-1005, Some(&format!("{ADDED_TEXT_PREFIX}{id}")))
            .unwrap();
        assert_eq!(
            store.remove_text(id, base..base + 1_000_000).unwrap(),
            Some(1)
        );
        assert_eq!(store.deck(7, 1).unwrap().cards, 1);
        assert_eq!(store.chat_text(-1005).unwrap(), None);
        assert_eq!(store.added_texts().unwrap()[0].status, TextStatus::Removed);
        assert_eq!(store.remove_text(id, base..base + 1_000_000).unwrap(), None);
        let other = store.begin_text(&job).unwrap();
        store.discard_text(other).unwrap();
        assert_eq!(store.added_texts().unwrap().len(), 1);
    }

    /// A write while another connection holds the write lock waits for it and then lands:
    /// it is retried, not dropped.
    #[test]
    fn a_write_waits_for_another_connections_write_lock_and_lands() {
        use std::sync::Arc;
        use std::time::{Duration, Instant};
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
        let id = store.create_quiz(5, 50, QUESTIONS, 1).unwrap().unwrap();
        store.begin_question(id, 0, "q1", 31, 1).unwrap();
        store.attach_poll(id, 0, "p", 1, None).unwrap();
        let other = Connection::open(dir.path().join(DB_FILE)).unwrap();
        other
            .execute_batch("BEGIN IMMEDIATE; UPDATE players SET points = 0;")
            .unwrap();
        let before = busy_waits();
        let writer = {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                (
                    store.record_answer("p", 9, "Cy", 1, &ten),
                    store.begin_question(id, 1, "q2", 60, 2),
                )
            })
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while busy_waits() < before + 2 {
            assert!(Instant::now() < deadline, "the write never waited");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!writer.is_finished(), "held back by the other connection");
        other.execute_batch("COMMIT").unwrap();
        let (answer, current) = writer.join().unwrap();
        assert!(matches!(
            answer.unwrap(),
            AnswerOutcome::Recorded { correct: true, .. }
        ));
        current.unwrap();
        assert_eq!(store.player(5, 9).unwrap().unwrap().points, 10);
        assert_eq!(store.running_quiz(5).unwrap().unwrap().deadline, Some(60));
    }

    /// Transactions take the write lock when they begin, where SQLite can wait for it: a
    /// deferred one that read first would get "database is locked" at once on its first
    /// write, without the busy handler being asked.
    #[test]
    fn transactions_take_the_write_lock_when_they_begin() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let mut conn = store.conn();
        let tx = conn.transaction().unwrap();
        let other = Connection::open(dir.path().join(DB_FILE)).unwrap();
        other.busy_timeout(std::time::Duration::ZERO).unwrap();
        let err = other.execute_batch("BEGIN IMMEDIATE").unwrap_err();
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy)
        );
        drop(tx);
        other.execute_batch("BEGIN IMMEDIATE; COMMIT").unwrap();
    }

    #[test]
    fn busy_pauses_grow_and_are_bounded() {
        let pauses: Vec<_> = (0..).map_while(busy_pause).collect();
        assert_eq!(pauses.len(), BUSY_RETRIES as usize);
        assert_eq!(pauses[0], std::time::Duration::from_millis(5));
        assert!(pauses.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(pauses.last(), Some(&BUSY_PAUSE_MAX));
        let total: std::time::Duration = pauses.iter().sum();
        assert!((20..=40).contains(&total.as_secs()), "{total:?}");
        assert_eq!(busy_pause(-1), None);
    }

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
    }

    #[test]
    fn one_running_quiz_per_chat_and_answers_count_once() {
        let store = SqliteStore::open_in_memory().unwrap();
        let id = store.create_quiz(7, 70, QUESTIONS, 100).unwrap().unwrap();
        assert_eq!(store.create_quiz(7, 70, QUESTIONS, 101).unwrap(), None);
        assert!(store.create_quiz(8, 80, QUESTIONS, 101).unwrap().is_some());
        assert!(
            store.seen_questions(7, 0).unwrap().is_empty(),
            "creating a quiz asks nothing yet"
        );
        store.begin_question(id, 0, "q1", 130, 100).unwrap();
        store.attach_poll(id, 0, "poll-1", 1, Some(42)).unwrap();
        let running = store.running_quiz(7).unwrap().unwrap();
        assert_eq!(running.current, Some(0));
        assert_eq!(running.started_by, Some(70));
        assert_eq!(running.current_poll.as_deref(), Some("poll-1"));
        assert_eq!(store.quiz(id).unwrap(), Some(running));
        assert_eq!(
            store.record_answer("poll-1", 1, "Ann", 1, &ten).unwrap(),
            AnswerOutcome::Recorded {
                chat: 7,
                correct: true,
                points: 10
            }
        );
        assert_eq!(
            store.record_answer("poll-1", 1, "Ann", 0, &ten).unwrap(),
            AnswerOutcome::Duplicate
        );
        assert_eq!(
            store.record_answer("nope", 1, "Ann", 0, &ten).unwrap(),
            AnswerOutcome::UnknownPoll
        );
        store.record_answer("poll-1", 2, "Bob", 0, &ten).unwrap();
        let top = store.leaderboard(7, 10).unwrap();
        assert_eq!(
            top.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            vec!["Ann", "Bob"]
        );
        assert_eq!(
            (top[0].answered, top[0].correct, top[0].best_streak),
            (1, 1, 1)
        );
        assert_eq!((top[1].answered, top[1].correct, top[1].points), (1, 0, 0));
        assert_eq!(store.quiz_answers(id).unwrap().len(), 2);
        store.finish_quiz(id, false).unwrap();
        assert!(store.running_quiz(7).unwrap().is_none());
        assert!(store.quiz(id).unwrap().is_none());
        assert_eq!(store.seen_questions(7, 0).unwrap(), vec!["q1".to_string()]);
        assert_eq!(store.last_quiz_start(7).unwrap(), Some(100));
        assert_eq!(store.last_quiz_start(9).unwrap(), None);
        store.record_section(7, 1, 0, 2, true).unwrap();
        store.record_section(8, 1, 0, 2, true).unwrap();
        assert_eq!(store.reset_scores(7).unwrap(), 2);
        assert!(store.leaderboard(7, 10).unwrap().is_empty());
        // Records by section go back to zero with the scores; other chats keep theirs.
        assert!(store.section_records(7, 1).unwrap().is_empty());
        assert_eq!(store.section_records(8, 1).unwrap().len(), 1);
    }

    #[test]
    fn an_answer_its_section_record_and_its_review_card_are_written_together_once() {
        let store = SqliteStore::open_in_memory().unwrap();
        let quiz = store.create_quiz(7, 70, "[]", 1).unwrap().unwrap();
        store.begin_question(quiz, 0, "k1", 31, 1).unwrap();
        store.attach_poll(quiz, 0, "p", 1, Some(5)).unwrap();
        let ten = |o: usize, c: usize, s: i64| crate::quiz::score(o, c, s);
        let follow = AnswerFollowUp {
            doc: 0,
            section: 3,
            key: "k1",
            question: "{}",
            now: 50,
        };
        let outcome = store
            .record_answer_with("p", 9, "Cy", 0, &ten, Some(&follow))
            .unwrap();
        assert!(matches!(
            outcome,
            AnswerOutcome::Recorded { correct: false, .. }
        ));
        let records = store.section_records(7, 9).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!((records[0].answered, records[0].correct), (1, 0));
        assert_eq!(store.deck(9, 50).unwrap().due_now, 1);
        // The same vote again (a redelivered update) changes nothing.
        let again = store
            .record_answer_with("p", 9, "Cy", 0, &ten, Some(&follow))
            .unwrap();
        assert_eq!(again, AnswerOutcome::Duplicate);
        assert_eq!(store.section_records(7, 9).unwrap()[0].answered, 1);
    }

    #[test]
    fn a_quiz_row_the_store_cannot_read_as_questions_is_still_listed() {
        let store = SqliteStore::open_in_memory().unwrap();
        let id = store
            .create_quiz(7, 70, "not json at all", 1)
            .unwrap()
            .unwrap();
        assert_eq!(store.running_quiz(7).unwrap().unwrap().id, id);
        store.finish_quiz(id, true).unwrap();
        assert!(store.running_quiz(7).unwrap().is_none());
    }

    #[test]
    fn a_chat_move_takes_scores_history_and_the_running_quiz_along() {
        let store = SqliteStore::open_in_memory().unwrap();
        let id = store.create_quiz(-5, 1, QUESTIONS, 1).unwrap().unwrap();
        store.begin_question(id, 0, "q1", 31, 1).unwrap();
        store.attach_poll(id, 0, "p", 1, Some(3)).unwrap();
        store.record_answer("p", 9, "Cy", 1, &ten).unwrap();
        // An answer already counted under the new id is kept and added to.
        let other = store.create_quiz(-100, 1, QUESTIONS, 2).unwrap().unwrap();
        store.begin_question(other, 0, "q2", 32, 2).unwrap();
        store.attach_poll(other, 0, "p2", 1, None).unwrap();
        store.record_answer("p2", 9, "Cy", 1, &ten).unwrap();
        store.finish_quiz(other, false).unwrap();

        store.migrate_chat(-5, -100, 50).unwrap();
        assert!(store.running_quiz(-5).unwrap().is_none());
        assert_eq!(store.running_quiz(-100).unwrap().unwrap().id, id);
        assert_eq!(store.player(-100, 9).unwrap().unwrap().points, 20);
        assert!(store.player(-5, 9).unwrap().is_none());
        assert_eq!(store.seen_questions(-100, 0).unwrap().len(), 2);
        assert_eq!(store.chat_moves().unwrap(), vec![(-5, -100)]);
        // Answers to the moved quiz's open poll count in the new chat.
        assert_eq!(
            store.record_answer("p", 10, "Di", 1, &ten).unwrap(),
            AnswerOutcome::Recorded {
                chat: -100,
                correct: true,
                points: 10
            }
        );
    }

    #[test]
    fn scores_survive_reopening_the_database() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SqliteStore::open(dir.path()).unwrap();
            let id = store.create_quiz(5, 9, QUESTIONS, 1).unwrap().unwrap();
            store.begin_question(id, 0, "q1", 31, 1).unwrap();
            store.attach_poll(id, 0, "p", 1, None).unwrap();
            store.record_answer("p", 9, "Cy", 1, &ten).unwrap();
        }
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.player(5, 9).unwrap().unwrap().points, 10);
        let running = store.running_quizzes().unwrap();
        assert_eq!(running.len(), 1, "the running quiz is still there");
        assert_eq!(
            store.record_answer("p", 10, "Di", 1, &ten).unwrap(),
            AnswerOutcome::Recorded {
                chat: 5,
                correct: true,
                points: 10
            },
            "answers to its open poll still count"
        );
    }
}
