//! Texts pasted from web pages and PDFs answer as well as clean ones, through `studybot ask`.
//!
//! The fixtures in `tests/fixtures/messy/` hold what such texts hold, mostly invisible (they
//! are kept byte for byte: `.gitattributes` marks them `-text`):
//! - `strike-web-page.txt`: a byte-order mark, CRLF line ends, a paragraph whose words are all
//!   joined by no-break spaces (U+00A0), a sentence of 800 characters with no-break spaces in
//!   the stretch before its answer, narrow no-break spaces (U+202F) after full stops, soft
//!   hyphens inside words (also in a heading: "The revo\u{AD}lution in typesetting"),
//!   zero-width spaces, tabs;
//! - `harbour-guide.md`: Markdown with lone CR line ends, tabs, emoji (with zero-width
//!   joiners) in text and in a heading, decomposed accents ("Cafe\u{301}s"), a zero-width
//!   space inside a word, a paragraph of 3,000 characters and a sentence of 600 words;
//! - `bilingual-notes.txt`: Hebrew and Arabic next to English, direction marks (U+200E,
//!   U+200F) and a Unicode line separator (U+2028).

use serde_json::Value;

use crate::common::{fixture, run, studybot};

/// Asks the messy corpus, in one data directory per test (the passage vectors are computed
/// on the first question and reused).
struct Messy {
    data: tempfile::TempDir,
}

impl Messy {
    fn new() -> Messy {
        Messy {
            data: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self) -> std::process::Command {
        let mut cmd = studybot(self.data.path());
        cmd.env("STUDYBOT__CORPUS__DIR", fixture("messy"));
        cmd
    }

    /// `ask --json`: exits 0 (no panic) and prints one JSON object.
    fn ask(&self, question: &str) -> Value {
        let (code, out, err) = run(self.command().args(["ask", "--json", question]));
        assert_eq!(code, 0, "{question}: {err}");
        serde_json::from_str(&out).unwrap()
    }

    /// The top result of `question`, checked to read cleanly.
    fn top(&self, question: &str) -> Value {
        let v = self.ask(question);
        assert_eq!(v["answered"], true, "{question}: {v:#}");
        for r in v["results"].as_array().unwrap() {
            for field in ["excerpt", "text", "section_title", "document", "citation"] {
                reads_cleanly(r[field].as_str().unwrap(), question);
            }
            let excerpt = r["excerpt"].as_str().unwrap();
            assert!(excerpt.chars().count() <= 480, "{question}: {excerpt}");
        }
        v["results"][0].clone()
    }
}

/// What a reader sees is what is there: no invisible fillers, no stray line ends or tabs, no
/// doubled or leading spaces.
fn reads_cleanly(text: &str, question: &str) {
    assert!(!text.is_empty(), "{question}");
    for bad in ['\r', '\t', '\u{feff}', '\u{ad}', '\u{200b}', '\u{2028}'] {
        assert!(!text.contains(bad), "{question}: {bad:?} in {text:?}");
    }
    assert!(!text.contains("  "), "{question}: double space in {text:?}");
    assert_eq!(text.trim(), text, "{question}: {text:?}");
}

/// Regression: a plain question against a text whose words are joined with no-break spaces
/// panicked, when the excerpt of a long sentence was trimmed one byte into a two-byte space.
#[test]
fn no_break_spaces_a_long_sentence_and_crlf_do_not_crash_and_cite_right() {
    let messy = Messy::new();
    let r = messy.top("what did the managing director's chauffeur do");
    assert_eq!(r["document"], "The Printing Works Strike");
    assert_eq!(r["section_title"], "Background");
    assert_eq!(
        r["citation"],
        "The Printing Works Strike, §1 Background, ¶2"
    );
    let excerpt = r["excerpt"].as_str().unwrap();
    assert!(
        excerpt.starts_with('…') && excerpt.contains("managing director's own chauffeur"),
        "trimmed around the answer: {excerpt}"
    );
    assert!(
        excerpt.contains('\u{a0}'),
        "the cut fell among no-break spaces, where it panicked: {excerpt:?}"
    );
    let r = messy.top("how many members did the strike committee have");
    assert_eq!(
        r["citation"],
        "The Printing Works Strike, §1 Background, ¶1"
    );
    let excerpt = r["excerpt"].as_str().unwrap();
    assert!(
        excerpt.starts_with("In the third week the print workers elected a strike committee"),
        "the sentence, cut at its no-break spaces, which became plain ones: {excerpt:?}"
    );
    assert!(
        !excerpt.contains("Compass"),
        "one sentence, not the paragraph: {excerpt}"
    );
}

#[test]
fn soft_hyphens_and_zero_width_spaces_do_not_hide_words() {
    let messy = Messy::new();
    let r = messy.top("revolution in the composing room");
    assert_eq!(r["section_title"], "The revolution in typesetting");
    assert_eq!(
        r["citation"],
        "The Printing Works Strike, §2 The revolution in typesetting, ¶1"
    );
    assert!(r["excerpt"]
        .as_str()
        .unwrap()
        .contains("brought a revolution to the composing room"));
    let r = messy.top("who was thanked at the dinner");
    assert_eq!(r["section_title"], "Settlement");
    assert!(r["excerpt"]
        .as_str()
        .unwrap()
        .contains("the committee was thanked at a dinner in the Compass Inn."));
    // The words are marked whole in the text output.
    let (code, out, err) = run(messy.command().args(["ask", "revolution typesetting"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("*revolution*"), "{out}");
}

#[test]
fn lone_cr_markdown_with_emoji_and_decomposed_accents_answers() {
    let messy = Messy::new();
    let r = messy.top("which flag means the harbour is closed");
    assert_eq!(r["document"], "Field Guide to the Old Harbour");
    assert_eq!(r["section_title"], "Signals 🚩");
    assert_eq!(r["section_number"], 2);
    let excerpt = r["excerpt"].as_str().unwrap();
    assert!(
        excerpt.contains(
            "A red flag 🚩 means the harbour is closed to all boats 🙅\u{200d}\u{2640}\u{fe0f}."
        ),
        "{excerpt}"
    );
    let r = messy.top("when does the harbour master ring the bell");
    assert_eq!(
        r["citation"],
        "Field Guide to the Old Harbour, §1 Tides, ¶2"
    );
    // "cafe" finds the decomposed "Café", and "crab sandwiches" the word a zero-width space
    // split.
    let r = messy.top("which cafe serves crab sandwiches");
    assert_eq!(r["section_title"], "Cafe\u{301}s");
    assert!(r["excerpt"]
        .as_str()
        .unwrap()
        .contains("serves crab sandwiches."));
    let r = messy.top("what does the café du port serve");
    assert_eq!(r["section_title"], "Cafe\u{301}s");
}

#[test]
fn very_long_paragraphs_and_sentences_give_short_excerpts_around_the_answer() {
    let messy = Messy::new();
    let r = messy.top("what does the pilot boat bring in");
    assert_eq!(
        r["citation"],
        "Field Guide to the Old Harbour, §3 Traffic, ¶1"
    );
    let excerpt = r["excerpt"].as_str().unwrap();
    assert!(
        excerpt.starts_with('…')
            && excerpt.ends_with('…')
            && excerpt.contains("the pilot boat brings in the grain freighter"),
        "{excerpt}"
    );
    let r = messy.top("when are the tide tables corrected");
    assert_eq!(r["section_title"], "Tides");
    assert!(r["excerpt"].as_str().unwrap().chars().count() < 300);
}

#[test]
fn right_to_left_text_is_found_and_cited() {
    let messy = Messy::new();
    let r = messy.top("מגדלור");
    assert_eq!(r["citation"], "Bilingual Notes, §1 Greetings, ¶2");
    assert!(r["excerpt"]
        .as_str()
        .unwrap()
        .starts_with("בנמל העתיק יש מגדלור לבן."));
    let r = messy.top("المنارة");
    assert_eq!(r["citation"], "Bilingual Notes, §2 Lighthouses, ¶1");
    let r = messy.top("what does shalom mean? שלום");
    assert_eq!(r["citation"], "Bilingual Notes, §1 Greetings, ¶1");
    // The line separator became a line break, and the English after it is searchable.
    let r = messy.top("where does the white lighthouse stand");
    assert_eq!(r["section_title"], "Lighthouses");
    assert!(r["text"]
        .as_str()
        .unwrap()
        .contains("القديم. The white lighthouse"));
}

#[test]
fn sections_of_messy_texts_read_cleanly() {
    let messy = Messy::new();
    let (code, out, err) = run(messy.command().arg("sections"));
    assert_eq!(code, 0, "{err}");
    for title in [
        "Background",
        "The revolution in typesetting",
        "Settlement",
        "Tides",
        "Signals 🚩",
        "Traffic",
        "Cafe\u{301}s",
        "Greetings",
        "Lighthouses",
    ] {
        assert!(out.contains(title), "{title}: {out}");
    }
    assert!(!out.contains(['\r', '\u{feff}', '\u{ad}']), "{out:?}");
}
