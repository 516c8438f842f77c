//! Command handling shared by every adapter, so Telegram and the terminal offer exactly the same
//! features: [`parse`] reads what a user typed, [`Handler`] decides what to do, [`view`] holds
//! the [`Reply`] values it returns (which each adapter renders its own way) and [`paginate`]
//! cuts long sections and tables of contents into pages. Buttons carry an [`Action`]; how an
//! action travels through a Telegram button is the Telegram adapter's business (its callback
//! codec), the terminal numbers them.

mod handler;
pub mod paginate;
pub mod parse;
pub mod view;

pub use handler::{example_question, review_summary, Caller, Handler};
pub use paginate::{paginate, toc_pages, PAGE_CHARS, TOC_PAGE_SECTIONS};
pub use parse::{parse, Parsed};
pub use view::{
    quiz_announcement, record_summary, truncate_label, Button, Content, Page, Reply, SectionScore,
    ShownPassage, MAX_SCORE_SECTIONS,
};

/// A command a user can give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Greeting with an example question.
    Start,
    /// The list of commands.
    Help,
    /// A question about the text.
    Ask(String),
    /// The table of contents.
    Sections,
    /// Read a section page by page (argument: section number).
    Read(String),
    /// Start a quiz (arguments: count and/or topic).
    Quiz(String),
    /// Stop the running quiz.
    Stop,
    /// The asker's own score in this chat.
    Score,
    /// This chat's leaderboard.
    Top,
    /// Reset this chat's scores (admins only, after a confirmation).
    Reset,
    /// Review the quiz questions the asker got wrong (in a group: a link to the private chat).
    Review,
    /// The documents served, numbered.
    Texts,
    /// Set the chat's current text (argument: its number, or `all`).
    Text(String),
    /// Add the file this message carries (or replies to) as a text of the chat.
    Add,
    /// Remove a text added from the chat (argument: its number), after a confirmation.
    Remove(String),
}

impl Command {
    /// Whether handling the command depends on the caller being an admin of the chat, so an
    /// adapter looks the role up first.
    pub fn needs_role(&self) -> bool {
        matches!(
            self,
            Command::Stop | Command::Reset | Command::Text(_) | Command::Add | Command::Remove(_)
        )
    }
}

/// A command's name, arguments and description, for /help and Telegram's command menu.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    /// Name without the slash.
    pub name: &'static str,
    /// Argument hint shown in /help.
    pub args: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// Other names that do the same, shown in /help and the command menu.
    pub aliases: &'static [&'static str],
}

impl CommandSpec {
    /// " (also /toc, /contents)" for /help, or nothing.
    pub fn also(&self) -> String {
        if self.aliases.is_empty() {
            return String::new();
        }
        let names: Vec<String> = self.aliases.iter().map(|a| format!("/{a}")).collect();
        format!(" (also {})", names.join(", "))
    }
}

/// The command a name or alias names (lowercase, without the slash), as its canonical name.
pub fn canonical(name: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .find(|c| c.name == name || c.aliases.contains(&name))
        .map(|c| c.name)
}

/// Every command, in /help order.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "ask",
        args: "<question>",
        description: "answer a question with cited excerpts",
        aliases: &[],
    },
    CommandSpec {
        name: "sections",
        args: "",
        description: "table of contents",
        aliases: &["toc", "contents"],
    },
    CommandSpec {
        name: "read",
        args: "<section number>",
        description: "read a section page by page",
        aliases: &[],
    },
    CommandSpec {
        name: "quiz",
        args: "[count] [topic or §N]",
        description: "start a quiz (e.g. /quiz 10 soviets)",
        aliases: &[],
    },
    CommandSpec {
        name: "review",
        args: "",
        description: "review the quiz questions you got wrong",
        aliases: &[],
    },
    CommandSpec {
        name: "texts",
        args: "",
        description: "the texts I serve",
        aliases: &["documents"],
    },
    CommandSpec {
        name: "text",
        args: "<number | all>",
        description: "read one text in this chat, or all (admins in groups)",
        aliases: &[],
    },
    CommandSpec {
        name: "add",
        args: "",
        description: "add a PDF, EPUB, DOCX, HTML, TXT or MD file as a text (caption or reply)",
        aliases: &[],
    },
    CommandSpec {
        name: "remove",
        args: "<text number>",
        description: "remove a text added here (admins in groups)",
        aliases: &[],
    },
    CommandSpec {
        name: "stop",
        args: "",
        description: "stop the running quiz (its starter or an admin)",
        aliases: &[],
    },
    CommandSpec {
        name: "score",
        args: "",
        description: "your quiz record in this chat",
        aliases: &[],
    },
    CommandSpec {
        name: "top",
        args: "",
        description: "this chat's quiz leaderboard",
        aliases: &["leaderboard"],
    },
    CommandSpec {
        name: "reset",
        args: "",
        description: "reset this chat's quiz scores (admins)",
        aliases: &[],
    },
    CommandSpec {
        name: "help",
        args: "",
        description: "what I can do",
        aliases: &[],
    },
    CommandSpec {
        name: "start",
        args: "",
        description: "greeting and an example question",
        aliases: &[],
    },
];

/// What a button does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Show the given passages as results starting at `rank`.
    More {
        /// Rank of the first passage.
        rank: usize,
        /// Passage ids.
        ids: Vec<usize>,
    },
    /// Show a whole passage.
    Full(usize),
    /// Show a passage with the ones before and after it.
    Context(usize),
    /// Show a page of a section, in place of the message the button is on.
    Read {
        /// Document index.
        doc: usize,
        /// Section number.
        section: usize,
        /// 1-based page.
        page: usize,
    },
    /// Open a section an answer suggested (its first page, as a new message).
    Open {
        /// Document index.
        doc: usize,
        /// Section number.
        section: usize,
    },
    /// Show a page of the table of contents, in place of the message the button is on.
    Toc {
        /// 1-based page.
        page: usize,
    },
    /// Confirm (`true`) or cancel a reset of the chat's scores.
    Reset(bool),
    /// Confirm (`true`) or cancel removing the added text with this id.
    Remove {
        /// The text's id.
        text: usize,
        /// Whether to remove it.
        confirmed: bool,
    },
    /// Open a web link (the bot's private chat, for a review asked for in a group). Not a
    /// callback: Telegram opens it itself.
    Link(String),
}

impl Action {
    /// Whether the button belongs to an answer (so a reply to its message is a follow-up
    /// question).
    pub fn is_answer(&self) -> bool {
        matches!(
            self,
            Action::More { .. } | Action::Full(_) | Action::Context(_) | Action::Open { .. }
        )
    }
}

/// Current unix time in seconds.
///
/// In debug builds (the tests' binary), the environment variable
/// `STUDYBOT_DEBUG_CLOCK_OFFSET` (seconds) moves the clock forward, so tests can show a
/// review card coming due days later without waiting. Release builds have no such hook.
pub fn unix_now() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    #[cfg(debug_assertions)]
    if let Some(offset) = std::env::var("STUDYBOT_DEBUG_CLOCK_OFFSET")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
    {
        return now.saturating_add(offset);
    }
    now
}
