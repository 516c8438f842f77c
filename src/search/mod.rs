//! Retrieval: from a natural-language question to ranked passages, with a verdict on whether
//! the text covers the question.
//!
//! The stages, one module each: analyse text the same way everywhere ([`analysis`]); read
//! the question against the text's vocabulary, correcting typos ([`query`], with the word
//! tables of [`lexicon`]); fetch candidates with one tantivy query ([`candidates`], over the
//! index of [`index`]); re-rank them ([`rank`], whose [`Weights`] hold every tunable number);
//! judge whether the text covers the question at all ([`confidence`]). The semantic model
//! ([`dense`]) joins the candidates and the score; excerpts are cut by [`excerpt`].

pub mod analysis;
pub mod candidates;
pub mod confidence;
pub mod dense;
pub mod excerpt;
pub mod index;
pub mod lexicon;
pub mod query;
pub mod rank;

use rustc_hash::FxHashMap;
use std::path::Path;

use crate::corpus::Corpus;
use crate::error::{Error, Result};
use analysis::{Analyzer, Token};
use index::PassageIndex;

pub use confidence::{Evidence, Focus, FocusKind, Tier};
pub use lexicon::is_english_word;
pub use query::{question_kind, QueryTerm, QuestionKind, Reading, TermStatus};
pub use rank::{has_quantity, Weights};

/// Longest question accepted, in bytes.
pub const MAX_QUESTION_BYTES: usize = 2000;

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
    /// The question as read: its analysed words, its kind, its corrected question words.
    pub reading: Reading,
    /// What the question is about, with the evidence that the text uses it.
    pub focus: Vec<Focus>,
    /// How sure the ranking is that the text covers the question, 0..1: the best coverage
    /// of the question among the leading passages, moved by the model's closeness.
    pub confidence: f32,
    /// The semantic model's cosine between the question and the closest passage, when the
    /// model takes part.
    pub best_similarity: Option<f32>,
    /// The mean of that cosine over every passage: how close the question is to the text as
    /// a whole.
    pub mean_similarity: Option<f32>,
    /// Whether half or more of the question's words are unknown to the text and to English.
    pub garbled: bool,
    /// Whether the semantic model took part (passage vectors were ready).
    pub semantic: bool,
}

impl Ranking {
    /// The question's analysed words.
    pub fn terms(&self) -> &[QueryTerm] {
        &self.reading.terms
    }

    /// The question's kind.
    pub fn kind(&self) -> QuestionKind {
        self.reading.kind
    }

    /// What the question names that the text never mentions: names, compound terms, nouns.
    pub fn never_mentioned(&self) -> Vec<String> {
        confidence::never_mentioned(&self.focus)
    }

    /// The tier of the answer, given the confidence under which answers are unsure.
    pub fn tier(&self, min_confidence: f32, weights: &Weights) -> Tier {
        confidence::tier(
            !self.hits.is_empty(),
            &self.focus,
            self.best_similarity,
            self.garbled,
            self.confidence,
            min_confidence,
            weights,
        )
    }
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
    weights: Weights,
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

    /// Opens the index stored in `dir`, rebuilding it if the corpus or the analyser changed.
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
        let num_docs = index.searcher.num_docs() as f32;
        let mut engine = SearchEngine {
            analyzer,
            index,
            num_docs,
            weights: Weights::default(),
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

    /// The weights in force.
    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    /// Ranks with other weights (an evaluation trying a value).
    pub fn set_weights(&mut self, weights: Weights) {
        self.weights = weights;
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

    /// Reads a question against the text: its words, their typos, its kind.
    pub fn read(&self, question: &str) -> Result<Reading> {
        query::read(&self.analyzer, &self.index, self.num_docs, question)
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
        let w = &self.weights;
        let reading = self.read(question)?;
        if reading.terms.is_empty() {
            return Err(Error::BadQuestion(
                "the question has no words to search for; ask about something in the text"
                    .to_string(),
            ));
        }
        let terms = &reading.terms;
        let focus = confidence::focus(&self.analyzer, &self.index, corpus, w, question, &reading)?;
        let garbled = confidence::garbled(terms);
        let searchable: Vec<&QueryTerm> = terms
            .iter()
            .filter(|t| !matches!(t.status, TermStatus::Unknown { .. }))
            .collect();
        let total_weight: f32 = terms.iter().map(|t| t.idf).sum();
        // A word no passage has cannot tell passages apart: for ranking it keeps only part of
        // its weight, so that it does not shrink coverage against the other features.
        let rank_weight: f32 = terms
            .iter()
            .map(|t| match t.status {
                TermStatus::Unknown { .. } => t.idf * w.unknown_share,
                _ => t.idf,
            })
            .sum::<f32>()
            .max(f32::MIN_POSITIVE);
        if searchable.is_empty() {
            return Ok(Ranking {
                hits: Vec::new(),
                reading,
                focus,
                confidence: 0.0,
                best_similarity: None,
                mean_similarity: None,
                garbled,
                semantic: false,
            });
        }
        // Each stem the ranking looks for, with the question term it stands for and how much
        // finding it counts: fully for the term's own stem, partly for a related word's.
        let expansions = candidates::expansions(&self.analyzer, &self.index, terms);
        let mut credits: FxHashMap<&str, (usize, f32)> = FxHashMap::default();
        for (i, t) in terms.iter().enumerate() {
            if !matches!(t.status, TermStatus::Unknown { .. }) {
                credits.insert(t.stem.as_str(), (i, 1.0));
            }
        }
        for (stem, i) in &expansions {
            credits
                .entry(stem.as_str())
                .or_insert((*i, w.related_credit));
        }
        let max_idf = query::idf(self.num_docs, 0);
        let mut candidates =
            candidates::fetch(&self.index, w, &searchable, &expansions, terms, max_idf)?;
        // The question's cosine with every passage, once passage vectors are ready.
        let similarities = match self.vectors.get() {
            None => None,
            Some(vectors) => Some(vectors.similarities(&dense::MiniLm::shipped()?.embed(question))),
        };
        // Passages the question is semantically close to join the candidates even when they
        // share no word with it.
        let mut best_similarity = None;
        let mut mean_similarity = None;
        if let Some(sims) = &similarities {
            mean_similarity = Some(sims.iter().sum::<f32>() / sims.len().max(1) as f32);
            let nearest = dense::nearest(sims, w.semantic_candidates);
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
        let subject = rank::definition_subject(&reading.words, terms, reading.kind);

        // Per-candidate features.
        let mut base: FxHashMap<usize, (f32, f32)> = FxHashMap::default(); // id -> (score, coverage)
        for &(id, bm25) in &candidates {
            let Some(passage) = corpus.passages.get(id) else {
                continue;
            };
            let analysed = self.analysed(corpus, id);
            let (tokens, frame) = (&analysed.0, &analysed.1);
            let mut matched = rank::Matched::default();
            for t in tokens {
                matched.add(&credits, &t.stem);
            }
            let mut framed = matched.clone();
            for stem in frame {
                framed.add(&credits, stem);
            }
            let covered = framed.weight(terms);
            let coverage = covered / total_weight.max(f32::MIN_POSITIVE);
            let sentences = match self.sentences.get(id) {
                Some(cached) => std::borrow::Cow::Borrowed(cached.as_slice()),
                None => std::borrow::Cow::Owned(crate::corpus::text::sentences(&passage.text)),
            };
            let sentence =
                rank::best_sentence_weight(&sentences, tokens, &credits, terms) / rank_weight;
            let quantity = if reading.kind == QuestionKind::Quantity && has_quantity(&passage.text)
            {
                w.quantity
            } else {
                0.0
            };
            let definition = match &subject {
                Some(subject) => {
                    let defines = rank::subject_use(&passage.text, tokens, subject).defines;
                    // The passage that opens a section titled with the subject introduces it.
                    let opens = passage.paragraph == 1
                        && passage.part == 0
                        && rank::names_subject(
                            &self.analyzer.tokens(&corpus.section_of(passage).title),
                            subject,
                        );
                    f32::from(u8::from(defines)) * w.definition
                        + f32::from(u8::from(opens)) * w.section_opening
                }
                None => 0.0,
            };
            let sim = similarities
                .as_ref()
                .and_then(|s| s.get(id).copied())
                .unwrap_or(0.0);
            let score = w.lexical * (bm25 / max_bm25)
                + w.coverage * (covered / rank_weight)
                + w.sentence * sentence
                + quantity
                + definition
                + w.semantic * sim;
            // A bibliography entry shares the words of the prose that cites it without
            // answering anything.
            let score = if rank::is_reference_list(&corpus.section_of(passage).title) {
                score * w.reference_list
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
                    score: score + w.neighbour * neighbour,
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
            .take(w.confidence_depth)
            .map(|h| h.coverage)
            .fold(0.0_f32, f32::max);
        hits.truncate(limit);
        // A question about something the text never uses is not covered, however well its
        // other words match.
        let confidence = if focus.iter().any(Focus::missing) {
            confidence * w.missing_factor
        } else {
            confidence
        };
        // A question worded unlike the text covers few of its words, yet the model may find a
        // passage that means what it asks: closeness above the usual level raises confidence,
        // closeness below it lowers it.
        let confidence = match best_similarity {
            Some(sim) => (confidence + w.semantic_confidence * (sim - w.semantic_confidence_base))
                .clamp(0.0, 1.0),
            None => confidence,
        };
        Ok(Ranking {
            hits,
            reading,
            focus,
            confidence,
            best_similarity,
            mean_similarity,
            garbled,
            semantic: similarities.is_some(),
        })
    }
}
