//! Question analysis: what each word of a question is to the text (a word it uses, a typo of
//! one, or a word it never uses, ordinary or a name) and what kind of answer it asks for.
//!
//! Typos are corrected by one general rule: a word that is neither in the text nor an English
//! word is matched, by Levenshtein automaton, against the question words ("whcih" → "which"),
//! then against the text's own word forms ("comitte" → "committee"), then against the English
//! word list ("anounce" → "announce", an ordinary word the text does not use, not a name). A
//! word of the English word list or of the text is never rewritten: "fine" is not a typo of
//! "five".

use super::analysis::{word_spans, Analyzer, Token};
use super::index::PassageIndex;
use super::lexicon::{accepts, is_english_word, misspelt_english_word, one_edit};
use crate::error::Result;

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

/// A question as the engine reads it.
#[derive(Debug, Clone)]
pub struct Reading {
    /// Its searchable words (stop words dropped), each once.
    pub terms: Vec<QueryTerm>,
    /// Every word of the question, lowercase, in order, stop words included and question
    /// words' typos corrected ("how mnay" → "how many"); indexed by [`QueryTerm::position`].
    pub words: Vec<String>,
    /// Corrections the search terms do not show: question words ("mnay" → "many") and
    /// ordinary words the text does not use ("anounce" → "announce"), as (typed, read as).
    /// Typos of text words are in `terms`, as [`TermStatus::Corrected`].
    pub corrected_words: Vec<(String, String)>,
    /// The kind of answer asked for, from the corrected words.
    pub kind: QuestionKind,
}

/// Words that shape a question rather than say what it is about. A question's own typo of
/// one of them is read as that word; they come first in the order tried.
const QUESTION_WORDS: &[&str] = &[
    "what", "which", "when", "where", "who", "whose", "why", "how", "many", "much", "often",
];

/// Shortest question word typo that is corrected: "hw" is one edit from too much.
const MIN_QUESTION_WORD_TYPO: usize = 3;

/// The question word `word` is one edit from (a transposition is one edit), if any.
fn question_word_typo(word: &str) -> Option<&'static str> {
    if word.chars().count() < MIN_QUESTION_WORD_TYPO || !word.is_ascii() {
        return None;
    }
    let dfa = one_edit(word);
    QUESTION_WORDS.iter().copied().find(|q| accepts(&dfa, q))
}

/// Reads the kind of answer asked for from the question's words (lowercase, in order).
pub fn kind_of(words: &[String]) -> QuestionKind {
    let has = |a: &str, b: &str| words.windows(2).any(|w| w[0] == a && w[1] == b);
    if words.first().map(String::as_str) == Some("when")
        || ["what", "which"]
            .iter()
            .any(|w| has(w, "year") || has(w, "date"))
        || ["many", "much", "long", "old", "often"]
            .iter()
            .any(|w| has("how", w))
    {
        QuestionKind::Quantity
    } else if words.first().map(String::as_str) == Some("who") || has("who", "was") {
        QuestionKind::Person
    } else {
        QuestionKind::Other
    }
}

/// Reads the question's opening words for the kind of answer wanted, as typed (no typo
/// correction: [`read`] corrects first).
pub fn question_kind(question: &str) -> QuestionKind {
    kind_of(&lowercase_words(question))
}

fn lowercase_words(question: &str) -> Vec<String> {
    word_spans(question)
        .into_iter()
        .map(|(s, e)| question.get(s..e).unwrap_or("").to_lowercase())
        .collect()
}

/// Inverse document frequency of a word used by `df` of `n` passages.
pub fn idf(n: f32, df: u32) -> f32 {
    let n = n.max(1.0);
    ((n - df as f32 + 0.5) / (df as f32 + 0.5) + 1.0).ln()
}

/// Resolves a question's words against the text (see the module documentation).
pub fn read(
    analyzer: &Analyzer,
    index: &PassageIndex,
    num_docs: f32,
    question: &str,
) -> Result<Reading> {
    let f = &index.fields;
    let max_idf = idf(num_docs, 0);
    let mut seen = rustc_hash::FxHashSet::default();
    let mut terms = Vec::new();
    let mut words = lowercase_words(question);
    let mut corrected_words = Vec::new();
    let tokens = analyzer.tokens(question);
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
        let stem_df = index.doc_freq(f.body, &token.stem);
        let in_text =
            stem_df > 0 || index.doc_freq(f.exact, &token.exact) > 0 || index.has_stem(&token.stem);
        let digits = token.exact.chars().any(|c| c.is_ascii_digit());
        let english = !in_text && (digits || is_english_word(&token.exact));
        if !in_text && !english {
            if let Some(word) = question_word_typo(&token.exact) {
                if let Some(slot) = words.get_mut(token.position) {
                    *slot = word.to_string();
                }
                corrected_words.push((token.exact.clone(), word.to_string()));
                continue;
            }
        }
        let typo = match (in_text, english) {
            (false, false) => index.closest(&token.exact)?,
            _ => None,
        };
        let term = if in_text {
            QueryTerm {
                idf: idf(num_docs, stem_df),
                exact: token.exact,
                stem: token.stem,
                status: TermStatus::Known,
                position: token.position,
            }
        } else if let Some(word) = typo {
            let stem = analyzer.stem(&word);
            let df = index.doc_freq(f.body, &stem).max(1);
            QueryTerm {
                idf: idf(num_docs, df),
                exact: word,
                stem,
                status: TermStatus::Corrected { typed: token.exact },
                position: token.position,
            }
        } else if let Some(word) = (!in_text && !english)
            .then(|| misspelt_english_word(&token.exact))
            .flatten()
        {
            corrected_words.push((token.exact, word.to_string()));
            QueryTerm {
                idf: max_idf,
                exact: word.to_string(),
                stem: analyzer.stem(word),
                status: TermStatus::Unknown { common: true },
                position: token.position,
            }
        } else {
            // Numbers are not names: "never mentions 1921" would read oddly and mislead.
            // Nor are two-letter abbreviations ("os", "eu"): a text often spells out what
            // they stand for, so they are weak evidence that it never covers the question.
            let common =
                english || token.exact.chars().count() <= 2 || (cased && !capitalised(&token));
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
    let kind = kind_of(&words);
    Ok(Reading {
        terms,
        words,
        corrected_words,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_kinds() {
        assert_eq!(question_kind("How many deputies?"), QuestionKind::Quantity);
        assert_eq!(question_kind("when did it start"), QuestionKind::Quantity);
        assert_eq!(question_kind("In what year was it"), QuestionKind::Quantity);
        assert_eq!(question_kind("who was john reed?"), QuestionKind::Person);
        assert_eq!(question_kind("why did it fail"), QuestionKind::Other);
    }

    #[test]
    fn question_word_typos_are_one_edit_from_a_question_word() {
        assert_eq!(question_word_typo("mnay"), Some("many"));
        assert_eq!(question_word_typo("whcih"), Some("which"));
        assert_eq!(question_word_typo("hwo"), Some("who"));
        assert_eq!(question_word_typo("whne"), Some("when"));
        assert_eq!(question_word_typo("soviets"), None);
        assert_eq!(question_word_typo("wo"), None);
    }

    fn index_of(text: &str) -> (Analyzer, PassageIndex, f32) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("doc.txt"), text).expect("write");
        let corpus = crate::corpus::Corpus::load(dir.path()).expect("corpus");
        let analyzer = Analyzer::default();
        let index = PassageIndex::build_in_ram(&corpus, &analyzer, &[]).expect("index");
        let n = corpus.passages.len() as f32;
        (analyzer, index, n)
    }

    #[test]
    fn english_words_and_text_words_are_never_rewritten() {
        let (analyzer, index, n) = index_of(
            "Report\n\nThe company paid five hundred pounds. The comitte met on 3 May.\n\n\
             Later the committee met the firm.\n",
        );
        let reading =
            read(&analyzer, &index, n, "how big a fine did the compnay get").expect("read");
        let status = |w: &str| {
            reading
                .terms
                .iter()
                .find(|t| t.position == reading.words.iter().position(|x| x == w).unwrap_or(99))
                .map(|t| (t.exact.clone(), t.status.clone()))
        };
        // "fine" is an English word: kept, even though the text has "five" one edit away.
        assert_eq!(
            status("fine"),
            Some(("fine".into(), TermStatus::Unknown { common: true }))
        );
        // Nor into another English word: "cattle" is not a misspelt "castle".
        let reading = read(&analyzer, &index, n, "did the cattle drink").expect("read");
        assert!(reading.terms.iter().any(|t| t.exact == "cattle"));
        assert!(reading.corrected_words.is_empty());
        // "compnay" is no word: it is the text's "company".
        assert_eq!(
            status("compnay"),
            Some((
                "company".into(),
                TermStatus::Corrected {
                    typed: "compnay".into()
                }
            ))
        );
        // A misspelling the text itself uses is the text's word, not a typo.
        let reading = read(&analyzer, &index, n, "when did the comitte meet").expect("read");
        assert!(reading
            .terms
            .iter()
            .any(|t| t.exact == "comitte" && t.status == TermStatus::Known));
    }

    #[test]
    fn question_word_typos_set_the_kind_and_leave_the_search_words() {
        let (analyzer, index, n) = index_of("Report\n\nThe council had 110 members in May.\n");
        let reading = read(
            &analyzer,
            &index,
            n,
            "how mnay members did the council have",
        )
        .expect("read");
        assert_eq!(reading.kind, QuestionKind::Quantity);
        assert_eq!(
            reading.corrected_words,
            vec![("mnay".to_string(), "many".to_string())]
        );
        assert!(reading.terms.iter().all(|t| t.exact != "mnay"));
        let reading =
            read(&analyzer, &index, n, "on whcih date did the council meet").expect("read");
        assert_eq!(reading.kind, QuestionKind::Quantity);
    }
}
