//! Plain-text documents: paragraphs are separated by blank lines; a heading is a short standalone
//! line without closing sentence punctuation. An optional title line and date line open the file.

use super::text::MONTHS;
use super::{humanise_stem, ParsedDocument, RawParagraph};
use rustc_hash::FxHashMap;

/// Longest heading, in words.
const MAX_HEADING_WORDS: usize = 14;
/// Longest heading, in characters.
const MAX_HEADING_CHARS: usize = 120;
/// How far from a page break (a form feed or page number), in lines, running headers and
/// footers sit.
const PAGE_EDGE_LINES: usize = 4;

/// Splits plain text into blocks (paragraphs), each with whether it was a single line.
fn blocks(text: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut lines: Vec<&str> = Vec::new();
    for line in without_page_furniture(text)
        .into_iter()
        .chain(std::iter::once(""))
    {
        let line = line.trim();
        // "Heading" over a line of "=" or "-" is a heading: drop the underline.
        if lines.len() == 1 && super::text::underline_level(line).is_some() {
            out.push((squeeze_spaces(lines[0]), true));
            lines.clear();
            continue;
        }
        // A line of nothing visible (spaces, zero-width characters, direction marks) is blank.
        if !super::text::has_visible_text(line) {
            if !lines.is_empty() {
                let single = lines.len() == 1;
                out.push((squeeze_spaces(&lines.join(" ")), single));
                lines.clear();
            }
        } else {
            lines.push(line);
        }
    }
    out
}

/// Collapses runs of spaces and tabs (a fixed-width layout's alignment) into one space; other
/// characters, non-breaking spaces included, are kept as the text has them.
fn squeeze_spaces(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_run = false;
    for c in text.chars() {
        let space = c == ' ' || c == '\t';
        if !(space && in_run) {
            out.push(if space { ' ' } else { c });
        }
        in_run = space;
    }
    out
}

/// Whether a line is a page number: "12", "- 12 -", "Page 12", "Page 3 of 40", "... [Page 2]".
fn is_page_number(line: &str) -> bool {
    // Most lines have no digit, or are too long to be a page number: decide those cheaply.
    if line.len() > 200 || !line.bytes().any(|b| b.is_ascii_digit()) {
        return false;
    }
    let lower = line.trim().to_lowercase();
    if lower.ends_with(']') && lower.contains("[page ") {
        return true;
    }
    let core = lower.trim_matches(|c: char| c == '-' || c.is_whitespace());
    let core = core.strip_prefix("page").unwrap_or(core).trim();
    let core = match core.split_once(" of ") {
        Some((n, total)) if total.trim().chars().all(|c| c.is_ascii_digit()) => n.trim(),
        _ => core,
    };
    (1..=4).contains(&core.len()) && core.chars().all(|c| c.is_ascii_digit())
}

/// Whether a line is a table-of-contents entry: a title, a dot leader and a page number.
fn is_contents_entry(line: &str) -> bool {
    let Some(rest) = line.trim_end().strip_suffix(|c: char| c.is_ascii_digit()) else {
        return false;
    };
    let rest = rest
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .trim_end();
    let leader = rest.len() - rest.trim_end_matches(['.', ' ']).len();
    leader >= 6 && rest.ends_with('.')
}

/// The text's lines without what paginated text repeats on every page (running headers and
/// footers, page numbers, form feeds) and without a table of contents. A paragraph that a page
/// break cut in two is joined again. Text without page numbers or form feeds keeps every line
/// but contents entries.
fn without_page_furniture(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let page_numbers: Vec<bool> = lines.iter().map(|l| is_page_number(l)).collect();
    let marks: Vec<usize> = (0..lines.len())
        .filter(|&i| page_numbers[i] || lines[i].contains('\u{c}'))
        .collect();
    let key = |line: &str| -> String {
        let digitless: String = line
            .trim()
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect();
        super::text::collapse_whitespace(&digitless)
    };
    let mut counts: FxHashMap<String, usize> = FxHashMap::default();
    if marks.len() >= 2 {
        for line in lines.iter().filter(|l| !l.trim().is_empty()) {
            *counts.entry(key(line)).or_default() += 1;
        }
    }
    let near_mark = |i: usize| {
        let at = marks.partition_point(|&m| m + PAGE_EDGE_LINES < i);
        marks.get(at).is_some_and(|&m| m <= i + PAGE_EDGE_LINES)
    };
    let furniture = |i: usize| -> bool {
        let line = lines[i];
        if is_contents_entry(line) {
            return true;
        }
        if marks.len() < 2 || line.trim().is_empty() {
            return false;
        }
        page_numbers[i] || (near_mark(i) && counts.get(&key(line)).is_some_and(|&n| n >= 3))
    };
    let mut out: Vec<&str> = Vec::with_capacity(lines.len());
    // Whether blank (or removed) lines precede the next line of text, and whether any of them
    // was furniture.
    let mut gap = false;
    let mut gap_had_furniture = false;
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim_matches('\u{c}');
        let removed = furniture(i);
        if removed || line.trim().is_empty() {
            gap = true;
            gap_had_furniture |= removed || raw.contains('\u{c}');
            continue;
        }
        let continues = gap_had_furniture
            && line.trim_start().starts_with(char::is_lowercase)
            && out.last().is_some_and(|prev: &&str| {
                !prev
                    .trim_end()
                    .ends_with(['.', '!', '?', ':', '"', '”', ')'])
            });
        if gap && !continues {
            out.push("");
        }
        gap = false;
        gap_had_furniture = false;
        out.push(line);
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
        ..ParsedDocument::default()
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
                pages: Vec::new(),
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

    /// Every paragraph's text, in document order.
    fn paragraph_texts(doc: &ParsedDocument) -> Vec<&str> {
        doc.sections
            .iter()
            .flat_map(|s| &s.1)
            .map(|p| p.text.as_str())
            .collect()
    }

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
    fn page_furniture_is_dropped_and_a_paragraph_cut_by_a_page_break_is_joined() {
        let page = |n: usize, body: &str| {
            format!(
                "Field Report        Survey of Wells        May 2020\n\n\n{body}\n\n\nSmith, et al.        Expires June 2020        [Page {n}]\n\u{c}\n"
            )
        };
        let text = [
            page(1, "1.  Scope\n\n   The survey covered forty wells in the\n   northern district."),
            page(2, "   Water tables fell in every one of them during\n   the dry season.\n\n2.  Findings\n\n   Most wells recovered by May."),
            page(3, "   Contents of the annex follow.\n\n   1.  Scope . . . . . . . . . . . . . 1"),
        ]
        .concat();
        let doc = parse(&text, "field-report");
        let titles: Vec<_> = doc.sections.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(titles, vec!["1. Scope", "2. Findings"]);
        assert_eq!(
            paragraph_texts(&doc),
            vec![
                "The survey covered forty wells in the northern district.",
                "Water tables fell in every one of them during the dry season.",
                "Most wells recovered by May.",
                "Contents of the annex follow.",
            ]
        );
    }

    #[test]
    fn unpaginated_text_keeps_repeated_lines_and_numbers() {
        let text = "Notes\n\nChorus\n\nOne.\n\nChorus\n\nTwo.\n\nChorus\n\n1917\n\nThree.\n";
        let doc = parse(text, "notes");
        let all = paragraph_texts(&doc);
        assert!(all.contains(&"1917"), "{all:?}");
        assert_eq!(doc.sections.iter().filter(|s| s.0 == "Chorus").count(), 3);
    }

    #[test]
    fn page_numbers_and_contents_entries() {
        for line in [
            "12",
            "- 12 -",
            "Page 3",
            "page 3 of 40",
            "Smith      [Page 2]",
        ] {
            assert!(is_page_number(line), "{line}");
        }
        for line in ["1917 was the year.", "Page one", "12345"] {
            assert!(!is_page_number(line), "{line}");
        }
        assert!(is_contents_entry("1.  Introduction . . . . . . . . . 3"));
        assert!(is_contents_entry("Findings ............ 12"));
        assert!(!is_contents_entry("It rose by 3."));
    }

    #[test]
    fn layout_spaces_collapse_but_non_breaking_spaces_stay() {
        assert_eq!(squeeze_spaces("1.  Scope\t of  it"), "1. Scope of it");
        assert_eq!(squeeze_spaces("a -\u{a0}b"), "a -\u{a0}b");
    }

    #[test]
    fn a_line_of_nothing_visible_separates_paragraphs() {
        let doc = parse("Report\n\nFirst part\n\u{200f}\u{a0}\nBody one.\n", "r");
        let titles: Vec<_> = doc.sections.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(titles, vec!["First part"]);
        assert_eq!(paragraph_texts(&doc), vec!["Body one."]);
    }

    #[test]
    fn underlined_headings() {
        let doc = parse(
            "Report\n\nSummary\n=======\n\nAll well.\n\nDetails\n-------\nMore.\n",
            "r",
        );
        let titles: Vec<_> = doc.sections.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(titles, vec!["Summary", "Details"]);
        assert_eq!(doc.sections[1].1[0].text, "More.");
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
