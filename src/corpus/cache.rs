//! The parsed corpus kept on disk next to the stored index, so that starting on an unchanged
//! large corpus does not parse it again.
//!
//! Parsing a 60 MB corpus (sections, passages, citations) took 0.5–0.8 s of every start while
//! reopening its index took 5 ms (BENCHMARKS.md). The cache file holds what [`Corpus`] holds,
//! in a small binary format written here (strings and integers; no new dependency, and every
//! field is checked while reading), keyed by the same SHA-256 content hash that decides whether
//! the stored index is rebuilt.
//!
//! Trust, in order:
//! 1. The file must be whole: magic, format number and a CRC-32 of the payload; every length
//!    and index is bounds-checked while decoding. Anything else is a corrupt cache: it is
//!    ignored and rewritten, never trusted, never a panic.
//! 2. If every corpus file has the same name, size, modification and change times (and inode)
//!    as recorded, the cache is used without reading the corpus. Stamps are only recorded
//!    for files last changed more than [`RACY_WINDOW`] before the cache was written, so an
//!    edit within the same file-system timestamp tick cannot go unnoticed (the "racily clean"
//!    problem git also guards against).
//! 3. Otherwise the corpus is read and hashed; if the hash matches, the cached parse is used
//!    (and the stamps refreshed); if not, the corpus is parsed and the cache rewritten.
//!
//! Writes go to a temporary file renamed over the old one, so a reader never sees half a file.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{content_hash, corpus_files, read_sources, Corpus, Document, Passage, Section};
use crate::error::{Error, Result};

/// File name of the cache inside the data directory.
pub const CACHE_FILE: &str = "corpus.cache";
const MAGIC: &[u8; 8] = b"SBCORPUS";
/// Bump when the layout below or the parser's output changes: an older cache is then rebuilt.
const FORMAT: u32 = 3;
/// Files changed this recently when the cache is written get no stamps (see the module doc).
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// How [`load`] obtained the corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    /// The corpus is under the size limit: parsed, no cache involved.
    NotCached,
    /// The cache was used without reading the corpus files (same stamps).
    Reused,
    /// The files' stamps changed but not their contents: cached parse used, stamps refreshed.
    Revalidated,
    /// No usable cache (missing, corrupt or stale): parsed, and the cache written.
    Rebuilt,
}

/// What identifies one corpus file's version without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    name: String,
    len: u64,
    /// Modification and change times (seconds, nanoseconds), inode and device; zero where the
    /// platform does not have them.
    times: [i64; 4],
    ino: u64,
    dev: u64,
}

fn stamp(path: &Path) -> Result<Stamp> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    #[cfg(unix)]
    let (times, ino, dev) = {
        use std::os::unix::fs::MetadataExt;
        (
            [
                meta.mtime(),
                meta.mtime_nsec(),
                meta.ctime(),
                meta.ctime_nsec(),
            ],
            meta.ino(),
            meta.dev(),
        )
    };
    #[cfg(not(unix))]
    let (times, ino, dev) = {
        let since = |t: std::io::Result<SystemTime>| {
            t.ok()
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .unwrap_or_default()
        };
        let m = since(meta.modified());
        (
            [m.as_secs() as i64, i64::from(m.subsec_nanos()), 0, 0],
            0,
            0,
        )
    };
    Ok(Stamp {
        name: super::file_name(path),
        len: meta.len(),
        times,
        ino,
        dev,
    })
}

/// Whether a file's last change is old enough, at `now`, for its stamp to be trusted later.
fn settled(stamp: &Stamp, now: SystemTime) -> bool {
    let latest = stamp.times[0].max(stamp.times[2]);
    let Ok(latest) = u64::try_from(latest) else {
        return false;
    };
    let changed = SystemTime::UNIX_EPOCH + Duration::from_secs(latest.saturating_add(1));
    changed + RACY_WINDOW <= now
}

/// Loads the corpus of `dir`, through the cache at `cache` when the corpus has at least
/// `min_bytes` bytes (the size from which its index is stored too).
pub fn load(dir: &Path, cache: &Path, min_bytes: u64) -> Result<(Corpus, CacheUse)> {
    let files = corpus_files(dir)?;
    let stamps = files.iter().map(|f| stamp(f)).collect::<Result<Vec<_>>>()?;
    if stamps.iter().map(|s| s.len).sum::<u64>() < min_bytes {
        return Ok((Corpus::load(dir)?, CacheUse::NotCached));
    }
    let mut cached = read(cache).ok();
    if cached
        .as_ref()
        .is_some_and(|c| c.stamps.as_ref() == Some(&stamps))
    {
        if let Some(corpus) = cached.take().and_then(|c| c.into_corpus(dir)) {
            return Ok((corpus, CacheUse::Reused));
        }
    }
    let sources = read_sources(&files)?;
    let hash = content_hash(&sources);
    if let Some(c) = cached.filter(|c| c.hash == hash) {
        let old_stamps = c.stamps.clone();
        if let Some(corpus) = c.into_corpus(dir) {
            let stamps = trusted(stamps, SystemTime::now());
            if stamps.is_some() && stamps != old_stamps {
                write_or_warn(cache, &corpus, stamps.as_deref());
            }
            return Ok((corpus, CacheUse::Revalidated));
        }
    }
    let corpus = Corpus::parse_sources(dir, &sources, hash);
    if corpus.passages.is_empty() {
        return Err(Error::CorpusEmpty(dir.to_path_buf(), corpus.refusals()));
    }
    write_or_warn(
        cache,
        &corpus,
        trusted(stamps, SystemTime::now()).as_deref(),
    );
    Ok((corpus, CacheUse::Rebuilt))
}

/// The stamps, if every file has settled (see [`settled`]).
fn trusted(stamps: Vec<Stamp>, now: SystemTime) -> Option<Vec<Stamp>> {
    stamps.iter().all(|s| settled(s, now)).then_some(stamps)
}

/// A cache that cannot be written costs the next start a parse, nothing more.
fn write_or_warn(cache: &Path, corpus: &Corpus, stamps: Option<&[Stamp]>) {
    if let Err(e) = write(cache, corpus, stamps) {
        tracing::warn!("could not write the corpus cache: {e}");
    }
}

fn write(cache: &Path, corpus: &Corpus, stamps: Option<&[Stamp]>) -> Result<()> {
    let io = |context: &str| {
        let context = format!("{context} {}", cache.display());
        move |source| Error::Io { context, source }
    };
    let payload = encode(corpus, stamps);
    let mut file = Vec::with_capacity(payload.len() + 24);
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(&FORMAT.to_le_bytes());
    file.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    file.extend_from_slice(&payload);
    if let Some(parent) = cache.parent() {
        std::fs::create_dir_all(parent).map_err(io("creating the folder of"))?;
    }
    let mut tmp = cache.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, &file).map_err(io("writing"))?;
    std::fs::rename(&tmp, cache).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io("replacing")(e)
    })
}

/// The decoded cache file.
#[derive(Debug)]
struct Cached {
    stamps: Option<Vec<Stamp>>,
    hash: String,
    bytes: u64,
    documents: Vec<Document>,
    passages: Vec<Passage>,
    files: Vec<super::FileReport>,
}

/// Why a cache file was not used (only ever logged).
#[derive(Debug)]
enum Invalid {
    Missing,
    Corrupt,
}

fn read(cache: &Path) -> std::result::Result<Cached, Invalid> {
    let file = std::fs::read(cache).map_err(|_| Invalid::Missing)?;
    let cached = decode_file(&file);
    if cached.is_err() {
        tracing::info!("corpus cache {} is corrupt; rebuilding it", cache.display());
    }
    cached
}

fn decode_file(file: &[u8]) -> std::result::Result<Cached, Invalid> {
    let mut r = Reader { buf: file, pos: 0 };
    let magic = r.take(8).ok_or(Invalid::Corrupt)?;
    let format = r.u32().ok_or(Invalid::Corrupt)?;
    let crc = r.u32().ok_or(Invalid::Corrupt)?;
    let len = r.u64().ok_or(Invalid::Corrupt)?;
    if magic != MAGIC || format != FORMAT {
        return Err(Invalid::Corrupt);
    }
    let payload = r.take(usize::try_from(len).map_err(|_| Invalid::Corrupt)?);
    match payload {
        Some(p) if r.pos == file.len() && crc32fast::hash(p) == crc => {
            decode(p).ok_or(Invalid::Corrupt)
        }
        _ => Err(Invalid::Corrupt),
    }
}

impl Cached {
    /// The corpus, if the decoded parts are consistent with each other.
    fn into_corpus(self, dir: &Path) -> Option<Corpus> {
        let corpus = Corpus {
            dir: dir.to_path_buf(),
            documents: self.documents,
            passages: self.passages,
            hash: self.hash,
            bytes: self.bytes,
            files: self.files,
        };
        consistent(&corpus).then_some(corpus)
    }
}

/// Whether every passage points at an existing section and paragraph and every section's
/// passage range at its own passages: what citations and neighbours index without checking.
fn consistent(corpus: &Corpus) -> bool {
    let passages_ok = corpus.passages.iter().enumerate().all(|(i, p)| {
        p.id == i
            && corpus
                .documents
                .get(p.doc)
                .and_then(|d| d.sections.get(p.section.wrapping_sub(1)))
                .is_some_and(|s| {
                    s.passages.contains(&i)
                        && p.paragraph >= 1
                        && p.paragraph <= p.paragraph_end
                        && p.paragraph_end <= s.paragraphs.len()
                })
    });
    let sections_ok = corpus.documents.iter().enumerate().all(|(d, doc)| {
        doc.sections.iter().enumerate().all(|(n, s)| {
            s.number == n + 1
                && s.passages.start <= s.passages.end
                && s.passages.end <= corpus.passages.len()
                && corpus.passages[s.passages.clone()]
                    .iter()
                    .all(|p| p.doc == d && p.section == s.number)
        })
    });
    !corpus.passages.is_empty() && passages_ok && sections_ok
}

// Encoding: little-endian u64 integers, strings as length + UTF-8 bytes, options as a 0/1 tag.
// A passage's text is usually its paragraph's text, which the section already holds: it is
// then stored as tag 0 instead of a second copy (half the file at 60 MB).

struct Writer(Vec<u8>);

impl Writer {
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn usize(&mut self, v: usize) {
        self.u64(v as u64);
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.usize(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.0.push(0),
            Some(s) => {
                self.0.push(1);
                self.str(s);
            }
        }
    }
}

fn encode(corpus: &Corpus, stamps: Option<&[Stamp]>) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(corpus.bytes as usize / 2 + 1024));
    w.str(&corpus.hash);
    w.u64(corpus.bytes);
    match stamps {
        None => w.0.push(0),
        Some(stamps) => {
            w.0.push(1);
            w.usize(stamps.len());
            for s in stamps {
                w.str(&s.name);
                w.u64(s.len);
                for t in s.times {
                    w.i64(t);
                }
                w.u64(s.ino);
                w.u64(s.dev);
            }
        }
    }
    w.usize(corpus.documents.len());
    for doc in &corpus.documents {
        w.str(&doc.file);
        w.str(&doc.title);
        w.opt_str(doc.date.as_deref());
        w.str(doc.format.name());
        w.usize(doc.page_labels.len());
        for label in &doc.page_labels {
            w.str(label);
        }
        w.usize(doc.sections.len());
        for s in &doc.sections {
            w.str(&s.title);
            w.usize(s.passages.start);
            w.usize(s.passages.end);
            w.usize(s.paragraphs.len());
            for p in &s.paragraphs {
                w.str(p);
            }
        }
    }
    w.usize(corpus.passages.len());
    for p in &corpus.passages {
        for v in [
            p.doc,
            p.section,
            p.paragraph,
            p.paragraph_end,
            p.part,
            p.parts,
        ] {
            w.usize(v);
        }
        let paragraph = corpus
            .section_of(p)
            .paragraphs
            .get(p.paragraph.wrapping_sub(1));
        if paragraph == Some(&p.text) {
            w.0.push(0);
        } else {
            w.0.push(1);
            w.str(&p.text);
        }
        w.opt_str(p.context.as_deref());
        w.opt_str(p.speaker.as_deref());
        match p.pages {
            None => w.0.push(0),
            Some((first, last)) => {
                w.0.push(1);
                w.u64(u64::from(first));
                w.u64(u64::from(last));
            }
        }
    }
    // The per-file reports are small and free-form: JSON inside the binary frame.
    w.str(&serde_json::to_string(&corpus.files).unwrap_or_else(|_| "[]".into()));
    w.0
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn usize(&mut self) -> Option<usize> {
        usize::try_from(self.u64()?).ok()
    }
    /// A count of items that each take at least `min_bytes`: bounded by what is left, so a
    /// corrupt count cannot make a huge allocation.
    fn count(&mut self, min_bytes: usize) -> Option<usize> {
        let n = self.usize()?;
        (n.checked_mul(min_bytes)? <= self.buf.len() - self.pos).then_some(n)
    }
    fn str(&mut self) -> Option<String> {
        let n = self.usize()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    fn opt_str(&mut self) -> Option<Option<String>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.str()?)),
            _ => None,
        }
    }
}

fn decode(payload: &[u8]) -> Option<Cached> {
    let mut r = Reader {
        buf: payload,
        pos: 0,
    };
    let hash = r.str()?;
    let bytes = r.u64()?;
    let stamps = match r.u8()? {
        0 => None,
        1 => {
            let n = r.count(8)?;
            let mut stamps = Vec::with_capacity(n);
            for _ in 0..n {
                stamps.push(Stamp {
                    name: r.str()?,
                    len: r.u64()?,
                    times: [r.i64()?, r.i64()?, r.i64()?, r.i64()?],
                    ino: r.u64()?,
                    dev: r.u64()?,
                });
            }
            Some(stamps)
        }
        _ => return None,
    };
    let n = r.count(8)?;
    let mut documents = Vec::with_capacity(n);
    for _ in 0..n {
        let file = r.str()?;
        let title = r.str()?;
        let date = r.opt_str()?;
        let format = crate::formats::Format::by_name(&r.str()?);
        let n = r.count(8)?;
        let mut page_labels = Vec::with_capacity(n);
        for _ in 0..n {
            page_labels.push(r.str()?);
        }
        let n = r.count(8)?;
        let mut sections = Vec::with_capacity(n);
        for number in 1..=n {
            let title = r.str()?;
            let passages = r.usize()?..r.usize()?;
            let n = r.count(8)?;
            let mut paragraphs = Vec::with_capacity(n);
            for _ in 0..n {
                paragraphs.push(r.str()?);
            }
            sections.push(Section {
                number,
                title,
                paragraphs,
                passages,
            });
        }
        documents.push(Document {
            file,
            title,
            date,
            sections,
            format: format?,
            page_labels,
        });
    }
    let n = r.count(8)?;
    let mut passages = Vec::with_capacity(n);
    for id in 0..n {
        let [doc, section, paragraph, paragraph_end, part, parts] = [
            r.usize()?,
            r.usize()?,
            r.usize()?,
            r.usize()?,
            r.usize()?,
            r.usize()?,
        ];
        let text = match r.u8()? {
            0 => documents
                .get(doc)?
                .sections
                .get(section.checked_sub(1)?)?
                .paragraphs
                .get(paragraph.checked_sub(1)?)?
                .clone(),
            1 => r.str()?,
            _ => return None,
        };
        passages.push(Passage {
            id,
            doc,
            section,
            paragraph,
            paragraph_end,
            part,
            parts,
            text,
            context: r.opt_str()?,
            speaker: r.opt_str()?,
            pages: match r.u8()? {
                0 => None,
                1 => Some((u32::try_from(r.u64()?).ok()?, u32::try_from(r.u64()?).ok()?)),
                _ => return None,
            },
        });
    }
    let files = serde_json::from_str(&r.str()?).ok()?;
    (r.pos == payload.len()).then_some(Cached {
        stamps,
        hash,
        bytes,
        documents,
        passages,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        std::fs::copy(
            root.join("corpus/russia-october-1917.txt"),
            dir.path().join("doc.txt"),
        )
        .expect("copy corpus");
        std::fs::write(
            dir.path().join("notes.md"),
            "# Notes\n\n## Land\n\nThe peasants took the land.\n\n## Bread\n\nThere was no bread:\n\n\"None at all,\" he said.\n",
        )
        .expect("write notes");
        dir
    }

    /// Rewrites the cache with the files' current stamps, as a start long after the last
    /// edit would have.
    fn settle(dir: &Path, cache: &Path) {
        let (corpus, _) = load(dir, cache, 0).expect("load");
        let files = corpus_files(dir).expect("files");
        let stamps: Vec<Stamp> = files.iter().map(|f| stamp(f).expect("stamp")).collect();
        write(cache, &corpus, Some(&stamps)).expect("write");
    }

    #[test]
    fn unchanged_corpus_is_served_from_the_cache() {
        let dir = corpus_dir();
        let data = tempfile::tempdir().expect("temp dir");
        let cache = data.path().join(CACHE_FILE);
        let fresh = Corpus::load(dir.path()).expect("parse");
        let (first, how) = load(dir.path(), &cache, 0).expect("load");
        assert_eq!(how, CacheUse::Rebuilt);
        assert_eq!(first, fresh);
        // Files just written are too recent for their stamps, so the content hash decides
        // (unless the machine was slow enough for them to settle in between).
        let (second, how) = load(dir.path(), &cache, 0).expect("load");
        assert!(
            matches!(how, CacheUse::Revalidated | CacheUse::Reused),
            "{how:?}"
        );
        assert_eq!(second, fresh);
        settle(dir.path(), &cache);
        let (third, how) = load(dir.path(), &cache, 0).expect("load");
        assert_eq!(how, CacheUse::Reused);
        assert_eq!(third, fresh);
    }

    #[test]
    fn small_corpus_is_not_cached() {
        let dir = corpus_dir();
        let data = tempfile::tempdir().expect("temp dir");
        let cache = data.path().join(CACHE_FILE);
        let (_, how) = load(dir.path(), &cache, u64::MAX).expect("load");
        assert_eq!(how, CacheUse::NotCached);
        assert!(!cache.exists());
    }

    #[test]
    fn edited_corpus_is_parsed_again_even_with_the_same_size() {
        let dir = corpus_dir();
        let data = tempfile::tempdir().expect("temp dir");
        let cache = data.path().join(CACHE_FILE);
        settle(dir.path(), &cache);
        let notes = dir.path().join("notes.md");
        let text = std::fs::read_to_string(&notes).expect("read");
        std::fs::write(&notes, text.replace("bread", "flour")).expect("edit");
        let (edited, how) = load(dir.path(), &cache, 0).expect("load");
        assert_eq!(how, CacheUse::Rebuilt);
        assert_eq!(edited, Corpus::load(dir.path()).expect("parse"));
        assert!(edited.passages.iter().any(|p| p.text.contains("no flour")));
    }

    #[test]
    fn touched_corpus_is_revalidated_by_content() {
        let dir = corpus_dir();
        let data = tempfile::tempdir().expect("temp dir");
        let cache = data.path().join(CACHE_FILE);
        settle(dir.path(), &cache);
        let notes = dir.path().join("notes.md");
        let file = std::fs::File::options()
            .write(true)
            .open(&notes)
            .expect("open");
        file.set_modified(SystemTime::now()).expect("touch");
        let (corpus, how) = load(dir.path(), &cache, 0).expect("load");
        assert_eq!(how, CacheUse::Revalidated);
        assert_eq!(corpus, Corpus::load(dir.path()).expect("parse"));
    }

    #[test]
    fn corrupt_cache_is_rebuilt_not_trusted() {
        let dir = corpus_dir();
        let data = tempfile::tempdir().expect("temp dir");
        let cache = data.path().join(CACHE_FILE);
        let fresh = Corpus::load(dir.path()).expect("parse");
        settle(dir.path(), &cache);
        let good = std::fs::read(&cache).expect("read cache");
        let mut flipped = good.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x20;
        let damaged: Vec<Vec<u8>> = vec![
            flipped,
            good[..good.len() / 3].to_vec(),
            Vec::new(),
            b"not a cache at all".to_vec(),
            [good.as_slice(), b"trailing"].concat(),
        ];
        for bytes in damaged {
            std::fs::write(&cache, &bytes).expect("damage");
            let (corpus, how) = load(dir.path(), &cache, 0).expect("load");
            assert_eq!(how, CacheUse::Rebuilt);
            assert_eq!(corpus, fresh);
            assert!(decode_file(&std::fs::read(&cache).expect("reread")).is_ok());
        }
    }

    #[test]
    fn inconsistent_payload_is_rejected() {
        let dir = corpus_dir();
        let mut corpus = Corpus::load(dir.path()).expect("parse");
        // A passage pointing past its section's paragraphs, with a valid checksum.
        if let Some(p) = corpus.passages.last_mut() {
            p.paragraph_end = 10_000;
            p.text.push('!');
        }
        let payload = encode(&corpus, None);
        let cached = decode(&payload).expect("decodes");
        assert!(cached.into_corpus(dir.path()).is_none());
    }
}
