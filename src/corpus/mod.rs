//! The corpus: documents → sections → numbered paragraphs → passages.
//!
//! Passages are what the index searches and what answers cite. Their ids are positions in a
//! deterministic walk of the corpus, so the same files always give the same ids (callback
//! buttons keep working after a restart); a citation names document, section and paragraph.

pub mod cache;
mod markdown;
mod plain;
pub mod text;
mod warnings;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub use crate::formats::{Format, ParsedDocument, RawParagraph};
pub use plain::looks_like_heading;
pub use warnings::CorpusWarning;

/// Parses plain text (already cleaned by [`text::clean_source`]).
pub(crate) fn parse_plain(text: &str, stem: &str) -> ParsedDocument {
    plain::parse(text, stem)
}

/// Parses Markdown (already cleaned by [`text::clean_source`]).
pub(crate) fn parse_markdown(text: &str, stem: &str) -> ParsedDocument {
    markdown::parse(text, stem)
}

/// Title of the section holding text before a document's first heading.
pub const INTRODUCTION: &str = "Introduction";
/// Paragraphs longer than this many words are split into several passages.
pub const MAX_PASSAGE_WORDS: usize = 250;
/// A lead-in paragraph this short is merged with the quotation it introduces.
const MAX_LEAD_IN_WORDS: usize = 40;

/// One document of the corpus.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Document {
    /// File name inside the corpus folder.
    pub file: String,
    /// Title (the first line, the single `#` heading, or the file name).
    pub title: String,
    /// Date line, if the document has one.
    pub date: Option<String>,
    /// Sections in order; `number` is the position plus one.
    pub sections: Vec<Section>,
    /// The format the file was read as.
    pub format: Format,
    /// For paged formats, the label a reader sees on each sheet (by 0-based sheet index);
    /// empty for unpaged ones.
    pub page_labels: Vec<String>,
}

/// How one corpus file was read, for `studybot check` and `studybot index`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FileReport {
    /// File name inside the corpus folder.
    pub file: String,
    /// The format its extension names.
    pub format: Format,
    /// Number of pages, for paged formats.
    pub pages: Option<usize>,
    /// Number of sections and passages it gave (0 when refused).
    pub sections: usize,
    /// Number of passages it gave.
    pub passages: usize,
    /// What the reader noticed (pages without text, say).
    pub warnings: Vec<String>,
    /// Why the file was not read, when it was not.
    pub refused: Option<String>,
}

/// A section of a document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    /// 1-based section number within its document.
    pub number: usize,
    /// Heading text.
    pub title: String,
    /// Paragraph texts; paragraph n is `paragraphs[n - 1]`.
    pub paragraphs: Vec<String>,
    /// Global ids of the section's passages, in order.
    pub passages: std::ops::Range<usize>,
}

/// The unit of retrieval and citation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Passage {
    /// Global id: position in the corpus walk.
    pub id: usize,
    /// Index of the document in [`Corpus::documents`].
    pub doc: usize,
    /// 1-based section number.
    pub section: usize,
    /// 1-based paragraph number of the first paragraph in the passage.
    pub paragraph: usize,
    /// Last paragraph number (greater than `paragraph` when a lead-in was merged with its quote).
    pub paragraph_end: usize,
    /// Which part of a split paragraph this is (0-based), and how many parts there are.
    pub part: usize,
    /// Number of parts the paragraph was split into (1 when not split).
    pub parts: usize,
    /// The passage's text.
    pub text: String,
    /// Text that frames the passage without being part of it: the lead-in of a quotation or a
    /// Markdown subheading. Searched, not shown.
    pub context: Option<String>,
    /// Who is quoted, when the passage is a quotation with a named speaker.
    pub speaker: Option<String>,
    /// For paged formats, the first and last sheet (0-based) the passage's text stands on.
    pub pages: Option<(u32, u32)>,
}

/// All documents and their passages.
#[derive(Debug, Clone, PartialEq)]
pub struct Corpus {
    /// The folder the corpus came from.
    pub dir: PathBuf,
    /// Documents in file-name order.
    pub documents: Vec<Document>,
    /// Every passage, indexed by id.
    pub passages: Vec<Passage>,
    /// SHA-256 of file names and contents, to tell when a stored index is stale.
    pub hash: String,
    /// Total bytes of the files read.
    pub bytes: u64,
    /// Every corpus file, read or refused, in file-name order.
    pub files: Vec<FileReport>,
}

/// Turns a file stem like `field_notes-2020` into `Field notes 2020`.
pub fn humanise_stem(stem: &str) -> String {
    let spaced: String = stem
        .chars()
        .map(|c| if c == '_' || c == '-' { ' ' } else { c })
        .collect();
    let spaced = text::collapse_whitespace(&spaced);
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Untitled".to_string(),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The corpus files of `dir`: the files whose extension names a [`Format`] (not recursing
/// into subfolders), sorted by path.
fn corpus_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Err(Error::CorpusMissing(dir.to_path_buf()));
    }
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if Format::from_name(&file_name(&path)).is_some() && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// A corpus file's path and bytes.
pub type Source = (PathBuf, Vec<u8>);

/// Reads corpus files. A file larger than [`crate::formats::MAX_FILE_BYTES`] is read as empty
/// (and refused when parsed) rather than loaded into memory.
fn read_sources(files: &[PathBuf]) -> Result<Vec<Source>> {
    let mut sources = Vec::with_capacity(files.len());
    for path in files {
        let read_err = |source| Error::Read {
            path: path.clone(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read_err)?.len();
        let bytes = if len > crate::formats::MAX_FILE_BYTES {
            Vec::new()
        } else {
            std::fs::read(path).map_err(read_err)?
        };
        sources.push((path.clone(), bytes));
    }
    Ok(sources)
}

/// What the corpus's passages and the index's words are made by: bump it when the parsers,
/// [`text::clean_source`] or the analyser's words change, so that a stored index, the cached
/// parse and buttons carrying passage ids are never read against passages they were not made
/// from. Version 2: invisible fillers and odd line ends cleaned, fillers inside words joined.
/// Version 3: PDF, EPUB, DOCX and HTML files, and pages in passages.
const PARSE_VERSION: &str = "studybot-passages/3";

/// SHA-256 (hex) of [`PARSE_VERSION`] and the file names and contents, in order: what a
/// stored index and the cached parse are keyed by.
pub fn content_hash(sources: &[Source]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(PARSE_VERSION.as_bytes());
    hasher.update([0]);
    for (path, text) in sources {
        hasher.update(file_name(path).as_bytes());
        hasher.update([0]);
        hasher.update(text);
        hasher.update([0]);
    }
    let mut hash = String::with_capacity(64);
    for byte in hasher.finalize().iter() {
        let _ = write!(hash, "{byte:02x}");
    }
    hash
}

/// The [`content_hash`] of the corpus files of `dir`, and how many files there are: read and
/// hashed, not parsed. It is the hash a stored index and the cached parse are keyed by.
pub fn hash_dir(dir: &Path) -> Result<(String, usize)> {
    let sources = read_sources(&corpus_files(dir)?)?;
    Ok((content_hash(&sources), sources.len()))
}

impl Corpus {
    /// Loads every corpus file of `dir` (not recursing into subfolders). A file that cannot be
    /// read as its format is refused and listed in [`Corpus::files`]; the rest still load.
    pub fn load(dir: &Path) -> Result<Corpus> {
        let files = corpus_files(dir)?;
        let sources = read_sources(&files)?;
        let corpus = Corpus::from_sources(dir, &sources);
        if corpus.passages.is_empty() {
            return Err(Error::CorpusEmpty(dir.to_path_buf(), corpus.refusals()));
        }
        Ok(corpus)
    }

    /// Builds a corpus from (path, text) pairs; the extension picks the parser.
    pub fn from_texts(dir: &Path, sources: &[(PathBuf, String)]) -> Corpus {
        let sources: Vec<Source> = sources
            .iter()
            .map(|(p, t)| (p.clone(), t.as_bytes().to_vec()))
            .collect();
        Self::from_sources(dir, &sources)
    }

    /// Builds a corpus from (path, bytes) pairs; the extension picks the format.
    pub fn from_sources(dir: &Path, sources: &[Source]) -> Corpus {
        Self::parse_sources(dir, sources, content_hash(sources))
    }

    /// Parses sources whose [`content_hash`] is already known.
    fn parse_sources(dir: &Path, sources: &[Source], hash: String) -> Corpus {
        let mut corpus = Corpus {
            dir: dir.to_path_buf(),
            documents: Vec::new(),
            passages: Vec::new(),
            hash,
            bytes: 0,
            files: Vec::new(),
        };
        for (path, bytes) in sources {
            corpus.bytes += bytes.len() as u64;
            let name = file_name(path);
            let Some(format) = Format::from_name(&name) else {
                continue;
            };
            let parsed = if bytes.is_empty()
                && std::fs::metadata(path).is_ok_and(|m| m.len() > crate::formats::MAX_FILE_BYTES)
            {
                Err(crate::formats::FormatError::TooLarge {
                    detail: format!("the limit is {} MB", crate::formats::MAX_FILE_BYTES >> 20),
                })
            } else if format.is_binary() {
                crate::formats::sandbox::extract(&name, bytes)
            } else {
                crate::formats::parse(bytes, &name)
            };
            let mut report = FileReport {
                file: name.clone(),
                format,
                pages: None,
                sections: 0,
                passages: 0,
                warnings: Vec::new(),
                refused: None,
            };
            match parsed {
                Err(e) => {
                    tracing::warn!(file = %name, "not read: {e}");
                    report.refused = Some(e.to_string());
                }
                Ok(parsed) if parsed.sections.is_empty() => {
                    report.pages = parsed.sheets();
                    report.warnings = parsed.warnings;
                }
                Ok(parsed) => {
                    report.pages = parsed.sheets();
                    report.warnings = parsed.warnings.clone();
                    let first = corpus.passages.len();
                    corpus.add_document(name, format, parsed);
                    report.sections = corpus.documents.last().map_or(0, |d| d.sections.len());
                    report.passages = corpus.passages.len() - first;
                }
            }
            corpus.files.push(report);
        }
        corpus
    }

    fn add_document(&mut self, file: String, format: Format, parsed: ParsedDocument) {
        let doc_index = self.documents.len();
        let mut sections = Vec::new();
        for (number, (title, raw)) in parsed.sections.into_iter().enumerate() {
            let number = number + 1;
            let first = self.passages.len();
            let passages = build_passages(&raw);
            for p in passages {
                self.passages.push(Passage {
                    id: self.passages.len(),
                    doc: doc_index,
                    section: number,
                    ..p
                });
            }
            sections.push(Section {
                number,
                title,
                paragraphs: raw.into_iter().map(|p| p.text).collect(),
                passages: first..self.passages.len(),
            });
        }
        self.documents.push(Document {
            file,
            title: parsed.title,
            date: parsed.date,
            sections,
            format,
            page_labels: parsed.page_labels,
        });
    }

    /// The section a passage belongs to.
    pub fn section_of(&self, passage: &Passage) -> &Section {
        &self.documents[passage.doc].sections[passage.section - 1]
    }

    /// Looks up a section by document index and 1-based number.
    pub fn section(&self, doc: usize, number: usize) -> Option<&Section> {
        self.documents
            .get(doc)?
            .sections
            .get(number.checked_sub(1)?)
    }

    /// The citation of a passage: document, section number and title, paragraph.
    pub fn citation(&self, passage: &Passage) -> Citation {
        let doc = &self.documents[passage.doc];
        let section = self.section_of(passage);
        Citation {
            document: doc.title.clone(),
            section_number: section.number,
            section_title: section.title.clone(),
            paragraph: passage.paragraph,
            paragraph_end: passage.paragraph_end,
            speaker: passage.speaker.clone(),
            pages: passage
                .pages
                .map(|(first, last)| self.page_range_labels(passage.doc, first, last))
                .unwrap_or_default(),
        }
    }

    /// The passages before and after `id` within the same section.
    pub fn neighbours(&self, id: usize) -> (Option<&Passage>, Option<&Passage>) {
        let Some(p) = self.passages.get(id) else {
            return (None, None);
        };
        let range = &self.section_of(p).passages;
        let prev = (id > range.start).then(|| &self.passages[id - 1]);
        let next = (id + 1 < range.end).then(|| &self.passages[id + 1]);
        (prev, next)
    }

    /// For a paged text, the pages that paragraphs `first..=last` of `section` stand on:
    /// "p. 12" or "pp. 12–13"; `None` for unpaged texts.
    pub fn printed_pages(&self, section: &Section, first: usize, last: usize) -> Option<String> {
        let passages = self.passages.get(section.passages.clone())?;
        let mut sheets = passages
            .iter()
            .filter(|p| p.paragraph_end >= first && p.paragraph <= last)
            .filter_map(|p| p.pages);
        let (mut lo, mut hi) = sheets.next()?;
        for (a, b) in sheets {
            lo = lo.min(a);
            hi = hi.max(b);
        }
        let citation = Citation {
            pages: self.page_range_labels(passages.first()?.doc, lo, hi),
            ..self.citation(passages.first()?)
        };
        Some(citation.place())
    }

    fn page_range_labels(&self, doc: usize, first: u32, last: u32) -> Vec<String> {
        let labels = self.documents.get(doc).map(|d| &d.page_labels);
        let label = |s: u32| {
            labels
                .and_then(|l| l.get(s as usize))
                .cloned()
                .unwrap_or_else(|| (s + 1).to_string())
        };
        if first == last {
            vec![label(first)]
        } else {
            vec![label(first), label(last)]
        }
    }

    /// "file: why" for each refused file.
    pub fn refusals(&self) -> Vec<String> {
        self.files
            .iter()
            .filter_map(|f| Some(format!("{}: {}", f.file, f.refused.as_ref()?)))
            .collect()
    }

    /// Total number of sections in all documents.
    pub fn section_count(&self) -> usize {
        self.documents.iter().map(|d| d.sections.len()).sum()
    }
}

/// Where a passage comes from, ready to render.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Citation {
    /// Document title.
    pub document: String,
    /// 1-based section number.
    pub section_number: usize,
    /// Section title.
    pub section_title: String,
    /// First paragraph number.
    pub paragraph: usize,
    /// Last paragraph number.
    pub paragraph_end: usize,
    /// The quoted speaker, if the passage is a quotation.
    pub speaker: Option<String>,
    /// For paged texts, the page labels the passage stands on: one, or the first and last;
    /// empty for unpaged texts.
    pub pages: Vec<String>,
}

impl Citation {
    /// Section and place, without document or speaker: "§7 The Working Day, p. 233" for a
    /// paged text, "§4 Soviets, ¶2" otherwise (quiz explanations, where the text is known).
    pub fn short(&self) -> String {
        format!(
            "§{} {}, {}",
            self.section_number,
            self.section_title,
            self.place()
        )
    }

    /// "p. 233", "pp. 233–234", or for unpaged texts "¶2", "¶2–3". A reader with a printed
    /// copy finds a page; paragraph numbers of a paged text would be ours alone.
    pub fn place(&self) -> String {
        match self.pages.as_slice() {
            [page] => format!("p. {page}"),
            [first, last, ..] => format!("pp. {first}–{last}"),
            [] if self.paragraph_end > self.paragraph => {
                format!("¶{}–{}", self.paragraph, self.paragraph_end)
            }
            [] => format!("¶{}", self.paragraph),
        }
    }
}

impl std::fmt::Display for Citation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(speaker) = &self.speaker {
            write!(f, "{speaker}, quoted in ")?;
        }
        write!(
            f,
            "{}, §{} {}, {}",
            self.document,
            self.section_number,
            self.section_title,
            self.place()
        )
    }
}

fn opens_quotation(text: &str) -> bool {
    text.starts_with(['"', '“', '«'])
}

fn is_lead_in(text: &str) -> bool {
    text.trim_end().ends_with(':')
}

/// Verbs that introduce a quotation; the name just before one is the speaker.
const SPEECH_VERBS: &[&str] = &[
    "said",
    "says",
    "wrote",
    "writes",
    "described",
    "describes",
    "explained",
    "explains",
    "noted",
    "notes",
    "put",
    "puts",
    "recalled",
    "recalls",
    "declared",
    "declares",
    "argued",
    "argues",
    "stated",
    "states",
    "went",
    "added",
    "adds",
    "observed",
    "remarked",
    "summed",
    "told",
    "tells",
    "commented",
    "continued",
    "asked",
];

/// Finds who a lead-in paragraph quotes: a capitalised name before a speech verb, or, when the
/// lead-in says "he"/"she", the last full name mentioned before it.
pub fn speaker_of(lead_in: &str) -> Option<String> {
    let words: Vec<&str> = lead_in.split_whitespace().collect();
    let clean = |w: &str| {
        w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-')
            .trim_end_matches("'s")
            .to_string()
    };
    let is_name = |w: &str| {
        let w = clean(w);
        w.chars().next().is_some_and(char::is_uppercase)
            && w.chars()
                .skip(1)
                .all(|c| c.is_lowercase() || c == '-' || c == '\'')
            && w.len() > 1
    };
    // Search the last sentence first (it holds the lead-in proper), then the whole paragraph.
    let mut best: Option<String> = None;
    for (i, w) in words.iter().enumerate() {
        let verb = clean(w).to_lowercase();
        if !SPEECH_VERBS.contains(&verb.as_str()) || i == 0 {
            continue;
        }
        let mut j = i;
        // Allow "Trotsky then went on", "Lenin later wrote".
        if j >= 2
            && matches!(
                clean(words[j - 1]).as_str(),
                "then" | "later" | "also" | "once"
            )
        {
            j -= 1;
        }
        let mut name: Vec<String> = Vec::new();
        while j > 0 && is_name(words[j - 1]) && name.len() < 3 {
            // A sentence-initial word ("This", "So") is not a name unless more name follows.
            name.insert(0, clean(words[j - 1]));
            j -= 1;
            if words[j].ends_with(['.', ',', ';', ':']) {
                break;
            }
        }
        let name: Vec<String> = name
            .into_iter()
            .filter(|w| !COMMON_CAPITALISED.contains(&w.as_str()))
            .collect();
        if !name.is_empty() {
            best = Some(name.join(" "));
        } else if j > 0 && matches!(clean(words[j - 1]).to_lowercase().as_str(), "he" | "she") {
            best = last_full_name(&words[..j - 1]).or(best);
        }
    }
    best
}

/// Capitalised words that start sentences but are not names.
const COMMON_CAPITALISED: &[&str] = &[
    "This", "That", "These", "Those", "It", "He", "She", "They", "We", "So", "As", "And", "But",
    "Then", "Here", "There", "The", "A", "An", "In", "On", "How", "What", "Thus",
];

/// The last run of two or more capitalised words, read as a person's full name.
fn last_full_name(words: &[&str]) -> Option<String> {
    let mut best = None;
    let mut run: Vec<String> = Vec::new();
    for w in words.iter().chain(std::iter::once(&"end")) {
        let cleaned = w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-');
        let capital = cleaned.chars().next().is_some_and(char::is_uppercase)
            && cleaned.chars().skip(1).all(char::is_lowercase)
            && !COMMON_CAPITALISED.contains(&cleaned);
        if capital {
            run.push(cleaned.to_string());
        }
        if !capital || w.ends_with([',', '.', ';', ':']) {
            if run.len() >= 2 {
                best = Some(run.join(" "));
            }
            run.clear();
        }
    }
    best
}

/// Numbers paragraphs, splits long ones, and ties quotations to their lead-ins.
fn build_passages(raw: &[RawParagraph]) -> Vec<Passage> {
    let mut out = Vec::new();
    let mut lead_in: Option<(String, Option<String>)> = None; // (lead-in sentence, speaker)
    let mut merge_prefix: Option<(usize, String, Option<u32>)> = None; // (number, text, sheet)
    for (i, para) in raw.iter().enumerate() {
        let number = i + 1;
        let quoting = opens_quotation(&para.text);
        if !quoting {
            lead_in = None;
        }
        let next_quotes = raw.get(i + 1).is_some_and(|n| opens_quotation(&n.text));
        if is_lead_in(&para.text) && next_quotes {
            let sentences = text::sentences(&para.text);
            let last = sentences
                .last()
                .map(|r| para.text[r.clone()].to_string())
                .unwrap_or_default();
            lead_in = Some((last, speaker_of(&para.text)));
            if text::word_count(&para.text) <= MAX_LEAD_IN_WORDS {
                merge_prefix = Some((
                    number,
                    para.text.clone(),
                    para.pages.first().map(|m| m.sheet),
                ));
                continue;
            }
        }
        let (context, speaker) = match (&lead_in, quoting) {
            (Some((sentence, speaker)), true) => (Some(sentence.clone()), speaker.clone()),
            _ => (para.subheading.clone(), None),
        };
        let (first_number, body, lead_sheet, shift) = match merge_prefix.take() {
            Some((n, prefix, sheet)) => (
                n,
                format!("{prefix}\n\n{}", para.text),
                sheet,
                prefix.len() + 2,
            ),
            None => (number, para.text.clone(), None, 0),
        };
        let parts = split_long(&body);
        let count = parts.len();
        let mut start = 0usize;
        for (part, text) in parts.into_iter().enumerate() {
            // Parts are the paragraph's sentences in order, joined by one space.
            let end = start + text.len();
            let pages = sheets_between(
                &para.pages,
                start.saturating_sub(shift),
                end.saturating_sub(shift),
            )
            .map(|(first, last)| match lead_sheet {
                Some(lead) if part == 0 => (lead.min(first), last),
                _ => (first, last),
            });
            start = end + 1;
            out.push(Passage {
                id: 0,
                doc: 0,
                section: 0,
                paragraph: first_number,
                paragraph_end: number,
                part,
                parts: count,
                text,
                context: context.clone(),
                speaker: speaker.clone(),
                pages,
            });
        }
    }
    if let Some((n, prefix, sheet)) = merge_prefix {
        // A lead-in at the very end with nothing after it (cannot happen with next_quotes, but
        // keep the text rather than lose it).
        out.push(Passage {
            id: 0,
            doc: 0,
            section: 0,
            paragraph: n,
            paragraph_end: n,
            part: 0,
            parts: 1,
            text: prefix,
            context: None,
            speaker: None,
            pages: sheet.map(|s| (s, s)),
        });
    }
    out
}

/// The first and last sheet that bytes `start..end` of a paragraph stand on, from its page
/// marks; `None` for unpaged paragraphs.
fn sheets_between(
    marks: &[crate::formats::PageMark],
    start: usize,
    end: usize,
) -> Option<(u32, u32)> {
    let first = marks.first()?;
    let at = |offset: usize| {
        marks
            .iter()
            .take_while(|m| m.offset <= offset)
            .last()
            .unwrap_or(first)
            .sheet
    };
    Some((at(start), at(end.saturating_sub(1).max(start))))
}

/// Splits a paragraph longer than [`MAX_PASSAGE_WORDS`] into balanced runs of whole sentences.
pub fn split_long(paragraph: &str) -> Vec<String> {
    let total = text::word_count(paragraph);
    if total <= MAX_PASSAGE_WORDS {
        return vec![paragraph.to_string()];
    }
    let pieces = total.div_ceil(MAX_PASSAGE_WORDS);
    let target = total.div_ceil(pieces);
    let mut out = Vec::new();
    let mut current = String::new();
    let mut words = 0;
    for range in text::sentences(paragraph) {
        let sentence = &paragraph[range];
        let n = text::word_count(sentence);
        if words > 0 && words + n / 2 > target && out.len() + 1 < pieces {
            out.push(std::mem::take(&mut current));
            words = 0;
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(sentence);
        words += n;
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(texts: &[&str]) -> Vec<RawParagraph> {
        texts
            .iter()
            .map(|t| RawParagraph {
                text: t.to_string(),
                ..RawParagraph::default()
            })
            .collect()
    }

    #[test]
    fn long_paragraphs_split_on_sentences_and_keep_their_number() {
        let sentence = "This sentence has exactly ten words in it, you see. ";
        let long = sentence.repeat(60); // 600 words
        let passages = build_passages(&raw(&["Short one.", long.trim()]));
        assert_eq!(passages[0].paragraph, 1);
        let parts: Vec<_> = passages.iter().filter(|p| p.paragraph == 2).collect();
        assert_eq!(parts.len(), 3);
        for (i, p) in parts.iter().enumerate() {
            assert_eq!(p.part, i);
            assert_eq!(p.parts, 3);
            assert!(text::word_count(&p.text) <= MAX_PASSAGE_WORDS);
            assert!(p.text.ends_with("see."), "split mid-sentence: {}", p.text);
        }
    }

    #[test]
    fn short_lead_in_merges_with_its_quotation_and_names_the_speaker() {
        let passages = build_passages(&raw(&[
            "Some context about the Soviets.",
            "Reed then went on to describe the Petrograd Soviet as follows:",
            "\"It consisted of about 1200 deputies.",
            "\"It met every two weeks.\"",
            "Back to the narrative.",
        ]));
        assert_eq!(passages.len(), 4);
        let merged = &passages[1];
        assert_eq!((merged.paragraph, merged.paragraph_end), (2, 3));
        assert!(merged.text.starts_with("Reed then went on"));
        assert!(merged.text.contains("1200 deputies"));
        assert_eq!(merged.speaker.as_deref(), Some("Reed"));
        let second_quote = &passages[2];
        assert_eq!(second_quote.paragraph, 4);
        assert_eq!(second_quote.speaker.as_deref(), Some("Reed"));
        assert!(second_quote
            .context
            .as_deref()
            .unwrap()
            .contains("as follows"));
        assert_eq!(passages[3].speaker, None);
    }

    #[test]
    fn pronoun_lead_in_resolves_to_the_last_full_name() {
        let lead = "The American socialist John Reed arrived late in Russia, in September 1917, but early enough. This is how he described the Soviets:";
        assert_eq!(speaker_of(lead).as_deref(), Some("John Reed"));
        let lead = "This is how Trotsky described this period, in his \"History of the Russian Revolution\":";
        assert_eq!(speaker_of(lead).as_deref(), Some("Trotsky"));
        assert_eq!(speaker_of("Here is the list:"), None);
    }

    #[test]
    fn citation_reads_naturally() {
        let c = Citation {
            document: "Doc".into(),
            section_number: 4,
            section_title: "Soviets".into(),
            paragraph: 2,
            paragraph_end: 3,
            speaker: Some("John Reed".into()),
            pages: Vec::new(),
        };
        assert_eq!(c.to_string(), "John Reed, quoted in Doc, §4 Soviets, ¶2–3");
        let paged = Citation {
            pages: vec!["233".into(), "234".into()],
            speaker: None,
            ..c.clone()
        };
        assert_eq!(paged.to_string(), "Doc, §4 Soviets, pp. 233–234");
        assert_eq!(paged.short(), "§4 Soviets, pp. 233–234");
    }
}
