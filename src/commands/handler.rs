//! The command handler every adapter shares: a command or a button's [`Action`] in, a
//! [`Reply`] out. It runs synchronous core work (search, SQLite), so adapters on an async
//! runtime call it from a blocking thread.

use std::sync::Arc;

use super::paginate::{paginate, toc_pages};
use super::view::{truncate_label, Button, Content, Page, Reply, ShownPassage};
use super::{Action, Command};
use crate::answer::Answer;
use crate::engine::Engine;
use crate::quiz::session::{QuizService, Started, Stop};
use crate::search::excerpt::Marked;

/// Who gave a command, as far as the chat's rules care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// User id (or, for someone posting as a chat, that chat's id).
    pub user: i64,
    /// Display name.
    pub name: String,
    /// Whether they administer the chat (in a private chat, its one user does).
    pub admin: bool,
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

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// A short tag of the corpus version, which buttons carry so that a button made for an
    /// older text is refused instead of pointing at the wrong passage.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    fn store_failed(err: &crate::Error) -> Reply {
        tracing::error!(error = %err, "quiz storage failed");
        Reply::notice("Sorry, I could not reach my score database. Please try again.")
    }

    fn no_quizzes() -> Reply {
        Reply::notice("Quizzes are not available here.")
    }

    /// `/quiz`: starts a quiz in `chat` for `by`. The adapter asks the questions when this
    /// returns a started quiz. With `cooldown` (groups), a quiz started there recently blocks
    /// a new one for `quiz.cooldown_secs`.
    pub fn quiz_start(
        &self,
        chat: i64,
        by: i64,
        args: &str,
        now: i64,
        cooldown: bool,
    ) -> (Reply, Option<Started>) {
        let Some(quiz) = &self.quiz else {
            return (Self::no_quizzes(), None);
        };
        let mut rng = rand::thread_rng();
        match quiz.start(&self.engine.corpus, chat, by, args, now, cooldown, &mut rng) {
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

    /// `/stop`: ends the chat's quiz if `caller` started it or administers the chat. Also
    /// returns the message of its open poll, to close it.
    pub fn quiz_stop(&self, chat: i64, caller: &Caller) -> (Reply, Option<i64>) {
        let Some(quiz) = &self.quiz else {
            return (Self::no_quizzes(), None);
        };
        match quiz.stop(chat, caller.user, caller.admin) {
            Ok(Stop::Stopped { board, open_poll }) => (
                Reply::plain(Content::Scoreboard {
                    title: "Quiz stopped. Scores:".into(),
                    board,
                }),
                open_poll,
            ),
            Ok(Stop::NotAllowed) => (
                Reply::notice(
                    "Only the member who started this quiz or an admin of the chat can stop it.",
                ),
                None,
            ),
            Ok(Stop::NotRunning) => (
                Reply::notice("No quiz is running here. Start one with /quiz."),
                None,
            ),
            Err(err) => (Self::store_failed(&err), None),
        }
    }

    /// `/score`: the asker's record in this chat.
    pub fn score(&self, chat: i64, user: i64, name: &str) -> Reply {
        let Some(quiz) = &self.quiz else {
            return Self::no_quizzes();
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
            return Self::no_quizzes();
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

    /// `/reset`: asks an admin to confirm resetting the chat's scores; anyone else is refused.
    pub fn reset_prompt(&self, caller: &Caller) -> Reply {
        if self.quiz.is_none() {
            return Self::no_quizzes();
        }
        if !caller.admin {
            return Reply::notice("Only an admin of this chat can reset its quiz scores.");
        }
        Reply {
            content: Content::Notice(
                "Reset this chat's quiz scores? Everyone's points, answers and streaks here go back to zero.".into(),
            ),
            buttons: vec![vec![
                Button {
                    label: "Reset scores".into(),
                    action: Action::Reset(true),
                },
                Button {
                    label: "Cancel".into(),
                    action: Action::Reset(false),
                },
            ]],
            replace: false,
        }
    }

    /// Handles a command that needs nothing but the command itself. Quiz and role commands
    /// need the chat and the caller; they return `None` here.
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
            Command::Quiz(_) | Command::Stop | Command::Score | Command::Top | Command::Reset => {
                return None
            }
        })
    }

    /// Handles any command given in `chat` by `caller` at `now` (unix seconds); `group` turns
    /// on the group rules (the `/quiz` cooldown). Returns the reply, the quiz it started and
    /// the poll message it asks the adapter to close.
    pub fn command_in_chat(
        &self,
        chat: i64,
        caller: &Caller,
        group: bool,
        command: &Command,
        now: i64,
    ) -> (Reply, Option<Started>, Option<i64>) {
        match command {
            Command::Quiz(args) => {
                let (reply, started) = self.quiz_start(chat, caller.user, args, now, group);
                (reply, started, None)
            }
            Command::Stop => {
                let (reply, poll) = self.quiz_stop(chat, caller);
                (reply, None, poll)
            }
            Command::Score => (self.score(chat, caller.user, &caller.name), None, None),
            Command::Top => (self.top(chat), None, None),
            Command::Reset => (self.reset_prompt(caller), None, None),
            other => (
                self.command(other)
                    .unwrap_or_else(|| Reply::notice("Send /help for the commands.")),
                None,
                None,
            ),
        }
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
                        action: Action::Open {
                            doc: s.doc,
                            section: s.number,
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

    /// The first page of the table of contents, with a button per section.
    pub fn sections(&self) -> Reply {
        Reply {
            replace: false,
            ..self
                .toc_page(1)
                .unwrap_or_else(|| Reply::notice("The text has no sections."))
        }
    }

    /// A page of the table of contents: its sections as buttons, two a row, and
    /// previous/next buttons.
    pub fn toc_page(&self, page: usize) -> Option<Reply> {
        let mut pages = toc_pages(self.engine.toc());
        let count = pages.len();
        let index = page.checked_sub(1).filter(|&i| i < count)?;
        let entries = pages.swap_remove(index);
        let mut buttons: Vec<Vec<Button>> = entries
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
        let mut nav = Vec::new();
        if page > 1 {
            nav.push(Button {
                label: "◀ Previous".into(),
                action: Action::Toc { page: page - 1 },
            });
        }
        if page < count {
            nav.push(Button {
                label: "Next ▶".into(),
                action: Action::Toc { page: page + 1 },
            });
        }
        if !nav.is_empty() {
            buttons.push(nav);
        }
        Some(Reply {
            content: Content::Toc {
                entries,
                page,
                pages: count,
            },
            buttons,
            replace: true,
        })
    }

    fn read_arg(&self, arg: &str) -> Reply {
        let arg = arg.trim().trim_start_matches('§');
        let sections = self.engine.toc().len();
        let usage = || {
            Reply::notice(format!(
                "Which section? Send /read followed by a number from 1 to {sections}, or see /sections."
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
        let document = corpus.documents.get(doc)?;
        let mut pages = paginate(&s.paragraphs);
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
                document: document.title.clone(),
                doc,
                section,
                title: s.title.clone(),
                paragraphs: pages.swap_remove(index),
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

    /// Runs a button's action for `caller` in `chat`; `Err` carries a short message for the
    /// button press. `question` is what the message with the button answered, when the
    /// adapter knows it: "More" then shows the part of each passage that answers it.
    pub fn action(
        &self,
        action: &Action,
        chat: i64,
        caller: &Caller,
        question: Option<&str>,
    ) -> Result<Reply, String> {
        let gone = || "That passage no longer exists. Ask again.".to_string();
        match action {
            Action::More { rank, ids } => {
                let items = self.engine.items(ids, *rank, question);
                if items.is_empty() {
                    return Err(gone());
                }
                Ok(Reply::plain(Content::More(items)))
            }
            Action::Full(id) => {
                let passage = self.engine.corpus.passages.get(*id).ok_or_else(gone)?;
                Ok(Reply::plain(Content::Passages(vec![
                    self.shown(passage, true)
                ])))
            }
            Action::Context(id) => {
                let corpus = &self.engine.corpus;
                let passage = corpus.passages.get(*id).ok_or_else(gone)?;
                let (prev, next) = corpus.neighbours(*id);
                let shown = [prev, Some(passage), next]
                    .into_iter()
                    .flatten()
                    .map(|p| self.shown(p, p.id == *id))
                    .collect();
                Ok(Reply::plain(Content::Passages(shown)))
            }
            Action::Read { doc, section, page } => self
                .page(*doc, *section, *page)
                .ok_or_else(|| "That page no longer exists. Try /sections.".to_string()),
            Action::Open { doc, section } => self
                .page(*doc, *section, 1)
                .map(|reply| Reply {
                    replace: false,
                    ..reply
                })
                .ok_or_else(|| "That section no longer exists. Try /sections.".to_string()),
            Action::Toc { page } => self
                .toc_page(*page)
                .ok_or_else(|| "That page no longer exists. Try /sections.".to_string()),
            Action::Reset(confirmed) => self.reset(chat, caller, *confirmed),
        }
    }

    /// The confirmation buttons of `/reset`: reset the chat's scores when an admin confirms.
    /// Anyone else's press is refused and leaves the prompt for an admin to answer.
    fn reset(&self, chat: i64, caller: &Caller, confirmed: bool) -> Result<Reply, String> {
        let Some(quiz) = &self.quiz else {
            return Ok(Self::no_quizzes());
        };
        if !caller.admin {
            return Err("Only an admin of this chat can reset its quiz scores.".into());
        }
        let done = if !confirmed {
            Reply::notice("Scores kept.")
        } else {
            match quiz.reset(chat) {
                Ok(players) => Reply::notice(format!(
                    "Scores reset: {players} player record{} cleared.",
                    if players == 1 { "" } else { "s" }
                )),
                Err(err) => Self::store_failed(&err),
            }
        };
        Ok(Reply {
            replace: true,
            ..done
        })
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
