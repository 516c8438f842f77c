//! Questions generated from any text, so every corpus gets quizzes without a hand-written bank:
//! cloze questions that blank out a year, a number or a name in a sentence, with distractors
//! of the same kind drawn from the same document. A sentence is skipped rather than turned into
//! an ambiguous question: the answer must occur once in it, no distractor may appear in it, and
//! no distractor may make the sentence read like another sentence of the text.

use std::collections::{BTreeMap, HashSet};

use rand::seq::SliceRandom;
use rand::Rng;

use super::{shorten, QuizQuestion, MAX_EXPLANATION_CHARS, MAX_OPTION_CHARS};
use crate::corpus::text::{sentences, MONTHS};
use crate::corpus::{Corpus, Passage};

/// What a blank stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A year such as 1905.
    Year,
    /// Any other number.
    Number,
    /// A proper name (person, place, organisation).
    Name,
}

/// A span of a sentence that can be blanked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blank {
    /// What it is.
    pub kind: Kind,
    /// Byte range in the sentence.
    pub start: usize,
    /// End of the byte range.
    pub end: usize,
}

/// Capitalised words that are not names even mid-sentence.
const NOT_NAMES: &[&str] = &[
    "I",
    "I'm",
    "The",
    "A",
    "An",
    "And",
    "But",
    "Or",
    "In",
    "On",
    "At",
    "Of",
    "For",
    "To",
    "This",
    "That",
    "These",
    "Those",
    "It",
    "He",
    "She",
    "They",
    "We",
    "You",
    "His",
    "Her",
    "Their",
    "Our",
    "Its",
    "As",
    "So",
    "If",
    "When",
    "Then",
    "There",
    "Here",
    "What",
    "Who",
    "Why",
    "How",
    "Which",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Mr",
    "Mrs",
    "Ms",
    "Dr",
    "St",
];

fn is_year(word: &str) -> bool {
    word.len() == 4
        && word.chars().all(|c| c.is_ascii_digit())
        && (word.starts_with('1') || word.starts_with("20"))
}

/// Finds blankable spans in a sentence.
pub fn blanks(sentence: &str) -> Vec<Blank> {
    let mut out = Vec::new();
    let words = crate::search::analysis::word_spans(sentence);
    let mut i = 0;
    while i < words.len() {
        let (s, e) = words[i];
        let w = &sentence[s..e];
        if w.chars().all(|c| c.is_ascii_digit() || c == ',')
            && w.chars().next().is_some_and(|c| c.is_ascii_digit())
        {
            out.push(Blank {
                kind: if is_year(w) { Kind::Year } else { Kind::Number },
                start: s,
                end: e,
            });
            i += 1;
            continue;
        }
        let capital = |w: &str| {
            w.chars().next().is_some_and(char::is_uppercase)
                && w.chars().count() > 1
                && !NOT_NAMES.contains(&w)
                && !MONTHS.contains(&w.to_lowercase().as_str())
        };
        // Sentence-initial words are capitalised anyway; a name there is too uncertain.
        if i > 0 && capital(w) {
            let mut j = i;
            while j + 1 < words.len()
                && j - i < 2
                && capital(&sentence[words[j + 1].0..words[j + 1].1])
                && sentence[words[j].1..words[j + 1].0] == *" "
            {
                j += 1;
            }
            out.push(Blank {
                kind: Kind::Name,
                start: s,
                end: words[j].1,
            });
            i = j + 1;
            continue;
        }
        i += 1;
    }
    out
}

/// Values of each kind per document, for distractors.
#[derive(Debug, Default)]
pub struct Pools {
    by_doc: Vec<BTreeMap<Kind, Vec<String>>>,
}

impl Pools {
    /// Collects every year, number and name of every document.
    pub fn new(corpus: &Corpus) -> Pools {
        let mut by_doc: Vec<BTreeMap<Kind, HashSet<String>>> =
            vec![BTreeMap::new(); corpus.documents.len()];
        for p in &corpus.passages {
            for r in sentences(&p.text) {
                let s = &p.text[r];
                for b in blanks(s) {
                    by_doc[p.doc]
                        .entry(b.kind)
                        .or_default()
                        .insert(s[b.start..b.end].to_string());
                }
            }
        }
        Pools {
            by_doc: by_doc
                .into_iter()
                .map(|m| {
                    m.into_iter()
                        .map(|(k, set)| {
                            let mut v: Vec<String> = set.into_iter().collect();
                            v.sort();
                            (k, v)
                        })
                        .collect()
                })
                .collect(),
        }
    }

    fn values(&self, doc: usize, kind: Kind) -> &[String] {
        self.by_doc
            .get(doc)
            .and_then(|m| m.get(&kind))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

fn numeric(s: &str) -> Option<f64> {
    s.replace(',', "").parse().ok()
}

/// Distractors of the same kind as `answer`, none of which appears in `sentence`.
fn distractors<R: Rng>(
    pools: &Pools,
    doc: usize,
    kind: Kind,
    answer: &str,
    sentence: &str,
    rng: &mut R,
) -> Option<Vec<String>> {
    let lower_sentence = sentence.to_lowercase();
    let mut candidates: Vec<&String> = pools
        .values(doc, kind)
        .iter()
        .filter(|v| !v.eq_ignore_ascii_case(answer) && !lower_sentence.contains(&v.to_lowercase()))
        .filter(|v| v.chars().count() <= MAX_OPTION_CHARS)
        .collect();
    match kind {
        Kind::Year => {
            let a = numeric(answer)?;
            candidates.retain(|v| numeric(v).is_some_and(|n| (n - a).abs() <= 40.0));
        }
        Kind::Number => {
            let a = numeric(answer)?;
            // Same order of magnitude, so the size alone does not give the answer away.
            candidates.retain(|v| {
                numeric(v).is_some_and(|n| n > 0.0 && a > 0.0 && (n / a).max(a / n) <= 12.0)
            });
        }
        Kind::Name => {
            let words = answer.split_whitespace().count();
            // Names that contain the answer or are contained in it ("Reed" / "John Reed")
            // would make two options right.
            candidates.retain(|v| {
                v.split_whitespace().count().abs_diff(words) <= 1
                    && !v.contains(answer)
                    && !answer.contains(v.as_str())
            });
        }
    }
    if candidates.len() < 3 {
        return None;
    }
    candidates.shuffle(rng);
    Some(candidates.into_iter().take(3).cloned().collect())
}

/// Tries to make a question from one sentence of a passage.
pub fn from_sentence<R: Rng>(
    corpus: &Corpus,
    pools: &Pools,
    passage: &Passage,
    sentence_range: std::ops::Range<usize>,
    rng: &mut R,
) -> Option<QuizQuestion> {
    let sentence = passage.text[sentence_range.clone()].trim();
    let words = sentence.split_whitespace().count();
    if !(8..=45).contains(&words) || sentence.matches('"').count() % 2 == 1 {
        return None;
    }
    let mut found = blanks(sentence);
    found.shuffle(rng);
    // Years first, then numbers, then names: the most unambiguous blanks.
    found.sort_by_key(|b| b.kind);
    for blank in found {
        let answer = &sentence[blank.start..blank.end];
        if sentence.matches(answer).count() != 1 {
            continue;
        }
        let Some(wrong) = distractors(pools, passage.doc, blank.kind, answer, sentence, rng) else {
            continue;
        };
        let blanked = format!(
            "{}_____{}",
            &sentence[..blank.start],
            &sentence[blank.end..]
        );
        // A distractor that turns the sentence into another sentence of the text is also right.
        let ambiguous = wrong.iter().any(|w| {
            let filled = format!("{}{w}{}", &sentence[..blank.start], &sentence[blank.end..]);
            corpus
                .passages
                .iter()
                .any(|p| p.doc == passage.doc && p.text.contains(&filled))
        });
        if ambiguous {
            continue;
        }
        let prompt = match blank.kind {
            Kind::Year => "Which year completes the sentence?",
            Kind::Number => "Which number completes the sentence?",
            Kind::Name => "Which name completes the sentence?",
        };
        let question = format!("{prompt}\n“{}”", shorten(&blanked, 250));
        let cite = corpus.citation(passage).short();
        let explanation = shorten(&format!("“{answer}” — {cite}"), MAX_EXPLANATION_CHARS);
        let mut options = vec![answer.to_string()];
        options.extend(wrong);
        let q = QuizQuestion {
            key: format!(
                "gen:{}:{}:{}",
                passage.id,
                sentence_range.start + blank.start,
                answer
            ),
            question,
            options,
            correct: 0,
            explanation,
            doc: passage.doc,
            section: passage.section,
        };
        if q.is_valid() && q.question.contains("_____") {
            return Some(q);
        }
    }
    None
}

/// Generates up to `limit` questions from the given passages, at most one per sentence.
pub fn generate<R: Rng>(
    corpus: &Corpus,
    pools: &Pools,
    passages: &[&Passage],
    limit: usize,
    rng: &mut R,
) -> Vec<QuizQuestion> {
    let mut order: Vec<&Passage> = passages.to_vec();
    order.shuffle(rng);
    let mut out = Vec::new();
    for p in order {
        for r in sentences(&p.text) {
            if out.len() >= limit {
                return out;
            }
            if let Some(q) = from_sentence(corpus, pools, p, r, rng) {
                out.push(q);
                break; // spread questions over passages
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn finds_years_numbers_and_names_but_not_sentence_starts() {
        let s =
            "In 1903 the RSDLP split, and Lenin led 110 delegates to Petrograd Soviet meetings.";
        let got: Vec<(Kind, &str)> = blanks(s)
            .iter()
            .map(|b| (b.kind, &s[b.start..b.end]))
            .collect();
        assert_eq!(
            got,
            vec![
                (Kind::Year, "1903"),
                (Kind::Name, "RSDLP"),
                (Kind::Name, "Lenin"),
                (Kind::Number, "110"),
                (Kind::Name, "Petrograd Soviet"),
            ]
        );
    }

    #[test]
    fn generated_questions_have_one_right_answer_of_the_same_kind() {
        let corpus = crate::corpus::Corpus::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"),
        )
        .unwrap();
        let pools = Pools::new(&corpus);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let all: Vec<&Passage> = corpus.passages.iter().collect();
        let questions = generate(&corpus, &pools, &all, 200, &mut rng);
        assert!(questions.len() >= 40, "only {} questions", questions.len());
        for q in &questions {
            assert!(q.is_valid(), "{q:?}");
            let answer = &q.options[q.correct];
            assert_eq!(q.options.iter().filter(|o| *o == answer).count(), 1);
            let sentence = q.question.split('“').nth(1).unwrap();
            for (i, o) in q.options.iter().enumerate() {
                if i != q.correct {
                    assert!(
                        !sentence.contains(o.as_str()),
                        "distractor {o} in {sentence}"
                    );
                    let year = |s: &str| is_year(s);
                    assert_eq!(year(o), year(answer), "{o} vs {answer}");
                    assert_eq!(
                        o.chars().all(|c| c.is_ascii_digit() || c == ','),
                        answer.chars().all(|c| c.is_ascii_digit() || c == ','),
                        "{o} vs {answer}"
                    );
                }
            }
        }
    }

    #[test]
    fn questions_from_a_pdf_cite_its_pages() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/formats/latex.pdf"),
            dir.path().join("latex.pdf"),
        )
        .unwrap();
        let corpus = crate::corpus::Corpus::load(dir.path()).unwrap();
        let pools = Pools::new(&corpus);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let all: Vec<&Passage> = corpus.passages.iter().collect();
        let questions = generate(&corpus, &pools, &all, 20, &mut rng);
        assert!(!questions.is_empty());
        for q in &questions {
            assert!(
                q.explanation.contains(", p. ") || q.explanation.contains(", pp. "),
                "{}",
                q.explanation
            );
            assert!(!q.explanation.contains('¶'), "{}", q.explanation);
        }
    }
}
