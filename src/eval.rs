//! Retrieval evaluation: runs questions with known gold passages through the engine and reports
//! Recall@1, Recall@3, MRR@10 and how well out-of-scope questions are recognised.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::search::Tier;

/// One evaluation question (the format of `eval/dev.jsonl`).
#[derive(Debug, Clone, Deserialize)]
pub struct EvalCase {
    /// Question id.
    pub id: String,
    /// The question.
    pub question: String,
    /// Strings of which any, found in a result's passage text, makes it a hit.
    #[serde(default)]
    pub gold: Vec<String>,
    /// True when the text does not answer the question.
    #[serde(default)]
    pub out_of_scope: bool,
    /// Question kind, for the per-kind breakdown.
    #[serde(default)]
    pub kind: Option<String>,
}

/// The outcome for one question.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// Question id.
    pub id: String,
    /// Question kind.
    pub kind: Option<String>,
    /// Whether the question is out of scope.
    pub out_of_scope: bool,
    /// Whether the engine answered (did not abstain).
    pub answered: bool,
    /// The answer's tier (answered, unsure, not covered).
    pub tier: Tier,
    /// 1-based rank of the first gold result within the top 10.
    pub rank: Option<usize>,
    /// The answer's confidence.
    pub confidence: f32,
    /// The semantic model's closeness of the question to the closest passage.
    pub similarity: Option<f32>,
    /// Its mean over every passage.
    pub mean_similarity: Option<f32>,
    /// The question's focus terms and the evidence that the text uses them.
    pub focus: Vec<String>,
    /// For a paged text, the page labels cited for the first gold result (empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<String>,
    /// The gold string the first gold result holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gold_found: Option<String>,
}

/// Aggregate figures.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// In-scope questions.
    pub in_scope: usize,
    /// Out-of-scope questions.
    pub out_of_scope: usize,
    /// Share of in-scope questions with a gold passage first.
    pub recall_at_1: f64,
    /// Share with a gold passage in the top 3.
    pub recall_at_3: f64,
    /// Mean reciprocal rank of the first gold passage within the top 10.
    pub mrr_at_10: f64,
    /// Share of out-of-scope questions answered "not covered".
    pub oos_caught: f64,
    /// Share of in-scope questions wrongly answered "not covered".
    pub false_abstain: f64,
    /// Share of in-scope questions answered "unsure" (the closest passages, with a warning).
    pub in_scope_unsure: f64,
    /// Share of out-of-scope questions answered "unsure".
    pub oos_unsure: f64,
    /// Per question.
    pub cases: Vec<CaseResult>,
}

/// Lowercases, collapses whitespace and straightens typographic quotes and dashes, as the gold
/// comparison requires: a gold string typed with `'` must match a PDF or EPUB that typesets
/// it as `’`.
pub fn normalise(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
        .chars()
        .map(|c| match c {
            '‘' | '’' | '‚' | '′' => '\'',
            '“' | '”' | '„' | '″' => '"',
            '‐' | '‑' => '-',
            c => c,
        })
        .collect()
}

/// Reads a JSONL file of cases; blank lines are skipped.
pub fn read_cases(path: &Path) -> Result<Vec<EvalCase>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut cases = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let case: EvalCase = serde_json::from_str(line).map_err(|e| Error::EvalFile {
            path: path.to_path_buf(),
            line: i + 1,
            message: e.to_string(),
        })?;
        if !case.out_of_scope && case.gold.is_empty() {
            return Err(Error::EvalFile {
                path: path.to_path_buf(),
                line: i + 1,
                message: "an in-scope question needs at least one gold string".into(),
            });
        }
        cases.push(case);
    }
    Ok(cases)
}

/// Runs every case through `engine`.
pub fn evaluate(engine: &Engine, cases: &[EvalCase]) -> Result<EvalReport> {
    let mut results = Vec::with_capacity(cases.len());
    for case in cases {
        let answer = engine.ask(&case.question, 10)?;
        let gold: Vec<String> = case.gold.iter().map(|g| normalise(g)).collect();
        let found = answer.results.iter().enumerate().find_map(|(i, r)| {
            let text = normalise(&r.text);
            let g = gold.iter().position(|g| text.contains(g.as_str()))?;
            Some((i, r, g))
        });
        let rank = found.map(|(i, _, _)| i + 1);
        let pages = found
            .map(|(_, r, _)| r.citation.pages.clone())
            .unwrap_or_default();
        let gold_found = found.map(|(_, _, g)| case.gold[g].clone());
        results.push(CaseResult {
            id: case.id.clone(),
            kind: case.kind.clone(),
            out_of_scope: case.out_of_scope,
            answered: answer.answered,
            tier: answer.tier,
            rank,
            confidence: answer.confidence,
            similarity: answer.best_similarity,
            mean_similarity: answer.mean_similarity,
            focus: answer.focus,
            pages,
            gold_found,
        });
    }
    Ok(report(results))
}

fn report(cases: Vec<CaseResult>) -> EvalReport {
    let in_scope: Vec<&CaseResult> = cases.iter().filter(|c| !c.out_of_scope).collect();
    let oos: Vec<&CaseResult> = cases.iter().filter(|c| c.out_of_scope).collect();
    let share = |n: usize, of: usize| if of == 0 { 0.0 } else { n as f64 / of as f64 };
    let within = |k: usize| {
        in_scope
            .iter()
            .filter(|c| c.rank.is_some_and(|r| r <= k))
            .count()
    };
    let mrr = if in_scope.is_empty() {
        0.0
    } else {
        in_scope
            .iter()
            .map(|c| c.rank.map(|r| 1.0 / r as f64).unwrap_or(0.0))
            .sum::<f64>()
            / in_scope.len() as f64
    };
    EvalReport {
        in_scope: in_scope.len(),
        out_of_scope: oos.len(),
        recall_at_1: share(within(1), in_scope.len()),
        recall_at_3: share(within(3), in_scope.len()),
        mrr_at_10: mrr,
        oos_caught: share(oos.iter().filter(|c| !c.answered).count(), oos.len()),
        false_abstain: share(
            in_scope.iter().filter(|c| !c.answered).count(),
            in_scope.len(),
        ),
        in_scope_unsure: share(
            in_scope.iter().filter(|c| c.tier == Tier::Unsure).count(),
            in_scope.len(),
        ),
        oos_unsure: share(
            oos.iter().filter(|c| c.tier == Tier::Unsure).count(),
            oos.len(),
        ),
        cases,
    }
}
