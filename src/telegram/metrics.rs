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

/// Where a flood was cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropStage {
    /// The flood guard, on arrival: an update from a sender who floods.
    Guard,
    /// The outbox: a queued answer, when a chat's backlog was full.
    Outbox,
}

impl DropStage {
    fn label(self) -> Label {
        let stage = match self {
            DropStage::Guard => "guard",
            DropStage::Outbox => "outbox",
        };
        [("stage", stage)]
    }
}

/// The bot's counters and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    answered: Counter,
    refused: Family<Label, Counter>,
    answer_seconds: Histogram,
    quizzes: Counter,
    flood_drops: Family<Label, Counter>,
    retries: Counter,
    send_errors: Counter,
    updates: Counter,
    panics: Counter,
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
            let _ = flood_drops.get_or_create(&stage.label());
        }
        Metrics {
            registry,
            answered,
            refused,
            answer_seconds,
            quizzes,
            flood_drops,
            retries,
            send_errors,
            updates,
            panics,
        }
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

    /// A flood lost an update or an answer at `stage`.
    pub fn flood_drop(&self, stage: DropStage) {
        self.flood_drops.get_or_create(&stage.label()).inc();
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
        metrics.flood_drop(DropStage::Guard);
        metrics.retry();
        metrics.send_error();
        let after = metrics.render();
        for line in [
            "studybot_questions_answered_total 1",
            "studybot_questions_refused_total{reason=\"not_allowed\"} 1",
            "studybot_answer_latency_seconds_count 1",
            "studybot_quizzes_run_total 1",
            "studybot_flood_drops_total{stage=\"guard\"} 1",
            "studybot_send_retries_total 1",
            "studybot_send_errors_total 1",
        ] {
            assert!(after.lines().any(|l| l == line), "{line} in {after}");
        }
        assert!(after.ends_with("# EOF\n"), "{after}");
    }
}
