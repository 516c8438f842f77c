//! The command handler every adapter shares: a command or a button's [`Action`] in, a
//! [`Reply`] out. It runs synchronous core work (search, SQLite), so adapters on an async
//! runtime call it from a blocking thread.

use std::sync::Arc;

use super::paginate::{paginate, toc_pages};
use super::view::{
    truncate_label, Button, Content, Page, Reply, SectionScore, ShownPassage, MAX_SCORE_SECTIONS,
};
use super::{Action, Command};
use crate::answer::Answer;
use crate::engine::Engine;
use crate::quiz::pool::QuestionPool;
use crate::quiz::review::ReviewNext;
use crate::quiz::session::{QuizService, Started, Stop};
use crate::search::excerpt::Marked;
use crate::store::DeckSummary;

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
    /// The bot's username, for links to its private chat (set once the adapter knows it).
    username: std::sync::Arc<std::sync::OnceLock<String>>,
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
            username: Default::default(),
        }
    }

    /// A handler over a text added from a chat: its own engine and questions, buttons tagged
    /// `tag`, the same store, settings and bot username as this one. Its documents are
    /// numbered from `doc_base` in the store's records.
    pub fn for_text(
        &self,
        engine: Arc<Engine>,
        pool: QuestionPool,
        doc_base: usize,
        tag: String,
    ) -> Handler {
        Handler {
            engine,
            quiz: self
                .quiz
                .as_ref()
                .map(|q| Arc::new(q.with_pool(pool, doc_base))),
            top_k: self.top_k,
            tag,
            username: Arc::clone(&self.username),
        }
    }

    /// Adds quizzes.
    pub fn with_quiz(mut self, quiz: Arc<QuizService>) -> Handler {
        self.quiz = Some(quiz);
        self
    }

    /// Records the bot's username (without `@`), for the link a group's `/review` replies
    /// with. The first call wins.
    pub fn set_username(&self, username: &str) {
        let _ = self.username.set(username.to_string());
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
        let doc = self.chat_doc(chat);
        match quiz.start_in(
            &self.engine.corpus,
            doc,
            chat,
            by,
            args,
            now,
            cooldown,
            &mut rng,
        ) {
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
        let (record, records) = match (quiz.score(chat, user), quiz.sections(chat, user)) {
            (Ok(record), Ok(records)) => (record, records),
            (Err(err), _) | (_, Err(err)) => return Self::store_failed(&err),
        };
        let corpus = &self.engine.corpus;
        let several = corpus.documents.len() > 1;
        let base = quiz.doc_base();
        let scored: Vec<(usize, usize, SectionScore)> = records
            .iter()
            .filter(|r| r.answered > 0)
            .filter_map(|r| {
                let doc = r.doc.checked_sub(base)?;
                let section = corpus.section(doc, r.section)?;
                let document = corpus.documents.get(doc)?;
                let label = if several {
                    format!("{}, §{} {}", document.title, section.number, section.title)
                } else {
                    format!("§{} {}", section.number, section.title)
                };
                Some((
                    doc,
                    r.section,
                    SectionScore {
                        label,
                        answered: r.answered,
                        correct: r.correct,
                    },
                ))
            })
            .collect();
        // The weakest section: the lowest share of right answers (compared without division),
        // then the most answered; only a section with a wrong answer is weak.
        let weakest = scored
            .iter()
            .filter(|(_, _, s)| s.correct < s.answered)
            .min_by(|(_, _, a), (_, _, b)| {
                (i128::from(a.correct) * i128::from(b.answered))
                    .cmp(&(i128::from(b.correct) * i128::from(a.answered)))
                    .then(b.answered.cmp(&a.answered))
            })
            .cloned();
        let buttons = match &weakest {
            Some((doc, section, s)) => vec![vec![Button {
                label: truncate_label(&format!("Read {}", s.label)),
                action: Action::Open {
                    doc: *doc,
                    section: *section,
                },
            }]],
            None => Vec::new(),
        };
        Reply {
            content: Content::Score {
                name: name.to_string(),
                record,
                sections: scored
                    .into_iter()
                    .take(MAX_SCORE_SECTIONS)
                    .map(|(_, _, s)| s)
                    .collect(),
                weakest: weakest.map(|(_, _, s)| s),
            },
            buttons,
            replace: false,
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
            Command::Read(arg) => self.read_in(None, arg),
            Command::Texts => self.texts(None),
            Command::Quiz(_)
            | Command::Stop
            | Command::Score
            | Command::Top
            | Command::Reset
            | Command::Review
            | Command::Text(_) => return None,
            Command::Add | Command::Remove(_) => Reply::notice(
                "Texts can be added and removed in Telegram, where the bot's host has turned it on.",
            ),
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
            Command::Review => (self.review(caller, group, now), None, None),
            Command::Texts => (self.texts(Some(chat)), None, None),
            Command::Text(arg) => (self.set_text(chat, caller, group, arg), None, None),
            Command::Ask(question) => (self.ask_in(Some(chat), question), None, None),
            Command::Sections => (self.sections_in(Some(chat)), None, None),
            Command::Read(arg) => (self.read_in(Some(chat), arg), None, None),
            other => (
                self.command(other)
                    .unwrap_or_else(|| Reply::notice("Send /help for the commands.")),
                None,
                None,
            ),
        }
    }

    /// The current text of `chat`: its document index, when one is set and still served.
    /// With a single document there is no choice to make.
    pub fn chat_doc(&self, chat: i64) -> Option<usize> {
        let quiz = self.quiz.as_ref()?;
        let documents = &self.engine.corpus.documents;
        if documents.len() < 2 {
            return None;
        }
        let file = match quiz.store().chat_text(chat) {
            Ok(file) => file?,
            Err(err) => {
                tracing::error!(error = %err, "could not read the chat's text");
                return None;
            }
        };
        documents.iter().position(|d| d.file == file)
    }

    /// `/texts`: the documents served, numbered, with their section counts, and which one
    /// `chat` reads.
    pub fn texts(&self, chat: Option<i64>) -> Reply {
        let documents = &self.engine.corpus.documents;
        let sections = |n: usize| format!("{n} section{}", if n == 1 { "" } else { "s" });
        if let [one] = documents.as_slice() {
            return Reply::notice(format!(
                "I serve one text: {} ({}).",
                one.title,
                sections(one.sections.len())
            ));
        }
        let mut text = format!("I serve {} texts:\n", documents.len());
        for (i, d) in documents.iter().enumerate() {
            text.push_str(&format!(
                "{}. {} ({})\n",
                i + 1,
                d.title,
                sections(d.sections.len())
            ));
        }
        let current = chat.and_then(|c| self.chat_doc(c));
        text.push_str(&match current.and_then(|d| documents.get(d)) {
            Some(d) => format!("\nThis chat reads {}. ", d.title),
            None => "\nThis chat reads all of them. ".to_string(),
        });
        text.push_str("Choose one with /text followed by its number; /text all goes back to all.");
        Reply::notice(text)
    }

    /// `/text N` or `/text all`: sets or clears `chat`'s current text; in a group only an
    /// admin may.
    pub fn set_text(&self, chat: i64, caller: &Caller, group: bool, arg: &str) -> Reply {
        let documents = &self.engine.corpus.documents;
        if let [one] = documents.as_slice() {
            return Reply::notice(format!("I serve one text only: {}.", one.title));
        }
        let Some(quiz) = &self.quiz else {
            return Reply::notice("Choosing a text is not available here.");
        };
        let arg = arg.trim();
        let usage = || {
            Reply::notice(format!(
                "Which text? Send /text followed by a number from 1 to {}, or /text all. See /texts.",
                documents.len()
            ))
        };
        if arg.is_empty() {
            return usage();
        }
        if group && !caller.admin {
            return Reply::notice("Only an admin of this chat can choose its text.");
        }
        let chosen = if arg.eq_ignore_ascii_case("all") {
            None
        } else {
            match arg
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| documents.get(i))
            {
                Some(d) => Some(d),
                None => return usage(),
            }
        };
        if let Err(err) = quiz
            .store()
            .set_chat_text(chat, chosen.map(|d| d.file.as_str()))
        {
            return Self::store_failed(&err);
        }
        Reply::notice(match chosen {
            Some(d) => format!(
                "This chat now reads {} ({} sections). Questions, /sections, /read and /quiz keep to it; /text all goes back to all the texts.",
                d.title,
                d.sections.len(),
            ),
            None => format!("This chat now reads all {} texts.", documents.len()),
        })
    }

    /// `/review`: in a private chat, starts the review of the caller's due cards (the adapter
    /// then asks them one by one, see [`Self::review_next`]); in a group, a link to the
    /// bot's private chat, where the review starts.
    pub fn review(&self, caller: &Caller, group: bool, now: i64) -> Reply {
        let Some(quiz) = &self.quiz else {
            return Self::no_quizzes();
        };
        if group {
            let text = "Reviews run in my private chat, at your own pace.";
            return match self.username.get() {
                Some(username) => Reply {
                    content: Content::Notice(format!(
                        "{text} Open it with the button to review the questions you got wrong."
                    )),
                    buttons: vec![vec![Button {
                        label: "Review in private".into(),
                        action: Action::Link(format!("https://t.me/{username}?start=review")),
                    }]],
                    replace: false,
                },
                None => Reply::notice(format!("{text} Send me /review there.")),
            };
        }
        match quiz.review_next(caller.user, now, None) {
            Ok(ReviewNext::Ask(due)) => Reply::plain(Content::ReviewStarted { due: due.due_now }),
            Ok(ReviewNext::Nothing(deck)) => review_summary(&deck, now, false),
            Err(err) => Self::store_failed(&err),
        }
    }

    /// The next card of `user`'s review, other than `skip` (the card just answered), or the
    /// message that ends the review.
    pub fn review_next(
        &self,
        user: i64,
        now: i64,
        skip: Option<&str>,
    ) -> Result<crate::quiz::review::Due, Box<Reply>> {
        let Some(quiz) = &self.quiz else {
            return Err(Box::new(Self::no_quizzes()));
        };
        match quiz.review_next(user, now, skip) {
            Ok(ReviewNext::Ask(due)) => Ok(due),
            Ok(ReviewNext::Nothing(deck)) => {
                Err(Box::new(review_summary(&deck, now, skip.is_some())))
            }
            Err(err) => Err(Box::new(Self::store_failed(&err))),
        }
    }

    /// What the bot serves, for greetings: the document title, or how many texts.
    pub fn subject(&self) -> String {
        match self.engine.corpus.documents.as_slice() {
            [one] => one.title.clone(),
            docs => format!("{} texts", docs.len()),
        }
    }

    /// Answers a question from every text.
    pub fn ask(&self, question: &str) -> Reply {
        self.ask_in(None, question)
    }

    /// Answers a question in `chat` (from its current text, when it has one).
    pub fn ask_in(&self, chat: Option<i64>, question: &str) -> Reply {
        let doc = chat.and_then(|c| self.chat_doc(c));
        let question = question.trim();
        if question.is_empty() {
            return Reply::notice(
                "Ask me something about the text, for example: /ask ".to_string()
                    + &example_question(&self.engine),
            );
        }
        match self.engine.ask_in(question, self.top_k, doc) {
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
        self.sections_in(None)
    }

    /// The first page of `chat`'s table of contents (its current text's, when it has one).
    pub fn sections_in(&self, chat: Option<i64>) -> Reply {
        let doc = chat.and_then(|c| self.chat_doc(c));
        Reply {
            replace: false,
            ..self
                .toc_page_in(doc, 1)
                .unwrap_or_else(|| Reply::notice("The text has no sections."))
        }
    }

    /// A page of the table of contents: its sections as buttons, two a row, and
    /// previous/next buttons.
    pub fn toc_page(&self, page: usize) -> Option<Reply> {
        self.toc_page_in(None, page)
    }

    /// A page of the table of contents of document `doc`, or of every document.
    fn toc_page_in(&self, doc: Option<usize>, page: usize) -> Option<Reply> {
        let mut pages = toc_pages(self.engine.toc_in(doc));
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

    /// `/read N` in `chat`: section N of its current text, when it has one.
    fn read_in(&self, chat: Option<i64>, arg: &str) -> Reply {
        let current = chat.and_then(|c| self.chat_doc(c));
        let arg = arg.trim().trim_start_matches('§');
        let sections = self.engine.toc_in(current).len();
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
                Ok(s) => (current.unwrap_or(0), s),
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
        let paragraphs = pages.swap_remove(index);
        let printed = match (paragraphs.first(), paragraphs.last()) {
            (Some((first, _)), Some((last, _))) => corpus.printed_pages(s, *first, *last),
            _ => None,
        };
        Some(Reply {
            content: Content::Page(Page {
                document: document.title.clone(),
                doc,
                section,
                title: s.title.clone(),
                paragraphs,
                page,
                pages: count,
                printed,
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
                .toc_page_in(self.chat_doc(chat), *page)
                .ok_or_else(|| "That page no longer exists. Try /sections.".to_string()),
            Action::Reset(confirmed) => self.reset(chat, caller, *confirmed),
            // The library's: a text is removed from the chat, not from one text's handler.
            Action::Remove { .. } => Err("Send /remove again.".to_string()),
            Action::Link(url) => Err(format!("Open {url} in Telegram.")),
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

/// The message that ends a review or answers a `/review` with nothing due: how many cards
/// the deck has and when the next is due.
pub fn review_summary(deck: &DeckSummary, now: i64, done: bool) -> Reply {
    if deck.cards == 0 {
        return Reply::notice(
            "Your review deck is empty. Questions you answer wrongly in a quiz join it, and /review asks them again.",
        );
    }
    let cards = format!(
        "{} card{}",
        deck.cards,
        if deck.cards == 1 { "" } else { "s" }
    );
    let head = if done {
        "Review done for now."
    } else {
        "Nothing to review now."
    };
    let next = if deck.due_now > 0 {
        format!(
            " {} due again now: send /review to go on.",
            if deck.due_now == 1 {
                "One is"
            } else {
                "Some are"
            }
        )
    } else {
        match deck.next_due {
            Some(due) => format!(" The next is due in {}.", duration(due.saturating_sub(now))),
            None => String::new(),
        }
    };
    Reply::notice(format!("{head} Your deck has {cards}.{next}"))
}

/// A wait in words: minutes, hours or days, rounded up.
fn duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (n, unit) = if secs < 3600 {
        ((secs + 59) / 60, "minute")
    } else if secs < 48 * 3600 {
        ((secs + 3599) / 3600, "hour")
    } else {
        ((secs + 86_399) / 86_400, "day")
    };
    let n = n.max(1);
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
