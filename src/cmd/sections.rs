//! `studybot sections`: the table of contents.

use std::process::ExitCode;

use studybot::config::Settings;
use studybot::terminal;

/// Arguments of `sections`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(settings: &Settings, args: Args) -> anyhow::Result<ExitCode> {
    let engine = super::load_engine(settings)?;
    let toc = engine.toc();
    if args.json {
        super::print(&(serde_json::to_string(&toc)? + "\n"))?;
    } else {
        super::print(&terminal::toc(&toc))?;
    }
    Ok(ExitCode::SUCCESS)
}
