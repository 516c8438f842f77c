//! Binary formats are parsed in a child process, `studybot extract --child`, under a memory
//! limit and a time limit, and the result is cached by content.
//!
//! The PDF, EPUB and DOCX readers are large third-party parsers fed untrusted files. A file
//! that makes one panic, loop or allocate without end must cost that file, never the bot; a
//! separate process with `setrlimit` limits is the only isolation that covers all three (a
//! thread can neither be stopped nor have its memory bounded).
//!
//! The binary opts in with [`use_child_process`] (the library cannot know the path of the
//! executable that embeds it); without it, as in unit tests, files are parsed in-process with
//! panics caught. Results are cached under the data directory by SHA-256 of the bytes and
//! [`super::EXTRACT_VERSION`], so a restart never parses a 500-page PDF again.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{parse, FormatError, ParsedDocument, EXTRACT_VERSION};

/// Address-space limit of the child. Measured peaks (BENCHMARKS.md): a 500-page PDF takes
/// well under a tenth of this; the rest is headroom for fonts and images in real books.
pub const MEMORY_LIMIT_BYTES: u64 = 2 << 30;
/// CPU-time limit of the child, in seconds.
pub const CPU_LIMIT_SECS: u64 = 120;
/// Wall-clock limit: the child is killed after this, whatever it is doing.
pub const WALL_LIMIT: Duration = Duration::from_secs(180);

static CHILD_EXE: OnceLock<PathBuf> = OnceLock::new();
static CACHE_DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Parse binary formats in child processes of `exe` (the running `studybot`).
pub fn use_child_process(exe: PathBuf) {
    let _ = CHILD_EXE.set(exe);
}

/// Cache extractions under `dir` (created when first written).
pub fn set_cache_dir(dir: PathBuf) {
    if let Ok(mut slot) = CACHE_DIR.lock() {
        *slot = Some(dir);
    }
}

fn cache_dir() -> Option<PathBuf> {
    CACHE_DIR.lock().ok().and_then(|d| d.clone())
}

/// The outcome of one extraction, as the child prints it and the cache stores it.
pub type Outcome = Result<ParsedDocument, FormatError>;

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(64);
    for b in Sha256::digest(bytes) {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Reads a binary-format document: from the cache, else in a child process (or in-process when
/// no child executable is set), caching the outcome. `name` is the file name, for its format.
pub fn extract(name: &str, bytes: &[u8]) -> Outcome {
    let key = format!("{}-v{EXTRACT_VERSION}.json", sha256_hex(bytes));
    let cached = cache_dir().map(|d| d.join(&key));
    if let Some(path) = &cached {
        if let Some(outcome) = read_cached(path) {
            tracing::debug!(file = name, "extraction cache hit");
            return outcome;
        }
    }
    let outcome = match CHILD_EXE.get() {
        Some(exe) => run_child(exe, name, bytes),
        None => parse_guarded(bytes, name),
    };
    // A reader that crashed or ran out of time may do better after an upgrade or on a quieter
    // machine; every other outcome is what these bytes always give.
    if let (Some(path), false) = (&cached, matches!(outcome, Err(FormatError::Failed { .. }))) {
        write_cached(path, &outcome);
    }
    outcome
}

/// Parses in this process, turning a panic into [`FormatError::Failed`].
pub fn parse_guarded(bytes: &[u8], name: &str) -> Outcome {
    match std::panic::catch_unwind(|| parse(bytes, name)) {
        Ok(outcome) => outcome,
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the reader crashed".into());
            Err(FormatError::Failed {
                detail: format!("the reader crashed: {detail}"),
            })
        }
    }
}

fn read_cached(path: &Path) -> Option<Outcome> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn write_cached(path: &Path, outcome: &Outcome) {
    let Some(dir) = path.parent() else { return };
    let Ok(json) = serde_json::to_vec(outcome) else {
        return;
    };
    let tmp = path.with_extension("tmp");
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&tmp, &json))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), error = %e, "could not cache an extraction");
    }
}

/// Runs `exe extract --child --name NAME`, feeding the bytes on stdin and reading the JSON
/// outcome from stdout, killing the child past [`WALL_LIMIT`].
fn run_child(exe: &Path, name: &str, bytes: &[u8]) -> Outcome {
    let failed = |detail: String| Err(FormatError::Failed { detail });
    let mut child = match Command::new(exe)
        .args(["extract", "--child", "--name", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return failed(format!("could not start the reader: {e}")),
    };
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return failed("could not talk to the reader".into());
    };
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || {
        // A child that dies early closes the pipe: its exit status says why.
        let _ = stdin.write_all(&input);
    });
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let sink = super::progress::current();
    let errors = std::thread::spawn(move || read_stderr(&mut stderr, sink));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > WALL_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let _ = writer.join();
    let out = reader.join().unwrap_or_default();
    let err = errors.join().unwrap_or_default();
    let Some(status) = status else {
        return failed(format!(
            "the reader took longer than {} s and was stopped",
            WALL_LIMIT.as_secs()
        ));
    };
    if let Ok(outcome) = serde_json::from_slice::<Outcome>(&out) {
        return outcome;
    }
    let stderr = String::from_utf8_lossy(&err);
    tracing::warn!(file = name, %status, stderr = %stderr.trim(), "the document reader failed");
    failed(describe_exit(status, &stderr))
}

/// Reads the child's stderr to its end: progress lines go to `sink`, the first 64 KiB of
/// the rest is kept for the log.
fn read_stderr(stderr: &mut impl Read, sink: Option<super::progress::Sink>) -> Vec<u8> {
    const KEEP: usize = 64 * 1024;
    let mut kept = Vec::new();
    for line in BufReader::new(stderr).split(b'\n') {
        let Ok(line) = line else { break };
        let progress = std::str::from_utf8(&line)
            .ok()
            .and_then(super::progress::parse_line);
        match (progress, &sink) {
            (Some((done, total)), Some(sink)) => sink(done, total),
            (Some(_), None) => {}
            (None, _) if kept.len() < KEEP => {
                kept.extend_from_slice(&line[..line.len().min(KEEP - kept.len())]);
                kept.push(b'\n');
            }
            (None, _) => {}
        }
    }
    kept
}

fn describe_exit(status: std::process::ExitStatus, stderr: &str) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        match status.signal() {
            Some(libc::SIGXCPU) | Some(libc::SIGKILL) => {
                return format!(
                    "the reader used more than {CPU_LIMIT_SECS} s of CPU and was stopped"
                )
            }
            Some(libc::SIGABRT) | Some(libc::SIGSEGV) | Some(libc::SIGBUS)
                if stderr.contains("memory allocation") =>
            {
                return format!(
                    "the reader needed more than {} MB of memory and was stopped",
                    MEMORY_LIMIT_BYTES >> 20
                )
            }
            Some(sig) => return format!("the reader crashed (signal {sig})"),
            None => {}
        }
    }
    if stderr.contains("memory allocation") {
        return format!(
            "the reader needed more than {} MB of memory and was stopped",
            MEMORY_LIMIT_BYTES >> 20
        );
    }
    format!("the reader exited with {status}")
}

/// The child's side: limits itself, reads the document from stdin, prints the outcome as
/// JSON on stdout.
pub fn child_main(name: &str) -> std::io::Result<()> {
    limit_self();
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(super::MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    // Each page read becomes one marked line on stderr, which the parent turns back into
    // its own progress reports.
    let outcome = super::progress::with_progress(
        std::sync::Arc::new(|done, total| {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{}", super::progress::line(done, total));
        }),
        || parse_guarded(&bytes, name),
    );
    let json = serde_json::to_vec(&outcome).map_err(std::io::Error::other)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&json)?;
    stdout.flush()
}

/// Applies [`MEMORY_LIMIT_BYTES`] and [`CPU_LIMIT_SECS`] to this process.
fn limit_self() {
    #[cfg(unix)]
    {
        let set = |resource, value: u64| {
            let limit = libc::rlimit {
                rlim_cur: value as libc::rlim_t,
                rlim_max: value as libc::rlim_t,
            };
            // SAFETY: setrlimit reads the struct we pass and changes only this process's limits.
            let rc = unsafe { libc::setrlimit(resource, &limit) };
            if rc != 0 {
                tracing::warn!("could not set a resource limit for the document reader");
            }
        };
        set(libc::RLIMIT_AS, MEMORY_LIMIT_BYTES);
        // The soft limit sends SIGXCPU; the hard one, a second later, SIGKILL.
        let cpu = libc::rlimit {
            rlim_cur: CPU_LIMIT_SECS as libc::rlim_t,
            rlim_max: (CPU_LIMIT_SECS + 1) as libc::rlim_t,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_CPU, &cpu) } != 0 {
            tracing::warn!("could not set a CPU limit for the document reader");
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in for the reader: a shell script with `body`.
    fn script(dir: &Path, body: &str) -> PathBuf {
        let path = dir.join("reader.sh");
        std::fs::write(&path, format!("#!/bin/sh\ncat > /dev/null\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn a_reader_that_crashes_or_talks_nonsense_costs_only_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let crash = script(dir.path(), "kill -SEGV $$");
        match run_child(&crash, "a.pdf", b"%PDF-1.4") {
            Err(FormatError::Failed { detail }) => assert!(detail.contains("crashed"), "{detail}"),
            other => panic!("{other:?}"),
        }
        let nonsense = script(dir.path(), "echo not json; exit 3");
        match run_child(&nonsense, "a.pdf", b"%PDF-1.4") {
            Err(FormatError::Failed { detail }) => assert!(detail.contains("exited"), "{detail}"),
            other => panic!("{other:?}"),
        }
        let fine = script(dir.path(), r#"printf '{"Err":"Locked"}'"#);
        assert_eq!(run_child(&fine, "a.pdf", b"%PDF"), Err(FormatError::Locked));
    }

    #[test]
    fn the_childs_page_reports_reach_the_parents_progress_sink() {
        let dir = tempfile::tempdir().unwrap();
        let mark = super::super::progress::LINE_MARK.replace('\u{1}', "\\001");
        let body = format!(
            "printf '{mark}1 2\\nnot progress\\n{mark}2 2\\n' >&2\nprintf '{{\"Err\":\"Locked\"}}'"
        );
        let reader = script(dir.path(), &body);
        let heard = std::sync::Arc::new(Mutex::new(Vec::new()));
        let h = std::sync::Arc::clone(&heard);
        let outcome = super::super::progress::with_progress(
            std::sync::Arc::new(move |d, t| h.lock().unwrap().push((d, t))),
            || run_child(&reader, "a.pdf", b"%PDF"),
        );
        assert_eq!(outcome, Err(FormatError::Locked));
        assert_eq!(*heard.lock().unwrap(), vec![(1, 2), (2, 2)]);
    }

    #[test]
    fn outcomes_are_cached_by_content_and_failures_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        write_cached(&path, &Err(FormatError::Scanned { pages: 3 }));
        assert_eq!(
            read_cached(&path),
            Some(Err(FormatError::Scanned { pages: 3 }))
        );
        std::fs::write(&path, b"{broken").unwrap();
        assert_eq!(read_cached(&path), None);
    }
}
