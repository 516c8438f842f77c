//! `studybot eval FILE.jsonl`: retrieval figures on questions with gold passages.

use std::path::PathBuf;
use std::process::ExitCode;

use studybot::config::Settings;
use studybot::{eval, terminal};

/// Arguments of `eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// JSONL file: {"id", "question", "gold": [...]} or {"id", "question", "out_of_scope": true}.
    file: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Rank with one weight changed, as NAME=VALUE (repeatable; the names are the fields of
    /// `Weights` in src/search/rank.rs), to measure a value without editing code.
    #[arg(long = "weight", value_name = "NAME=VALUE")]
    weights: Vec<String>,
}

pub fn run(settings: &Settings, args: Args) -> anyhow::Result<ExitCode> {
    let cases = eval::read_cases(&args.file)?;
    let mut engine = super::load_engine(settings)?;
    if !args.weights.is_empty() {
        let mut weights = engine.search_engine().weights().clone();
        for assignment in &args.weights {
            weights.set(assignment)?;
        }
        engine.set_weights(weights);
    }
    let report = eval::evaluate(&engine, &cases)?;
    if args.json {
        super::print(&(serde_json::to_string(&report)? + "\n"))?;
    } else {
        super::print(&terminal::eval_report(&report))?;
    }
    Ok(ExitCode::SUCCESS)
}
