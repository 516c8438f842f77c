//! Reading documents: bytes and a file name in, a [`ParsedDocument`] out.
//!
//! Study groups read PDFs, e-books, Word files and saved web pages as well as plain text and
//! Markdown. Every format ends in the same shape (title, sections, paragraphs, and for paged
//! formats the page each paragraph stands on), so the corpus, the index and the citations
//! never know which format a text came in, nor where its bytes came from (a folder today, a
//! chat upload tomorrow).
//!
//! Binary formats are parsed by third-party code on untrusted input; [`sandbox`] runs them in a
//! child process with time and memory limits, so a parser that panics, loops or eats memory
//! costs one file, never the bot.

mod docx;
mod epub;
mod html;
mod pdf;
pub mod progress;
pub mod sandbox;
mod zipped;

use serde::{Deserialize, Serialize};

/// Bump when any binary format's reader changes its output: cached extractions made by an
/// older reader are then ignored and the file parsed again.
pub const EXTRACT_VERSION: u32 = 1;

/// Files larger than this are refused before parsing (a 1,000-page book PDF is 5–30 MB).
pub const MAX_FILE_BYTES: u64 = 200 * 1024 * 1024;

/// The formats studybot reads, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Plain text (`.txt`).
    Text,
    /// Markdown (`.md`, `.markdown`).
    Markdown,
    /// PDF with a text layer.
    Pdf,
    /// EPUB 2 or 3 e-book.
    Epub,
    /// Word document (Office Open XML).
    Docx,
    /// A web page (`.html`, `.htm`, `.xhtml`).
    Html,
}

impl Format {
    /// The format a file name's extension names, if studybot reads it.
    pub fn from_name(name: &str) -> Option<Format> {
        let ext = std::path::Path::new(name)
            .extension()?
            .to_str()?
            .to_ascii_lowercase();
        Some(match ext.as_str() {
            "txt" => Format::Text,
            "md" | "markdown" => Format::Markdown,
            "pdf" => Format::Pdf,
            "epub" => Format::Epub,
            "docx" => Format::Docx,
            "html" | "htm" | "xhtml" => Format::Html,
            _ => return None,
        })
    }

    /// Short lowercase name, as `studybot check` lists it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Markdown => "markdown",
            Format::Pdf => "pdf",
            Format::Epub => "epub",
            Format::Docx => "docx",
            Format::Html => "html",
        }
    }

    /// The format whose [`Format::name`] is `name`.
    pub fn by_name(name: &str) -> Option<Format> {
        [
            Format::Text,
            Format::Markdown,
            Format::Pdf,
            Format::Epub,
            Format::Docx,
            Format::Html,
        ]
        .into_iter()
        .find(|f| f.name() == name)
    }

    /// Whether third-party parsers read it (and so [`sandbox`] isolates it and caches the
    /// result): everything but plain text and Markdown.
    pub fn is_binary(self) -> bool {
        !matches!(self, Format::Text | Format::Markdown)
    }
}

/// The extensions studybot reads, for messages.
pub const EXTENSIONS: &str = ".txt, .md, .pdf, .epub, .docx and .html";

/// Where a page begins inside a paragraph's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageMark {
    /// Byte offset in the paragraph's text where this page's part begins.
    pub offset: usize,
    /// 0-based sheet (physical page) index, into [`ParsedDocument::page_labels`].
    pub sheet: u32,
}

/// A paragraph as a parser found it, before numbering.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawParagraph {
    /// The paragraph's text with markup removed.
    pub text: String,
    /// A heading the paragraph sits under inside its section (a Markdown `###`), if any.
    pub subheading: Option<String>,
    /// For paged formats, the sheets the paragraph stands on, first at offset 0; empty for
    /// unpaged formats.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<PageMark>,
}

/// A document as a parser found it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ParsedDocument {
    /// Document title.
    pub title: String,
    /// Date line under the title, if any.
    pub date: Option<String>,
    /// (section title, paragraphs) in order.
    pub sections: Vec<(String, Vec<RawParagraph>)>,
    /// The label a reader sees on each sheet ("xii", "233"), by 0-based sheet index; empty for
    /// unpaged formats.
    #[serde(default)]
    pub page_labels: Vec<String>,
    /// What a host should know about this file's reading (pages without text, say).
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl ParsedDocument {
    /// Appends a section unless it has no paragraphs.
    pub(crate) fn push_section(&mut self, section: (String, Vec<RawParagraph>)) {
        if !section.1.is_empty() {
            self.sections.push(section);
        }
    }

    /// Number of sheets, for paged formats.
    pub fn sheets(&self) -> Option<usize> {
        (!self.page_labels.is_empty()).then_some(self.page_labels.len())
    }
}

/// Why a file could not be read. Each is one line a host can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum FormatError {
    /// A PDF whose pages are images.
    #[error(
        "no text on {pages} of {pages} pages; it looks scanned, and studybot does not read images"
    )]
    Scanned {
        /// Number of pages.
        pages: usize,
    },
    /// An encrypted PDF that needs a password to open.
    #[error("it is encrypted with a password; save a copy without the password and add that")]
    Locked,
    /// Broken, truncated or not the format its name says.
    #[error("it is damaged or not a real {format} file ({detail})")]
    Corrupt {
        /// Format name.
        format: String,
        /// What the parser said.
        detail: String,
    },
    /// Bigger than the limits allow (file size, entries, inflated size, pages).
    #[error("it is too large to read safely ({detail})")]
    TooLarge {
        /// Which limit.
        detail: String,
    },
    /// A text file that is not UTF-8.
    #[error("it is not UTF-8 text; save it as UTF-8")]
    NotUtf8,
    /// Readable, but nothing in it is text.
    #[error("it has no text")]
    NoText,
    /// The parser crashed, ran out of time or memory.
    #[error("reading it failed ({detail})")]
    Failed {
        /// What happened to the reader.
        detail: String,
    },
}

/// Parses a document in this process. `name` is the file name (its extension picks the
/// format). Binary formats should go through [`sandbox::extract`] instead, which calls this in
/// a child process.
pub fn parse(bytes: &[u8], name: &str) -> Result<ParsedDocument, FormatError> {
    let Some(format) = Format::from_name(name) else {
        return Err(FormatError::Corrupt {
            format: "supported".into(),
            detail: format!("studybot reads {EXTENSIONS}"),
        });
    };
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(FormatError::TooLarge {
            detail: format!(
                "{} MB; the limit is {} MB",
                bytes.len() >> 20,
                MAX_FILE_BYTES >> 20
            ),
        });
    }
    let stem = std::path::Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let doc = match format {
        Format::Text | Format::Markdown => {
            let text = std::str::from_utf8(bytes).map_err(|_| FormatError::NotUtf8)?;
            let text = crate::corpus::text::clean_source(text);
            if format == Format::Markdown {
                crate::corpus::parse_markdown(&text, &stem)
            } else {
                crate::corpus::parse_plain(&text, &stem)
            }
        }
        Format::Pdf => pdf::parse(bytes, &stem)?,
        Format::Epub => epub::parse(bytes, &stem)?,
        Format::Docx => docx::parse(bytes, &stem)?,
        Format::Html => html::parse_page(bytes, &stem)?,
    };
    if format.is_binary() && doc.sections.iter().all(|(_, p)| p.is_empty()) {
        return Err(FormatError::NoText);
    }
    Ok(doc)
}

/// Collapses whitespace, turns compatibility characters (ligatures such as "ﬁ", full-width
/// letters, non-breaking spaces) into the plain letters a reader types, and trims.
pub(crate) fn normalise(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.nfkc() {
        if c.is_whitespace() || crate::corpus::text::is_zero_width(c) {
            if c.is_whitespace() {
                space = !out.is_empty();
            }
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
    }
    out
}

/// A title from a file stem when the document names none.
pub(crate) fn stem_title(stem: &str) -> String {
    crate::corpus::humanise_stem(stem)
}
