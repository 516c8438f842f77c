//! Excerpts: the sentence(s) of a passage that answer the question, with the matched words
//! located so that each adapter can mark them its own way.

use rustc_hash::{FxHashMap, FxHashSet};
use std::ops::Range;

use serde::Serialize;

use super::analysis::Analyzer;
use super::{has_quantity, QueryTerm, QuestionKind, TermStatus};
use crate::corpus::text::sentences;

/// Longest excerpt, in characters, before it is trimmed at word boundaries.
pub const MAX_EXCERPT_CHARS: usize = 480;

/// A piece of text with the byte ranges of the words that matched the question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Marked {
    /// The text.
    pub text: String,
    /// Byte ranges into `text` of matched words, in order, not overlapping.
    pub highlights: Vec<Range<usize>>,
}

impl Marked {
    /// Splits the text into (segment, is_highlighted) runs, for renderers.
    pub fn segments(&self) -> Vec<(&str, bool)> {
        let mut out = Vec::new();
        let mut at = 0;
        for r in &self.highlights {
            if r.start > at {
                out.push((&self.text[at..r.start], false));
            }
            out.push((&self.text[r.clone()], true));
            at = r.end;
        }
        if at < self.text.len() {
            out.push((&self.text[at..], false));
        }
        out
    }
}

/// The stems the question searched for, with their weights.
pub fn query_stems(terms: &[QueryTerm]) -> FxHashMap<String, f32> {
    terms
        .iter()
        .filter(|t| !matches!(t.status, TermStatus::Unknown { .. }))
        .map(|t| (t.stem.clone(), t.idf))
        .collect()
}

/// Marks every word of `text` whose stem the question used.
pub fn mark(analyzer: &Analyzer, text: &str, stems: &FxHashMap<String, f32>) -> Marked {
    let highlights = analyzer
        .tokens(text)
        .into_iter()
        .filter(|t| stems.contains_key(&t.stem))
        .map(|t| t.start..t.end)
        .collect();
    Marked {
        text: text.to_string(),
        highlights,
    }
}

/// Picks the sentence(s) of `passage` that best answer the question.
pub fn excerpt(
    analyzer: &Analyzer,
    passage: &str,
    stems: &FxHashMap<String, f32>,
    kind: QuestionKind,
) -> Marked {
    excerpt_analysed(analyzer, passage, &analyzer.tokens(passage), stems, kind)
}

/// [`excerpt`] for a passage whose words are already analysed.
pub fn excerpt_analysed(
    analyzer: &Analyzer,
    passage: &str,
    tokens: &[super::analysis::Token],
    stems: &FxHashMap<String, f32>,
    kind: QuestionKind,
) -> Marked {
    let ranges = sentences(passage);
    if ranges.is_empty() {
        return mark(analyzer, passage, stems);
    }
    let scores: Vec<f32> = ranges
        .iter()
        .map(|r| {
            let mut seen = FxHashSet::default();
            let mut s = 0.0;
            for t in tokens
                .iter()
                .filter(|t| t.start >= r.start && t.end <= r.end)
            {
                if let Some(w) = stems.get(&t.stem) {
                    if seen.insert(t.stem.as_str()) {
                        s += w;
                    }
                }
            }
            if kind == QuestionKind::Quantity && has_quantity(&passage[r.clone()]) {
                s *= 1.3;
            }
            s
        })
        .collect();
    let best = scores
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
        .map(|(i, _)| i)
        .unwrap_or(0);
    let mut first = best;
    let mut last = best;
    let words = |i: usize| passage[ranges[i].clone()].split_whitespace().count();
    // A short sentence rarely stands alone: add the better-matching neighbour, or any
    // neighbour when the sentence is very short.
    if words(best) < 18 {
        let before = best.checked_sub(1).map(|i| scores[i]).unwrap_or(-1.0);
        let after = ranges
            .get(best + 1)
            .map(|_| scores[best + 1])
            .unwrap_or(-1.0);
        let very_short = words(best) < 8;
        if after >= before && (after > 0.0 || (very_short && after >= 0.0)) {
            last = best + 1;
        } else if before > 0.0 || (very_short && before >= 0.0) {
            first = best - 1;
        }
    } else if scores
        .get(best + 1)
        .is_some_and(|&s| s >= scores[best] * 0.6 && s > 0.0)
    {
        last = best + 1;
    }
    let mut range = ranges[first].start..ranges[last].end;
    if passage[range.clone()].chars().count() > MAX_EXCERPT_CHARS {
        range = ranges[best].clone();
    }
    let text = &passage[range.clone()];
    let marked = mark(analyzer, text, stems);
    trim(marked, MAX_EXCERPT_CHARS)
}

/// Shortens a marked text to at most `max` characters around its first highlight, cutting at
/// word boundaries and adding "…".
pub fn trim(marked: Marked, max: usize) -> Marked {
    let text = &marked.text;
    if text.chars().count() <= max {
        return marked;
    }
    let anchor = marked.highlights.first().map(|r| r.start).unwrap_or(0);
    // Start a little before the first highlight, at a word boundary.
    let mut start = anchor.saturating_sub(max / 4);
    while start > 0 && !text.is_char_boundary(start) {
        start -= 1;
    }
    if start > 0 {
        start = text[start..]
            .find(char::is_whitespace)
            .map(|i| start + i + 1)
            .unwrap_or(start);
    }
    let mut end = start;
    for (count, (i, c)) in text[start..].char_indices().enumerate() {
        if count + 2 >= max {
            break;
        }
        end = start + i + c.len_utf8();
    }
    if end < text.len() {
        if let Some(space) = text[start..end].rfind(char::is_whitespace) {
            end = start + space;
        }
    }
    let prefix = if start > 0 { "…" } else { "" };
    let suffix = if end < text.len() { "…" } else { "" };
    let body = text[start..end].trim();
    let lead = text[start..end].len() - text[start..end].trim_start().len();
    let shift = start + lead;
    let new_text = format!("{prefix}{body}{suffix}");
    let highlights = marked
        .highlights
        .iter()
        .filter(|r| r.start >= shift && r.end <= shift + body.len())
        .map(|r| r.start - shift + prefix.len()..r.end - shift + prefix.len())
        .collect();
    Marked {
        text: new_text,
        highlights,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stems(words: &[&str]) -> FxHashMap<String, f32> {
        let a = Analyzer::default();
        words.iter().map(|w| (a.stem(w), 1.0)).collect()
    }

    #[test]
    fn picks_the_answering_sentence_not_the_first() {
        let a = Analyzer::default();
        let passage = "The weather was grey for weeks and nobody in the city paid it any attention at all that year. Later the factory committees took control of production in many plants across the whole country.";
        let e = excerpt(
            &a,
            passage,
            &stems(&["factory", "committees"]),
            QuestionKind::Other,
        );
        assert!(e.text.starts_with("Later the factory"), "{}", e.text);
        let marked: Vec<_> = e
            .segments()
            .into_iter()
            .filter(|s| s.1)
            .map(|s| s.0)
            .collect();
        assert_eq!(marked, vec!["factory", "committees"]);
    }

    #[test]
    fn trimming_keeps_highlights_aligned() {
        let a = Analyzer::default();
        let long = format!(
            "{} the soviets met {}",
            "word ".repeat(200),
            "word ".repeat(200)
        );
        let m = trim(mark(&a, &long, &stems(&["soviets"])), 100);
        assert!(m.text.chars().count() <= 100);
        assert!(m.text.starts_with('…') && m.text.ends_with('…'));
        assert_eq!(&m.text[m.highlights[0].clone()], "soviets");
    }
}
