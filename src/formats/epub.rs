//! EPUB 2 and 3 e-books, read by `rbook`: chapters in spine order, titled from the navigation
//! document (EPUB 3) or the NCX (EPUB 2); each chapter's headings make sections and its
//! paragraphs passages, with note markers and notes left out (see [`super::html`]).

use std::collections::HashMap;
use std::io::Cursor;

use super::html::{self, Block};
use super::zipped::Archive;
use super::{stem_title, FormatError, ParsedDocument};

pub(crate) fn parse(bytes: &[u8], stem: &str) -> Result<ParsedDocument, FormatError> {
    let bytes = Archive::open(bytes, "EPUB")?.into_bytes();
    let corrupt = |detail: String| FormatError::Corrupt {
        format: "EPUB".into(),
        detail,
    };
    let epub = rbook::Epub::options()
        .strict(false)
        .read(Cursor::new(bytes))
        .map_err(|e| corrupt(e.to_string()))?;
    let title = epub
        .metadata()
        .title()
        .map(|t| super::normalise(t.value()))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| stem_title(stem));
    // Chapter titles by file: the first table-of-contents entry pointing into each file.
    let mut labels: HashMap<String, String> = HashMap::new();
    if let Some(contents) = epub.toc().contents() {
        for entry in contents.flatten() {
            let Some(href) = entry.href() else { continue };
            let path = href.path().as_str().to_string();
            let label = super::normalise(entry.label());
            if !label.is_empty() {
                labels.entry(path).or_insert(label);
            }
        }
    }
    let mut doc = ParsedDocument {
        title,
        ..ParsedDocument::default()
    };
    let mut chapter = 0;
    for item in epub.spine().iter() {
        if !item.is_linear() {
            continue;
        }
        let Some(entry) = item.manifest_entry() else {
            continue;
        };
        if entry.properties().has_property("nav") {
            continue;
        }
        let Ok(xhtml) = entry.read_str() else {
            doc.warnings.push(format!(
                "{} could not be read and is left out",
                entry.href()
            ));
            continue;
        };
        let (_, blocks) = html::blocks(&xhtml);
        if !blocks.iter().any(|b| matches!(b, Block::Para(_))) {
            continue;
        }
        chapter += 1;
        let path = entry.href().path().as_str().to_string();
        let lead = labels.get(&path).cloned().unwrap_or_else(|| {
            blocks
                .iter()
                .find_map(|b| match b {
                    Block::Heading(_, t) => Some(t.clone()),
                    Block::Para(_) => None,
                })
                .unwrap_or_else(|| format!("Chapter {chapter}"))
        });
        for section in html::sections(&blocks, &lead, 1) {
            doc.push_section(section);
        }
    }
    Ok(doc)
}
