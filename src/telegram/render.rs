//! Rendering replies as Telegram HTML messages that always satisfy Telegram's limits: every
//! piece of text escaped, at most 4096 visible characters (UTF-16 units) and 100 formatting
//! entities per message, callback data of at most 64 bytes, long text trimmed at sentence
//! boundaries, never inside a tag.

use teloxide::utils::html::escape;

use crate::commands::{Button, Content, Page, Reply, ShownPassage, COMMANDS};
use crate::corpus::text::sentences;
use crate::search::excerpt::{self, Marked};
use crate::terminal::quoted_list;

/// Telegram's limit on visible characters per message (UTF-16 code units).
pub const MAX_VISIBLE: usize = 4096;
/// Telegram's limit on formatting entities per message.
pub const MAX_ENTITIES: usize = 100;
/// Budget kept below the limits, for headers and safety.
const VISIBLE_BUDGET: usize = 3900;
const ENTITY_BUDGET: usize = 90;

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// HTML text.
    pub html: String,
    /// Rows of (label, callback data).
    pub buttons: Vec<Vec<(String, String)>>,
}

/// Builds HTML while counting what Telegram counts.
#[derive(Debug, Default)]
pub struct Html {
    out: String,
    visible: usize,
    entities: usize,
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

impl Html {
    /// Plain text.
    pub fn text(&mut self, s: &str) -> &mut Self {
        self.out.push_str(&escape(s));
        self.visible += utf16_len(s);
        self
    }

    fn tagged(&mut self, tag: &str, s: &str) -> &mut Self {
        if s.is_empty() {
            return self;
        }
        if self.entities >= ENTITY_BUDGET {
            return self.text(s);
        }
        self.out.push_str(&format!("<{tag}>{}</{tag}>", escape(s)));
        self.visible += utf16_len(s);
        self.entities += 1;
        self
    }

    /// Bold text.
    pub fn bold(&mut self, s: &str) -> &mut Self {
        self.tagged("b", s)
    }

    /// Italic text.
    pub fn italic(&mut self, s: &str) -> &mut Self {
        self.tagged("i", s)
    }

    /// Text with its highlights in bold; highlights separated only by spaces merge into one
    /// entity, and once the entity budget is spent the rest is plain.
    pub fn marked(&mut self, m: &Marked) -> &mut Self {
        let mut merged: Vec<std::ops::Range<usize>> = Vec::new();
        for r in &m.highlights {
            match merged.last_mut() {
                Some(last) if m.text[last.end..r.start].chars().all(char::is_whitespace) => {
                    last.end = r.end
                }
                _ => merged.push(r.clone()),
            }
        }
        let mut at = 0;
        for r in merged {
            self.text(&m.text[at..r.start]);
            self.bold(&m.text[r.clone()]);
            at = r.end;
        }
        self.text(&m.text[at..]);
        self
    }

    /// Visible characters so far (UTF-16 units).
    pub fn visible(&self) -> usize {
        self.visible
    }

    /// Formatting entities so far.
    pub fn entities(&self) -> usize {
        self.entities
    }

    /// The HTML.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Keeps whole sentences of `m` from the start (or, with `from_end`, from the end) within
/// `max` characters; a single sentence longer than that is cut at a word boundary.
pub fn fit(m: &Marked, max: usize, from_end: bool) -> Marked {
    if m.text.chars().count() <= max {
        return m.clone();
    }
    let ranges = sentences(&m.text);
    let mut chosen: Option<std::ops::Range<usize>> = None;
    let iter: Box<dyn Iterator<Item = &std::ops::Range<usize>>> = if from_end {
        Box::new(ranges.iter().rev())
    } else {
        Box::new(ranges.iter())
    };
    for r in iter {
        let candidate = match &chosen {
            None => r.clone(),
            Some(c) => c.start.min(r.start)..c.end.max(r.end),
        };
        if m.text[candidate.clone()].chars().count() + 1 > max {
            break;
        }
        chosen = Some(candidate);
    }
    match chosen {
        Some(r) => {
            let (prefix, suffix) = if from_end { ("…", "") } else { ("", " …") };
            let shift = r.start;
            let body = &m.text[r.clone()];
            Marked {
                text: format!("{prefix}{body}{suffix}"),
                highlights: m
                    .highlights
                    .iter()
                    .filter(|h| h.start >= r.start && h.end <= r.end)
                    .map(|h| h.start - shift + prefix.len()..h.end - shift + prefix.len())
                    .collect(),
            }
        }
        None => excerpt::trim(m.clone(), max),
    }
}

fn buttons(rows: &[Vec<Button>], tag: &str) -> Vec<Vec<(String, String)>> {
    rows.iter()
        .map(|row| {
            row.iter()
                .map(|b| (b.label.clone(), b.action.encode(tag)))
                .collect()
        })
        .filter(|row: &Vec<(String, String)>| !row.is_empty())
        .collect()
}

/// The inline-mode stand-in for an abstention, as (title, description, message HTML): inline
/// results carry no buttons, so the closest sections are named in the message itself.
pub fn not_covered(answer: &crate::answer::Answer) -> (String, String, String) {
    let sections: Vec<String> = answer
        .closest_sections
        .iter()
        .map(|s| format!("§{} {}", s.number, s.title))
        .collect();
    let mut h = Html::default();
    h.text("The text does not seem to cover “")
        .text(&truncate_chars(&answer.question, 200))
        .text("”");
    if answer.never_mentioned.is_empty() {
        h.text(".");
    } else {
        h.text(": it never mentions ")
            .bold(&quoted_list(&answer.never_mentioned))
            .text(".");
    }
    if !sections.is_empty() {
        h.text("\nClosest sections: ").text(&sections.join("; "));
    }
    let description = match sections.is_empty() {
        true => "The text does not seem to cover this.".to_string(),
        false => truncate_chars(&format!("Closest: {}", sections.join("; ")), 200),
    };
    ("Not in the text".to_string(), description, h.finish())
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// Renders a reply as one message.
pub fn reply(reply: &Reply, tag: &str) -> Message {
    let mut h = Html::default();
    match &reply.content {
        Content::Greeting { subject, example } => {
            h.text("Hi! I answer questions about ")
                .bold(subject)
                .text(" with cited excerpts, and run quizzes.\n")
                .text("Try: ")
                .italic(example)
                .text(" — or /help for all commands.");
        }
        Content::Help => help(&mut h),
        Content::Answer(answer) => {
            if !answer.answered {
                h.text("The text does not seem to cover this");
                if !answer.never_mentioned.is_empty() {
                    h.text(": it never mentions ")
                        .bold(&quoted_list(&answer.never_mentioned))
                        .text(".");
                } else {
                    h.text(".");
                }
                if !answer.closest_sections.is_empty() {
                    h.text("\nThe closest sections are below.");
                }
            } else {
                if !answer.corrections.is_empty() {
                    let list: Vec<String> = answer
                        .corrections
                        .iter()
                        .map(|(typed, used)| format!("“{typed}” as “{used}”"))
                        .collect();
                    h.italic(&format!("(reading {})", list.join(", ")))
                        .text("\n\n");
                }
                items(&mut h, &answer.results);
            }
        }
        Content::More(list) => items(&mut h, list),
        Content::Passages(list) => passages(&mut h, list),
        Content::Toc(toc) => {
            let mut doc = usize::MAX;
            for e in toc {
                if e.doc != doc {
                    if doc != usize::MAX {
                        h.text("\n");
                    }
                    doc = e.doc;
                    h.bold(&e.document).text("\n");
                }
                let plural = if e.paragraphs == 1 { "" } else { "s" };
                h.text(&format!(
                    "§{} {} ({} paragraph{plural})\n",
                    e.number, e.title, e.paragraphs
                ));
                if h.visible() > VISIBLE_BUDGET - 200 {
                    h.text("…");
                    break;
                }
            }
            h.text("\nOpen one with /read N or the buttons.");
        }
        Content::Page(page) => render_page(&mut h, page),
        Content::Notice(text) => {
            let t: String = text.chars().take(VISIBLE_BUDGET).collect();
            h.text(&t);
        }
        Content::QuizStarted(started, open) => {
            h.bold("Quiz! ")
                .text(&crate::commands::quiz_announcement(started, *open));
        }
        Content::QuizQuestion {
            index,
            total,
            question,
        } => {
            h.bold(&format!("Question {}/{}", index + 1, total))
                .text("\n")
                .text(&question.question);
            for (i, o) in question.options.iter().enumerate() {
                h.text(&format!("\n{}) {o}", i + 1));
            }
        }
        Content::QuizFeedback {
            correct,
            answer,
            explanation,
        } => {
            if *correct {
                h.bold("Right!");
            } else {
                h.bold("Not quite.")
                    .text(" The answer is ")
                    .bold(answer)
                    .text(".");
            }
            h.text("\n").italic(explanation);
        }
        Content::Scoreboard { title, board } => {
            h.bold(title);
            if board.is_empty() {
                h.text("\nNobody answered.");
            }
            for (i, r) in board.iter().take(20).enumerate() {
                h.text(&format!("\n{}. ", i + 1))
                    .bold(&r.name)
                    .text(" — ")
                    .text(&crate::commands::record_summary(r));
            }
        }
        Content::Score { name, record } => match record {
            Some(r) => {
                h.bold(name)
                    .text(": ")
                    .text(&crate::commands::record_summary(r));
            }
            None => {
                h.text(name)
                    .text(", you have not answered any quiz question in this chat yet. Try /quiz.");
            }
        },
    }
    Message {
        html: h.finish(),
        buttons: buttons(&reply.buttons, tag),
    }
}

fn help(h: &mut Html) {
    h.text("Ask me anything about the text: in a private chat just type the question; in a group use /ask or mention me, or reply to my message.\n\n");
    for c in COMMANDS {
        h.text(&format!("/{}", c.name));
        if !c.args.is_empty() {
            h.text(&format!(" {}", c.args));
        }
        h.text(&format!(" — {}\n", c.description));
    }
    h.text("\nQuizzes: each question is a quiz poll; the next one comes when the poll closes. One quiz at a time per chat. ");
    h.text("Inline: type @ and my name in any chat, then a question, to share an excerpt.");
}

fn citation_line(h: &mut Html, citation: &crate::corpus::Citation) {
    h.text("— ").italic(&citation.to_string());
}

fn items(h: &mut Html, list: &[crate::answer::AnswerItem]) {
    let per_item = (VISIBLE_BUDGET / list.len().max(1))
        .saturating_sub(120)
        .max(80);
    for (i, item) in list.iter().enumerate() {
        if i > 0 {
            h.text("\n\n");
        }
        h.bold(&format!("{}.", item.rank)).text(" ");
        h.marked(&fit(&item.excerpt, per_item, false)).text("\n");
        citation_line(h, &item.citation);
    }
}

fn passages(h: &mut Html, list: &[ShownPassage]) {
    let focus_len = list
        .iter()
        .find(|p| p.focus)
        .map(|p| p.text.text.chars().count())
        .unwrap_or(0)
        .min(VISIBLE_BUDGET / 2);
    let others = list.iter().filter(|p| !p.focus).count().max(1);
    let other_budget = VISIBLE_BUDGET
        .saturating_sub(focus_len + 300 * list.len())
        .max(200)
        / others;
    let mut seen_focus = false;
    for (i, p) in list.iter().enumerate() {
        if i > 0 {
            h.text("\n\n");
        }
        let text = if p.focus {
            seen_focus = true;
            fit(&p.text, VISIBLE_BUDGET / 2, false)
        } else {
            // Before the focus keep the end of the passage, after it the beginning.
            fit(&p.text, other_budget, !seen_focus)
        };
        if p.focus && list.len() > 1 {
            h.bold("▶ ");
        }
        h.marked(&text).text("\n");
        citation_line(h, &p.citation);
    }
}

fn render_page(h: &mut Html, page: &Page) {
    h.bold(&format!("§{} {}", page.section, page.title));
    if page.pages > 1 {
        h.text(&format!(" (page {}/{})", page.page, page.pages));
    }
    h.text("\n").italic(&page.document).text("\n");
    let mut last = 0;
    for (n, text) in &page.paragraphs {
        h.text("\n");
        if *n != last {
            h.bold(&format!("¶{n}")).text(" ");
            last = *n;
        }
        h.text(text).text("\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_not_covered_is_escaped_and_names_the_sections() {
        let answer = crate::answer::Answer {
            question: "<b>who</b> & why ".repeat(30),
            answered: false,
            results: Vec::new(),
            more: Vec::new(),
            closest_sections: vec![crate::answer::SectionRef {
                doc: 0,
                number: 4,
                title: "Tools & <tricks>".into(),
            }],
            never_mentioned: vec!["rasputin".into()],
            corrections: Vec::new(),
            confidence: 0.1,
            semantic: false,
        };
        let (title, description, html) = not_covered(&answer);
        assert_eq!(title, "Not in the text");
        assert_eq!(description, "Closest: §4 Tools & <tricks>");
        assert!(
            html.starts_with("The text does not seem to cover “&lt;b&gt;who&lt;/b&gt; &amp; why")
        );
        assert!(html.contains("…”: it never mentions <b>Rasputin</b>.\nClosest sections: §4 Tools &amp; &lt;tricks&gt;"), "{html}");
    }

    #[test]
    fn escapes_and_counts_visible_characters() {
        let mut h = Html::default();
        h.text("a < b & c > d ").bold("x&y").text(" 👍");
        assert_eq!(h.visible(), "a < b & c > d x&y 👍".encode_utf16().count());
        assert_eq!(h.entities(), 1);
        assert_eq!(h.finish(), "a &lt; b &amp; c &gt; d <b>x&amp;y</b> 👍");
    }

    #[test]
    fn entity_budget_is_never_exceeded() {
        let text = "word ".repeat(500);
        let highlights = (0..500).map(|i| i * 5..i * 5 + 4).collect();
        let m = Marked { text, highlights };
        let mut h = Html::default();
        h.marked(&m);
        assert!(h.entities() <= ENTITY_BUDGET);
    }

    #[test]
    fn fit_keeps_whole_sentences_and_aligned_marks() {
        let text =
            "First sentence is here. Second one mentions soviets. Third is last.".to_string();
        let start = text.find("soviets").unwrap();
        let m = Marked {
            text,
            highlights: std::iter::once(start..start + 7).collect(),
        };
        let f = fit(&m, 50, false);
        assert_eq!(f.text, "First sentence is here. …");
        let f = fit(&m, 50, true);
        assert!(
            f.text.starts_with('…') && f.text.ends_with("Third is last."),
            "{}",
            f.text
        );
        assert_eq!(&f.text[f.highlights[0].clone()], "soviets");
    }
}
