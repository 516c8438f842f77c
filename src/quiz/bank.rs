//! The curated question bank: `*.toml` files of hand-written questions, each tied to a
//! verbatim quote in a named section, validated against the corpus when loaded.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{shorten, QuizQuestion, MAX_EXPLANATION_CHARS};
use crate::corpus::Corpus;
use crate::error::{Error, Result};

/// A bank file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BankFile {
    #[serde(default)]
    question: Vec<BankEntry>,
}

/// One hand-written question.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankEntry {
    /// The question.
    pub question: String,
    /// The correct answer.
    pub answer: String,
    /// Three plausible wrong answers.
    pub wrong: Vec<String>,
    /// Exact title of the section the answer is in.
    pub section: String,
    /// A verbatim quote from that section supporting the answer.
    pub quote: String,
    /// Document file name, when several documents have a section of that title.
    #[serde(default)]
    pub document: Option<String>,
}

/// A loaded bank: the usable questions, and what was wrong with the others.
#[derive(Debug, Default)]
pub struct Bank {
    /// Questions that passed every check.
    pub questions: Vec<QuizQuestion>,
    /// One line per question that did not (e.g. its section is not in this corpus).
    pub problems: Vec<String>,
}

/// Loads every `*.toml` in `dir`; a missing folder is an empty bank. Each question is checked
/// against `corpus`: its section must exist and hold the quote. A question that fails is
/// left out and reported in [`Bank::problems`] (a self-hoster may keep a bank for a text they
/// removed); a file that is not valid TOML is an error.
pub fn load(dir: &Path, corpus: &Corpus) -> Result<Bank> {
    let mut bank_out = Bank::default();
    if !dir.is_dir() {
        return Ok(bank_out);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| Error::Read {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        let bank: BankFile = toml::from_str(&text).map_err(|e| Error::QuizBank {
            path: path.clone(),
            message: e.to_string().lines().next().unwrap_or_default().to_string(),
        })?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (i, entry) in bank.question.iter().enumerate() {
            match to_question(entry, corpus, &format!("bank:{stem}:{}", i + 1)) {
                Ok(q) => bank_out.questions.push(q),
                Err(message) => bank_out.problems.push(format!(
                    "{}: question {}: {message}",
                    path.display(),
                    i + 1
                )),
            }
        }
    }
    Ok(bank_out)
}

/// Checks one entry against the corpus and turns it into a question (correct option first;
/// options are shuffled when a quiz is made).
pub fn to_question(entry: &BankEntry, corpus: &Corpus, key: &str) -> Result<QuizQuestion, String> {
    if entry.wrong.len() != 3 {
        return Err(format!(
            "needs exactly 3 wrong options, has {}",
            entry.wrong.len()
        ));
    }
    let found = corpus.documents.iter().enumerate().find_map(|(d, doc)| {
        if entry.document.as_ref().is_some_and(|f| f != &doc.file) {
            return None;
        }
        doc.sections
            .iter()
            .find(|s| s.title == entry.section)
            .map(|s| (d, s))
    });
    let Some((doc_index, section)) = found else {
        return Err(format!("no section titled {:?}", entry.section));
    };
    let Some(paragraph) = section
        .paragraphs
        .iter()
        .position(|p| p.contains(&entry.quote))
    else {
        return Err(format!(
            "the quote {:?} is not in section {:?}",
            entry.quote, entry.section
        ));
    };
    let mut options = vec![entry.answer.trim().to_string()];
    options.extend(entry.wrong.iter().map(|w| w.trim().to_string()));
    let cite = format!(
        " — §{} {}, ¶{}",
        section.number,
        section.title,
        paragraph + 1
    );
    let room = MAX_EXPLANATION_CHARS.saturating_sub(cite.chars().count() + 2);
    let explanation = format!("“{}”{cite}", shorten(entry.quote.trim(), room));
    let explanation = shorten(&explanation, MAX_EXPLANATION_CHARS);
    let q = QuizQuestion {
        key: key.to_string(),
        question: entry.question.trim().to_string(),
        options,
        correct: 0,
        explanation,
        doc: doc_index,
        section: section.number,
    };
    if !q.is_valid() {
        return Err("outside Telegram's limits or options not distinct".to_string());
    }
    Ok(q)
}
