//! The real `studybot bot` process against the fake Bot API: start-up, private and group
//! chats, buttons, inline mode, Telegram's limits, 429s, floods, quizzes with poll answers,
//! restarts and SIGTERM. A question, a button press and a quiz's poll answers run in both
//! [`Mode`]s: by long polling and through the webhook. The helpers here are shared with
//! [`safety`](crate::safety) and [`webhook`](crate::webhook).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{run, studybot};
use crate::fake_api::{self, FakeApi, BOT_USERNAME, TEST_TOKEN};

pub const WAIT: Duration = Duration::from_secs(20);

/// The secret half of the test token, which no log line may contain.
const TOKEN_SECRET: &str = "TESTTOKEN";

/// A running bot process; killed when dropped, and then its log must not contain the token
/// (so every test of the real process checks that).
pub struct BotProcess {
    pub child: Child,
    log: PathBuf,
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(line) = log.lines().find(|l| l.contains(TOKEN_SECRET)) {
                panic!("the bot token is in the log: {line}");
            }
        }
    }
}

pub fn start_bot(api: &FakeApi, data: &Path, env: &[(&str, &str)]) -> BotProcess {
    let log_path = data.join("bot.log");
    // Appended to, so a restarted bot's log follows the first one's.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .unwrap();
    let mut cmd = studybot(data);
    cmd.arg("bot")
        .env("TELOXIDE_TOKEN", TEST_TOKEN)
        .env("TELOXIDE_API_URL", api.url())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    BotProcess {
        child,
        log: log_path,
    }
}

/// Starts a bot and waits until it has registered its commands (it is then polling) and, in
/// webhook mode, set its webhook (it is then listening).
pub fn ready_bot(api: &FakeApi, data: &Path, env: &[(&str, &str)]) -> BotProcess {
    let before = api.calls_to("setMyCommands").len();
    let hooks = api.calls_to("setWebhook").len();
    let webhook = env
        .iter()
        .any(|(k, _)| *k == "STUDYBOT__TELEGRAM__WEBHOOK_URL");
    let bot = start_bot(api, data, env);
    api.wait_for("setMyCommands", before + 2, WAIT);
    if webhook {
        api.wait_for("setWebhook", hooks + 1, WAIT);
    }
    bot
}

/// How a test's bot gets its updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Long polling (`getUpdates`).
    Polling,
    /// Telegram POSTs each update to the bot's webhook listener.
    Webhook,
}

/// A free port on the loopback interface (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// The settings that put a bot in a [`Mode`], kept for its restarts.
pub struct ModeEnv(Vec<(String, String)>);

impl ModeEnv {
    /// For `mode`; in webhook mode the bot gets a free port of its own, and `api` is told to
    /// deliver updates there.
    pub fn new(mode: Mode, api: &FakeApi) -> ModeEnv {
        match mode {
            Mode::Polling => ModeEnv(Vec::new()),
            Mode::Webhook => {
                let addr = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
                api.deliver_to(addr);
                ModeEnv(vec![
                    (
                        "STUDYBOT__TELEGRAM__WEBHOOK_URL".into(),
                        "https://bot.example.org/telegram/hook".into(),
                    ),
                    ("STUDYBOT__TELEGRAM__LISTEN".into(), addr.to_string()),
                ])
            }
        }
    }

    /// These settings and `extra`.
    pub fn with<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        self.0
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra.iter().copied())
            .collect()
    }
}

/// In webhook mode, that every update was delivered with a 200 (Telegram's "handled").
fn assert_delivered(api: &FakeApi, mode: Mode) {
    if mode == Mode::Webhook {
        let deliveries = api.deliveries();
        assert!(!deliveries.is_empty());
        assert!(deliveries.iter().all(|d| d.1 == 200), "{deliveries:?}");
    }
}

/// The bot's log so far.
pub fn bot_log(data: &Path) -> String {
    std::fs::read_to_string(data.join("bot.log")).unwrap_or_default()
}

/// Waits until `done` holds, checking every 20 ms, and fails the test after `limit` with
/// `what` and the calls the fake API saw.
pub fn wait_until(api: &FakeApi, what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting until {what}\n{}",
            api.dump()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for the first message sent to `chat` whose text contains `needle`, and returns it.
pub fn wait_for_text(api: &FakeApi, chat: i64, needle: &str) -> String {
    let mut found = String::new();
    wait_until(
        api,
        &format!("{chat} gets “{needle}”"),
        WAIT,
        || match sent_texts(api, chat)
            .into_iter()
            .find(|t| t.contains(needle))
        {
            Some(t) => {
                found = t;
                true
            }
            None => false,
        },
    );
    found
}

/// Sends SIGTERM and returns how long the process took to exit, and whether it exited cleanly.
pub fn terminate(bot: &mut BotProcess) -> (Duration, bool) {
    let start = Instant::now();
    let pid = bot.child.id().to_string();
    run(std::process::Command::new("kill").args(["-TERM", &pid]));
    loop {
        if let Some(status) = bot.child.try_wait().unwrap() {
            return (start.elapsed(), status.success());
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "bot did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn sent_texts(api: &FakeApi, chat: i64) -> Vec<String> {
    api.calls_to("sendMessage")
        .into_iter()
        .filter(|c| c.ok() && c.body["chat_id"].as_i64() == Some(chat))
        .map(|c| c.result()["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

pub fn assert_no_violations(api: &FakeApi) {
    let v = api.violations();
    assert!(v.is_empty(), "Telegram limits broken: {v:#?}");
}

pub fn keyboard_data(call: &fake_api::Call) -> Vec<(String, String)> {
    call.body["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .map(|b| {
            (
                b["text"].as_str().unwrap_or_default().to_string(),
                b["callback_data"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn missing_or_malformed_token_is_a_one_line_error_without_the_token() {
    let data = tempfile::tempdir().unwrap();
    let (code, out, err) = run(studybot(data.path()).arg("bot"));
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("TELOXIDE_TOKEN"), "{err}");
    let (code, _, err) = run(studybot(data.path())
        .arg("bot")
        .env("TELOXIDE_TOKEN", "oops SECRETVALUE42"));
    assert_eq!(code, 2);
    assert!(
        err.contains("malformed") && !err.contains("SECRETVALUE42"),
        "{err}"
    );
}

#[test]
fn private_question_is_answered_with_citation_buttons_and_sigterm_stops_cleanly() {
    private_question(Mode::Polling);
}

#[test]
fn webhook_private_question_is_answered_with_citation_buttons_and_sigterm_stops_cleanly() {
    private_question(Mode::Webhook);
}

fn private_question(mode: Mode) {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let mode_env = ModeEnv::new(mode, &api);
    let mut bot = ready_bot(&api, data.path(), &mode_env.with(&[]));
    let update = fake_api::private_text(501, "Ann", "what were factory shop committees");
    let question_id = update["message"]["message_id"].as_i64().unwrap();
    api.push_update(update);
    let sent = api.wait_for("sendMessage", 1, WAIT);
    let answer = &sent[0];
    assert_eq!(answer.body["parse_mode"], "HTML");
    assert_eq!(
        answer.body["reply_parameters"]["message_id"].as_i64(),
        Some(question_id)
    );
    let text = answer.result()["text"].as_str().unwrap().to_string();
    assert!(
        text.contains("Factory Shop Committees") && text.contains("§6"),
        "{text}"
    );
    let buttons = keyboard_data(answer);
    let labels: Vec<&str> = buttons.iter().map(|b| b.0.as_str()).collect();
    assert_eq!(labels, vec!["Full passage", "Context", "More"]);
    assert!(buttons.iter().all(|b| !b.1.is_empty() && b.1.len() <= 64));
    // Commands were registered for private chats and groups.
    let scopes: Vec<String> = api
        .calls_to("setMyCommands")
        .iter()
        .map(|c| {
            c.body["scope"]["type"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(scopes, vec!["all_private_chats", "all_group_chats"]);
    let log = std::fs::read_to_string(data.path().join("bot.log")).unwrap_or_default();
    assert!(!log.contains("TESTTOKEN"), "the token must not be logged");

    let (took, clean) = terminate(&mut bot);
    assert!(clean, "exit status after SIGTERM");
    assert!(took < Duration::from_secs(8), "stopped in {took:?}");
    assert_no_violations(&api);
    assert_delivered(&api, mode);
}

#[test]
fn buttons_work_and_every_callback_is_answered() {
    buttons(Mode::Polling);
}

#[test]
fn webhook_buttons_work_and_every_callback_is_answered() {
    buttons(Mode::Webhook);
}

fn buttons(mode: Mode) {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let mode_env = ModeEnv::new(mode, &api);
    // One reader pressing eight buttons in a row: more than the flood guard's default burst.
    let _bot = ready_bot(
        &api,
        data.path(),
        &mode_env.with(&[("STUDYBOT__TELEGRAM__FLOOD_BURST", "20")]),
    );
    api.push_update(fake_api::private_text(
        502,
        "Bo",
        "how did the soviets organise elections",
    ));
    let answer = api.wait_for("sendMessage", 1, WAIT)[0].clone();
    let message_id = answer.result()["message_id"].as_i64().unwrap();
    for (i, (label, data)) in keyboard_data(&answer).into_iter().enumerate() {
        api.push_update(fake_api::callback(502, 502, message_id, &data));
        let sent = api.wait_for("sendMessage", i + 2, WAIT);
        let text = sent[i + 1].result()["text"].as_str().unwrap().to_string();
        assert!(text.contains('§'), "{label}: {text}");
    }
    // Junk data is answered with a message and sends nothing: the next message sent is the
    // answer to a later command.
    api.push_update(fake_api::callback(502, 502, message_id, "zzz"));
    let answers = api.wait_for("answerCallbackQuery", 4, WAIT);
    assert!(answers[3].body["text"]
        .as_str()
        .unwrap()
        .contains("not one of mine"));
    api.push_update(fake_api::private_text(502, "Bo", "/read 5"));
    let page = api.wait_for("sendMessage", 5, WAIT)[4].clone();
    assert!(page.text().contains("(page 1/"), "{}", page.text());
    assert_eq!(api.calls_to("sendMessage").len(), 5);
    assert!(api.unanswered_callbacks().is_empty());
    // /read pages turn by editing the message.
    let next = keyboard_data(&page)
        .into_iter()
        .find(|b| b.0.contains("Next"))
        .unwrap();
    let page_id = page.result()["message_id"].as_i64().unwrap();
    api.push_update(fake_api::callback(502, 502, page_id, &next.1));
    let edits = api.wait_for("editMessageText", 1, WAIT);
    assert!(edits[0].result()["text"]
        .as_str()
        .unwrap()
        .contains("page 2/"));
    assert_no_violations(&api);
    assert_delivered(&api, mode);
}

#[test]
fn groups_answer_commands_mentions_and_replies_and_stay_silent_otherwise() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = ready_bot(&api, data.path(), &[]);
    let chat = -1001;
    api.push_update(fake_api::group_text(
        chat,
        7,
        "Cy",
        "what were factory shop committees",
    ));
    api.push_update(fake_api::group_text(chat, 7, "Cy", "/ask@otherbot soviets"));
    api.push_update(fake_api::group_text(
        chat,
        7,
        "Cy",
        &format!("/ask@{BOT_USERNAME} who was john reed"),
    ));
    let answers = api.wait_for("sendMessage", 1, WAIT);
    assert!(answers[0].result()["text"]
        .as_str()
        .unwrap()
        .contains("Reed"));
    let mention = format!("@{BOT_USERNAME} how many deputies did the petrograd soviet have");
    let update = fake_api::with_entities(
        fake_api::group_text(chat, 8, "Di", &mention),
        json!([{"type": "mention", "offset": 0, "length": BOT_USERNAME.len() + 1}]),
    );
    api.push_update(update);
    let answers = api.wait_for("sendMessage", 2, WAIT);
    assert!(answers[1].result()["text"]
        .as_str()
        .unwrap()
        .contains("1200"));
    let bot_message = answers[1].result();
    api.push_update(fake_api::reply_to(
        fake_api::group_text(
            chat,
            8,
            "Di",
            "and who elected the central executive committee?",
        ),
        bot_message,
    ));
    api.wait_for("sendMessage", 3, WAIT);
    api.push_update(fake_api::group_text(chat, 7, "Cy", "/ask"));
    let answers = api.wait_for("sendMessage", 4, WAIT);
    assert!(answers[3].result()["text"]
        .as_str()
        .unwrap()
        .contains("Ask me something"));
    // Silence is proven by a later message being answered first: a chat's updates are
    // handled, and its replies sent, in order.
    api.push_update(fake_api::group_text(
        chat,
        7,
        "Cy",
        "what were the soviets?",
    ));
    api.push_update(fake_api::group_text(chat, 7, "Cy", "/ask@otherbot soviets"));
    api.push_update(fake_api::group_text(chat, 7, "Cy", "/top@otherbot"));
    api.push_update(fake_api::group_text(
        chat,
        7,
        "Cy",
        "/ask who was john reed",
    ));
    api.wait_for("sendMessage", 5, WAIT);
    assert_eq!(
        sent_texts(&api, chat).len(),
        5,
        "silent on plain text and other bots' commands"
    );
    assert_no_violations(&api);
}

#[test]
fn hostile_text_long_messages_and_inline_mode_stay_within_limits() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = ready_bot(&api, data.path(), &[]);
    let nasty = "<b>what</b> were factory <shop> & committees?? 🎉🎉 \"&amp;\" ' </i>";
    api.push_update(fake_api::private_text(503, "Ed", nasty));
    api.push_update(fake_api::private_text(503, "Ed", "🎉🤔"));
    api.push_update(fake_api::private_text(503, "Ed", "что такое советы?"));
    api.push_update(fake_api::private_text(503, "Ed", &"soviets ".repeat(512)));
    api.push_update(fake_api::private_text(503, "Ed", "/read 9"));
    let sent = api.wait_for("sendMessage", 5, WAIT);
    assert!(sent[0].result()["text"]
        .as_str()
        .unwrap()
        .contains("Factory"));
    assert!(sent[1].result()["text"]
        .as_str()
        .unwrap()
        .contains("no words"));
    assert!(sent[3].result()["text"]
        .as_str()
        .unwrap()
        .contains("shorter question"));
    // The Context view of a long quotation is the longest message the bot sends.
    let answer_id = sent[0].result()["message_id"].as_i64().unwrap();
    let context = keyboard_data(&sent[0])
        .into_iter()
        .find(|b| b.0 == "Context")
        .unwrap();
    api.push_update(fake_api::callback(503, 503, answer_id, &context.1));
    api.wait_for("sendMessage", 6, WAIT);
    api.push_update(fake_api::inline_query(503, "factory shop committees"));
    let inline = api.wait_for("answerInlineQuery", 1, WAIT);
    // Results depend on the asker, so Telegram must not serve them to anyone else.
    let personal = &inline[0].body["is_personal"];
    assert!(
        personal == &serde_json::json!(true) || personal == "true",
        "{:?}",
        inline[0].body
    );
    let results = inline[0].body["results"].as_array().unwrap();
    assert!((1..=10).contains(&results.len()), "{results:?}");
    assert!(results[0]["input_message_content"]["message_text"]
        .as_str()
        .unwrap()
        .contains("§"));
    api.push_update(fake_api::inline_query(503, ""));
    api.wait_for("answerInlineQuery", 2, WAIT);
    // Out of scope: one result that says so and names the closest sections.
    api.push_update(fake_api::inline_query(
        503,
        "how many people died in the holodomor",
    ));
    let inline = api.wait_for("answerInlineQuery", 3, WAIT);
    let results = inline[2].body["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["title"], "Not in the text");
    let text = results[0]["input_message_content"]["message_text"]
        .as_str()
        .unwrap();
    assert!(text.contains("never mentions <b>Holodomor</b>"), "{text}");
    assert!(text.contains("Closest sections: §"), "{text}");
    assert_no_violations(&api);
}

#[test]
fn a_429_on_send_is_retried_until_the_answer_is_delivered() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = ready_bot(&api, data.path(), &[]);
    api.fail_next(
        "sendMessage",
        1,
        429,
        json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}),
    );
    api.fail_next(
        "sendMessage",
        1,
        502,
        json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}),
    );
    api.push_update(fake_api::private_text(504, "Fi", "who was john reed"));
    let delivered = api.wait_for("sendMessage", 1, WAIT);
    assert!(delivered[0].result()["text"]
        .as_str()
        .unwrap()
        .contains("Reed"));
    assert_eq!(
        api.calls_to("sendMessage").len(),
        3,
        "429, then 502, then delivered"
    );
}

#[test]
fn one_flooding_user_does_not_starve_others() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = ready_bot(&api, data.path(), &[]);
    let group = -600;
    for i in 0..30 {
        api.push_update(fake_api::group_text(
            group,
            600,
            "Flood",
            &format!("/ask soviets {i}"),
        ));
    }
    api.push_update(fake_api::private_text(601, "Calm", "who was john reed"));
    wait_for_text(&api, 601, "Reed");
    // The flood's own replies are paced, so its notice may come after the calm user's answer.
    wait_for_text(&api, group, "faster than I can read");
    // Another member's question, asked after the flood, is answered after every reply to
    // the flood: then nothing more can come for it.
    api.push_update(fake_api::group_text(
        group,
        602,
        "Other",
        "/ask who was john reed",
    ));
    wait_until(&api, "the other member is answered", WAIT, || {
        sent_texts(&api, group).iter().any(|t| t.contains("Reed"))
    });
    let flood = sent_texts(&api, group);
    let notices = flood
        .iter()
        .filter(|t| t.contains("faster than I can read"))
        .count();
    assert_eq!(notices, 1, "{flood:#?}");
    assert!(flood.len() <= 9, "{} replies to a flood", flood.len());
    assert_no_violations(&api);
}

fn poll_calls(api: &FakeApi) -> Vec<fake_api::Call> {
    api.calls_to("sendPoll")
        .into_iter()
        .filter(|c| c.ok())
        .collect()
}

#[test]
fn quiz_polls_count_two_players_and_scores_survive_a_restart() {
    quiz_polls(Mode::Polling);
}

#[test]
fn webhook_quiz_polls_count_two_players_and_scores_survive_a_restart() {
    quiz_polls(Mode::Webhook);
}

fn quiz_polls(mode: Mode) {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let mode_env = ModeEnv::new(mode, &api);
    let env = mode_env.with(&[("STUDYBOT__QUIZ__OPEN_PERIOD_SECS", "5")]);
    let mut bot = ready_bot(&api, data.path(), &env);
    let chat = -2002;
    api.push_update(fake_api::group_text(
        chat,
        11,
        "Ann",
        &format!("/quiz@{BOT_USERNAME} 1"),
    ));
    let polls = api.wait_for("sendPoll", 1, WAIT);
    let poll = &polls[0];
    assert_eq!(poll.body["type"], "quiz");
    assert_eq!(poll.body["is_anonymous"], false);
    assert_eq!(poll.body["open_period"], 5);
    let correct = poll.body["correct_option_id"].as_u64().unwrap() as u32;
    let poll_id = poll.result()["poll"]["id"].as_str().unwrap().to_string();
    api.push_update(fake_api::poll_answer(&poll_id, 11, "Ann", &[correct]));
    api.push_update(fake_api::poll_answer(
        &poll_id,
        12,
        "Bob",
        &[(correct + 1) % 4],
    ));
    api.push_update(fake_api::poll_answer(&poll_id, 12, "Bob", &[correct])); // duplicate update
    api.push_update(fake_api::poll_answer(&poll_id, 13, "Cy", &[])); // retracted vote
    api.push_update(fake_api::poll_answer("no-such-poll", 14, "Di", &[0]));
    let board = wait_for_text(&api, chat, "Quiz over");
    assert!(
        board.contains("1. Ann — 10 points · 1 answered, 1 correct"),
        "{board}"
    );
    assert!(
        board.contains("2. Bob — 0 points · 1 answered, 0 correct"),
        "{board}"
    );
    api.push_update(fake_api::group_text(chat, 12, "Bob", "/top"));
    let top_before = wait_for_text(&api, chat, "Leaderboard");
    assert!(top_before.find("Ann").unwrap() < top_before.find("Bob").unwrap());
    terminate(&mut bot);
    let _bot = ready_bot(&api, data.path(), &env);
    api.push_update(fake_api::group_text(chat, 12, "Bob", "/top"));
    let tops = || -> Vec<String> {
        sent_texts(&api, chat)
            .into_iter()
            .filter(|t| t.starts_with("Leaderboard"))
            .collect()
    };
    wait_until(&api, "a second leaderboard", WAIT, || tops().len() == 2);
    assert_eq!(tops()[0], tops()[1], "leaderboard unchanged by a restart");
    assert_no_violations(&api);
    assert_delivered(&api, mode);
}

#[test]
fn a_quiz_resumes_after_a_crash_and_answers_to_its_open_poll_still_count() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let env = [("STUDYBOT__QUIZ__OPEN_PERIOD_SECS", "5")];
    let mut bot = ready_bot(&api, data.path(), &env);
    let chat = 700;
    api.push_update(fake_api::private_text(chat, "Gus", "/quiz 2"));
    let first = api.wait_for("sendPoll", 1, WAIT)[0].clone();
    // kill -9 between two user actions, once the poll is recorded.
    wait_until(&api, "the poll is recorded", WAIT, || {
        polls_recorded(data.path()) == 1
    });
    bot.child.kill().unwrap();
    bot.child.wait().unwrap();
    let _bot = ready_bot(&api, data.path(), &env);
    let poll_id = first.result()["poll"]["id"].as_str().unwrap().to_string();
    let correct = first.body["correct_option_id"].as_u64().unwrap() as u32;
    api.push_update(fake_api::poll_answer(&poll_id, chat, "Gus", &[correct]));
    let board = wait_for_text(&api, chat, "Quiz over");
    assert_eq!(
        poll_calls(&api).len(),
        2,
        "the second question was asked after the restart"
    );
    assert!(
        board.contains("Gus — 10 points · 1 answered, 1 correct"),
        "{board}"
    );
    assert_no_violations(&api);
}

/// Polls recorded in the bot's database.
pub fn polls_recorded(data: &Path) -> i64 {
    let Ok(db) = rusqlite::Connection::open(data.join("studybot.sqlite3")) else {
        return 0;
    };
    db.query_row("SELECT COUNT(*) FROM polls", [], |r| r.get(0))
        .unwrap_or(0)
}

/// A quiz poll that waited in the chat's queue (here behind a slow announcement) used to get
/// a deadline counted from when it was drawn, so the next poll followed it at once and the two
/// overlapped. The deadline now counts from delivery.
#[test]
fn a_quiz_poll_that_waited_in_the_queue_never_overlaps_the_next() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = ready_bot(
        &api,
        data.path(),
        &[("STUDYBOT__QUIZ__OPEN_PERIOD_SECS", "5")],
    );
    let chat = -2301;
    api.delay_next("sendMessage", 1, Duration::from_secs(8));
    api.push_update(fake_api::group_text(
        chat,
        31,
        "Ann",
        &format!("/quiz@{BOT_USERNAME} 2"),
    ));
    let polls = api.wait_for("sendPoll", 2, Duration::from_secs(60));
    let open = polls[0].body["open_period"].as_u64().unwrap();
    let gap = polls[1].at.duration_since(polls[0].at);
    assert!(
        gap >= Duration::from_secs(open),
        "the second poll came {gap:?} after the first, which stays open {open} s"
    );
    wait_for_text(&api, chat, "Quiz over");
    assert_no_violations(&api);
}

/// `/stop` while the quiz's poll still waits in the queue: the poll, once it reaches the
/// chat, is closed at once and its votes count for nothing.
#[test]
fn a_poll_that_arrives_after_stop_is_closed_and_scores_nothing() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = ready_bot(
        &api,
        data.path(),
        &[("STUDYBOT__QUIZ__OPEN_PERIOD_SECS", "30")],
    );
    let chat = -2302;
    api.delay_next("sendMessage", 1, Duration::from_secs(5));
    api.push_update(fake_api::group_text(
        chat,
        32,
        "Ann",
        &format!("/quiz@{BOT_USERNAME} 2"),
    ));
    // The announcement is on its way; the first poll waits behind it.
    std::thread::sleep(Duration::from_secs(1));
    api.push_update(fake_api::group_text(
        chat,
        32,
        "Ann",
        &format!("/stop@{BOT_USERNAME}"),
    ));
    let poll = api.wait_for("sendPoll", 1, Duration::from_secs(30))[0].clone();
    let message = poll.result()["message_id"].as_i64().unwrap();
    wait_until(&api, "the late poll is closed", WAIT, || {
        api.calls_to("stopPoll")
            .iter()
            .any(|c| c.body["message_id"].as_i64() == Some(message))
    });
    let poll_id = poll.result()["poll"]["id"].as_str().unwrap().to_string();
    let correct = poll.body["correct_option_id"].as_u64().unwrap() as u32;
    api.push_update(fake_api::poll_answer(&poll_id, 32, "Ann", &[correct]));
    wait_until(&api, "the vote is dropped and counted", WAIT, || {
        bot_log(data.path()).contains("reason=\"stale_poll\"")
    });
    api.push_update(fake_api::group_text(
        chat,
        32,
        "Ann",
        &format!("/score@{BOT_USERNAME}"),
    ));
    let score = wait_for_text(&api, chat, "Ann");
    assert!(!score.contains("10 points"), "{score}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        api.calls_to("sendPoll").len(),
        1,
        "the stopped quiz went on"
    );
    assert_no_violations(&api);
}

/// A flood wait longer than the sender waits out used to end the quiz ("I could not post the
/// next quiz question"); a passing failure now only delays the poll, and the quiz goes on.
#[test]
fn a_passing_send_failure_delays_a_quiz_poll_and_never_ends_the_quiz() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = ready_bot(
        &api,
        data.path(),
        &[("STUDYBOT__QUIZ__OPEN_PERIOD_SECS", "5")],
    );
    let chat = 2303;
    api.fail_next(
        "sendPoll",
        1,
        429,
        serde_json::json!({
            "ok": false,
            "error_code": 429,
            "description": "Too Many Requests: retry after 300",
            "parameters": {"retry_after": 300}
        }),
    );
    api.push_update(fake_api::private_text(chat, "Ann", "/quiz 1"));
    wait_for_text(&api, chat, "Quiz over");
    let polls = api.calls_to("sendPoll");
    assert_eq!(
        (polls.len(), polls.iter().filter(|c| c.ok()).count()),
        (2, 1),
        "one refused poll, then the same one sent"
    );
    assert!(
        !sent_texts(&api, chat)
            .iter()
            .any(|t| t.contains("could not post")),
        "the quiz was ended by a passing failure"
    );
    assert_no_violations(&api);
}
