//! `studybot chat`: the bot's commands in a terminal, through the same command handling as
//! Telegram. Buttons are numbered choices; quiz options are answered by number.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use studybot::commands::{
    self, unix_now, Action, Caller, Command, Content, Handler, Parsed, Reply,
};
use studybot::config::Settings;
use studybot::quiz::driver::{Driver, Next};
use studybot::terminal::{self, Marks};

/// The terminal is one private chat with one user.
const CHAT: i64 = 0;
const USER: i64 = 0;

/// Arguments of `chat`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// A quiz question waiting for the user's answer.
struct Pending {
    poll: String,
    correct: usize,
    options: Vec<String>,
    explanation: String,
    /// The review card it asks, when it is a review's question.
    review: Option<String>,
}

struct Session {
    handler: Handler,
    marks: Marks,
    choices: Vec<Action>,
    /// The question the reply that brought `choices` answered.
    choices_question: Option<String>,
    pending: Option<Pending>,
    name: String,
    out: std::io::Stdout,
}

impl Session {
    fn show(&mut self, reply: &Reply) {
        self.show_answer(reply, None);
    }

    /// Shows `reply`, the answer to `question` when it is one.
    fn show_answer(&mut self, reply: &Reply, question: Option<String>) {
        let (text, actions) = terminal::reply(reply, self.marks);
        // Like buttons on earlier Telegram messages, earlier choices stay usable until a
        // reply brings new ones.
        if !actions.is_empty() {
            self.choices = actions;
            self.choices_question = question;
        }
        let _ = writeln!(self.out, "{text}");
    }

    /// The terminal's one user, who administers their own chat.
    fn caller(&self) -> Caller {
        Caller {
            user: USER,
            name: self.name.clone(),
            admin: true,
        }
    }

    /// Asks the next quiz question, or shows the final scoreboard: the quiz driver Telegram
    /// uses, with the question printed instead of posted. `answered` moves on without waiting
    /// for the question's open period.
    fn next_question(&mut self, answered: bool) {
        let Some(service) = self.handler.quiz().cloned() else {
            return;
        };
        let quiz = match service.running_in(CHAT) {
            Ok(Some(quiz)) => quiz,
            Ok(None) => {
                self.pending = None;
                return;
            }
            Err(err) => {
                let _ = writeln!(self.out, "Could not continue the quiz: {err}");
                return;
            }
        };
        let driver = Driver::new(service, quiz);
        match driver.next(unix_now(), answered) {
            Ok(Next::Ask(asked)) => {
                let poll = format!("terminal:{quiz}:{}", asked.index);
                if let Err(err) = driver.delivered(&asked, &poll, None, asked.deadline) {
                    let _ = writeln!(self.out, "Could not save the quiz: {err}");
                    return;
                }
                self.pending = Some(Pending {
                    poll,
                    correct: asked.question.correct,
                    options: asked.question.options.clone(),
                    explanation: asked.question.explanation.clone(),
                    review: None,
                });
                self.show(&Reply::plain(Content::QuizQuestion {
                    index: asked.index,
                    total: asked.total,
                    question: asked.question,
                }));
            }
            Ok(Next::Finished { board, .. }) => {
                self.pending = None;
                self.show(&Reply::quiz_over(board));
            }
            Ok(Next::Unreadable { .. }) => {
                self.pending = None;
                self.show(&Reply::quiz_unreadable());
            }
            Ok(Next::Wait { .. } | Next::Over) => self.pending = None,
            Err(err) => {
                let _ = writeln!(self.out, "Could not continue the quiz: {err}");
            }
        }
    }

    /// Asks the next card of the review, other than `skip` (the card just answered), or shows
    /// the message that ends the review: the same steps Telegram takes.
    fn next_review(&mut self, skip: Option<&str>) {
        let Some(service) = self.handler.quiz().cloned() else {
            return;
        };
        let due = match self.handler.review_next(USER, unix_now(), skip) {
            Ok(due) => due,
            Err(reply) => {
                self.pending = None;
                self.show(&reply);
                return;
            }
        };
        // Unique per asking: the same card may come back in one session.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let poll = format!("terminal:review:{nanos}");
        let question = due.question;
        if let Err(err) = service.attach_review_poll(&poll, USER, CHAT, &due.key, question.correct)
        {
            let _ = writeln!(self.out, "Could not save the review: {err}");
            return;
        }
        self.pending = Some(Pending {
            poll,
            correct: question.correct,
            options: question.options.clone(),
            explanation: question.explanation.clone(),
            review: Some(due.key),
        });
        let _ = writeln!(self.out, "Review (box {}):", due.level);
        self.show(&Reply::plain(Content::QuizQuestion {
            index: 0,
            total: 1,
            question,
        }));
    }

    fn answer(&mut self, pending: Pending, n: usize) {
        let Some(service) = self.handler.quiz().cloned() else {
            return;
        };
        if let Err(err) = service.answer_poll(
            &pending.poll,
            USER,
            &self.name,
            &[(n - 1) as u8],
            unix_now(),
        ) {
            let _ = writeln!(self.out, "Could not save your answer: {err}");
        }
        self.show(&Reply::plain(Content::QuizFeedback {
            correct: n - 1 == pending.correct,
            answer: pending
                .options
                .get(pending.correct)
                .cloned()
                .unwrap_or_default(),
            explanation: pending.explanation,
        }));
        match pending.review {
            Some(key) => self.next_review(Some(&key)),
            None => self.next_question(true),
        }
    }

    fn line(&mut self, line: &str) {
        if let Ok(n) = line.parse::<usize>() {
            if let Some(pending) = self.pending.take() {
                if (1..=pending.options.len()).contains(&n) {
                    self.answer(pending, n);
                } else {
                    let _ = writeln!(
                        self.out,
                        "Answer with a number from 1 to {}.",
                        pending.options.len()
                    );
                    self.pending = Some(pending);
                }
                return;
            }
            if let Some(action) = n.checked_sub(1).and_then(|i| self.choices.get(i)).cloned() {
                let question = self.choices_question.clone();
                match self
                    .handler
                    .action(&action, CHAT, &self.caller(), question.as_deref())
                {
                    Ok(reply) => self.show(&reply),
                    Err(message) => {
                        let _ = writeln!(self.out, "{message}\n");
                    }
                }
                return;
            }
        }
        let reply = match commands::parse(line, None) {
            Parsed::Command(Command::Quiz(args)) => {
                let (reply, started) =
                    self.handler
                        .quiz_start(CHAT, USER, &args, unix_now(), false);
                self.show(&reply);
                if started.is_some() {
                    self.next_question(false);
                }
                return;
            }
            Parsed::Command(Command::Stop) => {
                self.pending = None;
                self.handler.quiz_stop(CHAT, &self.caller()).0
            }
            Parsed::Command(Command::Reset) => self.handler.reset_prompt(&self.caller()),
            Parsed::Command(Command::Score) => self.handler.score(CHAT, USER, &self.name),
            Parsed::Command(Command::Top) => self.handler.top(CHAT),
            Parsed::Command(Command::Review) => {
                let reply = self.handler.review(&self.caller(), false, unix_now());
                self.show(&reply);
                if matches!(reply.content, Content::ReviewStarted { .. }) {
                    self.next_review(None);
                }
                return;
            }
            Parsed::Command(Command::Ask(question)) => {
                let reply = self.handler.ask_in(Some(CHAT), &question);
                self.show_answer(&reply, Some(question));
                return;
            }
            Parsed::Command(command) => {
                self.handler
                    .command_in_chat(CHAT, &self.caller(), false, &command, unix_now())
                    .0
            }
            Parsed::Text(text) => {
                let reply = self.handler.ask_in(Some(CHAT), &text);
                self.show_answer(&reply, Some(text));
                return;
            }
            Parsed::Unknown(name) => Reply::notice(format!(
                "I don't know /{name}. Type /help for the commands."
            )),
            Parsed::OtherBot => return,
        };
        self.show(&reply);
    }
}

pub fn run(settings: &Settings, _args: Args) -> anyhow::Result<ExitCode> {
    // `chat` writes the bot's database (quizzes, scores): one process per data directory.
    let _lock = studybot::datadir::DataDirLock::acquire(&settings.data_dir)?;
    let handler = super::load_handler(settings, false)?;
    let interactive = std::io::stdin().is_terminal();
    let mut session = Session {
        handler,
        marks: if std::io::stdout().is_terminal() {
            Marks::Ansi
        } else {
            Marks::Stars
        },
        choices: Vec::new(),
        choices_question: None,
        pending: None,
        name: std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "You".into()),
        out: std::io::stdout(),
    };
    if let Some(start) = session.handler.command(&Command::Start) {
        session.show(&start);
    }
    // A quiz left running by an earlier session continues where it was.
    session.next_question(true);
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            let _ = write!(session.out, "> ");
            let _ = session.out.flush();
        }
        let line = match lines.next() {
            None => break,
            Some(Ok(line)) => line,
            Some(Err(_)) => {
                let _ = writeln!(
                    session.out,
                    "That line is not UTF-8 text; please type it again."
                );
                continue;
            }
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if matches!(line, "/quit" | "/exit" | "quit" | "exit") {
            break;
        }
        session.line(line);
    }
    Ok(ExitCode::SUCCESS)
}
