//! The answer to a question: ranked excerpts with citations; the closest excerpts with a
//! warning that they may not answer it directly; or an abstention that says why and points to
//! the closest sections. Adapters render this value; it never renders itself.

use serde::Serialize;

use crate::corpus::Citation;
use crate::search::excerpt::Marked;

/// What an "unsure" answer says before its excerpts, in every adapter.
pub const UNSURE: &str = "The text may not answer this directly. These are the closest passages:";
pub use crate::search::Tier;

/// One cited excerpt.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerItem {
    /// 1-based rank.
    pub rank: usize,
    /// Ranking score (higher is better; comparable within one answer only).
    pub score: f32,
    /// Passage id (stable for an unchanged corpus).
    pub passage: usize,
    /// Where the passage is.
    pub citation: Citation,
    /// The whole passage.
    pub text: String,
    /// The sentence(s) that answer, with matched words located.
    pub excerpt: Marked,
}

/// A section offered when the text does not cover a question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionRef {
    /// Index of the document.
    pub doc: usize,
    /// 1-based section number.
    pub number: usize,
    /// Section title.
    pub title: String,
}

/// The answer to one question.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// The question as asked.
    pub question: String,
    /// Whether the text seems to cover the question: false exactly when the tier is
    /// [`Tier::NotCovered`], and the reply says the text does not seem to cover it.
    pub answered: bool,
    /// How sure the answer is: answered, unsure (the closest passages, with a warning that
    /// they may not answer the question directly) or not covered.
    pub tier: Tier,
    /// Best passages first; present even when not answered (the closest ones).
    pub results: Vec<AnswerItem>,
    /// Ids of the passages that would come next ("More").
    pub more: Vec<usize>,
    /// Sections closest to the question, for abstentions.
    pub closest_sections: Vec<SectionRef>,
    /// Names or terms in the question that the text never uses.
    pub never_mentioned: Vec<String>,
    /// Typos corrected: (typed, used).
    pub corrections: Vec<(String, String)>,
    /// Confidence that the text covers the question, 0..1.
    pub confidence: f32,
    /// The semantic model's closeness of the question to the closest passage, when the model
    /// takes part.
    pub best_similarity: Option<f32>,
    /// Its mean over every passage.
    pub mean_similarity: Option<f32>,
    /// What the question is about and the evidence that the text uses it (`term=evidence`),
    /// for evaluation reports.
    pub focus: Vec<String>,
    /// Whether the semantic model took part in ranking (it does once passage vectors are
    /// ready, unless `search.semantic` is off).
    pub semantic: bool,
}
