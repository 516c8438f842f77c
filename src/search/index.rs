//! The tantivy index over passages: schema, building (in memory, or on disk under the data
//! directory for large corpora, rebuilt only when the corpus or the analyser changes), and the
//! text's vocabulary as question analysis sees it: tantivy's own term dictionaries, looked up
//! directly and searched for typos with a Levenshtein automaton.

use rustc_hash::FxHashMap;
use std::path::Path;

use tantivy::query::FuzzyTermQuery;
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{PreTokenizedString, Token as TantivyToken};
use tantivy::{Index, IndexReader, ReloadPolicy, Searcher, TantivyDocument, Term};

use super::analysis::{Analyzer, Token, ANALYZER_VERSION};
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
/// What a stored index was built from: the corpus hash and the analyser version, written last.
const BUILT_FROM_FILE: &str = "built-from";

/// The contents of [`BUILT_FROM_FILE`] for an index of `corpus`.
fn built_from(corpus: &Corpus) -> String {
    format!("corpus {}\nanalyzer {ANALYZER_VERSION}\n", corpus.hash)
}

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

/// Shortest word typo correction tries: shorter words have too many neighbours one edit away.
const MIN_TYPO_LETTERS: usize = 4;
/// From this many letters a typo may be two edits away instead of one.
const TWO_EDIT_LETTERS: usize = 8;

fn io_err(context: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |source| Error::Io {
        context: context.to_string(),
        source,
    }
}

/// The built index with its searcher.
pub struct PassageIndex {
    /// Schema fields.
    pub fields: Fields,
    /// The searcher over the finished index (never reloaded: the index does not change once
    /// built).
    pub searcher: Searcher,
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
        let stamp_path = dir.join(BUILT_FROM_FILE);
        let stamp = built_from(corpus);
        let stored = std::fs::read_to_string(&stamp_path).unwrap_or_default();
        let (schema, fields) = schema();
        if stored == stamp {
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
        // Written last: an interrupted build leaves no stamp and is rebuilt next time.
        std::fs::write(&stamp_path, stamp).map_err(io_err("writing the index stamp"))?;
        Self::finish(index, fields, false)
    }

    fn finish(index: Index, fields: Fields, reopened: bool) -> Result<PassageIndex> {
        register_tokenizer(&index);
        let reader: IndexReader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(PassageIndex {
            fields,
            searcher: reader.searcher(),
            reopened,
        })
    }

    /// How many passages use `text` in `field` (as indexed: a stem in `body`, a word form in
    /// `exact`).
    pub fn doc_freq(&self, field: Field, text: &str) -> u32 {
        let df = self
            .searcher
            .doc_freq(&Term::from_field_text(field, text))
            .unwrap_or(0);
        u32::try_from(df).unwrap_or(u32::MAX)
    }

    /// Whether the text uses the stem anywhere: in a passage, a section title or a lead-in.
    pub fn has_stem(&self, stem: &str) -> bool {
        [self.fields.body, self.fields.title, self.fields.context]
            .into_iter()
            .any(|field| self.doc_freq(field, stem) > 0)
    }

    /// The text's word form nearest `word` by edit distance (one edit for words of 4 to 7
    /// letters, two from 8; a transposition is one edit), the most used of equals, found by
    /// running tantivy's Levenshtein automaton over the term dictionary of word forms.
    pub fn closest(&self, word: &str) -> Result<Option<String>> {
        let letters = word.chars().count();
        if letters < MIN_TYPO_LETTERS || word.chars().any(|c| c.is_ascii_digit()) {
            return Ok(None);
        }
        let max = if letters >= TWO_EDIT_LETTERS { 2 } else { 1 };
        for distance in 1..=max {
            let query = FuzzyTermQuery::new(
                Term::from_field_text(self.fields.exact, word),
                distance,
                true,
            );
            let automaton = query.automaton()?;
            let mut found: FxHashMap<String, u32> = FxHashMap::default();
            for segment in self.searcher.segment_readers() {
                let inverted = segment.inverted_index(self.fields.exact)?;
                let mut stream = inverted
                    .terms()
                    .search(&automaton)
                    .into_stream()
                    .map_err(io_err("term dictionary"))?;
                while stream.advance() {
                    if let Ok(term) = std::str::from_utf8(stream.key()) {
                        *found.entry(term.to_string()).or_default() += stream.value().doc_freq;
                    }
                }
            }
            // The most used, then the first in byte order, so that answers never depend on
            // the order segments were written in.
            let best = found
                .into_iter()
                .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)));
            if let Some((term, _)) = best {
                return Ok(Some(term));
            }
        }
        Ok(None)
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

    fn index_of(text: &str) -> PassageIndex {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("doc.txt"), text).expect("write");
        let corpus = Corpus::load(dir.path()).expect("corpus");
        PassageIndex::build_in_ram(&corpus, &Analyzer::default(), &[]).expect("index")
    }

    #[test]
    fn typos_are_found_in_the_term_dictionary() {
        let index = index_of(
            "Title\n\nThe committee met the peasants, and the committee voted. \
             A peasant form came from the committees.\n",
        );
        let closest = |w: &str| index.closest(w).expect("search");
        assert_eq!(closest("commitee").as_deref(), Some("committee"));
        assert_eq!(closest("peasents").as_deref(), Some("peasants"));
        // A transposition is one edit.
        assert_eq!(closest("fomr").as_deref(), Some("form"));
        // Too far, too short, or a number: no correction.
        assert_eq!(closest("zasulich"), None);
        assert_eq!(closest("frm"), None);
        assert_eq!(closest("1917"), None);
        assert!(index.has_stem("committe") && !index.has_stem("zasulich"));
        assert_eq!(index.doc_freq(index.fields.exact, "committee"), 1);
    }

    #[test]
    fn a_stored_index_is_rebuilt_when_the_analyser_changes() {
        let text = tempfile::tempdir().expect("temp dir");
        std::fs::write(text.path().join("doc.txt"), "Title\n\nSome words here.\n").expect("write");
        let corpus = Corpus::load(text.path()).expect("corpus");
        let data = tempfile::tempdir().expect("temp dir");
        let dir = data.path().join("index");
        let open = || {
            PassageIndex::open_or_build(&corpus, &Analyzer::default(), &[], &dir, &mut |_| {})
                .expect("index")
        };
        assert!(!open().reopened);
        assert!(open().reopened);
        // An index stamped by another analyser version is built again.
        let stamp = dir.join(BUILT_FROM_FILE);
        let old = std::fs::read_to_string(&stamp).expect("stamp");
        std::fs::write(&stamp, old.replace(ANALYZER_VERSION, "an older analyser")).expect("write");
        assert!(!open().reopened);
        assert!(open().reopened);
    }
}
