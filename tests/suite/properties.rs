//! Property tests: no text, question or excerpt makes the core panic or break its promises.
//!
//! Inputs are arbitrary Unicode, weighted towards what texts pasted from web pages and PDFs
//! hold: no-break and other Unicode spaces, soft hyphens, zero-width characters, byte-order
//! marks, CRLF and lone CR, tabs, right-to-left text and direction marks, emoji with joiners,
//! decomposed accents, Markdown and page layout markers, and very long sentences and
//! paragraphs.
//!
//! Every run tries the same cases (a fixed seed) and few enough of them for the suite to stay
//! seconds long. A longer run, with more cases or another seed:
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test --locked --release properties
//! PROPTEST_CASES=20000 PROPTEST_RNG_SEED=7 cargo test --locked --release properties
//! ```

use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use rustc_hash::FxHashMap;
use studybot::corpus::Corpus;
use studybot::search::analysis::Analyzer;
use studybot::search::excerpt::{self, Marked, MAX_EXCERPT_CHARS};
use studybot::search::{QuestionKind, MAX_QUESTION_BYTES};
use studybot::Engine;

use crate::common::root;

/// Cases per property unless `PROPTEST_CASES` says otherwise.
const CASES: u32 = 64;
/// The seed unless `PROPTEST_RNG_SEED` says otherwise.
const SEED: u64 = 1917;

fn config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = CASES;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(SEED);
    }
    // A failure prints its minimal input; nothing is written into the source tree.
    config.failure_persistence = None;
    config
}

/// Pieces of messy text, from ordinary words to the characters that broke things before.
fn fragment() -> impl Strategy<Value = String> {
    const PIECES: &[&str] = &[
        // words and numbers
        "the",
        "Soviets",
        "factory",
        "committees",
        "revolution",
        "revo\u{ad}lution",
        "work\u{200b}ers",
        "Pe\u{301}trograd",
        "Pétrograd",
        "25,000",
        "1917",
        "Kornilov's",
        "workers'",
        "J.",
        "Mr.",
        "e.g.",
        // spaces
        " ",
        " ",
        " ",
        "\u{a0}",
        "\u{a0}",
        "\u{202f}",
        "\u{2009}",
        "\u{3000}",
        "\t",
        "\u{200b}",
        "\u{200d}",
        "\u{2060}",
        "\u{feff}",
        // line ends and page breaks
        "\n",
        "\n",
        "\n\n",
        "\r\n",
        "\r",
        "\r\r",
        "\u{85}",
        "\u{2028}",
        "\u{2029}",
        "\u{b}",
        "\u{c}",
        "\u{0}",
        // punctuation
        ".",
        ". ",
        ".\u{a0}",
        "!",
        "?",
        "...",
        "…",
        ":",
        ",",
        ";",
        "\"",
        "“",
        "”",
        "’",
        "«",
        "»",
        "(",
        ")",
        "-",
        "—",
        // Markdown and layout
        "#",
        "# ",
        "## ",
        "### ",
        "\n## ",
        "- ",
        "* ",
        "1. ",
        "> ",
        "|",
        " | ",
        "|---|",
        "---",
        "===",
        "```",
        "**",
        "__",
        "`",
        "[",
        "](",
        "<b>",
        "</i>",
        "Page 3",
        "- 12 -",
        ". . . . . . 4",
        // other scripts, direction marks, emoji
        "שלום",
        "مرحبا",
        "\u{200f}",
        "\u{200e}",
        "\u{202e}",
        "\u{2067}",
        "Привет",
        "中文。",
        "🎉",
        "👩\u{200d}🔬",
        "🇫🇷",
        "\u{301}",
    ];
    prop_oneof![
        8 => prop::sample::select(PIECES).prop_map(str::to_string),
        2 => any::<char>().prop_map(String::from),
        1 => (1usize..=400).prop_map(|n| "word\u{a0}".repeat(n)),
        1 => (1usize..=120).prop_map(|n| "A long sentence that never stops and ".repeat(n)),
        1 => (1usize..=80).prop_map(|n| "Short sentence. ".repeat(n)),
    ]
}

/// A messy text: fragments joined, or arbitrary Unicode.
fn messy_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(fragment(), 0..120).prop_map(|v| v.concat()),
        1 => any::<String>(),
    ]
}

/// Checks what a marked text promises: ordered, non-overlapping, non-empty highlights inside
/// the text and on character boundaries, and segments that rebuild the text.
fn check_marks(m: &Marked) -> Result<(), TestCaseError> {
    let mut at = 0;
    for h in &m.highlights {
        prop_assert!(
            at <= h.start && h.start < h.end && h.end <= m.text.len(),
            "{m:?}"
        );
        prop_assert!(
            m.text.is_char_boundary(h.start) && m.text.is_char_boundary(h.end),
            "{m:?}"
        );
        at = h.end;
    }
    let rebuilt: String = m.segments().into_iter().map(|(s, _)| s).collect();
    prop_assert_eq!(&rebuilt, &m.text);
    Ok(())
}

/// Stems of some of the text's own words, so that excerpts have something to mark.
fn some_stems(analyzer: &Analyzer, text: &str, every: usize) -> FxHashMap<String, f32> {
    analyzer
        .tokens(text)
        .into_iter()
        .step_by(every.max(1))
        .map(|t| (t.stem, 1.0))
        .collect()
}

fn analyzer() -> &'static Analyzer {
    static ANALYZER: OnceLock<Analyzer> = OnceLock::new();
    ANALYZER.get_or_init(Analyzer::default)
}

/// The shipped text, indexed in memory without the semantic model (question analysis, typo
/// correction and ranking are what is tried here, not the model).
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::in_memory(&root().join("corpus")).unwrap())
}

proptest! {
    #![proptest_config(config())]

    /// The Markdown and plain-text parsers never panic, never yield a passage without visible
    /// text, serve no invisible filler or CR, and cite real documents, sections and
    /// paragraphs.
    #[test]
    fn corpus_parsers_never_panic_and_cite_real_paragraphs(text in messy_text()) {
        let dir = Path::new("/nonexistent");
        for name in ["messy.md", "messy.txt"] {
            let corpus = Corpus::from_texts(dir, &[(dir.join(name), text.clone())]);
            for (id, p) in corpus.passages.iter().enumerate() {
                prop_assert_eq!(p.id, id);
                prop_assert!(
                    studybot::corpus::text::has_visible_text(&p.text),
                    "{} passage {:?}", name, p.text
                );
                prop_assert!(
                    !p.text.contains(['\r', '\u{feff}', '\u{ad}', '\u{200b}', '\u{0}']),
                    "{} passage {:?}", name, p.text
                );
                let doc = &corpus.documents[p.doc];
                let section = corpus.section(p.doc, p.section);
                prop_assert!(section.is_some(), "{} passage {} has no section", name, id);
                let section = section.unwrap();
                prop_assert!(section.passages.contains(&id));
                prop_assert!(
                    1 <= p.paragraph
                        && p.paragraph <= p.paragraph_end
                        && p.paragraph_end <= section.paragraphs.len(),
                    "{} passage {:?} cites ¶{}–{} of {}",
                    name, p.text, p.paragraph, p.paragraph_end, section.paragraphs.len()
                );
                prop_assert!(p.part < p.parts);
                for title in [&doc.title, &section.title] {
                    prop_assert!(
                        studybot::corpus::text::has_visible_text(title) && !title.contains(['\n', '\r']),
                        "{} title {:?}", name, title
                    );
                }
                let citation = corpus.citation(p).to_string();
                let expected = format!("§{} {}, ¶{}", section.number, section.title, p.paragraph);
                prop_assert!(
                    citation.starts_with(&doc.title) && citation.contains(&expected),
                    "{} citation {:?}", name, citation
                );
            }
        }
    }

    /// Question analysis and answering never panic on anything within the question size
    /// limit, and every answer keeps its promises: excerpts within their limit, marks on
    /// character boundaries, citations of real passages.
    #[test]
    fn questions_never_panic(question in messy_text()) {
        let mut question = question;
        while question.len() > MAX_QUESTION_BYTES {
            question.pop();
        }
        let engine = engine();
        let _ = engine.search_engine().read(&question);
        for t in analyzer().tokens(&question) {
            prop_assert!(question.is_char_boundary(t.start) && question.is_char_boundary(t.end));
            prop_assert!(t.start < t.end && t.end <= question.len());
        }
        if let Ok(answer) = engine.ask(&question, 3) {
            for r in &answer.results {
                prop_assert!(r.excerpt.text.chars().count() <= MAX_EXCERPT_CHARS);
                check_marks(&r.excerpt)?;
                prop_assert!(engine.corpus.passages.get(r.passage).is_some());
            }
        }
    }

    /// Excerpts and trimming never panic, stay within their length limit, and keep their
    /// marks on the marked words.
    #[test]
    fn excerpts_stay_within_limits(
        text in messy_text(),
        every in 1usize..6,
        max in 0usize..600,
        kind in prop::sample::select(vec![QuestionKind::Other, QuestionKind::Quantity]),
    ) {
        let analyzer = analyzer();
        let stems = some_stems(analyzer, &text, every);
        let e = excerpt::excerpt(analyzer, &text, &stems, kind);
        prop_assert!(e.text.chars().count() <= MAX_EXCERPT_CHARS, "{} chars", e.text.chars().count());
        check_marks(&e)?;
        let marked = excerpt::mark(analyzer, &text, &stems);
        check_marks(&marked)?;
        let trimmed = excerpt::trim(marked.clone(), max);
        prop_assert!(trimmed.text.chars().count() <= max, "{} > {}", trimmed.text.chars().count(), max);
        check_marks(&trimmed)?;
        // A kept mark still marks the word it marked.
        let words: Vec<&str> = marked.highlights.iter().map(|h| &marked.text[h.clone()]).collect();
        for h in &trimmed.highlights {
            prop_assert!(words.contains(&&trimmed.text[h.clone()]));
        }
    }
}
