//! The engine: a loaded corpus with its index, answering questions and serving passages.
//! This is the one entry point the adapters (terminal, Telegram) and the quizzes use.

use std::collections::HashSet;
use std::path::Path;

use crate::answer::{Answer, AnswerItem, SectionRef};
use crate::config::{SearchSettings, Settings};
use crate::corpus::cache::{self, CacheUse};
use crate::corpus::Corpus;
use crate::error::Result;
use crate::search::excerpt::{self, Marked};
use crate::search::{dense, SearchEngine, TermStatus, Tier, Weights};

/// Most excerpts one answer can hold (the rest go behind "More").
pub const MAX_TOP_K: usize = 10;

/// A corpus, its index and the search settings.
#[derive(Debug)]
pub struct Engine {
    /// The loaded corpus.
    pub corpus: Corpus,
    search: SearchEngine,
    settings: SearchSettings,
}

/// A section in the table of contents.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TocEntry {
    /// Document index.
    pub doc: usize,
    /// Document title.
    pub document: String,
    /// 1-based section number.
    pub number: usize,
    /// Section title.
    pub title: String,
    /// Number of paragraphs.
    pub paragraphs: usize,
}

/// Folder under `data_dir` holding cached extractions of PDF, EPUB, DOCX and HTML files.
pub const EXTRACTED_DIR: &str = "extracted";

impl Engine {
    /// Loads the corpus named by the settings and indexes it: in memory for small corpora, on
    /// disk under `data_dir/index` (reused while the corpus is unchanged) for large ones.
    pub fn load(settings: &Settings, progress: &mut dyn FnMut(usize, usize)) -> Result<Engine> {
        let (corpus, _) = Self::load_corpus(settings)?;
        Self::with_corpus(corpus, settings, progress)
    }

    /// Loads the corpus named by the settings; a large one (from `search.persist_min_bytes`,
    /// like its stored index) through the parsed-corpus cache under `data_dir`.
    pub fn load_corpus(settings: &Settings) -> Result<(Corpus, CacheUse)> {
        crate::formats::sandbox::set_cache_dir(settings.data_dir.join(EXTRACTED_DIR));
        cache::load(
            &settings.corpus.dir,
            &settings.data_dir.join(cache::CACHE_FILE),
            settings.search.persist_min_bytes,
        )
    }

    /// Indexes an already loaded corpus and computes (or reads back) its passage vectors.
    pub fn with_corpus(
        corpus: Corpus,
        settings: &Settings,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Engine> {
        let engine = Self::lexical(corpus, settings, progress)?;
        engine.add_semantic(settings, progress);
        Ok(engine)
    }

    /// Indexes an already loaded corpus for lexical ranking only; [`Self::add_semantic`]
    /// turns the semantic model on later, even while the engine is answering.
    pub fn lexical(
        corpus: Corpus,
        settings: &Settings,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Engine> {
        let total = corpus.passages.len();
        let search = if corpus.bytes >= settings.search.persist_min_bytes {
            let dir = settings.data_dir.join("index");
            SearchEngine::stored(&corpus, &dir, &mut |done| progress(done, total))?
        } else {
            SearchEngine::in_memory(&corpus)?
        };
        Ok(Engine {
            corpus,
            search,
            settings: settings.search.clone(),
        })
    }

    /// Turns semantic ranking on if `data_dir/semantic` holds this corpus's passage vectors
    /// (and the settings want it); says whether semantic ranking is on.
    pub fn add_cached_semantic(&self, settings: &Settings) -> bool {
        if settings.search.semantic && !self.semantic() {
            let dir = settings.data_dir.join("semantic");
            if let Some(vectors) = dense::cached(&self.corpus.passages, &dir) {
                self.search.set_passage_vectors(vectors);
            }
        }
        self.semantic()
    }

    /// Computes the passages' semantic vectors, or reads them from `data_dir/semantic`
    /// (resuming from the chunks an interrupted run stored), and turns semantic ranking on,
    /// for a corpus of any size, unless the settings turn it off. Says where the vectors came
    /// from, or `None` when semantic ranking stays off. A model that fails leaves lexical
    /// ranking, which still answers well: it is logged, not returned.
    pub fn add_semantic(
        &self,
        settings: &Settings,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Option<dense::VectorSource> {
        let total = self.corpus.passages.len();
        if !settings.search.semantic || self.semantic() {
            return None;
        }
        match dense::embed_all(
            &self.corpus.passages,
            Some(&settings.data_dir.join("semantic")),
            &mut |done| progress(done, total),
        ) {
            Ok((vectors, source)) => {
                self.search.set_passage_vectors(vectors);
                Some(source)
            }
            Err(e) => {
                tracing::warn!("ranking without the semantic model: {e}");
                None
            }
        }
    }

    /// An engine over `dir` with default settings, an in-memory index and lexical ranking only
    /// (no semantic model: tests and benches of everything but ranking quality).
    pub fn in_memory(dir: &Path) -> Result<Engine> {
        let corpus = Corpus::load(dir)?;
        let settings = Settings::default();
        Ok(Engine {
            search: SearchEngine::in_memory(&corpus)?,
            corpus,
            settings: settings.search,
        })
    }

    /// Whether the semantic model takes part in ranking.
    pub fn semantic(&self) -> bool {
        self.search.has_passage_vectors()
    }

    /// Whether the index was reopened from disk instead of built.
    pub fn index_reopened(&self) -> bool {
        self.search.reopened()
    }

    /// The search settings in force.
    pub fn settings(&self) -> &SearchSettings {
        &self.settings
    }

    /// Ranks with other weights: an evaluation trying values without editing code.
    pub fn set_weights(&mut self, weights: Weights) {
        self.search.set_weights(weights);
    }

    /// Answers `question` with up to `top_k` excerpts.
    pub fn ask(&self, question: &str, top_k: usize) -> Result<Answer> {
        self.ask_in(question, top_k, None)
    }

    /// Answers `question` from document `doc` only when given (a chat's current text), from
    /// every document otherwise.
    pub fn ask_in(&self, question: &str, top_k: usize, doc: Option<usize>) -> Result<Answer> {
        let question = question.trim();
        let top_k = top_k.clamp(1, MAX_TOP_K);
        let wanted = top_k * 2 + 3;
        // The ranking is over every document; asking for more keeps enough of one document's
        // passages once the others are left out.
        let fetch = if doc.is_some() { wanted * 8 } else { wanted };
        let mut ranking = self.search.search(&self.corpus, question, fetch)?;
        if let Some(d) = doc {
            let corpus = &self.corpus;
            ranking
                .hits
                .retain(|h| corpus.passages.get(h.passage).is_some_and(|p| p.doc == d));
            ranking.hits.truncate(wanted);
        }
        let stems = excerpt::query_stems(ranking.terms());
        let tier = ranking.tier(self.settings.min_confidence, self.search.weights());
        let results: Vec<AnswerItem> = ranking
            .hits
            .iter()
            .take(top_k)
            .enumerate()
            .map(|(i, hit)| {
                let passage = &self.corpus.passages[hit.passage];
                AnswerItem {
                    rank: i + 1,
                    score: hit.score,
                    passage: hit.passage,
                    citation: self.corpus.citation(passage),
                    text: passage.text.clone(),
                    excerpt: self.excerpt(passage, &stems, ranking.kind()),
                }
            })
            .collect();
        let more = ranking
            .hits
            .iter()
            .skip(top_k)
            .take(top_k)
            .map(|h| h.passage)
            .collect();
        let mut seen = HashSet::new();
        let closest_sections = ranking
            .hits
            .iter()
            .map(|h| &self.corpus.passages[h.passage])
            .filter(|p| seen.insert((p.doc, p.section)))
            .take(3)
            .map(|p| SectionRef {
                doc: p.doc,
                number: p.section,
                title: self.corpus.section_of(p).title.clone(),
            })
            .collect();
        let mut corrections: Vec<(String, String)> = ranking.reading.corrected_words.to_vec();
        corrections.extend(ranking.terms().iter().filter_map(|t| match &t.status {
            TermStatus::Corrected { typed } => Some((typed.clone(), t.exact.clone())),
            _ => None,
        }));
        Ok(Answer {
            question: question.to_string(),
            answered: tier != Tier::NotCovered,
            tier,
            results,
            more,
            closest_sections,
            never_mentioned: ranking.never_mentioned(),
            corrections,
            confidence: ranking.confidence,
            best_similarity: ranking.best_similarity,
            mean_similarity: ranking.mean_similarity,
            focus: ranking.focus.iter().map(|f| f.describe()).collect(),
            semantic: ranking.semantic,
        })
    }

    /// Builds answer items for given passage ids (the "More" button).
    ///
    /// Given the question they answer, each excerpt is the part of its passage that answers
    /// it, with the question's words highlighted, as in [`Self::ask`]; without it, the
    /// passage's opening.
    pub fn items(
        &self,
        ids: &[usize],
        first_rank: usize,
        question: Option<&str>,
    ) -> Vec<AnswerItem> {
        let asked = question.and_then(|q| {
            let reading = self.search.read(q).ok()?;
            Some((excerpt::query_stems(&reading.terms), reading.kind))
        });
        ids.iter()
            .filter_map(|&id| self.corpus.passages.get(id))
            .enumerate()
            .map(|(i, p)| AnswerItem {
                rank: first_rank + i,
                score: 0.0,
                passage: p.id,
                citation: self.corpus.citation(p),
                text: p.text.clone(),
                excerpt: match &asked {
                    Some((stems, kind)) => self.excerpt(p, stems, *kind),
                    None => excerpt::trim(
                        Marked {
                            text: p.text.clone(),
                            highlights: Vec::new(),
                        },
                        excerpt::MAX_EXCERPT_CHARS,
                    ),
                },
            })
            .collect()
    }

    /// The part of `passage` that answers a question with these stems, its words located.
    fn excerpt(
        &self,
        passage: &crate::corpus::Passage,
        stems: &rustc_hash::FxHashMap<String, f32>,
        kind: crate::search::QuestionKind,
    ) -> Marked {
        excerpt::excerpt_analysed(
            self.search.analyzer(),
            &passage.text,
            &self.search.analysed(&self.corpus, passage.id).0,
            stems,
            kind,
        )
    }

    /// The table of contents of every document.
    pub fn toc(&self) -> Vec<TocEntry> {
        self.toc_in(None)
    }

    /// The table of contents of document `doc` when given, of every document otherwise.
    pub fn toc_in(&self, doc: Option<usize>) -> Vec<TocEntry> {
        self.corpus
            .documents
            .iter()
            .enumerate()
            .filter(|(d, _)| doc.is_none_or(|wanted| wanted == *d))
            .flat_map(|(d, doc)| {
                doc.sections.iter().map(move |s| TocEntry {
                    doc: d,
                    document: doc.title.clone(),
                    number: s.number,
                    title: s.title.clone(),
                    paragraphs: s.paragraphs.len(),
                })
            })
            .collect()
    }

    /// The search engine, for quiz topic matching and benchmarks.
    pub fn search_engine(&self) -> &SearchEngine {
        &self.search
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn semantic_ranking_can_start_while_the_engine_answers() {
        let data = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::default();
        settings.corpus.dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report");
        settings.data_dir = data.path().to_path_buf();
        let (corpus, _) = Engine::load_corpus(&settings).expect("corpus");
        let engine = Arc::new(Engine::lexical(corpus, &settings, &mut |_, _| {}).expect("index"));
        assert!(!engine.semantic());
        let question = "how far did the water table fall";
        assert!(!engine.ask(question, 3).expect("answer").results.is_empty());

        let (background, later) = (Arc::clone(&engine), settings.clone());
        std::thread::spawn(move || background.add_semantic(&later, &mut |_, _| {}))
            .join()
            .expect("vectors");
        assert!(engine.semantic());
        // The same ranking as an engine that had its vectors from the start.
        let whole = Engine::load(&settings, &mut |_, _| {}).expect("engine");
        let passages = |e: &Engine| -> Vec<usize> {
            let answer = e.ask(question, 5).expect("answer");
            answer.results.iter().map(|r| r.passage).collect()
        };
        assert_eq!(passages(&engine), passages(&whole));
        // A later start reads the stored vectors at once.
        let (corpus, _) = Engine::load_corpus(&settings).expect("corpus");
        let again = Engine::lexical(corpus, &settings, &mut |_, _| {}).expect("index");
        assert!(again.add_cached_semantic(&settings));
        assert_eq!(passages(&again), passages(&whole));
    }
}
