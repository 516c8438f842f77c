//! Rendering replies as Telegram HTML messages that always satisfy Telegram's limits
//! ([`limits`](super::limits)): every piece of text escaped, at most 4096 visible characters
//! (UTF-16 units) and 100 formatting entities per message whatever the text (the [`Html`]
//! builder cuts anything past them), callback data of at most 64 bytes, long text trimmed at
//! sentence boundaries, never inside a tag.

use teloxide::types::{
    InlineQueryResult, InlineQueryResultArticle, InputMessageContent, InputMessageContentText,
    ParseMode,
};
use teloxide::utils::html::escape;

use super::callback;
use super::limits::{utf16_len, utf16_prefix, utf16_truncate};
pub use super::limits::{MAX_ENTITIES, MAX_VISIBLE};
use crate::commands::{Button, Content, Page, Reply, ShownPassage, COMMANDS};
use crate::corpus::text::sentences;
use crate::search::excerpt::Marked;
use crate::terminal::quoted_list;

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

/// Builds HTML while counting what Telegram counts. Past [`MAX_VISIBLE`] units the text is
/// cut with "…" and the rest is dropped; past the entity budget formatting becomes plain text.
/// So whatever is added, the result fits one message.
#[derive(Debug, Default)]
pub struct Html {
    out: String,
    visible: usize,
    entities: usize,
    full: bool,
}

impl Html {
    /// How much of `s` still fits, keeping one unit for the "…" that marks a cut.
    fn room<'a>(&mut self, s: &'a str) -> (&'a str, bool) {
        if self.full {
            return ("", true);
        }
        if self.visible + utf16_len(s) <= MAX_VISIBLE {
            return (s, false);
        }
        self.full = true;
        let left = MAX_VISIBLE.saturating_sub(self.visible + 1);
        (utf16_prefix(s, left), true)
    }

    /// Plain text.
    pub fn text(&mut self, s: &str) -> &mut Self {
        let (fits, cut) = self.room(s);
        self.out.push_str(&escape(fits));
        self.visible += utf16_len(fits);
        if cut && self.visible < MAX_VISIBLE {
            self.out.push('…');
            self.visible += 1;
        }
        self
    }

    fn tagged(&mut self, tag: &str, s: &str) -> &mut Self {
        if s.is_empty() {
            return self;
        }
        if self.entities >= ENTITY_BUDGET {
            return self.text(s);
        }
        let (fits, cut) = self.room(s);
        if !fits.is_empty() {
            self.out
                .push_str(&format!("<{tag}>{}</{tag}>", escape(fits)));
            self.visible += utf16_len(fits);
            self.entities += 1;
        }
        if cut && self.visible < MAX_VISIBLE {
            self.out.push('…');
            self.visible += 1;
        }
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
        // Highlights out of order or not on character boundaries are left unmarked.
        let mut merged: Vec<std::ops::Range<usize>> = Vec::new();
        for r in &m.highlights {
            if m.text.get(r.clone()).is_none() || r.is_empty() {
                continue;
            }
            match merged.last_mut() {
                Some(last) if r.start < last.end => {}
                Some(last)
                    if m.text
                        .get(last.end..r.start)
                        .is_some_and(|gap| gap.chars().all(char::is_whitespace)) =>
                {
                    last.end = r.end
                }
                _ => merged.push(r.clone()),
            }
        }
        let mut at = 0;
        for r in merged {
            self.text(m.text.get(at..r.start).unwrap_or_default());
            self.bold(m.text.get(r.clone()).unwrap_or_default());
            at = r.end;
        }
        self.text(m.text.get(at..).unwrap_or_default());
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
        let Some(text) = m.text.get(candidate.clone()) else {
            break;
        };
        if text.chars().count() + 1 > max {
            break;
        }
        chosen = Some(candidate);
    }
    match chosen {
        Some(r) => {
            let (prefix, suffix) = if from_end { ("…", "") } else { ("", " …") };
            let shift = r.start;
            let body = m.text.get(r.clone()).unwrap_or_default();
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
        None => cut(m, max),
    }
}

/// `m` cut to about `max` characters around its first highlight, at word boundaries, with "…"
/// where text was left out: for a single sentence longer than the room it has.
fn cut(m: &Marked, max: usize) -> Marked {
    let chars: Vec<(usize, char)> = m.text.char_indices().collect();
    let anchor = m.highlights.first().map_or(0, |r| r.start);
    // Character positions: start a quarter of the room before the first highlight.
    let anchor_char = chars.partition_point(|&(i, _)| i < anchor);
    let room = max.saturating_sub(2).max(1);
    let mut start = anchor_char.saturating_sub(room / 4);
    if start > 0 {
        // Move to the start of the next word.
        while chars.get(start).is_some_and(|&(_, c)| !c.is_whitespace()) {
            start += 1;
        }
        while chars.get(start).is_some_and(|&(_, c)| c.is_whitespace()) {
            start += 1;
        }
        if start >= chars.len() {
            start = anchor_char.saturating_sub(room / 4);
        }
    }
    let mut end = (start + room).min(chars.len());
    if end < chars.len() {
        // Back to the end of the last whole word, if there is one.
        if let Some(space) = (start + 1..end)
            .rev()
            .find(|&k| chars.get(k).is_some_and(|&(_, c)| c.is_whitespace()))
        {
            end = space;
        }
    }
    let byte = |k: usize| chars.get(k).map_or(m.text.len(), |&(i, _)| i);
    let (from, to) = (byte(start), byte(end));
    let body = m.text.get(from..to).unwrap_or_default();
    let prefix = if from > 0 { "…" } else { "" };
    let suffix = if to < m.text.len() { " …" } else { "" };
    Marked {
        text: format!("{prefix}{body}{suffix}"),
        highlights: m
            .highlights
            .iter()
            .filter(|h| h.start >= from && h.end <= to)
            .map(|h| h.start - from + prefix.len()..h.end - from + prefix.len())
            .collect(),
    }
}

/// Each button as (label, callback data); a button whose action cannot be encoded within the
/// limit is left out.
fn buttons(rows: &[Vec<Button>], tag: &str) -> Vec<Vec<(String, String)>> {
    rows.iter()
        .map(|row| {
            row.iter()
                .filter_map(|b| match &b.action {
                    crate::commands::Action::Link(url) => Some((b.label.clone(), url.clone())),
                    action => Some((b.label.clone(), callback::encode(action, tag)?)),
                })
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

/// An answer as inline query results: one article per excerpt (its text and citation, to
/// share), or one "Not in the text" article.
pub fn inline_results(answer: &crate::answer::Answer, tag: &str) -> Vec<InlineQueryResult> {
    let article = |id: String, title: String, description: String, html: String| {
        let content = InputMessageContent::Text(
            InputMessageContentText::new(html).parse_mode(ParseMode::Html),
        );
        InlineQueryResult::Article(
            InlineQueryResultArticle::new(id, title, content).description(description),
        )
    };
    if !answer.answered {
        let (title, description, html) = not_covered(answer);
        return vec![article(format!("none-{tag}"), title, description, html)];
    }
    answer
        .results
        .iter()
        .map(|item| {
            let single = Reply::plain(Content::More(vec![crate::answer::AnswerItem {
                rank: 1,
                ..item.clone()
            }]));
            let html = reply(&single, tag).html;
            let html = html.trim_start_matches("<b>1.</b> ").to_string();
            let title = truncate_chars(&item.citation.to_string(), 120);
            let description = truncate_chars(&item.excerpt.text, 200);
            article(format!("{}-{tag}", item.passage), title, description, html)
        })
        .collect()
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
                if answer.tier == crate::answer::Tier::Unsure {
                    h.italic(crate::answer::UNSURE).text("\n\n");
                }
                items(&mut h, &answer.results);
            }
        }
        Content::More(list) => items(&mut h, list),
        Content::Passages(list) => passages(&mut h, list),
        Content::Toc {
            entries,
            page,
            pages,
        } => {
            if *pages > 1 {
                h.italic(&format!("Contents, page {page}/{pages}"))
                    .text("\n\n");
            }
            let mut doc = usize::MAX;
            for e in entries {
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
            h.text(&utf16_truncate(text, VISIBLE_BUDGET));
        }
        Content::QuizStarted(started, open) => {
            // The announcement opens with "Quiz:"; that word is what stands out.
            let text = crate::commands::quiz_announcement(started, *open);
            match text.strip_prefix("Quiz:") {
                Some(rest) => h.bold("Quiz:").text(rest),
                None => h.text(&text),
            };
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
        Content::Score {
            name,
            record,
            sections,
            weakest,
        } => {
            match record {
                Some(r) => {
                    h.bold(name)
                        .text(": ")
                        .text(&crate::commands::record_summary(r));
                }
                None => {
                    h.text(name).text(
                        ", you have not answered any quiz question in this chat yet. Try /quiz.",
                    );
                }
            }
            if !sections.is_empty() {
                h.text("\n\n").bold("By section");
                for s in sections {
                    h.text("\n").text(&s.label).text(" — ").text(&s.summary());
                }
            }
            if let Some(w) = weakest {
                h.text("\n\nWeakest: ")
                    .bold(&w.label)
                    .text(" — ")
                    .text(&w.summary())
                    .text(". Read it again?");
            }
        }
        Content::ReviewStarted { due } => {
            h.bold("Review").text(&format!(
                ": {due} question{} due. Answer each poll; the next comes when you answer.",
                if *due == 1 { "" } else { "s" }
            ));
        }
    }
    Message {
        html: h.finish(),
        buttons: buttons(&reply.buttons, tag),
    }
}

fn help(h: &mut Html) {
    h.text("Ask me anything about the text: in a private chat just type the question; in a group use /ask or mention me, or reply to one of my answers.\n\n");
    for c in COMMANDS {
        h.text(&format!("/{}", c.name));
        if !c.args.is_empty() {
            h.text(&format!(" {}", c.args));
        }
        h.text(&format!(" — {}{}\n", c.description, c.also()));
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
    h.text("\n").italic(&page.document);
    if let Some(printed) = &page.printed {
        h.text(&format!(", {printed}"));
    }
    h.text("\n");
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
            tier: crate::answer::Tier::NotCovered,
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
            best_similarity: None,
            mean_similarity: None,
            focus: Vec::new(),
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

/// Property tests: whatever the text (any Unicode, markup-like characters, emoji, very long
/// passages, many highlights), every rendered message keeps within Telegram's limits.
#[cfg(test)]
mod props {
    use super::*;
    use crate::answer::AnswerItem;
    use crate::commands::Page;
    use crate::corpus::Citation;
    use crate::engine::TocEntry;
    use crate::store::PlayerRecord;
    use proptest::prelude::*;

    /// Visible UTF-16 units and formatting entities of our HTML, as Telegram would count them;
    /// `Err` when it would refuse the markup.
    fn measure(html: &str) -> Result<(usize, usize), String> {
        let mut visible = 0;
        let mut entities = 0;
        let mut open: Vec<&str> = Vec::new();
        let mut rest = html;
        while let Some(c) = rest.chars().next() {
            match c {
                '<' => {
                    let end = rest.find('>').ok_or("unclosed tag")?;
                    let tag = &rest[1..end];
                    match tag {
                        "b" | "i" => {
                            open.push(tag);
                            entities += 1;
                        }
                        "/b" | "/i" => {
                            if open.pop() != Some(&tag[1..]) {
                                return Err(format!("unbalanced <{tag}>"));
                            }
                        }
                        other => return Err(format!("tag <{other}>")),
                    }
                    rest = &rest[end + 1..];
                }
                '&' => {
                    let end = rest.find(';').ok_or("bare &")?;
                    if !matches!(&rest[..=end], "&lt;" | "&gt;" | "&amp;" | "&quot;") {
                        return Err(format!("entity {}", &rest[..=end]));
                    }
                    visible += 1;
                    rest = &rest[end + 1..];
                }
                '>' => return Err("bare >".into()),
                c => {
                    visible += c.len_utf16();
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        if !open.is_empty() {
            return Err(format!("unclosed {open:?}"));
        }
        Ok((visible, entities))
    }

    /// Text as hostile as users and texts pasted from the web are: markup characters,
    /// entities, emoji and other astral characters (two UTF-16 units), combining marks,
    /// non-breaking and zero-width spaces, right-to-left text, sentence ends.
    fn text(max: usize) -> impl Strategy<Value = String> {
        // Fixed pieces rather than generated ones: generating thousands of random words per
        // case is what would make these tests slow, not rendering them.
        const PIECES: &[&str] = &[
            "the",
            "Soviets",
            "committees",
            "a",
            "revolution",
            "Petrograd",
            "workers",
            " ",
            " ",
            " ",
            ". ",
            "? ",
            "\n",
            "\n\n",
            "<b>",
            "</i>",
            "&amp;",
            "&",
            "\"",
            "<",
            ">",
            "\u{a0}",
            "\u{202f}",
            "\u{200b}",
            "\u{ad}",
            "\t",
            "\r\n",
            "שלום",
            "مرحبا",
            "e\u{301}",
            "👩‍👩‍👧",
            "🎉",
            "İ",
            "ß",
            "…",
            "—",
        ];
        let piece = prop_oneof![
            9 => prop::sample::select(PIECES).prop_map(str::to_string),
            1 => any::<char>().prop_map(String::from),
        ];
        prop::collection::vec(piece, 0..max).prop_map(|p| p.concat())
    }

    /// A text with highlights on some of its words (valid, ordered byte ranges).
    fn marked(max: usize) -> impl Strategy<Value = Marked> {
        (text(max), any::<u64>()).prop_map(|(text, bits)| {
            let mut highlights = Vec::new();
            let mut at = 0;
            for (k, word) in text.split(' ').enumerate() {
                if !word.is_empty() && bits >> (k % 64) & 1 == 1 {
                    highlights.push(at..at + word.len());
                }
                at += word.len() + 1;
            }
            Marked { text, highlights }
        })
    }

    fn citation() -> impl Strategy<Value = Citation> {
        (
            text(30),
            0..1000usize,
            text(40),
            0..500usize,
            proptest::option::of(text(10)),
        )
            .prop_map(
                |(document, section_number, section_title, paragraph, speaker)| Citation {
                    document,
                    section_number,
                    section_title,
                    paragraph,
                    paragraph_end: paragraph,
                    pages: if paragraph % 3 == 0 {
                        vec![(paragraph + 1).to_string(), "xiv".into()]
                    } else {
                        Vec::new()
                    },
                    speaker,
                },
            )
    }

    fn content() -> impl Strategy<Value = Content> {
        let item =
            (citation(), marked(400), text(50)).prop_map(|(citation, excerpt, text)| AnswerItem {
                rank: 1,
                score: 0.5,
                passage: 0,
                citation,
                text,
                excerpt,
            });
        let shown =
            (citation(), marked(2000), any::<bool>()).prop_map(|(citation, text, focus)| {
                ShownPassage {
                    citation,
                    text,
                    focus,
                }
            });
        let record = || {
            (text(80), -1000..100_000i64).prop_map(|(name, points)| PlayerRecord {
                user: 1,
                name,
                points,
                answered: 3,
                correct: 2,
                best_streak: 1,
            })
        };
        let entry =
            (text(20), 1..1000usize, text(150)).prop_map(|(document, number, title)| TocEntry {
                doc: 0,
                document,
                number,
                title,
                paragraphs: 3,
            });
        prop_oneof![
            text(2500).prop_map(Content::Notice),
            prop::collection::vec(item, 1..12).prop_map(Content::More),
            prop::collection::vec(shown, 1..4).prop_map(Content::Passages),
            (text(100), prop::collection::vec(text(300), 0..40)).prop_map(|(title, paragraphs)| {
                Content::Page(Page {
                    document: "Doc".into(),
                    doc: 0,
                    section: 3,
                    title,
                    paragraphs: paragraphs.into_iter().enumerate().collect(),
                    page: 1,
                    pages: 2,
                    printed: Some("pp. xii–14".into()),
                })
            }),
            (text(100), prop::collection::vec(record(), 0..40))
                .prop_map(|(title, board)| Content::Scoreboard { title, board }),
            (text(80), proptest::option::of(record())).prop_map(|(name, record)| Content::Score {
                name,
                record,
                sections: Vec::new(),
                weakest: None,
            }),
            prop::collection::vec(entry, 0..60).prop_map(|entries| Content::Toc {
                entries,
                page: 1,
                pages: 3,
            }),
            (text(500), text(500))
                .prop_map(|(subject, example)| Content::Greeting { subject, example }),
            (any::<bool>(), text(200), text(300)).prop_map(|(correct, answer, explanation)| {
                Content::QuizFeedback {
                    correct,
                    answer,
                    explanation,
                }
            }),
        ]
    }

    proptest! {
        #![proptest_config(crate::telegram::proptest_config())]

        /// Every message renders to HTML Telegram accepts, within 4096 UTF-16 units and 100
        /// entities, whatever the text.
        #[test]
        fn every_message_fits_one_telegram_message(content in content()) {
            let message = reply(&Reply::plain(content), "abcdef");
            let (visible, entities) = measure(&message.html).map_err(TestCaseError::fail)?;
            prop_assert!(visible <= MAX_VISIBLE, "{visible} units");
            prop_assert!(entities <= MAX_ENTITIES, "{entities} entities");
        }

        /// The builder itself cuts anything past the limits.
        #[test]
        fn the_html_builder_never_exceeds_the_limits(parts in prop::collection::vec((text(500), 0..3u8), 0..30)) {
            let mut h = Html::default();
            for (part, style) in &parts {
                match style {
                    0 => h.text(part),
                    1 => h.bold(part),
                    _ => h.italic(part),
                };
            }
            let (visible, entities) = measure(&h.finish()).map_err(TestCaseError::fail)?;
            prop_assert!(visible <= MAX_VISIBLE, "{visible} units");
            prop_assert!(entities <= MAX_ENTITIES, "{entities} entities");
        }
    }
}
