//! Passage vectors: computed once per corpus, kept on disk as int8, searched exactly.
//!
//! A corpus of any size gets semantic ranking, so its vectors must survive interruption and
//! fit in memory: a library of 90 000 passages takes many minutes to embed on a small server,
//! and its vectors would be 138 MB as f32. They are stored int8 with one scale per vector
//! (384 bytes + 4 per passage; cosines move by about 0.001), written in chunks of
//! [`CHUNK`] passages as they are computed, so that an interrupted `studybot index` or bot
//! start resumes at the first missing chunk. Every file (chunk or whole) carries the version
//! of what produced it, the content hash of the texts and a CRC, and is written to a
//! temporary name, synced and renamed: a reader sees a whole file or none.
//!
//! Search compares a question with every passage, exactly, through the same integer kernel
//! as the model (about 1 ms per 30 000 passages on one core): no approximate index to build,
//! tune or report recall for.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::kernel::{self, Int8Rows, QuantRows};
use super::{passage_input, MiniLm, DIMS};
use crate::corpus::Passage;
use crate::error::{Error, Result};

/// What produced the vectors: the model, its weights' and activations' precision, the input
/// each passage gives the model, and how vectors are quantised. Changes whenever any of these
/// would change a vector, so that no file from another producer is ever read.
const PRODUCER: &str =
    "all-MiniLM-L6-v2 int8-rows/i16-activations; passage = lead-in + text; vectors int8/row; v2";
/// File format of vector files (header layout below).
const MAGIC: &[u8; 8] = b"SBVECS2\n";
/// Passages per chunk file: about 400 KB, a few seconds of work on two cores.
pub const CHUNK: usize = 1024;
/// Vector files kept in the cache directory: the text in use and the last few before it, so
/// switching back to a recent text is quick while old ones don't pile up (388 bytes per
/// passage each). Files used within the last day are kept too: processes over several texts
/// may share one directory.
const KEPT_CACHE_FILES: usize = 3;
const KEPT_CACHE_SECS: u64 = 24 * 3600;

/// Unit vectors stored as int8 rows with one scale each.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PassageVectors {
    values: Vec<i8>,
    scales: Vec<f32>,
}

impl PassageVectors {
    /// Quantises f32 vectors of [`DIMS`] values (shorter or longer ones are cut or padded).
    pub fn from_f32(vectors: &[Vec<f32>]) -> PassageVectors {
        let mut out = PassageVectors::default();
        for v in vectors {
            out.push(v);
        }
        out
    }

    fn push(&mut self, v: &[f32]) {
        let max = v.iter().take(DIMS).fold(0.0_f32, |m, x| m.max(x.abs()));
        let (scale, inv) = if max > 0.0 && max.is_finite() {
            (max / 127.0, 127.0 / max)
        } else {
            (0.0, 0.0)
        };
        let start = self.values.len();
        self.values.resize(start + DIMS, 0);
        for (q, x) in self.values[start..].iter_mut().zip(v) {
            *q = kernel::round(x * inv).clamp(-127.0, 127.0) as i8;
        }
        self.scales.push(scale);
    }

    fn extend(&mut self, other: PassageVectors) {
        self.values.extend(other.values);
        self.scales.extend(other.scales);
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.scales.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.scales.is_empty()
    }

    /// The cosine of `query` (a unit vector) with every stored vector, in order.
    pub fn similarities(&self, query: &[f32]) -> Vec<f32> {
        let mut q = QuantRows::default();
        let mut padded = [0.0_f32; DIMS];
        padded.iter_mut().zip(query).for_each(|(p, x)| *p = *x);
        q.quantize(&padded, DIMS);
        let mut out = vec![0.0; self.len()];
        let rows = Int8Rows {
            rows: self.len(),
            cols: DIMS,
            values: &self.values,
            scales: &self.scales,
        };
        kernel::matmul(&q, &rows, None, &mut out);
        out
    }
}

/// The `k` best scores, best first (ties: lower index first), with their indices.
pub fn nearest(scores: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut best: Vec<(usize, f32)> = Vec::with_capacity(k + 1);
    if k == 0 {
        return best;
    }
    for (i, &s) in scores.iter().enumerate() {
        if best.len() == k && best.last().is_none_or(|w| s.total_cmp(&w.1).is_le()) {
            continue;
        }
        let at = best.partition_point(|b| b.1.total_cmp(&s).is_ge());
        best.insert(at, (i, s));
        best.truncate(k);
    }
    best
}

/// Where vectors came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorSource {
    /// The whole set was on disk.
    Cached,
    /// Computed now; `resumed` of them came from chunks an interrupted run had written.
    Computed {
        /// Vectors read from earlier chunks instead of computed.
        resumed: usize,
    },
}

/// Vectors for `passages`, from the cache file in `cache_dir` when it holds them; otherwise
/// computed on all cores (reporting how many are done to `progress`), chunk by chunk, each
/// chunk stored as soon as it is done and read back instead of computed when a run was cut
/// short. Without a cache directory, or when the cache can't be written, they are just
/// computed.
pub fn embed_all(
    passages: &[Passage],
    cache_dir: Option<&Path>,
    progress: &mut dyn FnMut(usize),
) -> Result<(PassageVectors, VectorSource)> {
    embed_in_chunks(passages, cache_dir, CHUNK, progress)
}

/// [`embed_all`] with chunks of `chunk` passages.
fn embed_in_chunks(
    passages: &[Passage],
    cache_dir: Option<&Path>,
    chunk_len: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<(PassageVectors, VectorSource)> {
    let chunk_len = chunk_len.max(1);
    let key = cache_key(passages);
    let path = cache_dir.map(|d| cache_path(d, &key));
    if let Some(vectors) = path
        .as_deref()
        .and_then(|p| read_used(p, &key, passages.len()))
    {
        progress(passages.len());
        return Ok((vectors, VectorSource::Cached));
    }
    let model = MiniLm::shipped()?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // A single chunk needs no parts: the whole file is written at once.
    let parts = path
        .as_deref()
        .filter(|_| passages.len() > chunk_len)
        .map(parts_dir);
    let mut vectors = PassageVectors::default();
    let mut resumed = 0;
    for (c, chunk) in passages.chunks(chunk_len).enumerate() {
        let start = c * chunk_len;
        let part = parts.as_ref().map(|d| d.join(format!("{start:010}.bin")));
        let header = Header {
            key,
            total: passages.len() as u64,
            start: start as u64,
            count: chunk.len() as u64,
        };
        if let Some(done) = part.as_deref().and_then(|p| read_file(p, &header)) {
            resumed += done.len();
            vectors.extend(done);
            progress(vectors.len());
            continue;
        }
        let texts: Vec<Cow<'_, str>> = chunk.iter().map(passage_input).collect();
        let computed = model.embed_many(&texts, threads, &mut |n| progress(start + n));
        if computed.iter().any(|v| v.len() != DIMS) {
            return Err(Error::Model(
                "a worker computing passage vectors failed".into(),
            ));
        }
        let computed = PassageVectors::from_f32(&computed);
        if let Some(part) = &part {
            if let Err(e) = write_file(part, &header, &computed) {
                tracing::warn!("could not store passage vectors in {}: {e}", part.display());
            }
        }
        vectors.extend(computed);
    }
    release_freed_memory();
    if let Some(path) = path {
        let header = Header {
            key,
            total: passages.len() as u64,
            start: 0,
            count: passages.len() as u64,
        };
        match write_file(&path, &header, &vectors) {
            Ok(()) => {
                if let Some(parts) = &parts {
                    let _ = std::fs::remove_dir_all(parts);
                }
            }
            Err(e) => tracing::warn!("could not store passage vectors in {}: {e}", path.display()),
        }
        if let Some(dir) = path.parent() {
            prune_cache(dir, KEPT_CACHE_FILES);
        }
    }
    Ok((vectors, VectorSource::Computed { resumed }))
}

/// Vectors for `passages` from the cache file in `cache_dir`, if it holds them all:
/// milliseconds, where computing them takes seconds to minutes.
pub fn cached(passages: &[Passage], cache_dir: &Path) -> Option<PassageVectors> {
    let key = cache_key(passages);
    read_used(&cache_path(cache_dir, &key), &key, passages.len())
}

/// [`read_file`] for the whole set, marking the file used when it serves.
fn read_used(path: &Path, key: &[u8; 32], count: usize) -> Option<PassageVectors> {
    let header = Header {
        key: *key,
        total: count as u64,
        start: 0,
        count: count as u64,
    };
    let vectors = read_file(path, &header)?;
    mark_used(path);
    Some(vectors)
}

fn hex(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn cache_path(dir: &Path, key: &[u8; 32]) -> PathBuf {
    dir.join(format!("vectors-{}.bin", hex(&key[..8])))
}

/// The folder of chunk files for the whole-set file at `path`.
fn parts_dir(path: &Path) -> PathBuf {
    path.with_extension("parts")
}

/// SHA-256 over the producer and every passage's model input, so any change recomputes.
fn cache_key(passages: &[Passage]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(PRODUCER.as_bytes());
    for p in passages {
        let text = passage_input(p);
        h.update((text.len() as u64).to_le_bytes());
        h.update(text.as_bytes());
    }
    h.finalize().into()
}

/// What a vector file says it holds: vectors `start..start + count` of the `total` passages
/// of the texts hashed to `key`.
#[derive(Debug, Clone, PartialEq)]
struct Header {
    key: [u8; 32],
    total: u64,
    start: u64,
    count: u64,
}

impl Header {
    /// The header's bytes: magic, producer (length-prefixed), key, total, start, count, dims.
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + PRODUCER.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(PRODUCER.len() as u32).to_le_bytes());
        out.extend_from_slice(PRODUCER.as_bytes());
        out.extend_from_slice(&self.key);
        for n in [self.total, self.start, self.count] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        out.extend_from_slice(&(DIMS as u32).to_le_bytes());
        out
    }
}

/// The vectors in the file at `path` if it holds exactly what `want` describes, written by
/// this producer, undamaged; `None` otherwise (missing, other texts, other version, cut).
fn read_file(path: &Path, want: &Header) -> Option<PassageVectors> {
    let mut file = std::fs::File::open(path).ok()?;
    let header = want.bytes();
    let count = usize::try_from(want.count).ok()?;
    let expected = header.len() + count * 4 + count * DIMS + 4;
    if file.metadata().ok()?.len() != expected as u64 {
        return None;
    }
    let mut found = vec![0u8; header.len()];
    file.read_exact(&mut found).ok()?;
    if found != header {
        return None;
    }
    let mut scales = vec![0u8; count * 4];
    file.read_exact(&mut scales).ok()?;
    let mut values = vec![0u8; count * DIMS];
    file.read_exact(&mut values).ok()?;
    let mut crc = [0u8; 4];
    file.read_exact(&mut crc).ok()?;
    let mut hasher = crc32fast::Hasher::new();
    for part in [&found, &scales, &values] {
        hasher.update(part);
    }
    if hasher.finalize() != u32::from_le_bytes(crc) {
        return None;
    }
    let scales: Vec<f32> = scales
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if !scales
        .iter()
        .all(|s| s.is_finite() && *s >= 0.0 && *s <= 1.0)
    {
        return None;
    }
    Some(PassageVectors {
        values: values.into_iter().map(|b| b as i8).collect(),
        scales,
    })
}

/// Writes `vectors` under `header` atomically: a temporary file, synced, renamed over `path`.
fn write_file(path: &Path, header: &Header, vectors: &PassageVectors) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // A name of its own, so two processes filling the same cache never mix their writes.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let result = (|| {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        let mut hasher = crc32fast::Hasher::new();
        let mut put = |bytes: &[u8]| -> std::io::Result<()> {
            hasher.update(bytes);
            out.write_all(bytes)
        };
        put(&header.bytes())?;
        for s in &vectors.scales {
            put(&s.to_le_bytes())?;
        }
        for row in vectors.values.chunks(64 * 1024) {
            let bytes: Vec<u8> = row.iter().map(|&v| v as u8).collect();
            put(&bytes)?;
        }
        out.write_all(&hasher.finalize().to_le_bytes())?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Hands memory the embedding threads freed back to the system. glibc keeps it in the
/// threads' arenas otherwise, and a bot that computed its vectors at start would carry the
/// freed buffers for as long as it runs.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap memory to the kernel; it touches no live
    // allocation and is safe to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Marks a cache file as just used, so pruning keeps it. Best effort: a read-only cache still
/// serves its vectors.
fn mark_used(path: &Path) {
    if let Ok(file) = std::fs::File::options().append(true).open(path) {
        let _ = file.set_modified(std::time::SystemTime::now());
    }
}

/// Removes the vector files in `dir` that are neither among the `keep` most recently used nor
/// used within [`KEPT_CACHE_SECS`], chunk folders untouched for that long (an interrupted run
/// over a text no longer served), and temporary files an interrupted write left behind an
/// hour or more ago.
fn prune_cache(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = std::time::SystemTime::now();
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("vectors-") {
            continue;
        }
        let Ok(modified) = entry.metadata().and_then(|m| m.modified()) else {
            continue;
        };
        let age = now.duration_since(modified).map_or(0, |a| a.as_secs());
        if name.ends_with(".bin") {
            files.push((modified, age, entry.path()));
        } else if name.ends_with(".parts") && age >= KEPT_CACHE_SECS {
            let _ = std::fs::remove_dir_all(entry.path());
        } else if name.contains(".tmp") && age >= 3600 {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (_, _, path) in files
        .into_iter()
        .skip(keep)
        .filter(|f| f.1 >= KEPT_CACHE_SECS)
    {
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!("removed old passage vectors {}", path.display()),
            Err(e) => tracing::warn!("could not remove {}: {e}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passages(texts: &[&str]) -> Vec<Passage> {
        texts
            .iter()
            .enumerate()
            .map(|(id, t)| Passage {
                id,
                doc: 0,
                section: 1,
                paragraph: id + 1,
                paragraph_end: id + 1,
                part: 0,
                parts: 1,
                text: t.to_string(),
                context: None,
                speaker: None,
                pages: None,
            })
            .collect()
    }

    fn numbered(n: usize) -> Vec<Passage> {
        let texts: Vec<String> = (0..n).map(|i| format!("passage number {i}")).collect();
        passages(&texts.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[test]
    fn int8_vectors_keep_cosines_and_search_finds_the_closest() {
        let m = MiniLm::shipped().expect("model");
        let texts = [
            "the workers overthrew the czar",
            "the boiling point of water at sea level",
            "soldiers and sailors joined the uprising",
        ];
        let f32s: Vec<Vec<f32>> = texts.iter().map(|t| m.embed(t)).collect();
        let stored = PassageVectors::from_f32(&f32s);
        assert_eq!(stored.len(), 3);
        let q = m.embed("the regime was toppled by the working class");
        let sims = stored.similarities(&q);
        for (v, s) in f32s.iter().zip(&sims) {
            assert!((super::super::cosine(&q, v) - s).abs() < 0.01, "{s}");
        }
        assert_eq!(nearest(&sims, 1)[0].0, 0);
    }

    #[test]
    fn nearest_keeps_the_best_in_order_with_ties_by_index() {
        let scores = [0.1, 0.9, 0.5, 0.9, -1.0, 0.7];
        assert_eq!(
            nearest(&scores, 3),
            vec![(1, 0.9), (3, 0.9), (5, 0.7)],
            "ties keep the lower index first"
        );
        assert_eq!(nearest(&scores, 0), vec![]);
        assert_eq!(nearest(&scores, 10).len(), 6);
        assert_eq!(nearest(&[], 3), vec![]);
    }

    #[test]
    fn caches_vectors_and_ignores_a_damaged_or_foreign_cache() {
        let dir = tempfile::tempdir().expect("temp dir");
        let texts = passages(&["the soviets", "the factory committees"]);
        let (first, how) = embed_all(&texts, Some(dir.path()), &mut |_| {}).expect("embeds");
        assert_eq!(how, VectorSource::Computed { resumed: 0 });
        let names = files(dir.path());
        assert_eq!(names.len(), 1, "{names:?}");
        let path = dir.path().join(&names[0]);
        assert_eq!(cached(&texts, dir.path()).as_ref(), Some(&first));
        // Other texts miss the cache.
        assert!(cached(&texts[..1], dir.path()).is_none());
        // A cut or altered file is not trusted, nor one from another producer.
        let data = std::fs::read(&path).expect("cache file");
        let producer = data
            .windows(PRODUCER.len())
            .position(|w| w == PRODUCER.as_bytes())
            .expect("the file names its producer");
        let mut other = data.clone();
        other[producer + PRODUCER.len() - 1] ^= 1;
        let mut flipped = data.clone();
        let last = flipped.len() - 10;
        flipped[last] ^= 0x40;
        for damaged in [data[..data.len() - 4].to_vec(), flipped, other] {
            std::fs::write(&path, &damaged).expect("write");
            assert!(cached(&texts, dir.path()).is_none());
        }
        let (again, how) = embed_all(&texts, Some(dir.path()), &mut |_| {}).expect("embeds");
        assert_eq!(how, VectorSource::Computed { resumed: 0 });
        assert_eq!(again, first);
        let (_, how) = embed_all(&texts, Some(dir.path()), &mut |_| {}).expect("embeds");
        assert_eq!(how, VectorSource::Cached);
    }

    #[test]
    fn an_interrupted_run_resumes_at_its_first_missing_chunk() {
        const CHUNK: usize = 4;
        let texts = numbered(2 * CHUNK + 3);
        let whole = tempfile::tempdir().expect("temp dir");
        let (want, _) =
            embed_in_chunks(&texts, Some(whole.path()), CHUNK, &mut |_| {}).expect("embeds");
        assert_eq!(want.len(), texts.len());
        // Finished: one whole file, the chunk folder gone.
        assert_eq!(files(whole.path()).len(), 1, "{:?}", files(whole.path()));

        // A run cut short after its first two chunks: their files are all it left.
        let cut = tempfile::tempdir().expect("temp dir");
        let key = cache_key(&texts);
        let parts = parts_dir(&cache_path(cut.path(), &key));
        for c in 0..2 {
            let start = c * CHUNK;
            let header = Header {
                key,
                total: texts.len() as u64,
                start: start as u64,
                count: CHUNK as u64,
            };
            let chunk = PassageVectors {
                values: want.values[start * DIMS..(start + CHUNK) * DIMS].to_vec(),
                scales: want.scales[start..start + CHUNK].to_vec(),
            };
            write_file(&parts.join(format!("{start:010}.bin")), &header, &chunk).expect("chunk");
        }
        assert!(cached(&texts, cut.path()).is_none(), "no whole file yet");
        let mut reported = Vec::new();
        let (resumed, how) =
            embed_in_chunks(&texts, Some(cut.path()), CHUNK, &mut |n| reported.push(n))
                .expect("embeds");
        assert_eq!(how, VectorSource::Computed { resumed: 2 * CHUNK });
        assert_eq!(resumed, want, "the same vectors as an uninterrupted run");
        assert_eq!(
            reported.first(),
            Some(&CHUNK),
            "the stored chunks count as done"
        );
        assert_eq!(reported.last(), Some(&texts.len()));
        assert!(
            !parts.exists(),
            "chunk files go once the whole file is written"
        );
        assert_eq!(cached(&texts, cut.path()), Some(want));
    }

    #[test]
    fn prunes_vector_files_neither_recent_nor_used_within_a_day() {
        let dir = tempfile::tempdir().expect("temp dir");
        let texts = |i: usize| passages(&[&format!("text number {i}")]);
        let name = |i: usize| {
            cache_path(dir.path(), &cache_key(&texts(i)))
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        // Files written i minutes after a start two days ago.
        let age = |n: &str, i: u64| {
            let then =
                std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86400 - 60 * i);
            std::fs::File::options()
                .append(true)
                .open(dir.path().join(n))
                .and_then(|f| f.set_modified(then))
                .expect("set time");
        };
        for i in 0..KEPT_CACHE_FILES {
            embed_all(&texts(i), Some(dir.path()), &mut |_| {}).expect("embeds");
            age(&name(i), i as u64);
        }
        // Text 0 is used again (read from its file), a write was cut off long ago, and an
        // interrupted run over another text left chunks two days ago.
        embed_all(&texts(0), Some(dir.path()), &mut |_| {}).expect("embeds");
        std::fs::write(dir.path().join("vectors-0000.tmp99"), b"cut").expect("write");
        age("vectors-0000.tmp99", 0);
        let stale = dir.path().join("vectors-0000.parts");
        std::fs::create_dir(&stale).expect("dir");
        let then = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86400);
        std::fs::File::open(&stale)
            .and_then(|f| f.set_modified(then))
            .expect("set time");
        // A new text pushes out the least recently used file, not text 0's.
        embed_all(&texts(9), Some(dir.path()), &mut |_| {}).expect("embeds");
        let mut want = vec![name(0), name(2), name(9)];
        want.sort();
        assert_eq!(files(dir.path()), want);
        // Files used within the last day stay, however many there are; text 2's goes.
        for i in 10..15 {
            embed_all(&texts(i), Some(dir.path()), &mut |_| {}).expect("embeds");
        }
        let mut want = vec![name(0), name(9)];
        want.extend((10..15).map(name));
        want.sort();
        assert_eq!(files(dir.path()), want);
    }
}
