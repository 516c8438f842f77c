//! The curated quiz bank is valid against the corpus, and quizzes run in the terminal with
//! scores that survive a restart.

use std::collections::HashSet;
use std::io::Write;
use std::process::Stdio;

use studybot::corpus::Corpus;
use studybot::quiz::bank;

use crate::common::{root, studybot};

#[test]
fn every_bank_question_is_supported_by_its_section_and_fits_telegram() {
    let corpus = Corpus::load(&root().join("corpus")).unwrap();
    let loaded = bank::load(&root().join("corpus/quiz"), &corpus).unwrap();
    assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
    assert!(
        loaded.questions.len() >= 60,
        "{} questions",
        loaded.questions.len()
    );
    let sections: HashSet<usize> = loaded.questions.iter().map(|q| q.section).collect();
    assert_eq!(
        sections.len(),
        corpus.documents[0].sections.len(),
        "every section has questions"
    );
    let mut texts = HashSet::new();
    for q in &loaded.questions {
        assert!(q.is_valid(), "{q:?}");
        assert_eq!(q.options.len(), 4, "{}", q.question);
        assert!(
            q.question.chars().count() <= 300 - 10,
            "room for the [n/N] prefix: {}",
            q.question
        );
        assert!(q.explanation.chars().count() <= 200);
        assert!(
            texts.insert(q.question.to_lowercase()),
            "repeated question: {}",
            q.question
        );
    }
}

#[test]
fn bank_quotes_are_verbatim_in_the_named_section() {
    // Re-read the TOML directly so the check does not depend on the loader.
    let corpus = Corpus::load(&root().join("corpus")).unwrap();
    let doc = &corpus.documents[0];
    let mut count = 0;
    for entry in std::fs::read_dir(root().join("corpus/quiz")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let value: toml::Value = toml::from_str(&text).unwrap();
        for q in value["question"].as_array().unwrap() {
            let section = q["section"].as_str().unwrap();
            let quote = q["quote"].as_str().unwrap();
            let s = doc
                .sections
                .iter()
                .find(|s| s.title == section)
                .unwrap_or_else(|| panic!("{section}"));
            assert!(
                s.paragraphs.iter().any(|p| p.contains(quote)),
                "{}: {quote}",
                path.display()
            );
            let mut options: Vec<String> = std::iter::once(q["answer"].as_str().unwrap())
                .chain(
                    q["wrong"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|w| w.as_str().unwrap()),
                )
                .map(|o| o.trim().to_lowercase())
                .collect();
            options.sort();
            options.dedup();
            assert_eq!(options.len(), 4, "options must be distinct: {q:?}");
            count += 1;
        }
    }
    assert!(count >= 60);
}

fn chat(data: &std::path::Path, script: &str) -> String {
    let mut child = studybot(data)
        .arg("chat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn terminal_quiz_scores_and_survives_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let out = chat(data.path(), "/quiz 3 §5\n1\n2\n3\n/score\n/quit\n");
    assert!(
        out.contains("Quiz: 3 questions on §5 The role of the Soviets"),
        "{out}"
    );
    assert_eq!(out.matches("Question ").count(), 3, "{out}");
    assert!(out.contains("Quiz over! Scores:"), "{out}");
    let score_line = out
        .lines()
        .rev()
        .find(|l| l.contains("points ·"))
        .unwrap()
        .to_string();
    assert!(score_line.contains("3 answered"), "{score_line}");
    // A new process with the same data folder has the same record.
    let again = chat(data.path(), "/top\n/quit\n");
    assert!(again.contains("Leaderboard"), "{again}");
    let top_line = again.lines().find(|l| l.starts_with("1. ")).unwrap();
    assert!(
        score_line.ends_with(top_line.split(" — ").nth(1).unwrap()),
        "{score_line} vs {top_line}"
    );
}

#[test]
fn bad_quiz_requests_get_clear_messages() {
    let data = tempfile::tempdir().unwrap();
    let out = chat(
        data.path(),
        "/quiz 0\n/quiz 9999\n/quiz zanzibar\n/stop\n/score\n/quit\n",
    );
    assert!(out.contains("at least 1 question"), "{out}");
    assert!(out.contains("at most 20 questions"), "{out}");
    assert!(out.contains("no questions about “zanzibar”"), "{out}");
    assert!(out.contains("No quiz is running here"), "{out}");
    assert!(out.contains("not answered any quiz question"), "{out}");
}

#[test]
fn a_running_quiz_refuses_a_second_one_and_chat_answers_questions() {
    let data = tempfile::tempdir().unwrap();
    let out = chat(
        data.path(),
        "/quiz 2\n/quiz\n/stop\nwhat were factory shop committees\n1\n/quit\n",
    );
    assert!(out.contains("already running"), "{out}");
    assert!(out.contains("Quiz stopped"), "{out}");
    assert!(out.contains("[1] Full passage"), "{out}");
    assert!(
        out.contains("§6 ... and the role of Factory Shop Committees"),
        "{out}"
    );
}
