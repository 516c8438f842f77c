//! Markdown documents: `#` and `##` headings mark sections; deeper headings label the paragraphs
//! under them. Inline markup is removed so that excerpts and citations read as plain text.

use super::{humanise_stem, ParsedDocument, RawParagraph};

/// A line-level element of a Markdown file.
enum Line<'a> {
    Heading(usize, String),
    Blank,
    Text(&'a str),
}

fn classify(line: &str) -> Line<'_> {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Line::Blank;
    }
    let hashes = trimmed.chars().take_while(|&c| c == '#').count();
    if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
        let title = trimmed[hashes..].trim().trim_end_matches('#').trim();
        return Line::Heading(hashes, strip_inline(title));
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
    for marker in ["- ", "* ", "+ "] {
        if let Some(rest) = l.strip_prefix(marker) {
            return Some(rest.to_string());
        }
    }
    let digits = l.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && (l[digits..].starts_with(". ") || l[digits..].starts_with(") ")) {
        return Some(l[digits + 2..].to_string());
    }
    if l.chars().all(|c| matches!(c, '-' | '*' | '_' | '=' | ' ')) {
        return None; // horizontal rule or setext underline
    }
    Some(l.to_string())
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
            out.push(if in_fence {
                if line.trim().is_empty() {
                    Line::Blank
                } else {
                    Line::Text(line.trim())
                }
            } else {
                classify(line)
            });
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
    };
    let mut current: Option<(String, Vec<RawParagraph>)> = None;
    let mut subheading: Option<String> = None;
    let mut block: Vec<String> = Vec::new();
    let mut skipped_title = title_from_h1.is_none();

    let flush = |block: &mut Vec<String>,
                 current: &mut Option<(String, Vec<RawParagraph>)>,
                 subheading: &Option<String>| {
        if block.is_empty() {
            return;
        }
        let text = strip_inline(&block.join(" "));
        block.clear();
        if text.is_empty() {
            return;
        }
        let (_, paragraphs) =
            current.get_or_insert_with(|| (super::INTRODUCTION.to_string(), Vec::new()));
        paragraphs.push(RawParagraph {
            text,
            subheading: subheading.clone(),
        });
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
            Line::Text(t) => {
                let is_item = ["- ", "* ", "+ "].iter().any(|m| t.starts_with(m));
                if is_item && !block.is_empty() {
                    // Each list item is a line of its own paragraph; keep them in one block.
                    block.push(String::from(";"));
                }
                if let Some(text) = strip_block_markers(t) {
                    block.push(text);
                }
            }
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
    fn code_fences_do_not_make_headings() {
        let md = "## Part\n\n```\n# not a heading\n```\n\nAfter.\n";
        let doc = parse(md, "x");
        assert_eq!(doc.sections.len(), 1);
        assert_eq!(doc.sections[0].1[0].text, "# not a heading");
    }
}
