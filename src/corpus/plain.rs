//! Plain-text documents: paragraphs are separated by blank lines; a heading is a short standalone
//! line without closing sentence punctuation. An optional title line and date line open the file.

use super::text::MONTHS;
use super::{humanise_stem, ParsedDocument, RawParagraph};

/// Longest heading, in words.
const MAX_HEADING_WORDS: usize = 14;
/// Longest heading, in characters.
const MAX_HEADING_CHARS: usize = 120;

/// Splits plain text into blocks (paragraphs), each with whether it was a single line.
fn blocks(text: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut lines: Vec<&str> = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        let line = line.trim();
        if line.is_empty() {
            if !lines.is_empty() {
                out.push((lines.join(" "), lines.len() == 1));
                lines.clear();
            }
        } else {
            lines.push(line);
        }
    }
    out
}

/// Whether a standalone line reads as a heading rather than a sentence.
pub fn looks_like_heading(line: &str) -> bool {
    // Bounded counts: every one-line paragraph is checked, and counting all of a long one's
    // words and characters was most of the time spent parsing a large corpus.
    let words = line.split_whitespace().take(MAX_HEADING_WORDS + 1).count();
    if words == 0
        || words > MAX_HEADING_WORDS
        || line.chars().take(MAX_HEADING_CHARS + 1).count() > MAX_HEADING_CHARS
    {
        return false;
    }
    let Some(first) = line.chars().next() else {
        return false;
    };
    if !(first.is_uppercase() || first.is_ascii_digit() || line.starts_with("...") || first == '…')
    {
        return false;
    }
    if !line.chars().any(char::is_alphabetic) {
        return false;
    }
    if line.ends_with("...") || line.ends_with('…') {
        return true;
    }
    !line.ends_with(['.', ',', ';', ':', '!', '?', '"', '\'', '”', '’', ')', '-'])
}

/// Whether a short line looks like a date or similar metadata under the title.
fn looks_like_date(line: &str) -> bool {
    if line.split_whitespace().count() > 6 {
        return false;
    }
    let lower = line.to_lowercase();
    let has_year = lower
        .split(|c: char| !c.is_ascii_digit())
        .any(|d| d.len() == 4 && (d.starts_with('1') || d.starts_with('2')));
    let has_month = lower
        .split(|c: char| !c.is_alphabetic())
        .any(|w| MONTHS.contains(&w));
    has_year || (has_month && lower.chars().any(|c| c.is_ascii_digit()))
}

/// Parses a plain-text document.
pub fn parse(text: &str, file_stem: &str) -> ParsedDocument {
    let blocks = blocks(text);
    let mut i = 0;
    let mut title = None;
    let mut date = None;
    if let Some((first, single)) = blocks.first() {
        let is_title = *single
            && blocks.len() > 1
            && first.split_whitespace().count() <= 20
            && (!first.ends_with('.') || first.ends_with("..."));
        if is_title {
            title = Some(first.clone());
            i = 1;
            if let Some((second, true)) = blocks.get(1) {
                if looks_like_date(second) {
                    date = Some(second.clone());
                    i = 2;
                }
            }
        }
    }
    let mut doc = ParsedDocument {
        title: title.unwrap_or_else(|| humanise_stem(file_stem)),
        date,
        sections: Vec::new(),
    };
    let mut current: Option<(String, Vec<RawParagraph>)> = None;
    let rest = &blocks[i..];
    for (j, (block, single)) in rest.iter().enumerate() {
        let has_next = j + 1 < rest.len();
        if *single && has_next && looks_like_heading(block) {
            if let Some(section) = current.take() {
                doc.push_section(section);
            }
            current = Some((block.clone(), Vec::new()));
        } else {
            let (_, paragraphs) =
                current.get_or_insert_with(|| (super::INTRODUCTION.to_string(), Vec::new()));
            paragraphs.push(RawParagraph {
                text: block.clone(),
                subheading: None,
            });
        }
    }
    if let Some(section) = current.take() {
        doc.push_section(section);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heading_rules() {
        assert!(looks_like_heading(
            "The role of the Soviets in the revolution..."
        ));
        assert!(looks_like_heading(
            "... and the role of Factory Shop Committees"
        ));
        assert!(looks_like_heading("The road to power"));
        assert!(looks_like_heading("2. Methods"));
        assert!(!looks_like_heading(
            "And it is this heritage that we intend to highlight today."
        ));
        assert!(!looks_like_heading(
            "Reed then went on to describe it as follows:"
        ));
        assert!(!looks_like_heading("\"A quoted line"));
        assert!(!looks_like_heading("lowercase start of a wrapped line"));
        assert!(!looks_like_heading(
            "A very long line that has far too many words to be any kind of heading at all really"
        ));
    }

    #[test]
    fn title_date_introduction_and_sections() {
        let text = "My Report\n\n3 March 2020\n\nOpening words here.\n\nFirst part\n\nBody one.\nwrapped line.\n\nSecond part\n\nBody two.\n";
        let doc = parse(text, "my-report");
        assert_eq!(doc.title, "My Report");
        assert_eq!(doc.date.as_deref(), Some("3 March 2020"));
        let titles: Vec<_> = doc.sections.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(titles, vec!["Introduction", "First part", "Second part"]);
        assert_eq!(doc.sections[1].1[0].text, "Body one. wrapped line.");
    }

    #[test]
    fn no_title_line_uses_file_name() {
        let doc = parse(
            "Just one paragraph of text. It has sentences.\n",
            "field_notes",
        );
        assert_eq!(doc.title, "Field notes");
        assert_eq!(doc.sections.len(), 1);
    }
}
