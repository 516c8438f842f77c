//! Rendering of core values for a terminal: answers with citations, the table of contents and
//! evaluation reports. Matched words are shown in bold on a terminal and between `*stars*`
//! when the output is piped.

use std::fmt::Write as _;

use crate::answer::{Answer, Tier, UNSURE};
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
    if answer.tier == Tier::Unsure {
        out.push_str(UNSURE);
        out.push_str("\n\n");
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

/// "a", "a and b", "a, b and c": names and terms capitalised ("Vera Zasulich", "Civil
/// War"), a single ordinary word in quotes as typed (“otters”).
pub fn quoted_list(items: &[String]) -> String {
    let cap: Vec<String> = items
        .iter()
        .map(|w| {
            if !w.contains(' ') && crate::search::is_english_word(w) {
                return format!("“{w}”");
            }
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
    let _ = writeln!(
        out,
        "unsure         {:.3} in scope, {:.3} out of scope",
        r.in_scope_unsure, r.oos_unsure
    );
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

/// Renders a command reply for `studybot chat`; buttons become numbered choices, returned with
/// the text in the order they are numbered.
pub fn reply(
    reply: &crate::commands::Reply,
    marks: Marks,
) -> (String, Vec<crate::commands::Action>) {
    use crate::commands::Content;
    let mut out = String::new();
    match &reply.content {
        Content::Greeting { subject, example } => {
            let _ = writeln!(
                out,
                "Hi! I answer questions about {subject} with cited excerpts, and run quizzes."
            );
            let _ = writeln!(out, "Try: {example} — or /help for all commands.");
        }
        Content::Help => {
            out.push_str("Type a question about the text, or a command:\n");
            for c in crate::commands::COMMANDS {
                let args = if c.args.is_empty() {
                    String::new()
                } else {
                    format!(" {}", c.args)
                };
                let _ = writeln!(out, "  /{}{args} — {}{}", c.name, c.description, c.also());
            }
            out.push_str("  /quit — leave\nChoices shown as [1], [2]... are picked by typing their number.\n");
        }
        Content::Answer(a) => out.push_str(&answer(a, marks)),
        Content::More(items) => {
            for item in items {
                let _ = writeln!(out, "{}. {}", item.rank, marked(&item.excerpt, marks));
                let _ = writeln!(out, "   — {}\n", item.citation);
            }
        }
        Content::Passages(list) => {
            for p in list {
                let pointer = if p.focus && list.len() > 1 {
                    "▶ "
                } else {
                    ""
                };
                let _ = writeln!(out, "{pointer}{}", marked(&p.text, marks));
                let _ = writeln!(out, "   — {}\n", p.citation);
            }
        }
        Content::Toc {
            entries,
            page,
            pages,
        } => {
            if *pages > 1 {
                let _ = writeln!(out, "Contents, page {page}/{pages}");
            }
            out.push_str(&toc(entries));
        }
        Content::Page(page) => {
            let _ = write!(out, "§{} {}", page.section, page.title);
            if page.pages > 1 {
                let _ = write!(out, " (page {}/{})", page.page, page.pages);
            }
            let printed = page.printed.as_deref().map(|p| format!(", {p}"));
            let _ = writeln!(out, "\n{}{}\n", page.document, printed.unwrap_or_default());
            for (n, text) in &page.paragraphs {
                let _ = writeln!(out, "¶{n} {text}\n");
            }
        }
        Content::Notice(text) => {
            let _ = writeln!(out, "{text}");
        }
        Content::QuizStarted(started, open) => {
            let _ = writeln!(
                out,
                "{}",
                crate::commands::quiz_announcement(started, *open).replace(
                    "Each question stays open",
                    "On Telegram each question stays open",
                )
            );
            out.push_str("Answer with the option's number.\n");
        }
        Content::QuizQuestion {
            index,
            total,
            question,
        } => {
            let _ = writeln!(
                out,
                "Question {}/{}: {}",
                index + 1,
                total,
                question.question
            );
            for (i, o) in question.options.iter().enumerate() {
                let _ = writeln!(out, "  {}) {o}", i + 1);
            }
        }
        Content::QuizFeedback {
            correct,
            answer,
            explanation,
        } => {
            if *correct {
                out.push_str("Right!\n");
            } else {
                let _ = writeln!(out, "Not quite. The answer is {answer}.");
            }
            let _ = writeln!(out, "{explanation}");
        }
        Content::Scoreboard { title, board } => {
            let _ = writeln!(out, "{title}");
            if board.is_empty() {
                out.push_str("Nobody answered.\n");
            }
            for (i, r) in board.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{}. {} — {}",
                    i + 1,
                    r.name,
                    crate::commands::record_summary(r)
                );
            }
        }
        Content::ReviewStarted { due } => {
            let _ = writeln!(
                out,
                "Review: {due} question{} due. Answer each with the option's number.",
                if *due == 1 { "" } else { "s" }
            );
        }
        Content::Score {
            name,
            record,
            sections,
            weakest,
        } => {
            score(&mut out, name, record.as_ref());
            if !sections.is_empty() {
                out.push_str("By section:\n");
                for s in sections {
                    let _ = writeln!(out, "  {} — {}", s.label, s.summary());
                }
            }
            if let Some(w) = weakest {
                let _ = writeln!(out, "Weakest: {} — {}.", w.label, w.summary());
            }
        }
    }
    let mut actions = Vec::new();
    let mut choices = Vec::new();
    for button in reply.buttons.iter().flatten() {
        actions.push(button.action.clone());
        choices.push(format!("[{}] {}", actions.len(), button.label));
    }
    if !choices.is_empty() {
        let _ = writeln!(out, "{}", choices.join("  "));
    }
    (out, actions)
}

/// One player's record line.
fn score(out: &mut String, name: &str, record: Option<&crate::store::PlayerRecord>) {
    match record {
        Some(r) => {
            let _ = writeln!(out, "{name}: {}", crate::commands::record_summary(r));
        }
        None => {
            let _ = writeln!(
                out,
                "{name}, you have not answered any quiz question here yet. Try /quiz."
            );
        }
    }
}
