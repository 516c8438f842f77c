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

use super::{AnswerOutcome, PlayerRecord, Store, StoredQuiz};
use crate::error::{Error, Result};
use crate::quiz::{self, QuizQuestion};

/// Schema versions, oldest first. Never edit a released migration; add a new one.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(
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
    )])
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

/// A quiz row: id, chat, questions (JSON), current index, deadline.
type QuizRow = (i64, i64, String, Option<i64>, Option<i64>);

fn load_quiz(row: &rusqlite::Row<'_>) -> rusqlite::Result<QuizRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn to_quiz(conn: &Connection, raw: QuizRow) -> Result<StoredQuiz> {
    let (id, chat, questions, current, deadline) = raw;
    let questions: Vec<QuizQuestion> =
        serde_json::from_str(&questions).map_err(|e| Error::Store(format!("quiz {id}: {e}")))?;
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
    fn create_quiz(&self, chat: i64, questions: &[QuizQuestion], now: i64) -> Result<Option<i64>> {
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
        let json = serde_json::to_string(questions).map_err(|e| Error::Store(e.to_string()))?;
        tx.execute(
            "INSERT INTO quizzes (chat, started_at, status, questions) VALUES (?1, ?2, 'running', ?3)",
            params![chat, now, json],
        )?;
        let id = tx.last_insert_rowid();
        for q in questions {
            tx.execute(
                "INSERT INTO seen (chat, question, asked_at) VALUES (?1, ?2, ?3)",
                params![chat, q.key, now],
            )?;
        }
        tx.commit()?;
        Ok(Some(id))
    }

    fn running_quiz(&self, chat: i64) -> Result<Option<StoredQuiz>> {
        let conn = self.conn();
        let raw = conn
            .query_row(
                "SELECT id, chat, questions, current, deadline FROM quizzes
                 WHERE chat = ?1 AND status = 'running'",
                [chat],
                load_quiz,
            )
            .optional()?;
        raw.map(|r| to_quiz(&conn, r)).transpose()
    }

    fn running_quizzes(&self) -> Result<Vec<StoredQuiz>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, chat, questions, current, deadline FROM quizzes WHERE status = 'running'",
        )?;
        let raws = stmt
            .query_map([], load_quiz)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter().map(|r| to_quiz(&conn, r)).collect()
    }

    fn set_current(&self, quiz: i64, index: usize, deadline: i64) -> Result<()> {
        self.conn().execute(
            "UPDATE quizzes SET current = ?2, deadline = ?3 WHERE id = ?1 AND status = 'running'",
            params![quiz, index as i64, deadline],
        )?;
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

    fn record_answer(
        &self,
        poll: &str,
        user: i64,
        name: &str,
        option: usize,
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
        let correct = option as i64 == correct_option;
        let streak: i64 = tx
            .query_row(
                "SELECT streak FROM players WHERE chat = ?1 AND user = ?2",
                params![chat, user],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        let new_streak = if correct { streak + 1 } else { 0 };
        let points = if correct {
            quiz::points_for(new_streak)
        } else {
            0
        };
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

    fn quiz_scoreboard(&self, quiz: i64) -> Result<Vec<PlayerRecord>> {
        let conn = self.conn();
        // Best streak within this quiz: longest run of correct answers in question order.
        let mut stmt = conn.prepare(
            "SELECT a.user, a.name, a.correct, a.points FROM answers a
             JOIN polls p ON p.poll_id = a.poll_id WHERE p.quiz = ?1 ORDER BY p.idx",
        )?;
        let rows = stmt
            .query_map([quiz], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut board: Vec<(PlayerRecord, i64)> = Vec::new();
        for (user, name, correct, points) in rows {
            let i = match board.iter().position(|(p, _)| p.user == user) {
                Some(i) => i,
                None => {
                    board.push((
                        PlayerRecord {
                            user,
                            name: name.clone(),
                            points: 0,
                            answered: 0,
                            correct: 0,
                            best_streak: 0,
                        },
                        0,
                    ));
                    board.len() - 1
                }
            };
            let (p, run) = &mut board[i];
            p.name = name;
            p.points += points;
            p.answered += 1;
            if correct {
                p.correct += 1;
                *run += 1;
                p.best_streak = p.best_streak.max(*run);
            } else {
                *run = 0;
            }
        }
        let mut board: Vec<PlayerRecord> = board.into_iter().map(|(p, _)| p).collect();
        quiz::rank(&mut board);
        Ok(board)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(key: &str) -> QuizQuestion {
        QuizQuestion {
            key: key.into(),
            question: format!("Question {key}?"),
            options: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            correct: 1,
            explanation: "Because.".into(),
            doc: 0,
            section: 1,
        }
    }

    /// A write while another connection holds the write lock waits for it and then lands:
    /// it is retried, not dropped.
    #[test]
    fn a_write_waits_for_another_connections_write_lock_and_lands() {
        use std::sync::Arc;
        use std::time::{Duration, Instant};
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
        let id = store.create_quiz(5, &[question("q1")], 1).unwrap().unwrap();
        store.set_current(id, 0, 31).unwrap();
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
                    store.record_answer("p", 9, "Cy", 1),
                    store.set_current(id, 0, 60),
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
        let id = store
            .create_quiz(7, &[question("q1"), question("q2")], 100)
            .unwrap()
            .unwrap();
        assert_eq!(store.create_quiz(7, &[question("q3")], 101).unwrap(), None);
        assert!(store
            .create_quiz(8, &[question("q3")], 101)
            .unwrap()
            .is_some());
        store.set_current(id, 0, 130).unwrap();
        store.attach_poll(id, 0, "poll-1", 1, Some(42)).unwrap();
        let running = store.running_quiz(7).unwrap().unwrap();
        assert_eq!(running.current, Some(0));
        assert_eq!(running.current_poll.as_deref(), Some("poll-1"));
        assert_eq!(
            store.record_answer("poll-1", 1, "Ann", 1).unwrap(),
            AnswerOutcome::Recorded {
                chat: 7,
                correct: true,
                points: 10
            }
        );
        assert_eq!(
            store.record_answer("poll-1", 1, "Ann", 0).unwrap(),
            AnswerOutcome::Duplicate
        );
        assert_eq!(
            store.record_answer("nope", 1, "Ann", 0).unwrap(),
            AnswerOutcome::UnknownPoll
        );
        store.record_answer("poll-1", 2, "Bob", 0).unwrap();
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
        store.finish_quiz(id, false).unwrap();
        assert!(store.running_quiz(7).unwrap().is_none());
        assert_eq!(store.seen_questions(7, 0).unwrap().len(), 2);
    }

    #[test]
    fn scores_survive_reopening_the_database() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SqliteStore::open(dir.path()).unwrap();
            let id = store.create_quiz(5, &[question("q1")], 1).unwrap().unwrap();
            store.set_current(id, 0, 31).unwrap();
            store.attach_poll(id, 0, "p", 1, None).unwrap();
            store.record_answer("p", 9, "Cy", 1).unwrap();
        }
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.player(5, 9).unwrap().unwrap().points, 10);
        let running = store.running_quizzes().unwrap();
        assert_eq!(running.len(), 1, "the running quiz is still there");
        assert_eq!(
            store.record_answer("p", 10, "Di", 1).unwrap(),
            AnswerOutcome::Recorded {
                chat: 5,
                correct: true,
                points: 10
            },
            "answers to its open poll still count"
        );
    }
}
