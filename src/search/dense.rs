//! The semantic half of ranking: sentence embeddings from all-MiniLM-L6-v2, run in process.
//!
//! Students ask in their own words ("toppled" for "overthrown", "keep track of what workers
//! were thinking" for "measured the mood"), which no lexical match bridges. The full
//! transformer does. The model (Apache-2.0) ships in the binary as int8 weights with one
//! scale per row (`model/minilm-l6-int8.bin`, written by `scripts/quantize_minilm.py`,
//! sentence cosine 0.999 against the original), so there is no model runtime, download or
//! network: a plain Rust forward pass whose matrix products go through `matrixmultiply`.
//!
//! A question takes a few milliseconds. Passages take longer (a whole paragraph each), so
//! their vectors are computed once per corpus, on all cores, and kept in a cache file.

use rustc_hash::FxHashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

/// Width of the model's vectors.
pub const DIMS: usize = 384;
const LAYERS: usize = 6;
const HEADS: usize = 12;
const INTERMEDIATE: usize = 1536;
const VOCAB_ROWS: usize = 30522;
/// Longest input in tokens, [CLS] and [SEP] included (the model was trained on 256).
pub const MAX_TOKENS: usize = 256;
const MAGIC: &[u8] = b"SBMINILM1\0";
const CLS: u32 = 101;
const SEP: u32 = 102;
const UNK: u32 = 100;
/// Changes whenever the vectors a cache holds would change (model, pooling, input).
const CACHE_VERSION: &str = "minilm-l6-int8/1";

static WEIGHTS: &[u8] = include_bytes!("../../assets/model/minilm-l6-int8.bin");
static VOCAB: &str = include_str!("../../assets/model/vocab.txt");

/// A linear map stored as int8 rows with one scale per row: `y = x · Wᵀ · scale + bias`.
struct Linear {
    rows: usize,
    cols: usize,
    scale: Vec<f32>,
    bias: Vec<f32>,
    values: &'static [u8],
}

struct LayerNorm {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// all-MiniLM-L6-v2 with its WordPiece vocabulary.
pub struct MiniLm {
    vocab: FxHashMap<&'static str, u32>,
    word_scale: Vec<f32>,
    word_values: &'static [u8],
    positions: Vec<f32>,
    token_type: Vec<f32>,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
}

impl std::fmt::Debug for MiniLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiniLm")
            .field("tokens", &self.vocab.len())
            .field("layers", &self.layers.len())
            .finish()
    }
}

/// Reads the weight file front to back.
struct Reader {
    data: &'static [u8],
    at: usize,
}

impl Reader {
    fn bytes(&mut self, n: usize) -> Result<&'static [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| Error::Model("the weight file is truncated".into()))?;
        let out = &self.data[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn floats(&mut self, n: usize) -> Result<Vec<f32>> {
        Ok(self
            .bytes(n * 4)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    fn linear(&mut self, rows: usize, cols: usize) -> Result<Linear> {
        Ok(Linear {
            rows,
            cols,
            scale: self.floats(rows)?,
            bias: self.floats(rows)?,
            values: self.bytes(rows * cols)?,
        })
    }

    fn norm(&mut self) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: self.floats(DIMS)?,
            bias: self.floats(DIMS)?,
        })
    }
}

impl MiniLm {
    /// The model shipped in the binary, loaded once per process.
    pub fn shipped() -> Result<&'static MiniLm> {
        static SHIPPED: OnceLock<std::result::Result<MiniLm, String>> = OnceLock::new();
        SHIPPED
            .get_or_init(|| MiniLm::from_bytes(WEIGHTS, VOCAB).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| Error::Model(e.clone()))
    }

    /// Reads weights in the layout `scripts/quantize_minilm.py` writes, and a vocabulary of
    /// one token per line.
    pub fn from_bytes(data: &'static [u8], vocab: &'static str) -> Result<MiniLm> {
        let mut r = Reader { data, at: 0 };
        if r.bytes(MAGIC.len())? != MAGIC {
            return Err(Error::Model("not a studybot MiniLM weight file".into()));
        }
        let word_scale = r.floats(VOCAB_ROWS)?;
        let word_values = r.bytes(VOCAB_ROWS * DIMS)?;
        let positions = r.floats(MAX_TOKENS * DIMS)?;
        let token_type = r.floats(DIMS)?;
        let embedding_norm = r.norm()?;
        let mut layers = Vec::with_capacity(LAYERS);
        for _ in 0..LAYERS {
            layers.push(Layer {
                query: r.linear(DIMS, DIMS)?,
                key: r.linear(DIMS, DIMS)?,
                value: r.linear(DIMS, DIMS)?,
                attention_out: r.linear(DIMS, DIMS)?,
                attention_norm: r.norm()?,
                intermediate: r.linear(INTERMEDIATE, DIMS)?,
                output: r.linear(DIMS, INTERMEDIATE)?,
                output_norm: r.norm()?,
            });
        }
        if r.at != data.len() {
            return Err(Error::Model(format!(
                "the weight file has {} unexpected trailing bytes",
                data.len() - r.at
            )));
        }
        let vocab: FxHashMap<&'static str, u32> = vocab
            .lines()
            .enumerate()
            .filter(|(i, _)| *i < VOCAB_ROWS)
            .map(|(i, t)| (t, i as u32))
            .collect();
        Ok(MiniLm {
            vocab,
            word_scale,
            word_values,
            positions,
            token_type,
            embedding_norm,
            layers,
        })
    }

    /// BERT's uncased tokenisation: lowercase, accents stripped, punctuation split off, then
    /// WordPiece. Framed by [CLS] and [SEP] and cut to [`MAX_TOKENS`].
    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        let mut ids = vec![CLS];
        let mut word = String::new();
        let cleaned: String = text
            .nfd()
            .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
            .flat_map(char::to_lowercase)
            .collect();
        let flush = |word: &mut String, ids: &mut Vec<u32>| {
            if !word.is_empty() {
                match self.word_pieces(word) {
                    Some(pieces) => ids.extend(pieces),
                    None => ids.push(UNK),
                }
                word.clear();
            }
        };
        for c in cleaned.chars() {
            if c.is_whitespace() || c.is_control() {
                flush(&mut word, &mut ids);
            } else if c.is_alphanumeric() {
                word.push(c);
            } else {
                flush(&mut word, &mut ids);
                let mut buf = [0u8; 4];
                ids.push(
                    self.vocab
                        .get(&*c.encode_utf8(&mut buf))
                        .copied()
                        .unwrap_or(UNK),
                );
            }
            if ids.len() >= MAX_TOKENS - 1 {
                break;
            }
        }
        flush(&mut word, &mut ids);
        ids.truncate(MAX_TOKENS - 1);
        ids.push(SEP);
        ids
    }

    /// The longest-prefix-first WordPiece split of one word; `None` when it has no split.
    fn word_pieces(&self, word: &str) -> Option<Vec<u32>> {
        if word.len() > 100 {
            return None;
        }
        let mut pieces = Vec::new();
        let mut start = 0;
        let mut buf = String::with_capacity(word.len() + 2);
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while end > start {
                if word.is_char_boundary(end) {
                    buf.clear();
                    if start > 0 {
                        buf.push_str("##");
                    }
                    buf.push_str(&word[start..end]);
                    if let Some(&id) = self.vocab.get(buf.as_str()) {
                        found = Some(id);
                        break;
                    }
                }
                end -= 1;
            }
            pieces.push(found?);
            start = end;
        }
        Some(pieces)
    }

    /// The text's sentence vector: the model's mean-pooled output, normalised to unit length.
    pub fn embed(&self, text: &str) -> Vec<f32> {
        self.embed_ids(&self.token_ids(text))
    }

    fn embed_ids(&self, ids: &[u32]) -> Vec<f32> {
        let n = ids.len().min(MAX_TOKENS);
        let mut scratch = Vec::new();
        // Embeddings: word + position + token type, then layer norm.
        let mut x = vec![0.0_f32; n * DIMS];
        for (t, &id) in ids.iter().take(n).enumerate() {
            let id = (id as usize).min(VOCAB_ROWS - 1);
            let scale = self.word_scale[id];
            let row = &self.word_values[id * DIMS..(id + 1) * DIMS];
            let pos = &self.positions[t * DIMS..(t + 1) * DIMS];
            for (d, out) in x[t * DIMS..(t + 1) * DIMS].iter_mut().enumerate() {
                *out = f32::from(row[d] as i8) * scale + pos[d] + self.token_type[d];
            }
        }
        layer_norm(&mut x, &self.embedding_norm);
        let mut q = Vec::new();
        let mut k = Vec::new();
        let mut v = Vec::new();
        let mut ctx = vec![0.0_f32; n * DIMS];
        let mut h = Vec::new();
        let mut y = Vec::new();
        for layer in &self.layers {
            layer.query.apply(&x, n, &mut q, &mut scratch);
            layer.key.apply(&x, n, &mut k, &mut scratch);
            layer.value.apply(&x, n, &mut v, &mut scratch);
            attention(&q, &k, &v, n, &mut ctx);
            layer.attention_out.apply(&ctx, n, &mut y, &mut scratch);
            x.iter_mut().zip(&y).for_each(|(a, b)| *a += b);
            layer_norm(&mut x, &layer.attention_norm);
            layer.intermediate.apply(&x, n, &mut h, &mut scratch);
            h.iter_mut().for_each(|v| *v = gelu(*v));
            layer.output.apply(&h, n, &mut y, &mut scratch);
            x.iter_mut().zip(&y).for_each(|(a, b)| *a += b);
            layer_norm(&mut x, &layer.output_norm);
        }
        let mut pooled = vec![0.0_f32; DIMS];
        for row in x.chunks_exact(DIMS) {
            pooled.iter_mut().zip(row).for_each(|(p, v)| *p += v);
        }
        normalise(&mut pooled);
        pooled
    }
}

impl Linear {
    /// `out = x · Wᵀ · scale + bias` for `n` rows of `x`.
    fn apply(&self, x: &[f32], n: usize, out: &mut Vec<f32>, scratch: &mut Vec<f32>) {
        scratch.clear();
        scratch.extend(self.values.iter().map(|&b| f32::from(b as i8)));
        out.clear();
        out.resize(n * self.rows, 0.0);
        // SAFETY: the pointers and strides describe `x` (n × cols, row-major), the int8 rows
        // converted to f32 read as their transpose (cols × rows), and `out` (n × rows); all
        // three buffers hold exactly those many elements and do not overlap.
        unsafe {
            matrixmultiply::sgemm(
                n,
                self.cols,
                self.rows,
                1.0,
                x.as_ptr(),
                self.cols as isize,
                1,
                scratch.as_ptr(),
                1,
                self.cols as isize,
                0.0,
                out.as_mut_ptr(),
                self.rows as isize,
                1,
            );
        }
        for row in out.chunks_exact_mut(self.rows) {
            for ((o, s), b) in row.iter_mut().zip(&self.scale).zip(&self.bias) {
                *o = *o * s + b;
            }
        }
    }
}

/// Multi-head self-attention over `n` tokens (no padding: one text at a time).
fn attention(q: &[f32], k: &[f32], v: &[f32], n: usize, ctx: &mut [f32]) {
    let hd = DIMS / HEADS;
    let scale = 1.0 / (hd as f32).sqrt();
    let mut weights = vec![0.0_f32; n];
    ctx.iter_mut().for_each(|c| *c = 0.0);
    for head in 0..HEADS {
        let off = head * hd;
        for i in 0..n {
            let qi = &q[i * DIMS + off..i * DIMS + off + hd];
            for (j, w) in weights.iter_mut().enumerate() {
                let kj = &k[j * DIMS + off..j * DIMS + off + hd];
                *w = qi.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() * scale;
            }
            let max = weights.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for w in weights.iter_mut() {
                *w = (*w - max).exp();
                sum += *w;
            }
            let out = &mut ctx[i * DIMS + off..i * DIMS + off + hd];
            for (j, w) in weights.iter().enumerate() {
                let vj = &v[j * DIMS + off..j * DIMS + off + hd];
                let w = w / sum;
                out.iter_mut().zip(vj).for_each(|(o, x)| *o += w * x);
            }
        }
    }
}

fn layer_norm(x: &mut [f32], norm: &LayerNorm) {
    for row in x.chunks_exact_mut(DIMS) {
        let mean = row.iter().sum::<f32>() / DIMS as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / DIMS as f32;
        let inv = 1.0 / (var + 1e-12).sqrt();
        for ((v, w), b) in row.iter_mut().zip(&norm.weight).zip(&norm.bias) {
            *v = (*v - mean) * inv * w + b;
        }
    }
}

/// GELU with the exact (erf) form BERT uses.
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x / std::f32::consts::SQRT_2))
}

/// Abramowitz–Stegun 7.1.26 (error below 1.5e-7, far under f32 activations' noise).
fn erf(x: f32) -> f32 {
    let sign = x.signum();
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = ((((1.061_405_4 * t - 1.453_152_1) * t) + 1.421_413_8) * t - 0.284_496_72) * t
        + 0.254_829_6;
    sign * (1.0 - poly * t * (-x * x).exp())
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Cosine similarity of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Vectors for `texts`, from the cache file in `cache_dir` when it holds them, otherwise
/// computed on all cores (reporting each finished text to `progress`) and stored there.
/// Without a cache directory, or when the cache can't be written, they are just computed.
pub fn embed_all(
    texts: &[String],
    cache_dir: Option<&Path>,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Vec<f32>>> {
    let key = cache_key(texts);
    let path = cache_dir.map(|d| cache_path(d, &key));
    if let Some(vectors) = path
        .as_deref()
        .and_then(|p| read_used_cache(p, &key, texts.len()))
    {
        return Ok(vectors);
    }
    let model = MiniLm::shipped()?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let done = AtomicUsize::new(0);
    let mut vectors: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
    let chunk = texts.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let workers: Vec<_> = texts
            .chunks(chunk)
            .zip(vectors.chunks_mut(chunk))
            .map(|(texts, out)| {
                let done = &done;
                s.spawn(move || {
                    for (text, slot) in texts.iter().zip(out) {
                        *slot = model.embed(text);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        // The caller's progress report runs here, on its own thread.
        while !workers.iter().all(|w| w.is_finished()) {
            progress(done.load(Ordering::Relaxed));
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        progress(done.load(Ordering::Relaxed));
    });
    release_freed_memory();
    if let Some(path) = path {
        if let Err(e) = write_cache(&path, &key, &vectors) {
            tracing::warn!("could not store passage vectors in {}: {e}", path.display());
        }
        if let Some(dir) = path.parent() {
            prune_cache(dir, KEPT_CACHE_FILES);
        }
    }
    Ok(vectors)
}

/// Vectors for `texts` from the cache file in `cache_dir`, if it holds them: milliseconds,
/// where computing them takes seconds to minutes.
pub fn cached(texts: &[String], cache_dir: &Path) -> Option<Vec<Vec<f32>>> {
    let key = cache_key(texts);
    read_used_cache(&cache_path(cache_dir, &key), &key, texts.len())
}

/// [`read_cache`], marking the file used when it serves.
fn read_used_cache(path: &Path, key: &str, count: usize) -> Option<Vec<Vec<f32>>> {
    let vectors = read_cache(path, key, count)?;
    mark_used(path);
    Some(vectors)
}

fn cache_path(dir: &Path, key: &str) -> std::path::PathBuf {
    dir.join(format!("vectors-{}.bin", &key[..16]))
}

/// Hands memory the embedding threads freed back to the system. glibc keeps it in the
/// threads' arenas otherwise, and a bot that computed its vectors at start would carry some
/// 45 MB of freed buffers for as long as it runs.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap memory to the kernel; it touches no live
    // allocation and is safe to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// SHA-256 over the model version and every text, so any change recomputes.
fn cache_key(texts: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(CACHE_VERSION.as_bytes());
    for t in texts {
        h.update((t.len() as u64).to_le_bytes());
        h.update(t.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The cached vectors, or `None` when the file is missing, for other texts, or damaged.
fn read_cache(path: &Path, key: &str, count: usize) -> Option<Vec<Vec<f32>>> {
    let data = std::fs::read(path).ok()?;
    let body = data.strip_prefix(key.as_bytes())?;
    if body.len() != count * DIMS * 4 {
        return None;
    }
    let vectors: Vec<Vec<f32>> = body
        .chunks_exact(DIMS * 4)
        .map(|row| {
            row.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
        .collect();
    let sane = vectors
        .iter()
        .all(|v| v.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
    sane.then_some(vectors)
}

/// Vector files kept in the cache directory: the text in use and the last few before it, so
/// switching back to a recent text is quick while old ones don't pile up (about 1.5 KB per
/// passage each). Files used within the last day are kept too: processes over several texts
/// may share one directory.
const KEPT_CACHE_FILES: usize = 3;
const KEPT_CACHE_SECS: u64 = 24 * 3600;

/// Marks a cache file as just used, so pruning keeps it. Best effort: a read-only cache still
/// serves its vectors.
fn mark_used(path: &Path) {
    if let Ok(file) = std::fs::File::options().append(true).open(path) {
        let _ = file.set_modified(std::time::SystemTime::now());
    }
}

/// Removes the vector files in `dir` that are neither among the `keep` most recently used nor
/// used within [`KEPT_CACHE_SECS`], and temporary files an interrupted write left behind an
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

/// Writes the cache atomically: a temporary file renamed over the old one.
fn write_cache(path: &Path, key: &str, vectors: &[Vec<f32>]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut data = Vec::with_capacity(key.len() + vectors.len() * DIMS * 4);
    data.extend_from_slice(key.as_bytes());
    for v in vectors {
        for x in v {
            data.extend_from_slice(&x.to_le_bytes());
        }
    }
    // A name of its own, so two processes filling the same cache never mix their writes.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &data)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> &'static MiniLm {
        MiniLm::shipped().expect("the shipped model loads")
    }

    #[test]
    fn tokenises_like_bert() {
        // Reference ids from the model's own tokenizer rules (scripts/quantize_minilm.py).
        assert_eq!(
            model().token_ids("the workers overthrew the czar"),
            [101, 1996, 3667, 2058, 2705, 15603, 1996, 1039, 9057, 102]
        );
        assert_eq!(
            model().token_ids("Café Zürich's \"soviets\", (1917)!"),
            [101, 7668, 10204, 1005, 1055, 1000, 15269, 1000, 1010, 1006, 4585, 1007, 999, 102]
        );
        assert_eq!(model().token_ids(""), [101, 102]);
        let long = "word ".repeat(1000);
        assert_eq!(model().token_ids(&long).len(), MAX_TOKENS);
    }

    #[test]
    fn matches_the_reference_forward_pass() {
        // First values of the original float model's vector (numpy forward pass in
        // scripts/quantize_minilm.py); int8 weights stay within 0.01.
        let v = model().embed("the workers overthrew the czar");
        let reference = [
            -0.04887, 0.07154, -0.00548, 0.04887, -0.04287, 0.00645, -0.01692, 0.01857,
        ];
        for (a, b) in v.iter().zip(reference) {
            assert!((a - b).abs() < 0.01, "{a} vs {b}");
        }
        assert!((v.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4);
    }

    #[test]
    fn paraphrases_are_closer_than_unrelated_text() {
        let m = model();
        let a = m.embed("the workers overthrew the czar");
        let para = m.embed("the regime was toppled by the working class");
        let other = m.embed("the boiling point of water at sea level");
        assert!(cosine(&a, &para) > cosine(&a, &other) + 0.2);
    }

    #[test]
    fn rejects_damaged_weights() {
        assert!(MiniLm::from_bytes(b"not a model", VOCAB).is_err());
        assert!(MiniLm::from_bytes(&WEIGHTS[..WEIGHTS.len() - 1], VOCAB).is_err());
    }

    #[test]
    fn caches_vectors_and_ignores_a_damaged_cache() {
        let dir = tempfile::tempdir().expect("temp dir");
        let texts = vec![
            "the soviets".to_string(),
            "the factory committees".to_string(),
        ];
        let first = embed_all(&texts, Some(dir.path()), &mut |_| {}).expect("embeds");
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .expect("cache dir")
            .flatten()
            .collect();
        assert_eq!(files.len(), 1);
        let path = files[0].path();
        assert_eq!(
            read_cache(&path, &cache_key(&texts), 2).as_ref(),
            Some(&first)
        );
        // Other texts miss the cache; a cut file is not trusted.
        assert!(read_cache(&path, &cache_key(&texts[..1]), 1).is_none());
        let data = std::fs::read(&path).expect("cache file");
        std::fs::write(&path, &data[..data.len() - 4]).expect("write");
        assert!(read_cache(&path, &cache_key(&texts), 2).is_none());
        let again = embed_all(&texts, Some(dir.path()), &mut |_| {}).expect("embeds");
        assert_eq!(again, first);
    }

    #[test]
    fn prunes_vector_files_neither_recent_nor_used_within_a_day() {
        let dir = tempfile::tempdir().expect("temp dir");
        let texts = |i: usize| vec![format!("text number {i}")];
        let cached = || -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(dir.path())
                .expect("cache dir")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let name = |i: usize| format!("vectors-{}.bin", &cache_key(&texts(i))[..16]);
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
        // Text 0 is used again (read from its file), and a write was cut off long ago.
        embed_all(&texts(0), Some(dir.path()), &mut |_| {}).expect("embeds");
        std::fs::write(dir.path().join("vectors-0000.tmp99"), b"cut").expect("write");
        age("vectors-0000.tmp99", 0);
        // A new text pushes out the least recently used file, not text 0's.
        embed_all(&texts(9), Some(dir.path()), &mut |_| {}).expect("embeds");
        let mut want = vec![name(0), name(2), name(9)];
        want.sort();
        assert_eq!(cached(), want);
        // Files used within the last day stay, however many there are; text 2's goes.
        for i in 10..15 {
            embed_all(&texts(i), Some(dir.path()), &mut |_| {}).expect("embeds");
        }
        let mut want = vec![name(0), name(9)];
        want.extend((10..15).map(name));
        want.sort();
        assert_eq!(cached(), want);
    }
}
