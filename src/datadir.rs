//! One data directory, one process.
//!
//! Everything a running bot writes lives in `data_dir`: the state database, the stored index
//! of a large corpus, the parsed-corpus cache, cached document extractions and the passage
//! vectors. Two bots on one data directory would both resume the same quizzes and post the
//! same polls, and `studybot index` would remove the index a live bot is reading. So whatever
//! writes there (`bot`, `index`, `chat`) first takes an exclusive lock on
//! `data_dir/studybot.lock`, and holds it until it exits; a second one is refused at once with
//! [`Error::DataDirLocked`].
//!
//! The lock is the operating system's advisory file lock ([`std::fs::File::try_lock`]:
//! `flock` on Unix, `LockFileEx` on Windows). It belongs to the open file, so it is released
//! when the process ends however it ends (a crash, `kill -9`): a stale lock file never stops
//! the next start. The file itself is never removed, since removing it would let two
//! processes lock two different files of the same name.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// File name of the lock inside the data directory.
pub const LOCK_FILE: &str = "studybot.lock";

/// The exclusive hold on a data directory; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DataDirLock {
    /// Kept open: closing it releases the lock.
    _file: File,
    dir: PathBuf,
}

impl DataDirLock {
    /// Takes the lock on `data_dir` (creating the directory if needed), or fails at once with
    /// [`Error::DataDirLocked`] when another process holds it.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock> {
        let mut file = open(data_dir)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(locked(data_dir, &mut file)),
            Err(TryLockError::Error(source)) => return Err(io(data_dir, "locking", source)),
        }
        // The holder's process id, for the message a second instance prints. Best effort:
        // the lock, not the file's content, is what keeps others out.
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.flush());
        Ok(DataDirLock {
            _file: file,
            dir: data_dir.to_path_buf(),
        })
    }

    /// The locked data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Whether another process holds `data_dir` now (for checks that only report). A directory
/// without a lock file is free; nothing is created.
pub fn is_held(data_dir: &Path) -> Result<bool> {
    let path = data_dir.join(LOCK_FILE);
    let file = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => return Err(io(data_dir, "opening the lock file in", source)),
    };
    match file.try_lock() {
        // Released again when `file` is dropped.
        Ok(()) => Ok(false),
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(source)) => Err(io(data_dir, "locking", source)),
    }
}

fn open(data_dir: &Path) -> Result<File> {
    std::fs::create_dir_all(data_dir)
        .map_err(|source| io(data_dir, "creating the data directory", source))?;
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(data_dir.join(LOCK_FILE))
        .map_err(|source| io(data_dir, "opening the lock file in", source))
}

/// The refusal, naming the holder's process id when the lock file tells it.
fn locked(data_dir: &Path, file: &mut File) -> Error {
    let mut content = String::new();
    let pid = file
        .read_to_string(&mut content)
        .ok()
        .and_then(|_| content.trim().parse::<u32>().ok());
    Error::DataDirLocked {
        dir: data_dir.to_path_buf(),
        pid,
    }
}

fn io(data_dir: &Path, doing: &str, source: std::io::Error) -> Error {
    Error::Io {
        context: format!("{doing} {}", data_dir.display()),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        assert!(!is_held(&data).unwrap(), "no lock file yet");
        let first = DataDirLock::acquire(&data).unwrap();
        assert_eq!(first.dir(), data);
        // The lock belongs to the open file, so a second open in this process is refused
        // like another process would be.
        let err = DataDirLock::acquire(&data).unwrap_err();
        assert!(
            matches!(&err, Error::DataDirLocked { dir, pid } if *dir == data && *pid == Some(std::process::id())),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains(&data.display().to_string()), "{message}");
        assert!(message.contains("another studybot instance"), "{message}");
        assert!(is_held(&data).unwrap());
        drop(first);
        assert!(!is_held(&data).unwrap());
        let _again = DataDirLock::acquire(&data).unwrap();
        assert!(data.join(LOCK_FILE).exists());
    }
}
