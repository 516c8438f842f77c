//! No silence: every update to the real `studybot bot` process ends answered, told why, or
//! dropped on purpose and counted. A reader at human pace is never limited, a backlog is not
//! taken for a flood, page turns cannot crowd out other members' answers, and every drop
//! shows in the log and in `/metrics`. Each test is named for the failure it prevents.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use crate::bot::{
    assert_no_violations, bot_log, free_port, keyboard_data, ready_bot, start_bot, wait_until, WAIT,
};
use crate::fake_api::{self, http_request, Call, FakeApi};
use crate::webhook::metric;

/// The flood guard's notice, in a message or on a button.
const SLOW_DOWN: &str = "faster than I can read";

/// Questions the shipped text answers.
const QUESTIONS: [&str; 10] = [
    "what were factory shop committees",
    "who was john reed",
    "how did the soviets organise elections",
    "what was the constituent assembly",
    "what did the bolsheviks want",
    "who were the mensheviks",
    "what happened to the provisional government",
    "what was the petrograd soviet",
    "what were the land committees",
    "what did the peasants want",
];

fn message_id(update: &Value) -> i64 {
    update["message"]["message_id"].as_i64().unwrap()
}

/// The bot's messages that reply to message `id` in `chat`.
fn replies_to(api: &FakeApi, chat: i64, id: i64) -> Vec<Call> {
    api.calls_to("sendMessage")
        .into_iter()
        .filter(|c| {
            c.ok()
                && c.body["chat_id"].as_i64() == Some(chat)
                && c.body["reply_parameters"]["message_id"].as_i64() == Some(id)
        })
        .collect()
}

/// Everything the bot told `chat` and every toast it showed.
fn everything_said(api: &FakeApi, chat: i64) -> Vec<String> {
    let messages = api
        .calls_to("sendMessage")
        .into_iter()
        .filter(|c| c.body["chat_id"].as_i64() == Some(chat))
        .map(|c| c.text());
    let toasts = api
        .calls_to("answerCallbackQuery")
        .into_iter()
        .filter_map(|c| c.body["text"].as_str().map(str::to_string));
    messages.chain(toasts).collect()
}

/// A question every few seconds, and Full passage, Context and More pressed on each answer
/// as a curious reader does: before, the presses used up the questions' allowance and the
/// seventh question got no reply at all.
#[test]
fn a_curious_reader_pressing_every_button_is_never_met_with_silence() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = ready_bot(&api, data.path(), &[]);
    let reader = 811;
    for question in QUESTIONS {
        let update = fake_api::private_text(reader, "Curious", question);
        let asked = message_id(&update);
        api.push_update(update);
        wait_until(&api, "the question is answered", WAIT, || {
            !replies_to(&api, reader, asked).is_empty()
        });
        let answer = replies_to(&api, reader, asked).remove(0);
        assert!(!answer.text().contains(SLOW_DOWN), "{}", answer.text());
        let buttons = keyboard_data(&answer);
        assert_eq!(buttons.len(), 3, "{buttons:?}");
        let answer_id = answer.result()["message_id"].as_i64().unwrap();
        for (_, data) in &buttons {
            // Reading pace, compressed: a press every 0.7 s.
            std::thread::sleep(Duration::from_millis(700));
            api.push_update(fake_api::callback(reader, reader, answer_id, data));
        }
        wait_until(&api, "every press is answered", WAIT, || {
            api.unanswered_callbacks().is_empty()
        });
    }
    let said = everything_said(&api, reader);
    assert!(
        !said.iter().any(|t| t.contains(SLOW_DOWN)),
        "a reader at human pace was told to slow down: {said:#?}"
    );
    assert!(!bot_log(data.path()).contains("dropped an update"));
    assert_no_violations(&api);
}

/// Twenty questions written a few seconds apart while the bot was down reach it in one
/// batch when it starts: before, the guard judged them by arrival, answered six and dropped
/// the rest in silence.
#[test]
fn a_backlog_after_a_restart_is_answered_in_full_and_not_taken_for_a_flood() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let reader = 812;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut asked = Vec::new();
    for i in 0..20 {
        let mut update = fake_api::private_text(
            reader,
            "Patient",
            &format!("{} ({i})", QUESTIONS[i % QUESTIONS.len()]),
        );
        // Written over the last minute, three seconds apart.
        update["message"]["date"] = (now - 60 + 3 * i as i64).into();
        asked.push(message_id(&update));
        api.push_update(update);
    }
    let _bot = ready_bot(&api, data.path(), &[]);
    wait_until(
        &api,
        "every question of the backlog is answered",
        WAIT,
        || {
            asked
                .iter()
                .all(|id| !replies_to(&api, reader, *id).is_empty())
        },
    );
    let said = everything_said(&api, reader);
    assert!(!said.iter().any(|t| t.contains(SLOW_DOWN)), "{said:#?}");
    assert_no_violations(&api);
}

/// A flood of thirty messages in one second: six answered, one told to slow down, and every
/// other one dropped with a log line naming chat, member and reason, counted in `/metrics`,
/// and one debug line per update. Before, guard drops left no trace in the log.
#[test]
fn every_update_the_guard_drops_is_logged_and_counted_by_reason() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let listen_text = listen.to_string();
    let _bot = ready_bot(
        &api,
        data.path(),
        &[
            ("STUDYBOT__TELEGRAM__METRICS_LISTEN", &listen_text),
            ("RUST_LOG", "info,studybot::telegram::pipeline=debug"),
        ],
    );
    let (group, member) = (-813, 814);
    // Group chatter, not for the bot: dropped on purpose, counted, never answered.
    api.push_update(fake_api::group_text(
        group,
        815,
        "Chat",
        "see you all at six",
    ));
    let second = fake_api::group_text(group, member, "Fast", "x")["message"]["date"].clone();
    for i in 0..30 {
        let mut update = fake_api::group_text(group, member, "Fast", &format!("/ask soviets {i}"));
        // All written within one second.
        update["message"]["date"] = second.clone();
        api.push_update(update);
    }
    wait_until(&api, "the flood is told to slow down", WAIT, || {
        everything_said(&api, group)
            .iter()
            .any(|t| t.contains(SLOW_DOWN))
    });
    let scrape = || http_request(listen, "GET", "/metrics", None, "").1;
    let flood = "studybot_dropped_total{stage=\"guard\",reason=\"flood_message\"}";
    wait_until(&api, "the drops are counted", WAIT, || {
        metric(&scrape(), flood) == Some(24.0)
    });
    let metrics = scrape();
    assert_eq!(
        metric(
            &metrics,
            "studybot_dropped_total{stage=\"guard\",reason=\"not_for_me\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    let log = bot_log(data.path());
    let drops: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("dropped an update"))
        .collect();
    assert_eq!(drops.len(), 24, "{log}");
    assert!(
        drops
            .iter()
            .all(|l| l.contains("reason=\"flood_message\"") || l.contains("reason=flood_message")),
        "{drops:#?}"
    );
    assert!(drops
        .iter()
        .all(|l| l.contains(&format!("chat={group}")) && l.contains(&format!("member={member}"))));
    // One debug line per update, with its verdict: the host can tell why any message got no
    // reply.
    wait_until(&api, "the last update is logged", WAIT, || {
        bot_log(data.path())
            .lines()
            .filter(|l| l.contains(" update") && l.contains("verdict="))
            .count()
            >= 31
    });
    let log = bot_log(data.path());
    assert!(
        log.lines()
            .any(|l| l.contains("verdict=\"handled\"") || l.contains("verdict=handled")),
        "{log}"
    );
    assert!(log
        .lines()
        .any(|l| l.contains("verdict=\"not_for_me\"") || l.contains("verdict=not_for_me")));
    assert_no_violations(&api);
}

/// One member turns the pages of a `/read` message at the guard's full rate while two others
/// ask: before, every page turn was queued and could never be dropped, so once the group's
/// minute of messages was used up the others' answers were the only thing the queue could
/// give up. Now a newer page turn replaces the queued one, and the others are answered.
#[test]
fn page_turning_at_the_guards_rate_cannot_crowd_out_other_members_answers() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = start_bot(&api, data.path(), &[]);
    api.wait_for("setMyCommands", 2, WAIT);
    let group = -816;
    let turner = 817;
    api.push_update(fake_api::group_text(group, turner, "Turner", "/read 5"));
    let page = api.wait_for("sendMessage", 1, WAIT)[0].clone();
    let next = keyboard_data(&page)
        .into_iter()
        .find(|b| b.0.contains("Next"))
        .expect("a Next button");
    let page_id = page.result()["message_id"].as_i64().unwrap();
    // Forty-five presses in about thirty seconds: the twelve of a burst, then one a second
    // and a little faster, which is as fast as the guard lets a member press.
    let mut asked = Vec::new();
    for i in 0..45 {
        api.push_update(fake_api::callback(turner, group, page_id, &next.1));
        if i >= 30 && i % 5 == 0 {
            for member in [818, 819] {
                let update = fake_api::group_text(
                    group,
                    member,
                    "Other",
                    &format!("/ask {}", QUESTIONS[(i / 5) % QUESTIONS.len()]),
                );
                asked.push((member, message_id(&update)));
                api.push_update(update);
            }
        }
        std::thread::sleep(Duration::from_millis(650));
    }
    // The group's minute of messages runs out during the presses; the others' answers come
    // when Telegram lets the bot send again.
    wait_until(
        &api,
        "the other members are answered",
        Duration::from_secs(90),
        || {
            asked
                .iter()
                .all(|(_, id)| !replies_to(&api, group, *id).is_empty())
        },
    );
    let edits = api.calls_to("editMessageText").len();
    assert!(edits < 40, "{edits} page edits for 45 presses");
    let said = everything_said(&api, group);
    assert!(
        !said.iter().any(|t| t.contains("so I skipped")),
        "{said:#?}"
    );
    assert_no_violations(&api);
}
