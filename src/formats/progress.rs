//! How far a reader has got ("page 120 of 412"), for the one progress message a group sees
//! while a book is read.
//!
//! Readers report through [`report`]; whoever wants to hear sets a sink for the calling
//! thread with [`with_progress`]. The document reader's child process has no other channel
//! than its pipes, so [`sandbox`](super::sandbox) turns reports into marked lines on the
//! child's stderr and back into calls of the parent's sink.

use std::cell::RefCell;
use std::sync::Arc;

/// Told `(done, total)` pages as a reader goes.
pub type Sink = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// Starts a progress line on the child's stderr; everything else there is diagnostics.
pub(crate) const LINE_MARK: &str = "\u{1}studybot-progress ";

thread_local! {
    static SINK: RefCell<Option<Sink>> = const { RefCell::new(None) };
}

/// Runs `f` with `sink` told of the progress of every reader `f` runs on this thread.
pub fn with_progress<T>(sink: Sink, f: impl FnOnce() -> T) -> T {
    let previous = SINK.with(|s| s.replace(Some(sink)));
    // Restored even if `f` panics, so a later job on a pooled thread hears nothing stale.
    struct Restore(Option<Sink>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            SINK.with(|s| *s.borrow_mut() = previous);
        }
    }
    let _restore = Restore(previous);
    f()
}

/// The sink set on this thread, if any.
pub(crate) fn current() -> Option<Sink> {
    SINK.with(|s| s.borrow().clone())
}

/// Tells this thread's sink that `done` of `total` pages are read.
pub(crate) fn report(done: usize, total: usize) {
    if let Some(sink) = current() {
        sink(done, total);
    }
}

/// The progress a child's stderr line carries, if it is a progress line.
pub(crate) fn parse_line(line: &str) -> Option<(usize, usize)> {
    let rest = line.strip_prefix(LINE_MARK)?;
    let (done, total) = rest.trim().split_once(' ')?;
    Some((done.parse().ok()?, total.parse().ok()?))
}

/// The line a child prints for `(done, total)`.
pub(crate) fn line(done: usize, total: usize) -> String {
    format!("{LINE_MARK}{done} {total}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn reports_reach_the_sink_of_their_thread_only_while_it_is_set() {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let h = Arc::clone(&heard);
        with_progress(Arc::new(move |d, t| h.lock().unwrap().push((d, t))), || {
            report(1, 3);
            std::thread::spawn(|| report(2, 3)).join().unwrap();
            report(3, 3);
        });
        report(4, 4);
        assert_eq!(*heard.lock().unwrap(), vec![(1, 3), (3, 3)]);
    }

    #[test]
    fn progress_lines_round_trip_and_other_lines_are_not_progress() {
        assert_eq!(parse_line(&line(120, 412)), Some((120, 412)));
        assert_eq!(parse_line("thread 'main' panicked"), None);
        assert_eq!(parse_line(&format!("{LINE_MARK}x 3")), None);
    }
}
