//! Rendering of core values for a terminal: answers with citations, the table of contents and
//! evaluation reports. Matched words are shown in bold on a terminal and between `*stars*`
//! when the output is piped.

use std::fmt::Write as _;

use crate::answer::Answer;
use crate::engine::TocEntry;
use crate::eval::EvalReport;
use crate::search::excerpt::Marked;

/// How to mark matched words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marks {
    /// ANSI bold.
    Ansi,
    /// `*word*`.
    Stars,
}

/// Renders a marked text.
pub fn marked(text: &Marked, marks: Marks) -> String {
    let (open, close) = match marks {
        Marks::Ansi => ("\x1b[1m", "\x1b[0m"),
        Marks::Stars => ("*", "*"),
    };
    text.segments()
        .into_iter()
        .map(|(s, hl)| {
            if hl {
                format!("{open}{s}{close}")
            } else {
                s.to_string()
            }
        })
        .collect()
}

/// Renders an answer for `studybot ask`.
pub fn answer(answer: &Answer, marks: Marks) -> String {
    let mut out = String::new();
    if !answer.answered {
        out.push_str(&abstention(answer));
        return out;
    }
    for (typed, used) in &answer.corrections {
        let _ = writeln!(out, "(reading \"{typed}\" as \"{used}\")");
    }
    for item in &answer.results {
        let _ = writeln!(out, "{}. {}", item.rank, marked(&item.excerpt, marks));
        let _ = writeln!(out, "   — {}", item.citation);
        out.push('\n');
    }
    out.trim_end().to_string() + "\n"
}

/// The "not covered" message with the closest sections.
pub fn abstention(answer: &Answer) -> String {
    let mut out = String::new();
    match answer.never_mentioned.as_slice() {
        [] => out.push_str("The text does not seem to cover this.\n"),
        names => {
            let _ = writeln!(
                out,
                "The text does not seem to cover this: it never mentions {}.",
                quoted_list(names)
            );
        }
    }
    if !answer.closest_sections.is_empty() {
        out.push_str("Closest sections:\n");
        for s in &answer.closest_sections {
            let _ = writeln!(out, "  §{} {}", s.number, s.title);
        }
    }
    out
}

/// "a", "a and b", "a, b and c" with each item capitalised.
pub fn quoted_list(items: &[String]) -> String {
    let cap: Vec<String> = items
        .iter()
        .map(|w| {
            w.split(' ')
                .map(|part| {
                    let mut c = part.chars();
                    c.next()
                        .map(|f| f.to_uppercase().chain(c).collect())
                        .unwrap_or_default()
                })
                .collect::<Vec<String>>()
                .join(" ")
        })
        .collect();
    match cap.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {}", init.join(", "), last),
    }
}

/// Renders the table of contents.
pub fn toc(entries: &[TocEntry]) -> String {
    let mut out = String::new();
    let mut doc = usize::MAX;
    for e in entries {
        if e.doc != doc {
            doc = e.doc;
            let _ = writeln!(out, "{}", e.document);
        }
        let plural = if e.paragraphs == 1 { "" } else { "s" };
        let _ = writeln!(
            out,
            "  §{:<3} {} ({} paragraph{plural})",
            e.number, e.title, e.paragraphs
        );
    }
    out
}

/// Renders an evaluation report.
pub fn eval_report(r: &EvalReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "questions: {} in scope, {} out of scope",
        r.in_scope, r.out_of_scope
    );
    let _ = writeln!(out, "Recall@1       {:.3}", r.recall_at_1);
    let _ = writeln!(out, "Recall@3       {:.3}", r.recall_at_3);
    let _ = writeln!(out, "MRR@10         {:.3}", r.mrr_at_10);
    let _ = writeln!(out, "oos_caught     {:.3}", r.oos_caught);
    let _ = writeln!(out, "false_abstain  {:.3}", r.false_abstain);
    let misses: Vec<String> = r
        .cases
        .iter()
        .filter(|c| !c.out_of_scope && c.rank != Some(1))
        .map(|c| match c.rank {
            Some(rank) => format!("{}@{rank}", c.id),
            None => format!("{}@-", c.id),
        })
        .collect();
    if !misses.is_empty() {
        let _ = writeln!(out, "not first: {}", misses.join(" "));
    }
    out
}
