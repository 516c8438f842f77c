//! The semantic half of ranking: sentence embeddings from all-MiniLM-L6-v2, run in process.
//!
//! Students ask in their own words ("toppled" for "overthrown", "keep track of what workers
//! were thinking" for "measured the mood"), which no lexical match bridges. The full
//! transformer does. The model (Apache-2.0) ships in the binary as int8 weights with one
//! scale per row (`assets/model/minilm-l6-int8.bin`, written by `scripts/quantize_minilm.py`),
//! so there is no model runtime, download or network: a plain Rust forward pass whose matrix
//! products multiply the int8 weights as they are ([`kernel`]). Its vectors stay within cosine
//! 0.99 of the original float model (a test checks several sentences, every dimension).
//!
//! A question takes about a millisecond. Passages take longer (a whole paragraph each), so
//! their vectors are computed once per corpus, on all cores, and kept on disk as int8
//! ([`store`]), which also searches them.

pub mod kernel;
pub mod store;

use rustc_hash::FxHashMap;
use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};
use kernel::{Int8Rows, QuantRows};

pub use store::{cached, embed_all, nearest, PassageVectors, VectorSource};

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
/// Tokens per batch of passages: enough rows for the matrix products to reuse each weight
/// row many times, few enough that one batch's buffers stay near 10 MB per thread.
const BATCH_TOKENS: usize = 512;
/// Most passages in one batch.
const BATCH_TEXTS: usize = 32;
/// From this many tokens in one pass, the linear layers multiply in f32 (weights converted
/// once per pass, FMA matrix products from `matrixmultiply`) instead of the integer kernel.
/// On AVX2 without VNNI the f32 products are faster once the conversion is shared by enough
/// tokens (passages); the integer kernel, which reads each weight once as a byte and converts
/// nothing, is faster for questions. Measured in BENCHMARKS.md.
const F32_MIN_TOKENS: usize = 64;

static WEIGHTS: &[u8] = include_bytes!("../../../assets/model/minilm-l6-int8.bin");
static VOCAB: &str = include_str!("../../../assets/model/vocab.txt");

/// A linear map stored as int8 rows with one scale per row: `y = x · Wᵀ · scale + bias`.
struct Linear {
    rows: usize,
    cols: usize,
    scale: Vec<f32>,
    bias: Vec<f32>,
    values: &'static [i8],
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
    word_values: &'static [i8],
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

    fn signed(&mut self, n: usize) -> Result<&'static [i8]> {
        let bytes = self.bytes(n)?;
        // SAFETY: i8 and u8 have the same size and alignment and every bit pattern is valid
        // in both; the slice borrows the same 'static bytes.
        Ok(unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<i8>(), bytes.len()) })
    }

    fn linear(&mut self, rows: usize, cols: usize) -> Result<Linear> {
        Ok(Linear {
            rows,
            cols,
            scale: self.floats(rows)?,
            bias: self.floats(rows)?,
            values: self.signed(rows * cols)?,
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
        let word_values = r.signed(VOCAB_ROWS * DIMS)?;
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
        thread_local! {
            // Questions arrive one at a time per thread: their buffers are kept, not remade.
            static WORKSPACE: RefCell<Workspace> = RefCell::new(Workspace::default());
        }
        let ids = self.token_ids(text);
        let mut out = vec![0.0; DIMS];
        WORKSPACE.with(|ws| match ws.try_borrow_mut() {
            Ok(mut ws) => self.forward(&[&ids], &mut ws, &mut out),
            Err(_) => self.forward(&[&ids], &mut Workspace::default(), &mut out),
        });
        out
    }

    /// Sentence vectors of many texts on `threads` threads, in the order given, reporting how
    /// many are done to `progress` (on the calling thread).
    ///
    /// Texts of similar length are batched: their tokens go through the linear layers as one
    /// matrix (those layers act on each token alone, so nothing is padded), while attention
    /// stays within each text.
    pub fn embed_many(
        &self,
        texts: &[Cow<'_, str>],
        threads: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Vec<Vec<f32>> {
        // Batches by length, estimated from bytes (about four per token) so that tokenising
        // can happen on the workers.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut batches: Vec<Vec<usize>> = Vec::new();
        let mut tokens = 0;
        for i in order {
            let estimate = (texts[i].len() / 4 + 2).min(MAX_TOKENS);
            match batches.last_mut() {
                Some(batch) if tokens + estimate <= BATCH_TOKENS && batch.len() < BATCH_TEXTS => {
                    batch.push(i);
                    tokens += estimate;
                }
                _ => {
                    batches.push(vec![i]);
                    tokens = estimate;
                }
            }
        }
        let next = AtomicUsize::new(0);
        let mut vectors = vec![Vec::new(); texts.len()];
        let (tx, rx) = std::sync::mpsc::channel::<usize>();
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads.clamp(1, batches.len().max(1)))
                .map(|_| {
                    let (tx, next, batches) = (tx.clone(), &next, &batches);
                    s.spawn(move || {
                        let mut ws = Workspace::default();
                        let mut done = Vec::new();
                        while let Some(batch) = batches.get(next.fetch_add(1, Ordering::Relaxed)) {
                            let ids: Vec<Vec<u32>> =
                                batch.iter().map(|&i| self.token_ids(&texts[i])).collect();
                            let seqs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
                            let mut out = vec![0.0; batch.len() * DIMS];
                            self.forward(&seqs, &mut ws, &mut out);
                            done.push((batch, out));
                            let _ = tx.send(batch.len());
                        }
                        done
                    })
                })
                .collect();
            drop(tx);
            let mut count = 0;
            for n in rx {
                count += n;
                progress(count);
            }
            for worker in workers {
                // A worker that panicked leaves its texts without vectors; the caller checks.
                let Ok(done) = worker.join() else { continue };
                for (batch, out) in done {
                    for (&i, v) in batch.iter().zip(out.chunks_exact(DIMS)) {
                        vectors[i] = v.to_vec();
                    }
                }
            }
        });
        vectors
    }

    /// Sentence vectors of token sequences, `DIMS` floats each into `out`.
    pub fn forward(&self, seqs: &[&[u32]], ws: &mut Workspace, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if kernel::simd_available() {
            // SAFETY: AVX2 and FMA were detected on this processor.
            unsafe { self.forward_avx2(seqs, ws, out) };
            return;
        }
        self.forward_portable(seqs, ws, out);
    }

    /// The forward pass compiled for AVX2 and FMA: the same code, whose element-wise loops
    /// (layer norm, attention, GELU) the compiler vectorises eight floats wide.
    ///
    /// # Safety
    /// The processor must have AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn forward_avx2(&self, seqs: &[&[u32]], ws: &mut Workspace, out: &mut [f32]) {
        self.forward_portable(seqs, ws, out);
    }

    #[inline(always)]
    fn forward_portable(&self, seqs: &[&[u32]], ws: &mut Workspace, out: &mut [f32]) {
        let lengths = || seqs.iter().map(|s| s.len().min(MAX_TOKENS));
        let total: usize = lengths().sum();
        // Embeddings: word + position + token type, then layer norm.
        ws.x.clear();
        ws.x.resize(total * DIMS, 0.0);
        let rows = seqs
            .iter()
            .flat_map(|ids| ids.iter().take(MAX_TOKENS).enumerate());
        for ((pos, &id), x) in rows.zip(ws.x.chunks_exact_mut(DIMS)) {
            let id = (id as usize).min(VOCAB_ROWS - 1);
            let scale = self.word_scale[id];
            let word = &self.word_values[id * DIMS..][..DIMS];
            let position = &self.positions[pos * DIMS..][..DIMS];
            for (((x, &w), p), t) in x.iter_mut().zip(word).zip(position).zip(&self.token_type) {
                *x = f32::from(w) * scale + p + t;
            }
        }
        layer_norm(&mut ws.x, &self.embedding_norm);
        let f32_products = total >= F32_MIN_TOKENS;
        for layer in &self.layers {
            if f32_products {
                let w = &mut ws.weights;
                layer.query.apply_f32(&ws.x, w, &mut ws.q);
                layer.key.apply_f32(&ws.x, w, &mut ws.k);
                layer.value.apply_f32(&ws.x, w, &mut ws.v);
            } else {
                ws.quant.quantize(&ws.x, DIMS);
                layer.query.apply(&ws.quant, &mut ws.q);
                layer.key.apply(&ws.quant, &mut ws.k);
                layer.value.apply(&ws.quant, &mut ws.v);
            }
            attention(lengths(), ws);
            layer.attention_out.apply_any(
                &ws.ctx,
                f32_products,
                &mut ws.quant,
                &mut ws.weights,
                &mut ws.y,
            );
            add(&mut ws.x, &ws.y);
            layer_norm(&mut ws.x, &layer.attention_norm);
            layer.intermediate.apply_any(
                &ws.x,
                f32_products,
                &mut ws.quant,
                &mut ws.weights,
                &mut ws.h,
            );
            ws.h.iter_mut().for_each(|v| *v = gelu(*v));
            layer.output.apply_any(
                &ws.h,
                f32_products,
                &mut ws.quant,
                &mut ws.weights,
                &mut ws.y,
            );
            add(&mut ws.x, &ws.y);
            layer_norm(&mut ws.x, &layer.output_norm);
        }
        // Mean pooling (the mean's divisor goes with normalising).
        let mut start = 0;
        for (n, pooled) in lengths().zip(out.chunks_exact_mut(DIMS)) {
            pooled.fill(0.0);
            for row in ws.x[start * DIMS..(start + n) * DIMS].chunks_exact(DIMS) {
                add(pooled, row);
            }
            normalise(pooled);
            start += n;
        }
    }
}

/// Buffers of the forward pass, kept between calls: a question allocates nothing, and a
/// thread embedding passages reuses one set for every batch.
#[derive(Debug, Default)]
pub struct Workspace {
    x: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    ctx: Vec<f32>,
    h: Vec<f32>,
    y: Vec<f32>,
    quant: QuantRows,
    /// One weight matrix converted to f32 (long inputs only).
    weights: Vec<f32>,
    /// One row of attention weights.
    scores: Vec<f32>,
    /// One head's keys of one text, transposed (dimension-major).
    keys: Vec<f32>,
}

impl Linear {
    /// [`Self::apply_f32`] or, quantising `x` into `quant` first, [`Self::apply`].
    fn apply_any(
        &self,
        x: &[f32],
        f32_products: bool,
        quant: &mut QuantRows,
        weights: &mut Vec<f32>,
        out: &mut Vec<f32>,
    ) {
        if f32_products {
            self.apply_f32(x, weights, out);
        } else {
            quant.quantize(x, self.cols);
            self.apply(quant, out);
        }
    }

    /// `out = x · Wᵀ · scale + bias` in f32, the weights converted into `weights` first.
    fn apply_f32(&self, x: &[f32], weights: &mut Vec<f32>, out: &mut Vec<f32>) {
        let n = x.len() / self.cols;
        // Resized and filled row by row rather than extended from an iterator: these loops
        // vectorise, the iterator's did not (a tenth of the passages' time).
        weights.resize(self.rows * self.cols, 0.0);
        for ((w, v), &s) in weights
            .chunks_exact_mut(self.cols)
            .zip(self.values.chunks_exact(self.cols))
            .zip(&self.scale)
        {
            for (w, &v) in w.iter_mut().zip(v) {
                *w = f32::from(v) * s;
            }
        }
        out.resize(n * self.rows, 0.0);
        for row in out.chunks_exact_mut(self.rows) {
            row.copy_from_slice(&self.bias);
        }
        // SAFETY: the pointers and strides describe `x` (n × cols, row-major), the converted
        // weights read as their transpose (cols × rows), and `out` (n × rows); the three
        // buffers hold exactly that many elements and do not overlap.
        unsafe {
            matrixmultiply::sgemm(
                n,
                self.cols,
                self.rows,
                1.0,
                x.as_ptr(),
                self.cols as isize,
                1,
                weights.as_ptr(),
                1,
                self.cols as isize,
                1.0,
                out.as_mut_ptr(),
                self.rows as isize,
                1,
            );
        }
    }

    /// `out = x · Wᵀ · scale + bias` for the quantised rows of `x`.
    fn apply(&self, x: &QuantRows, out: &mut Vec<f32>) {
        out.clear();
        out.resize(x.rows() * self.rows, 0.0);
        let weights = Int8Rows {
            rows: self.rows,
            cols: self.cols,
            values: self.values,
            scales: &self.scale,
        };
        kernel::matmul(x, &weights, Some(&self.bias), out);
    }
}

/// Multi-head self-attention within each text of the batch (`lengths` tokens each, one after
/// the other in `ws.q`, `ws.k`, `ws.v`), into `ws.ctx`.
#[inline(always)]
fn attention(lengths: impl Iterator<Item = usize>, ws: &mut Workspace) {
    const HEAD: usize = DIMS / HEADS;
    let scale = 1.0 / (HEAD as f32).sqrt();
    let Workspace {
        q,
        k,
        v,
        ctx,
        scores,
        keys,
        ..
    } = ws;
    ctx.clear();
    ctx.resize(q.len(), 0.0);
    let mut start = 0;
    for n in lengths {
        scores.clear();
        scores.resize(n, 0.0);
        keys.clear();
        keys.resize(HEAD * n, 0.0);
        for off in (0..DIMS).step_by(HEAD) {
            // Keys transposed, so that a query's scores are sums of whole rows (vectorised
            // over the text's tokens) rather than many short dot products.
            for j in 0..n {
                let key = &k[(start + j) * DIMS + off..][..HEAD];
                for (d, &value) in key.iter().enumerate() {
                    keys[d * n + j] = value;
                }
            }
            for i in 0..n {
                let query = &q[(start + i) * DIMS + off..][..HEAD];
                scores.fill(0.0);
                for (&qd, row) in query.iter().zip(keys.chunks_exact(n)) {
                    let qd = qd * scale;
                    for (s, &kv) in scores.iter_mut().zip(row) {
                        *s += qd * kv;
                    }
                }
                softmax(scores);
                let out = &mut ctx[(start + i) * DIMS + off..][..HEAD];
                for (j, &w) in scores.iter().enumerate() {
                    let value = &v[(start + j) * DIMS + off..][..HEAD];
                    for (o, &x) in out.iter_mut().zip(value) {
                        *o += w * x;
                    }
                }
            }
        }
        start += n;
    }
}

#[inline(always)]
fn softmax(row: &mut [f32]) {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = row.chunks_exact(8);
    let mut max = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for c in chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l = l.max(v);
        }
    }
    for l in lanes {
        max = max.max(l);
    }
    row.iter_mut().for_each(|v| *v = exp(*v - max));
    let inv = 1.0 / sum(row);
    row.iter_mut().for_each(|v| *v *= inv);
}

/// Sum with eight running totals, so that it vectorises.
#[inline(always)]
fn sum(v: &[f32]) -> f32 {
    let mut lanes = [0.0_f32; 8];
    let chunks = v.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l += x;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[inline(always)]
fn add(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
}

#[inline(always)]
fn layer_norm(x: &mut [f32], norm: &LayerNorm) {
    for row in x.chunks_exact_mut(DIMS) {
        let mean = sum(row) / DIMS as f32;
        let mut lanes = [0.0_f32; 8];
        for c in row.chunks_exact(8) {
            for (l, &v) in lanes.iter_mut().zip(c) {
                *l += (v - mean) * (v - mean);
            }
        }
        let var = lanes.iter().sum::<f32>() / DIMS as f32;
        let inv = 1.0 / (var + 1e-12).sqrt();
        for ((v, w), b) in row.iter_mut().zip(&norm.weight).zip(&norm.bias) {
            *v = (*v - mean) * inv * w + b;
        }
    }
}

/// e^x to within 2e-7 relative: 2ⁿ · e^r with n = round(x / ln 2) and |r| ≤ ln 2 / 2, e^r by
/// its Taylor series to r⁶. Written without calls or branches, so that loops over it
/// vectorise (the library's `exp` is a call per element; softmax and GELU take millions).
#[inline(always)]
fn exp(x: f32) -> f32 {
    // ln 2 in two parts: the first has few enough bits that n × it is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let n = kernel::round(x * std::f32::consts::LOG2_E);
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (1.0 / 2.0
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let two_n = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * two_n
}

/// GELU with the exact (erf) form BERT uses.
#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// Abramowitz–Stegun 7.1.26 (error below 1.5e-7, far under f32 activations' noise).
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = ((((1.061_405_4 * t - 1.453_152_1) * t) + 1.421_413_8) * t - 0.284_496_72) * t
        + 0.254_829_6;
    (1.0 - poly * t * exp(-a * a)).copysign(x)
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

/// Lowers the scheduling priority of the calling thread and of the threads it starts later
/// (Linux; nothing elsewhere): passage vectors computed while the bot answers then take only
/// the processor time answering leaves, however many minutes a large corpus needs.
pub fn run_in_background_priority() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: setpriority takes no pointers; with `who` 0 it changes the nice value of the
    // calling thread only (a per-thread attribute on Linux), which new threads inherit.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

/// What the model reads of a passage: its lead-in, if any, and its text.
pub fn passage_input(p: &crate::corpus::Passage) -> Cow<'_, str> {
    match &p.context {
        Some(c) => Cow::Owned(format!("{c} {}", p.text)),
        None => Cow::Borrowed(&p.text),
    }
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

    /// Reference vectors of the original float model (`scripts/reference_vectors.py`).
    #[derive(serde::Deserialize)]
    struct Reference {
        text: String,
        ids: Vec<u32>,
        vector: Vec<f32>,
    }

    #[test]
    fn stays_within_cosine_0_98_of_the_float_model_on_every_dimension() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/minilm-reference.json"
        );
        let data = std::fs::read_to_string(path).expect("reference vectors");
        let references: Vec<Reference> = serde_json::from_str(&data).expect("json");
        assert!(references.len() >= 5);
        for r in &references {
            assert_eq!(r.vector.len(), DIMS);
            assert_eq!(model().token_ids(&r.text), r.ids, "{}", r.text);
            let v = model().embed(&r.text);
            assert!((v.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4);
            let cos = cosine(&v, &r.vector);
            // Shown with --nocapture: the margin, not only the verdict.
            eprintln!("{} tokens: cosine {cos:.5}", r.ids.len());
            assert!(cos >= 0.98, "{:?}: cosine {cos}", r.text);
            // No dimension strays either: each within 0.02 of the float model's.
            for (d, (a, b)) in v.iter().zip(&r.vector).enumerate() {
                assert!(
                    (a - b).abs() < 0.02,
                    "{:?}: dimension {d}: {a} vs {b}",
                    r.text
                );
            }
        }
    }

    #[test]
    fn batches_give_the_vectors_of_texts_embedded_alone() {
        let texts: Vec<Cow<'_, str>> = [
            "the workers overthrew the czar",
            "Lenin returned to Russia in April 1917 and presented the April Theses.",
            "",
            "soviets",
        ]
        .into_iter()
        .map(Cow::Borrowed)
        .collect();
        let mut reported = Vec::new();
        let batched = model().embed_many(&texts, 2, &mut |n| reported.push(n));
        assert_eq!(reported.last(), Some(&texts.len()));
        for (text, v) in texts.iter().zip(&batched) {
            assert_eq!(v, &model().embed(text), "{text:?}");
        }
    }

    #[test]
    fn fast_exp_and_gelu_match_the_library() {
        for i in -2000..=2000 {
            let x = i as f32 / 40.0;
            let (fast, want) = (exp(x), x.exp());
            assert!(
                (fast - want).abs() <= 1e-6 * want,
                "exp({x}): {fast} vs {want}"
            );
        }
        assert!(exp(-200.0) >= 0.0 && exp(-200.0) < 1e-37);
        assert!(exp(200.0).is_finite());
        assert!((gelu(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((gelu(-1.0) + 0.158_655_3).abs() < 1e-6);
        assert_eq!(gelu(0.0), 0.0);
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
}
