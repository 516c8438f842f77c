//! The shipped document parses into exactly the sections and paragraphs a reader sees, and a
//! Markdown document of a different shape works the same way.

use studybot::corpus::Corpus;

use crate::common::{fixture, root};

#[test]
fn shipped_document_sections_and_paragraph_counts() {
    let corpus = Corpus::load(&root().join("corpus")).unwrap();
    let doc = corpus
        .documents
        .iter()
        .find(|d| d.file == "russia-october-1917.txt")
        .unwrap();
    assert_eq!(
        doc.title,
        "#98 - Russia - October 1917 - Working class Power!"
    );
    assert_eq!(doc.date.as_deref(), Some("21 October 2017"));
    let sections: Vec<(&str, usize)> = doc
        .sections
        .iter()
        .map(|s| (s.title.as_str(), s.paragraphs.len()))
        .collect();
    assert_eq!(
        sections,
        vec![
            ("Introduction", 7),
            ("The emergence of the Russian communist movement", 6),
            ("The making of the Bolshevik party", 7),
            ("The question of the social nature of the revolution", 10),
            ("The role of the Soviets in the revolution...", 12),
            ("... and the role of Factory Shop Committees", 5),
            ("A democratic relationship with the proletariat", 10),
            (
                "How the proletariat learns through experience and action",
                12
            ),
            ("The road to power", 11),
            ("The revolutionary communist party we need", 9),
        ]
    );
}

#[test]
fn every_passage_is_cited_by_a_real_paragraph_and_none_is_lost() {
    let corpus = Corpus::load(&root().join("corpus")).unwrap();
    for p in &corpus.passages {
        let section = corpus.section_of(p);
        assert!(p.paragraph >= 1 && p.paragraph_end <= section.paragraphs.len());
        let last = &section.paragraphs[p.paragraph_end - 1];
        let first_words: String = p
            .text
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        let joined = section.paragraphs[p.paragraph - 1..p.paragraph_end].join(" ");
        assert!(
            joined
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .contains(&first_words),
            "passage {} does not start in its paragraphs",
            p.id
        );
        assert!(!last.is_empty());
        assert!(
            p.text.split_whitespace().count() <= 300,
            "passage {} too long",
            p.id
        );
    }
    // Every word of every paragraph is in some passage.
    let words_in_paragraphs: usize = corpus
        .documents
        .iter()
        .flat_map(|d| &d.sections)
        .flat_map(|s| &s.paragraphs)
        .map(|p| p.split_whitespace().count())
        .sum();
    let words_in_passages: usize = corpus
        .passages
        .iter()
        .map(|p| p.text.split_whitespace().count())
        .sum();
    assert_eq!(words_in_paragraphs, words_in_passages);
}

#[test]
fn quotations_name_their_speaker() {
    let corpus = Corpus::load(&root().join("corpus")).unwrap();
    let quote = corpus
        .passages
        .iter()
        .find(|p| {
            p.text
                .contains("A Soviet is based directly upon the workers")
        })
        .unwrap();
    assert_eq!(quote.speaker.as_deref(), Some("John Reed"));
    assert!(corpus
        .citation(quote)
        .to_string()
        .starts_with("John Reed, quoted in #98"));
}

#[test]
fn markdown_fixture_parses_into_its_sections() {
    let corpus = Corpus::load(&fixture("handbook")).unwrap();
    let titles: Vec<Vec<&str>> = corpus
        .documents
        .iter()
        .map(|d| d.sections.iter().map(|s| s.title.as_str()).collect())
        .collect();
    assert_eq!(
        titles,
        vec![
            vec![
                "Introduction",
                "Membership",
                "Plots and tools",
                "Composting",
                "Disputes"
            ],
            vec!["Introduction", "Pruning", "Harvest"],
        ]
    );
    assert_eq!(corpus.documents[0].title, "The Community Garden Handbook");
    assert_eq!(corpus.documents[1].title, "Field notes on the orchard");
    let shed = corpus
        .passages
        .iter()
        .find(|p| p.text.starts_with("The tool shed is unlocked"))
        .unwrap();
    assert_eq!(shed.context.as_deref(), Some("The tool shed"));
    assert_eq!((shed.section, shed.paragraph), (3, 2));
}

/// Layout fragments that sit at the edges of the Markdown and plain-text rules (lone markers,
/// empty tables, bare underlines, page marks with nothing between them, multi-byte text next
/// to markers) parse without a panic, in every pairing, and every passage has text.
#[test]
fn odd_layouts_never_panic_and_leave_no_empty_passage() {
    let fragments = [
        "",
        "\n",
        "#",
        "# ",
        "##  ##",
        "===",
        "---",
        "***",
        "**",
        "****",
        "** **",
        "__x__",
        "|",
        "||",
        "| |",
        "|---|",
        "| a |\n|---|",
        "- ",
        "* ",
        "1. ",
        "1)",
        "12",
        "\u{c}",
        "\u{c}\u{c}",
        "[Page 3]",
        "Page 1 of",
        ". . . . . . 4",
        "é — ü",
        "- é",
        "1. ü",
        "> | x |",
        "```",
        "~~~\n# x",
        "Title\n=====",
        "**Label**\ntext",
        "a\n\n\n\nb",
        "\u{a0}\u{a0}",
        "ß\n---",
    ];
    let dir = std::path::Path::new("/nonexistent");
    for a in fragments {
        for b in fragments {
            let text = format!("{a}\n{b}\n\n{a}{b}\n");
            for name in ["x.md", "x.txt"] {
                let corpus = Corpus::from_texts(dir, &[(dir.join(name), text.clone())]);
                for p in &corpus.passages {
                    assert!(!p.text.trim().is_empty(), "{name} {text:?}");
                }
            }
        }
    }
}
