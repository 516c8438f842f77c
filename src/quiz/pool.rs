//! Choosing a quiz's questions: parsing `/quiz [count] [topic | §N]`, filtering the curated bank
//! and the generated questions by topic or section, preferring questions the chat has not seen
//! recently, and shuffling questions and options.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use rand::seq::SliceRandom;
use rand::Rng;

use super::generate::{self, Pools};
use super::QuizQuestion;
use crate::corpus::{Corpus, Passage};
use crate::search::analysis::Analyzer;

/// What a quiz keeps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole corpus.
    All,
    /// One section: (document index, section number).
    Section(usize, usize),
    /// A topic: the words as typed.
    Topic(String),
}

/// A parsed `/quiz` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// How many questions.
    pub count: usize,
    /// What they are about.
    pub scope: Scope,
}

/// Parses `/quiz` arguments: an optional count and an optional topic or `§N`.
pub fn parse_request(
    args: &str,
    default: usize,
    max: usize,
    corpus: &Corpus,
) -> Result<Request, String> {
    let mut count = None;
    let mut words = Vec::new();
    for token in args.split_whitespace() {
        if count.is_none()
            && words.is_empty()
            && token.chars().all(|c| c.is_ascii_digit() || c == '-')
            && token.chars().any(|c| c.is_ascii_digit())
        {
            let n: i64 = token
                .parse()
                .map_err(|_| format!("“{token}” is not a number of questions."))?;
            if n < 1 {
                return Err("A quiz needs at least 1 question, e.g. /quiz 5.".into());
            }
            if n as u64 > max as u64 {
                return Err(format!(
                    "A quiz can have at most {max} questions, e.g. /quiz {max}."
                ));
            }
            count = Some(n as usize);
        } else {
            words.push(token);
        }
    }
    let topic = words.join(" ");
    let scope = if topic.is_empty() {
        Scope::All
    } else if let Some(n) = topic
        .strip_prefix('§')
        .or_else(|| topic.strip_prefix("section "))
    {
        let n: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("“{topic}” is not a section number; see /sections."))?;
        if corpus.section(0, n).is_none() {
            return Err(format!("There is no section {n}; see /sections."));
        }
        Scope::Section(0, n)
    } else {
        if topic.chars().count() > 100 {
            return Err("That topic is too long; use a word or two, e.g. /quiz soviets.".into());
        }
        Scope::Topic(topic)
    };
    Ok(Request {
        count: count.unwrap_or(default),
        scope,
    })
}

/// All questions a corpus offers.
#[derive(Debug)]
pub struct QuestionPool {
    bank: Vec<QuizQuestion>,
    pools: OnceLock<Pools>,
    /// For each stem, the passages (indices into the corpus's passages, ascending) whose
    /// section title or text has it: a topic quiz looks its words up here instead of
    /// re-reading the whole corpus on every `/quiz topic`, refused ones included.
    postings: OnceLock<HashMap<String, Vec<u32>>>,
    analyzer: Analyzer,
}

impl QuestionPool {
    /// A pool over a curated bank (possibly empty); generated questions come from the corpus.
    pub fn new(bank: Vec<QuizQuestion>) -> QuestionPool {
        QuestionPool {
            bank,
            pools: OnceLock::new(),
            postings: OnceLock::new(),
            analyzer: Analyzer::default(),
        }
    }

    /// Curated questions.
    pub fn bank(&self) -> &[QuizQuestion] {
        &self.bank
    }

    fn stems(&self, text: &str) -> HashSet<String> {
        self.analyzer
            .tokens(text)
            .into_iter()
            .map(|t| t.stem)
            .collect()
    }

    fn postings(&self, corpus: &Corpus) -> &HashMap<String, Vec<u32>> {
        self.postings.get_or_init(|| {
            let mut postings: HashMap<String, Vec<u32>> = HashMap::new();
            for (i, p) in corpus.passages.iter().enumerate() {
                let text = format!("{} {}", corpus.section_of(p).title, p.text);
                for stem in self.stems(&text) {
                    postings.entry(stem).or_default().push(i as u32);
                }
            }
            postings
        })
    }

    /// The passages (indices) that hold every stem of `topic`.
    fn topic_passages(&self, corpus: &Corpus, topic: &HashSet<String>) -> HashSet<u32> {
        let postings = self.postings(corpus);
        let mut lists: Vec<&[u32]> = Vec::with_capacity(topic.len());
        for stem in topic {
            match postings.get(stem) {
                Some(list) => lists.push(list),
                None => return HashSet::new(),
            }
        }
        lists.sort_by_key(|l| l.len());
        let Some((shortest, rest)) = lists.split_first() else {
            return HashSet::new();
        };
        shortest
            .iter()
            .copied()
            .filter(|i| rest.iter().all(|l| l.binary_search(i).is_ok()))
            .collect()
    }

    /// Picks `request.count` questions, unseen ones first, options shuffled. Returns fewer when
    /// the scope has fewer; none means the topic is not covered.
    pub fn pick<R: Rng>(
        &self,
        corpus: &Corpus,
        request: &Request,
        seen: &HashSet<String>,
        rng: &mut R,
    ) -> Vec<QuizQuestion> {
        self.pick_in(corpus, request, None, seen, rng)
    }

    /// [`Self::pick`], keeping to document `doc` when given (a chat's current text).
    pub fn pick_in<R: Rng>(
        &self,
        corpus: &Corpus,
        request: &Request,
        doc: Option<usize>,
        seen: &HashSet<String>,
        rng: &mut R,
    ) -> Vec<QuizQuestion> {
        let in_doc = |d: usize| doc.is_none_or(|wanted| wanted == d);
        let topic = match &request.scope {
            Scope::Topic(t) => self.stems(t),
            _ => HashSet::new(),
        };
        if matches!(request.scope, Scope::Topic(_)) && topic.is_empty() {
            return Vec::new();
        }
        let mut curated: Vec<QuizQuestion> = self
            .bank
            .iter()
            .filter(|q| in_doc(q.doc))
            .filter(|q| match &request.scope {
                Scope::All => true,
                Scope::Section(d, s) => q.doc == *d && q.section == *s,
                Scope::Topic(_) => {
                    let section_title = corpus
                        .section(q.doc, q.section)
                        .map(|s| s.title.as_str())
                        .unwrap_or("");
                    let have = self.stems(&format!(
                        "{} {} {} {}",
                        q.question, q.options[q.correct], q.explanation, section_title
                    ));
                    topic.iter().all(|t| have.contains(t))
                }
            })
            .cloned()
            .collect();
        let on_topic = match &request.scope {
            Scope::Topic(_) => self.topic_passages(corpus, &topic),
            _ => HashSet::new(),
        };
        let passages: Vec<&Passage> = corpus
            .passages
            .iter()
            .enumerate()
            .filter(|(i, p)| {
                in_doc(p.doc)
                    && match &request.scope {
                        Scope::All => true,
                        Scope::Section(d, s) => p.doc == *d && p.section == *s,
                        Scope::Topic(_) => on_topic.contains(&(*i as u32)),
                    }
            })
            .map(|(_, p)| p)
            .collect();
        let pools = self.pools.get_or_init(|| Pools::new(corpus));
        let mut generated =
            generate::generate(corpus, pools, &passages, request.count * 3 + 10, rng);
        curated.shuffle(rng);
        generated.shuffle(rng);
        // Unseen curated, unseen generated, then the seen ones (oldest knowledge is fine to
        // revisit when the scope is small).
        let (fresh_c, seen_c): (Vec<_>, Vec<_>) =
            curated.into_iter().partition(|q| !seen.contains(&q.key));
        let (fresh_g, seen_g): (Vec<_>, Vec<_>) =
            generated.into_iter().partition(|q| !seen.contains(&q.key));
        let mut keys = HashSet::new();
        let mut picked: Vec<QuizQuestion> = fresh_c
            .into_iter()
            .chain(fresh_g)
            .chain(seen_c)
            .chain(seen_g)
            .filter(|q| keys.insert(q.key.clone()))
            .take(request.count)
            .collect();
        picked.shuffle(rng);
        for q in &mut picked {
            shuffle_options(q, rng);
        }
        picked
    }
}

/// Shuffles a question's options, keeping track of the correct one.
pub fn shuffle_options<R: Rng>(q: &mut QuizQuestion, rng: &mut R) {
    let correct = q.options[q.correct].clone();
    q.options.shuffle(rng);
    q.correct = q.options.iter().position(|o| *o == correct).unwrap_or(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Corpus {
        Corpus::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")).unwrap()
    }

    /// The looked-up topic passages are exactly those a reading of every passage finds.
    #[test]
    fn topic_lookup_finds_what_reading_every_passage_finds() {
        let c = corpus();
        let pool = QuestionPool::new(Vec::new());
        for topic in [
            "soviets",
            "factory committees",
            "Kerensky army",
            "zanzibar",
            "the",
        ] {
            let stems = pool.stems(topic);
            let read: HashSet<u32> = c
                .passages
                .iter()
                .enumerate()
                .filter(|(_, p)| {
                    let have = pool.stems(&format!("{} {}", c.section_of(p).title, p.text));
                    !stems.is_empty() && stems.iter().all(|t| have.contains(t))
                })
                .map(|(i, _)| i as u32)
                .collect();
            let looked_up = if stems.is_empty() {
                HashSet::new()
            } else {
                pool.topic_passages(&c, &stems)
            };
            assert_eq!(looked_up, read, "{topic}");
        }
    }

    #[test]
    fn parses_counts_topics_and_sections() {
        let c = corpus();
        assert_eq!(
            parse_request("", 5, 20, &c),
            Ok(Request {
                count: 5,
                scope: Scope::All
            })
        );
        assert_eq!(
            parse_request("10", 5, 20, &c),
            Ok(Request {
                count: 10,
                scope: Scope::All
            })
        );
        assert_eq!(
            parse_request("10 soviets", 5, 20, &c),
            Ok(Request {
                count: 10,
                scope: Scope::Topic("soviets".into())
            })
        );
        assert_eq!(
            parse_request("§4", 5, 20, &c),
            Ok(Request {
                count: 5,
                scope: Scope::Section(0, 4)
            })
        );
        assert!(parse_request("0", 5, 20, &c)
            .unwrap_err()
            .contains("at least 1"));
        assert!(parse_request("9999", 5, 20, &c)
            .unwrap_err()
            .contains("at most 20"));
        assert!(parse_request("99999999999999999999999", 5, 20, &c).is_err());
        assert!(parse_request("-3", 5, 20, &c).is_err());
        assert!(parse_request("§99", 5, 20, &c)
            .unwrap_err()
            .contains("no section 99"));
    }
}
