//! Typed errors of the studybot library.
//!
//! The binary turns these into one-line messages and exit codes; the library never prints.

use std::path::PathBuf;

/// Everything the core can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration could not be read or a value has the wrong type.
    #[error("configuration: {0}")]
    Config(String),
    /// The corpus folder does not exist or is not a folder.
    #[error("corpus folder {} not found", .0.display())]
    CorpusMissing(PathBuf),
    /// The corpus folder holds no document with text in it; `.1` says why each file there was
    /// refused, if any was.
    #[error("corpus folder {} has no document with text (studybot reads {}){}", .0.display(), crate::formats::EXTENSIONS, refused_list(.1))]
    CorpusEmpty(PathBuf, Vec<String>),
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file or folder that failed.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The question cannot be answered as asked (empty, too long, no words).
    #[error("{0}")]
    BadQuestion(String),
    /// The search index failed.
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// A quiz bank file is malformed.
    #[error("quiz bank {}: {message}", path.display())]
    QuizBank {
        /// The bank file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The state database failed.
    #[error("database: {0}")]
    Store(String),
    /// A stored record (a quiz's questions) could not be decoded.
    #[error("unreadable record: {0}")]
    BadRecord(String),
    /// An evaluation file is malformed.
    #[error("{}: line {line}: {message}", path.display())]
    EvalFile {
        /// The JSONL file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        message: String,
    },
    /// The shipped semantic model could not be read.
    #[error("semantic model: {0}")]
    Model(String),
    /// Another process (a running bot, `index` or `chat`) holds the data directory's lock.
    #[error(
        "the data directory {} is in use: another studybot instance{} holds it (stop it, or give this one another data_dir)",
        dir.display(),
        pid.map(|p| format!(" (process {p})")).unwrap_or_default()
    )]
    DataDirLocked {
        /// The data directory.
        dir: PathBuf,
        /// The holder's process id, when its lock file says.
        pid: Option<u32>,
    },
    /// Other I/O failure (data directory, index directory).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(e.to_string())
    }
}

impl From<rusqlite_migration::Error> for Error {
    fn from(e: rusqlite_migration::Error) -> Self {
        Error::Store(e.to_string())
    }
}

/// Result alias for the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// "; a.pdf: it looks scanned; b.txt: it is not UTF-8 text" for [`Error::CorpusEmpty`].
fn refused_list(refused: &[String]) -> String {
    if refused.is_empty() {
        String::new()
    } else {
        format!("; {}", refused.join("; "))
    }
}
