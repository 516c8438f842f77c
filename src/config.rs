//! Typed settings, layered the way a self-hoster expects.
//!
//! Order, later wins: built-in defaults → `config/default.toml` → `config/local.toml` (or the file
//! given with `--config`) → environment variables `STUDYBOT__SECTION__KEY`. `TELOXIDE_TOKEN` and
//! `TELOXIDE_API_URL`, the names teloxide users already know, override the telegram keys.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// All settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where the database and stored index live.
    pub data_dir: PathBuf,
    /// Corpus location.
    pub corpus: CorpusSettings,
    /// Retrieval and abstention.
    pub search: SearchSettings,
    /// Quiz behaviour.
    pub quiz: QuizSettings,
    /// Telegram connection.
    pub telegram: TelegramSettings,
    /// Texts added from the chats.
    pub uploads: UploadSettings,
}

/// Who may add texts from a chat (`uploads.who`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Uploaders {
    /// Only `telegram.owners`.
    Owners,
    /// Admins of the allowed groups (and anyone in their private chat), and the owners.
    Admins,
    /// Every member of an allowed chat.
    Members,
}

/// Texts added from the chats: off unless the host opts in.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadSettings {
    /// Whether members may add texts from the chat at all.
    pub enabled: bool,
    /// Who may.
    pub who: Uploaders,
    /// Largest file, in MB (the cloud Bot API hands bots files up to 20 MB).
    pub max_file_mb: u64,
    /// Most texts one chat may have added at once.
    pub max_texts_per_chat: usize,
    /// Most MB all added texts together may take under `data_dir/texts`.
    pub max_total_mb: u64,
}

impl Default for UploadSettings {
    fn default() -> Self {
        UploadSettings {
            enabled: false,
            who: Uploaders::Admins,
            max_file_mb: 20,
            max_texts_per_chat: 10,
            max_total_mb: 1000,
        }
    }
}

/// Where the texts are.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorpusSettings {
    /// Folder of `.txt` and `.md` documents.
    pub dir: PathBuf,
    /// Folder of curated quiz banks (`*.toml`); empty means `<dir>/quiz`.
    pub quiz_dir: Option<PathBuf>,
}

/// Retrieval settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchSettings {
    /// Excerpts per answer.
    pub top_k: usize,
    /// Below this confidence (0..1) an answer is "unsure": it warns that the text may not answer
    /// the question directly.
    pub min_confidence: f32,
    /// Corpora larger than this many bytes get an index stored under `data_dir`.
    pub persist_min_bytes: u64,
    /// Whether the semantic model (sentence vectors) takes part in ranking.
    pub semantic: bool,
}

/// Quiz settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuizSettings {
    /// Questions in a `/quiz` without a number.
    pub questions: u32,
    /// Most questions one quiz may ask.
    pub max_questions: u32,
    /// Seconds each quiz poll stays open.
    pub open_period_secs: u32,
    /// Seconds after a quiz starts in a group before the next `/quiz` there is accepted, so a
    /// start-stop loop cannot flood the group or use up its questions.
    pub cooldown_secs: u32,
}

/// Telegram settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelegramSettings {
    /// Bot token from @BotFather (prefer `TELOXIDE_TOKEN`).
    pub token: Option<Token>,
    /// Bot API base URL; empty means Telegram's own.
    pub api_url: Option<String>,
    /// The public https URL Telegram delivers this bot's updates to, when it runs behind a
    /// webhook; unset for long polling. `studybot check` compares it with Telegram's.
    pub webhook_url: Option<String>,
    /// Where the webhook listener (the webhook's path, `/healthz`, `/metrics`) listens, in
    /// webhook mode: an address and port, such as `0.0.0.0:8080`.
    pub listen: String,
    /// The secret Telegram sends with every webhook request (1-256 of `A-Z a-z 0-9 _ -`);
    /// unset or empty means a random one chosen at each start.
    pub webhook_secret: Option<Secret>,
    /// In polling mode, where to serve `/metrics` and `/healthz` (such as `127.0.0.1:9090`);
    /// unset or empty serves nothing. In webhook mode they are on `listen`.
    pub metrics_listen: Option<String>,
    /// Questions one user may ask in a burst before the bot slows them down.
    pub flood_burst: u32,
    /// Seconds for one question of the burst allowance to come back.
    pub flood_refill_secs: f32,
    /// Most messages the bot sends per second, over all chats (Telegram allows about 30).
    pub max_sends_per_sec: u32,
    /// Chats the bot serves (group ids, and user ids for private chats); empty means everyone.
    #[serde(deserialize_with = "one_or_many")]
    pub allowed_chats: Vec<i64>,
    /// User ids of the host's own accounts, who may add texts in any allowed chat.
    #[serde(deserialize_with = "one_or_many")]
    pub owners: Vec<i64>,
}

/// A list of chat ids, or a single one: `STUDYBOT__TELEGRAM__ALLOWED_CHATS=-1001234567890`
/// (one group, no comma) reaches serde as a number, not as a list.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<i64>, D::Error> {
    struct Ids;
    impl<'de> serde::de::Visitor<'de> for Ids {
        type Value = Vec<i64>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a chat id or a list of chat ids")
        }

        fn visit_i64<E: serde::de::Error>(self, id: i64) -> std::result::Result<Vec<i64>, E> {
            Ok(vec![id])
        }

        fn visit_u64<E: serde::de::Error>(self, id: u64) -> std::result::Result<Vec<i64>, E> {
            i64::try_from(id)
                .map(|id| vec![id])
                .map_err(|_| E::custom(format!("{id} is not a chat id")))
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> std::result::Result<Vec<i64>, E> {
            text.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| {
                    t.parse()
                        .map_err(|_| E::custom(format!("{t:?} is not a chat id")))
                })
                .collect()
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<Vec<i64>, A::Error> {
            let mut ids = Vec::new();
            while let Some(id) = seq.next_element::<i64>()? {
                ids.push(id);
            }
            Ok(ids)
        }
    }
    d.deserialize_any(Ids)
}

/// The bot token. Its secret half never reaches a log line or an error message: `Debug` and
/// `Display` show `123456789:***`, and [`Token::redact`] scrubs it from text such as an error
/// body a proxy echoed back.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Token(String);

impl Token {
    /// A token from its text.
    pub fn new(token: impl Into<String>) -> Token {
        Token(token.into())
    }

    /// The whole token, for the one place that needs it: the Bot API client.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The bot's id, the part before the colon (not secret: it is the bot's user id).
    fn id(&self) -> &str {
        self.0.split_once(':').map_or("", |(id, _)| id)
    }

    /// `text` with every occurrence of the token, or of its secret half, replaced by the
    /// redacted form.
    pub fn redact(&self, text: &str) -> String {
        let secret = self.0.split_once(':').map_or(self.0.as_str(), |(_, s)| s);
        if secret.is_empty() {
            return text.to_string();
        }
        text.replace(&self.0, &self.to_string())
            .replace(secret, "***")
    }
}

/// A webhook's secret token. Like the [`Token`], it never reaches a log line: `Debug` and
/// `Display` show `***`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Longest secret Telegram accepts.
    pub const MAX_LEN: usize = 256;

    /// A secret from its text.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The secret itself, for `setWebhook` and the comparison with a request's header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether Telegram accepts it: 1 to 256 of `A-Z a-z 0-9 _ -`.
    pub fn is_valid(&self) -> bool {
        (1..=Secret::MAX_LEN).contains(&self.0.len())
            && self
                .0
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:***", self.id())
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({self})")
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("data"),
            corpus: CorpusSettings::default(),
            search: SearchSettings::default(),
            quiz: QuizSettings::default(),
            telegram: TelegramSettings::default(),
            uploads: UploadSettings::default(),
        }
    }
}

impl Default for CorpusSettings {
    fn default() -> Self {
        CorpusSettings {
            dir: PathBuf::from("corpus"),
            quiz_dir: None,
        }
    }
}

impl Default for SearchSettings {
    fn default() -> Self {
        SearchSettings {
            top_k: 3,
            min_confidence: 0.35,
            persist_min_bytes: 2_000_000,
            semantic: true,
        }
    }
}

impl Default for QuizSettings {
    fn default() -> Self {
        QuizSettings {
            questions: 5,
            max_questions: 20,
            open_period_secs: 30,
            cooldown_secs: 60,
        }
    }
}

impl Default for TelegramSettings {
    fn default() -> Self {
        TelegramSettings {
            token: None,
            api_url: None,
            webhook_url: None,
            listen: "0.0.0.0:8080".to_string(),
            webhook_secret: None,
            metrics_listen: None,
            flood_burst: 6,
            flood_refill_secs: 2.0,
            max_sends_per_sec: 25,
            allowed_chats: Vec::new(),
            owners: Vec::new(),
        }
    }
}

impl TelegramSettings {
    /// The webhook secret, if one is set (an empty one counts as unset).
    pub fn webhook_secret(&self) -> Option<&Secret> {
        self.webhook_secret
            .as_ref()
            .filter(|s| !s.expose().is_empty())
    }

    /// Where to serve `/metrics` in polling mode, if anywhere (empty counts as unset).
    pub fn metrics_listen(&self) -> Option<&str> {
        self.metrics_listen
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
    }
}

impl CorpusSettings {
    /// The folder of curated quiz banks.
    pub fn quiz_dir(&self) -> PathBuf {
        self.quiz_dir
            .clone()
            .unwrap_or_else(|| self.dir.join("quiz"))
    }
}

/// Where settings come from; tests point these at temporary files and fake environments.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The committed defaults file (`config/default.toml`); skipped when absent.
    pub default_file: Option<PathBuf>,
    /// The local override (`config/local.toml`, or `--config FILE`, which must exist).
    pub local_file: Option<PathBuf>,
    /// Whether `local_file` must exist (true for `--config`).
    pub local_required: bool,
    /// Environment variables to read, as (name, value) pairs.
    pub env: Vec<(String, String)>,
}

impl Sources {
    /// The standard sources: `config/default.toml`, then `--config FILE` or `config/local.toml`,
    /// then the process environment.
    pub fn standard(config_flag: Option<&Path>) -> Self {
        Sources {
            default_file: Some(PathBuf::from("config/default.toml")),
            local_file: Some(
                config_flag
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from("config/local.toml")),
            ),
            local_required: config_flag.is_some(),
            env: std::env::vars().collect(),
        }
    }
}

impl Settings {
    /// Reads and merges every source; an invalid value is an error naming its key.
    pub fn load(sources: &Sources) -> Result<Settings> {
        let mut builder = config::Config::builder();
        if let Some(file) = &sources.default_file {
            builder = builder.add_source(
                config::File::from(file.as_path())
                    .format(config::FileFormat::Toml)
                    .required(false),
            );
        }
        if let Some(file) = &sources.local_file {
            if sources.local_required && !file.is_file() {
                return Err(Error::Config(format!(
                    "config file {} not found",
                    file.display()
                )));
            }
            builder = builder.add_source(
                config::File::from(file.as_path())
                    .format(config::FileFormat::Toml)
                    .required(sources.local_required),
            );
        }
        let env: config::Map<String, String> = sources
            .env
            .iter()
            .filter(|(k, _)| k.starts_with("STUDYBOT__"))
            .cloned()
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("STUDYBOT")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("telegram.allowed_chats")
                .with_list_parse_key("telegram.owners")
                .source(Some(env)),
        );
        for (var, key) in [
            ("TELOXIDE_TOKEN", "telegram.token"),
            ("TELOXIDE_API_URL", "telegram.api_url"),
        ] {
            if let Some((_, value)) = sources.env.iter().find(|(k, _)| k == var) {
                builder = builder
                    .set_override(key, value.clone())
                    .map_err(|e| Error::Config(e.to_string()))?;
            }
        }
        let settings: Settings = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| Error::Config(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<()> {
        let bad = |key: &str, why: &str| Err(Error::Config(format!("{key}: {why}")));
        if self.search.top_k == 0 || self.search.top_k > 10 {
            return bad("search.top_k", "must be between 1 and 10");
        }
        if !(0.0..=1.0).contains(&self.search.min_confidence) {
            return bad("search.min_confidence", "must be between 0 and 1");
        }
        if self.quiz.max_questions == 0 || self.quiz.max_questions > 50 {
            return bad("quiz.max_questions", "must be between 1 and 50");
        }
        if self.quiz.questions == 0 || self.quiz.questions > self.quiz.max_questions {
            return bad("quiz.questions", "must be between 1 and quiz.max_questions");
        }
        if !(5..=600).contains(&self.quiz.open_period_secs) {
            return bad(
                "quiz.open_period_secs",
                "must be between 5 and 600 (Telegram's limits)",
            );
        }
        if self.telegram.flood_burst == 0 {
            return bad("telegram.flood_burst", "must be at least 1");
        }
        if self.telegram.flood_refill_secs.is_nan() || self.telegram.flood_refill_secs <= 0.0 {
            return bad("telegram.flood_refill_secs", "must be positive");
        }
        if !(1..=10_000).contains(&self.telegram.max_sends_per_sec) {
            return bad("telegram.max_sends_per_sec", "must be between 1 and 10000");
        }
        if !(1..=2000).contains(&self.uploads.max_file_mb) {
            return bad("uploads.max_file_mb", "must be between 1 and 2000");
        }
        if self.uploads.max_texts_per_chat == 0 {
            return bad("uploads.max_texts_per_chat", "must be at least 1");
        }
        if self.quiz.cooldown_secs > 86_400 {
            return bad("quiz.cooldown_secs", "must be at most 86400 (a day)");
        }
        if let Some(url) = &self.telegram.webhook_url {
            let parsed = url::Url::parse(url)
                .ok()
                .filter(|u| u.scheme() == "https" && u.has_host());
            let Some(parsed) = parsed else {
                return bad(
                    "telegram.webhook_url",
                    "must be an https URL (Telegram calls webhooks over https only)",
                );
            };
            if matches!(parsed.path(), "/healthz" | "/metrics") {
                return bad(
                    "telegram.webhook_url",
                    "its path must not be /healthz or /metrics, which the listener serves itself",
                );
            }
        }
        if self.telegram.listen.trim().parse::<SocketAddr>().is_err() {
            return bad(
                "telegram.listen",
                "must be an address and port, such as 0.0.0.0:8080 or 127.0.0.1:8080",
            );
        }
        if let Some(addr) = self.telegram.metrics_listen() {
            if addr.parse::<SocketAddr>().is_err() {
                return bad(
                    "telegram.metrics_listen",
                    "must be an address and port, such as 127.0.0.1:9090",
                );
            }
        }
        if let Some(secret) = self.telegram.webhook_secret() {
            if !secret.is_valid() {
                // Never the secret itself: only what is wrong with it.
                return bad(
                    "telegram.webhook_secret",
                    "must be 1 to 256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)",
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn later_sources_win_and_environment_is_last() {
        let default =
            file("data_dir = \"from-default\"\n[search]\ntop_k = 4\nmin_confidence = 0.2\n");
        let local = file("data_dir = \"from-local\"\n[search]\ntop_k = 5\n");
        let sources = Sources {
            default_file: Some(default.path().to_path_buf()),
            local_file: Some(local.path().to_path_buf()),
            local_required: true,
            env: vec![("STUDYBOT__DATA_DIR".into(), "from-env".into())],
        };
        let s = Settings::load(&sources).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("from-env"));
        assert_eq!(s.search.top_k, 5, "local beats default");
        assert!(
            (s.search.min_confidence - 0.2).abs() < 1e-6,
            "default beats built-in"
        );
        assert_eq!(s.quiz.questions, 5, "built-in default when nobody sets it");
    }

    #[test]
    fn nested_environment_keys_and_teloxide_names() {
        let sources = Sources {
            env: vec![
                ("STUDYBOT__CORPUS__DIR".into(), "/texts".into()),
                ("STUDYBOT__SEARCH__TOP_K".into(), "7".into()),
                ("TELOXIDE_TOKEN".into(), "123:abc".into()),
                ("TELOXIDE_API_URL".into(), "http://127.0.0.1:9".into()),
            ],
            ..Sources::default()
        };
        let s = Settings::load(&sources).unwrap();
        assert_eq!(s.corpus.dir, PathBuf::from("/texts"));
        assert_eq!(s.search.top_k, 7);
        assert_eq!(
            s.telegram.token.as_ref().map(Token::expose),
            Some("123:abc")
        );
        assert_eq!(s.telegram.api_url.as_deref(), Some("http://127.0.0.1:9"));
    }

    #[test]
    fn invalid_value_names_the_key() {
        let sources = Sources {
            env: vec![("STUDYBOT__SEARCH__TOP_K".into(), "many".into())],
            ..Sources::default()
        };
        let err = Settings::load(&sources).unwrap_err().to_string();
        assert!(err.contains("search.top_k"), "{err}");
        let sources = Sources {
            env: vec![("STUDYBOT__QUIZ__OPEN_PERIOD_SECS".into(), "1".into())],
            ..Sources::default()
        };
        let err = Settings::load(&sources).unwrap_err().to_string();
        assert!(err.contains("quiz.open_period_secs"), "{err}");
    }

    #[test]
    fn webhook_url_must_be_https() {
        let load = |url: &str| {
            Settings::load(&Sources {
                env: vec![("STUDYBOT__TELEGRAM__WEBHOOK_URL".into(), url.into())],
                ..Sources::default()
            })
        };
        let s = load("https://bot.example.org/telegram").unwrap();
        assert_eq!(
            s.telegram.webhook_url.as_deref(),
            Some("https://bot.example.org/telegram")
        );
        for bad in [
            "http://bot.example.org/telegram",
            "bot.example.org",
            "https://",
        ] {
            let err = load(bad).unwrap_err().to_string();
            assert!(err.contains("telegram.webhook_url"), "{bad}: {err}");
        }
    }

    #[test]
    fn webhook_secret_and_listen_addresses_are_checked_and_the_secret_is_never_shown() {
        let load = |key: &str, value: &str| {
            Settings::load(&Sources {
                env: vec![(format!("STUDYBOT__TELEGRAM__{key}"), value.into())],
                ..Sources::default()
            })
        };
        let s = load("WEBHOOK_SECRET", "s3cret_-X").unwrap();
        let secret = s.telegram.webhook_secret().unwrap();
        assert_eq!(secret.expose(), "s3cret_-X");
        assert!(!format!("{secret} {secret:?} {s:?}").contains("s3cret"));
        assert!(load("WEBHOOK_SECRET", "")
            .unwrap()
            .telegram
            .webhook_secret()
            .is_none());
        for (key, bad) in [
            ("WEBHOOK_SECRET", "has space"),
            ("WEBHOOK_SECRET", "ünïcode"),
            ("WEBHOOK_SECRET", &"a".repeat(257)),
            ("LISTEN", "8080"),
            ("LISTEN", "localhost:http"),
            ("METRICS_LISTEN", "127.0.0.1"),
            ("WEBHOOK_URL", "https://bot.example.org/metrics"),
        ] {
            let err = load(key, bad).unwrap_err().to_string();
            assert!(
                err.contains(&format!("telegram.{}", key.to_lowercase())),
                "{key}={bad}: {err}"
            );
            if key == "WEBHOOK_SECRET" {
                assert!(!err.contains(bad), "{err}");
            }
        }
        assert_eq!(
            load("METRICS_LISTEN", "127.0.0.1:9090")
                .unwrap()
                .telegram
                .metrics_listen(),
            Some("127.0.0.1:9090")
        );
    }

    #[test]
    fn missing_config_flag_file_is_an_error() {
        let sources = Sources {
            local_file: Some(PathBuf::from("/nonexistent/studybot.toml")),
            local_required: true,
            ..Sources::default()
        };
        let err = Settings::load(&sources).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/studybot.toml"), "{err}");
    }

    #[test]
    fn committed_default_file_parses_and_matches_built_in_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        let sources = Sources {
            default_file: Some(path),
            ..Sources::default()
        };
        let s = Settings::load(&sources).unwrap();
        let d = Settings::default();
        assert_eq!(s.search.top_k, d.search.top_k);
        assert_eq!(s.quiz.open_period_secs, d.quiz.open_period_secs);
        assert_eq!(s.data_dir, d.data_dir);
        assert_eq!(s.telegram.max_sends_per_sec, d.telegram.max_sends_per_sec);
        assert_eq!(s.telegram.allowed_chats, d.telegram.allowed_chats);
        assert_eq!(s.quiz.cooldown_secs, d.quiz.cooldown_secs);
    }

    #[test]
    fn allowed_chats_come_from_a_file_or_a_comma_separated_variable() {
        let local = file("[telegram]\nallowed_chats = [-1001234567890, 42]\n");
        let sources = Sources {
            local_file: Some(local.path().to_path_buf()),
            local_required: true,
            ..Sources::default()
        };
        let s = Settings::load(&sources).unwrap();
        assert_eq!(s.telegram.allowed_chats, vec![-1001234567890, 42]);
        let sources = Sources {
            env: vec![(
                "STUDYBOT__TELEGRAM__ALLOWED_CHATS".into(),
                "-100777,42".into(),
            )],
            ..Sources::default()
        };
        let s = Settings::load(&sources).unwrap();
        assert_eq!(s.telegram.allowed_chats, vec![-100777, 42]);
        // One chat, no comma: a host serving a single group.
        let sources = Sources {
            env: vec![(
                "STUDYBOT__TELEGRAM__ALLOWED_CHATS".into(),
                "-1001234567890".into(),
            )],
            ..Sources::default()
        };
        let s = Settings::load(&sources).unwrap();
        assert_eq!(s.telegram.allowed_chats, vec![-1001234567890]);
    }

    #[test]
    fn the_token_never_shows_in_debug_display_or_redacted_text() {
        let token = Token::new("123456789:AAHsecretSECRETsecret_-x");
        let settings = Settings {
            telegram: TelegramSettings {
                token: Some(token.clone()),
                ..TelegramSettings::default()
            },
            ..Settings::default()
        };
        for shown in [
            format!("{token}"),
            format!("{token:?}"),
            format!("{settings:?}"),
            token.redact("GET /bot123456789:AAHsecretSECRETsecret_-x/getMe failed"),
            token.redact("echo: AAHsecretSECRETsecret_-x"),
        ] {
            assert!(!shown.contains("AAHsecret"), "{shown}");
        }
        assert_eq!(token.to_string(), "123456789:***");
        assert_eq!(
            token.redact("url /bot123456789:AAHsecretSECRETsecret_-x/x"),
            "url /bot123456789:***/x"
        );
    }
}
