//! The first, cheap stage of ranking: one tantivy query that fetches the passages worth
//! re-ranking. BM25 over the passage's stems, its exact word forms, its section title and its
//! lead-in, adjacent question words as phrases, and WordNet relatives of the question's words
//! at a low weight, so that a paraphrase ("foundation" for "base") still reaches the re-rank.

use rustc_hash::{FxHashMap, FxHashSet};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, Term};

use super::analysis::Analyzer;
use super::index::PassageIndex;
use super::lexicon::related_words;
use super::query::{QueryTerm, TermStatus};
use super::rank::Weights;
use crate::error::Result;

/// Stems of words related to the question's words that the corpus uses, each with the index
/// of the question term it relates to. Bridges paraphrase ("foundation" / "base").
pub fn expansions(
    analyzer: &Analyzer,
    index: &PassageIndex,
    terms: &[QueryTerm],
) -> Vec<(String, usize)> {
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
            for token in analyzer.tokens(word) {
                let known = index.doc_freq(index.fields.body, &token.stem) > 0;
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

/// The passages (ids with their BM25 scores) the query finds for the question's searchable
/// `terms` and their `expansions`; `all_terms` are every question term, which expansions index.
pub fn fetch(
    index: &PassageIndex,
    weights: &Weights,
    terms: &[&QueryTerm],
    expansions: &[(String, usize)],
    all_terms: &[QueryTerm],
    max_idf: f32,
) -> Result<Vec<(usize, f32)>> {
    let f = &index.fields;
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
        clauses.push(term_query(f.exact, &t.exact, weights.exact_boost));
        clauses.push(term_query(f.title, &t.stem, weights.title_boost));
        clauses.push(term_query(f.context, &t.stem, weights.context_boost));
    }
    // Related words count for less than the question's own.
    for (stem, i) in expansions {
        let rarity = all_terms.get(*i).map_or(0.0, |t| t.idf) / max_idf.max(f32::MIN_POSITIVE);
        clauses.push(term_query(
            f.body,
            stem,
            weights.related_boost * rarity.min(1.0),
        ));
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
                Box::new(BoostQuery::new(Box::new(phrase), weights.phrase_boost)),
            ));
        }
    }
    let query = BooleanQuery::new(clauses);
    let searcher = &index.searcher;
    let top: Vec<(f32, DocAddress)> = searcher.search(
        &query,
        &TopDocs::with_limit(weights.candidates.max(1)).order_by_score(),
    )?;
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
