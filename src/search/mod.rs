//! Retrieval: from a natural-language question to ranked passages, with a confidence that
//! tells answerable questions from ones the text does not cover.
//!
//! Stages: analyse the question ([`analysis`]); check each word against the corpus vocabulary,
//! correcting small typos and noting words the text never uses; fetch candidates with BM25 over
//! passage, exact-form, section-title and lead-in fields ([`index`]); re-rank them with query
//! coverage, sentence-level proximity, question-type cues and neighbouring passages.

pub mod analysis;
pub mod dense;
pub mod excerpt;
pub mod index;

use rustc_hash::{FxHashMap, FxHashSet};
use std::path::Path;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, Term};

use crate::corpus::text::MONTHS;
use crate::corpus::Corpus;
use crate::error::{Error, Result};
use analysis::{Analyzer, Token};
use index::PassageIndex;

/// Longest question accepted, in bytes.
pub const MAX_QUESTION_BYTES: usize = 2000;
/// Candidates fetched from the index before re-ranking.
const CANDIDATES: usize = 80;
/// Share of a question term's weight earned by a passage that has only a related word of it
/// (synonym or derivation): a paraphrase is evidence, but weaker than the word itself.
const RELATED_CREDIT: f32 = 0.5;
/// BM25 boost of a related word, scaled by how rare its question term is; low, so that the
/// many loose senses WordNet lists cannot outweigh the question's own words.
const RELATED_BOOST: f32 = 0.3;

/// How a question word relates to the corpus.
#[derive(Debug, Clone, PartialEq)]
pub enum TermStatus {
    /// The corpus uses the word (or a word with the same stem).
    Known,
    /// Not in the corpus, but a corpus word is one or two edits away: a typo.
    Corrected {
        /// What the user typed.
        typed: String,
    },
    /// Not in the corpus and not close to any corpus word.
    Unknown {
        /// Whether it is an ordinary English word (rather than a name or a term of art).
        common: bool,
    },
}

/// One analysed question word.
#[derive(Debug, Clone)]
pub struct QueryTerm {
    /// The word as used for search (after correction).
    pub exact: String,
    /// Its stem.
    pub stem: String,
    /// How it matched the corpus.
    pub status: TermStatus,
    /// Inverse document frequency weight.
    pub idf: f32,
    /// Position in the question.
    pub position: usize,
}

/// What kind of answer the question asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuestionKind {
    /// when / what year / how many / how long / how old ...
    Quantity,
    /// who ...
    Person,
    /// anything else
    Other,
}

/// One ranked passage.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Passage id.
    pub passage: usize,
    /// Final ranking score.
    pub score: f32,
    /// Share of the question's weight the passage (with its lead-in and title) covers, 0..1.
    pub coverage: f32,
}

/// The outcome of a search.
#[derive(Debug, Clone)]
pub struct Ranking {
    /// Passages, best first.
    pub hits: Vec<Hit>,
    /// The question's analysed words.
    pub terms: Vec<QueryTerm>,
    /// Compound terms of the question ("jury duty") that the text never uses as such.
    pub missing_compounds: Vec<String>,
    /// How sure the ranking is that the text covers the question, 0..1.
    pub confidence: f32,
    /// The question's kind.
    pub kind: QuestionKind,
    /// Whether the semantic model took part (passage vectors were ready).
    pub semantic: bool,
}

impl Ranking {
    /// What the question names that the text never mentions: words the corpus never uses and
    /// that are not ordinary English words (names, places, terms of art), then compound terms
    /// the text never uses as such.
    pub fn never_mentioned(&self) -> Vec<String> {
        let mut out = self.missing_names();
        for compound in &self.missing_compounds {
            if out.len() < MAX_MISSING_NAMES && !out.iter().any(|n| compound.contains(n.as_str())) {
                out.push(compound.clone());
            }
        }
        out
    }

    /// Words of the question the corpus never uses and that are not ordinary English words:
    /// names, places, terms of art.
    fn missing_names(&self) -> Vec<String> {
        // Adjacent missing words form one name ("alexandra kollontai").
        let mut names: Vec<(usize, String)> = Vec::new();
        for t in &self.terms {
            if !matches!(t.status, TermStatus::Unknown { common: false }) {
                continue;
            }
            match names.last_mut() {
                Some((last, name)) if *last + 1 == t.position => {
                    name.push(' ');
                    name.push_str(&t.exact);
                    *last = t.position;
                }
                _ => names.push((t.position, t.exact.clone())),
            }
        }
        // Many unknown words, or a long run of them, are no name: the question is in another
        // language or garbled, and listing its words back would read as nonsense.
        if names.len() > MAX_MISSING_NAMES
            || names
                .iter()
                .any(|(_, n)| n.split(' ').count() > MAX_NAME_WORDS)
        {
            return Vec::new();
        }
        names.into_iter().map(|(_, n)| n).collect()
    }
}

/// Most separate names an abstention lists as never mentioned.
const MAX_MISSING_NAMES: usize = 2;
/// Most words in one such name ("alexandra mikhailovna kollontai").
const MAX_NAME_WORDS: usize = 3;

/// The SCOWL English word list, one word a line, sorted (byte order).
const ENGLISH_WORDS: &str = include_str!("../../assets/words/english-words.txt");

/// Related words (synonyms, derivations, pertainyms) for common English words, from WordNet
/// 3.0 (see assets/wordnet/related-words.COPYRIGHT): one line per word, `word related related ...`, sorted by
/// the first word (byte order).
const RELATED_WORDS: &str = include_str!("../../assets/wordnet/related-words.txt");

/// Two- and three-word nouns from WordNet 3.0 (see assets/wordnet/compounds.COPYRIGHT), one a line with
/// `_` between the words (`civil_war`), sorted (byte order).
const COMPOUNDS: &str = include_str!("../../assets/wordnet/compounds.txt");

/// The line of `table` whose first space-separated word is `key`, by binary search over the
/// text itself: `table` must be sorted by first word in byte order with no word repeated (a
/// test checks all three). Nothing is built at start-up: loading the two tables into hash
/// maps took about a seventh of a whole `studybot eval` run.
fn sorted_line(table: &'static str, key: &str) -> Option<&'static str> {
    let bytes = table.as_bytes();
    // `lo` and `hi` are always line starts (or the end of the table).
    let (mut lo, mut hi) = (0, table.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let start = bytes[lo..mid]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(lo, |i| lo + i + 1);
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(table.len(), |i| start + i);
        let line = &table[start..end];
        let head = line.split(' ').next().unwrap_or(line);
        match head.cmp(key) {
            std::cmp::Ordering::Equal => return Some(line),
            std::cmp::Ordering::Less => lo = end + 1,
            std::cmp::Ordering::Greater => hi = start,
        }
    }
    None
}

/// Words related to `word`, if the WordNet table lists it.
fn related_words(word: &str) -> Option<impl Iterator<Item = &'static str>> {
    sorted_line(RELATED_WORDS, word).map(|line| line.split(' ').skip(1))
}

/// The WordNet compound noun the lowercase `words` make, the last one perhaps plural ("stock
/// options"), with the other compounds of the same sense: `labor_union trade_union`.
fn compound(words: &[String]) -> Option<&'static str> {
    if words.len() < 2 {
        return None;
    }
    let (last, init) = words.split_last()?;
    let singulars = [
        Some(last.to_string()),
        last.strip_suffix('s').map(str::to_string),
        last.strip_suffix("es").map(str::to_string),
        last.strip_suffix("ies").map(|w| format!("{w}y")),
    ];
    singulars.into_iter().flatten().find_map(|last| {
        let mut key = init.join("_");
        key.push('_');
        key.push_str(&last);
        sorted_line(COMPOUNDS, &key)
    })
}

/// Whether `word` is an ordinary English word (from the SCOWL word list, with common endings).
pub fn is_english_word(word: &str) -> bool {
    let known = |w: &str| sorted_line(ENGLISH_WORDS, w).is_some();
    if known(word) {
        return true;
    }
    ["s", "es", "ed", "ing", "ly", "er", "ers"]
        .iter()
        .any(|suffix| word.strip_suffix(suffix).is_some_and(known))
}

/// Every passage's analysed words and frame stems, for corpora small enough to keep them
/// (empty otherwise). Indexing and ranking both use them, so they are analysed once.
fn analyse_passages(analyzer: &Analyzer, corpus: &Corpus) -> Vec<(Vec<Token>, Vec<String>)> {
    if corpus.passages.len() > MAX_CACHED_PASSAGES {
        return Vec::new();
    }
    corpus
        .passages
        .iter()
        .map(|p| (analyzer.tokens(&p.text), frame_stems(analyzer, corpus, p)))
        .collect()
}

/// Stems of what frames a passage without being its text: lead-in, section title, speaker.
fn frame_stems(
    analyzer: &Analyzer,
    corpus: &Corpus,
    passage: &crate::corpus::Passage,
) -> Vec<String> {
    [
        passage.context.as_deref(),
        Some(corpus.section_of(passage).title.as_str()),
        passage.speaker.as_deref(),
    ]
    .into_iter()
    .flatten()
    .flat_map(|text| analyzer.tokens(text))
    .map(|t| t.stem)
    .collect()
}

/// The search engine over one corpus.
pub struct SearchEngine {
    analyzer: Analyzer,
    index: PassageIndex,
    num_docs: f32,
    /// Sentence vectors of every passage, once computed (never when the semantic model is
    /// off). Set once, possibly while questions are being answered: the bot answers with
    /// lexical ranking alone until they are ready.
    vectors: std::sync::OnceLock<dense::PassageVectors>,
    /// Analysed words of every passage and of its frame (lead-in, section title, speaker),
    /// likewise: re-analysing candidates was most of the time per question.
    analysed: Vec<(Vec<Token>, Vec<String>)>,
    /// Sentence ranges of every passage, likewise: splitting the ~80 candidates of every
    /// question into sentences again was a tenth of the time per question.
    sentences: Vec<Vec<std::ops::Range<usize>>>,
}

/// Corpora with more passages than this analyse candidates per question instead of keeping
/// every passage's analysed words in memory.
const MAX_CACHED_PASSAGES: usize = 20_000;
/// Weight of the semantic similarity (cosine of sentence vectors) in the final score.
/// Measured in docs/retrieval.md.
const SEMANTIC_WEIGHT: f32 = 2.5;
/// Leading passages whose coverage of the question counts for confidence.
const CONFIDENCE_DEPTH: usize = 9;
/// Passages the question is semantically closest to join the lexical candidates.
const SEMANTIC_CANDIDATES: usize = 10;
/// What a passage in a list of references keeps of its score.
const REFERENCE_LIST_WEIGHT: f32 = 0.5;
/// How much the best passage's semantic closeness to the question moves confidence...
const SEMANTIC_CONFIDENCE_WEIGHT: f32 = 0.5;
/// ...above or below this cosine, the closeness of a typical answerable question.
const SEMANTIC_CONFIDENCE_BASE: f32 = 0.35;

impl std::fmt::Debug for SearchEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchEngine")
            .field("num_docs", &self.num_docs)
            .finish()
    }
}

impl SearchEngine {
    /// Indexes `corpus` in memory.
    pub fn in_memory(corpus: &Corpus) -> Result<SearchEngine> {
        let analyzer = Analyzer::default();
        let analysed = analyse_passages(&analyzer, corpus);
        let index = PassageIndex::build_in_ram(corpus, &analyzer, &analysed)?;
        Ok(Self::from_index(analyzer, index, corpus, analysed))
    }

    /// Opens the index stored in `dir`, rebuilding it if the corpus changed.
    pub fn stored(
        corpus: &Corpus,
        dir: &Path,
        progress: &mut dyn FnMut(usize),
    ) -> Result<SearchEngine> {
        let analyzer = Analyzer::default();
        let analysed = analyse_passages(&analyzer, corpus);
        let index = PassageIndex::open_or_build(corpus, &analyzer, &analysed, dir, progress)?;
        Ok(Self::from_index(analyzer, index, corpus, analysed))
    }

    fn from_index(
        analyzer: Analyzer,
        index: PassageIndex,
        corpus: &Corpus,
        analysed: Vec<(Vec<Token>, Vec<String>)>,
    ) -> SearchEngine {
        let num_docs = index.reader.searcher().num_docs() as f32;
        let mut engine = SearchEngine {
            analyzer,
            index,
            num_docs,
            vectors: std::sync::OnceLock::new(),
            analysed,
            sentences: Vec::new(),
        };
        if !engine.analysed.is_empty() {
            engine.sentences = corpus
                .passages
                .iter()
                .map(|p| crate::corpus::text::sentences(&p.text))
                .collect();
        }
        engine
    }

    /// Turns on the semantic half of ranking with one vector per passage (in passage order,
    /// from [`dense::embed_all`]). Vectors for another number of passages, or a second set,
    /// are ignored.
    pub fn set_passage_vectors(&self, vectors: dense::PassageVectors) {
        if vectors.len() == self.num_docs as usize {
            let _ = self.vectors.set(vectors);
        }
    }

    /// A passage's analysed words (and its frame's stems), from the cache when there is one.
    pub fn analysed(
        &self,
        corpus: &Corpus,
        id: usize,
    ) -> std::borrow::Cow<'_, (Vec<Token>, Vec<String>)> {
        match self.analysed.get(id) {
            Some(cached) => std::borrow::Cow::Borrowed(cached),
            None => std::borrow::Cow::Owned(match corpus.passages.get(id) {
                Some(p) => (
                    self.analyzer.tokens(&p.text),
                    frame_stems(&self.analyzer, corpus, p),
                ),
                None => (Vec::new(), Vec::new()),
            }),
        }
    }

    /// Whether passages have semantic vectors (see [`Self::set_passage_vectors`]).
    pub fn has_passage_vectors(&self) -> bool {
        self.vectors.get().is_some()
    }

    /// Whether the index was reopened from disk.
    pub fn reopened(&self) -> bool {
        self.index.reopened
    }

    /// The analyser, for excerpting with the same notion of words.
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    fn idf(&self, df: u32) -> f32 {
        let n = self.num_docs.max(1.0);
        ((n - df as f32 + 0.5) / (df as f32 + 0.5) + 1.0).ln()
    }

    /// Resolves question words against the corpus vocabulary.
    pub fn analyse_question(&self, question: &str) -> Vec<QueryTerm> {
        let vocab = &self.index.vocabulary;
        let max_idf = self.idf(0);
        let mut seen = FxHashSet::default();
        let mut terms = Vec::new();
        let tokens = self.analyzer.tokens(question);
        let capitalised = |t: &Token| {
            let word = question.get(t.start..t.end).unwrap_or("");
            word.chars().count() > 1 && word.chars().next().is_some_and(char::is_uppercase)
        };
        // A question that capitalises a word after its first shows where its names are: its
        // lowercase words are not names, even when no word list knows them ("und", "wollte").
        let opening = question.find(char::is_alphanumeric).unwrap_or(0);
        let cased = tokens.iter().any(|t| t.start > opening && capitalised(t));
        for token in tokens {
            if !seen.insert(token.exact.clone()) {
                continue;
            }
            let stem_df = vocab.stems.get(&token.stem).copied().unwrap_or(0);
            let term = if stem_df > 0 || vocab.words.contains_key(&token.exact) {
                QueryTerm {
                    idf: self.idf(stem_df),
                    exact: token.exact,
                    stem: token.stem,
                    status: TermStatus::Known,
                    position: token.position,
                }
            } else if let Some((word, _)) = vocab.closest(&token.exact) {
                let stem = self.analyzer.stem(word);
                let df = vocab.stems.get(&stem).copied().unwrap_or(1);
                QueryTerm {
                    idf: self.idf(df),
                    exact: word.to_string(),
                    stem,
                    status: TermStatus::Corrected { typed: token.exact },
                    position: token.position,
                }
            } else {
                // Numbers are not names: "never mentions 1921" would read oddly and mislead.
                // Nor are two-letter abbreviations ("os", "eu"): a text often spells out what
                // they stand for, so they are weak evidence that it never covers the question.
                let common = is_english_word(&token.exact)
                    || token.exact.chars().any(|c| c.is_ascii_digit())
                    || token.exact.chars().count() <= 2
                    || (cased && !capitalised(&token));
                QueryTerm {
                    idf: max_idf,
                    exact: token.exact,
                    stem: token.stem,
                    status: TermStatus::Unknown { common },
                    position: token.position,
                }
            };
            terms.push(term);
        }
        terms
    }

    /// Compound terms of the question ("jury duty", "economic policy") that the text never
    /// uses as such, though it may use their words apart. Like a name the text never uses, such
    /// a term is what a question the text does not cover usually hinges on, and its words alone
    /// match passages about something else.
    fn missing_compounds(&self, corpus: &Corpus, question: &str) -> Result<Vec<String>> {
        let tokens = self.analyzer.tokens(question);
        let mut out = Vec::new();
        // Section titles, analysed once and only if the question has a compound.
        let mut titles: Option<Vec<Vec<Token>>> = None;
        let mut i = 0;
        while i < tokens.len() {
            let mut step = 1;
            for n in [3, 2] {
                let Some(run) = tokens.get(i..i + n) else {
                    continue;
                };
                if run.windows(2).any(|w| w[1].position != w[0].position + 1) {
                    continue;
                }
                // As typed (American spelling, like WordNet's), then as normalised.
                let typed: Vec<String> = run
                    .iter()
                    .map(|t| {
                        question
                            .get(t.start..t.end)
                            .unwrap_or(&t.exact)
                            .to_lowercase()
                    })
                    .collect();
                let exact: Vec<String> = run.iter().map(|t| t.exact.clone()).collect();
                let Some(line) = compound(&typed).or_else(|| compound(&exact)) else {
                    continue;
                };
                step = n;
                let titles = titles.get_or_insert_with(|| {
                    corpus
                        .documents
                        .iter()
                        .flat_map(|d| &d.sections)
                        .map(|s| self.analyzer.tokens(&s.title))
                        .collect()
                });
                // The text may use the term or another name for it ("trade union").
                let own: Vec<&str> = run.iter().map(|t| t.stem.as_str()).collect();
                let mut used = self.has_phrase(titles, &own)?;
                for synonym in line.split(' ').skip(1) {
                    if used {
                        break;
                    }
                    let tokens = self.analyzer.tokens(&synonym.replace('_', " "));
                    let stems: Vec<&str> = tokens.iter().map(|t| t.stem.as_str()).collect();
                    used = self.has_phrase(titles, &stems)?;
                }
                if !used {
                    out.push(typed.join(" "));
                }
                break;
            }
            i += step;
        }
        Ok(out)
    }

    /// Whether the text has `stems` in a row, in a passage or in one of the analysed section
    /// `titles`.
    fn has_phrase(&self, titles: &[Vec<Token>], stems: &[&str]) -> Result<bool> {
        if stems.len() < 2 {
            return Ok(false);
        }
        let in_row = |tokens: &[Token]| {
            tokens.windows(stems.len()).any(|w| {
                w.iter().zip(stems).all(|(t, s)| t.stem == *s)
                    && w.windows(2).all(|p| p[1].position == p[0].position + 1)
            })
        };
        if titles.iter().any(|t| in_row(t)) {
            return Ok(true);
        }
        let field = self.index.fields.body;
        let phrase = PhraseQuery::new(
            stems
                .iter()
                .map(|s| Term::from_field_text(field, s))
                .collect(),
        );
        let searcher = self.index.reader.searcher();
        Ok(searcher.search(&phrase, &tantivy::collector::Count)? > 0)
    }

    /// Ranks passages for `question`.
    pub fn search(&self, corpus: &Corpus, question: &str, limit: usize) -> Result<Ranking> {
        if question.len() > MAX_QUESTION_BYTES {
            return Err(Error::BadQuestion(format!(
                "the question is too long ({} bytes); please keep it under {} characters",
                question.len(),
                MAX_QUESTION_BYTES
            )));
        }
        let terms = self.analyse_question(question);
        let kind = question_kind(question);
        if terms.is_empty() {
            return Err(Error::BadQuestion(
                "the question has no words to search for; ask about something in the text"
                    .to_string(),
            ));
        }
        let searchable: Vec<&QueryTerm> = terms
            .iter()
            .filter(|t| !matches!(t.status, TermStatus::Unknown { .. }))
            .collect();
        let total_weight: f32 = terms.iter().map(|t| t.idf).sum();
        if searchable.is_empty() {
            return Ok(Ranking {
                hits: Vec::new(),
                terms,
                missing_compounds: Vec::new(),
                confidence: 0.0,
                kind,
                semantic: false,
            });
        }
        // Each stem the ranking looks for, with the question term it stands for and how much
        // finding it counts: fully for the term's own stem, partly for a related word's.
        let expansions = self.expansions(&terms);
        let mut credits: FxHashMap<&str, (usize, f32)> = FxHashMap::default();
        for (i, t) in terms.iter().enumerate() {
            if !matches!(t.status, TermStatus::Unknown { .. }) {
                credits.insert(t.stem.as_str(), (i, 1.0));
            }
        }
        for (stem, i) in &expansions {
            credits.entry(stem.as_str()).or_insert((*i, RELATED_CREDIT));
        }
        let mut candidates = self.candidates(&searchable, &expansions, &terms)?;
        // The question's cosine with every passage, once passage vectors are ready.
        let similarities = match self.vectors.get() {
            None => None,
            Some(vectors) => Some(vectors.similarities(&dense::MiniLm::shipped()?.embed(question))),
        };
        // Passages the question is semantically close to join the candidates even when they
        // share no word with it.
        let mut best_similarity = None;
        if let Some(sims) = &similarities {
            let nearest = dense::nearest(sims, SEMANTIC_CANDIDATES);
            best_similarity = nearest.first().map(|b| b.1);
            for (id, _) in nearest {
                if !candidates.iter().any(|c| c.0 == id) {
                    candidates.push((id, 0.0));
                }
            }
        }
        let max_bm25 = candidates
            .iter()
            .map(|c| c.1)
            .fold(f32::MIN_POSITIVE, f32::max);

        // Per-candidate features.
        let mut base: FxHashMap<usize, (f32, f32)> = FxHashMap::default(); // id -> (score, coverage)
        for &(id, bm25) in &candidates {
            let Some(passage) = corpus.passages.get(id) else {
                continue;
            };
            let analysed = self.analysed(corpus, id);
            let (tokens, frame) = (&analysed.0, &analysed.1);
            let mut matched = Matched::default();
            for t in tokens {
                matched.add(&credits, &t.stem);
            }
            let mut framed = matched.clone();
            for stem in frame {
                framed.add(&credits, stem);
            }
            let weight = |m: &Matched| m.weight(&terms);
            let coverage = weight(&framed) / total_weight.max(f32::MIN_POSITIVE);
            let sentences = match self.sentences.get(id) {
                Some(cached) => std::borrow::Cow::Borrowed(cached.as_slice()),
                None => std::borrow::Cow::Owned(crate::corpus::text::sentences(&passage.text)),
            };
            let sentence = best_sentence_weight(&sentences, tokens, &credits, &terms)
                / total_weight.max(f32::MIN_POSITIVE);
            let quantity = if kind == QuestionKind::Quantity && has_quantity(&passage.text) {
                0.08
            } else {
                0.0
            };
            let sim = similarities
                .as_ref()
                .and_then(|s| s.get(id).copied())
                .unwrap_or(0.0);
            let score = 0.45 * (bm25 / max_bm25)
                + 0.35 * coverage
                + 0.2 * sentence
                + quantity
                + SEMANTIC_WEIGHT * sim;
            // A bibliography entry shares the words of the prose that cites it without
            // answering anything.
            let score = if is_reference_list(&corpus.section_of(passage).title) {
                score * REFERENCE_LIST_WEIGHT
            } else {
                score
            };
            base.insert(id, (score, coverage));
        }
        // Neighbours: a point is often developed over adjacent paragraphs.
        let mut hits: Vec<Hit> = base
            .iter()
            .map(|(&id, &(score, coverage))| {
                let (prev, next) = corpus.neighbours(id);
                let neighbour = [prev, next]
                    .into_iter()
                    .flatten()
                    .filter_map(|p| base.get(&p.id).map(|b| b.0))
                    .fold(0.0_f32, f32::max);
                Hit {
                    passage: id,
                    score: score + 0.12 * neighbour,
                    coverage,
                }
            })
            .collect();
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.passage.cmp(&b.passage))
        });
        // Confidence: how much of the question the best-covering of the leading passages
        // covers. The top passage alone would do, but a semantic match worded differently from
        // the question covers few of its words while a passage just below it covers them all.
        let confidence = hits
            .iter()
            .take(CONFIDENCE_DEPTH)
            .map(|h| h.coverage)
            .fold(0.0_f32, f32::max);
        hits.truncate(limit);
        let missing_names = terms
            .iter()
            .filter(|t| matches!(t.status, TermStatus::Unknown { common: false }))
            .count();
        let missing_compounds = self.missing_compounds(corpus, question)?;
        // A question that hinges on a name or a term the text never uses is not covered,
        // however well its other words match.
        let confidence = if missing_names > 0 || !missing_compounds.is_empty() {
            confidence * 0.5
        } else {
            confidence
        };
        // A question worded unlike the text covers few of its words, yet the model may find a
        // passage that means what it asks: closeness above the usual level raises confidence,
        // closeness below it lowers it.
        let confidence = match best_similarity {
            Some(sim) => (confidence
                + SEMANTIC_CONFIDENCE_WEIGHT * (sim - SEMANTIC_CONFIDENCE_BASE))
                .clamp(0.0, 1.0),
            None => confidence,
        };
        Ok(Ranking {
            hits,
            terms,
            missing_compounds,
            confidence,
            kind,
            semantic: similarities.is_some(),
        })
    }

    /// Stems of words related to the question's words that the corpus uses, each with the index
    /// of the question term it relates to. Bridges paraphrase ("foundation" / "base").
    fn expansions(&self, terms: &[QueryTerm]) -> Vec<(String, usize)> {
        let own: FxHashSet<&str> = terms.iter().map(|t| t.stem.as_str()).collect();
        let mut out: Vec<(String, usize)> = Vec::new();
        for (i, t) in terms.iter().enumerate() {
            if matches!(t.status, TermStatus::Unknown { common: false }) {
                continue;
            }
            let Some(words) = related_words(&t.exact) else {
                continue;
            };
            for word in words {
                for token in self.analyzer.tokens(word) {
                    let known = self.index.vocabulary.stems.contains_key(&token.stem);
                    if known
                        && !own.contains(token.stem.as_str())
                        && !out.iter().any(|(s, _)| *s == token.stem)
                    {
                        out.push((token.stem, i));
                    }
                }
            }
        }
        out
    }

    fn candidates(
        &self,
        terms: &[&QueryTerm],
        expansions: &[(String, usize)],
        all_terms: &[QueryTerm],
    ) -> Result<Vec<(usize, f32)>> {
        let f = &self.index.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let term_query = |field, text: &str, boost: f32| -> (Occur, Box<dyn Query>) {
            let q = TermQuery::new(
                Term::from_field_text(field, text),
                IndexRecordOption::WithFreqs,
            );
            (Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost)))
        };
        for t in terms {
            clauses.push(term_query(f.body, &t.stem, 1.0));
            clauses.push(term_query(f.exact, &t.exact, 0.3));
            clauses.push(term_query(f.title, &t.stem, 0.5));
            clauses.push(term_query(f.context, &t.stem, 0.6));
        }
        // Related words count for less than the question's own.
        for (stem, i) in expansions {
            let boost = RELATED_BOOST * (all_terms[*i].idf / self.idf(0)).min(1.0);
            clauses.push(term_query(f.body, stem, boost));
        }
        // Adjacent question words that stay adjacent in a passage ("shop committees").
        for pair in terms.windows(2) {
            if pair[1].position == pair[0].position + 1 {
                let phrase = PhraseQuery::new(vec![
                    Term::from_field_text(f.body, &pair[0].stem),
                    Term::from_field_text(f.body, &pair[1].stem),
                ]);
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(phrase), 0.5)),
                ));
            }
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.index.reader.searcher();
        let top: Vec<(f32, DocAddress)> =
            searcher.search(&query, &TopDocs::with_limit(CANDIDATES).order_by_score())?;
        let mut out = Vec::with_capacity(top.len());
        let mut columns = FxHashMap::default();
        for (score, addr) in top {
            let column = match columns.entry(addr.segment_ord) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let reader = searcher.segment_reader(addr.segment_ord);
                    e.insert(reader.fast_fields().u64("id")?)
                }
            };
            if let Some(id) = column.first(addr.doc_id) {
                out.push((id as usize, score));
            }
        }
        Ok(out)
    }
}

/// Question terms found in a text, each with the best credit any of its stems earned.
#[derive(Debug, Clone, Default)]
struct Matched(FxHashMap<usize, f32>);

impl Matched {
    fn add(&mut self, credits: &FxHashMap<&str, (usize, f32)>, stem: &str) {
        if let Some(&(term, credit)) = credits.get(stem) {
            let best = self.0.entry(term).or_insert(0.0);
            *best = best.max(credit);
        }
    }

    fn weight(&self, terms: &[QueryTerm]) -> f32 {
        self.0
            .iter()
            .map(|(&term, &credit)| terms[term].idf * credit)
            .sum()
    }
}

/// The heaviest sentence of a passage, by the question weight it covers.
fn best_sentence_weight(
    sentences: &[std::ops::Range<usize>],
    tokens: &[Token],
    credits: &FxHashMap<&str, (usize, f32)>,
    terms: &[QueryTerm],
) -> f32 {
    let mut best = 0.0_f32;
    for range in sentences {
        let mut matched = Matched::default();
        for t in tokens
            .iter()
            .filter(|t| t.start >= range.start && t.end <= range.end)
        {
            matched.add(credits, &t.stem);
        }
        best = best.max(matched.weight(terms));
    }
    best
}

/// Whether a section title names a list of references ("8. Informative References",
/// "Bibliography", "Works cited").
fn is_reference_list(title: &str) -> bool {
    let lower = title.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphabetic()).collect();
    words
        .iter()
        .any(|w| matches!(*w, "references" | "bibliography"))
        || words.windows(2).any(|w| w == ["works", "cited"])
}

const NUMBER_WORDS: &[&str] = &[
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "twenty", "thirty", "forty", "fifty", "hundred", "thousand", "million", "dozen",
    "year", "years", "months", "weeks", "days",
];

/// Whether a text states a number, date or duration.
pub fn has_quantity(text: &str) -> bool {
    text.chars().any(|c| c.is_ascii_digit())
        || text
            .split(|c: char| !c.is_alphabetic())
            .map(str::to_lowercase)
            .any(|w| NUMBER_WORDS.contains(&w.as_str()) || MONTHS.contains(&w.as_str()))
}

/// Reads the question's opening words for the kind of answer wanted.
pub fn question_kind(question: &str) -> QuestionKind {
    let q = question.to_lowercase();
    let words: Vec<&str> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let has = |a: &str, b: &str| words.windows(2).any(|w| w[0] == a && w[1] == b);
    if words.first() == Some(&"when")
        || has("what", "year")
        || has("which", "year")
        || has("what", "date")
        || has("which", "date")
        || has("wich", "date")
        || ["many", "much", "long", "old", "often", "meny"]
            .iter()
            .any(|w| has("how", w))
    {
        QuestionKind::Quantity
    } else if words.first() == Some(&"who") || has("who", "was") {
        QuestionKind::Person
    } else {
        QuestionKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_lists_are_told_by_their_section_title() {
        for title in [
            "8. Informative References",
            "References",
            "Bibliography",
            "Works Cited",
        ] {
            assert!(is_reference_list(title), "{title}");
        }
        for title in [
            "Introduction",
            "3.2. Referencing the sources",
            "Preferences",
        ] {
            assert!(!is_reference_list(title), "{title}");
        }
    }

    #[test]
    fn question_kinds() {
        assert_eq!(question_kind("How many deputies?"), QuestionKind::Quantity);
        assert_eq!(question_kind("when did it start"), QuestionKind::Quantity);
        assert_eq!(question_kind("In what year was it"), QuestionKind::Quantity);
        assert_eq!(question_kind("who was john reed?"), QuestionKind::Person);
        assert_eq!(question_kind("why did it fail"), QuestionKind::Other);
    }

    #[test]
    fn related_words_link_forms_and_synonyms() {
        let related = |w| related_words(w).map(|r| r.collect::<Vec<_>>());
        assert!(related("arrival").is_some_and(|r| r.contains(&"arrive")));
        assert!(related("danger").is_some_and(|r| r.contains(&"peril")));
        assert!(related("kollontai").is_none());
        assert!(related("aardvark").is_some_and(|r| r == ["anteater"]));
    }

    #[test]
    fn word_tables_are_sorted_for_binary_search() {
        for table in [ENGLISH_WORDS, RELATED_WORDS, COMPOUNDS] {
            let heads: Vec<&str> = table
                .lines()
                .map(|l| l.split(' ').next().unwrap_or(l))
                .collect();
            assert!(heads.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
            // Every word is found, first and last included.
            for head in &heads {
                assert!(sorted_line(table, head).is_some(), "{head}");
            }
        }
        assert!(sorted_line(ENGLISH_WORDS, "").is_none());
        assert!(sorted_line(ENGLISH_WORDS, "zzzzzzzz").is_none());
    }

    #[test]
    fn compounds_are_found_with_plural_heads_and_other_names() {
        let words = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        assert!(compound(&words("stock options")).is_some());
        assert!(compound(&words("new economic policy")).is_none());
        assert!(compound(&words("economic policy")).is_some());
        assert!(compound(&words("labor unions")).is_some_and(|l| l.contains(" trade_union")));
        assert!(compound(&words("russian workers")).is_none());
        assert!(compound(&words("war")).is_none());
        assert!(compound(&[]).is_none());
    }

    #[test]
    fn english_word_list_knows_common_words_not_names() {
        assert!(is_english_word("boiling"));
        assert!(is_english_word("toppled"));
        // Words of everyday English that a smaller list lacks are not read as names.
        assert!(is_english_word("payout"));
        assert!(!is_english_word("kollontai"));
        assert!(!is_english_word("holodomor"));
    }
}
