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
use crate::search::{dense, SearchEngine, TermStatus};

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
        cache::load(
            &settings.corpus.dir,
            &settings.data_dir.join(cache::CACHE_FILE),
            settings.search.persist_min_bytes,
        )
    }

    /// Indexes an already loaded corpus.
    pub fn with_corpus(
        corpus: Corpus,
        settings: &Settings,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Engine> {
        let total = corpus.passages.len();
        let mut search = if corpus.bytes >= settings.search.persist_min_bytes {
            let dir = settings.data_dir.join("index");
            SearchEngine::stored(&corpus, &dir, &mut |done| progress(done, total))?
        } else {
            SearchEngine::in_memory(&corpus)?
        };
        if settings.search.semantic && total <= settings.search.semantic_max_passages {
            match dense::embed_all(
                &SearchEngine::semantic_inputs(&corpus),
                Some(&settings.data_dir.join("semantic")),
                &mut |done| progress(done, total),
            ) {
                Ok(vectors) => search.set_passage_vectors(vectors),
                // Lexical ranking still answers well; a broken model must not stop the bot.
                Err(e) => tracing::warn!("ranking without the semantic model: {e}"),
            }
        }
        Ok(Engine {
            corpus,
            search,
            settings: settings.search.clone(),
        })
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

    /// Answers `question` with up to `top_k` excerpts.
    pub fn ask(&self, question: &str, top_k: usize) -> Result<Answer> {
        let question = question.trim();
        let top_k = top_k.clamp(1, MAX_TOP_K);
        let ranking = self.search.search(&self.corpus, question, top_k * 2 + 3)?;
        let stems = excerpt::query_stems(&ranking.terms);
        let answered =
            !ranking.hits.is_empty() && ranking.confidence >= self.settings.min_confidence;
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
                    excerpt: excerpt::excerpt_analysed(
                        self.search.analyzer(),
                        &passage.text,
                        &self.search.analysed(&self.corpus, hit.passage).0,
                        &stems,
                        ranking.kind,
                    ),
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
        let corrections = ranking
            .terms
            .iter()
            .filter_map(|t| match &t.status {
                TermStatus::Corrected { typed } => Some((typed.clone(), t.exact.clone())),
                _ => None,
            })
            .collect();
        Ok(Answer {
            question: question.to_string(),
            answered,
            results,
            more,
            closest_sections,
            never_mentioned: ranking.missing_names(),
            corrections,
            confidence: ranking.confidence,
        })
    }

    /// Builds answer items for given passage ids (the "More" button), with no marks.
    pub fn items(&self, ids: &[usize], first_rank: usize) -> Vec<AnswerItem> {
        ids.iter()
            .filter_map(|&id| self.corpus.passages.get(id))
            .enumerate()
            .map(|(i, p)| AnswerItem {
                rank: first_rank + i,
                score: 0.0,
                passage: p.id,
                citation: self.corpus.citation(p),
                text: p.text.clone(),
                excerpt: excerpt::trim(
                    Marked {
                        text: p.text.clone(),
                        highlights: Vec::new(),
                    },
                    excerpt::MAX_EXCERPT_CHARS,
                ),
            })
            .collect()
    }

    /// The table of contents of every document.
    pub fn toc(&self) -> Vec<TocEntry> {
        self.corpus
            .documents
            .iter()
            .enumerate()
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
