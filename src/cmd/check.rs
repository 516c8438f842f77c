//! `studybot check`: checks a set-up before going live, one line per finding.
//!
//! A self-hoster's usual surprises come one at a time, at `studybot bot`'s start or later in a
//! group: a settings typo, a text that parsed into one big section, a quiz bank for another
//! text, a `data_dir` the service user cannot write, a token for another bot, inline mode off,
//! a webhook left over from another deployment. This command looks for all of them at once and
//! says what each means. It exits 1 when something must be fixed before the bot can run
//! (an error), 0 otherwise (warnings are things to know, not to fix).
//!
//! It changes nothing: it writes and removes one probe file in `data_dir`, and asks Telegram
//! only `getMe` and `getWebhookInfo`. The token never appears in its output.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use studybot::config::{Settings, Sources, Token};
use studybot::corpus::{Corpus, CorpusWarning};
use studybot::Engine;
use teloxide::prelude::Requester as _;
use teloxide::{ApiError, RequestError};

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warning,
    Error,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// One line of the report: what was checked and what was found.
struct Finding {
    level: Level,
    item: &'static str,
    detail: String,
}

/// Parts of the token at least this long are hidden from the output.
const MIN_SECRET_CHARS: usize = 6;

#[derive(Default)]
struct Report {
    findings: Vec<Finding>,
}

impl Report {
    fn add(&mut self, level: Level, item: &'static str, detail: impl Into<String>) {
        self.findings.push(Finding {
            level,
            item,
            detail: detail.into(),
        });
    }

    fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }

    /// The report as text, with every `secret` replaced by `[token]`.
    fn render(&self, secrets: &[String]) -> String {
        let mut out = String::new();
        for f in &self.findings {
            let _ = writeln!(
                out,
                "{:<8} {}: {}",
                f.level.label(),
                f.item,
                f.detail.replace('\n', " ")
            );
        }
        let (errors, warnings) = (self.count(Level::Error), self.count(Level::Warning));
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let _ = match errors {
            0 => writeln!(out, "ready ({})", plural(warnings, "warning")),
            _ => writeln!(
                out,
                "not ready: {} to fix ({})",
                plural(errors, "error"),
                plural(warnings, "warning")
            ),
        };
        // Shorter strings are no secret worth hiding, and would garble ordinary words.
        for secret in secrets.iter().filter(|s| s.len() >= MIN_SECRET_CHARS) {
            out = out.replace(secret.as_str(), "[token]");
        }
        out
    }
}

pub fn run(sources: &Sources, _args: Args) -> anyhow::Result<ExitCode> {
    let mut report = Report::default();
    let mut secrets = Vec::new();
    if let Some(settings) = check_settings(sources, &mut report) {
        if let Some(token) = settings.telegram.token.as_ref().map(|t| t.expose().trim()) {
            secrets.push(token.to_string());
            if let Some((_, secret)) = token.split_once(':') {
                secrets.push(secret.to_string());
            }
        }
        if let Some(corpus) = check_corpus(&settings, &mut report) {
            check_quiz_bank(&settings, &corpus, &mut report);
        }
        check_data_dir(&settings.data_dir, &mut report);
        check_uploads(&settings, &mut report);
        check_telegram(&settings, &mut report);
    }
    // Longest secrets first, so that the token goes before its own secret half.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    super::print(&report.render(&secrets))?;
    Ok(match report.count(Level::Error) {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

/// Whether texts may be added from the chat, and if not, how to turn it on.
fn check_uploads(settings: &Settings, report: &mut Report) {
    use studybot::config::Uploaders;
    let uploads = &settings.uploads;
    if !uploads.enabled {
        report.add(
            Level::Ok,
            "uploads",
            "adding texts from the chat is off; to turn it on, set `enabled = true` under [uploads] in config/local.toml (or STUDYBOT__UPLOADS__ENABLED=true)",
        );
        return;
    }
    let who = match uploads.who {
        Uploaders::Owners => "the owners (telegram.owners)",
        Uploaders::Admins => "group admins, members in their private chat, and the owners",
        Uploaders::Members => "every member of an allowed chat",
    };
    let stored = settings.data_dir.join(studybot::library::TEXTS_DIR);
    report.add(
        Level::Ok,
        "uploads",
        format!(
            "texts may be added from the chat by {who}: files up to {} MB, {} texts per chat, {} MB in all under {}",
            uploads.max_file_mb,
            uploads.max_texts_per_chat,
            uploads.max_total_mb,
            stored.display()
        ),
    );
    if uploads.who == Uploaders::Owners && settings.telegram.owners.is_empty() {
        report.add(
            Level::Warning,
            "uploads",
            "uploads.who is \"owners\" but telegram.owners is empty, so nobody can add a text",
        );
    }
}

/// The settings, and which sources they came from.
fn check_settings(sources: &Sources, report: &mut Report) -> Option<Settings> {
    let mut from: Vec<String> = Vec::new();
    for file in [&sources.default_file, &sources.local_file]
        .into_iter()
        .flatten()
    {
        if file.is_file() {
            from.push(file.display().to_string());
        }
    }
    let mut vars: Vec<&str> = sources
        .env
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| {
            k.starts_with("STUDYBOT__") || matches!(*k, "TELOXIDE_TOKEN" | "TELOXIDE_API_URL")
        })
        .collect();
    vars.sort_unstable();
    if !vars.is_empty() {
        from.push(format!("environment ({})", vars.join(", ")));
    }
    if from.is_empty() {
        from.push("built-in defaults only".into());
    }
    match Settings::load(sources) {
        Ok(settings) => {
            report.add(Level::Ok, "settings", from.join(", "));
            Some(settings)
        }
        Err(e) => {
            report.add(Level::Error, "settings", e.to_string());
            None
        }
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Documents, sections and passages, and what in the folder may not be what was meant.
fn check_corpus(settings: &Settings, report: &mut Report) -> Option<Corpus> {
    let corpus = match Engine::load_corpus(settings) {
        Ok((corpus, _)) => corpus,
        Err(e) => {
            report.add(Level::Error, "corpus", e.to_string());
            return None;
        }
    };
    report.add(
        Level::Ok,
        "corpus",
        format!(
            "{}, {}, {} in {} ({})",
            plural(corpus.documents.len(), "document", "documents"),
            plural(corpus.section_count(), "section", "sections"),
            plural(corpus.passages.len(), "passage", "passages"),
            settings.corpus.dir.display(),
            match corpus.bytes {
                b if b < 1_000_000 => format!("{} KB", b.div_ceil(1000)),
                b => format!("{:.1} MB", b as f64 / 1e6),
            },
        ),
    );
    for doc in &corpus.documents {
        let passages: usize = doc.sections.iter().map(|s| s.passages.len()).sum();
        let pages = match doc.page_labels.len() {
            0 => String::new(),
            n => format!(", {}", plural(n, "page", "pages")),
        };
        report.add(
            Level::Ok,
            "document",
            format!(
                "{} ({}{pages}): \"{}\", {}, {}",
                doc.file,
                doc.format.name(),
                doc.title,
                plural(doc.sections.len(), "section", "sections"),
                plural(passages, "passage", "passages"),
            ),
        );
    }
    let warnings = match corpus.warnings() {
        Ok(warnings) => warnings,
        Err(e) => {
            report.add(Level::Warning, "corpus", e.to_string());
            Vec::new()
        }
    };
    for warning in warnings {
        let detail = match warning {
            CorpusWarning::NoHeadings { file, passages } => format!(
                "{file}: no heading detected, so its {} form one section and every citation names it \
                 (headings: a short line without closing punctuation, or Markdown ## lines)",
                plural(passages, "passage", "passages")
            ),
            CorpusWarning::NoText { file } => format!("{file} has no text and is not served"),
            CorpusWarning::Refused { file, reason } => {
                format!("{file} is not served: {reason}")
            }
            CorpusWarning::Reader { file, detail } => format!("{file}: {detail}"),
            CorpusWarning::Unsupported { file } => format!(
                "{file} is not read: only {} files are",
                studybot::formats::EXTENSIONS
            ),
            CorpusWarning::Subfolder { name, texts } => format!(
                "{name}/ is not read (subfolders are not): move its {} up into {}",
                plural(texts, "text", "texts"),
                settings.corpus.dir.display()
            ),
        };
        report.add(Level::Warning, "corpus", detail);
    }
    Some(corpus)
}

/// The curated questions: how many are usable, and each one skipped with its reason.
fn check_quiz_bank(settings: &Settings, corpus: &Corpus, report: &mut Report) {
    let dir = settings.corpus.quiz_dir();
    if !dir.is_dir() {
        report.add(
            Level::Ok,
            "quiz bank",
            format!(
                "none ({} not found): quizzes use questions generated from the text",
                dir.display()
            ),
        );
        return;
    }
    match studybot::quiz::bank::load(&dir, corpus) {
        Ok(bank) => {
            let level = match bank.questions.is_empty() && !bank.problems.is_empty() {
                true => Level::Warning,
                false => Level::Ok,
            };
            report.add(
                level,
                "quiz bank",
                format!(
                    "{}: {} valid, {} skipped",
                    dir.display(),
                    plural(bank.questions.len(), "question", "questions"),
                    bank.problems.len()
                ),
            );
            for problem in bank.problems {
                report.add(Level::Warning, "quiz bank", format!("skipped: {problem}"));
            }
        }
        Err(e) => report.add(
            Level::Error,
            "quiz bank",
            format!("{e} (studybot bot would not start)"),
        ),
    }
}

/// The lock file `bot` and `index` hold while they run, inside `data_dir`.
const LOCK_FILE: &str = "studybot.lock";

/// Whether a running studybot holds the lock on `data_dir`: `bot` and `index` take an
/// exclusive lock on `data_dir/studybot.lock` (`File::try_lock`) for as long as they run.
/// Probed the same way; a lock obtained here is released at once, when the file is closed.
fn data_dir_locked(data_dir: &Path) -> std::io::Result<bool> {
    let file = match std::fs::File::open(data_dir.join(LOCK_FILE)) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    match file.try_lock() {
        Ok(()) => Ok(false),
        Err(std::fs::TryLockError::WouldBlock) => Ok(true),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Writes and removes a probe file in `dir`.
fn probe_writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".studybot-check-{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|mut file| file.write_all(b"probe"));
    let _ = std::fs::remove_file(&probe);
    written
}

/// `data_dir` can be written (or created), and no running instance holds it.
fn check_data_dir(data_dir: &Path, report: &mut Report) {
    const ITEM: &str = "data_dir";
    let shown = data_dir.display();
    if data_dir.exists() && !data_dir.is_dir() {
        report.add(
            Level::Error,
            ITEM,
            format!("{shown} is a file, not a folder"),
        );
        return;
    }
    if !data_dir.exists() {
        let parent = data_dir
            .ancestors()
            .skip(1)
            .find(|a| a.as_os_str().is_empty() || a.is_dir())
            .map(|a| match a.as_os_str().is_empty() {
                true => PathBuf::from("."),
                false => a.to_path_buf(),
            })
            .unwrap_or_else(|| PathBuf::from("."));
        match probe_writable(&parent) {
            Ok(()) => report.add(
                Level::Ok,
                ITEM,
                format!(
                    "{shown} does not exist yet; it will be created in {}, which is writable",
                    parent.display()
                ),
            ),
            Err(e) => report.add(
                Level::Error,
                ITEM,
                format!(
                    "{shown} does not exist and cannot be created in {}: {e}",
                    parent.display()
                ),
            ),
        }
        return;
    }
    if let Err(e) = probe_writable(data_dir) {
        report.add(
            Level::Error,
            ITEM,
            format!("{shown} is not writable by this user: {e}"),
        );
        return;
    }
    match data_dir_locked(data_dir) {
        Ok(false) => report.add(
            Level::Ok,
            ITEM,
            format!("{shown} is writable and no running studybot holds it"),
        ),
        Ok(true) => report.add(
            Level::Error,
            ITEM,
            format!(
                "a running studybot (bot or index) holds {shown}: a second one would not start; \
                 stop it or give this one another data_dir"
            ),
        ),
        Err(e) => report.add(
            Level::Warning,
            ITEM,
            format!(
                "could not probe {}: {e}",
                data_dir.join(LOCK_FILE).display()
            ),
        ),
    }
}

/// The token against Telegram: which bot it is, how it is set up for groups, and whether
/// Telegram's webhook matches the settings.
fn check_telegram(settings: &Settings, report: &mut Report) {
    let has_token = settings
        .telegram
        .token
        .as_ref()
        .is_some_and(|t| !t.expose().trim().is_empty());
    if !has_token {
        report.add(
            Level::Warning,
            "telegram",
            "no token (TELOXIDE_TOKEN or telegram.token): Telegram checks skipped; \
             studybot bot needs one, ask, chat and the rest do not",
        );
        return;
    }
    let token =
        match super::bot::validate_token(settings.telegram.token.as_ref().map(Token::expose)) {
            Ok(token) => token,
            Err(e) => {
                report.add(Level::Error, "token", e.0);
                return;
            }
        };
    let api_url = match super::bot::parse_api_url(settings) {
        Ok(url) => url,
        Err(e) => {
            report.add(Level::Error, "telegram", e.0);
            return;
        }
    };
    let via = api_url
        .as_ref()
        .map(|u| format!(" via {u}"))
        .unwrap_or_default();
    let mut bot = teloxide::Bot::new(token.expose());
    if let Some(url) = api_url {
        bot = bot.set_api_url(url);
    }
    let asked = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .map(|runtime| {
            runtime.block_on(async {
                match bot.get_me().await {
                    Ok(me) => Ok((me, bot.get_webhook_info().await)),
                    Err(e) => Err(e),
                }
            })
        });
    let (me, webhook) = match asked {
        Ok(Ok(answers)) => answers,
        Ok(Err(RequestError::Api(ApiError::InvalidToken))) => {
            report.add(
                Level::Error,
                "bot",
                format!(
                    "Telegram{via} refused the token (Unauthorized): copy it again from @BotFather \
                     (/mybots, API Token)"
                ),
            );
            return;
        }
        Ok(Err(e)) => {
            report.add(
                Level::Error,
                "bot",
                format!("getMe{via} failed: {}", with_causes(&e)),
            );
            return;
        }
        Err(e) => {
            report.add(Level::Error, "bot", format!("{e:#}"));
            return;
        }
    };
    let name = me.username();
    report.add(
        Level::Ok,
        "bot",
        format!("@{name} (id {}){via}", me.user.id.0),
    );
    if me.can_join_groups {
        report.add(Level::Ok, "groups", "the bot can be added to groups");
    } else {
        report.add(
            Level::Warning,
            "groups",
            "the bot cannot be added to groups: allow it with /setjoingroups in @BotFather",
        );
    }
    if me.supports_inline_queries {
        report.add(
            Level::Ok,
            "inline mode",
            format!("on: typing \"@{name} question\" in any chat, groups included, offers excerpts to share"),
        );
    } else {
        report.add(
            Level::Warning,
            "inline mode",
            format!(
                "off: \"@{name} question\" does nothing in chats the bot is not in; \
                 turn it on with /setinline in @BotFather"
            ),
        );
    }
    if me.can_read_all_group_messages {
        report.add(
            Level::Warning,
            "privacy mode",
            "off: Telegram sends the bot every message of its groups, though it answers only \
             /ask, mentions and replies; turn it on with /setprivacy in @BotFather, then remove \
             and re-add the bot to each group",
        );
    } else {
        report.add(
            Level::Ok,
            "privacy mode",
            "on: in groups the bot receives only commands, mentions and replies to it, \
             which is all it answers",
        );
    }
    match webhook {
        Ok(info) => check_webhook(settings, &info, report),
        Err(e) => report.add(
            Level::Warning,
            "webhook",
            format!("getWebhookInfo{via} failed: {}", with_causes(&e)),
        ),
    }
}

/// A webhook at Telegram while the settings say long polling, or the reverse.
fn check_webhook(settings: &Settings, info: &teloxide::types::WebhookInfo, report: &mut Report) {
    const ITEM: &str = "webhook";
    let configured = settings.telegram.webhook_url.as_deref();
    let at_telegram = info.url.as_ref().map(|u| u.as_str());
    match (configured, at_telegram) {
        (None, None) => report.add(
            Level::Ok,
            ITEM,
            "none at Telegram, as long polling needs (telegram.webhook_url is unset)",
        ),
        (None, Some(url)) => report.add(
            Level::Warning,
            ITEM,
            format!(
                "Telegram delivers this bot's updates to {url}, but telegram.webhook_url is unset \
                 (long polling): polling gets no updates while a webhook is set, so studybot bot \
                 removes it when it starts, and whatever serves that URL stops receiving them"
            ),
        ),
        (Some(want), None) => report.add(
            Level::Ok,
            ITEM,
            format!(
                "telegram.webhook_url is {want} (webhook mode), and Telegram has no webhook set \
                 yet: studybot bot sets it when it starts"
            ),
        ),
        (Some(want), Some(url)) if !same_url(want, url) => report.add(
            Level::Warning,
            ITEM,
            format!(
                "Telegram delivers updates to {url}, but telegram.webhook_url is {want}: \
                 studybot bot sets its own when it starts, and whatever serves {url} stops \
                 receiving them"
            ),
        ),
        (Some(_), Some(url)) => report.add(
            Level::Ok,
            ITEM,
            format!(
                "{url}, as telegram.webhook_url says ({} pending)",
                plural(info.pending_update_count as usize, "update", "updates")
            ),
        ),
    }
    if let (Some(message), Some(_)) = (&info.last_error_message, at_telegram) {
        let when = info
            .last_error_date
            .map(|d| format!(" at {}", utc_minute(d.timestamp())))
            .unwrap_or_default();
        report.add(
            Level::Warning,
            ITEM,
            format!("Telegram's last delivery to it failed{when}: {message}"),
        );
    }
}

/// An error and its causes, `network error: error sending request: connection refused`: the
/// first line alone rarely says what to fix.
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// `2023-11-14 22:13 UTC` for a Unix time. (teloxide's chrono is built without its
/// formatting features; this is the civil-from-days conversion of the proleptic Gregorian
/// calendar, H. Hinnant's algorithm.)
fn utc_minute(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}

/// Whether two URLs are the same once parsed (`https://a.org` and `https://a.org/` are).
fn same_url(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_never_shows_the_token() {
        let mut report = Report::default();
        report.add(
            Level::Error,
            "webhook",
            "Telegram delivers updates to https://x.org/bot123:SECRET and /SECRET",
        );
        let out = report.render(&["123:SECRET".into(), "SECRET".into()]);
        assert!(!out.contains("SECRET"), "{out}");
        assert!(
            out.contains("https://x.org/bot[token] and /[token]"),
            "{out}"
        );
        assert!(
            out.ends_with("not ready: 1 error to fix (0 warnings)\n"),
            "{out}"
        );
    }

    #[test]
    fn a_held_lock_is_seen_and_a_free_one_left_free() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!data_dir_locked(dir.path()).unwrap(), "no lock file: free");
        let held = std::fs::File::create(dir.path().join(LOCK_FILE)).unwrap();
        assert!(!data_dir_locked(dir.path()).unwrap(), "not locked yet");
        held.try_lock().unwrap();
        assert!(
            data_dir_locked(dir.path()).unwrap(),
            "held by another handle"
        );
        held.unlock().unwrap();
        assert!(!data_dir_locked(dir.path()).unwrap());
        // The probe released what it took: the file can be locked again.
        held.try_lock().unwrap();
    }

    #[test]
    fn dates_in_utc() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minute(1_700_000_000), "2023-11-14 22:13 UTC");
        assert_eq!(utc_minute(951_825_599), "2000-02-29 11:59 UTC");
        assert_eq!(utc_minute(4_107_542_400), "2100-03-01 00:00 UTC");
        assert_eq!(utc_minute(-1), "1969-12-31 23:59 UTC");
    }

    #[test]
    fn urls_compare_parsed() {
        assert!(same_url("https://a.org", "https://a.org/"));
        assert!(!same_url("https://a.org/x", "https://a.org/y"));
    }
}
