//! Markdown documents: `#` and `##` headings mark sections; deeper headings label the paragraphs
//! under them. Inline markup is removed so that excerpts and citations read as plain text.

use super::text::has_visible_text;
use super::{humanise_stem, ParsedDocument, RawParagraph};

/// A line-level element of a Markdown file.
enum Line<'a> {
    Heading(usize, String),
    Blank,
    Text(&'a str),
}

fn classify(line: &str) -> Line<'_> {
    let trimmed = line.trim();
    // A line of nothing visible (spaces, zero-width characters, direction marks) is blank.
    if !has_visible_text(trimmed) {
        return Line::Blank;
    }
    let hashes = trimmed.chars().take_while(|&c| c == '#').count();
    if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with([' ', '\t']) {
        let title = strip_inline(trimmed[hashes..].trim().trim_end_matches('#').trim());
        // An empty heading ("## #") names no section.
        return match has_visible_text(&title) {
            true => Line::Heading(hashes, title),
            false => Line::Blank,
        };
    }
    Line::Text(trimmed)
}

/// Removes emphasis, code ticks, links, images and HTML tags; keeps the visible text.
pub fn strip_inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '!' if chars.get(i + 1) == Some(&'[') => i += 1,
            '[' => {
                // [text](url) -> text ; keep other brackets.
                if let Some(close) = chars[i..].iter().position(|&c| c == ']') {
                    let close = i + close;
                    if chars.get(close + 1) == Some(&'(') {
                        if let Some(end) = chars[close..].iter().position(|&c| c == ')') {
                            out.extend(&chars[i + 1..close]);
                            i = close + end + 1;
                            continue;
                        }
                    }
                }
                out.push(c);
                i += 1;
            }
            '<' => {
                if let Some(end) = chars[i..].iter().position(|&c| c == '>') {
                    let tag: String = chars[i + 1..i + end].iter().collect();
                    let is_tag = tag
                        .trim_start_matches('/')
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic())
                        && !tag.contains(' ')
                        || tag.starts_with('!');
                    if is_tag {
                        i += end + 1;
                        continue;
                    }
                }
                out.push(c);
                i += 1;
            }
            '*' | '`' => i += 1,
            '_' => {
                // Emphasis underscores sit at word edges; keep snake_case underscores.
                let prev_word = i > 0 && chars[i - 1].is_alphanumeric();
                let next_word = chars.get(i + 1).is_some_and(|c| c.is_alphanumeric());
                if prev_word && next_word {
                    out.push(c);
                }
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    super::text::collapse_whitespace(&out)
}

/// Strips list, quote and table markers from the start of a line.
fn strip_block_markers(line: &str) -> Option<String> {
    let mut l = line.trim_start();
    while let Some(rest) = l.strip_prefix('>') {
        l = rest.trim_start();
    }
    if l.starts_with('|') {
        let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
        if cells
            .iter()
            .all(|c| c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
        {
            return None; // table separator row
        }
        return Some(cells.join(" — "));
    }
    if let Some(marker) = list_marker_len(l) {
        return Some(l[marker..].to_string());
    }
    if l.chars().all(|c| matches!(c, '-' | '*' | '_' | '=' | ' ')) {
        return None; // horizontal rule or setext underline
    }
    Some(l.to_string())
}

/// The length in bytes of the list-item marker opening `line` ("- ", "* ", "+ ", "1. ", "1) "),
/// if it has one.
fn list_marker_len(line: &str) -> Option<usize> {
    if ["- ", "* ", "+ "].iter().any(|m| line.starts_with(m)) {
        return Some(2);
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0 && (line[digits..].starts_with(". ") || line[digits..].starts_with(") ")))
        .then_some(digits + 2)
}

/// Whether a line opens a list item.
fn is_list_item(line: &str) -> bool {
    list_marker_len(line.trim_start()).is_some()
}

/// Longest bold line, in words, read as a label rather than as emphasis.
const MAX_LABEL_WORDS: usize = 12;

/// The text of a line that is wholly bold ("**Vacation**", "__Pay__"), if short enough to be a
/// label.
fn bold_label(line: &str) -> Option<String> {
    let t = line.trim();
    let inner = ["**", "__"]
        .iter()
        .find_map(|m| t.strip_prefix(m)?.strip_suffix(m))?;
    let words = inner.split_whitespace().count();
    let label = strip_inline(inner);
    let label = label.trim_end_matches(':').trim().to_string();
    (!inner.contains("**") && (1..=MAX_LABEL_WORDS).contains(&words) && has_visible_text(&label))
        .then_some(label)
}

/// A line of a block, read for its role.
enum Entry {
    /// Running text, or a line continuing the list item above it.
    Text(String),
    /// The first line of a list item.
    Item(String),
    /// A table row's cells; separator rows are dropped.
    Row(Vec<String>),
}

/// Reads one line of a block.
fn entry(line: &str) -> Entry {
    let trimmed = line.trim_start();
    if trimmed.starts_with('|') {
        let cells: Vec<String> = trimmed
            .trim_end()
            .trim_matches('|')
            .split('|')
            .map(|c| strip_inline(c.trim()))
            .collect();
        return Entry::Row(cells);
    }
    let is_item = is_list_item(trimmed);
    let text = strip_block_markers(line).unwrap_or_default();
    match is_item {
        true => Entry::Item(text),
        false => Entry::Text(text),
    }
}

/// Average words per list item from which each item is a passage of its own: items that long
/// are points in their own right, while shorter ones read as one list.
const LONG_ITEM_WORDS: usize = 30;

/// Turns one block (lines between blank lines) into paragraphs: running text and short lists
/// stay one paragraph; long list items become one paragraph each, labelled with the line that
/// introduces them; a table too long for one passage becomes one paragraph per row, each cell
/// labelled with its column's header.
fn block_paragraphs(block: Vec<Entry>, subheading: &Option<String>) -> Vec<RawParagraph> {
    let paragraph = |text: String, label: Option<String>| RawParagraph {
        text: super::text::collapse_whitespace(&strip_inline(&text)),
        subheading: label,
        pages: Vec::new(),
    };
    let mut lead: Vec<String> = Vec::new();
    let mut items: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for e in block {
        match e {
            Entry::Text(t) => match items.last_mut() {
                Some(item) => {
                    item.push(' ');
                    item.push_str(&t);
                }
                None => lead.push(t),
            },
            Entry::Item(t) => items.push(t),
            Entry::Row(cells) => {
                let separator = cells
                    .iter()
                    .all(|c| c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')));
                if !separator {
                    rows.push(cells);
                }
            }
        }
    }
    let lead_text = lead.join(" ");
    let mut out = Vec::new();
    if !rows.is_empty() {
        out.push(paragraph(lead_text, subheading.clone()));
        out.extend(table_paragraphs(rows, subheading));
        return out
            .into_iter()
            .filter(|p| has_visible_text(&p.text))
            .collect();
    }
    // Counted on the visible text: a link's address is not words.
    let item_words: usize = items
        .iter()
        .map(|i| super::text::word_count(&strip_inline(i)))
        .sum();
    if items.len() >= 2 && item_words >= LONG_ITEM_WORDS * items.len() {
        let lead = paragraph(lead_text, subheading.clone());
        let label = match !has_visible_text(&lead.text) {
            true => subheading.clone(),
            false => Some(lead.text.clone()),
        };
        out.push(lead);
        out.extend(items.into_iter().map(|i| paragraph(i, label.clone())));
    } else {
        let mut parts = Vec::new();
        if !lead_text.trim().is_empty() {
            parts.push(lead_text);
        }
        if !items.is_empty() {
            parts.push(items.join(" ; "));
        }
        out.push(paragraph(parts.join(" "), subheading.clone()));
    }
    out.into_iter()
        .filter(|p| has_visible_text(&p.text))
        .collect()
}

/// A table's paragraphs: one for a table short enough to be one passage, otherwise one per row.
fn table_paragraphs(rows: Vec<Vec<String>>, subheading: &Option<String>) -> Vec<RawParagraph> {
    let words: usize = rows
        .iter()
        .flatten()
        .map(|c| super::text::word_count(c))
        .sum();
    if words <= super::MAX_PASSAGE_WORDS {
        let text = rows
            .iter()
            .map(|r| r.join(" — "))
            .collect::<Vec<_>>()
            .join(" ; ");
        return vec![RawParagraph {
            text: super::text::collapse_whitespace(&text),
            subheading: subheading.clone(),
            pages: Vec::new(),
        }];
    }
    let header = rows.first().cloned().unwrap_or_default();
    let mut label = subheading.clone();
    let mut out = Vec::new();
    for row in rows.iter().skip(1) {
        let Some((first, rest)) = row.split_first() else {
            continue;
        };
        if rest.iter().all(|c| c.is_empty()) {
            // A row that only names a group labels the rows under it.
            if !first.is_empty() {
                label = Some(first.clone());
            }
            continue;
        }
        let cells: Vec<String> = rest
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.is_empty())
            .map(|(i, c)| match header.get(i + 1).filter(|h| !h.is_empty()) {
                Some(h) => format!("{h}: {c}"),
                None => c.clone(),
            })
            .collect();
        let text = match first.is_empty() {
            true => cells.join(" — "),
            false => format!("{first} — {}", cells.join(" — ")),
        };
        out.push(RawParagraph {
            text: super::text::collapse_whitespace(&text),
            subheading: label.clone(),
            pages: Vec::new(),
        });
    }
    out
}

/// Parses a Markdown document.
pub fn parse(text: &str, file_stem: &str) -> ParsedDocument {
    let mut body = text;
    if let Some(rest) = body.strip_prefix("---\n") {
        if let Some(end) = rest.find("\n---") {
            body = rest[end + 4..].trim_start_matches(|c| c != '\n');
        }
    }
    let lines: Vec<Line> = {
        let mut out = Vec::new();
        let mut in_fence = false;
        for line in body.lines() {
            if line.trim_start().starts_with("```") || line.trim_start().starts_with("~~~") {
                in_fence = !in_fence;
                out.push(Line::Blank);
                continue;
            }
            if in_fence {
                out.push(match line.trim() {
                    "" => Line::Blank,
                    text => Line::Text(text),
                });
                continue;
            }
            // A single line of text underlined with "===" or "---" is a heading (setext).
            if let Some(level) = super::text::underline_level(line) {
                let single_text_line = matches!(out.last(), Some(Line::Text(t)) if !is_list_item(t))
                    && matches!(
                        out.len().checked_sub(2).map(|i| &out[i]),
                        None | Some(Line::Blank | Line::Heading(..))
                    );
                if single_text_line {
                    if let Some(Line::Text(t)) = out.pop() {
                        out.push(Line::Heading(level, strip_inline(t)));
                    }
                    continue;
                }
            }
            let line = classify(line);
            // A paragraph that is one short bold line labels what follows, like a heading.
            let line = match line {
                Line::Text(t) if matches!(out.last(), None | Some(Line::Blank)) => {
                    match bold_label(t) {
                        Some(label) => Line::Heading(3, label),
                        None => Line::Text(t),
                    }
                }
                other => other,
            };
            out.push(line);
        }
        out
    };
    let h1_count = lines
        .iter()
        .filter(|l| matches!(l, Line::Heading(1, _)))
        .count();
    let has_h2 = lines.iter().any(|l| matches!(l, Line::Heading(2, _)));
    let first_content = lines.iter().find(|l| !matches!(l, Line::Blank));
    let title_from_h1 = match first_content {
        Some(Line::Heading(1, t)) if h1_count == 1 && has_h2 => Some(t.clone()),
        _ => None,
    };
    let mut doc = ParsedDocument {
        title: title_from_h1
            .clone()
            .unwrap_or_else(|| humanise_stem(file_stem)),
        date: None,
        sections: Vec::new(),
        ..ParsedDocument::default()
    };
    let mut current: Option<(String, Vec<RawParagraph>)> = None;
    let mut subheading: Option<String> = None;
    let mut block: Vec<Entry> = Vec::new();
    let mut skipped_title = title_from_h1.is_none();

    let flush = |block: &mut Vec<Entry>,
                 current: &mut Option<(String, Vec<RawParagraph>)>,
                 subheading: &Option<String>| {
        let paragraphs = block_paragraphs(std::mem::take(block), subheading);
        if paragraphs.is_empty() {
            return;
        }
        let (_, section) =
            current.get_or_insert_with(|| (super::INTRODUCTION.to_string(), Vec::new()));
        section.extend(paragraphs);
    };

    for line in &lines {
        match line {
            Line::Heading(level, title) => {
                flush(&mut block, &mut current, &subheading);
                if !skipped_title && *level == 1 {
                    skipped_title = true;
                    continue;
                }
                if *level <= 2 {
                    if let Some(section) = current.take() {
                        doc.push_section(section);
                    }
                    current = Some((title.clone(), Vec::new()));
                    subheading = None;
                } else {
                    subheading = Some(title.clone());
                }
            }
            Line::Blank => flush(&mut block, &mut current, &subheading),
            Line::Text(t) => block.push(entry(t)),
        }
    }
    flush(&mut block, &mut current, &subheading);
    if let Some(section) = current.take() {
        doc.push_section(section);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_h1_is_the_title_and_h2_are_sections() {
        let md = "# Handbook\n\nWelcome **all**.\n\n## Setup\n\nRun [the tool](http://x).\n\n### Details\n\nMore `code` here.\n\n## Usage\n\n- one\n- two\n";
        let doc = parse(md, "handbook");
        assert_eq!(doc.title, "Handbook");
        let titles: Vec<_> = doc.sections.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(titles, vec!["Introduction", "Setup", "Usage"]);
        assert_eq!(doc.sections[0].1[0].text, "Welcome all.");
        assert_eq!(doc.sections[1].1[0].text, "Run the tool.");
        assert_eq!(doc.sections[1].1[1].subheading.as_deref(), Some("Details"));
        assert_eq!(doc.sections[1].1[1].text, "More code here.");
        assert_eq!(doc.sections[2].1[0].text, "one ; two");
    }

    #[test]
    fn several_h1_are_sections_and_title_comes_from_the_file() {
        let md = "# One\n\nText one.\n\n# Two\n\nText two.\n";
        let doc = parse(md, "my_notes");
        assert_eq!(doc.title, "My notes");
        assert_eq!(doc.sections.len(), 2);
    }

    #[test]
    fn long_list_items_are_paragraphs_labelled_by_their_lead_in() {
        let long = "word ".repeat(LONG_ITEM_WORDS);
        let md = format!("## Team\n\nPeople to meet:\n* Your manager. {long}\n  continued here.\n* Your buddy. {long}\n\nAfter.\n");
        let doc = parse(&md, "x");
        let paragraphs = &doc.sections[0].1;
        let texts: Vec<_> = paragraphs.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts.len(), 4, "{texts:?}");
        assert_eq!(texts[0], "People to meet:");
        assert!(
            texts[1].starts_with("Your manager. word") && texts[1].ends_with("continued here.")
        );
        assert!(texts[2].starts_with("Your buddy."));
        assert_eq!(paragraphs[1].subheading.as_deref(), Some("People to meet:"));
        assert_eq!(paragraphs[3].subheading, None);
    }

    #[test]
    fn a_long_table_becomes_one_paragraph_per_row_with_headers() {
        let cell = "word ".repeat(60);
        let md = format!(
            "## Levels\n\n| Category | Junior (L1) | Senior (L3) |\n| --- | --- | --- |\n| **Skill** | | |\n| *Scope* | Small fixes {cell} | Whole systems {cell} |\n| Judgment | Asks first {cell} | Decides {cell} |\n"
        );
        let doc = parse(&md, "x");
        let paragraphs = &doc.sections[0].1;
        assert_eq!(paragraphs.len(), 2);
        assert!(paragraphs[0]
            .text
            .starts_with("Scope — Junior (L1): Small fixes word"));
        assert!(paragraphs[0].text.contains("— Senior (L3): Whole systems"));
        assert_eq!(paragraphs[0].subheading.as_deref(), Some("Skill"));
        assert!(paragraphs[1]
            .text
            .starts_with("Judgment — Junior (L1): Asks first"));
    }

    #[test]
    fn a_short_table_stays_one_paragraph() {
        let doc = parse(
            "## Fees\n\n| Plan | Cost |\n|---|---|\n| Solo | $5 |\n| Team | $20 |\n",
            "x",
        );
        assert_eq!(doc.sections[0].1.len(), 1);
        assert_eq!(
            doc.sections[0].1[0].text,
            "Plan — Cost ; Solo — $5 ; Team — $20"
        );
    }

    #[test]
    fn setext_headings_and_bold_labels() {
        let md = "Guide\n=====\n\nIntro text.\n\nPay\n---\n\n**Bonuses**\n\nPaid yearly.\n\n- item\n---\n\nA **bold** word.\n";
        let doc = parse(md, "x");
        let titles: Vec<_> = doc.sections.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(doc.title, "Guide");
        assert_eq!(titles, vec!["Introduction", "Pay"]);
        let pay = &doc.sections[1].1;
        assert_eq!(pay[0].text, "Paid yearly.");
        assert_eq!(pay[0].subheading.as_deref(), Some("Bonuses"));
        assert_eq!(pay[1].text, "item");
        assert_eq!(pay[2].text, "A bold word.");
    }

    /// Regression: a heading of nothing visible ("# " and a direction mark) made a section
    /// whose title no reader could see.
    #[test]
    fn headings_and_lines_with_nothing_visible_are_blank() {
        let doc = parse("the\n# \u{200f}\n.\n\n## #\n\n**\u{200b}**\n\nText.\n", "x");
        let titles: Vec<_> = doc.sections.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(titles, vec!["Introduction"]);
        let texts: Vec<_> = doc.sections[0].1.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, vec!["the", ".", "Text."]);
        assert_eq!(doc.sections[0].1[2].subheading, None);
    }

    #[test]
    fn code_fences_do_not_make_headings() {
        let md = "## Part\n\n```\n# not a heading\n```\n\nAfter.\n";
        let doc = parse(md, "x");
        assert_eq!(doc.sections.len(), 1);
        assert_eq!(doc.sections[0].1[0].text, "# not a heading");
    }
}
