//! What the bot did, for Prometheus: one [`Metrics`] value, made at start and handed to the
//! pipeline, the outbox and the sender, which count where the events happen. It is served as
//! `/metrics` by [`listener`](super::listener).
//!
//! Through `prometheus-client`, the Prometheus project's own Rust client: it writes the text
//! exposition format (OpenMetrics) that Prometheus and its compatible scrapers read, keeps
//! counters and histograms lock-free, and has no global registry, so every value is reachable
//! from this struct and nothing else.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One label, `name="value"`.
type Label = [(&'static str, &'static str); 1];

/// Why the bot gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The text does not seem to cover the question (the answer abstained).
    NotInText,
    /// A chat or user outside `telegram.allowed_chats`.
    NotAllowed,
    /// A question longer than the bot reads.
    TooLong,
}

impl Refusal {
    const ALL: [Refusal; 3] = [Refusal::NotInText, Refusal::NotAllowed, Refusal::TooLong];

    fn label(self) -> Label {
        let reason = match self {
            Refusal::NotInText => "not_in_text",
            Refusal::NotAllowed => "not_allowed",
            Refusal::TooLong => "too_long",
        };
        [("reason", reason)]
    }
}

/// Where an update or an answer was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropStage {
    /// The guard, on arrival: an update that goes no further.
    Guard,
    /// The outbox: a queued message that is never sent.
    Outbox,
    /// Handling: an update read in full that turns out to count for nothing.
    Handle,
}

impl DropStage {
    fn name(self) -> &'static str {
        match self {
            DropStage::Guard => "guard",
            DropStage::Outbox => "outbox",
            DropStage::Handle => "handle",
        }
    }
}

/// Why an update or an answer was dropped: every update that is neither answered nor told
/// why ends as one of these, counted and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// A sender flooding with messages (told once per flood, in the chat).
    FloodMessage,
    /// A sender flooding with button presses (told once per flood, on the button).
    FloodButton,
    /// A sender flooding with inline queries (which need no answer).
    FloodInline,
    /// A group message not addressed to the bot, or to another bot: chatter, on purpose.
    NotForMe,
    /// An update of a kind the bot does not read.
    Unsupported,
    /// A queued answer given up under a full backlog (its chat is told).
    Backlog,
    /// A queued page-turn edit replaced by a newer edit of the same message.
    Superseded,
    /// A message beyond the hard bound of a chat's queue.
    QueueFull,
    /// A message that could not be sent after retries.
    SendFailed,
    /// A vote on a group's quiz poll from someone outside the group (a forwarded poll).
    Outsider,
    /// A vote on a poll that counts for nothing: a review poll superseded by a newer one, a
    /// poll of a deleted quiz, or one that is not the bot's.
    StalePoll,
    /// An inline query that waited past the time Telegram waits for its answer.
    StaleInline,
    /// An inline query that found the inline permit busy past its wait (answered with
    /// nothing).
    InlineBusy,
}

impl Dropped {
    const ALL: [Dropped; 13] = [
        Dropped::FloodMessage,
        Dropped::FloodButton,
        Dropped::FloodInline,
        Dropped::NotForMe,
        Dropped::Unsupported,
        Dropped::Backlog,
        Dropped::Superseded,
        Dropped::QueueFull,
        Dropped::SendFailed,
        Dropped::Outsider,
        Dropped::StalePoll,
        Dropped::StaleInline,
        Dropped::InlineBusy,
    ];

    /// Where it happens.
    pub fn stage(self) -> DropStage {
        match self {
            Dropped::FloodMessage
            | Dropped::FloodButton
            | Dropped::FloodInline
            | Dropped::NotForMe
            | Dropped::Unsupported
            | Dropped::Outsider => DropStage::Guard,
            Dropped::Backlog | Dropped::Superseded | Dropped::QueueFull | Dropped::SendFailed => {
                DropStage::Outbox
            }
            Dropped::StalePoll | Dropped::StaleInline | Dropped::InlineBusy => DropStage::Handle,
        }
    }

    /// The metrics and log name.
    pub fn reason(self) -> &'static str {
        match self {
            Dropped::FloodMessage => "flood_message",
            Dropped::FloodButton => "flood_button",
            Dropped::FloodInline => "flood_inline",
            Dropped::NotForMe => "not_for_me",
            Dropped::Unsupported => "unsupported",
            Dropped::Backlog => "backlog",
            Dropped::Superseded => "superseded",
            Dropped::QueueFull => "queue_full",
            Dropped::SendFailed => "send_failed",
            Dropped::Outsider => "outsider",
            Dropped::StalePoll => "stale_poll",
            Dropped::StaleInline => "stale_inline",
            Dropped::InlineBusy => "inline_busy",
        }
    }

    /// Whether a flood caused it (counted in `flood_drops` too, as before).
    fn flood(self) -> bool {
        matches!(
            self,
            Dropped::FloodMessage
                | Dropped::FloodButton
                | Dropped::FloodInline
                | Dropped::Backlog
                | Dropped::QueueFull
        )
    }

    fn labels(self) -> Labels {
        [("stage", self.stage().name()), ("reason", self.reason())]
    }
}

/// Two labels.
type Labels = [(&'static str, &'static str); 2];

/// The bot's counters and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    answered: Counter,
    refused: Family<Label, Counter>,
    answer_seconds: Histogram,
    quizzes: Counter,
    flood_drops: Family<Label, Counter>,
    dropped: Family<Labels, Counter>,
    retries: Counter,
    send_errors: Counter,
    updates: Counter,
    panics: Counter,
    /// When the bot last heard from Telegram (unix seconds): a `getUpdates` answered, a
    /// webhook request with the right secret, or the webhook found set (`/healthz`).
    contact: AtomicU64,
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every counter at zero, registered under `studybot_`.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("studybot");
        let answered = Counter::default();
        registry.register(
            "questions_answered",
            "Questions answered from the text",
            answered.clone(),
        );
        let refused = Family::<Label, Counter>::default();
        registry.register(
            "questions_refused",
            "Questions and updates given no answer, by reason: not_in_text (the answer abstained), not_allowed (outside telegram.allowed_chats), too_long",
            refused.clone(),
        );
        // 5 ms to about 10 s: a lexical answer takes milliseconds, a cold semantic one seconds.
        let answer_seconds = Histogram::new(exponential_buckets(0.005, 2.0, 12));
        registry.register(
            "answer_latency_seconds",
            "Seconds from a question's arrival to its answer being queued for sending",
            answer_seconds.clone(),
        );
        let quizzes = Counter::default();
        registry.register("quizzes_run", "Quizzes started", quizzes.clone());
        let flood_drops = Family::<Label, Counter>::default();
        registry.register(
            "flood_drops",
            "Updates and answers dropped under a flood, by stage: guard (on arrival) or outbox (a full chat backlog)",
            flood_drops.clone(),
        );
        let dropped = Family::<Labels, Counter>::default();
        registry.register(
            "dropped",
            "Updates and messages that went no further, by stage (guard, outbox) and reason: flood_message, flood_button, flood_inline, not_for_me (group chatter), unsupported (update kinds not read), backlog, superseded (an edit replaced by a newer one), queue_full, send_failed, outsider (a vote on a forwarded quiz poll from outside its chat)",
            dropped.clone(),
        );
        let retries = Counter::default();
        registry.register(
            "send_retries",
            "Bot API requests retried (flood-control waits, network and server errors)",
            retries.clone(),
        );
        let send_errors = Counter::default();
        registry.register(
            "send_errors",
            "Messages and query answers that could not be sent after retries",
            send_errors.clone(),
        );
        let updates = Counter::default();
        registry.register(
            "updates_handled",
            "Updates handled (past the guard)",
            updates.clone(),
        );
        let panics = Counter::default();
        registry.register(
            "handler_panics",
            "Updates whose handling panicked (each got an apology)",
            panics.clone(),
        );
        // Every label shows from the start, so that a rate over it is defined.
        for reason in Refusal::ALL {
            let _ = refused.get_or_create(&reason.label());
        }
        for stage in [DropStage::Guard, DropStage::Outbox] {
            let _ = flood_drops.get_or_create(&[("stage", stage.name())]);
        }
        for reason in Dropped::ALL {
            let _ = dropped.get_or_create(&reason.labels());
        }
        Metrics {
            registry,
            answered,
            refused,
            answer_seconds,
            quizzes,
            flood_drops,
            dropped,
            retries,
            send_errors,
            updates,
            panics,
            contact: AtomicU64::new(unix_secs()),
        }
    }

    /// The bot heard from Telegram just now.
    pub fn contacted(&self) {
        self.contact.store(unix_secs(), Ordering::Relaxed);
    }

    /// How long since the bot last heard from Telegram (from the start, before that).
    pub fn silent_for(&self) -> Duration {
        Duration::from_secs(unix_secs().saturating_sub(self.contact.load(Ordering::Relaxed)))
    }

    /// A question was answered from the text.
    pub fn answered(&self) {
        self.answered.inc();
    }

    /// Something got no answer, for `reason`.
    pub fn refused(&self, reason: Refusal) {
        self.refused.get_or_create(&reason.label()).inc();
    }

    /// A question's answer was queued `seconds` after the question arrived.
    pub fn answer_latency(&self, seconds: f64) {
        self.answer_seconds.observe(seconds);
    }

    /// A quiz started.
    pub fn quiz_run(&self) {
        self.quizzes.inc();
    }

    /// An update or a message went no further, for `why`.
    pub fn dropped(&self, why: Dropped) {
        self.dropped.get_or_create(&why.labels()).inc();
        if why.flood() {
            self.flood_drops
                .get_or_create(&[("stage", why.stage().name())])
                .inc();
        }
    }

    /// A Bot API request is retried.
    pub fn retry(&self) {
        self.retries.inc();
    }

    /// A message or query answer could not be sent.
    pub fn send_error(&self) {
        self.send_errors.inc();
    }

    /// An update was handled.
    pub fn update_handled(&self) {
        self.updates.inc();
    }

    /// Handling an update panicked.
    pub fn panicked(&self) {
        self.panics.inc();
    }

    /// The text exposition of every metric, for `/metrics`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_exposed_and_moves() {
        let metrics = Metrics::new();
        let before = metrics.render();
        assert!(
            before.contains("studybot_questions_refused_total{reason=\"not_in_text\"} 0"),
            "{before}"
        );
        assert!(
            before.contains("studybot_flood_drops_total{stage=\"outbox\"} 0"),
            "{before}"
        );
        metrics.answered();
        metrics.refused(Refusal::NotAllowed);
        metrics.answer_latency(0.02);
        metrics.quiz_run();
        metrics.dropped(Dropped::FloodButton);
        metrics.dropped(Dropped::NotForMe);
        metrics.retry();
        metrics.send_error();
        let after = metrics.render();
        for line in [
            "studybot_questions_answered_total 1",
            "studybot_questions_refused_total{reason=\"not_allowed\"} 1",
            "studybot_answer_latency_seconds_count 1",
            "studybot_quizzes_run_total 1",
            "studybot_flood_drops_total{stage=\"guard\"} 1",
            "studybot_dropped_total{stage=\"guard\",reason=\"flood_button\"} 1",
            "studybot_dropped_total{stage=\"guard\",reason=\"not_for_me\"} 1",
            "studybot_send_retries_total 1",
            "studybot_send_errors_total 1",
        ] {
            assert!(after.lines().any(|l| l == line), "{line} in {after}");
        }
        assert!(after.ends_with("# EOF\n"), "{after}");
    }
}
