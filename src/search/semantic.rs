//! A small semantic signal for paraphrases ("toppled" for "overthrown", "bosses" for
//! "owners"): static token vectors distilled from the all-MiniLM-L6-v2 sentence model
//! (Apache-2.0; see `model/README.md` and `scripts/distill_static_embeddings.py`). A text's
//! vector is the IDF-weighted mean of its WordPiece token vectors, so embedding is a table
//! lookup: no model runtime, no network, microseconds per passage.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Vector width of the shipped table.
pub const DIMS: usize = 128;

static TABLE: &[u8] = include_bytes!("model/tokens.f16");
static VOCAB: &str = include_str!("model/vocab.txt");

/// The token table and vocabulary.
pub struct StaticEmbeddings {
    vocab: HashMap<&'static str, u32>,
    table: &'static [u8],
    dims: usize,
}

impl std::fmt::Debug for StaticEmbeddings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticEmbeddings")
            .field("tokens", &self.vocab.len())
            .field("dims", &self.dims)
            .finish()
    }
}

/// Converts an IEEE half-precision float to f32.
fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits >> 15) << 31;
    let exp = u32::from((bits >> 10) & 0x1f);
    let frac = u32::from(bits & 0x3ff);
    let value = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: normalise.
            let mut e = 127 - 15 + 1;
            let mut f = frac;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(value)
}

impl StaticEmbeddings {
    /// The shipped table (loaded once per process).
    pub fn shipped() -> &'static StaticEmbeddings {
        static SHIPPED: OnceLock<StaticEmbeddings> = OnceLock::new();
        SHIPPED.get_or_init(|| StaticEmbeddings::new(VOCAB, TABLE, DIMS))
    }

    /// A table over `vocab` (one token per line) and rows of `dims` little-endian f16 values.
    pub fn new(vocab: &'static str, table: &'static [u8], dims: usize) -> StaticEmbeddings {
        let vocab: HashMap<&'static str, u32> = vocab
            .lines()
            .enumerate()
            .map(|(i, t)| (t, i as u32))
            .collect();
        let rows = table.len() / (2 * dims.max(1));
        let vocab = vocab
            .into_iter()
            .filter(|(_, id)| (*id as usize) < rows)
            .collect();
        StaticEmbeddings { vocab, table, dims }
    }

    /// Vector width.
    pub fn dims(&self) -> usize {
        self.dims
    }

    fn add_row(&self, id: u32, weight: f32, out: &mut [f32]) {
        let start = id as usize * self.dims * 2;
        let row = &self.table[start..start + self.dims * 2];
        for (o, pair) in out.iter_mut().zip(row.chunks_exact(2)) {
            *o += weight * f16_to_f32(u16::from_le_bytes([pair[0], pair[1]]));
        }
    }

    /// BERT's WordPiece split of one lowercase word: longest vocabulary prefix first, then
    /// `##` continuations. `None` when the word cannot be split.
    pub fn word_pieces(&self, word: &str) -> Option<Vec<u32>> {
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

    /// The weighted mean of the words' token vectors, normalised to unit length. `words` are
    /// (lowercase word, weight) pairs; a word's weight is shared by its pieces. Returns `None`
    /// when no word is known.
    pub fn embed<'a>(&self, words: impl IntoIterator<Item = (&'a str, f32)>) -> Option<Vec<f32>> {
        let mut out = vec![0.0_f32; self.dims];
        let mut any = false;
        for (word, weight) in words {
            let Some(pieces) = self.word_pieces(word) else {
                continue;
            };
            let share = weight / pieces.len() as f32;
            for id in pieces {
                self.add_row(id, share, &mut out);
            }
            any = true;
        }
        let norm = out.iter().map(|v| v * v).sum::<f32>().sqrt();
        (any && norm > 0.0).then(|| {
            out.iter_mut().for_each(|v| *v /= norm);
            out
        })
    }
}

/// Cosine similarity of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embed(text: &str) -> Vec<f32> {
        let words: Vec<String> = text
            .split_whitespace()
            .map(str::to_lowercase)
            .filter(|w| !crate::search::analysis::is_stop_word(w))
            .collect();
        StaticEmbeddings::shipped()
            .embed(words.iter().map(|w| (w.as_str(), 1.0)))
            .unwrap()
    }

    #[test]
    fn half_floats_decode() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert!((f16_to_f32(0x3555) - 0.333_25).abs() < 1e-4);
        assert!(f16_to_f32(0x0001) > 0.0);
    }

    #[test]
    fn the_shipped_table_loads_and_splits_words() {
        let e = StaticEmbeddings::shipped();
        assert_eq!(e.dims(), DIMS);
        assert!(e.word_pieces("revolution").is_some_and(|p| p.len() == 1));
        assert!(e.word_pieces("kornilovites").is_some_and(|p| p.len() >= 2));
        assert_eq!(e.embed([("", 1.0)]), None);
    }

    #[test]
    fn paraphrases_are_closer_than_unrelated_text() {
        let a = embed("the workers overthrew the czar");
        let para = embed("the regime was toppled by the working class");
        let other = embed("the boiling point of water at sea level");
        assert!(cosine(&a, &para) > cosine(&a, &other) + 0.1);
        let books = embed("the owners falsified the accounts");
        let cooking = embed("bosses cooking the books");
        let mutiny = embed("soldiers mutinied at the front");
        assert!(cosine(&books, &cooking) > cosine(&books, &mutiny));
    }
}
