//! Subcommands, one file each, and the glue they share: settings, engine loading, exit codes.

mod ask;
mod backup;
mod bench;
mod bot;
mod chat;
mod check;
mod eval;
mod extract;
mod index;
mod sections;
mod version;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use studybot::config::{Settings, Sources};
use studybot::{Engine, Error};

/// Answers questions about a text with cited excerpts, on Telegram and in the terminal.
#[derive(Debug, Parser)]
#[command(
    name = "studybot",
    about,
    disable_version_flag = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Settings file read after config/default.toml (instead of config/local.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the version and the hash of the corpus it serves.
    #[arg(short = 'V', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Answer a question with the best-matching excerpts and their citations.
    Ask(ask::Args),
    /// Show the table of contents with section numbers and paragraph counts.
    Sections(sections::Args),
    /// Measure retrieval on a JSONL file of questions with gold passages.
    Eval(eval::Args),
    /// Talk to the bot in this terminal: the same commands as on Telegram.
    Chat(chat::Args),
    /// Run the Telegram bot (token from TELOXIDE_TOKEN).
    Bot(bot::Args),
    /// Build the stored index for the corpus, or reopen it if the corpus is unchanged.
    Index(index::Args),
    /// Time answers (search, excerpts, Telegram rendering) and print latency percentiles.
    Bench(bench::Args),
    /// Copy the state database to FILE: a consistent copy, safe while the bot runs.
    Backup(backup::Args),
    /// Check the set-up before going live: settings, corpus, quiz bank, data_dir, the bot token.
    Check(check::Args),
    /// Read one document (PDF, EPUB, DOCX, HTML, text) as the corpus would, and show what it gives.
    Extract(extract::Args),
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let sources = Sources::standard(cli.config.as_deref());
    let command = match cli.command {
        _ if cli.version => return version::run(&sources),
        Some(command) => command,
        None => {
            use clap::CommandFactory as _;
            Cli::command()
                .error(
                    clap::error::ErrorKind::MissingSubcommand,
                    "a subcommand is required",
                )
                .exit()
        }
    };
    if let Command::Extract(args) = command {
        return extract::run(args);
    }
    // Every other command reads documents in child processes (see formats::sandbox).
    match std::env::current_exe() {
        Ok(exe) => studybot::formats::sandbox::use_child_process(exe),
        Err(e) => tracing::warn!("documents will be read in-process: {e}"),
    }
    // `check` reports broken settings as one of its findings instead of stopping on them.
    if let Command::Check(args) = command {
        return check::run(&sources, args);
    }
    let settings = Settings::load(&sources)?;
    match command {
        Command::Ask(args) => ask::run(&settings, args),
        Command::Sections(args) => sections::run(&settings, args),
        Command::Eval(args) => eval::run(&settings, args),
        Command::Chat(args) => chat::run(&settings, args),
        Command::Bot(args) => bot::run(&settings, args),
        Command::Index(args) => index::run(&settings, args),
        Command::Bench(args) => bench::run(&settings, args),
        Command::Backup(args) => backup::run(&settings, args),
        Command::Check(args) => check::run(&sources, args),
        Command::Extract(args) => extract::run(args),
    }
}

/// Loads the corpus and index named by the settings, with a progress bar on a terminal when
/// the index has to be built for a large corpus.
pub fn load_engine(settings: &Settings) -> anyhow::Result<Engine> {
    let (corpus, _) = Engine::load_corpus(settings).with_context(|| "loading the corpus")?;
    index_corpus(corpus, settings)
}

/// Indexes a loaded corpus (building or reopening a stored index for a large one), with a
/// progress bar on a terminal.
pub fn index_corpus(
    corpus: studybot::corpus::Corpus,
    settings: &Settings,
) -> anyhow::Result<Engine> {
    index_with_bar(corpus, settings, Engine::with_corpus)
}

/// How an engine is built from a loaded corpus: [`Engine::with_corpus`] or [`Engine::lexical`].
type Build = fn(
    studybot::corpus::Corpus,
    &Settings,
    &mut dyn FnMut(usize, usize),
) -> studybot::Result<Engine>;

/// Builds the engine with `build`, showing its progress on a terminal.
fn index_with_bar(
    corpus: studybot::corpus::Corpus,
    settings: &Settings,
    build: Build,
) -> anyhow::Result<Engine> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "indexing {bar:40} {pos}/{len} passages ({eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let engine = build(corpus, settings, &mut |done, total| {
        if let Some(bar) = &bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    })
    .with_context(|| "loading the corpus")?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(engine)
}

/// Sets up logging to stderr, filtered by `RUST_LOG` (warnings by default). Colours only on
/// a terminal: a log file or the journal gets plain `key=value` lines a host can grep.
pub fn init_tracing() {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// The error as one line: the library's message, which already names the path or key.
pub fn one_line(err: &anyhow::Error) -> String {
    match err.downcast_ref::<Error>() {
        Some(e) => e.to_string(),
        None => err
            .chain()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(": "),
    }
    .replace('\n', " ")
}

/// Exit code: 2 for bad input or settings, 1 for everything else.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    match err.downcast_ref::<Error>() {
        Some(Error::BadQuestion(_) | Error::Config(_)) => 2,
        _ if err
            .downcast_ref::<studybot::telegram::TokenRefused>()
            .is_some() =>
        {
            2
        }
        _ => match err.downcast_ref::<UsageError>() {
            Some(_) => 2,
            None => 1,
        },
    }
}

/// A usage mistake found after argument parsing (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The shared command handling with quizzes: the engine, the curated bank and the state
/// database under `data_dir`.
///
/// With `semantic_later`, the engine starts with lexical ranking and a background thread
/// computes the passages' semantic vectors: the bot answers at once on the first start over a
/// new text instead of after minutes of model work on a large one.
pub fn load_handler(
    settings: &Settings,
    semantic_later: bool,
) -> anyhow::Result<studybot::commands::Handler> {
    use std::sync::Arc;
    use studybot::quiz::{bank, pool::QuestionPool, session::QuizService};
    use studybot::store::{SqliteStore, Store};
    let engine = match semantic_later {
        false => Arc::new(load_engine(settings)?),
        true => load_engine_semantic_later(settings)?,
    };
    let bank = bank::load(&settings.corpus.quiz_dir(), &engine.corpus)?;
    for problem in &bank.problems {
        tracing::warn!("quiz bank: {problem}");
    }
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&settings.data_dir)
            .with_context(|| format!("opening the database in {}", settings.data_dir.display()))?,
    );
    let quiz = QuizService::new(
        store,
        QuestionPool::new(bank.questions),
        settings.quiz.clone(),
    );
    Ok(studybot::commands::Handler::new(engine).with_quiz(Arc::new(quiz)))
}

/// An engine that ranks with passage vectors already stored under `data_dir/semantic`, or
/// lexically while a background thread computes them.
fn load_engine_semantic_later(settings: &Settings) -> anyhow::Result<std::sync::Arc<Engine>> {
    use std::sync::Arc;
    let (corpus, _) = Engine::load_corpus(settings).with_context(|| "loading the corpus")?;
    let engine = Arc::new(index_with_bar(corpus, settings, Engine::lexical)?);
    if engine.add_cached_semantic(settings) || !settings.search.semantic {
        return Ok(engine);
    }
    let (background, settings) = (Arc::clone(&engine), settings.clone());
    std::thread::Builder::new()
        .name("semantic-vectors".into())
        .spawn(move || {
            studybot::search::dense::run_in_background_priority();
            background.add_semantic(&settings, &mut |_, _| {});
            if background.semantic() {
                tracing::info!("semantic ranking on");
            }
        })
        .with_context(|| "starting the semantic model")?;
    Ok(engine)
}

/// Writes to stdout; a closed pipe (`studybot ask ... | head`) is not an error.
pub fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
