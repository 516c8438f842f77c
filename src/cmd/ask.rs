//! `studybot ask`: one question, answered on stdout (text or the stable JSON shape).

use std::io::IsTerminal;
use std::process::ExitCode;

use serde::Serialize;
use studybot::config::Settings;
use studybot::terminal::{self, Marks};
use studybot::{Answer, Error};

/// Arguments of `ask`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// How many excerpts to show (default: search.top_k).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u16).range(1..=10))]
    top: Option<u16>,
    /// The question (several words are joined with spaces).
    #[arg(required = true, num_args = 1.., value_name = "QUESTION")]
    question: Vec<String>,
}

/// The stable JSON shape of `ask --json`.
#[derive(Debug, Serialize)]
struct JsonAnswer<'a> {
    question: &'a str,
    answered: bool,
    /// "answered", "unsure" (the closest passages, which may not answer directly) or
    /// "not_covered" (exactly when `answered` is false).
    tier: studybot::answer::Tier,
    /// Whether the semantic model took part in this answer (false until passage vectors are
    /// ready, or with `search.semantic = false`).
    semantic: bool,
    /// What the question names that the text never mentions (empty when nothing).
    never_mentioned: &'a [String],
    results: Vec<JsonResult<'a>>,
}

#[derive(Debug, Serialize)]
struct JsonResult<'a> {
    rank: usize,
    score: f32,
    document: &'a str,
    section_number: usize,
    section_title: &'a str,
    paragraph: usize,
    text: &'a str,
    excerpt: &'a str,
    citation: String,
    /// The pages the passage stands on, `[233]` or `[233, 234]` (strings for labels that are
    /// not numbers, such as "xii"); null for texts without pages.
    pages: Option<Vec<serde_json::Value>>,
}

/// Page labels as JSON: numbers where they are numbers.
fn json_pages(labels: &[String]) -> Option<Vec<serde_json::Value>> {
    (!labels.is_empty()).then(|| {
        labels
            .iter()
            .map(|l| match l.parse::<u64>() {
                Ok(n) => serde_json::Value::from(n),
                Err(_) => serde_json::Value::from(l.as_str()),
            })
            .collect()
    })
}

fn json(answer: &Answer) -> JsonAnswer<'_> {
    JsonAnswer {
        question: &answer.question,
        answered: answer.answered,
        tier: answer.tier,
        semantic: answer.semantic,
        never_mentioned: &answer.never_mentioned,
        results: answer
            .results
            .iter()
            .map(|r| JsonResult {
                rank: r.rank,
                score: r.score,
                document: &r.citation.document,
                section_number: r.citation.section_number,
                section_title: &r.citation.section_title,
                paragraph: r.citation.paragraph,
                text: &r.text,
                excerpt: &r.excerpt.text,
                citation: r.citation.to_string(),
                pages: json_pages(&r.citation.pages),
            })
            .collect(),
    }
}

pub fn run(settings: &Settings, args: Args) -> anyhow::Result<ExitCode> {
    let question = args.question.join(" ");
    if question.trim().is_empty() {
        return Err(Error::BadQuestion(
            "the question is empty; ask something about the text".into(),
        )
        .into());
    }
    let engine = super::load_engine(settings)?;
    let top = args.top.map(usize::from).unwrap_or(settings.search.top_k);
    let answer = engine.ask(&question, top)?;
    if args.json {
        super::print(&(serde_json::to_string(&json(&answer))? + "\n"))?;
    } else {
        let marks = if std::io::stdout().is_terminal() {
            Marks::Ansi
        } else {
            Marks::Stars
        };
        super::print(&terminal::answer(&answer, marks))?;
    }
    Ok(ExitCode::SUCCESS)
}
