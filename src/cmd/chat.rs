//! `studybot chat`: the bot's commands in a terminal, through the same command handling as
//! Telegram. Buttons are numbered choices.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use studybot::commands::{self, Action, Command, Handler, Parsed};
use studybot::config::Settings;
use studybot::terminal::{self, Marks};

/// Arguments of `chat`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(settings: &Settings, _args: Args) -> anyhow::Result<ExitCode> {
    let engine = Arc::new(super::load_engine(settings)?);
    let handler = Handler::new(engine);
    let marks = if std::io::stdout().is_terminal() {
        Marks::Ansi
    } else {
        Marks::Stars
    };
    let interactive = std::io::stdin().is_terminal();
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    let mut choices: Vec<Action> = Vec::new();
    let show =
        |reply: &commands::Reply, choices: &mut Vec<Action>, stdout: &mut std::io::Stdout| {
            let (text, actions) = terminal::reply(reply, marks);
            // Like buttons on earlier Telegram messages, earlier choices stay usable until a
            // reply brings new ones.
            if !actions.is_empty() {
                *choices = actions;
            }
            let _ = writeln!(stdout, "{text}");
        };
    if let Some(start) = handler.command(&Command::Start) {
        show(&start, &mut choices, &mut stdout);
    }
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            let _ = write!(stdout, "> ");
            let _ = stdout.flush();
        }
        let line = match lines.next() {
            None => break,
            Some(Ok(line)) => line,
            Some(Err(_)) => {
                let _ = writeln!(stdout, "That line is not UTF-8 text; please type it again.");
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
        if let Ok(n) = line.parse::<usize>() {
            if let Some(action) = n.checked_sub(1).and_then(|i| choices.get(i)).cloned() {
                match handler.action(&action.encode(handler.tag())) {
                    Ok(reply) => show(&reply, &mut choices, &mut stdout),
                    Err(message) => {
                        let _ = writeln!(stdout, "{message}\n");
                    }
                }
                continue;
            }
        }
        let reply = match commands::parse(line, None) {
            Parsed::Command(command) => handler.command(&command).unwrap_or_else(|| {
                commands::Reply::notice(
                    "Quizzes need the state database; they arrive with /quiz support.",
                )
            }),
            Parsed::Text(text) => handler.ask(&text),
            Parsed::Unknown(name) => commands::Reply::notice(format!(
                "I don't know /{name}. Type /help for the commands."
            )),
            Parsed::OtherBot => continue,
        };
        show(&reply, &mut choices, &mut stdout);
    }
    Ok(ExitCode::SUCCESS)
}
