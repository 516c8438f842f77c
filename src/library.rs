//! The library: the host's shared texts and the texts added from the chats, each chat seeing
//! the shared ones and its own.
//!
//! A text added from a chat gets an engine of its own (index, vocabulary, vectors and quiz
//! questions), so that another chat's book never changes this chat's answers, its typo
//! corrections or its "not in the text" judgement, and adding or removing a text never
//! renumbers another text's passages: a button carries the tag of the text it was made for
//! (`t<id>` for an added text), and ids inside one text never move.
//!
//! On disk an added text is a folder `data_dir/texts/<sha256>/` holding the original file,
//! its parsed form (`corpus.cache`), and, once made, its stored index and vectors. Its
//! record (chat, who added it, when, title) is a row of the store, written when reading
//! starts as a job and made ready last. A job a crash left unfinished is discarded at the
//! next start and its chat told.
//!
//! The library returns values like the rest of the core; the adapters download files, send
//! the progress and decide who is an admin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::commands::view::{Button, Content, Reply};
use crate::commands::{Action, Caller, Command, Handler};
use crate::config::{Settings, Uploaders};
use crate::corpus::cache;
use crate::engine::Engine;
use crate::formats::Format;
use crate::quiz::pool::QuestionPool;
use crate::quiz::session::Started;
use crate::store::{NewText, Store, TextRecord, TextStatus, ADDED_TEXT_PREFIX};

/// Folder under `data_dir` holding the added texts, one folder per file's SHA-256.
pub const TEXTS_DIR: &str = "texts";

/// Documents of the added text with id `n` are numbered from `n * DOC_STRIDE` in what the
/// store records (records by section, questions in review decks): apart from the host's.
pub const DOC_STRIDE: usize = 1_000_000;

/// The formats a text may be added in, for the line that refuses any other.
pub const ACCEPTED: &str = "PDF, EPUB, DOCX, HTML, TXT and MD";

/// An added text being served.
#[derive(Debug, Clone)]
struct Shelf {
    record: TextRecord,
    handler: Handler,
}

#[derive(Debug, Default)]
struct State {
    /// Every record, removed ones included (a button on one says it was removed).
    records: BTreeMap<i64, TextRecord>,
    /// The ready texts.
    shelves: BTreeMap<i64, Shelf>,
}

/// A job a crash or restart left unfinished, discarded at start: its chat is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    /// The chat that was adding it.
    pub chat: i64,
    /// The file's name.
    pub file: String,
    /// The progress message, to edit.
    pub message: Option<i64>,
}

impl Interrupted {
    /// What the chat is told.
    pub fn notice(&self) -> String {
        format!(
            "I was restarted while reading {}, so it was not added and nothing of it was kept. If I don't start reading it again in a moment, please send it again.",
            self.file
        )
    }
}

/// A text accepted for reading: its job row and bytes.
#[derive(Debug)]
pub struct Job {
    id: i64,
    chat: i64,
    sha: String,
    file: String,
    bytes: Vec<u8>,
}

/// A text read and served.
#[derive(Debug, Clone)]
pub struct Added {
    /// Its id (`/remove` and buttons use it).
    pub id: i64,
    /// Its number in the chat's `/texts`.
    pub number: usize,
    /// Its title.
    pub title: String,
    /// Pages, for a paged format.
    pub pages: Option<usize>,
    /// Sections.
    pub sections: usize,
    /// Passages.
    pub passages: usize,
    /// Whether semantic ranking is already on (vectors stored by an earlier reading).
    pub semantic: bool,
    engine: Arc<Engine>,
    settings: Settings,
}

impl Added {
    /// The "Ready" line of the progress message (HTML).
    pub fn ready_html(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = self.pages {
            parts.push(plural(p, "page"));
        }
        parts.push(plural(self.sections, "section"));
        parts.push(plural(self.passages, "passage"));
        let later = if self.semantic {
            "Ask away."
        } else {
            "Ask away (semantic ranking joins in about a minute)."
        };
        format!(
            "Ready: <b>{}</b>, {}. It is text {} here now. {later}",
            escape(&self.title),
            parts.join(", "),
            self.number
        )
    }

    /// Computes the text's semantic vectors (minutes for a large book, on this thread) and
    /// turns semantic ranking on; says whether it is on.
    pub fn add_semantic(&self) -> bool {
        self.engine.add_semantic(&self.settings, &mut |_, _| {});
        self.engine.semantic()
    }
}

/// "1,234 passages".
fn plural(n: usize, what: &str) -> String {
    let digits = n.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped} {what}{}", if n == 1 { "" } else { "s" })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The host's texts and the chats' own.
#[derive(Debug)]
pub struct Library {
    host: Handler,
    settings: Settings,
    state: RwLock<State>,
    /// Jobs found unfinished at start, until the adapter tells their chats.
    interrupted: std::sync::Mutex<Vec<Interrupted>>,
}

/// The tag a button on an added text carries.
fn text_tag(id: i64) -> String {
    format!("t{id}")
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("part");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// A file name safe to store: its last path component, without control characters, at most
/// 100 characters, keeping its extension.
fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == ':' { '_' } else { c })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_string();
    if cleaned.chars().count() <= 100 {
        return if cleaned.is_empty() {
            "text.txt".into()
        } else {
            cleaned
        };
    }
    let ext = cleaned.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let stem: String = cleaned.chars().take(90).collect();
    format!("{stem}.{ext}")
}

/// Whether `dir` holds a file in a format studybot reads (an added text's original).
fn holds_original(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.path().is_file()
                && crate::formats::Format::from_name(&e.file_name().to_string_lossy()).is_some()
        })
    })
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

impl Library {
    /// A library of the host's texts only: no added text is read or served until
    /// [`Library::open`] reads them.
    pub fn new(host: Handler, settings: &Settings) -> Library {
        Library {
            host,
            settings: settings.clone(),
            state: RwLock::new(State::default()),
            interrupted: Default::default(),
        }
    }

    /// The jobs a restart interrupted (once: the adapter tells their chats).
    pub fn take_interrupted(&self) -> Vec<Interrupted> {
        std::mem::take(
            &mut *self
                .interrupted
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// The library over the host's handler: the added texts recorded in its store are opened
    /// (their parsed form and index read back, vectors from their folder when stored), and
    /// jobs a crash left unfinished are discarded and kept for [`Library::take_interrupted`].
    pub fn open(host: Handler, settings: &Settings) -> Library {
        let library = Library::new(host, settings);
        let Some(store) = library.store() else {
            return library;
        };
        let records = match store.added_texts() {
            Ok(r) => r,
            Err(err) => {
                tracing::error!(error = %err, "could not read the added texts");
                return library;
            }
        };
        let mut interrupted = Vec::new();
        for record in records {
            match record.status {
                TextStatus::Reading => {
                    if let Err(err) = store.discard_text(record.id) {
                        tracing::error!(error = %err, "could not discard an unfinished text");
                    }
                    tracing::warn!(chat = record.chat, file = %record.file, "discarded a text whose reading a restart interrupted");
                    interrupted.push(Interrupted {
                        chat: record.chat,
                        file: record.file.clone(),
                        message: record.message,
                    });
                    library.forget_files(&record.sha, None);
                }
                TextStatus::Removed => {
                    library.write().records.insert(record.id, record);
                }
                TextStatus::Ready => match library.engine_for(&record.sha) {
                    Ok(engine) => {
                        library.shelve(record, engine);
                    }
                    Err(err) => {
                        tracing::error!(file = %record.file, error = %err, "could not open an added text; it is not served");
                        library.write().records.insert(record.id, record);
                    }
                },
            }
        }
        *library
            .interrupted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = interrupted;
        library
    }

    fn store(&self) -> Option<Arc<dyn Store>> {
        self.host.quiz().map(|q| Arc::clone(q.store()))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Follows a chat that moved to a new id (a group became a supergroup): its texts stay
    /// its own. The store moves their records in the same step.
    pub fn moved(&self, old: i64, new: i64) {
        let mut state = self.write();
        for r in state.records.values_mut().filter(|r| r.chat == old) {
            r.chat = new;
        }
        for s in state.shelves.values_mut().filter(|s| s.record.chat == old) {
            s.record.chat = new;
        }
    }

    /// The handler of the host's texts.
    pub fn host(&self) -> &Handler {
        &self.host
    }

    /// Settings an added text's engine uses: its folder as the data directory, so that its
    /// stored index and vectors live beside it.
    fn text_settings(&self, sha: &str) -> Settings {
        let mut settings = self.settings.clone();
        settings.data_dir = self.texts_dir().join(sha);
        settings
    }

    fn texts_dir(&self) -> PathBuf {
        self.settings.data_dir.join(TEXTS_DIR)
    }

    /// The engine of the text stored under `sha`: another chat's when it is served already,
    /// else read back from its folder.
    fn engine_for(&self, sha: &str) -> crate::Result<Arc<Engine>> {
        if let Some(shelf) = self.read().shelves.values().find(|s| s.record.sha == sha) {
            return Ok(Arc::clone(shelf.handler.engine()));
        }
        let settings = self.text_settings(sha);
        let dir = &settings.data_dir;
        let (corpus, _) = cache::load(dir, &dir.join(cache::CACHE_FILE), 0)?;
        let engine = Engine::lexical(corpus, &settings, &mut |_, _| {})?;
        engine.add_cached_semantic(&settings);
        Ok(Arc::new(engine))
    }

    fn shelve(&self, record: TextRecord, engine: Arc<Engine>) -> Handler {
        let base = usize::try_from(record.id).unwrap_or(0) * DOC_STRIDE;
        let handler = self.host.for_text(
            engine,
            QuestionPool::new(Vec::new()),
            base,
            text_tag(record.id),
        );
        let mut state = self.write();
        state.records.insert(record.id, record.clone());
        state.shelves.insert(
            record.id,
            Shelf {
                record,
                handler: handler.clone(),
            },
        );
        handler
    }

    /// Deletes the folder of `sha` unless a ready text other than `except` still uses it.
    fn forget_files(&self, sha: &str, except: Option<i64>) {
        let used = self
            .read()
            .shelves
            .values()
            .any(|s| s.record.sha == sha && Some(s.record.id) != except);
        if used || sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return;
        }
        let dir = self.texts_dir().join(sha);
        if dir.exists() {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "could not delete an added text's files");
            }
        }
    }

    /// The ready texts `chat` added, oldest first.
    fn own(&self, chat: i64) -> Vec<Shelf> {
        self.read()
            .shelves
            .values()
            .filter(|s| s.record.chat == chat)
            .cloned()
            .collect()
    }

    fn host_documents(&self) -> usize {
        self.host.engine().corpus.documents.len()
    }

    /// The added text that is `chat`'s current text, if one is.
    fn current(&self, chat: i64) -> Option<Shelf> {
        let store = self.store()?;
        let name = store.chat_text(chat).ok()??;
        let id: i64 = name.strip_prefix(ADDED_TEXT_PREFIX)?.parse().ok()?;
        self.read()
            .shelves
            .get(&id)
            .filter(|s| s.record.chat == chat)
            .cloned()
    }

    /// The handler answering in `chat`: its current text's, when that is an added text, else
    /// the host's.
    pub fn handler_for(&self, chat: i64) -> Handler {
        match self.current(chat) {
            Some(shelf) => shelf.handler,
            None => self.host.clone(),
        }
    }

    /// The handler whose buttons carry `tag`, as seen from `chat`; `Err` is the message for
    /// the button press.
    pub fn handler_by_tag(&self, tag: &str, chat: i64) -> Result<Handler, &'static str> {
        if tag == self.host.tag() {
            return Ok(self.host.clone());
        }
        let stale = "This button is from an older version of the text. Ask again.";
        let Some(id) = tag.strip_prefix('t').and_then(|n| n.parse::<i64>().ok()) else {
            return Err(stale);
        };
        let state = self.read();
        if let Some(shelf) = state.shelves.get(&id).filter(|s| s.record.chat == chat) {
            return Ok(shelf.handler.clone());
        }
        match state.records.get(&id) {
            Some(r) if r.chat == chat => Err("That text was removed from this chat."),
            _ => Err(stale),
        }
    }

    /// Handles a command in `chat`: the library's own (`/texts`, `/text`, `/remove`), or the
    /// chat's handler's. Returns the reply, the quiz it started, the poll to close and the tag
    /// its buttons carry.
    pub fn command_in_chat(
        &self,
        chat: i64,
        caller: &Caller,
        group: bool,
        command: &Command,
        now: i64,
    ) -> (Reply, Option<Started>, Option<i64>, String) {
        let host_tag = self.host.tag().to_string();
        match command {
            Command::Texts => (self.texts(chat), None, None, host_tag),
            Command::Text(arg) => (self.set_text(chat, caller, group, arg), None, None, host_tag),
            Command::Remove(arg) => (self.remove_prompt(chat, caller, group, arg), None, None, host_tag),
            Command::Add => (
                Reply::notice(
                    "Send /add as the caption of a file, or reply /add to a message that holds one.",
                ),
                None,
                None,
                host_tag,
            ),
            other => {
                let handler = self.handler_for(chat);
                let (reply, started, poll) =
                    handler.command_in_chat(chat, caller, group, other, now);
                (reply, started, poll, handler.tag().to_string())
            }
        }
    }

    /// Handles a button press in `chat`, on a message whose buttons carry `tag`.
    pub fn action(
        &self,
        action: &Action,
        tag: &str,
        chat: i64,
        caller: &Caller,
        question: Option<&str>,
    ) -> Result<(Reply, String), String> {
        if let Action::Remove { text, confirmed } = action {
            if tag != self.host.tag() {
                return Err("This button is from an older version of the text.".into());
            }
            return self
                .remove(chat, caller, *text as i64, *confirmed)
                .map(|r| (r, tag.to_string()));
        }
        let handler = self.handler_by_tag(tag, chat).map_err(str::to_string)?;
        let reply = handler.action(action, chat, caller, question)?;
        Ok((reply, handler.tag().to_string()))
    }

    /// `/texts`: the shared texts, then the chat's own, numbered, and which one it reads.
    pub fn texts(&self, chat: i64) -> Reply {
        let own = self.own(chat);
        if own.is_empty() {
            return self.host.texts(Some(chat));
        }
        let documents = &self.host.engine().corpus.documents;
        let sections = |n: usize| plural(n, "section");
        let mut text = format!("I serve {} texts here:\n", documents.len() + own.len());
        for (i, d) in documents.iter().enumerate() {
            text.push_str(&format!(
                "{}. {} ({})\n",
                i + 1,
                d.title,
                sections(d.sections.len())
            ));
        }
        for (i, s) in own.iter().enumerate() {
            let doc = s.handler.engine().corpus.documents.first();
            let date = chrono_date(s.record.added_at);
            text.push_str(&format!(
                "{}. {} ({}), added by {} on {date}\n",
                documents.len() + i + 1,
                s.record.title,
                sections(doc.map_or(0, |d| d.sections.len())),
                s.record.added_by_name,
            ));
        }
        let reads = match self.current(chat) {
            Some(s) => s.record.title,
            None => match self.host.chat_doc(chat).and_then(|d| documents.get(d)) {
                Some(d) => d.title.clone(),
                None if documents.len() == 1 => documents[0].title.clone(),
                None => "all the shared texts".to_string(),
            },
        };
        text.push_str(&format!(
            "\nThis chat reads {reads}. Choose one with /text followed by its number; /text all goes back to the shared texts. /remove followed by a number removes a text added here."
        ));
        Reply::notice(text)
    }

    /// `/text N` or `/text all`, over the shared texts and the chat's own.
    pub fn set_text(&self, chat: i64, caller: &Caller, group: bool, arg: &str) -> Reply {
        let own = self.own(chat);
        let host_docs = self.host_documents();
        if own.is_empty() {
            return self.host.set_text(chat, caller, group, arg);
        }
        let Some(store) = self.store() else {
            return Reply::notice("Choosing a text is not available here.");
        };
        let arg = arg.trim();
        let total = host_docs + own.len();
        let usage = Reply::notice(format!(
            "Which text? Send /text followed by a number from 1 to {total}, or /text all. See /texts."
        ));
        if arg.is_empty() {
            return usage;
        }
        if group && !caller.admin {
            return Reply::notice("Only an admin of this chat can choose its text.");
        }
        if arg.eq_ignore_ascii_case("all") {
            return match store.set_chat_text(chat, None) {
                Ok(()) => Reply::notice("This chat reads all the shared texts again."),
                Err(_) => Reply::notice("Sorry, I could not save that. Please try again."),
            };
        }
        let Some(n) = arg
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=total).contains(n))
        else {
            return usage;
        };
        if n <= host_docs {
            // The host's handler knows its documents; with one, it is "all".
            if host_docs == 1 {
                return match store.set_chat_text(chat, None) {
                    Ok(()) => Reply::notice(format!(
                        "This chat reads {} now.",
                        self.host.engine().corpus.documents[0].title
                    )),
                    Err(_) => Reply::notice("Sorry, I could not save that. Please try again."),
                };
            }
            return self.host.set_text(chat, caller, group, &n.to_string());
        }
        let shelf = &own[n - host_docs - 1];
        match store.set_chat_text(
            chat,
            Some(&format!("{ADDED_TEXT_PREFIX}{}", shelf.record.id)),
        ) {
            Ok(()) => Reply::notice(format!("This chat reads {} now.", shelf.record.title)),
            Err(_) => Reply::notice("Sorry, I could not save that. Please try again."),
        }
    }

    /// `/remove N`: a confirmation, for an admin in a group or the member in a private chat.
    fn remove_prompt(&self, chat: i64, caller: &Caller, group: bool, arg: &str) -> Reply {
        let own = self.own(chat);
        let host_docs = self.host_documents();
        if own.is_empty() {
            return Reply::notice("No text was added in this chat, so there is none to remove.");
        }
        if group && !caller.admin {
            return Reply::notice("Only an admin of this chat can remove its texts.");
        }
        let first = host_docs + 1;
        let last = host_docs + own.len();
        let range = if first == last {
            format!("{first}")
        } else {
            format!("a number from {first} to {last}")
        };
        let Some(shelf) = arg
            .trim()
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(first))
            .and_then(|i| own.get(i))
        else {
            return Reply::notice(format!(
                "Which text? Send /remove followed by {range} (the texts added here; see /texts)."
            ));
        };
        let id = usize::try_from(shelf.record.id).unwrap_or(0);
        Reply {
            content: Content::Notice(format!(
                "Remove {} from this chat? Scores stay; review cards of its questions are dropped.",
                shelf.record.title
            )),
            buttons: vec![vec![
                Button {
                    label: "Remove it".into(),
                    action: Action::Remove {
                        text: id,
                        confirmed: true,
                    },
                },
                Button {
                    label: "Cancel".into(),
                    action: Action::Remove {
                        text: id,
                        confirmed: false,
                    },
                },
            ]],
            replace: false,
        }
    }

    /// The confirmation button of `/remove`.
    fn remove(
        &self,
        chat: i64,
        caller: &Caller,
        id: i64,
        confirmed: bool,
    ) -> Result<Reply, String> {
        let Some(shelf) = self
            .read()
            .shelves
            .get(&id)
            .filter(|s| s.record.chat == chat)
            .cloned()
        else {
            return Err("That text is not here any more.".into());
        };
        if !caller.admin {
            return Err("Only an admin of this chat can remove its texts.".into());
        }
        if !confirmed {
            return Ok(Reply {
                content: Content::Notice(format!("{} stays.", shelf.record.title)),
                buttons: Vec::new(),
                replace: true,
            });
        }
        let store = self
            .store()
            .ok_or("Removing texts is not available here.")?;
        let base = usize::try_from(id).unwrap_or(0) * DOC_STRIDE;
        let cards = match store.remove_text(id, base..base + DOC_STRIDE) {
            Ok(Some(cards)) => cards,
            Ok(None) => return Err("That text is not here any more.".into()),
            Err(err) => {
                tracing::error!(error = %err, "could not remove a text");
                return Err("Sorry, I could not reach my database. Please try again.".into());
            }
        };
        {
            let mut state = self.write();
            state.shelves.remove(&id);
            if let Some(r) = state.records.get_mut(&id) {
                r.status = TextStatus::Removed;
            }
        }
        self.forget_files(&shelf.record.sha, Some(id));
        tracing::info!(chat, text = id, cards, "removed an added text");
        let cards = match cards {
            0 => "No review cards were of it.".to_string(),
            n => format!(
                "{} of it were dropped from review decks.",
                plural(n, "review card")
            ),
        };
        Ok(Reply {
            content: Content::Notice(format!(
                "Removed {}. Scores stay. {cards}",
                shelf.record.title
            )),
            buttons: Vec::new(),
            replace: true,
        })
    }

    /// The largest file that may be added, in bytes (`uploads.max_file_mb`).
    pub fn max_file_bytes(&self) -> u64 {
        self.settings.uploads.max_file_mb.saturating_mul(1 << 20)
    }

    /// Whether `user` may add texts in `chat` (`admin`: they administer it; a private chat's
    /// member does). `Err` is the refusal, saying how adding is turned on or who may.
    pub fn may_add(&self, user: i64, admin: bool) -> Result<(), String> {
        let uploads = &self.settings.uploads;
        if !uploads.enabled {
            return Err("Adding texts from the chat is off on this bot. Its host can turn it on with `enabled = true` under [uploads] in config/local.toml (or STUDYBOT__UPLOADS__ENABLED=true) and a restart.".into());
        }
        let owner = self.settings.telegram.owners.contains(&user);
        match uploads.who {
            _ if owner => Ok(()),
            Uploaders::Members => Ok(()),
            Uploaders::Admins if admin => Ok(()),
            Uploaders::Admins => Err("Only an admin of this chat can add texts here.".into()),
            Uploaders::Owners => {
                Err("Only the bot's owners can add texts here (telegram.owners).".into())
            }
        }
    }

    /// Checks a file before it is downloaded: its format by name, its size, and the chat's
    /// and the data directory's quotas. `Err` names the limit and its value.
    pub fn check_upload(&self, chat: i64, name: &str, size: u64) -> Result<(), String> {
        let uploads = &self.settings.uploads;
        if Format::from_name(name).is_none() {
            return Err(format!(
                "I can add {ACCEPTED} files; {} is none of them.",
                safe_name(name)
            ));
        }
        let limit = uploads.max_file_mb.saturating_mul(1 << 20);
        if size > limit {
            return Err(format!(
                "{} is {:.1} MB; the limit here is {} MB (uploads.max_file_mb).",
                safe_name(name),
                size as f64 / f64::from(1 << 20),
                uploads.max_file_mb
            ));
        }
        if self.own(chat).len() >= uploads.max_texts_per_chat {
            return Err(format!(
                "This chat has {} texts added, the most allowed (uploads.max_texts_per_chat = {}). Remove one with /remove first.",
                uploads.max_texts_per_chat, uploads.max_texts_per_chat
            ));
        }
        let used = dir_size(&self.texts_dir());
        if used.saturating_add(size) > uploads.max_total_mb.saturating_mul(1 << 20) {
            return Err(format!(
                "The bot's added texts take {:.0} MB; this file would go past the limit of {} MB (uploads.max_total_mb).",
                used as f64 / f64::from(1 << 20),
                uploads.max_total_mb
            ));
        }
        Ok(())
    }

    /// Starts adding `bytes` (the file `name`) to `chat`: refuses a duplicate ("already
    /// here"), writes the original file and records the job. `message` is the progress
    /// message, told again should a restart interrupt the reading.
    pub fn begin(
        &self,
        chat: i64,
        caller: &Caller,
        name: &str,
        bytes: Vec<u8>,
        message: Option<i64>,
        now: i64,
    ) -> Result<Job, String> {
        let limit = self.settings.uploads.max_file_mb.saturating_mul(1 << 20);
        if bytes.len() as u64 > limit {
            return Err(format!(
                "That file is over the limit of {} MB (uploads.max_file_mb).",
                self.settings.uploads.max_file_mb
            ));
        }
        let sha = crate::formats::sandbox::sha256_hex(&bytes);
        let host_docs = self.host_documents();
        if let Some(n) = self.own(chat).iter().position(|s| s.record.sha == sha) {
            return Err(format!(
                "That file is already here as text {}. See /texts.",
                host_docs + n + 1
            ));
        }
        let store = self.store().ok_or("Adding texts is not available here.")?;
        let file = safe_name(name);
        let failed = |e: std::io::Error| {
            tracing::error!(error = %e, "could not store an added text");
            "Sorry, I could not store that file. Please try again later.".to_string()
        };
        let dir = self.texts_dir().join(&sha);
        std::fs::create_dir_all(&dir).map_err(failed)?;
        // Another chat's copy of these bytes may be stored already, under the name it was
        // sent with: the folder keeps one original, or a restart would read the text twice.
        if !holds_original(&dir) {
            write_atomically(&dir.join(&file), &bytes).map_err(failed)?;
        }
        let id = store
            .begin_text(&NewText {
                chat,
                sha: &sha,
                file: &file,
                by: caller.user,
                by_name: &caller.name,
                now,
                message,
                bytes: bytes.len() as u64,
            })
            .map_err(|err| {
                tracing::error!(error = %err, "could not record an added text");
                "Sorry, I could not reach my database. Please try again.".to_string()
            })?;
        Ok(Job {
            id,
            chat,
            sha,
            file,
            bytes,
        })
    }

    /// Reads, indexes and serves the text of `job` (the document reader runs in its child
    /// process), records it ready and makes it `chat`'s current text. `Err` is the refusal
    /// (the file could not be read), after which nothing of it is left.
    pub fn finish(&self, job: Job) -> Result<Added, String> {
        let Some(store) = self.store() else {
            return Err("Adding texts is not available here.".into());
        };
        let engine = match self.engine_for(&job.sha) {
            Ok(engine) => engine,
            Err(err) => {
                let _ = store.discard_text(job.id);
                self.forget_files(&job.sha, None);
                let why = match &err {
                    crate::Error::CorpusEmpty(_, refusals) if !refusals.is_empty() => {
                        refusals.join("; ")
                    }
                    other => other.to_string(),
                };
                tracing::info!(chat = job.chat, file = %job.file, reason = %why, "refused an added text");
                return Err(format!("I could not add {}: {why}", job.file));
            }
        };
        drop(job.bytes);
        let corpus = &engine.corpus;
        let title = corpus
            .documents
            .first()
            .map_or_else(|| job.file.clone(), |d| d.title.clone());
        let pages = corpus.files.first().and_then(|f| f.pages);
        let sections = corpus.documents.first().map_or(0, |d| d.sections.len());
        let passages = corpus.passages.len();
        if let Err(err) = store.finish_text(job.id, &title) {
            tracing::error!(error = %err, "could not record an added text as ready");
            let _ = store.discard_text(job.id);
            return Err("Sorry, I could not reach my database. Please try again.".into());
        }
        let records = store.added_texts().unwrap_or_default();
        let Some(record) = records.into_iter().find(|r| r.id == job.id) else {
            return Err("Sorry, I could not reach my database. Please try again.".into());
        };
        self.shelve(record, Arc::clone(&engine));
        if let Err(err) =
            store.set_chat_text(job.chat, Some(&format!("{ADDED_TEXT_PREFIX}{}", job.id)))
        {
            tracing::error!(error = %err, "could not make an added text the chat's text");
        }
        let number = self.host_documents()
            + self
                .own(job.chat)
                .iter()
                .position(|s| s.record.id == job.id)
                .map_or(0, |i| i + 1);
        tracing::info!(chat = job.chat, text = job.id, file = %job.file, passages, "added a text");
        Ok(Added {
            id: job.id,
            number,
            title,
            pages,
            sections,
            passages,
            semantic: engine.semantic(),
            settings: self.text_settings(&job.sha),
            engine,
        })
    }
}

/// "2026-12-07" for unix seconds.
fn chrono_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_counts_read_as_people_write_them() {
        assert_eq!(chrono_date(0), "1970-01-01");
        assert_eq!(chrono_date(1_796_601_600), "2026-12-07");
        assert_eq!(plural(2104, "passage"), "2,104 passages");
        assert_eq!(plural(1, "page"), "1 page");
        assert_eq!(plural(1_234_567, "card"), "1,234,567 cards");
    }

    #[test]
    fn stored_file_names_cannot_leave_their_folder() {
        assert_eq!(safe_name("../../etc/passwd.txt"), "passwd.txt");
        assert_eq!(safe_name("C:\\books\\capital.pdf"), "capital.pdf");
        assert_eq!(safe_name(".hidden.md"), "hidden.md");
        assert_eq!(safe_name(""), "text.txt");
        let long = format!("{}.pdf", "a".repeat(300));
        assert!(safe_name(&long).ends_with(".pdf") && safe_name(&long).chars().count() <= 100);
    }
}
