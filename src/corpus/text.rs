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
            // Also closing curly quotes and guillemets (multi-byte in UTF-8).
            while let Some(q) = text[end..]
                .chars()
                .next()
                .filter(|c| matches!(c, '\u{201D}' | '\u{2019}' | '\u{BB}'))
            {
                end += q.len_utf8();
            }
            // Any Unicode space ends a sentence: text copied from web pages and PDFs often
            // has a non-breaking space after its full stops.
            let followed_by_space = text[end..].chars().next().is_none_or(char::is_whitespace);
            if followed_by_space && !(c == b'.' && is_abbreviation(text, start, i)) {
                let next = next_non_space(text, end);
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

/// The byte offset of the first non-space character at or after `i` (a char boundary).
fn next_non_space(text: &str, i: usize) -> usize {
    let rest = &text[i..];
    i + (rest.len() - rest.trim_start().len())
}

/// Whether a sentence can start at byte `i`: a capital, a digit, an opening quote or bracket,
/// or a letter of a script without case (Hebrew, Arabic, Chinese...), where no capital can
/// tell.
fn starts_sentence_at(text: &str, i: usize) -> bool {
    text[i..].chars().next().is_some_and(|c| {
        c.is_uppercase()
            || c.is_ascii_digit()
            || "\"'“‘«([".contains(c)
            || (c.is_alphabetic() && !c.is_lowercase())
    })
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

/// Whether a character takes no room on screen: a soft hyphen, zero-width spaces, joiners and
/// non-joiners, word joiners and invisible operators, byte-order marks, and the marks,
/// embeddings and isolates that set the direction of right-to-left text. Text from web pages
/// and PDFs has them inside words; the analyser reads through them.
pub fn is_zero_width(c: char) -> bool {
    matches!(
        c,
        '\u{AD}'
            | '\u{61C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// Whether `text` has anything a reader can see: a character that is not a space, a control
/// character or [`is_zero_width`].
pub fn has_visible_text(text: &str) -> bool {
    text.chars()
        .any(|c| !(c.is_whitespace() || c.is_control() || is_zero_width(c)))
}

/// Whether a character is invisible and carries nothing once a text is served: a byte-order
/// mark (also mid-file, where joined files leave one), a soft hyphen (a PDF's or web page's
/// hyphenation hint, "revo\u{AD}lution"), a zero-width space or a word joiner. Zero-width
/// joiners and non-joiners stay (emoji sequences and some scripts need them), and so do the
/// marks that set the direction of right-to-left text.
pub fn is_invisible_filler(c: char) -> bool {
    matches!(c, '\u{FEFF}' | '\u{AD}' | '\u{200B}' | '\u{2060}')
}

/// Brings a corpus file's text to the one form the parsers read, without changing what a
/// reader sees:
/// - every line end (CRLF, a lone CR as old Mac and some PDF tools write, NEL, U+2028, a
///   vertical tab as word processors write for a manual line break) becomes `\n`, and a
///   paragraph separator (U+2029) a blank line;
/// - invisible fillers ([`is_invisible_filler`]) and control characters other than tabs,
///   line ends and form feeds (page breaks, which the plain-text parser reads) are removed,
///   so that excerpts and citations read cleanly and words are whole for the index.
///
/// A line whose words are joined by no-break (or other fixed-width) spaces more often than by
/// plain ones, as when a web page or PDF used them for every space, gets plain spaces: as it
/// was, no client could wrap it. Elsewhere such spaces stay as the text has them ("10 km",
/// a dash kept with its word), and the parsers, sentence splitting and the analyser read them
/// as spaces.
pub fn clean_source(text: &str) -> std::borrow::Cow<'_, str> {
    let cleaned = clean_characters(text);
    if !cleaned.lines().any(is_space_joined) {
        return cleaned;
    }
    let mut out = String::with_capacity(cleaned.len());
    for line in cleaned.split_inclusive('\n') {
        match is_space_joined(line) {
            true => out.extend(line.chars().map(|c| match is_joining_space(c) {
                true => ' ',
                false => c,
            })),
            false => out.push_str(line),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Fixed-width spaces that web pages and PDFs put where a plain space belongs: no-break,
/// narrow no-break, en to hair spaces, medium mathematical space (not the ideographic space,
/// which is how Chinese and Japanese text spaces).
fn is_joining_space(c: char) -> bool {
    matches!(
        c,
        '\u{A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}'
    )
}

/// Whether a line joins its words with [`is_joining_space`] more often than with spaces.
fn is_space_joined(line: &str) -> bool {
    let (mut plain, mut joining) = (0usize, 0usize);
    for c in line.chars() {
        if c == ' ' {
            plain += 1;
        } else if is_joining_space(c) {
            joining += 1;
        }
    }
    joining > plain
}

/// The line ends and invisible characters of [`clean_source`].
fn clean_characters(text: &str) -> std::borrow::Cow<'_, str> {
    let needs_change = |c: char| {
        is_invisible_filler(c)
            || (c.is_control() && !matches!(c, '\t' | '\n' | '\u{c}'))
            || matches!(c, '\u{2028}' | '\u{2029}')
    };
    if !text.chars().any(needs_change) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push('\n');
            }
            '\u{85}' | '\u{2028}' | '\u{b}' => out.push('\n'),
            '\u{2029}' => out.push_str("\n\n"),
            '\t' | '\n' | '\u{c}' => out.push(c),
            c if is_invisible_filler(c) || c.is_control() => {}
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
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
    fn unicode_spaces_end_sentences_and_caseless_scripts_start_them() {
        assert_eq!(
            split("They met.\u{a0}Most were arrested.\u{202f}Why?"),
            vec!["They met.", "Most were arrested.", "Why?"]
        );
        assert_eq!(
            split("«It was cold.» Then he left."),
            vec!["«It was cold.»", "Then he left."]
        );
        assert_eq!(
            split("שלום עולם. מה שלומך?"),
            vec!["שלום עולם.", "מה שלומך?"]
        );
    }

    #[test]
    fn sources_are_cleaned_of_invisible_fillers_and_odd_line_ends() {
        assert_eq!(
            clean_source("\u{feff}A\r\nrevo\u{ad}lu\u{200b}tion\rB\u{2029}C\u{7}\tD\u{c}"),
            "A\nrevolution\nB\n\nC\tD\u{c}"
        );
        let clean = "Already clean: no-break spaces (10\u{a0}km) and 👩\u{200d}🔬 stay.\n";
        assert!(matches!(clean_source(clean), std::borrow::Cow::Borrowed(_)));
        // A line that joins every word with no-break spaces gets plain ones.
        assert_eq!(
            clean_source("Joined\u{a0}by\u{202f}no-break\u{a0}spaces.\r\n10\u{a0}km away.\n"),
            "Joined by no-break spaces.\n10\u{a0}km away.\n"
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
