//! The Telegram adapter as users meet it: real updates through the real `schema()` against a
//! fake Bot API server (teloxide_tests), with a real engine over the shipped corpus. Every
//! message the bot sends is checked to be HTML Telegram accepts, within its limits.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use studybot::commands::{self, Action, Content, Handler};
use studybot::telegram::{callback, render, schema, App};
use studybot::Engine;
use teloxide::dptree;
use teloxide::types::{
    InlineKeyboardButtonKind, Message, MessageEntity, MessageEntityKind, ParseMode,
};
use teloxide_tests::mock_bot::DistributionKey;
use teloxide_tests::server::SentMessageText;
use teloxide_tests::{
    IntoUpdate, MockBot, MockCallbackQuery, MockMe, MockMessageText, MockPrivateChat,
    MockSupergroupChat, MockUser,
};

use crate::common::root;

/// The bot's username in these tests.
const BOT: &str = "study_test_bot";

type Bot = MockBot<anyhow::Error, DistributionKey>;

pub(crate) fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| Arc::new(Engine::in_memory(&root().join("corpus")).unwrap()))
        .clone()
}

fn handler() -> Handler {
    Handler::new(engine())
}

/// An app whose flood control never bites (tests of flood control make their own).
fn app() -> Arc<App> {
    Arc::new(App::new(handler(), 1000, Duration::from_millis(1)))
}

fn mock_bot(update: impl IntoUpdate, app: Arc<App>) -> Bot {
    let mut bot = MockBot::new(update, schema());
    bot.dependencies(dptree::deps![app]);
    bot.me(MockMe::new().username(BOT));
    bot
}

fn private(text: &str) -> MockMessageText {
    MockMessageText::new().text(text)
}

fn group(text: &str) -> MockMessageText {
    MockMessageText::new()
        .text(text)
        .chat(MockSupergroupChat::new().build())
}

fn user(id: u64) -> teloxide::types::User {
    MockUser::new().id(id).build()
}

/// Everything the bot sent in the last dispatch, each checked to be valid for Telegram.
fn sent(bot: &Bot) -> Vec<SentMessageText> {
    let sent = bot.get_responses().sent_messages_text;
    for m in &sent {
        assert_eq!(m.bot_request.parse_mode, Some(ParseMode::Html));
        assert_valid_html(&m.bot_request.text);
        for (_, data) in buttons(&m.message) {
            assert!(data.len() <= 64, "callback data over 64 bytes: {data}");
        }
    }
    for m in &bot.get_responses().edited_messages_text {
        assert_eq!(m.bot_request.parse_mode, Some(ParseMode::Html));
        assert_valid_html(&m.bot_request.text);
    }
    sent
}

/// The sent HTML of a message.
fn html(m: &SentMessageText) -> &str {
    &m.bot_request.text
}

/// (label, callback data) of every inline button of a message.
fn buttons(m: &Message) -> Vec<(String, String)> {
    m.reply_markup()
        .map(|k| {
            k.inline_keyboard
                .iter()
                .flatten()
                .map(|b| match &b.kind {
                    InlineKeyboardButtonKind::CallbackData(data) => (b.text.clone(), data.clone()),
                    other => panic!("unexpected button kind {other:?}"),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn button(m: &Message, label: &str) -> String {
    buttons(m)
        .into_iter()
        .find(|(l, _)| l == label)
        .unwrap_or_else(|| panic!("no {label:?} button in {:?}", buttons(m)))
        .1
}

/// The single message sent in the last dispatch, which must reply to a message with `question`.
fn only_reply_to(bot: &Bot, question: &str) -> SentMessageText {
    let sent = sent(bot);
    assert_eq!(sent.len(), 1, "one message expected, got {sent:#?}");
    let m = sent.into_iter().next().unwrap();
    let replied = m
        .message
        .reply_to_message()
        .expect("the reply quotes the question");
    assert_eq!(replied.text(), Some(question));
    assert!(m.bot_request.reply_parameters.is_some());
    m
}

fn press(bot: &mut Bot, message: &Message, data: &str) {
    bot.update(MockCallbackQuery::new().message(message.clone()).data(data));
}

/// Checks what Telegram checks of an HTML message: only `<b>`/`<i>` tags, balanced; `&` only
/// in entities; no bare `<` or `>`; non-empty; at most 4096 visible UTF-16 units and 100
/// formatting entities.
fn check_html(html: &str) -> Result<(), String> {
    let mut open: Vec<&str> = Vec::new();
    let mut visible = String::new();
    let mut entities = 0;
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let end = rest.find('>').ok_or("unclosed tag")?;
                let tag = &rest[1..end];
                match tag {
                    "b" | "i" => {
                        if open.contains(&tag) {
                            return Err(format!("<{tag}> nested in itself"));
                        }
                        open.push(tag);
                        entities += 1;
                    }
                    "/b" | "/i" => {
                        if open.pop() != Some(&tag[1..]) {
                            return Err(format!("unbalanced <{tag}>"));
                        }
                    }
                    _ => return Err(format!("tag <{tag}> not allowed")),
                }
                rest = &rest[end + 1..];
            }
            '&' => {
                let end = rest.find(';').ok_or("bare &")?;
                let ch = match &rest[..=end] {
                    "&lt;" => '<',
                    "&gt;" => '>',
                    "&amp;" => '&',
                    "&quot;" => '"',
                    other => return Err(format!("unknown entity {other}")),
                };
                visible.push(ch);
                rest = &rest[end + 1..];
            }
            '>' => return Err("bare >".into()),
            c => {
                visible.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if !open.is_empty() {
        return Err(format!("unclosed {open:?}"));
    }
    if visible.trim().is_empty() {
        return Err("empty message".into());
    }
    let units = visible.encode_utf16().count();
    if units > render::MAX_VISIBLE {
        return Err(format!("{units} visible UTF-16 units"));
    }
    if entities > render::MAX_ENTITIES {
        return Err(format!("{entities} entities"));
    }
    Ok(())
}

pub(crate) fn assert_valid_html(html: &str) {
    if let Err(why) = check_html(html) {
        panic!("invalid Telegram HTML ({why}):\n{html}");
    }
}

#[test]
fn the_validator_catches_what_telegram_refuses() {
    assert!(check_html("a &lt; <b>b &amp; c</b> <i>🎉</i>").is_ok());
    for bad in [
        "a < b", "a > b", "a & b", "<b>x", "<b>x</i>", "<u>x</u>", "&nbsp;", "",
    ] {
        assert!(check_html(bad).is_err(), "{bad}");
    }
    assert!(check_html(&"x".repeat(4097)).is_err());
    assert!(check_html(&"<b>x</b>".repeat(101)).is_err());
}

// 1. Private chats.

#[tokio::test]
async fn private_start_greets_with_an_example() {
    let mut bot = mock_bot(private("/start"), app());
    bot.dispatch().await;
    let m = only_reply_to(&bot, "/start");
    assert_eq!(html(&m).lines().count(), 2, "{}", html(&m));
    assert!(html(&m).contains("Try:"), "{}", html(&m));
}

#[tokio::test]
async fn private_help_lists_every_command() {
    let mut bot = mock_bot(private("/help"), app());
    bot.dispatch().await;
    let m = only_reply_to(&bot, "/help");
    for c in commands::COMMANDS {
        assert!(
            html(&m).contains(&format!("/{} ", c.name)),
            "/{} missing from {}",
            c.name,
            html(&m)
        );
    }
}

#[tokio::test]
async fn private_text_is_a_question_answered_with_citations_and_buttons() {
    let question = "what were factory shop committees";
    let mut bot = mock_bot(private(question), app());
    bot.dispatch().await;
    let m = only_reply_to(&bot, question);
    let text = html(&m);
    assert!(text.contains("Factory Shop Committees"), "{text}");
    assert!(text.contains("§6"), "{text}");
    let labels: Vec<String> = buttons(&m.message).into_iter().map(|b| b.0).collect();
    assert_eq!(labels, ["Full passage", "Context", "More"]);
}

#[tokio::test]
async fn private_unknown_command_and_non_text_get_a_hint() {
    let mut bot = mock_bot(private("/frobnicate"), app());
    bot.dispatch().await;
    let m = only_reply_to(&bot, "/frobnicate");
    assert!(html(&m).contains("/help"), "{}", html(&m));

    bot.update(teloxide_tests::MockMessagePhoto::new());
    bot.dispatch().await;
    let sent = sent(&bot);
    assert_eq!(sent.len(), 1);
    assert!(
        html(&sent[0]).contains("only read text"),
        "{}",
        html(&sent[0])
    );
}

// 2. Groups.

#[tokio::test]
async fn group_plain_text_and_other_bots_commands_are_ignored() {
    let mut bot = mock_bot(group("what were factory shop committees"), app());
    bot.dispatch().await;
    assert!(sent(&bot).is_empty());

    for text in ["/ask@otherbot soviets", "/frobnicate", "/read@otherbot 2"] {
        bot.update(group(text));
        bot.dispatch().await;
        assert!(sent(&bot).is_empty(), "{text} was answered");
    }
}

#[tokio::test]
async fn group_commands_addressed_to_us_are_answered() {
    let ask = format!("/ask@{BOT} soviets");
    let mut bot = mock_bot(group(&ask), app());
    bot.dispatch().await;
    let m = only_reply_to(&bot, &ask);
    assert!(html(&m).contains("§"), "{}", html(&m));
    assert!(!buttons(&m.message).is_empty());

    for empty in ["/ask".to_string(), format!("/ask@{BOT}")] {
        bot.update(group(&empty));
        bot.dispatch().await;
        let m = only_reply_to(&bot, &empty);
        assert!(
            html(&m).starts_with("Ask me something about the text, for example: /ask "),
            "{}",
            html(&m)
        );
    }
}

#[tokio::test]
async fn group_mentions_are_answered() {
    // With a mention entity, as Telegram sends it.
    let text = format!("@{BOT} what were factory shop committees?");
    let mention = MessageEntity::new(MessageEntityKind::Mention, 0, BOT.len() + 1);
    let mut bot = mock_bot(group(&text).entities(vec![mention]), app());
    bot.dispatch().await;
    let m = only_reply_to(&bot, &text);
    assert!(html(&m).contains("Factory Shop Committees"), "{}", html(&m));

    // Without entities, at the end, in upper case.
    let text = format!("what were the soviets, @{}?", BOT.to_uppercase());
    bot.update(group(&text));
    bot.dispatch().await;
    let m = only_reply_to(&bot, &text);
    assert!(html(&m).contains("§"), "{}", html(&m));

    // Among non-ASCII text whose lowercase form is longer than itself ("İ"): the mention is
    // still found and removed (this used to cut the text inside a character and panic).
    for text in [
        format!("İİ @{BOT} ünlü soviets 🎉"),
        format!("İ x@{BOT}€ soviets"),
    ] {
        bot.update(group(&text));
        bot.dispatch().await;
        let m = only_reply_to(&bot, &text);
        assert!(!html(&m).contains(BOT), "{text}: {}", html(&m));
    }
}

#[tokio::test]
async fn group_replies_to_the_bot_are_answered_and_to_others_ignored() {
    let ask = format!("/ask@{BOT} soviets");
    let mut bot = mock_bot(group(&ask), app());
    bot.dispatch().await;
    let ours = only_reply_to(&bot, &ask).message;

    let question = "and what were factory shop committees?";
    bot.update(group(question).reply_to_message(ours));
    bot.dispatch().await;
    let m = only_reply_to(&bot, question);
    assert!(html(&m).contains("Factory Shop Committees"), "{}", html(&m));

    let someone = group("I think the soviets were important")
        .id(500)
        .from(user(777))
        .build();
    bot.update(group(question).reply_to_message(someone));
    bot.dispatch().await;
    assert!(sent(&bot).is_empty());
}

// 3. Buttons.

#[tokio::test]
async fn answer_buttons_send_passages_and_answer_the_query() {
    let question = "what were factory shop committees";
    let mut bot = mock_bot(private(question), app());
    bot.dispatch().await;
    let answer = only_reply_to(&bot, question).message;

    for label in ["Full passage", "Context", "More"] {
        let data = button(&answer, label);
        press(&mut bot, &answer, &data);
        bot.dispatch().await;
        let responses = bot.get_responses();
        assert_eq!(responses.answered_callback_queries.len(), 1, "{label}");
        assert_eq!(responses.answered_callback_queries[0].text, None, "{label}");
        assert!(responses.edited_messages_text.is_empty(), "{label}");
        let sent = sent(&bot);
        assert_eq!(sent.len(), 1, "{label}");
        let m = &sent[0];
        assert_eq!(
            m.message.reply_to_message().map(|r| r.id),
            Some(answer.id),
            "{label}: sent as a reply to the answer"
        );
        let citations = html(m).matches("— <i>").count();
        match label {
            "Full passage" => {
                assert_eq!(citations, 1, "{}", html(m));
                assert!(html(m).contains("§6"), "{}", html(m));
            }
            "Context" => {
                assert!(citations >= 2, "{}", html(m));
                assert!(html(m).contains("<b>▶ </b>"), "{}", html(m));
            }
            _ => {
                assert!(citations >= 1, "{}", html(m));
                assert!(!html(m).starts_with("<b>1.</b>"), "{}", html(m));
                // The answer replied to the question, so the next excerpts are the parts
                // that answer it, with its words in bold.
                assert!(html(m).contains("<b>Factory Shop Committee"), "{}", html(m));
            }
        }
    }
}

#[tokio::test]
async fn junk_and_stale_buttons_get_a_short_answer_and_nothing_else() {
    let mut bot = mock_bot(MockCallbackQuery::new().data("zzz"), app());
    bot.dispatch().await;
    let responses = bot.get_responses();
    assert_eq!(responses.answered_callback_queries.len(), 1);
    let toast = responses.answered_callback_queries[0].text.clone().unwrap();
    assert!(!toast.is_empty() && toast.chars().count() <= 200, "{toast}");
    assert!(responses.sent_messages.is_empty());
    assert!(responses.edited_messages_text.is_empty());

    bot.update(
        MockCallbackQuery::new().data(callback::encode(&Action::Full(0), "old000").unwrap()),
    );
    bot.dispatch().await;
    let responses = bot.get_responses();
    assert_eq!(responses.answered_callback_queries.len(), 1);
    assert!(responses.answered_callback_queries[0]
        .text
        .as_deref()
        .unwrap()
        .contains("older version"));
    assert!(responses.sent_messages.is_empty());
}

#[tokio::test]
async fn section_buttons_open_pages_and_page_turning_edits_the_message() {
    let mut bot = mock_bot(private("/sections"), app());
    bot.dispatch().await;
    let toc = only_reply_to(&bot, "/sections").message;
    let h = handler();
    // A section long enough to have several pages.
    let (label, data, pages) = buttons(&toc)
        .into_iter()
        .find_map(|(label, data)| {
            let Ok(Action::Read { doc, section, page }) = callback::decode(&data, h.tag()) else {
                return None;
            };
            match h.page(doc, section, page)?.content {
                Content::Page(p) if p.pages > 1 => Some((label, data, p.pages)),
                _ => None,
            }
        })
        .expect("a section with several pages");

    press(&mut bot, &toc, &data);
    bot.dispatch().await;
    assert!(sent(&bot).is_empty(), "the page replaces the list");
    let responses = bot.get_responses();
    assert_eq!(responses.answered_callback_queries.len(), 1);
    assert_eq!(responses.edited_messages_text.len(), 1);
    let page1 = responses.edited_messages_text[0].clone();
    let title = label.split_once(' ').unwrap().1.trim_end_matches('…');
    assert!(page1.bot_request.text.contains(title), "{label}");
    assert!(page1
        .bot_request
        .text
        .contains(&format!("(page 1/{pages})")));

    let next = button(&page1.message, "Next ▶");
    press(&mut bot, &page1.message, &next);
    bot.dispatch().await;
    assert!(sent(&bot).is_empty(), "Next edits, it does not send");
    let responses = bot.get_responses();
    assert_eq!(responses.answered_callback_queries.len(), 1);
    assert_eq!(responses.edited_messages_text.len(), 1);
    let page2 = responses.edited_messages_text[0].clone();
    assert_eq!(page2.message.id, toc.id);
    assert!(page2
        .bot_request
        .text
        .contains(&format!("(page 2/{pages})")));
    assert_eq!(button(&page2.message, "◀ Previous"), data);

    // Pressing Next on the stale page-1 keyboard again changes nothing and sends nothing.
    press(&mut bot, &page1.message, &next);
    bot.dispatch().await;
    let responses = bot.get_responses();
    assert_eq!(responses.answered_callback_queries.len(), 1);
    assert!(responses.sent_messages.is_empty());
    assert!(responses.edited_messages_text.is_empty());
}

// 4. Hostile text.

#[tokio::test]
async fn markup_and_emoji_in_questions_are_answered_with_valid_html() {
    let questions = [
        "what about <b>&amp; 🎉 factory committees?",
        "<i>soviets</i> & <b>bolsheviks</b> > mensheviks?",
        "what did </b>lenin<b> say about the <script>party</script>",
        "👩‍👩‍👧‍👦🇺🇦 &lt;&gt; who was <kollontai>?",
        "&&&& <<<< >>>> factory & shop & committees",
    ];
    let mut bot = mock_bot(private(questions[0]), app());
    for (i, q) in questions.iter().enumerate() {
        if i > 0 {
            bot.update(private(q));
        }
        bot.dispatch().await;
        let m = only_reply_to(&bot, q);
        assert!(html(&m).chars().count() > 20, "{q}: {}", html(&m));
    }

    // A long question full of markup gets the length notice, still valid HTML.
    let long = "<b>&amp;</b> 🎉 ".repeat(200);
    bot.update(private(&long));
    bot.dispatch().await;
    let m = only_reply_to(&bot, &long);
    assert!(html(&m).contains("shorter question"), "{}", html(&m));
}

// 5. Flood control.

#[tokio::test]
async fn a_flood_is_cut_short_with_one_notice_and_others_are_still_answered() {
    // The shipped burst; a refill slow enough that the machine's speed cannot matter.
    let burst = studybot::config::Settings::default().telegram.flood_burst;
    let app = Arc::new(App::new(handler(), burst, Duration::from_secs(600)));
    let flood: Vec<MockMessageText> = (0..30)
        .map(|i| private(&format!("what were the soviets? ({i})")))
        .collect();
    let mut bot = mock_bot(flood, app);
    bot.dispatch().await;
    let sent = sent(&bot);
    let notices = sent
        .iter()
        .filter(|m| html(m).contains("faster than I can read"))
        .count();
    let answers = sent.len() - notices;
    assert_eq!(notices, 1, "{sent:#?}");
    assert_eq!(answers, burst as usize);
    assert!(answers <= 7);

    let other = private("what were factory shop committees")
        .from(user(4242))
        .chat(MockPrivateChat::new().id(4242).build());
    bot.update(other);
    bot.dispatch().await;
    let m = only_reply_to(&bot, "what were factory shop committees");
    assert!(html(&m).contains("§6"), "{}", html(&m));
}

// 6. Snapshots of the rendered HTML.

fn rendered(reply: &commands::Reply) -> String {
    let h = handler();
    let message = render::reply(reply, h.tag());
    assert_valid_html(&message.html);
    let mut out = message.html;
    out.push_str("\n---- buttons\n");
    for row in &message.buttons {
        let row: Vec<String> = row
            .iter()
            .map(|(label, data)| format!("[{label}] {data}"))
            .collect();
        out.push_str(&row.join(" | "));
        out.push('\n');
    }
    out
}

#[test]
fn snapshot_answer() {
    let reply = handler().ask("what were factory shop committees");
    insta::assert_snapshot!(rendered(&reply));
}

/// The middle tier: a warning, then the closest excerpts with their citations.
#[test]
fn snapshot_unsure() {
    let reply = handler().ask("were the workers hungry?");
    assert!(
        matches!(&reply.content, Content::Answer(a) if a.tier == studybot::answer::Tier::Unsure),
        "{:?}",
        reply.content
    );
    insta::assert_snapshot!(rendered(&reply));
}

#[test]
fn snapshot_abstention() {
    let reply = handler().ask("who was alexandra kollontai");
    assert!(matches!(&reply.content, Content::Answer(a) if !a.answered));
    insta::assert_snapshot!(rendered(&reply));
}

#[test]
fn snapshot_help() {
    let reply = handler().command(&commands::Command::Help).unwrap();
    insta::assert_snapshot!(rendered(&reply));
}

#[test]
fn snapshot_read_page() {
    let reply = handler()
        .command(&commands::Command::Read("6".into()))
        .unwrap();
    assert!(matches!(&reply.content, Content::Page(_)));
    insta::assert_snapshot!(rendered(&reply));
}

// 7. Texts with pages.

#[tokio::test]
async fn an_answer_from_a_pdf_names_its_page_in_the_message_and_in_full_passage() {
    let corpus = tempfile::tempdir().unwrap();
    let pdf = root().join("tests/fixtures/formats/latex.pdf");
    std::fs::copy(&pdf, corpus.path().join("latex.pdf")).unwrap();
    let engine = Arc::new(Engine::in_memory(corpus.path()).unwrap());
    let app = Arc::new(App::new(
        Handler::new(engine),
        1000,
        Duration::from_millis(1),
    ));
    let (question, page) = crate::common::latex_pdf_probe();
    let (question, page) = (question.as_str(), page.as_str());
    let mut bot = mock_bot(private(question), app);
    bot.dispatch().await;
    let answer = only_reply_to(&bot, question);
    let wanted = format!(", p. {page}</i>");
    assert!(html(&answer).contains(&wanted), "{}", html(&answer));
    let data = button(&answer.message, "Full passage");
    press(&mut bot, &answer.message, &data);
    bot.dispatch().await;
    let full = sent(&bot);
    assert_eq!(full.len(), 1);
    assert!(html(&full[0]).contains(&wanted), "{}", html(&full[0]));
}

/// The quiz announcement says "Quiz:" once (it once read "Quiz! Quiz: 5 questions…").
#[test]
fn snapshot_quiz_announcement_names_the_quiz_once() {
    let reply = commands::Reply {
        content: Content::QuizStarted(
            studybot::quiz::session::Started {
                quiz: 1,
                count: 5,
                scope: "the whole text".into(),
                requested: 5,
            },
            30,
        ),
        buttons: Vec::new(),
        replace: false,
    };
    let html = rendered(&reply);
    assert_eq!(html.matches("Quiz").count(), 1, "{html}");
    insta::assert_snapshot!(html);
}
