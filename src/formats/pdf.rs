//! PDF with a text layer: text page by page, paragraphs rebuilt across line and page breaks,
//! sections from the outline (else from headings found in the text, else runs of pages), and
//! the page label a reader sees on each sheet.
//!
//! `pdf-extract` decodes the fonts (the hard part: encodings, CMaps, Type 1/3, CID) and hands
//! over each glyph with its position and size; lopdf, which it is built on, gives the outline,
//! the page labels and the document info. The layout reading here is ours:
//! - glyphs become lines by baseline, lines of two columns are read column by column;
//! - running heads and footers (a line at the top or bottom repeating on several pages, digits
//!   aside) and page numbers are dropped;
//! - a new paragraph starts at a wider gap, an indented first line, or after a short line that
//!   ends a sentence; otherwise the line, even on the next page, continues the paragraph;
//! - a word broken at a line end ("revolu-" / "tionary") is joined, unless the document spells
//!   the pair with its hyphen elsewhere ("working-class");
//! - compatibility characters (the ligatures "ﬁ", "ﬂ") become plain letters.

use std::collections::{HashMap, HashSet};

use lopdf::{Document, Object};
use pdf_extract::{MediaBox, OutputDev, OutputError, Transform};

use super::{normalise, stem_title, FormatError, PageMark, ParsedDocument, RawParagraph};
use crate::corpus::looks_like_heading;

/// Pages a PDF may have; a longer one is refused (the longest printed books have ~2,000).
pub(crate) const MAX_PAGES: usize = 5_000;
/// Without headings, sections are runs of this many pages.
const PAGES_PER_SECTION: usize = 20;
/// Marks a line-end hyphen until the document's own spellings decide it.
const BREAK: char = '\u{E000}';

/// One glyph (or a few, for a ligature) as drawn.
#[derive(Debug, Clone)]
struct Glyph {
    x: f64,
    /// Baseline, from the top of the page.
    y: f64,
    end: f64,
    size: f64,
    text: String,
}

/// A line of text (or a column's part of one).
#[derive(Debug, Clone)]
struct Line {
    x0: f64,
    x1: f64,
    y: f64,
    size: f64,
    text: String,
    sheet: u32,
    /// 0 for a single-column page, 1 and 2 for the columns of a two-column page.
    column: u8,
}

/// Collects glyphs page by page from `pdf-extract`.
#[derive(Default)]
struct Collector {
    glyphs: Vec<Glyph>,
    height: f64,
    width: f64,
}

impl OutputDev for Collector {
    fn begin_page(
        &mut self,
        _page_num: u32,
        media_box: &MediaBox,
        _art_box: Option<(f64, f64, f64, f64)>,
    ) -> Result<(), OutputError> {
        self.height = media_box.ury - media_box.lly;
        self.width = media_box.urx - media_box.llx;
        Ok(())
    }
    fn end_page(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
    fn output_character(
        &mut self,
        trm: &Transform,
        width: f64,
        _spacing: f64,
        font_size: f64,
        char: &str,
    ) -> Result<(), OutputError> {
        let sx = font_size * (trm.m11 + trm.m21);
        let sy = font_size * (trm.m12 + trm.m22);
        let size = (sx * sy).abs().sqrt();
        if !size.is_finite() || size <= 0.0 {
            return Ok(());
        }
        let x = trm.m31;
        self.glyphs.push(Glyph {
            x,
            y: self.height - trm.m32,
            end: x + width * size,
            size,
            text: char.to_string(),
        });
        Ok(())
    }
    fn begin_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
    fn end_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
    fn end_line(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
}

fn corrupt(detail: impl ToString) -> FormatError {
    FormatError::Corrupt {
        format: "PDF".into(),
        detail: detail.to_string(),
    }
}

pub(crate) fn parse(bytes: &[u8], stem: &str) -> Result<ParsedDocument, FormatError> {
    if !bytes.starts_with(b"%PDF")
        && !bytes[..bytes.len().min(1024)]
            .windows(4)
            .any(|w| w == b"%PDF")
    {
        return Err(corrupt("no PDF header"));
    }
    let mut doc = Document::load_mem(bytes).map_err(|e| match e {
        lopdf::Error::Decryption(_) | lopdf::Error::InvalidPassword => FormatError::Locked,
        e => corrupt(e),
    })?;
    if doc.is_encrypted() && doc.decrypt("").is_err() {
        return Err(FormatError::Locked);
    }
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err(corrupt("it has no pages"));
    }
    if pages.len() > MAX_PAGES {
        return Err(FormatError::TooLarge {
            detail: format!("{} pages; the limit is {MAX_PAGES}", pages.len()),
        });
    }
    let labels = page_labels(&doc, pages.len());
    let mut lines: Vec<Line> = Vec::new();
    let mut empty: Vec<u32> = Vec::new();
    let mut failed: Vec<u32> = Vec::new();
    for (sheet, &number) in pages.keys().enumerate() {
        let sheet = sheet as u32;
        let mut collector = Collector::default();
        if pdf_extract::output_doc_page(&doc, &mut collector, number).is_err() {
            failed.push(sheet);
        }
        let mut page_lines = page_lines(&collector, sheet);
        if !page_lines
            .iter()
            .any(|l| l.text.chars().any(char::is_alphanumeric))
        {
            empty.push(sheet);
        }
        // The contents are the outline's job, and their page numbers would be found as text.
        if is_contents_page(&page_lines) {
            page_lines.clear();
        }
        page_lines.retain(|l| !is_contents_entry(&l.text));
        lines.extend(page_lines);
        super::progress::report(sheet as usize + 1, pages.len());
    }
    if empty.len() == pages.len() {
        return Err(FormatError::Scanned { pages: pages.len() });
    }
    let mut warnings = Vec::new();
    let named = |sheets: &[u32]| {
        sheets
            .iter()
            .map(|&s| labels[s as usize].clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let blank: Vec<u32> = empty
        .iter()
        .copied()
        .filter(|s| !failed.contains(s))
        .collect();
    if !blank.is_empty() {
        warnings.push(format!(
            "no text on page{} {} (images only, or blank); studybot does not read images",
            if blank.len() == 1 { "" } else { "s" },
            named(&blank)
        ));
    }
    if !failed.is_empty() {
        warnings.push(format!(
            "page{} {} could not be read in full",
            if failed.len() == 1 { "" } else { "s" },
            named(&failed)
        ));
    }
    let body = body_size(&lines);
    drop_furniture(&mut lines, pages.len(), body);
    let outline: Vec<(u32, String)> = doc
        .get_toc()
        .map(|toc| {
            toc.toc
                .into_iter()
                .filter(|t| t.level <= 2 && t.page >= 1)
                .filter_map(|t| {
                    let sheet = pages.keys().position(|&n| n as usize == t.page)? as u32;
                    let title = normalise(&t.title);
                    (!title.is_empty()).then_some((sheet, title))
                })
                .collect()
        })
        .unwrap_or_default();
    let items = assemble(&lines);
    let title = info_title(&doc).unwrap_or_else(|| {
        // The largest heading on the first sheet with text, else the file name.
        items
            .iter()
            .filter_map(|i| match i {
                Item::Heading { text, size, sheet } if *sheet <= 1 => Some((size, text)),
                _ => None,
            })
            .max_by(|a, b| a.0.total_cmp(b.0))
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| stem_title(stem))
    });
    let sections = if outline.is_empty() {
        sections_from_headings(items, &labels, &title)
    } else {
        sections_from_outline(items, &outline)
    };
    let mut parsed = ParsedDocument {
        title,
        date: None,
        sections: Vec::new(),
        page_labels: labels,
        warnings,
    };
    for s in sections {
        parsed.push_section(s);
    }
    Ok(parsed)
}

/// The document info's /Title, when it is a real title (not a file name or "untitled").
fn info_title(doc: &Document) -> Option<String> {
    let info = doc.trailer.get(b"Info").ok()?;
    let (_, info) = doc.dereference(info).ok()?;
    let title = info.as_dict().ok()?.get(b"Title").ok()?;
    let (_, title) = doc.dereference(title).ok()?;
    let title = normalise(&lopdf::decode_text_string(title).ok()?);
    let lower = title.to_lowercase();
    if title.is_empty()
        || lower.ends_with(".pdf")
        || lower.ends_with(".docx")
        || lower.ends_with(".tex")
        || lower == "untitled"
        || lower.starts_with("microsoft word")
    {
        return None;
    }
    Some(title)
}

/// The label of every sheet: from the catalog's /PageLabels number tree when the PDF has one
/// (front matter in roman numerals, a book whose page 1 is its 15th sheet), else the sheet
/// number.
fn page_labels(doc: &Document, count: usize) -> Vec<String> {
    let mut ranges: Vec<(usize, String, String, i64)> = Vec::new(); // start, style, prefix, first
    let tree = doc
        .catalog()
        .ok()
        .and_then(|c| c.get(b"PageLabels").ok())
        .and_then(|o| doc.dereference(o).ok())
        .and_then(|(_, o)| o.as_dict().ok());
    if let Some(tree) = tree {
        collect_label_ranges(doc, tree, &mut ranges, 0);
    }
    ranges.sort_by_key(|r| r.0);
    if ranges.is_empty() || ranges[0].0 != 0 {
        ranges.insert(0, (0, "D".into(), String::new(), 1));
    }
    let mut labels = Vec::with_capacity(count);
    for sheet in 0..count {
        let Some(range) = ranges.iter().rev().find(|r| r.0 <= sheet) else {
            labels.push((sheet + 1).to_string());
            continue;
        };
        let n = range.3 + (sheet - range.0) as i64;
        let body = match range.1.as_str() {
            "D" => n.to_string(),
            "R" => roman(n).to_uppercase(),
            "r" => roman(n),
            "A" => letters(n).to_uppercase(),
            "a" => letters(n),
            _ => String::new(),
        };
        let label = format!("{}{}", range.2, body);
        labels.push(if label.is_empty() {
            (sheet + 1).to_string()
        } else {
            label
        });
    }
    labels
}

fn collect_label_ranges(
    doc: &Document,
    node: &lopdf::Dictionary,
    out: &mut Vec<(usize, String, String, i64)>,
    depth: usize,
) {
    if depth > 8 {
        return;
    }
    if let Ok(Object::Array(nums)) = node.get(b"Nums").and_then(|o| Ok(doc.dereference(o)?.1)) {
        for pair in nums.chunks(2) {
            let [start, dict] = pair else { continue };
            let Ok(start) = start.as_i64() else { continue };
            let Ok((_, dict)) = doc.dereference(dict) else {
                continue;
            };
            let Ok(dict) = dict.as_dict() else { continue };
            let style = dict
                .get(b"S")
                .ok()
                .and_then(|s| s.as_name().ok())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .unwrap_or_default();
            let prefix = dict
                .get(b"P")
                .ok()
                .and_then(|p| lopdf::decode_text_string(p).ok())
                .unwrap_or_default();
            let first = dict
                .get(b"St")
                .ok()
                .and_then(|s| s.as_i64().ok())
                .unwrap_or(1);
            if let Ok(start) = usize::try_from(start) {
                out.push((start, style, prefix, first.max(1)));
            }
        }
    }
    if let Ok(Object::Array(kids)) = node.get(b"Kids").and_then(|o| Ok(doc.dereference(o)?.1)) {
        for kid in kids {
            if let Ok((_, Object::Dictionary(kid))) = doc.dereference(kid) {
                collect_label_ranges(doc, kid, out, depth + 1);
            }
        }
    }
}

fn roman(mut n: i64) -> String {
    if !(1..5000).contains(&n) {
        return n.to_string();
    }
    let table = [
        (1000, "m"),
        (900, "cm"),
        (500, "d"),
        (400, "cd"),
        (100, "c"),
        (90, "xc"),
        (50, "l"),
        (40, "xl"),
        (10, "x"),
        (9, "ix"),
        (5, "v"),
        (4, "iv"),
        (1, "i"),
    ];
    let mut out = String::new();
    for (value, digits) in table {
        while n >= value {
            out.push_str(digits);
            n -= value;
        }
    }
    out
}

/// a, b, …, z, aa, bb, … as PDF page labels count.
fn letters(n: i64) -> String {
    if n < 1 {
        return n.to_string();
    }
    let n = (n - 1) as usize;
    let letter = char::from(b'a' + (n % 26) as u8);
    std::iter::repeat_n(letter, n / 26 + 1).collect()
}

/// Groups a page's glyphs into lines, splitting at wide gaps, and orders them: top to bottom,
/// or column by column when the page is set in two columns.
fn page_lines(page: &Collector, sheet: u32) -> Vec<Line> {
    let mut glyphs: Vec<&Glyph> = page.glyphs.iter().filter(|g| !g.text.is_empty()).collect();
    glyphs.sort_by(|a, b| a.y.total_cmp(&b.y));
    // Rows: glyphs whose baselines are within a fraction of their size.
    let mut rows: Vec<Vec<&Glyph>> = Vec::new();
    for g in glyphs {
        match rows.last_mut() {
            Some(row) if (g.y - row[0].y).abs() < 0.45 * g.size.max(row[0].size) => row.push(g),
            _ => rows.push(vec![g]),
        }
    }
    let mut pieces: Vec<Line> = Vec::new();
    for mut row in rows {
        row.sort_by(|a, b| a.x.total_cmp(&b.x));
        let mut current: Option<Line> = None;
        for g in row {
            if let Some(line) = current.as_mut() {
                let gap = g.x - line.x1;
                // A wide gap, or a narrower one across the middle of the page: the gutter
                // between two columns (LaTeX's is one em).
                let mid = page.width / 2.0;
                let gutter = gap > 0.7 * g.size && line.x1 < mid + g.size && g.x > mid - g.size;
                if gap > 2.0 * g.size.max(line.size) || gutter {
                    pieces.extend(current.take());
                } else if gap < -0.5 * g.size {
                    // Overdrawn glyph (bold by double printing, shadow): keep the first.
                    continue;
                } else {
                    if gap > 0.12 * g.size && !line.text.ends_with(' ') && g.text != " " {
                        line.text.push(' ');
                    }
                    line.text.push_str(&g.text);
                    line.x1 = line.x1.max(g.end);
                    line.size = line.size.max(g.size);
                    continue;
                }
            }
            if g.text.trim().is_empty() {
                continue;
            }
            current = Some(Line {
                x0: g.x,
                x1: g.end,
                y: g.y,
                size: g.size,
                text: g.text.clone(),
                sheet,
                column: 0,
            });
        }
        pieces.extend(current);
    }
    for p in &mut pieces {
        p.text = normalise(&p.text);
    }
    pieces.retain(|p| !p.text.is_empty());
    order_columns(pieces, page.width)
}

/// A page of contents: most of its lines are words then a page number.
fn is_contents_page(lines: &[Line]) -> bool {
    let entries = lines
        .iter()
        .filter(|l| {
            let words: Vec<&str> = l.text.split_whitespace().collect();
            words.len() >= 2
                && words.iter().any(|w| w.chars().any(char::is_alphabetic))
                && words.last().is_some_and(|w| {
                    w.chars().all(|c| c.is_ascii_digit())
                        || w.chars().all(|c| "ivxlcdm".contains(c))
                })
        })
        .count();
    lines.len() >= 4 && entries * 10 >= lines.len() * 6
}

/// A table-of-contents line: a title, dot leaders and a page number ("Preface . . . . iii").
fn is_contents_entry(text: &str) -> bool {
    let Some(last) = text.split_whitespace().last() else {
        return false;
    };
    let number =
        last.chars().all(|c| c.is_ascii_digit()) || last.chars().all(|c| "ivxlcdm".contains(c));
    let dots = text.matches(". .").count() + text.matches("..").count();
    number && dots >= 3
}

/// Reads a two-column page column by column: full-width lines above the columns first, then
/// the left column, the right one, and full-width lines below.
fn order_columns(mut pieces: Vec<Line>, width: f64) -> Vec<Line> {
    let mid = width / 2.0;
    let margin = width * 0.02;
    let left = pieces.iter().filter(|p| p.x1 <= mid + margin).count();
    let right = pieces.iter().filter(|p| p.x0 >= mid - margin).count();
    let spanning = pieces.len() - left - right;
    let two_columns = width > 0.0 && left >= 6 && right >= 6 && spanning * 4 <= pieces.len();
    if !two_columns {
        // Rejoin the pieces of each row (a table's cells, a gap inside a line).
        let mut lines: Vec<Line> = Vec::new();
        for p in pieces {
            match lines.last_mut() {
                Some(l) if (l.y - p.y).abs() < 0.45 * l.size.max(p.size) => {
                    l.text.push(' ');
                    l.text.push_str(&p.text);
                    l.x1 = l.x1.max(p.x1);
                }
                _ => lines.push(p),
            }
        }
        return lines;
    }
    let top = pieces
        .iter()
        .filter(|p| p.x1 <= mid + margin || p.x0 >= mid - margin)
        .map(|p| p.y)
        .fold(f64::INFINITY, f64::min);
    for p in &mut pieces {
        p.column = if p.x1 <= mid + margin {
            1
        } else if p.x0 >= mid - margin {
            2
        } else {
            0
        };
    }
    let rank = |p: &Line| match (p.column, p.y < top) {
        (0, true) => 0,
        (1, _) => 1,
        (2, _) => 2,
        _ => 3,
    };
    pieces.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.y.total_cmp(&b.y)));
    pieces
}

/// A line's text with digits and roman numerals folded, to match running heads and footers
/// whose page number changes.
fn furniture_key(text: &str) -> String {
    text.to_lowercase()
        .split_whitespace()
        .map(|w| {
            let number = w
                .chars()
                .all(|c| c.is_ascii_digit() || !c.is_alphanumeric());
            let roman = w.chars().all(|c| "ivxlcdm".contains(c)) && w.len() <= 6;
            if number || roman {
                "#"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a line is only a page number ("12", "- 12 -", "Page 12 of 40", "xii").
fn is_page_number(text: &str) -> bool {
    let key = furniture_key(text);
    let key = key.trim_start_matches("page").trim();
    !key.is_empty()
        && key
            .split_whitespace()
            .all(|w| w == "#" || w == "of" || w == "/" || w == "-" || w == "–" || w == "|")
}

/// Drops running heads, footers and page numbers: lines among the top two or bottom two of a
/// page that are a page number, or whose text (digits aside) stands at the top or bottom of
/// several pages in a font no larger than the body's (a chapter heading that opens several
/// pages at the same place is larger).
fn drop_furniture(lines: &mut Vec<Line>, sheets: usize, body: f64) {
    let mut by_sheet: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, l) in lines.iter().enumerate() {
        by_sheet.entry(l.sheet).or_default().push(i);
    }
    let edges = |idx: &Vec<usize>| -> Vec<usize> {
        let mut sorted = idx.clone();
        sorted.sort_by(|&a, &b| lines[a].y.total_cmp(&lines[b].y));
        let n = sorted.len();
        let mut e: Vec<usize> = sorted.iter().take(2).copied().collect();
        e.extend(sorted.iter().skip(n.saturating_sub(2)).copied());
        e.sort_unstable();
        e.dedup();
        e
    };
    let mut counts: HashMap<String, HashSet<u32>> = HashMap::new();
    for (sheet, idx) in &by_sheet {
        for i in edges(idx) {
            counts
                .entry(furniture_key(&lines[i].text))
                .or_default()
                .insert(*sheet);
        }
    }
    // Three pages of a longer document, two of a short one.
    let needed = if sheets >= 6 { 3 } else { 2 };
    let mut drop: HashSet<usize> = HashSet::new();
    for idx in by_sheet.values() {
        for i in edges(idx) {
            let l = &lines[i];
            let repeated = counts
                .get(&furniture_key(&l.text))
                .is_some_and(|s| s.len() >= needed);
            if is_page_number(&l.text) || (repeated && sheets >= 2 && l.size <= body * 1.1) {
                drop.insert(i);
            }
        }
    }
    let mut i = 0;
    lines.retain(|_| {
        i += 1;
        !drop.contains(&(i - 1))
    });
}

/// A heading line or a paragraph, in reading order.
#[derive(Debug)]
enum Item {
    Heading { text: String, size: f64, sheet: u32 },
    Para(RawParagraph),
}

/// The most common value, rounded to half points, weighted by text length.
fn body_size(lines: &[Line]) -> f64 {
    let mut weights: HashMap<i64, usize> = HashMap::new();
    for l in lines {
        *weights.entry((l.size * 2.0).round() as i64).or_default() += l.text.len();
    }
    weights
        .into_iter()
        .max_by_key(|&(size, w)| (w, -size))
        .map(|(s, _)| s as f64 / 2.0)
        .unwrap_or(10.0)
}

/// Per (sheet, column): the left margin (most common start of body lines) and the right one.
fn margins(lines: &[Line], body: f64) -> HashMap<(u32, u8), (f64, f64)> {
    let mut starts: HashMap<(u32, u8), Vec<f64>> = HashMap::new();
    let mut ends: HashMap<(u32, u8), Vec<f64>> = HashMap::new();
    for l in lines.iter().filter(|l| (l.size - body).abs() < 0.6) {
        starts.entry((l.sheet, l.column)).or_default().push(l.x0);
        ends.entry((l.sheet, l.column)).or_default().push(l.x1);
    }
    let mut out = HashMap::new();
    for (key, xs) in starts {
        let mut counts: HashMap<i64, usize> = HashMap::new();
        for x in &xs {
            *counts.entry(x.round() as i64).or_default() += 1;
        }
        let left = counts
            .into_iter()
            .max_by_key(|&(x, n)| (n, -x))
            .map(|(x, _)| x as f64)
            .unwrap_or(0.0);
        let mut right = ends.remove(&key).unwrap_or_default();
        right.sort_by(f64::total_cmp);
        let r = right.get(right.len() * 9 / 10).copied().unwrap_or(left);
        out.insert(key, (left, r));
    }
    out
}

/// Rebuilds headings and paragraphs from the lines of the whole document.
fn assemble(lines: &[Line]) -> Vec<Item> {
    let body = body_size(lines);
    let margins = margins(lines, body);
    let vocabulary = hyphenated_words(lines);
    // Typical distance between consecutive body lines.
    let mut gaps: Vec<f64> = lines
        .windows(2)
        .filter(|w| w[0].sheet == w[1].sheet && w[0].column == w[1].column)
        .map(|w| w[1].y - w[0].y)
        .filter(|g| *g > 0.0)
        .collect();
    gaps.sort_by(f64::total_cmp);
    let spacing = gaps
        .get(gaps.len() / 3)
        .copied()
        .unwrap_or(body * 1.2)
        .max(body);
    // Where the text block usually ends: a page whose text stops clearly above that ended
    // with its paragraph (the next one did not fit).
    let mut bottoms: Vec<f64> = lines
        .windows(2)
        .filter(|w| w[0].sheet != w[1].sheet || w[0].column != w[1].column)
        .map(|w| w[0].y)
        .collect();
    bottoms.sort_by(f64::total_cmp);
    let bottom = bottoms
        .get(bottoms.len() / 2)
        .copied()
        .unwrap_or(f64::INFINITY);
    let mut items: Vec<Item> = Vec::new();
    let mut para: Option<RawParagraph> = None;
    let mut prev: Option<&Line> = None;
    // Room left at the end of the previous line when it ended a sentence (None otherwise);
    // infinite before the first line and after a heading.
    let mut prev_room: Option<f64> = Some(f64::INFINITY);
    let mut prev_heading = false;
    for (i, line) in lines.iter().enumerate() {
        let (left, right) = margins
            .get(&(line.sheet, line.column))
            .copied()
            .unwrap_or((line.x0, line.x1));
        let next = lines.get(i + 1);
        let same_block = |a: &Line, b: &Line| a.sheet == b.sheet && a.column == b.column;
        let gap_before = prev.filter(|p| same_block(p, line)).map(|p| line.y - p.y);
        let gap_after = next.filter(|n| same_block(line, n)).map(|n| n.y - line.y);
        let big = line.size >= body * 1.15 && line.text.split_whitespace().count() <= 14;
        let isolated = gap_before.is_none_or(|g| g > spacing * 1.45)
            && gap_after.is_none_or(|g| g > spacing * 1.45)
            && line.x1 < right - 2.0 * body;
        let numbered = line.text.split_whitespace().next().is_some_and(|w| {
            w.trim_end_matches(['.', ')'])
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
                || matches!(
                    w.to_lowercase().as_str(),
                    "chapter" | "part" | "section" | "book"
                )
        });
        let heading = big
            || (isolated
                && looks_like_heading(&line.text)
                && line.text.split_whitespace().count() <= 10
                && (numbered || is_title_case(&line.text)));
        if heading {
            items.extend(para.take().map(Item::Para));
            // A heading set on two lines: the same size, or a label line above its title.
            let continues_heading = prev_heading
                && prev.is_some_and(|p| {
                    p.sheet == line.sheet
                        && line.y - p.y < 3.0 * line.size.max(p.size)
                        && (is_label(&p.text) || ((p.size - line.size).abs() < 0.6 && !numbered))
                });
            match items.last_mut() {
                // A heading set on two lines ("Chapter 3" / "The Soviets").
                Some(Item::Heading { text, size, .. }) if continues_heading => {
                    // "Chapter 3: The Soviets", but a title wrapped onto a second line reads on.
                    text.push_str(if is_label(text) { ": " } else { " " });
                    text.push_str(&line.text);
                    *size = size.max(line.size);
                }
                _ => items.push(Item::Heading {
                    text: line.text.clone(),
                    size: line.size,
                    sheet: line.sheet,
                }),
            }
            prev_heading = true;
            prev = Some(line);
            prev_room = Some(f64::INFINITY);
            continue;
        }
        let indented = line.x0 > left + 0.8 * body && line.x0 < left + 6.0 * body;
        let prev_indented = prev.is_some_and(|p| {
            let (pl, _) = margins
                .get(&(p.sheet, p.column))
                .copied()
                .unwrap_or((p.x0, p.x1));
            p.x0 > pl + 0.8 * body
        });
        // The previous line ended its paragraph if it ended a sentence and this line's first
        // word would have fitted after it: a writer's line breaks early only at a paragraph's
        // end, whether the text is justified or ragged.
        let first_word = line
            .text
            .split_whitespace()
            .next()
            .map_or(0, |w| w.chars().count());
        let prev_short =
            prev_room.is_some_and(|room| room > (first_word as f64 + 1.0) * 0.5 * line.size);
        let starts = match (para.as_ref(), gap_before) {
            (None, _) => true,
            (Some(_), Some(g)) => g > spacing * 1.45 || (indented && !prev_indented) || prev_short,
            // First line of a new page or column: continue unless it opens a paragraph.
            (Some(_), None) => {
                (indented && !prev_indented)
                    || prev_short
                    || prev.is_some_and(|p| p.y < bottom - 1.2 * spacing)
            }
        };
        if starts {
            items.extend(para.take().map(Item::Para));
            para = Some(RawParagraph {
                text: String::new(),
                subheading: None,
                pages: vec![PageMark {
                    offset: 0,
                    sheet: line.sheet,
                }],
            });
        }
        if let Some(p) = para.as_mut() {
            if !p.text.is_empty() {
                join_line(&mut p.text);
            }
            if p.pages.last().is_some_and(|m| m.sheet != line.sheet) {
                p.pages.push(PageMark {
                    offset: p.text.len(),
                    sheet: line.sheet,
                });
            }
            p.text.push_str(&line.text);
        }
        let ends_sentence = line
            .text
            .trim_end_matches(['"', '”', '’', ')', '\''])
            .ends_with(['.', '!', '?', ':']);
        prev_room = ends_sentence.then_some(right - line.x1);
        prev_heading = false;
        prev = Some(line);
    }
    items.extend(para.take().map(Item::Para));
    for item in &mut items {
        if let Item::Para(p) = item {
            p.text = resolve_breaks(&p.text, &vocabulary, &mut p.pages);
        }
    }
    items.retain(|i| match i {
        Item::Para(p) => p.text.chars().any(char::is_alphanumeric),
        Item::Heading { .. } => true,
    });
    items
}

/// A heading's label line: "Chapter 3", "Part II", "12".
fn is_label(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    let number = |w: &str| {
        let w = w.trim_end_matches(['.', ':']);
        !w.is_empty()
            && (w.chars().all(|c| c.is_ascii_digit()) || w.chars().all(|c| "IVXLCDM".contains(c)))
    };
    match words.as_slice() {
        [n] => number(n),
        [word, n] => {
            matches!(
                word.to_lowercase().as_str(),
                "chapter" | "part" | "book" | "section" | "lecture" | "letter"
            ) && number(n)
        }
        _ => false,
    }
}

/// Title Case: most words of four letters or more start with a capital.
fn is_title_case(text: &str) -> bool {
    let long: Vec<&str> = text
        .split_whitespace()
        .filter(|w| w.chars().count() >= 4)
        .collect();
    !long.is_empty()
        && long
            .iter()
            .filter(|w| w.chars().next().is_some_and(char::is_uppercase))
            .count()
            * 3
            >= long.len() * 2
}

/// Joins the next line onto a paragraph: a line-end hyphen between letters becomes a
/// [`BREAK`] mark for [`resolve_breaks`], otherwise a space.
fn join_line(text: &mut String) {
    let mut chars = text.chars().rev();
    let last = chars.next();
    let before = chars.next();
    match (last, before) {
        (Some('-' | '\u{2010}' | '\u{AD}'), Some(b)) if b.is_alphabetic() => {
            text.pop();
            text.push(BREAK);
        }
        _ => text.push(' '),
    }
}

/// Lowercase words the document spells with a hyphen inside a line ("working-class"), to tell
/// a real hyphen broken at a line end from a word split for the line.
fn hyphenated_words(lines: &[Line]) -> HashSet<String> {
    let mut out = HashSet::new();
    for l in lines {
        for w in l.text.split_whitespace() {
            let w = w.trim_matches(|c: char| !c.is_alphanumeric());
            if let Some(i) = w.find('-') {
                if i > 0 && i + 1 < w.len() {
                    out.insert(w.to_lowercase());
                }
            }
        }
    }
    out
}

/// Decides each [`BREAK`]: the hyphen comes back when the document writes that word with a
/// hyphen elsewhere, or when the next part starts with a capital or digit ("anti-" / "Soviet");
/// otherwise the two parts are one word. Page marks after a break shift with the text.
fn resolve_breaks(text: &str, hyphenated: &HashSet<String>, pages: &mut [PageMark]) -> String {
    if !text.contains(BREAK) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut shifts: Vec<(usize, isize)> = Vec::new(); // (old offset, delta after it)
    let mut delta: isize = 0;
    let mut rest = text;
    let mut consumed = 0usize;
    while let Some(i) = rest.find(BREAK) {
        let before = &rest[..i];
        let after = &rest[i + BREAK.len_utf8()..];
        let head = before
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("");
        let head = head.trim_start_matches(|c: char| !c.is_alphanumeric());
        let tail: String = after.chars().take_while(|c| c.is_alphanumeric()).collect();
        let joined_with_hyphen = format!("{head}-{tail}").to_lowercase();
        // The document's own spelling first; then English: "revolutionary" is a word,
        // "twentyfive" is not while "twenty" and "five" are.
        let joined = format!("{head}{tail}").to_lowercase();
        let english = crate::search::lexicon::is_english_word;
        let keep = hyphenated.contains(&joined_with_hyphen)
            || after
                .chars()
                .next()
                .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
            || (!english(&joined)
                && english(&head.to_lowercase())
                && english(&tail.to_lowercase()));
        out.push_str(before);
        if keep {
            out.push('-');
            delta += 1 - BREAK.len_utf8() as isize;
        } else {
            delta -= BREAK.len_utf8() as isize;
        }
        consumed += i + BREAK.len_utf8();
        shifts.push((consumed, delta));
        rest = after;
    }
    out.push_str(rest);
    for mark in pages.iter_mut() {
        let d = shifts
            .iter()
            .rev()
            .find(|(at, _)| *at <= mark.offset)
            .map_or(0, |(_, d)| *d);
        mark.offset = (mark.offset as isize + d).max(0) as usize;
    }
    out
}

/// Sections from the outline: each entry (chapters and their sections) starts a section at its
/// heading on its page, or at the top of that page when no heading there matches.
fn sections_from_outline(
    items: Vec<Item>,
    outline: &[(u32, String)],
) -> Vec<(String, Vec<RawParagraph>)> {
    let key = |t: &str| -> String {
        t.to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric())
            .collect()
    };
    let mut out: Vec<(String, Vec<RawParagraph>)> = Vec::new();
    let mut current = (crate::corpus::INTRODUCTION.to_string(), Vec::new());
    let mut next = 0;
    let mut sub: Option<String> = None;
    for item in items {
        let sheet = match &item {
            Item::Heading { sheet, .. } => *sheet,
            Item::Para(p) => p.pages.first().map_or(0, |m| m.sheet),
        };
        // Entries whose page is already behind us start here.
        while next < outline.len() && outline[next].0 < sheet {
            let title = outline[next].1.clone();
            out.push(std::mem::replace(&mut current, (title, Vec::new())));
            sub = None;
            next += 1;
        }
        match item {
            Item::Heading { text, .. } => {
                let k = key(&text);
                let matched = (next..outline.len())
                    .take_while(|&j| outline[j].0 == sheet)
                    .find(|&j| {
                        let t = key(&outline[j].1);
                        !t.is_empty() && (k.contains(&t) || t.contains(&k))
                    });
                if let Some(j) = matched {
                    for (_, title) in &outline[next..j] {
                        out.push(std::mem::replace(&mut current, (title.clone(), Vec::new())));
                    }
                    let title = outline[j].1.clone();
                    out.push(std::mem::replace(&mut current, (title, Vec::new())));
                    sub = None;
                    next = j + 1;
                } else {
                    sub = Some(text);
                }
            }
            Item::Para(mut p) => {
                p.subheading = sub.clone();
                current.1.push(p);
            }
        }
    }
    out.push(current);
    out.retain(|s| !s.1.is_empty());
    out
}

/// Sections from headings found in the text; without any, runs of [`PAGES_PER_SECTION`]
/// pages titled by their page range.
fn sections_from_headings(
    items: Vec<Item>,
    labels: &[String],
    title: &str,
) -> Vec<(String, Vec<RawParagraph>)> {
    let has_headings = items
        .iter()
        .any(|i| matches!(i, Item::Heading { text, .. } if text != title));
    let mut out: Vec<(String, Vec<RawParagraph>)> = Vec::new();
    if has_headings {
        let mut current = (crate::corpus::INTRODUCTION.to_string(), Vec::new());
        for item in items {
            match item {
                Item::Heading { text, .. }
                    if text == title && current.1.is_empty() && out.is_empty() => {}
                Item::Heading { text, .. } => {
                    out.push(std::mem::replace(&mut current, (text, Vec::new())));
                }
                Item::Para(p) => current.1.push(p),
            }
        }
        out.push(current);
        out.retain(|s| !s.1.is_empty());
        return out;
    }
    let range = |first: usize| {
        let last = (first + PAGES_PER_SECTION - 1).min(labels.len().saturating_sub(1));
        let label = |i: usize| {
            labels
                .get(i)
                .cloned()
                .unwrap_or_else(|| (i + 1).to_string())
        };
        if first == last {
            format!("p. {}", label(first))
        } else {
            format!("pp. {}–{}", label(first), label(last))
        }
    };
    for item in items {
        let Item::Para(p) = item else { continue };
        let sheet = p.pages.first().map_or(0, |m| m.sheet as usize);
        let first = sheet / PAGES_PER_SECTION * PAGES_PER_SECTION;
        let title = range(first);
        match out.last_mut() {
            Some((t, paras)) if *t == title => paras.push(p),
            _ => out.push((title, vec![p])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_end_hyphens_join_unless_the_document_keeps_them() {
        let hyphenated: HashSet<String> = ["working-class".to_string()].into();
        let mut pages = vec![
            PageMark {
                offset: 0,
                sheet: 0,
            },
            PageMark {
                offset: 31,
                sheet: 1,
            },
        ];
        let text = format!("the revolu{BREAK}tionary working{BREAK}class party");
        let out = resolve_breaks(&text, &hyphenated, &mut pages);
        assert_eq!(out, "the revolutionary working-class party");
        assert_eq!(&out[pages[1].offset..], "class party");
    }

    #[test]
    fn page_numbers_and_labels() {
        assert!(is_page_number("12"));
        assert!(is_page_number("- 12 -"));
        assert!(is_page_number("Page 3 of 10"));
        assert!(is_page_number("xii"));
        assert!(!is_page_number("12 workers came"));
        assert_eq!(roman(14), "xiv");
        assert_eq!(letters(28), "bb");
        assert_eq!(
            furniture_key("The Harbour Lights 17"),
            furniture_key("The Harbour Lights 18")
        );
    }
}
