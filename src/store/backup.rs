//! A consistent copy of the state database, taken while the bot runs, with SQLite's online
//! backup API.
//!
//! The copy is made in one step, inside one read transaction of the source: in WAL mode a
//! reader never blocks the bot's writes, and sees the database as it was when the step began,
//! whatever the bot commits meanwhile. (A copy made in many small steps restarts whenever
//! another connection writes between two of them, so it might never finish beside a busy bot;
//! the state database is small: scores, quizzes and polls.)
//!
//! The copy goes to a temporary file beside the destination; it is made one self-contained
//! file (rollback journal instead of WAL), checked with `PRAGMA quick_check`, synced, and only
//! then renamed over the destination. Whoever reads the destination sees the old copy or the
//! new one, never half of one, and a backup that fails leaves the old copy as it was. Nothing
//! here writes to the source, and no lock on the data directory is taken: a backup works
//! beside a running bot.

use std::path::{Path, PathBuf};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::sqlite::busy_pause;
use crate::error::{Error, Result};

/// What a backup copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupReport {
    /// Database pages copied.
    pub pages: u64,
    /// Size of the copy, in bytes.
    pub bytes: u64,
}

/// Copies the SQLite database `db` to `dest`, atomically replacing `dest` if it exists.
pub fn backup(db: &Path, dest: &Path) -> Result<BackupReport> {
    if !db.is_file() {
        return Err(Error::Store(format!(
            "no database to back up at {} (has the bot run with this data_dir?)",
            db.display()
        )));
    }
    if dest.is_dir() {
        return Err(Error::Store(format!(
            "{} is a folder: name the backup file",
            dest.display()
        )));
    }
    if same_file(db, dest) {
        return Err(Error::Store(format!(
            "{} is the database itself: back it up to another file",
            dest.display()
        )));
    }
    let tmp = temporary_beside(dest)?;
    let result = copy_to(db, &tmp).and_then(|pages| {
        let bytes = std::fs::metadata(&tmp)
            .map_err(io("reading the size of", &tmp))?
            .len();
        std::fs::rename(&tmp, dest).map_err(io("renaming the backup to", dest))?;
        sync_parent(dest);
        Ok(BackupReport { pages, bytes })
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Backs `db` up into the new file `tmp`, and makes that a checked, synced, single file.
fn copy_to(db: &Path, tmp: &Path) -> Result<u64> {
    let source = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let _ = std::fs::remove_file(tmp);
    let mut copy = Connection::open(tmp)?;
    let pages = {
        let backup = Backup::new(&source, &mut copy)?;
        let mut attempt = 0;
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                StepResult::More => {}
                _ => {
                    // Busy or locked: another connection holds a lock the copy needs.
                    let pause = busy_pause(attempt).ok_or_else(|| {
                        Error::Store(format!(
                            "{} stayed busy: no consistent copy could be read",
                            db.display()
                        ))
                    })?;
                    tracing::debug!("database busy, backup retrying in {pause:?}");
                    std::thread::sleep(pause);
                    attempt += 1;
                }
            }
        }
        u64::try_from(backup.progress().pagecount).unwrap_or(0)
    };
    drop(source);
    // The copy arrives in WAL mode, like its source; one file is what a backup should be.
    copy.pragma_update(None, "journal_mode", "DELETE")?;
    let check: String = copy.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(Error::Store(format!("the copy failed its check: {check}")));
    }
    copy.close().map_err(|(_, e)| Error::from(e))?;
    std::fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(io("syncing", tmp))?;
    Ok(pages)
}

/// A temporary file name in the destination's folder (so that renaming it is atomic).
fn temporary_beside(dest: &Path) -> Result<PathBuf> {
    let name = dest
        .file_name()
        .ok_or_else(|| Error::Store(format!("{} does not name a file", dest.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    Ok(dest.with_file_name(tmp_name))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Makes the rename durable where the platform allows (best effort: the copy itself is
/// already synced).
fn sync_parent(dest: &Path) {
    #[cfg(unix)]
    if let Some(parent) = dest.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        let _ = std::fs::File::open(parent).and_then(|d| d.sync_all());
    }
    #[cfg(not(unix))]
    let _ = dest;
}

fn io<'a>(doing: &'a str, path: &'a Path) -> impl Fn(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        context: format!("{doing} {}", path.display()),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::DB_FILE;
    use crate::store::{SqliteStore, Store};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// Every answer right and worth ten points, so the writer's rows are easy to count.
    fn ten(_option: usize, _correct: usize, streak: i64) -> crate::store::Scored {
        crate::store::Scored {
            correct: true,
            points: 10,
            streak: streak + 1,
        }
    }

    /// A backup taken while another connection keeps writing is a whole, consistent database:
    /// it opens, passes SQLite's integrity check, holds no half-written transaction, and the
    /// bot's store opens it.
    #[test]
    fn a_backup_while_another_connection_writes_opens_and_is_consistent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
        let id = store
            .create_quiz(1, 10, r#"[{"key":"q"}]"#, 0)
            .unwrap()
            .unwrap();
        store.begin_question(id, 0, "q", 30, 0).unwrap();
        store.attach_poll(id, 0, "poll", 1, None).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut user = 0;
                while !stop.load(Ordering::Relaxed) {
                    user += 1;
                    store.record_answer("poll", user, "Ann", 1, &ten).unwrap();
                }
                user
            })
        };
        // Wait (under a deadline) until the writer is well under way.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while store.leaderboard(1, 1000).unwrap().len() < 50 {
            assert!(std::time::Instant::now() < deadline, "the writer is stuck");
            std::thread::yield_now();
        }
        let dest = dir.path().join("backups").join("copy.sqlite3");
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let reports: Vec<BackupReport> = (0..3)
            .map(|_| backup(&dir.path().join(DB_FILE), &dest).unwrap())
            .collect();
        stop.store(true, Ordering::Relaxed);
        let written = writer.join().unwrap();
        assert!(reports.iter().all(|r| r.pages > 0 && r.bytes > 0));

        let copy = Connection::open(&dest).unwrap();
        let check: String = copy
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let mode: String = copy
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete", "a single self-contained file");
        // Each answer and its player row are one transaction: the copy has both or neither.
        let answers: i64 = copy
            .query_row("SELECT COUNT(*) FROM answers", [], |r| r.get(0))
            .unwrap();
        let players: i64 = copy
            .query_row("SELECT COUNT(*) FROM players", [], |r| r.get(0))
            .unwrap();
        assert_eq!(answers, players);
        assert!(
            answers >= 50 && answers <= written,
            "{answers} of {written}"
        );
        // No temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(dest.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("copy.sqlite3")]);
        // The copy is a store the bot can open.
        drop(copy);
        let restored = tempfile::tempdir().unwrap();
        std::fs::copy(&dest, restored.path().join(DB_FILE)).unwrap();
        let reopened = SqliteStore::open(restored.path()).unwrap();
        assert_eq!(
            reopened.leaderboard(1, 100_000).unwrap().len() as i64,
            players
        );
    }

    #[test]
    fn refuses_a_missing_database_a_folder_and_the_database_itself() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(DB_FILE);
        let err = backup(&db, &dir.path().join("copy")).unwrap_err();
        assert!(err.to_string().contains("no database"), "{err}");
        drop(SqliteStore::open(dir.path()).unwrap());
        let err = backup(&db, dir.path()).unwrap_err();
        assert!(err.to_string().contains("is a folder"), "{err}");
        let err = backup(&db, &db).unwrap_err();
        assert!(err.to_string().contains("database itself"), "{err}");
        assert!(
            SqliteStore::open(dir.path()).is_ok(),
            "the database is intact"
        );
    }
}
