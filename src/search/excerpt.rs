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
/// word boundaries (unless a single word is longer than a good part of the room) and adding
/// "…" where text was cut. Offsets are bytes of UTF-8 text: every cut is made on a character
/// boundary, whatever the spaces are (a web page's no-break spaces are two bytes long).
pub fn trim(marked: Marked, max: usize) -> Marked {
    let text = marked.text.as_str();
    if text.chars().count() <= max {
        return marked;
    }
    if max < 3 {
        // No room for text between two ellipses.
        return Marked {
            text: "…".repeat(max.min(1)),
            highlights: Vec::new(),
        };
    }
    // Characters of text, leaving room for an ellipsis at each end.
    let room = max - 2;
    let mut anchor = best_anchor(text, &marked.highlights, room).min(text.len());
    while !text.is_char_boundary(anchor) {
        anchor -= 1;
    }
    // Start a quarter of the room before that highlight, after a space if there is one
    // between there and the highlight.
    let mut start = text[..anchor]
        .char_indices()
        .rev()
        .take(room / 4)
        .last()
        .map_or(anchor, |(i, _)| i);
    if start > 0 {
        if let Some((i, c)) = text[start..anchor]
            .char_indices()
            .find(|(_, c)| c.is_whitespace())
        {
            start += i + c.len_utf8();
        }
    }
    let mut end = text[start..]
        .char_indices()
        .nth(room)
        .map_or(text.len(), |(i, _)| start + i);
    if end < text.len() {
        // Back to the last space, if that keeps at least half of what fits.
        if let Some((i, _)) = text[start..end]
            .char_indices()
            .rev()
            .take_while(|&(i, _)| i >= (end - start) / 2)
            .find(|(_, c)| c.is_whitespace())
        {
            end = start + i;
        }
    }
    let prefix = if start > 0 { "…" } else { "" };
    let suffix = if end < text.len() { "…" } else { "" };
    let window = &text[start..end];
    let body = window.trim();
    let shift = start + (window.len() - window.trim_start().len());
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

/// Where a trimmed excerpt should centre: the highlight that opens the stretch (three
/// quarters of the room long) with the most different marked words, the first such. In a
/// long sentence that is where the question's words meet, not where one of them first
/// appears. One pass over the text and a sliding window over the highlights, however many.
fn best_anchor(text: &str, highlights: &[Range<usize>], room: usize) -> usize {
    // (start in characters, end in characters, word, start in bytes) of each highlight.
    let mut items: Vec<(usize, usize, usize, usize)> = Vec::with_capacity(highlights.len());
    let mut words: FxHashMap<String, usize> = FxHashMap::default();
    let (mut byte, mut char_count) = (0, 0);
    for h in highlights {
        let Some(word) = text.get(h.clone()) else {
            continue;
        };
        if h.start < byte {
            (byte, char_count) = (0, 0);
        }
        char_count += text.get(byte..h.start).map_or(0, |s| s.chars().count());
        let start = char_count;
        char_count += word.chars().count();
        byte = h.end;
        let next = words.len();
        let id = *words.entry(word.to_lowercase()).or_insert(next);
        items.push((start, char_count, id, h.start));
    }
    let reach = room * 3 / 4;
    let mut counts = vec![0usize; words.len()];
    let (mut distinct, mut next) = (0, 0);
    let mut best = (0, 0);
    // The window is items[i..next].
    for (i, &(start, _, id, at)) in items.iter().enumerate() {
        next = next.max(i);
        while let Some(&(_, _, other, _)) = items.get(next).filter(|h| h.1 <= start + reach) {
            if counts[other] == 0 {
                distinct += 1;
            }
            counts[other] += 1;
            next += 1;
        }
        if distinct > best.0 {
            best = (distinct, at);
        }
        if next > i {
            counts[id] -= 1;
            if counts[id] == 0 {
                distinct -= 1;
            }
        }
    }
    best.1
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

    /// Regression: a plain question against a text whose words are joined with no-break
    /// spaces (two bytes each) cut the excerpt one byte into a space, and panicked.
    #[test]
    fn trimming_text_joined_with_no_break_spaces_cuts_on_char_boundaries() {
        let a = Analyzer::default();
        for space in ["\u{a0}", "\u{202f}", "\u{3000}", " "] {
            let long = format!(
                "{} the soviets met {}",
                "word ".repeat(200),
                "word ".repeat(200)
            )
            .replace(' ', space);
            let m = trim(mark(&a, &long, &stems(&["soviets"])), 100);
            assert!(m.text.chars().count() <= 100, "{space:?}");
            assert_eq!(&m.text[m.highlights[0].clone()], "soviets");
            assert!(
                m.text.starts_with("…word") && m.text.ends_with("word…"),
                "{}",
                m.text
            );
        }
    }

    #[test]
    fn trimming_one_long_word_cuts_inside_it() {
        let long = format!("{}soviets{}", "x".repeat(300), "y".repeat(300));
        let m = trim(
            Marked {
                highlights: std::iter::once(300..307).collect(),
                text: long,
            },
            40,
        );
        assert_eq!(m.text.chars().count(), 40);
        assert_eq!(&m.text[m.highlights[0].clone()], "soviets");
    }

    #[test]
    fn trimming_a_long_sentence_shows_where_the_question_words_meet() {
        let a = Analyzer::default();
        let long = format!(
            "the boats {} the pilot boat brings the grain freighter {}",
            "and the gulls ".repeat(60),
            "and the gulls ".repeat(60)
        );
        let m = trim(
            mark(&a, &long, &stems(&["pilot", "boat", "grain", "freighter"])),
            120,
        );
        assert!(
            m.text.contains("pilot boat brings the grain freighter"),
            "{}",
            m.text
        );
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
