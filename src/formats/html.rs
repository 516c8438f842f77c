//! HTML, as saved web pages and as the chapters of an EPUB: headings and paragraphs of the
//! main content, without navigation, banners, scripts, footers or note markers.
//!
//! Parsing is html5ever's (through `scraper`), the HTML5 algorithm browsers use, so broken or
//! unclosed markup reads as a browser shows it and entities are decoded.

use scraper::node::Node;
use scraper::{ElementRef, Html};

use super::{normalise, stem_title, FormatError, ParsedDocument, RawParagraph};

/// One block of a page in reading order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Block {
    /// `<h1>`–`<h6>`: level and text.
    Heading(u8, String),
    /// A paragraph, list item, quotation, table row or other block of text.
    Para(String),
}

/// Elements whose content is never the text a reader studies.
const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "template", "nav", "footer", "aside", "form", "button",
    "select", "option", "svg", "iframe", "object", "canvas", "head", "menu", "dialog", "input",
    "textarea", "figure",
];

/// Elements that end the paragraph before them and start a new one.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "blockquote",
    "pre",
    "table",
    "tr",
    "thead",
    "tbody",
    "tfoot",
    "header",
    "address",
    "hr",
    "br",
    "body",
    "center",
    "caption",
    "figcaption",
    "details",
    "summary",
];

/// Words in a class, id or role that mark page furniture rather than content.
const FURNITURE: &[&str] = &[
    "cookie",
    "consent",
    "gdpr",
    "banner",
    "newsletter",
    "subscribe",
    "share",
    "social",
    "related",
    "advert",
    "promo",
    "breadcrumb",
    "sidebar",
    "navbar",
    "menu",
    "masthead",
    "comments",
    "popup",
    "modal",
    "skip-link",
    "site-header",
    "site-footer",
    "footnotes",
    "endnotes",
    "byline",
    "dateline",
    "titlepage",
];

/// Whether an element is furniture or a note, by its name, attributes and ARIA role.
fn skipped(el: &ElementRef) -> bool {
    let e = el.value();
    if SKIPPED.contains(&e.name()) || e.attr("hidden").is_some() {
        return true;
    }
    if e.attr("aria-hidden") == Some("true") {
        return true;
    }
    let epub_type = e.attr("epub:type").unwrap_or_default();
    if epub_type.split_whitespace().any(|t| {
        matches!(
            t,
            "footnote"
                | "footnotes"
                | "endnote"
                | "endnotes"
                | "rearnote"
                | "rearnotes"
                | "noteref"
                | "pagebreak"
        )
    }) {
        return true;
    }
    let role = e.attr("role").unwrap_or_default();
    if matches!(
        role,
        "navigation"
            | "banner"
            | "contentinfo"
            | "complementary"
            | "dialog"
            | "alertdialog"
            | "search"
            | "doc-endnotes"
            | "doc-footnote"
            | "doc-noteref"
            | "doc-pagebreak"
    ) {
        return true;
    }
    // A note marker: a link to a note inside <sup>, or a superscript number.
    if e.name() == "sup" {
        let text: String = el.text().collect();
        if text.trim().chars().all(|c| {
            c.is_ascii_digit() || c == '*' || c == '†' || c.is_whitespace() || c == '[' || c == ']'
        }) {
            return true;
        }
    }
    if e.name() == "a"
        && e.attr("href")
            .is_some_and(|h| h.starts_with("#fn") || h.contains("#fn"))
    {
        let text: String = el.text().collect();
        if text.trim().len() <= 4 {
            return true;
        }
    }
    let marks = [e.attr("class"), e.attr("id")];
    marks.iter().flatten().any(|m| {
        let m = m.to_ascii_lowercase();
        FURNITURE.iter().any(|f| m.contains(f))
    })
}

/// Walks the content and collects blocks.
struct Walker {
    blocks: Vec<Block>,
    buf: String,
}

impl Walker {
    fn flush(&mut self) {
        let text = normalise(&self.buf);
        self.buf.clear();
        if text.chars().any(char::is_alphanumeric) {
            self.blocks.push(Block::Para(text));
        }
    }

    fn walk(&mut self, el: ElementRef, depth: usize) {
        if depth > 200 {
            return; // pathological nesting: the rest of this branch is not read
        }
        for child in el.children() {
            match child.value() {
                Node::Text(t) => self.buf.push_str(t),
                Node::Element(e) => {
                    let Some(child_el) = ElementRef::wrap(child) else {
                        continue;
                    };
                    if skipped(&child_el) {
                        continue;
                    }
                    let name = e.name();
                    if let Some(level) = heading_level(name) {
                        self.flush();
                        let text = normalise(&child_el.text().collect::<String>());
                        if !text.is_empty() {
                            self.blocks.push(Block::Heading(level, text));
                        }
                        continue;
                    }
                    let block = BLOCKS.contains(&name);
                    if block {
                        self.flush();
                    }
                    if matches!(name, "td" | "th") {
                        self.buf.push_str(" | ");
                    }
                    self.walk(child_el, depth + 1);
                    if block {
                        self.flush();
                    }
                }
                _ => {}
            }
        }
    }
}

fn heading_level(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

/// The blocks of a page's main content: its largest `<main>`, `<article>` or `role="main"`
/// element when it has one, else its body.
pub(crate) fn blocks(html: &str) -> (Option<String>, Vec<Block>) {
    let doc = Html::parse_document(html);
    let title = selector("title")
        .and_then(|s| doc.select(&s).next())
        .map(|t| normalise(&t.text().collect::<String>()))
        .filter(|t| !t.is_empty());
    let main = selector("main, article, [role=main]").and_then(|s| {
        doc.select(&s)
            .max_by_key(|e| e.text().map(str::len).sum::<usize>())
    });
    let root = main
        .or_else(|| selector("body").and_then(|s| doc.select(&s).next()))
        .unwrap_or_else(|| doc.root_element());
    let mut walker = Walker {
        blocks: Vec::new(),
        buf: String::new(),
    };
    walker.walk(root, 0);
    walker.flush();
    (title, walker.blocks)
}

fn selector(css: &str) -> Option<scraper::Selector> {
    scraper::Selector::parse(css).ok()
}

/// Turns blocks into sections: headings of the `depth` highest levels present start sections,
/// deeper ones label the paragraphs under them. Text before the first heading goes to a
/// section titled `lead`; a single top-level heading that opens the blocks (a chapter's own
/// title) names that first section instead of counting as a level.
pub(crate) fn sections(
    blocks: &[Block],
    lead: &str,
    depth: u8,
) -> Vec<(String, Vec<RawParagraph>)> {
    let top_of = |blocks: &[Block]| {
        blocks
            .iter()
            .filter_map(|b| match b {
                Block::Heading(l, _) => Some(*l),
                Block::Para(_) => None,
            })
            .min()
    };
    let mut blocks = blocks;
    let mut lead = lead.to_string();
    if let (Some(Block::Heading(level, text)), Some(top)) = (blocks.first(), top_of(blocks)) {
        let tops = blocks
            .iter()
            .filter(|b| matches!(b, Block::Heading(l, _) if *l == top))
            .count();
        if *level == top && tops == 1 {
            lead = text.clone();
            blocks = &blocks[1..];
        }
    }
    let top = top_of(blocks).unwrap_or(1);
    let deepest = top.saturating_add(depth.max(1) - 1);
    let mut out: Vec<(String, Vec<RawParagraph>)> = Vec::new();
    let mut current = (lead, Vec::new());
    let mut sub: Option<String> = None;
    for block in blocks {
        match block {
            Block::Heading(level, text) if *level <= deepest => {
                if !current.1.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                current.0 = text.clone();
                sub = None;
            }
            Block::Heading(_, text) => sub = Some(text.clone()),
            Block::Para(text) => current.1.push(RawParagraph {
                text: text.clone(),
                subheading: sub.clone(),
                pages: Vec::new(),
            }),
        }
    }
    if !current.1.is_empty() {
        out.push(current);
    }
    out
}

/// A saved web page: the title is its first `<h1>` (else `<title>`), sections come from the
/// next heading level.
pub(crate) fn parse_page(bytes: &[u8], stem: &str) -> Result<ParsedDocument, FormatError> {
    let text = decode(bytes);
    let (title, mut blocks) = blocks(&text);
    let h1 = blocks
        .iter()
        .position(|b| matches!(b, Block::Heading(1, _)));
    let mut doc_title = title.clone();
    if let Some(i) = h1 {
        // The article's own h1 names it; a second h1 would be a section.
        if blocks
            .iter()
            .filter(|b| matches!(b, Block::Heading(1, _)))
            .count()
            == 1
        {
            if let Block::Heading(_, t) = blocks.remove(i) {
                doc_title = Some(t);
            }
        }
    }
    let title = doc_title.unwrap_or_else(|| stem_title(stem));
    let sections = sections(&blocks, crate::corpus::INTRODUCTION, 2);
    Ok(ParsedDocument {
        title,
        sections,
        ..ParsedDocument::default()
    })
}

/// Decodes a page's bytes: UTF-8 (with or without a byte-order mark), else Windows-1252, the
/// encoding browsers assume for pages that declare none.
pub(crate) fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| cp1252(b)).collect(),
    }
}

fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_furniture_is_left_out_and_entities_decoded() {
        let page = r##"<html><head><title>T</title><script>var x = "no";</script></head><body>
            <nav><a href="/">Home</a></nav>
            <div class="cookie-banner">We use cookies. Accept all</div>
            <article><h1>The Lamp Makers</h1><p>Oil &amp; wick&mdash;the first lamps<sup><a href="#fn1">1</a></sup> burned.</p>
            <h2>Glass</h2><p>It&#8217;s clear.</p></article>
            <footer>Copyright</footer></body></html>"##;
        let doc = parse_page(page.as_bytes(), "page").unwrap();
        assert_eq!(doc.title, "The Lamp Makers");
        let texts: Vec<&str> = doc
            .sections
            .iter()
            .flat_map(|(_, p)| p.iter().map(|p| p.text.as_str()))
            .collect();
        assert_eq!(
            texts,
            vec!["Oil & wick—the first lamps burned.", "It’s clear."]
        );
        assert_eq!(doc.sections[1].0, "Glass");
    }
}
