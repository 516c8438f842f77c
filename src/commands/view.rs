//! The reply values command handling returns: what to show ([`Content`]) and which buttons to
//! offer. Adapters render them (Telegram HTML, terminal text); nothing here knows either.

use crate::answer::{Answer, AnswerItem};
use crate::corpus::Citation;
use crate::engine::TocEntry;
use crate::quiz::session::Started;
use crate::search::excerpt::Marked;
use crate::store::PlayerRecord;

use super::Action;

/// A button: a label and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    /// Label shown to the user.
    pub label: String,
    /// What pressing it does.
    pub action: Action,
}

/// One page of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Document title.
    pub document: String,
    /// Document index.
    pub doc: usize,
    /// Section number.
    pub section: usize,
    /// Section title.
    pub title: String,
    /// (paragraph number, text) on this page.
    pub paragraphs: Vec<(usize, String)>,
    /// 1-based page number.
    pub page: usize,
    /// Pages in the section.
    pub pages: usize,
    /// For a paged text, where these paragraphs stand in the reader's copy: "p. 12" or
    /// "pp. 12–13".
    pub printed: Option<String>,
}

/// A passage shown in full or as context.
#[derive(Debug, Clone)]
pub struct ShownPassage {
    /// Where it is.
    pub citation: Citation,
    /// Its text, with matched words marked.
    pub text: Marked,
    /// Whether this is the passage the user asked about (in a context view).
    pub focus: bool,
}

/// What to show.
#[derive(Debug, Clone)]
pub enum Content {
    /// The /start greeting.
    Greeting {
        /// What the bot serves: the document title, or how many texts.
        subject: String,
        /// Example question.
        example: String,
    },
    /// The /help text.
    Help,
    /// An answer to a question.
    Answer(Answer),
    /// Further results.
    More(Vec<AnswerItem>),
    /// One or more passages (full passage, or a passage with its neighbours).
    Passages(Vec<ShownPassage>),
    /// A page of the table of contents.
    Toc {
        /// The sections on this page.
        entries: Vec<TocEntry>,
        /// 1-based page.
        page: usize,
        /// Pages in all.
        pages: usize,
    },
    /// A page of a section.
    Page(Page),
    /// A short message.
    Notice(String),
    /// A quiz has started.
    QuizStarted(Started, u32),
    /// A quiz question, for adapters without native quiz polls.
    QuizQuestion {
        /// 0-based index.
        index: usize,
        /// Questions in the quiz.
        total: usize,
        /// The question.
        question: crate::quiz::QuizQuestion,
    },
    /// Feedback on an answer, for adapters without native quiz polls.
    QuizFeedback {
        /// Whether the answer was right.
        correct: bool,
        /// The right option.
        answer: String,
        /// The explanation with its citation.
        explanation: String,
    },
    /// A scoreboard: a quiz's (with its question count) or a chat's leaderboard.
    Scoreboard {
        /// Heading.
        title: String,
        /// Best first.
        board: Vec<PlayerRecord>,
    },
    /// One player's record.
    Score {
        /// The player's name.
        name: String,
        /// Their record, if they ever answered.
        record: Option<PlayerRecord>,
        /// Their record by section, in text order (at most [`MAX_SCORE_SECTIONS`]).
        sections: Vec<SectionScore>,
        /// Their weakest section, to read again.
        weakest: Option<SectionScore>,
    },
    /// A review has begun: its first card follows.
    ReviewStarted {
        /// Cards due now.
        due: i64,
    },
}

/// Most sections a /score lists.
pub const MAX_SCORE_SECTIONS: usize = 12;

/// A member's record in one section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionScore {
    /// "§N Title", with the document's title first when several are served.
    pub label: String,
    /// Questions answered.
    pub answered: i64,
    /// Right answers.
    pub correct: i64,
}

impl SectionScore {
    /// "3/5 right (60%)".
    pub fn summary(&self) -> String {
        let percent = (self.correct * 100).checked_div(self.answered).unwrap_or(0);
        format!("{}/{} right ({percent}%)", self.correct, self.answered)
    }
}

/// A reply: content plus buttons.
#[derive(Debug, Clone)]
pub struct Reply {
    /// What to show.
    pub content: Content,
    /// Rows of buttons.
    pub buttons: Vec<Vec<Button>>,
    /// Whether to replace the message the button was on (page turning) instead of sending anew.
    pub replace: bool,
}

impl Reply {
    /// A reply without buttons.
    pub fn plain(content: Content) -> Reply {
        Reply {
            content,
            buttons: Vec::new(),
            replace: false,
        }
    }

    /// A short notice.
    pub fn notice(text: impl Into<String>) -> Reply {
        Reply::plain(Content::Notice(text.into()))
    }

    /// The scoreboard at the end of a quiz.
    pub fn quiz_over(board: Vec<PlayerRecord>) -> Reply {
        Reply::plain(Content::Scoreboard {
            title: "Quiz over! Scores:".into(),
            board,
        })
    }

    /// Why a quiz ended early: its question could not be posted.
    pub fn quiz_undeliverable() -> Reply {
        Reply::notice("I could not post the next quiz question, so the quiz has ended.")
    }

    /// Why a quiz ended early: its saved state could not be read back.
    pub fn quiz_unreadable() -> Reply {
        Reply::notice("This quiz's saved state could not be read, so the quiz has ended. Start a new one with /quiz.")
    }

    /// The apology for an update whose handling failed unexpectedly.
    pub fn apology() -> Reply {
        Reply::notice("Sorry, something went wrong with that. Please try again.")
    }
}

/// One scoreboard line without the name: "35 points · 3 answered, 3 correct, best streak 3".
pub fn record_summary(r: &PlayerRecord) -> String {
    let points = if r.points == 1 { "point" } else { "points" };
    format!(
        "{} {points} · {} answered, {} correct, best streak {}",
        r.points, r.answered, r.correct, r.best_streak
    )
}

/// The quiz announcement, shared by the adapters.
pub fn quiz_announcement(started: &Started, open_secs: u32) -> String {
    let plural = if started.count == 1 { "" } else { "s" };
    let mut text = format!(
        "Quiz: {} question{plural} on {}. Each question stays open {open_secs} s; the next one comes when it closes. /stop ends the quiz.",
        started.count, started.scope
    );
    if started.count < started.requested {
        text.push_str(&format!(
            " (Only {} questions fit that topic.)",
            started.count
        ));
    }
    text
}

/// Shortens a button label to a length that fits a phone screen.
pub fn truncate_label(label: &str) -> String {
    const MAX: usize = 40;
    if label.chars().count() <= MAX {
        return label.to_string();
    }
    let cut: String = label.chars().take(MAX - 1).collect();
    format!("{}…", cut.trim_end())
}
