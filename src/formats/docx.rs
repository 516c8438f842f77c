//! Word documents (DOCX), read straight from their XML with `zip` and `quick-xml`: Heading 1–3
//! styles make sections, body paragraphs passages, tables one passage per row. Footnotes,
//! comments and tracked deletions are left out (they live in other parts or in `w:del`);
//! tracked insertions are kept, as Word shows them.
//!
//! A reader of our own over two small, well-specified XML parts, rather than a DOCX crate:
//! the crates that read DOCX build a full document model for writing, and none reads style
//! inheritance more simply than the few lines below.

use std::collections::HashMap;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::html::{self, Block};
use super::zipped::Archive;
use super::{normalise, stem_title, FormatError, ParsedDocument};

/// The "level" of title-page paragraphs (subtitle, author, date), which are not read.
const METADATA: u8 = u8::MAX;

fn corrupt(detail: impl ToString) -> FormatError {
    FormatError::Corrupt {
        format: "Word (DOCX)".into(),
        detail: detail.to_string(),
    }
}

/// The value of attribute `key` (matched by local name, e.g. `val` for `w:val`).
fn attr(e: &quick_xml::events::BytesStart, key: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find_map(|a| (a.key.local_name().as_ref() == key).then(|| a.value.to_string()))
}

/// Heading levels by style id, from `word/styles.xml`: styles named "heading N" (any case, as
/// Word names them whatever the display language), styles with an outline level, and styles
/// based on either.
fn heading_styles(xml: &[u8]) -> HashMap<String, u8> {
    let mut reader = Reader::from_reader(xml);
    let mut levels: HashMap<String, u8> = HashMap::new();
    let mut based: HashMap<String, String> = HashMap::new();
    let mut current: Option<String> = None;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => match e.local_name().as_ref() {
                "style" => current = attr(&e, "styleId"),
                "name" => {
                    if let (Some(id), Some(name)) = (&current, attr(&e, "val")) {
                        let name = name.to_ascii_lowercase();
                        if let Some(n) = name
                            .strip_prefix("heading ")
                            .and_then(|n| n.parse::<u8>().ok())
                        {
                            levels.insert(id.clone(), n);
                        } else if name == "title" {
                            levels.insert(id.clone(), 0);
                        } else if matches!(
                            name.as_str(),
                            "subtitle" | "author" | "date" | "abstract title"
                        ) {
                            levels.insert(id.clone(), METADATA);
                        }
                    }
                }
                "basedOn" => {
                    if let (Some(id), Some(base)) = (&current, attr(&e, "val")) {
                        based.insert(id.clone(), base);
                    }
                }
                "outlineLvl" => {
                    if let (Some(id), Some(l)) =
                        (&current, attr(&e, "val").and_then(|v| v.parse::<u8>().ok()))
                    {
                        levels.entry(id.clone()).or_insert(l + 1);
                    }
                }
                _ => {}
            },
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
        buf.clear();
    }
    for (id, base) in &based {
        if !levels.contains_key(id) {
            if let Some(&l) = levels.get(base) {
                levels.insert(id.clone(), l);
            }
        }
    }
    levels
}

/// The document title from `docProps/core.xml`, if set.
fn core_title(xml: &[u8]) -> Option<String> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut inside = false;
    let mut title = String::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) if e.local_name().as_ref() == "title" => inside = true,
            Ok(Event::End(e)) if e.local_name().as_ref() == "title" => break,
            Ok(Event::Text(t)) if inside => title.push_str(&t),
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
        buf.clear();
    }
    let title = normalise(&title);
    (!title.is_empty()).then_some(title)
}

pub(crate) fn parse(bytes: &[u8], stem: &str) -> Result<ParsedDocument, FormatError> {
    let mut archive = Archive::open(bytes, "Word (DOCX)")?;
    let body = archive
        .read("word/document.xml")?
        .ok_or_else(|| corrupt("it has no word/document.xml"))?;
    let styles = archive
        .read("word/styles.xml")?
        .map(|s| heading_styles(&s))
        .unwrap_or_default();
    let mut title = archive
        .read("docProps/core.xml")?
        .and_then(|c| core_title(&c));
    let blocks = body_blocks(&body, &styles)?;
    let mut rest = Vec::with_capacity(blocks.len());
    for block in blocks {
        match block {
            Block::Heading(0, t) if title.is_none() => title = Some(t),
            Block::Heading(0, _) => {}
            b => rest.push(b),
        }
    }
    let mut doc = ParsedDocument {
        title: title.unwrap_or_else(|| stem_title(stem)),
        ..ParsedDocument::default()
    };
    for section in html::sections(&rest, crate::corpus::INTRODUCTION, 3) {
        doc.push_section(section);
    }
    Ok(doc)
}

/// Walks `word/document.xml`: paragraphs with their heading level, table rows as one block.
fn body_blocks(xml: &[u8], styles: &HashMap<String, u8>) -> Result<Vec<Block>, FormatError> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut blocks = Vec::new();
    let mut para = String::new();
    let mut level: Option<u8> = None;
    let mut in_text = false;
    let mut deleted = 0usize; // depth inside <w:del>
    let mut table = 0usize; // depth inside <w:tbl>
    let mut row: Vec<String> = Vec::new();
    let mut cell = String::new();
    loop {
        let event = reader.read_event_into(&mut buf).map_err(corrupt)?;
        match event {
            Event::Start(e) => match e.local_name().as_ref() {
                "p" => {
                    para.clear();
                    level = None;
                }
                "t" => in_text = deleted == 0,
                "del" | "moveFrom" => deleted += 1,
                "tbl" => table += 1,
                "tr" if table == 1 => row.clear(),
                "tc" if table == 1 => cell.clear(),
                _ => {}
            },
            Event::Empty(e) => match e.local_name().as_ref() {
                "pStyle" => {
                    level = attr(&e, "val").and_then(|v| {
                        styles.get(&v).copied().or_else(|| {
                            // Documents without styles.xml still name headings "Heading1".
                            v.strip_prefix("Heading").and_then(|n| n.parse().ok())
                        })
                    });
                }
                "tab" | "br" | "cr" => para.push(' '),
                _ => {}
            },
            Event::Text(t) if in_text => {
                para.push_str(&t);
            }
            Event::GeneralRef(r) if in_text => {
                // Character and entity references between text events.
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    para.push(c);
                } else {
                    if let Some(s) = quick_xml::escape::resolve_xml_entity(&r) {
                        para.push_str(s);
                    }
                }
            }
            Event::End(e) => match e.local_name().as_ref() {
                "t" => in_text = false,
                "del" | "moveFrom" => deleted = deleted.saturating_sub(1),
                "p" => {
                    let text = normalise(&para);
                    para.clear();
                    if table > 0 {
                        if !text.is_empty() {
                            if !cell.is_empty() {
                                cell.push(' ');
                            }
                            cell.push_str(&text);
                        }
                    } else if text.chars().any(char::is_alphanumeric) {
                        match level {
                            Some(METADATA) => {}
                            Some(l) if l <= 3 => blocks.push(Block::Heading(l, text)),
                            _ => blocks.push(Block::Para(text)),
                        }
                    }
                }
                "tc" if table == 1 => row.push(std::mem::take(&mut cell)),
                "tr" if table == 1 => {
                    let cells: Vec<&str> = row
                        .iter()
                        .map(String::as_str)
                        .filter(|c| !c.is_empty())
                        .collect();
                    if !cells.is_empty() {
                        blocks.push(Block::Para(cells.join(" | ")));
                    }
                }
                "tbl" => table = table.saturating_sub(1),
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(blocks)
}
