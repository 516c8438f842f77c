//! Cutting long things into pages a chat can show: a section into pages of about
//! [`PAGE_CHARS`] characters (`/read`), and the table of contents into pages of
//! [`TOC_PAGE_SECTIONS`] sections (`/sections`), so that neither a message nor its keyboard
//! grows with the size of the text.

use crate::corpus::text::sentences;
use crate::engine::TocEntry;

/// Characters of section text shown per `/read` page.
pub const PAGE_CHARS: usize = 2500;

/// Sections listed (and offered as buttons) per `/sections` page: ten rows of two buttons, far
/// under Telegram's 100 buttons and 4096 characters even with long titles.
pub const TOC_PAGE_SECTIONS: usize = 20;

/// Splits a section's paragraphs into pages of about [`PAGE_CHARS`] characters, splitting an
/// over-long paragraph at sentence boundaries (its pieces keep the paragraph number).
pub fn paginate(paragraphs: &[String]) -> Vec<Vec<(usize, String)>> {
    let mut pieces: Vec<(usize, String)> = Vec::new();
    for (i, p) in paragraphs.iter().enumerate() {
        if p.chars().count() <= PAGE_CHARS {
            pieces.push((i + 1, p.clone()));
            continue;
        }
        let mut current = String::new();
        for r in sentences(p) {
            let s = p.get(r).unwrap_or_default();
            if !current.is_empty() && current.chars().count() + s.chars().count() > PAGE_CHARS {
                pieces.push((i + 1, std::mem::take(&mut current)));
            }
            if !current.is_empty() {
                current.push(' ');
            }
            // A single sentence longer than a page is cut at a character boundary.
            if s.chars().count() > PAGE_CHARS {
                let cut: String = s.chars().take(PAGE_CHARS - 1).collect();
                current.push_str(&cut);
                current.push('…');
            } else {
                current.push_str(s);
            }
        }
        if !current.is_empty() {
            pieces.push((i + 1, current));
        }
    }
    let mut pages: Vec<Vec<(usize, String)>> = Vec::new();
    let mut size = 0;
    for piece in pieces {
        let len = piece.1.chars().count();
        match pages.last_mut() {
            Some(page) if size + len <= PAGE_CHARS => {
                page.push(piece);
                size += len;
            }
            _ => {
                pages.push(vec![piece]);
                size = len;
            }
        }
    }
    if pages.is_empty() {
        pages.push(Vec::new());
    }
    pages
}

/// The table of contents in pages of [`TOC_PAGE_SECTIONS`] sections (at least one page).
pub fn toc_pages(toc: Vec<TocEntry>) -> Vec<Vec<TocEntry>> {
    let mut pages: Vec<Vec<TocEntry>> = Vec::new();
    let mut rest = toc.into_iter().peekable();
    while rest.peek().is_some() {
        pages.push(rest.by_ref().take(TOC_PAGE_SECTIONS).collect());
    }
    if pages.is_empty() {
        pages.push(Vec::new());
    }
    pages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_hold_whole_paragraphs_and_split_long_ones() {
        let paragraphs = vec![
            "Short.".to_string(),
            "A sentence here. ".repeat(400),
            "End.".to_string(),
        ];
        let pages = paginate(&paragraphs);
        assert!(pages.len() >= 3);
        for page in &pages {
            let chars: usize = page.iter().map(|p| p.1.chars().count()).sum();
            assert!(chars <= PAGE_CHARS);
        }
        assert_eq!(pages[0][0], (1, "Short.".to_string()));
        assert_eq!(pages.last().unwrap().last().unwrap().0, 3);
    }

    #[test]
    fn the_table_of_contents_pages_hold_a_fixed_number_of_sections() {
        let entry = |n: usize| TocEntry {
            doc: 0,
            document: "Doc".into(),
            number: n,
            title: format!("Section {n}"),
            paragraphs: 1,
        };
        let pages = toc_pages((1..=45).map(entry).collect());
        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![20, 20, 5]);
        assert_eq!(pages[2][0].number, 41);
        assert_eq!(toc_pages(Vec::new()).len(), 1);
    }
}
