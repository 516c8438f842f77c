//! The tantivy index over passages: schema, building (in memory, or on disk under the data
//! directory for large corpora, rebuilt only when the corpus hash changes) and the vocabulary
//! that query analysis checks words against.

use rustc_hash::FxHashMap;
use std::path::Path;

use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{PreTokenizedString, Token as TantivyToken};
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument};

use super::analysis::{Analyzer, Token};
use crate::corpus::Corpus;
use crate::error::{Error, Result};

/// The fields of a passage document.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// Passage id.
    pub id: Field,
    /// Passage text, stemmed, with positions for phrases.
    pub body: Field,
    /// Passage text, unstemmed (spelling-normalised), to reward exact word forms.
    pub exact: Field,
    /// Section title, stemmed.
    pub title: Field,
    /// Lead-in or subheading, stemmed.
    pub context: Field,
}

const TOKENIZER_NAME: &str = "studybot";
const HASH_FILE: &str = "corpus.sha256";

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let with_positions = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER_NAME)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let with_freqs = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER_NAME)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let id = builder.add_u64_field(
        "id",
        NumericOptions::default()
            .set_fast()
            .set_stored()
            .set_indexed(),
    );
    let body = builder.add_text_field("body", with_positions);
    let exact = builder.add_text_field("exact", with_freqs.clone());
    let title = builder.add_text_field("title", with_freqs.clone());
    let context = builder.add_text_field("context", with_freqs);
    (
        builder.build(),
        Fields {
            id,
            body,
            exact,
            title,
            context,
        },
    )
}

fn pre_tokenized(tokens: &[Token], stemmed: bool) -> PreTokenizedString {
    PreTokenizedString {
        text: String::new(),
        tokens: tokens
            .iter()
            .map(|t| TantivyToken {
                offset_from: t.start,
                offset_to: t.end,
                position: t.position,
                text: if stemmed {
                    t.stem.clone()
                } else {
                    t.exact.clone()
                },
                position_length: 1,
            })
            .collect(),
    }
}

/// Corpus words and how many passages use them, for typo correction and "never mentions".
#[derive(Debug, Default)]
pub struct Vocabulary {
    /// Exact (normalised, unstemmed) word → passages containing it.
    pub words: FxHashMap<String, u32>,
    /// Stem → passages containing it.
    pub stems: FxHashMap<String, u32>,
    /// Words grouped by character count, for edit-distance search.
    by_len: FxHashMap<usize, Vec<String>>,
}

impl Vocabulary {
    fn from_index(reader: &IndexReader, fields: &Fields) -> Result<Vocabulary> {
        let searcher = reader.searcher();
        let mut vocab = Vocabulary::default();
        for segment in searcher.segment_readers() {
            for (field, map) in [
                (fields.exact, &mut vocab.words),
                (fields.body, &mut vocab.stems),
            ] {
                let inverted = segment.inverted_index(field)?;
                let mut stream = inverted
                    .terms()
                    .stream()
                    .map_err(io_err("term dictionary"))?;
                while stream.advance() {
                    let Ok(word) = std::str::from_utf8(stream.key()) else {
                        continue;
                    };
                    *map.entry(word.to_string()).or_default() += stream.value().doc_freq;
                }
            }
        }
        for word in vocab.words.keys() {
            vocab
                .by_len
                .entry(word.chars().count())
                .or_default()
                .push(word.clone());
        }
        for words in vocab.by_len.values_mut() {
            words.sort();
        }
        Ok(vocab)
    }

    /// The most frequent corpus word within a small edit distance of `word`, if any:
    /// distance 1 for words of 4–7 letters, 2 for longer ones.
    pub fn closest(&self, word: &str) -> Option<(&str, usize)> {
        let len = word.chars().count();
        if len < 4 || word.chars().any(|c| c.is_ascii_digit()) {
            return None;
        }
        let max = if len >= 8 { 2 } else { 1 };
        let mut best: Option<(&str, usize, u32)> = None;
        for l in len.saturating_sub(max)..=len + max {
            for candidate in self.by_len.get(&l).into_iter().flatten() {
                let Some(d) = bounded_distance(word, candidate, max) else {
                    continue;
                };
                let df = self.words.get(candidate).copied().unwrap_or(0);
                let better = match best {
                    None => true,
                    Some((_, bd, bdf)) => d < bd || (d == bd && df > bdf),
                };
                if better {
                    best = Some((candidate, d, df));
                }
            }
        }
        best.map(|(w, d, _)| (w, d))
    }
}

/// Optimal-string-alignment distance between `a` and `b`, or `None` when above `max`.
pub fn bounded_distance(a: &str, b: &str, max: usize) -> Option<usize> {
    // Typo correction compares a question word with thousands of corpus words: ASCII words
    // (nearly all) are compared as bytes, with the rows on the stack, allocating nothing.
    if a.is_ascii() && b.is_ascii() {
        return osa_distance(a.as_bytes(), b.as_bytes(), max);
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    osa_distance(&a, &b, max)
}

/// [`bounded_distance`] over letters of any kind.
fn osa_distance<T: PartialEq>(a: &[T], b: &[T], max: usize) -> Option<usize> {
    const STACK: usize = 40;
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let n = b.len() + 1;
    let mut stack = [0usize; 3 * STACK];
    let mut heap = Vec::new();
    let rows: &mut [usize] = if n <= STACK {
        &mut stack[..3 * n]
    } else {
        heap.resize(3 * n, 0);
        &mut heap
    };
    let (mut prev2, rest) = rows.split_at_mut(n);
    let (mut prev, mut cur) = rest.split_at_mut(n);
    for (j, v) in prev.iter_mut().enumerate() {
        *v = j;
    }
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = prev[b.len()];
    (d <= max).then_some(d)
}

fn io_err(context: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |source| Error::Io {
        context: context.to_string(),
        source,
    }
}

/// The built index with its reader and vocabulary.
pub struct PassageIndex {
    /// Schema fields.
    pub fields: Fields,
    /// Reader for searching.
    pub reader: IndexReader,
    /// Corpus vocabulary.
    pub vocabulary: Vocabulary,
    /// Whether the index was reopened from disk rather than built.
    pub reopened: bool,
}

impl std::fmt::Debug for PassageIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassageIndex")
            .field("reopened", &self.reopened)
            .finish()
    }
}

impl PassageIndex {
    /// Builds the index in memory.
    /// `analysed` holds passages' words already analysed, in passage order (possibly none).
    pub fn build_in_ram(
        corpus: &Corpus,
        analyzer: &Analyzer,
        analysed: &[(Vec<Token>, Vec<String>)],
    ) -> Result<PassageIndex> {
        let (schema, fields) = schema();
        let index = Index::create_in_ram(schema);
        // Small corpora: one indexing thread with a small arena starts faster than several.
        fill(&index, &fields, corpus, analyzer, analysed, 1, &mut |_| {})?;
        Self::finish(index, fields, false)
    }

    /// Opens the index stored in `dir` if it was built from this corpus, otherwise (re)builds
    /// it there. `progress` is told how many passages have been indexed.
    pub fn open_or_build(
        corpus: &Corpus,
        analyzer: &Analyzer,
        analysed: &[(Vec<Token>, Vec<String>)],
        dir: &Path,
        progress: &mut dyn FnMut(usize),
    ) -> Result<PassageIndex> {
        let hash_path = dir.join(HASH_FILE);
        let stored_hash = std::fs::read_to_string(&hash_path).unwrap_or_default();
        let (schema, fields) = schema();
        if stored_hash.trim() == corpus.hash {
            if let Ok(index) = Index::open_in_dir(dir) {
                if index.schema() == schema {
                    register_tokenizer(&index);
                    return Self::finish(index, fields, true);
                }
            }
        }
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io_err("clearing the stale index"))?;
        }
        std::fs::create_dir_all(dir).map_err(io_err("creating the index folder"))?;
        let index = Index::create_in_dir(dir, schema)?;
        let threads = std::thread::available_parallelism()
            .map(|n| n.get().min(4))
            .unwrap_or(1);
        fill(
            &index, &fields, corpus, analyzer, analysed, threads, progress,
        )?;
        // Written last: an interrupted build leaves no hash and is rebuilt next time.
        std::fs::write(&hash_path, &corpus.hash).map_err(io_err("writing the index hash"))?;
        Self::finish(index, fields, false)
    }

    fn finish(index: Index, fields: Fields, reopened: bool) -> Result<PassageIndex> {
        register_tokenizer(&index);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let vocabulary = Vocabulary::from_index(&reader, &fields)?;
        Ok(PassageIndex {
            fields,
            reader,
            vocabulary,
            reopened,
        })
    }
}

/// Text is pre-tokenized by [`Analyzer`]; the registered tokenizer only matters if someone
/// queries through tantivy's parser, so it does the same lowercase split.
fn register_tokenizer(index: &Index) {
    use tantivy::tokenizer::{LowerCaser, SimpleTokenizer, TextAnalyzer};
    index.tokenizers().register(
        TOKENIZER_NAME,
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(LowerCaser)
            .build(),
    );
}

fn fill(
    index: &Index,
    fields: &Fields,
    corpus: &Corpus,
    analyzer: &Analyzer,
    analysed: &[(Vec<Token>, Vec<String>)],
    threads: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<()> {
    register_tokenizer(index);
    let arena = if threads == 1 { 20_000_000 } else { 64_000_000 };
    let mut writer = index.writer_with_num_threads(threads, arena * threads)?;
    let mut title_cache: FxHashMap<(usize, usize), Vec<Token>> = FxHashMap::default();
    for (i, passage) in corpus.passages.iter().enumerate() {
        let fresh;
        let tokens = match analysed.get(i) {
            Some((tokens, _)) => tokens,
            None => {
                fresh = analyzer.tokens(&passage.text);
                &fresh
            }
        };
        let title_tokens = title_cache
            .entry((passage.doc, passage.section))
            .or_insert_with(|| analyzer.tokens(&corpus.section_of(passage).title));
        let mut doc = TantivyDocument::default();
        doc.add_u64(fields.id, passage.id as u64);
        doc.add_pre_tokenized_text(fields.body, pre_tokenized(tokens, true));
        doc.add_pre_tokenized_text(fields.exact, pre_tokenized(tokens, false));
        doc.add_pre_tokenized_text(fields.title, pre_tokenized(title_tokens, true));
        if let Some(context) = &passage.context {
            let context_tokens = analyzer.tokens(context);
            doc.add_pre_tokenized_text(fields.context, pre_tokenized(&context_tokens, true));
        }
        writer.add_document(doc)?;
        if i % 1000 == 0 {
            progress(i);
        }
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    progress(corpus.passages.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_handles_transpositions_and_bounds() {
        assert_eq!(bounded_distance("comittee", "committee", 2), Some(1));
        assert_eq!(bounded_distance("peasents", "peasants", 2), Some(1));
        assert_eq!(bounded_distance("wich", "which", 1), Some(1));
        assert_eq!(bounded_distance("form", "from", 1), Some(1));
        assert_eq!(bounded_distance("kollontai", "kornilov", 2), None);
    }
}
