//! Re-ranking the candidates: every number that shapes a score or a confidence is a field of
//! [`Weights`], documented with the `docs/retrieval.md` rows that measured it, and can be
//! changed for one `studybot eval` run (`--weight name=value`) without editing code.
//!
//! A candidate's score adds its BM25 score (relative to the best candidate's), the share of
//! the question it covers, its best sentence's share, a cue for "when / how many" questions, a
//! cue for passages that define what a "what is / who was" question asks about, the semantic
//! model's closeness, and a part of its best neighbour's score; a passage of a reference list
//! keeps only part of its score.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::analysis::{word_spans, Token};
use super::query::{QueryTerm, QuestionKind};
use crate::corpus::text::MONTHS;
use crate::error::{Error, Result};

/// Every tunable number of retrieval. "Row N" is the row of `docs/retrieval.md` that measured
/// the value (the table there says what else was tried); values without a row were set by
/// hand when their feature was added and have not been swept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    /// Candidates fetched from the index before re-ranking. Not swept.
    pub candidates: usize,
    /// BM25 boost of a question word's exact form (over its stem). Not swept.
    pub exact_boost: f32,
    /// BM25 boost of a section title match. Not swept.
    pub title_boost: f32,
    /// BM25 boost of a lead-in or subheading match. Not swept.
    pub context_boost: f32,
    /// BM25 boost of two adjacent question words adjacent in a passage. Not swept.
    pub phrase_boost: f32,
    /// BM25 boost of a WordNet related word, times how rare its question word is (rows 8, 13).
    pub related_boost: f32,
    /// Share of a question word's weight earned by a passage that has only a related word of
    /// it (rows 8, 12).
    pub related_credit: f32,
    /// Weight of the BM25 score, relative to the best candidate's (rows 17, 18, 52).
    pub lexical: f32,
    /// Weight of the share of the question the passage and its frame cover (rows 19, 52).
    pub coverage: f32,
    /// Weight of the share of the question the passage's best sentence covers (rows 19, 52).
    pub sentence: f32,
    /// How much of its weight a question word that no passage has keeps in the question's
    /// total when ranking (coverage and best sentence); confidence always counts all of it
    /// (row 63).
    pub unknown_share: f32,
    /// Bonus for a passage stating a number or date when the question asks "when / how many"
    /// (rows 5, 6, 50).
    pub quantity: f32,
    /// Weight of the cosine between question and passage sentence vectors (rows 29, 30).
    pub semantic: f32,
    /// Passages the question is semantically closest to that join the candidates (row 45).
    pub semantic_candidates: usize,
    /// Weight of the best neighbouring passage's score (rows 1-4, 11, 54, 65).
    pub neighbour: f32,
    /// What a passage in a list of references keeps of its score (row 39).
    pub reference_list: f32,
    /// Bonus for a passage with a sentence that defines what a "what is / who was" question
    /// asks about ("X is a ...", "called X", "X, the ...", a glossary entry) (row 60).
    pub definition: f32,
    /// Bonus for the passage that opens the section whose title names what a "what is / who
    /// was" question asks about: where the text introduces it (row 60).
    pub section_opening: f32,
    /// Leading passages whose coverage counts for confidence (rows 30, 31).
    pub confidence_depth: usize,
    /// How much the best passage's semantic closeness moves confidence (row 37).
    pub semantic_confidence: f32,
    /// The closeness that moves confidence neither way (row 37).
    pub semantic_confidence_base: f32,
    /// What confidence keeps when the question names something the text never mentions
    /// (row 57).
    pub missing_factor: f32,
    /// How many of a noun's WordNet senses lend synonyms and broader terms as evidence that
    /// the text covers it (row 61).
    pub focus_senses: usize,
    /// Whether a noun's direct hypernyms (broader terms) in the text count as evidence that
    /// the text covers it (row 61).
    pub focus_hypernyms: bool,
    /// Cosine from which a word the model places near a noun, used by the text, counts as
    /// evidence that the text covers it (row 61; above 1 turns the evidence off).
    pub neighbour_cosine: f32,
    /// Closeness of the best passage from which a question whose focus the text never names
    /// is still shown the closest passages ("unsure") instead of refused (row 62; above 1
    /// always refuses).
    pub rescue_cosine: f32,
    /// The same for a question whose only missing focus is a compound whose words the text
    /// uses apart ("socialist parties") (row 62).
    pub rescue_apart_cosine: f32,
    /// Confidence under which a question is refused even when the text names its focus
    /// (row 62).
    pub refuse_below: f32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            candidates: 80,
            exact_boost: 0.3,
            title_boost: 0.5,
            context_boost: 0.6,
            phrase_boost: 0.5,
            related_boost: 0.3,
            related_credit: 0.5,
            lexical: 0.45,
            coverage: 0.35,
            sentence: 0.2,
            unknown_share: 1.0,
            quantity: 0.08,
            semantic: 2.5,
            semantic_candidates: 10,
            neighbour: 0.05,
            reference_list: 0.5,
            definition: 0.0,
            section_opening: 0.1,
            confidence_depth: 9,
            semantic_confidence: 0.5,
            semantic_confidence_base: 0.35,
            missing_factor: 0.5,
            focus_senses: 1,
            focus_hypernyms: false,
            neighbour_cosine: 0.75,
            rescue_cosine: 0.6,
            rescue_apart_cosine: 0.4,
            refuse_below: 0.0,
        }
    }
}

impl Weights {
    /// Sets one weight from `name=value` text (`semantic=2.0`, `focus_hypernyms=false`).
    pub fn set(&mut self, assignment: &str) -> Result<()> {
        let bad = |why: String| Error::Config(format!("weight {assignment:?}: {why}"));
        let (name, value) = assignment
            .split_once('=')
            .ok_or_else(|| bad("expected name=value".into()))?;
        let (name, value) = (name.trim(), value.trim());
        let mut all = serde_json::to_value(&*self).map_err(|e| bad(e.to_string()))?;
        let fields = all
            .as_object_mut()
            .ok_or_else(|| bad("weights are not a table".into()))?;
        let old = fields.get(name).ok_or_else(|| {
            let names: Vec<&str> = Self::names();
            bad(format!(
                "no such weight; the weights are {}",
                names.join(", ")
            ))
        })?;
        let new = match old {
            serde_json::Value::Bool(_) => value.parse::<bool>().map(serde_json::Value::from).ok(),
            serde_json::Value::Number(n) if n.is_u64() => {
                value.parse::<u64>().map(serde_json::Value::from).ok()
            }
            _ => value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(serde_json::Value::from),
        }
        .ok_or_else(|| bad(format!("{value:?} is not a value of the right kind")))?;
        fields.insert(name.to_string(), new);
        *self = serde_json::from_value(all).map_err(|e| bad(e.to_string()))?;
        Ok(())
    }

    /// The names [`Weights::set`] accepts.
    pub fn names() -> Vec<&'static str> {
        vec![
            "candidates",
            "exact_boost",
            "title_boost",
            "context_boost",
            "phrase_boost",
            "related_boost",
            "related_credit",
            "lexical",
            "coverage",
            "sentence",
            "unknown_share",
            "quantity",
            "semantic",
            "semantic_candidates",
            "neighbour",
            "reference_list",
            "definition",
            "section_opening",
            "confidence_depth",
            "semantic_confidence",
            "semantic_confidence_base",
            "missing_factor",
            "focus_senses",
            "focus_hypernyms",
            "neighbour_cosine",
            "rescue_cosine",
            "rescue_apart_cosine",
            "refuse_below",
        ]
    }
}

/// Question terms found in a text, each with the best credit any of its stems earned.
#[derive(Debug, Clone, Default)]
pub struct Matched(FxHashMap<usize, f32>);

impl Matched {
    /// Notes a stem of the text.
    pub fn add(&mut self, credits: &FxHashMap<&str, (usize, f32)>, stem: &str) {
        if let Some(&(term, credit)) = credits.get(stem) {
            let best = self.0.entry(term).or_insert(0.0);
            *best = best.max(credit);
        }
    }

    /// The question weight found.
    pub fn weight(&self, terms: &[QueryTerm]) -> f32 {
        self.0
            .iter()
            .map(|(&term, &credit)| terms.get(term).map_or(0.0, |t| t.idf) * credit)
            .sum()
    }
}

/// The heaviest sentence of a passage, by the question weight it covers.
pub fn best_sentence_weight(
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
pub fn is_reference_list(title: &str) -> bool {
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

/// Most question words a "what is X" subject may have: longer questions ask about something
/// else ("what was the organisation of the petrograd soviet of workers and soldiers").
const MAX_SUBJECT_TERMS: usize = 4;

/// The stems of what a definition question asks about ("what were factory shop committees"
/// → `factori shop committe`), if it is one: "what / who + is / are / was / were + X", "what
/// does X mean". `words` are the question's lowercase words, `terms` its searchable words.
pub fn definition_subject(
    words: &[String],
    terms: &[QueryTerm],
    kind: QuestionKind,
) -> Option<Vec<String>> {
    let word = |i: usize| words.get(i).map(String::as_str);
    let copula = matches!(word(1), Some("is" | "are" | "was" | "were"));
    let asks = matches!(word(0), Some("what" | "who")) && copula;
    let means = word(0) == Some("what")
        && word(1) == Some("does")
        && words.last().map(String::as_str) == Some("mean");
    if !(asks || means) || kind == QuestionKind::Quantity {
        return None;
    }
    let subject: Vec<String> = terms
        .iter()
        .filter(|t| t.stem != "mean")
        .map(|t| t.stem.clone())
        .collect();
    (!subject.is_empty() && subject.len() <= MAX_SUBJECT_TERMS).then_some(subject)
}

/// Whether analysed `tokens` (a section title) hold the subject's stems in order.
pub fn names_subject(tokens: &[Token], subject: &[String]) -> bool {
    let mut wanted = subject.iter().peekable();
    for t in tokens {
        if wanted.peek().is_some_and(|s| **s == t.stem) {
            wanted.next();
        }
    }
    !subject.is_empty() && wanted.peek().is_none()
}

/// Where a passage names a definition question's subject, and whether one of those places
/// defines it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SubjectUse {
    /// The passage names the subject (its words in a row, a stop word apart at most).
    pub names: bool,
    /// A sentence defines it: "X is a …", "X, the …", "called X", "known as X", "X means …",
    /// or the passage opens with it ("Shadow board. A board with …").
    pub defines: bool,
}

/// How `text` (analysed into `tokens`) uses a definition question's `subject` stems.
pub fn subject_use(text: &str, tokens: &[Token], subject: &[String]) -> SubjectUse {
    let mut out = SubjectUse::default();
    let Some(first) = subject.first() else {
        return out;
    };
    let spans = word_spans(text);
    let raw = |position: usize| -> String {
        spans
            .get(position)
            .and_then(|&(s, e)| text.get(s..e))
            .unwrap_or("")
            .to_lowercase()
    };
    for (i, start) in tokens.iter().enumerate() {
        if start.stem != *first {
            continue;
        }
        // The rest of the subject follows, each word at most one stop word after the last.
        let mut last = start;
        let mut whole = true;
        for (k, stem) in subject.iter().enumerate().skip(1) {
            match tokens.get(i + k) {
                Some(t) if t.stem == *stem && t.position <= last.position + 2 => last = t,
                _ => {
                    whole = false;
                    break;
                }
            }
        }
        if !whole {
            continue;
        }
        out.names = true;
        let (begin, end) = (start.position, last.position);
        let before = |back: usize| begin.checked_sub(back).map(&raw).unwrap_or_default();
        let after = |ahead: usize| raw(end + ahead);
        let between = text.get(last.end..).unwrap_or("");
        let punctuation: String = between
            .chars()
            .take_while(|c| !c.is_alphanumeric())
            .filter(|c| !c.is_whitespace())
            .collect();
        let article = |w: &str| matches!(w, "the" | "a" | "an");
        let named_before = |w: &str| matches!(w, "called" | "named" | "termed" | "dubbed");
        let lead = if article(&before(1)) { 2 } else { 1 };
        // "X is a …", "X were the …", "X means …"; not "X was forced …".
        let defined_after = punctuation.is_empty()
            && match after(1).as_str() {
                "is" | "are" | "was" | "were" => article(&after(2)),
                "means" | "refers" => true,
                _ => false,
            };
        let appositive = punctuation == "," && article(&after(1));
        let opening = begin <= 1 && (punctuation == "." || punctuation == ":");
        if defined_after
            || appositive
            || opening
            || named_before(&before(lead))
            || (before(lead) == "as" && matches!(before(lead + 1).as_str(), "known" | "defined"))
        {
            out.defines = true;
            return out;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::analysis::Analyzer;

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
    fn weights_are_set_by_name_and_checked() {
        let mut w = Weights::default();
        w.set("semantic=2.0").expect("float");
        w.set("candidates = 40").expect("count");
        w.set("focus_hypernyms=false").expect("switch");
        assert_eq!(
            (w.semantic, w.candidates, w.focus_hypernyms),
            (2.0, 40, false)
        );
        assert!(w.set("semantics=2").is_err());
        assert!(w.set("candidates=1.5").is_err());
        assert!(w.set("semantic=NaN").is_err());
        assert!(w.set("semantic").is_err());
        let names = serde_json::to_value(Weights::default()).expect("json");
        let mut listed: Vec<&str> = names
            .as_object()
            .expect("table")
            .keys()
            .map(String::as_str)
            .collect();
        listed.sort_unstable();
        let mut known = Weights::names();
        known.sort_unstable();
        assert_eq!(listed, known, "every weight can be named");
    }

    fn uses(text: &str, subject: &str) -> SubjectUse {
        let analyzer = Analyzer::default();
        let stems: Vec<String> = analyzer
            .tokens(subject)
            .into_iter()
            .map(|t| t.stem)
            .collect();
        subject_use(text, &analyzer.tokens(text), &stems)
    }

    #[test]
    fn defining_sentences_are_told_from_mentions() {
        let defines = |text, subject| uses(text, subject).defines;
        assert!(defines(
            "The salt tax was called the gabelle, and it was hated.",
            "gabelle"
        ));
        assert!(defines(
            "Shadow board. A board with the outline of each tool.",
            "shadow board"
        ));
        assert!(defines(
            "Earn-a-Bike is a programme for people.",
            "earn bike"
        ));
        assert!(defines(
            "It was general Kornilov, the commander-in-chief, who rose.",
            "kornilov"
        ));
        assert!(defines(
            "Salt is also known as halite in the ground.",
            "halite"
        ));
        assert!(defines(
            "The Discourses on Salt and Iron are a record.",
            "discourses salt iron"
        ));
        assert!(!defines(
            "The Factory Shop Committee was forced to act.",
            "factory shop committee"
        ));
        let only_named = uses(
            "Put every tool back on its shadow board, clean.",
            "shadow board",
        );
        assert_eq!(
            only_named,
            SubjectUse {
                names: true,
                defines: false
            }
        );
        assert_eq!(
            uses("The board was shadowy.", "shadow board"),
            SubjectUse::default()
        );
    }

    #[test]
    fn section_titles_name_a_subject_in_order() {
        let analyzer = Analyzer::default();
        let stems =
            |t: &str| -> Vec<String> { analyzer.tokens(t).into_iter().map(|t| t.stem).collect() };
        let title = analyzer.tokens("... and the role of Factory Shop Committees");
        assert!(names_subject(&title, &stems("factory shop committees")));
        assert!(!names_subject(&title, &stems("shop stewards")));
        assert!(!names_subject(&title, &[]));
    }

    #[test]
    fn definition_questions_name_their_subject() {
        let analyzer = Analyzer::default();
        let subject = |q: &str| {
            let words: Vec<String> = word_spans(q)
                .into_iter()
                .map(|(s, e)| q[s..e].to_lowercase())
                .collect();
            let terms: Vec<QueryTerm> = analyzer
                .tokens(q)
                .into_iter()
                .map(|t| QueryTerm {
                    exact: t.exact,
                    stem: t.stem,
                    status: crate::search::TermStatus::Known,
                    idf: 1.0,
                    position: t.position,
                })
                .collect();
            definition_subject(&words, &terms, super::super::query::kind_of(&words))
        };
        assert_eq!(
            subject("what were factory shop committees"),
            Some(vec!["factori".into(), "shop".into(), "committe".into()])
        );
        assert_eq!(
            subject("who was john reed?"),
            Some(vec!["john".into(), "reed".into()])
        );
        assert_eq!(
            subject("what does indexing mean"),
            Some(vec!["index".into()])
        );
        assert_eq!(subject("why did it fail"), None);
        assert_eq!(subject("what year was it founded"), None);
        assert_eq!(
            subject("what was the organisation of the petrograd soviet of workers and soldiers"),
            None
        );
    }
}
