//! Command handling shared by every adapter: parsing what a user typed, deciding what to do,
//! and returning [`Reply`] values that the Telegram and terminal adapters render their own way.
//! Buttons carry an [`Action`] that encodes into Telegram callback data (at most 64 bytes) and
//! into numbered choices in the terminal, so both adapters offer exactly the same features.

use std::sync::Arc;

use crate::answer::{Answer, AnswerItem};
use crate::corpus::{text::sentences, Citation};
use crate::engine::{Engine, TocEntry};
use crate::quiz::session::{QuizService, Started};
use crate::search::excerpt::Marked;

/// Characters of section text shown per `/read` page.
pub const PAGE_CHARS: usize = 2500;

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
}

/// Every command, in /help order.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "ask",
        args: "<question>",
        description: "answer a question with cited excerpts",
    },
    CommandSpec {
        name: "sections",
        args: "",
        description: "table of contents",
    },
    CommandSpec {
        name: "read",
        args: "<section number>",
        description: "read a section page by page",
    },
    CommandSpec {
        name: "quiz",
        args: "[count] [topic or §N]",
        description: "start a quiz (e.g. /quiz 10 soviets)",
    },
    CommandSpec {
        name: "stop",
        args: "",
        description: "stop the running quiz",
    },
    CommandSpec {
        name: "score",
        args: "",
        description: "your quiz record in this chat",
    },
    CommandSpec {
        name: "top",
        args: "",
        description: "this chat's quiz leaderboard",
    },
    CommandSpec {
        name: "help",
        args: "",
        description: "what I can do",
    },
    CommandSpec {
        name: "start",
        args: "",
        description: "greeting and an example question",
    },
];

/// What a line of user text is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// One of our commands.
    Command(Command),
    /// A command addressed to another bot (`/ask@otherbot`): ignore.
    OtherBot,
    /// A slash command we do not know.
    Unknown(String),
    /// Plain text.
    Text(String),
}

/// Parses `/command@botname args`; `bot_username` is ours, without the `@`.
pub fn parse(text: &str, bot_username: Option<&str>) -> Parsed {
    let text = text.trim();
    let Some(rest) = text.strip_prefix('/') else {
        return Parsed::Text(text.to_string());
    };
    let (head, args) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    let (name, target) = match head.split_once('@') {
        Some((n, t)) => (n, Some(t)),
        None => (head, None),
    };
    if let (Some(target), Some(ours)) = (target, bot_username) {
        if !target.eq_ignore_ascii_case(ours) {
            return Parsed::OtherBot;
        }
    }
    let args = args.to_string();
    let command = match name.to_ascii_lowercase().as_str() {
        "start" => Command::Start,
        "help" => Command::Help,
        "ask" => Command::Ask(args),
        "sections" | "toc" | "contents" => Command::Sections,
        "read" => Command::Read(args),
        "quiz" => Command::Quiz(args),
        "stop" => Command::Stop,
        "score" => Command::Score,
        "top" | "leaderboard" => Command::Top,
        other => return Parsed::Unknown(other.to_string()),
    };
    Parsed::Command(command)
}

/// What a button does. Encodes to at most 64 bytes.
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
    /// Show a page of a section.
    Read {
        /// Document index.
        doc: usize,
        /// Section number.
        section: usize,
        /// 1-based page.
        page: usize,
    },
}

/// Why a button could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// The data is not a button of ours.
    Malformed,
    /// The button was made for another version of the corpus.
    Stale,
}

impl Action {
    /// Encodes the action with a short corpus tag, so buttons from an older corpus are refused
    /// instead of pointing at the wrong passage.
    pub fn encode(&self, tag: &str) -> String {
        let body = match self {
            Action::More { rank, ids } => {
                let ids: Vec<String> = ids.iter().map(usize::to_string).collect();
                format!("m:{rank}:{}", ids.join("."))
            }
            Action::Full(id) => format!("f:{id}"),
            Action::Context(id) => format!("c:{id}"),
            Action::Read { doc, section, page } => format!("r:{doc}:{section}:{page}"),
        };
        format!("{body}:{tag}")
    }

    /// Decodes callback data made by [`Action::encode`].
    pub fn decode(data: &str, tag: &str) -> Result<Action, ActionError> {
        let (body, data_tag) = data.rsplit_once(':').ok_or(ActionError::Malformed)?;
        let mut parts = body.split(':');
        let kind = parts.next().ok_or(ActionError::Malformed)?;
        let fields: Vec<&str> = parts.collect();
        let num = |s: &str| s.parse::<usize>().map_err(|_| ActionError::Malformed);
        let action = match (kind, fields.as_slice()) {
            ("m", [rank, ids]) => Action::More {
                rank: num(rank)?,
                ids: ids.split('.').map(num).collect::<Result<_, _>>()?,
            },
            ("f", [id]) => Action::Full(num(id)?),
            ("c", [id]) => Action::Context(num(id)?),
            ("r", [doc, section, page]) => Action::Read {
                doc: num(doc)?,
                section: num(section)?,
                page: num(page)?,
            },
            _ => return Err(ActionError::Malformed),
        };
        if data_tag != tag {
            return Err(ActionError::Stale);
        }
        Ok(action)
    }
}

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
    /// The table of contents.
    Toc(Vec<TocEntry>),
    /// A page of a section.
    Page(Page),
    /// A short message.
    Notice(String),
    /// A quiz has started.
    QuizStarted(crate::quiz::session::Started, u32),
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
        board: Vec<crate::store::PlayerRecord>,
    },
    /// One player's record.
    Score {
        /// The player's name.
        name: String,
        /// Their record, if they ever answered.
        record: Option<crate::store::PlayerRecord>,
    },
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
}

/// The question suggested by /start: the first words of the first section title that make a
/// sensible question, so it works for any corpus.
pub fn example_question(engine: &Engine) -> String {
    let toc = engine.toc();
    let title = toc
        .iter()
        .map(|e| {
            e.title
                .trim_matches(|c: char| c == '.' || c == '…' || c.is_whitespace())
        })
        .find(|t| {
            !t.eq_ignore_ascii_case(crate::corpus::INTRODUCTION)
                && t.split_whitespace().count() >= 2
        })
        .unwrap_or("the main idea");
    format!("what does the text say about {}?", title.to_lowercase())
}

/// The command handling every adapter shares.
#[derive(Debug, Clone)]
pub struct Handler {
    engine: Arc<Engine>,
    quiz: Option<Arc<QuizService>>,
    top_k: usize,
    tag: String,
}

/// Current unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Handler {
    /// A handler over an engine, without quizzes.
    pub fn new(engine: Arc<Engine>) -> Handler {
        let top_k = engine.settings().top_k;
        let tag = engine.corpus.hash.chars().take(6).collect();
        Handler {
            engine,
            quiz: None,
            top_k,
            tag,
        }
    }

    /// Adds quizzes.
    pub fn with_quiz(mut self, quiz: Arc<QuizService>) -> Handler {
        self.quiz = Some(quiz);
        self
    }

    /// The quiz service, if quizzes are on.
    pub fn quiz(&self) -> Option<&Arc<QuizService>> {
        self.quiz.as_ref()
    }

    fn store_failed(err: &crate::Error) -> Reply {
        tracing::error!(error = %err, "quiz storage failed");
        Reply::notice("Sorry, I could not reach my score database. Please try again.")
    }

    /// `/quiz`: starts a quiz in `chat`. The adapter asks the questions when this returns a
    /// started quiz.
    pub fn quiz_start(&self, chat: i64, args: &str, now: i64) -> (Reply, Option<Started>) {
        let Some(quiz) = &self.quiz else {
            return (Reply::notice("Quizzes are not available here."), None);
        };
        let mut rng = rand::thread_rng();
        match quiz.start(&self.engine.corpus, chat, args, now, &mut rng) {
            Ok(Ok(started)) => (
                Reply::plain(Content::QuizStarted(
                    started.clone(),
                    quiz.settings().open_period_secs,
                )),
                Some(started),
            ),
            Ok(Err(message)) => (Reply::notice(message), None),
            Err(err) => (Self::store_failed(&err), None),
        }
    }

    /// `/stop`: ends the chat's quiz. Also returns the message of its open poll, to close it.
    pub fn quiz_stop(&self, chat: i64) -> (Reply, Option<i64>) {
        let Some(quiz) = &self.quiz else {
            return (Reply::notice("Quizzes are not available here."), None);
        };
        match quiz.stop(chat) {
            Ok(Some((board, message))) => (
                Reply::plain(Content::Scoreboard {
                    title: "Quiz stopped. Scores:".into(),
                    board,
                }),
                message,
            ),
            Ok(None) => (
                Reply::notice("No quiz is running here. Start one with /quiz."),
                None,
            ),
            Err(err) => (Self::store_failed(&err), None),
        }
    }

    /// `/score`: the asker's record in this chat.
    pub fn score(&self, chat: i64, user: i64, name: &str) -> Reply {
        let Some(quiz) = &self.quiz else {
            return Reply::notice("Quizzes are not available here.");
        };
        match quiz.score(chat, user) {
            Ok(record) => Reply::plain(Content::Score {
                name: name.to_string(),
                record,
            }),
            Err(err) => Self::store_failed(&err),
        }
    }

    /// `/top`: the chat's leaderboard.
    pub fn top(&self, chat: i64) -> Reply {
        let Some(quiz) = &self.quiz else {
            return Reply::notice("Quizzes are not available here.");
        };
        match quiz.top(chat) {
            Ok(board) if board.is_empty() => {
                Reply::notice("Nobody has answered a quiz question here yet. Start one with /quiz.")
            }
            Ok(board) => Reply::plain(Content::Scoreboard {
                title: "Leaderboard".into(),
                board,
            }),
            Err(err) => Self::store_failed(&err),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The corpus tag carried by buttons.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Handles a non-quiz command. Quiz commands are the adapters' to schedule; they return
    /// `None` here.
    pub fn command(&self, command: &Command) -> Option<Reply> {
        Some(match command {
            Command::Start => Reply::plain(Content::Greeting {
                subject: self.subject(),
                example: example_question(&self.engine),
            }),
            Command::Help => Reply::plain(Content::Help),
            Command::Ask(question) => self.ask(question),
            Command::Sections => self.sections(),
            Command::Read(arg) => self.read_arg(arg),
            Command::Quiz(_) | Command::Stop | Command::Score | Command::Top => return None,
        })
    }

    /// What the bot serves, for greetings: the document title, or how many texts.
    pub fn subject(&self) -> String {
        match self.engine.corpus.documents.as_slice() {
            [one] => one.title.clone(),
            docs => format!("{} texts", docs.len()),
        }
    }

    /// Answers a question.
    pub fn ask(&self, question: &str) -> Reply {
        let question = question.trim();
        if question.is_empty() {
            return Reply::notice(
                "Ask me something about the text, for example: /ask ".to_string()
                    + &example_question(&self.engine),
            );
        }
        match self.engine.ask(question, self.top_k) {
            Ok(answer) => {
                let buttons = self.answer_buttons(&answer);
                Reply {
                    content: Content::Answer(answer),
                    buttons,
                    replace: false,
                }
            }
            Err(crate::Error::BadQuestion(why)) => Reply::notice(capitalise(&why) + "."),
            Err(err) => {
                tracing::error!(error = %err, "search failed");
                Reply::notice("Sorry, searching failed. Please try again.")
            }
        }
    }

    fn answer_buttons(&self, answer: &Answer) -> Vec<Vec<Button>> {
        if !answer.answered {
            return answer
                .closest_sections
                .iter()
                .map(|s| {
                    vec![Button {
                        label: truncate_label(&format!("§{} {}", s.number, s.title)),
                        action: Action::Read {
                            doc: s.doc,
                            section: s.number,
                            page: 1,
                        },
                    }]
                })
                .collect();
        }
        let mut row = Vec::new();
        if let Some(top) = answer.results.first() {
            row.push(Button {
                label: "Full passage".into(),
                action: Action::Full(top.passage),
            });
            row.push(Button {
                label: "Context".into(),
                action: Action::Context(top.passage),
            });
        }
        if !answer.more.is_empty() {
            row.push(Button {
                label: "More".into(),
                action: Action::More {
                    rank: answer.results.len() + 1,
                    ids: answer.more.clone(),
                },
            });
        }
        vec![row]
    }

    /// The table of contents, with a button per section.
    pub fn sections(&self) -> Reply {
        let toc = self.engine.toc();
        let buttons = toc
            .chunks(2)
            .map(|pair| {
                pair.iter()
                    .map(|e| Button {
                        label: truncate_label(&format!("§{} {}", e.number, e.title)),
                        action: Action::Read {
                            doc: e.doc,
                            section: e.number,
                            page: 1,
                        },
                    })
                    .collect()
            })
            .collect();
        Reply {
            content: Content::Toc(toc),
            buttons,
            replace: false,
        }
    }

    fn read_arg(&self, arg: &str) -> Reply {
        let arg = arg.trim().trim_start_matches('§');
        let toc = self.engine.toc();
        let usage = || {
            Reply::notice(format!(
                "Which section? Send /read followed by a number from 1 to {}, or see /sections.",
                toc.len()
            ))
        };
        if arg.is_empty() {
            return usage();
        }
        // "/read 4" is section 4 of the first document; with several documents "/read 2.4"
        // picks document 2.
        let (doc, section) = match arg.split_once('.') {
            Some((d, s)) => match (d.parse::<usize>(), s.parse::<usize>()) {
                (Ok(d), Ok(s)) if d >= 1 => (d - 1, s),
                _ => return usage(),
            },
            None => match arg.parse::<usize>() {
                Ok(s) => (0, s),
                Err(_) => return usage(),
            },
        };
        match self.page(doc, section, 1) {
            Some(reply) => Reply {
                replace: false,
                ..reply
            },
            None => usage(),
        }
    }

    /// A page of a section, with previous/next buttons.
    pub fn page(&self, doc: usize, section: usize, page: usize) -> Option<Reply> {
        let corpus = &self.engine.corpus;
        let s = corpus.section(doc, section)?;
        let pages = paginate(&s.paragraphs);
        let count = pages.len();
        let index = page.checked_sub(1).filter(|&i| i < count)?;
        let mut row = Vec::new();
        if page > 1 {
            row.push(Button {
                label: "◀ Previous".into(),
                action: Action::Read {
                    doc,
                    section,
                    page: page - 1,
                },
            });
        }
        if page < count {
            row.push(Button {
                label: "Next ▶".into(),
                action: Action::Read {
                    doc,
                    section,
                    page: page + 1,
                },
            });
        }
        Some(Reply {
            content: Content::Page(Page {
                document: corpus.documents[doc].title.clone(),
                doc,
                section,
                title: s.title.clone(),
                paragraphs: pages[index].clone(),
                page,
                pages: count,
            }),
            buttons: if row.is_empty() {
                Vec::new()
            } else {
                vec![row]
            },
            replace: true,
        })
    }

    /// A passage shown whole, unmarked.
    fn shown(&self, passage: &crate::corpus::Passage, focus: bool) -> ShownPassage {
        ShownPassage {
            citation: self.engine.corpus.citation(passage),
            text: Marked {
                text: passage.text.clone(),
                highlights: Vec::new(),
            },
            focus,
        }
    }

    /// Runs a button's action; `Err` carries a short message for the button press.
    /// `question` is what the message with the button answered, when the adapter knows it:
    /// "More" then shows the part of each passage that answers it.
    pub fn action(&self, data: &str, question: Option<&str>) -> Result<Reply, String> {
        let action = Action::decode(data, &self.tag).map_err(|e| match e {
            ActionError::Malformed => "This button is not one of mine.".to_string(),
            ActionError::Stale => {
                "This button is from an older version of the text. Ask again.".to_string()
            }
        })?;
        let gone = || "That passage no longer exists. Ask again.".to_string();
        match action {
            Action::More { rank, ids } => {
                let items = self.engine.items(&ids, rank, question);
                if items.is_empty() {
                    return Err(gone());
                }
                Ok(Reply::plain(Content::More(items)))
            }
            Action::Full(id) => {
                let passage = self.engine.corpus.passages.get(id).ok_or_else(gone)?;
                Ok(Reply::plain(Content::Passages(vec![
                    self.shown(passage, true)
                ])))
            }
            Action::Context(id) => {
                let corpus = &self.engine.corpus;
                let passage = corpus.passages.get(id).ok_or_else(gone)?;
                let (prev, next) = corpus.neighbours(id);
                let shown = [prev, Some(passage), next]
                    .into_iter()
                    .flatten()
                    .map(|p| self.shown(p, p.id == id))
                    .collect();
                Ok(Reply::plain(Content::Passages(shown)))
            }
            Action::Read { doc, section, page } => self
                .page(doc, section, page)
                .ok_or_else(|| "That page no longer exists. Try /sections.".to_string()),
        }
    }
}

/// One scoreboard line without the name: "35 points · 3 answered, 3 correct, best streak 3".
pub fn record_summary(r: &crate::store::PlayerRecord) -> String {
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

/// Splits a section's paragraphs into pages of about [`PAGE_CHARS`] characters, splitting an
/// over-long paragraph at sentence boundaries (its pieces keep the paragraph number).
pub fn paginate(paragraphs: &[String]) -> Vec<Vec<(usize, String)>> {
    let mut pieces: Vec<(usize, String)> = Vec::new();
    for (i, p) in paragraphs.iter().enumerate() {
        if p.chars().count() <= PAGE_CHARS {
            pieces.push((i + 1, p.clone()));
            continue;
        }
        let mut current = String::new();
        for r in sentences(p) {
            let s = &p[r];
            if !current.is_empty() && current.chars().count() + s.chars().count() > PAGE_CHARS {
                pieces.push((i + 1, std::mem::take(&mut current)));
            }
            if !current.is_empty() {
                current.push(' ');
            }
            // A single sentence longer than a page is cut at a character boundary.
            if s.chars().count() > PAGE_CHARS {
                let cut: String = s.chars().take(PAGE_CHARS - 1).collect();
                current.push_str(&cut);
                current.push('…');
            } else {
                current.push_str(s);
            }
        }
        if !current.is_empty() {
            pieces.push((i + 1, current));
        }
    }
    let mut pages: Vec<Vec<(usize, String)>> = Vec::new();
    let mut size = 0;
    for piece in pieces {
        let len = piece.1.chars().count();
        match pages.last_mut() {
            Some(page) if size + len <= PAGE_CHARS => {
                page.push(piece);
                size += len;
            }
            _ => {
                pages.push(vec![piece]);
                size = len;
            }
        }
    }
    if pages.is_empty() {
        pages.push(Vec::new());
    }
    pages
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_for_us_and_ignores_other_bots() {
        assert_eq!(
            parse("/ask what?", Some("studybot")),
            Parsed::Command(Command::Ask("what?".into()))
        );
        assert_eq!(
            parse("/ask@StudyBot  soviets ", Some("studybot")),
            Parsed::Command(Command::Ask("soviets".into()))
        );
        assert_eq!(
            parse("/ask@otherbot soviets", Some("studybot")),
            Parsed::OtherBot
        );
        assert_eq!(
            parse("/frobnicate", Some("studybot")),
            Parsed::Unknown("frobnicate".into())
        );
        assert_eq!(parse("hello", None), Parsed::Text("hello".into()));
        assert_eq!(
            parse("/quiz 10 soviets", None),
            Parsed::Command(Command::Quiz("10 soviets".into()))
        );
    }

    #[test]
    fn actions_round_trip_within_64_bytes_and_refuse_stale_or_junk() {
        let actions = [
            Action::More {
                rank: 4,
                ids: vec![123456, 234567, 345678, 456789, 567890],
            },
            Action::Full(999_999),
            Action::Context(0),
            Action::Read {
                doc: 12,
                section: 345,
                page: 67,
            },
        ];
        for a in actions {
            let data = a.encode("abcdef");
            assert!(data.len() <= 64, "{data}");
            assert_eq!(Action::decode(&data, "abcdef"), Ok(a.clone()));
            assert_eq!(Action::decode(&data, "123456"), Err(ActionError::Stale));
        }
        for junk in [
            "",
            "x",
            "f:",
            "f:abc:tag",
            "m:1::tag",
            "r:1:2:tag",
            "💥:1:tag",
        ] {
            assert_eq!(
                Action::decode(junk, "tag"),
                Err(ActionError::Malformed),
                "{junk}"
            );
        }
    }

    #[test]
    fn pages_hold_whole_paragraphs_and_split_long_ones() {
        let paragraphs = vec![
            "Short.".to_string(),
            "A sentence here. ".repeat(400),
            "End.".to_string(),
        ];
        let pages = paginate(&paragraphs);
        assert!(pages.len() >= 3);
        for page in &pages {
            let chars: usize = page.iter().map(|p| p.1.chars().count()).sum();
            assert!(chars <= PAGE_CHARS);
        }
        assert_eq!(pages[0][0], (1, "Short.".to_string()));
        assert_eq!(pages.last().unwrap().last().unwrap().0, 3);
    }
}
