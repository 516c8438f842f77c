//! Small text utilities shared by the parsers, the excerpting and the quiz generator:
//! sentence boundaries and word counts. Kept dependency-free and deterministic.

use std::ops::Range;

/// Abbreviations after which a full stop does not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "st", "prof", "gen", "col", "capt", "lt", "sgt", "rev", "vs", "etc",
    "e.g", "i.e", "cf", "no", "vol", "pp", "ch", "fig", "jan", "feb", "mar", "apr", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec", "approx", "inc", "ltd", "co", "jr", "sr",
];

/// Month names, lowercase: dates in headings, quantities in answers, not names in quizzes.
pub const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Byte ranges of the sentences of `text`, trimmed, covering every non-space character.
pub fn sentences(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if matches!(c, b'.' | b'!' | b'?') {
            // Swallow runs of terminators and closing quotes/brackets.
            let mut end = i + 1;
            while end < bytes.len() && matches!(bytes[end], b'.' | b'!' | b'?') {
                end += 1;
            }
            while end < bytes.len() && matches!(bytes[end], b'"' | b'\'' | b')' | b']') {
                end += 1;
            }
            // Also closing curly quotes (3 bytes each in UTF-8).
            while text[end..].starts_with('\u{201D}') || text[end..].starts_with('\u{2019}') {
                end += 3;
            }
            let followed_by_space = end >= bytes.len() || bytes[end].is_ascii_whitespace();
            if followed_by_space && !(c == b'.' && is_abbreviation(text, start, i)) {
                let next = next_non_space(bytes, end);
                let starts_sentence = next >= bytes.len() || starts_sentence_at(text, next);
                if starts_sentence {
                    push_trimmed(text, start..end, &mut out);
                    start = end;
                    i = end;
                    continue;
                }
            }
            i = end;
            continue;
        }
        i += 1;
    }
    push_trimmed(text, start..bytes.len(), &mut out);
    out
}

fn next_non_space(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn starts_sentence_at(text: &str, i: usize) -> bool {
    text[i..]
        .chars()
        .next()
        .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit() || "\"'“‘([".contains(c))
}

fn is_abbreviation(text: &str, start: usize, dot: usize) -> bool {
    let word: String = text[start..dot]
        .rsplit(|c: char| c.is_whitespace() || c == '(' || c == '"')
        .next()
        .unwrap_or("")
        .to_lowercase();
    if word.chars().count() == 1 && word.chars().all(char::is_alphabetic) {
        return true; // an initial, as in "J. Reed"
    }
    ABBREVIATIONS.contains(&word.as_str())
}

fn push_trimmed(text: &str, range: Range<usize>, out: &mut Vec<Range<usize>>) {
    let slice = &text[range.clone()];
    let lead = slice.len() - slice.trim_start().len();
    let trail = slice.len() - slice.trim_end().len();
    if lead + trail < slice.len() {
        out.push(range.start + lead..range.end - trail);
    }
}

/// The heading level an underline of "===" (1) or "---" (2), at least three long, gives the
/// line above it, in Markdown (setext headings) and plain text alike.
pub fn underline_level(line: &str) -> Option<usize> {
    let t = line.trim();
    if t.len() < 3 {
        None
    } else if t.chars().all(|c| c == '=') {
        Some(1)
    } else if t.chars().all(|c| c == '-') {
        Some(2)
    } else {
        None
    }
}

/// Number of whitespace-separated words.
pub fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Collapses runs of whitespace into single spaces and trims.
pub fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<&str> {
        sentences(text).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn splits_on_terminators_followed_by_capitals() {
        assert_eq!(
            split("In March 1898, they met. Most were arrested! Why? Because."),
            vec![
                "In March 1898, they met.",
                "Most were arrested!",
                "Why?",
                "Because."
            ]
        );
    }

    #[test]
    fn keeps_abbreviations_initials_and_quotes_together() {
        assert_eq!(
            split("Mr. Smith met J. Reed in St. Petersburg. \"It was cold.\" Then he left."),
            vec![
                "Mr. Smith met J. Reed in St. Petersburg.",
                "\"It was cold.\"",
                "Then he left."
            ]
        );
    }

    #[test]
    fn ellipsis_before_lowercase_does_not_split() {
        assert_eq!(
            split("a small group of people... Several hundred. and more"),
            vec!["a small group of people...", "Several hundred. and more"]
        );
    }
}
