//! Whether the text covers a question: abstention as a model of evidence.
//!
//! A question is about something, its *focus*: a name ("zasulich"), a compound term ("civil
//! war"), or a noun ("otters", "a fine", "how many parking spaces"). When the text never uses
//! the focus, nor another word for it, the question is out of scope however well its other
//! words match: those side words ("bring", "workshop") are what any question about the text
//! shares with it. Evidence that the text does use the focus is, in order: the word itself or
//! its stem (spelling variants are unified by the analyser, typos corrected before), a
//! synonym or derived word from WordNet, a direct hypernym (a broader term: "dog" → "canine"),
//! and a word the semantic model places next to it, each checked against the text's own
//! vocabulary.
//!
//! The verdict has three tiers. *Not covered*: a focus term is missing and no passage is close
//! in meaning, or half or more of the question's words are unknown to the text and to
//! English. *Unsure*: the focus is there (or a passage is close in meaning although a focus
//! term is missing) but the leading passages cover little of the question: the reply says the
//! text may not answer it directly and shows the closest passages. *Answered* otherwise.

use serde::Serialize;

use super::analysis::{is_stop_word, Analyzer, Token};
use super::index::PassageIndex;
use super::lexicon::{compound, neighbours, noun};
use super::query::{QueryTerm, QuestionKind, Reading, TermStatus};
use super::rank::Weights;
use crate::corpus::Corpus;
use crate::error::Result;

/// How sure the engine is that the text answers a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The leading passages answer it.
    Answered,
    /// The text names what the question is about, but no passage clearly answers it: the
    /// closest passages are shown with a warning.
    Unsure,
    /// The text does not seem to cover it.
    NotCovered,
}

/// What kind of thing a question's focus term is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FocusKind {
    /// A word neither in the text nor in English: a name or a term of art.
    Name,
    /// Two or three words that make one of WordNet's compound nouns.
    Compound,
    /// An ordinary noun the text does not use as such.
    Noun,
}

/// Why a focus term counts as used by the text.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// The text uses it (for compounds: the words in a row).
    InText,
    /// The text uses a WordNet synonym or derived word of it.
    Synonym(String),
    /// The text uses a direct WordNet hypernym of it.
    Broader(String),
    /// The text uses a word the semantic model places near it (with their cosine).
    Near(String, f32),
    /// Weak evidence, for a compound: the text uses its words, but never in a row.
    Apart,
}

/// A focus term of a question and the evidence that the text uses it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Focus {
    /// The term as the question has it, lowercase ("civil war", "otters").
    pub term: String,
    /// What kind of term it is.
    pub kind: FocusKind,
    /// Why the text is taken to use it; `None` when nothing says so.
    pub evidence: Option<Evidence>,
    /// Position of its first word in the question.
    pub position: usize,
}

impl Focus {
    /// Whether nothing, or only weak evidence, says the text uses the term.
    pub fn missing(&self) -> bool {
        matches!(self.evidence, None | Some(Evidence::Apart))
    }

    /// `term=evidence`, for evaluation reports.
    pub fn describe(&self) -> String {
        let evidence = match &self.evidence {
            None => "missing".to_string(),
            Some(Evidence::InText) => "text".to_string(),
            Some(Evidence::Synonym(w)) => format!("synonym:{w}"),
            Some(Evidence::Broader(w)) => format!("broader:{w}"),
            Some(Evidence::Near(w, c)) => format!("near:{w}:{c:.2}"),
            Some(Evidence::Apart) => "apart".to_string(),
        };
        format!("{}={evidence}", self.term)
    }
}

/// Words that make the next word a noun however it is mostly used ("a fine", "the present").
const DETERMINERS: &[&str] = &[
    "a", "an", "the", "my", "your", "his", "her", "its", "our", "their", "this", "that", "these",
    "those", "any", "some", "no", "each", "every", "many", "much",
];

/// Shortest word that can be a focus noun: two-letter words ("os", "eu") are more often
/// abbreviations a text spells out (row 41).
const MIN_FOCUS_LETTERS: usize = 3;

/// The focus terms of a question read as `reading` (the question's text is `question`).
pub fn focus(
    analyzer: &Analyzer,
    index: &PassageIndex,
    corpus: &Corpus,
    weights: &Weights,
    question: &str,
    reading: &Reading,
) -> Result<Vec<Focus>> {
    // Section titles, analysed once and only if a compound needs them.
    let analysed_titles = std::cell::OnceCell::new();
    let titles = || {
        analysed_titles
            .get_or_init(|| section_titles(analyzer, corpus))
            .as_slice()
    };
    let mut out = compounds(analyzer, index, &titles, question)?;
    let in_compound = |position: usize| {
        out.iter().any(|f: &Focus| {
            let len = f.term.split(' ').count();
            (f.position..f.position + len).contains(&position)
        })
    };
    // Character entities ("&amp;") are markup pasted with the question, not words of it.
    let markup: Vec<usize> = analyzer
        .tokens(question)
        .iter()
        .filter(|t| {
            question.get(..t.start).is_some_and(|b| b.ends_with('&'))
                && question.get(t.end..).is_some_and(|a| a.starts_with(';'))
        })
        .map(|t| t.position)
        .collect();
    let mut words = Vec::new();
    for t in reading
        .terms
        .iter()
        .filter(|t| !markup.contains(&t.position))
    {
        match t.status {
            TermStatus::Unknown { common: false } if !qualifier(reading, t) => words.push(Focus {
                term: t.exact.clone(),
                kind: FocusKind::Name,
                evidence: None,
                position: t.position,
            }),
            TermStatus::Unknown { common: true } if !in_compound(t.position) => {
                if let Some(f) = noun_focus(analyzer, index, &titles, weights, reading, t)? {
                    words.push(f);
                }
            }
            _ => {}
        }
    }
    out.extend(words);
    out.sort_by_key(|f| f.position);
    Ok(out)
}

/// A question word the text never uses, as a focus noun with whatever evidence the text has
/// for it; `None` when the word is not a noun here.
fn noun_focus<'a>(
    analyzer: &Analyzer,
    index: &PassageIndex,
    titles: &dyn Fn() -> &'a [Vec<Token>],
    weights: &Weights,
    reading: &Reading,
    term: &QueryTerm,
) -> Result<Option<Focus>> {
    let word = term.exact.as_str();
    if word.chars().count() < MIN_FOCUS_LETTERS || word.chars().any(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    let Some(entry) = noun(word) else {
        return Ok(None);
    };
    // A word that qualifies the next one is no focus: "a real base", "the french salt tax",
    // "a ten year old". One after a determiner and before a function word or the end is a
    // noun however it is mostly used: "a fine", "the building".
    if qualifier(reading, term) || answer_kind(reading, term) {
        return Ok(None);
    }
    let qualifies = followed_by_content(reading, term);
    let determined = !qualifies
        && term
            .position
            .checked_sub(1)
            .and_then(|p| reading.words.get(p))
            .is_some_and(|w| DETERMINERS.contains(&w.as_str()));
    // "-ing" forms are verbs more often than nouns in questions ("were thinking").
    let noun = entry.mostly_noun() && !word.ends_with("ing");
    if !noun && !determined {
        return Ok(None);
    }
    // Kinds of people frame a question ("is there a rate for pensioners", "can my son come")
    // and a text names people in many ways ("anyone over sixty-five", "children"), so their
    // absence says little, unless the question asks what they are ("who were the vikings").
    if entry.person() && !defines(reading) {
        return Ok(None);
    }
    let used = |lemma: &str| -> Result<bool> {
        let stems: Vec<String> = analyzer
            .tokens(&lemma.replace('_', " "))
            .into_iter()
            .map(|t| t.stem)
            .collect();
        match stems.as_slice() {
            [] => Ok(false),
            [one] => Ok(index.has_stem(one)),
            many => {
                let stems: Vec<&str> = many.iter().map(String::as_str).collect();
                has_phrase(index, titles(), &stems)
            }
        }
    };
    let mut evidence = None;
    for synonym in entry.synonyms(weights.focus_senses) {
        if used(synonym)? {
            evidence = Some(Evidence::Synonym(synonym.replace('_', " ")));
            break;
        }
    }
    if evidence.is_none() && weights.focus_hypernyms {
        for broader in entry.hypernyms(weights.focus_senses) {
            if used(broader)? {
                evidence = Some(Evidence::Broader(broader.replace('_', " ")));
                break;
            }
        }
    }
    if evidence.is_none() {
        for (near, cosine) in neighbours(word) {
            if cosine < weights.neighbour_cosine {
                break;
            }
            if used(near)? {
                evidence = Some(Evidence::Near(near.to_string(), cosine));
                break;
            }
        }
    }
    Ok(Some(Focus {
        term: word.to_string(),
        kind: FocusKind::Noun,
        evidence,
        position: term.position,
    }))
}

/// Whether the next word of the question is a content word.
fn followed_by_content(reading: &Reading, term: &QueryTerm) -> bool {
    reading
        .words
        .get(term.position + 1)
        .is_some_and(|next| !is_stop_word(next))
}

/// Whether the word can be an adjective and qualifies the next word: "the chinese drillers",
/// "a real base".
fn qualifier(reading: &Reading, term: &QueryTerm) -> bool {
    followed_by_content(reading, term) && noun(&term.exact).is_some_and(|n| n.tags().contains('a'))
}

/// Whether the word names the kind of answer wanted rather than what the question is about:
/// a noun right after "what / which" that "of" follows ("what proportion of children", "what
/// kind of bike"), or that makes the question ask for a date or number ("on which date did").
/// The text states the answer without the word ("eighty-one per cent", "in 1917").
fn answer_kind(reading: &Reading, term: &QueryTerm) -> bool {
    let word = |p: Option<usize>| p.and_then(|p| reading.words.get(p)).map(String::as_str);
    let asks = matches!(word(term.position.checked_sub(1)), Some("what" | "which"));
    asks && (word(Some(term.position + 1)) == Some("of") || reading.kind == QuestionKind::Quantity)
}

/// Whether the question asks what something is: "what / who + is / are / was / were ...".
fn defines(reading: &Reading) -> bool {
    super::rank::definition_subject(&reading.words, &reading.terms, reading.kind).is_some()
}

/// Every section title of the corpus, analysed.
fn section_titles(analyzer: &Analyzer, corpus: &Corpus) -> Vec<Vec<Token>> {
    corpus
        .documents
        .iter()
        .flat_map(|d| &d.sections)
        .map(|s| analyzer.tokens(&s.title))
        .collect()
}

/// Compound terms of the question ("jury duty", "economic policy"), each with whether the
/// text uses it or another name for it ("trade union" for "labor union"), though it may use
/// their words apart. Like a name the text never uses, a missing compound is what a question
/// the text does not cover usually hinges on, and its words alone match passages about
/// something else (row 57).
fn compounds<'a>(
    analyzer: &Analyzer,
    index: &PassageIndex,
    titles: &dyn Fn() -> &'a [Vec<Token>],
    question: &str,
) -> Result<Vec<Focus>> {
    let tokens = analyzer.tokens(question);
    let mut out = Vec::new();
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
            let titles = titles();
            // The text may use the term or another name for it ("trade union").
            let own: Vec<&str> = run.iter().map(|t| t.stem.as_str()).collect();
            let mut evidence = has_phrase(index, titles, &own)?.then_some(Evidence::InText);
            for synonym in line.split(' ').skip(1) {
                if evidence.is_some() {
                    break;
                }
                let tokens = analyzer.tokens(&synonym.replace('_', " "));
                let stems: Vec<&str> = tokens.iter().map(|t| t.stem.as_str()).collect();
                if has_phrase(index, titles, &stems)? {
                    evidence = Some(Evidence::Synonym(synonym.replace('_', " ")));
                }
            }
            if evidence.is_none() && own.iter().all(|s| index.has_stem(s)) {
                evidence = Some(Evidence::Apart);
            }
            out.push(Focus {
                term: typed.join(" "),
                kind: FocusKind::Compound,
                evidence,
                position: run.first().map_or(0, |t| t.position),
            });
            break;
        }
        i += step;
    }
    Ok(out)
}

/// Whether the text has `stems` in a row, in a passage or in one of the analysed section
/// `titles`.
fn has_phrase(index: &PassageIndex, titles: &[Vec<Token>], stems: &[&str]) -> Result<bool> {
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
    let field = index.fields.body;
    let phrase = tantivy::query::PhraseQuery::new(
        stems
            .iter()
            .map(|s| tantivy::Term::from_field_text(field, s))
            .collect(),
    );
    Ok(index.searcher.search(&phrase, &tantivy::collector::Count)? > 0)
}

/// Most separate names an abstention lists as never mentioned.
const MAX_MISSING_NAMES: usize = 2;
/// Most words in one such name ("vera ivanovna zasulich").
const MAX_NAME_WORDS: usize = 3;

/// What the question names that the text never mentions: names (adjacent unknown words make
/// one: "vera zasulich"), then compound terms, then nouns, at most two in all. Many
/// unknown words, or a long run of them, are no name: the question is in another language or
/// garbled, and listing its words back would read as nonsense.
pub fn never_mentioned(focus: &[Focus]) -> Vec<String> {
    let mut names: Vec<(usize, String)> = Vec::new();
    for f in focus.iter().filter(|f| f.kind == FocusKind::Name) {
        match names.last_mut() {
            Some((last, name)) if *last + 1 == f.position => {
                name.push(' ');
                name.push_str(&f.term);
                *last = f.position;
            }
            _ => names.push((f.position, f.term.clone())),
        }
    }
    if names.len() > MAX_MISSING_NAMES
        || names
            .iter()
            .any(|(_, n)| n.split(' ').count() > MAX_NAME_WORDS)
    {
        return Vec::new();
    }
    let mut out: Vec<String> = names.into_iter().map(|(_, n)| n).collect();
    for kind in [FocusKind::Compound, FocusKind::Noun] {
        for f in focus.iter().filter(|f| f.kind == kind && f.missing()) {
            if out.len() < MAX_MISSING_NAMES && !out.iter().any(|n| f.term.contains(n.as_str())) {
                out.push(f.term.clone());
            }
        }
    }
    out
}

/// Share of a question's words that neither the text nor English knows from which the
/// question reads as another language or as garbled, and is refused.
const MAX_UNKNOWN_SHARE: f32 = 0.5;

/// Whether half or more of the question's words are unknown to the text and to English.
pub fn garbled(terms: &[QueryTerm]) -> bool {
    let unknown = terms
        .iter()
        .filter(|t| {
            matches!(t.status, TermStatus::Unknown { .. })
                && !super::lexicon::is_english_word(&t.exact)
                && !t.exact.chars().any(|c| c.is_ascii_digit())
        })
        .count();
    !terms.is_empty() && unknown as f32 >= MAX_UNKNOWN_SHARE * terms.len() as f32
}

/// The tier of an answer (see the module documentation).
pub fn tier(
    has_hits: bool,
    focus: &[Focus],
    best_similarity: Option<f32>,
    garbled: bool,
    confidence: f32,
    min_confidence: f32,
    weights: &Weights,
) -> Tier {
    if !has_hits || garbled {
        return Tier::NotCovered;
    }
    if focus.iter().any(Focus::missing) {
        // A compound whose words the text uses apart needs less closeness than a term it
        // never uses at all.
        let needed = if focus.iter().any(|f| f.evidence.is_none()) {
            weights.rescue_cosine
        } else {
            weights.rescue_apart_cosine
        };
        let close = best_similarity.is_some_and(|s| s >= needed);
        return if close {
            Tier::Unsure
        } else {
            Tier::NotCovered
        };
    }
    if confidence < weights.refuse_below {
        Tier::NotCovered
    } else if confidence < min_confidence {
        Tier::Unsure
    } else {
        Tier::Answered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn focus(term: &str, kind: FocusKind, evidence: Option<Evidence>, position: usize) -> Focus {
        Focus {
            term: term.into(),
            kind,
            evidence,
            position,
        }
    }

    #[test]
    fn never_mentioned_joins_names_then_adds_terms() {
        let f = vec![
            focus("grace", FocusKind::Name, None, 2),
            focus("hopper", FocusKind::Name, None, 3),
            focus("otters", FocusKind::Noun, None, 5),
            focus("workshop", FocusKind::Noun, Some(Evidence::InText), 7),
        ];
        assert_eq!(never_mentioned(&f), vec!["grace hopper", "otters"]);
        let many: Vec<Focus> = (0..6)
            .map(|i| focus("x", FocusKind::Name, None, i * 2))
            .collect();
        assert!(never_mentioned(&many).is_empty());
    }

    #[test]
    fn tiers_weigh_missing_focus_against_closeness() {
        let w = Weights::default();
        let missing = vec![focus("otters", FocusKind::Noun, None, 1)];
        let found = vec![focus("dogs", FocusKind::Noun, Some(Evidence::InText), 1)];
        let low = Some(w.rescue_cosine - 0.1);
        let high = Some(w.rescue_cosine + 0.1);
        assert_eq!(
            tier(true, &missing, low, false, 0.9, 0.35, &w),
            Tier::NotCovered
        );
        assert_eq!(
            tier(true, &missing, high, false, 0.9, 0.35, &w),
            Tier::Unsure
        );
        assert_eq!(
            tier(true, &missing, None, false, 0.9, 0.35, &w),
            Tier::NotCovered
        );
        assert_eq!(
            tier(true, &found, low, false, 0.9, 0.35, &w),
            Tier::Answered
        );
        assert_eq!(tier(true, &found, low, false, 0.2, 0.35, &w), Tier::Unsure);
        assert_eq!(
            tier(true, &found, high, true, 0.9, 0.35, &w),
            Tier::NotCovered
        );
        assert_eq!(
            tier(false, &found, high, false, 0.9, 0.35, &w),
            Tier::NotCovered
        );
        // A compound whose words the text uses apart is rescued by less closeness.
        let apart = vec![focus(
            "economic policy",
            FocusKind::Compound,
            Some(Evidence::Apart),
            1,
        )];
        let between = Some((w.rescue_apart_cosine + w.rescue_cosine) / 2.0);
        assert_eq!(
            tier(true, &apart, between, false, 0.9, 0.35, &w),
            Tier::Unsure
        );
        assert_eq!(
            tier(true, &missing, between, false, 0.9, 0.35, &w),
            Tier::NotCovered
        );
    }
}
