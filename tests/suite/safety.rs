//! The real `studybot bot` process in the situations that used to freeze it, crash it or let
//! one member disrupt a group: floods, panics, hostile button data, roles, the allow-list,
//! crashes and restarts mid-update, a second poller, supergroup migration, very large texts
//! and secrets in logs. Each test is named for the failure it prevents.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::bot::{
    assert_no_violations, bot_log, keyboard_data, polls_recorded, ready_bot, sent_texts, terminate,
    wait_for_text, wait_until, WAIT,
};
use crate::fake_api::{self, FakeApi, BOT_USERNAME};

/// The bot's database, for the tests that look at or damage its state.
fn db(data: &Path) -> rusqlite::Connection {
    let db = rusqlite::Connection::open(data.join("studybot.sqlite3")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db
}

fn count(data: &Path, sql: &str) -> i64 {
    db(data).query_row(sql, [], |r| r.get(0)).unwrap()
}

/// The texts sent to `chat` containing `needle`.
fn texts_with(api: &FakeApi, chat: i64, needle: &str) -> usize {
    sent_texts(api, chat)
        .iter()
        .filter(|t| t.contains(needle))
        .count()
}

fn ok_calls(api: &FakeApi, method: &str) -> Vec<fake_api::Call> {
    api.calls_to(method)
        .into_iter()
        .filter(|c| c.ok())
        .collect()
}

// 1. No chat can hold up another.

/// One group floods the bot (a hundred commands and button presses in ten seconds, from ten
/// members) while a reader asks a question in private every two seconds: every private
/// question is answered, the group's backlog stays bounded and it gets one notice. The
/// latencies are printed for BENCHMARKS.md; the test asserts delivery only.
#[test]
fn a_flooding_group_does_not_hold_up_a_private_reader() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = ready_bot(&api, data.path(), &[]);
    let group = -700;
    let reader = 701;
    api.push_update(fake_api::group_text(
        group,
        10,
        "M",
        "/ask what were factory shop committees",
    ));
    let first = api.wait_for("sendMessage", 1, WAIT)[0].clone();
    let message = first.result()["message_id"].as_i64().unwrap();
    let buttons = keyboard_data(&first);
    assert_eq!(buttons.len(), 3, "{buttons:?}");

    let start = Instant::now();
    let mut asked: Vec<Instant> = Vec::new();
    for i in 0..100 {
        let member = 10 + (i % 10) as i64;
        if i % 2 == 0 {
            api.push_update(fake_api::group_text(
                group,
                member,
                "M",
                &format!("/ask how did the soviets organise elections ({i})"),
            ));
        } else {
            let (_, data) = &buttons[i % 3];
            api.push_update(fake_api::callback(member, group, message, data));
        }
        if start.elapsed() >= Duration::from_secs(2) * asked.len() as u32 {
            api.push_update(fake_api::private_text(reader, "Pat", "who was john reed"));
            asked.push(Instant::now());
        }
        // The flood's schedule (100 updates over 10 s), not a wait for a result.
        std::thread::sleep(Duration::from_millis(100));
    }
    let answered = || texts_with(&api, reader, "Reed");
    wait_until(&api, "every private question is answered", WAIT, || {
        answered() >= asked.len()
    });
    let answers: Vec<Instant> = ok_calls(&api, "sendMessage")
        .into_iter()
        .filter(|c| c.body["chat_id"].as_i64() == Some(reader))
        .map(|c| c.at)
        .collect();
    let latencies: Vec<f64> = asked
        .iter()
        .zip(&answers)
        .map(|(q, a)| a.duration_since(*q).as_secs_f64())
        .collect();
    eprintln!("private answer latency under the group flood (s): {latencies:.2?}");
    wait_for_text(&api, group, "so I skipped my answer");
    let group_sends = ok_calls(&api, "sendMessage")
        .iter()
        .filter(|c| c.body["chat_id"].as_i64() == Some(group))
        .count();
    // Telegram takes 20 messages a minute in a group; the backlog never grows past that.
    assert!(group_sends <= 20, "{group_sends} messages into the group");
    assert_eq!(texts_with(&api, group, "so I skipped my answer"), 1);
    // The notice replies to a message whose answer it skipped.
    let notice = ok_calls(&api, "sendMessage")
        .into_iter()
        .find(|c| {
            c.body["chat_id"].as_i64() == Some(group)
                && c.body["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("so I skipped my answer"))
        })
        .unwrap();
    assert!(
        notice.body["reply_parameters"]["message_id"]
            .as_i64()
            .is_some(),
        "{:?}",
        notice.body
    );
    wait_until(&api, "every button press is answered", WAIT, || {
        api.unanswered_callbacks().is_empty()
    });
    assert_no_violations(&api);
}

// 2. No panic takes the bot down.

#[test]
fn a_panic_in_one_update_is_an_apology_and_the_bot_keeps_serving() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let mut bot = ready_bot(&api, data.path(), &[("STUDYBOT_DEBUG_PANIC", "kaboom")]);
    let chat = 800;
    api.push_update(fake_api::private_text(chat, "Ed", "what does kaboom mean"));
    wait_for_text(&api, chat, "Sorry, something went wrong");
    // Again, in the same chat (whose worker a panic used to end) and in another.
    api.push_update(fake_api::private_text(chat, "Ed", "kaboom again"));
    api.push_update(fake_api::private_text(chat, "Ed", "who was john reed"));
    api.push_update(fake_api::private_text(801, "Fay", "who was john reed"));
    wait_for_text(&api, chat, "Reed");
    wait_for_text(&api, 801, "Reed");
    assert_eq!(texts_with(&api, chat, "Sorry, something went wrong"), 2);
    assert!(
        bot.child.try_wait().unwrap().is_none(),
        "the bot is still running"
    );
    assert!(bot_log(data.path()).contains("panicked"));
    assert_no_violations(&api);
}

/// Anyone can send any callback data; a "More" button with a huge rank overflowed an integer
/// and panicked.
#[test]
fn callback_data_with_huge_numbers_is_refused_not_a_crash() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let mut bot = ready_bot(&api, data.path(), &[]);
    let chat = 810;
    api.push_update(fake_api::private_text(chat, "Gil", "what were the soviets"));
    let answer = api.wait_for("sendMessage", 1, WAIT)[0].clone();
    let message = answer.result()["message_id"].as_i64().unwrap();
    let (_, more) = keyboard_data(&answer)
        .into_iter()
        .find(|b| b.0 == "More")
        .unwrap();
    let tag = more.rsplit(':').next().unwrap().to_string();
    for data in [
        format!("m:18446744073709551615:1.2:{tag}"),
        format!("m:1:99999999999999999999:{tag}"),
        format!("r:0:18446744073709551615:18446744073709551615:{tag}"),
    ] {
        api.push_update(fake_api::callback(chat, chat, message, &data));
    }
    let toasts = api.wait_for("answerCallbackQuery", 3, WAIT);
    assert!(toasts.iter().all(|c| c.body["text"]
        .as_str()
        .unwrap_or("")
        .contains("not one of mine")));
    api.push_update(fake_api::private_text(chat, "Gil", "who was john reed"));
    wait_for_text(&api, chat, "Reed");
    assert!(bot.child.try_wait().unwrap().is_none());
    assert_no_violations(&api);
}

// 3. Group roles.

#[test]
fn only_the_starter_or_an_admin_can_stop_a_quiz() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = ready_bot(&api, data.path(), &[("STUDYBOT__QUIZ__COOLDOWN_SECS", "0")]);
    let group = -900;
    api.set_member(group, 13, "administrator");
    api.push_update(fake_api::group_text(group, 11, "Ann", "/quiz 2"));
    api.wait_for("sendPoll", 1, WAIT);
    api.push_update(fake_api::group_text(group, 12, "Bob", "/stop"));
    wait_for_text(
        &api,
        group,
        "Only the member who started this quiz or an admin",
    );
    api.push_update(fake_api::group_text(group, 13, "Cy", "/stop"));
    wait_for_text(&api, group, "Quiz stopped");
    api.wait_for("stopPoll", 1, WAIT);
    // An anonymous admin posts as the group itself: an admin.
    api.push_update(fake_api::group_text(group, 11, "Ann", "/quiz 2"));
    api.wait_for("sendPoll", 2, WAIT);
    api.push_update(fake_api::anonymous_admin_text(group, "/stop"));
    wait_until(&api, "the anonymous admin stops it", WAIT, || {
        texts_with(&api, group, "Quiz stopped") == 2
    });
    // The starter stops their own quiz.
    api.push_update(fake_api::group_text(group, 11, "Ann", "/quiz 2"));
    api.wait_for("sendPoll", 3, WAIT);
    api.push_update(fake_api::group_text(group, 11, "Ann", "/stop"));
    wait_until(&api, "the starter stops it", WAIT, || {
        texts_with(&api, group, "Quiz stopped") == 3
    });
    assert_eq!(texts_with(&api, group, "Only the member who started"), 1);
    assert_no_violations(&api);
}

/// A troll starting and stopping quizzes in a loop could flood the group and mark its whole
/// question pool as seen.
#[test]
fn a_quiz_cannot_be_restarted_in_a_loop_and_only_asked_questions_count_as_seen() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = ready_bot(&api, data.path(), &[]);
    let group = -910;
    api.push_update(fake_api::group_text(group, 11, "Ann", "/quiz 10"));
    api.wait_for("sendPoll", 1, WAIT);
    api.push_update(fake_api::group_text(group, 11, "Ann", "/stop"));
    wait_for_text(&api, group, "Quiz stopped");
    api.push_update(fake_api::group_text(group, 11, "Ann", "/quiz 10"));
    wait_for_text(&api, group, "The next one can start in");
    assert_eq!(ok_calls(&api, "sendPoll").len(), 1);
    assert_eq!(
        count(data.path(), "SELECT COUNT(*) FROM seen"),
        1,
        "one question was asked, so one is seen"
    );
    assert_no_violations(&api);
}

#[test]
fn resetting_scores_takes_an_admin_and_a_confirmation() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = ready_bot(
        &api,
        data.path(),
        &[("STUDYBOT__QUIZ__OPEN_PERIOD_SECS", "5")],
    );
    let group = -920;
    api.set_member(group, 13, "creator");
    api.push_update(fake_api::group_text(group, 11, "Ann", "/quiz 1"));
    let poll = api.wait_for("sendPoll", 1, WAIT)[0].clone();
    let poll_id = poll.result()["poll"]["id"].as_str().unwrap().to_string();
    let correct = poll.body["correct_option_id"].as_u64().unwrap() as u32;
    api.push_update(fake_api::poll_answer(&poll_id, 11, "Ann", &[correct]));
    wait_for_text(&api, group, "Quiz over");
    api.push_update(fake_api::group_text(group, 12, "Bob", "/reset"));
    wait_for_text(&api, group, "Only an admin of this chat can reset");
    api.push_update(fake_api::group_text(group, 13, "Cy", "/reset"));
    wait_for_text(&api, group, "Reset this chat's quiz scores?");
    let prompt = ok_calls(&api, "sendMessage")
        .into_iter()
        .find(|c| c.text().contains("Reset this chat's quiz scores?"))
        .unwrap();
    let prompt_id = prompt.result()["message_id"].as_i64().unwrap();
    let buttons = keyboard_data(&prompt);
    let labels: Vec<&str> = buttons.iter().map(|b| b.0.as_str()).collect();
    assert_eq!(labels, ["Reset scores", "Cancel"]);
    api.push_update(fake_api::callback(12, group, prompt_id, &buttons[0].1));
    let toast = api.wait_for("answerCallbackQuery", 1, WAIT)[0].clone();
    assert!(toast.body["text"]
        .as_str()
        .unwrap()
        .contains("Only an admin"));
    assert_eq!(count(data.path(), "SELECT COUNT(*) FROM players"), 1);
    api.push_update(fake_api::callback(13, group, prompt_id, &buttons[0].1));
    let edit = api.wait_for("editMessageText", 1, WAIT)[0].clone();
    assert!(
        edit.text()
            .contains("Scores reset: 1 player record cleared"),
        "{}",
        edit.text()
    );
    api.push_update(fake_api::group_text(group, 12, "Bob", "/top"));
    wait_for_text(&api, group, "Nobody has answered a quiz question here yet");
    assert_eq!(count(data.path(), "SELECT COUNT(*) FROM players"), 0);
    assert_no_violations(&api);
}

#[test]
fn chats_outside_the_allow_list_get_one_line_and_strangers_inline_nothing() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = ready_bot(
        &api,
        data.path(),
        &[("STUDYBOT__TELEGRAM__ALLOWED_CHATS", "-950,951")],
    );
    let (allowed_group, allowed_user, stranger_group, stranger) = (-950, 951, -960, 952);
    api.push_update(fake_api::group_text(
        stranger_group,
        5,
        "Al",
        "/ask who was john reed",
    ));
    api.push_update(fake_api::group_text(
        stranger_group,
        5,
        "Al",
        "/ask who was lenin",
    ));
    api.push_update(fake_api::private_text(stranger, "St", "who was john reed"));
    api.push_update(fake_api::private_text(
        allowed_user,
        "Al",
        "who was john reed",
    ));
    api.push_update(fake_api::group_text(
        allowed_group,
        6,
        "Bo",
        "/ask who was john reed",
    ));
    wait_for_text(&api, allowed_user, "Reed");
    wait_for_text(&api, allowed_group, "Reed");
    let refused = sent_texts(&api, stranger_group);
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert!(
        refused[0].contains("only serves") && refused[0].contains("-960"),
        "{}",
        refused[0]
    );
    assert_eq!(refused[0].lines().count(), 1);
    assert_eq!(texts_with(&api, stranger, "only serves"), 1);
    // Inline mode: a member of an allowed group and an allowed user get answers; someone
    // who left the group gets nothing at all.
    api.set_member(allowed_group, 953, "member");
    api.set_member(allowed_group, 954, "left");
    api.push_update(fake_api::inline_query(954, "who was john reed"));
    wait_until(&api, "the stranger's membership is looked up", WAIT, || {
        api.calls_to("getChatMember")
            .iter()
            .any(|c| c.body["user_id"].as_i64() == Some(954))
    });
    api.push_update(fake_api::inline_query(953, "who was john reed"));
    api.push_update(fake_api::inline_query(allowed_user, "who was john reed"));
    let inline = api.wait_for("answerInlineQuery", 2, WAIT);
    assert_eq!(inline.len(), 2, "only the two allowed users are answered");
    assert_no_violations(&api);
}

// 4. Nothing lost, nothing doubled.

/// A crash while an update is being handled used to lose it: Telegram had been told it was
/// done when it was queued.
#[test]
fn an_update_is_confirmed_only_after_it_is_handled() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let mut bot = ready_bot(&api, data.path(), &[]);
    let group = -1000;
    // The role lookup of /stop hangs, so the update is in flight when the bot dies.
    api.delay_next("getChatMember", 1, Duration::from_secs(8));
    let id = api.push_update(fake_api::group_text(group, 12, "Bob", "/stop"));
    wait_until(&api, "the handler looks the role up", WAIT, || {
        !api.calls_to("getChatMember").is_empty()
    });
    let confirmed = |api: &FakeApi| {
        api.calls_to("getUpdates")
            .iter()
            .filter_map(|c| c.body["offset"].as_i64())
            .max()
            .unwrap_or(0)
    };
    assert!(confirmed(&api) <= id, "confirmed before it was handled");
    bot.child.kill().unwrap();
    bot.child.wait().unwrap();
    let _bot = ready_bot(&api, data.path(), &[]);
    wait_for_text(&api, group, "No quiz is running here");
    wait_until(&api, "the update is confirmed", WAIT, || {
        confirmed(&api) > id
    });
    assert_eq!(texts_with(&api, group, "No quiz is running here"), 1);
    assert_no_violations(&api);
}

/// A failed announcement used to leave a quiz "running" with no driver, refusing every later
/// /quiz until a restart.
#[test]
fn the_quiz_runs_even_when_its_announcement_fails() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = ready_bot(&api, data.path(), &[]);
    api.fail_next(
        "sendMessage",
        1,
        400,
        json!({"ok": false, "error_code": 400, "description": "Bad Request: not enough rights to send text messages to the chat"}),
    );
    api.push_update(fake_api::private_text(1200, "Hal", "/quiz 1"));
    let poll = api.wait_for("sendPoll", 1, WAIT)[0].clone();
    assert!(poll.body["question"].as_str().unwrap().starts_with("[1/1]"));
    let failed = &api.calls_to("sendMessage")[0];
    assert!(
        !failed.ok() && failed.text().contains("Quiz"),
        "{}",
        failed.text()
    );
    assert_no_violations(&api);
}

/// A driver killed between sending a poll and recording it asked the same question again
/// after the restart.
#[test]
fn a_question_in_flight_at_a_crash_is_not_posted_twice() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let env = [("STUDYBOT__QUIZ__OPEN_PERIOD_SECS", "5")];
    let mut bot = ready_bot(&api, data.path(), &env);
    let chat = 1300;
    // Telegram posts the poll, but its answer never reaches the bot.
    api.delay_next("sendPoll", 1, Duration::from_secs(20));
    api.push_update(fake_api::private_text(chat, "Ida", "/quiz 2"));
    api.wait_for("sendPoll", 1, WAIT);
    assert_eq!(polls_recorded(data.path()), 0);
    bot.child.kill().unwrap();
    bot.child.wait().unwrap();
    let _bot = ready_bot(&api, data.path(), &env);
    wait_for_text(&api, chat, "Quiz over");
    let asked = |n: &str| {
        ok_calls(&api, "sendPoll")
            .iter()
            .filter(|c| c.body["question"].as_str().unwrap_or("").starts_with(n))
            .count()
    };
    assert_eq!((asked("[1/2]"), asked("[2/2]")), (1, 1));
    assert_no_violations(&api);
}

/// A quiz whose stored questions cannot be read could not be stopped, and its driver retried
/// it forever.
#[test]
fn an_unreadable_quiz_can_still_be_stopped_or_ends_with_a_notice() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let mut bot = ready_bot(&api, data.path(), &[]);
    let chat = 1400;
    let damage = |data: &Path| {
        db(data)
            .execute(
                "UPDATE quizzes SET questions = 'not json' WHERE status = 'running'",
                [],
            )
            .unwrap()
    };
    api.push_update(fake_api::private_text(chat, "Jo", "/quiz 2"));
    api.wait_for("sendPoll", 1, WAIT);
    // Damaged while the quiz waits for its poll to close: once the poll is recorded and the
    // driver, which reads the quiz right after, has gone to sleep until the poll closes.
    wait_until(&api, "the poll is recorded", WAIT, || {
        polls_recorded(data.path()) == 1
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(damage(data.path()), 1);
    api.push_update(fake_api::private_text(chat, "Jo", "/stop"));
    wait_for_text(&api, chat, "Quiz stopped");
    // Damaged while the bot is down: on restart the quiz ends and says so.
    api.push_update(fake_api::private_text(chat, "Jo", "/quiz 2"));
    api.wait_for("sendPoll", 2, WAIT);
    wait_until(&api, "the poll is recorded", WAIT, || {
        polls_recorded(data.path()) == 2
    });
    terminate(&mut bot);
    assert_eq!(damage(data.path()), 1);
    let _bot = ready_bot(&api, data.path(), &[]);
    wait_for_text(&api, chat, "saved state could not be read");
    api.push_update(fake_api::private_text(chat, "Jo", "/quiz 1"));
    api.wait_for("sendPoll", 3, WAIT);
    assert_no_violations(&api);
}

#[test]
fn sigterm_waits_for_an_update_in_flight() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let mut bot = ready_bot(&api, data.path(), &[]);
    let group = -1100;
    api.delay_next("getChatMember", 1, Duration::from_secs(2));
    api.push_update(fake_api::group_text(group, 12, "Bob", "/stop"));
    wait_until(&api, "the handler looks the role up", WAIT, || {
        !api.calls_to("getChatMember").is_empty()
    });
    let (took, clean) = terminate(&mut bot);
    assert!(clean, "exit status after SIGTERM");
    assert!(took < Duration::from_secs(12), "stopped in {took:?}");
    assert_eq!(texts_with(&api, group, "No quiz is running here"), 1);
    assert_no_violations(&api);
}

#[test]
fn a_getupdates_conflict_is_logged_as_another_poller_and_polling_goes_on() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    api.fail_next("getUpdates", 2, 409, fake_api::conflict_error());
    let _bot = ready_bot(&api, data.path(), &[]);
    api.push_update(fake_api::private_text(1500, "Kim", "who was john reed"));
    wait_for_text(&api, 1500, "Reed");
    let log = bot_log(data.path());
    assert_eq!(
        log.matches("another process is polling Telegram with this bot's token")
            .count(),
        2,
        "{log}"
    );
    assert_no_violations(&api);
}

// 6. Supergroup migration.

#[test]
fn a_group_that_becomes_a_supergroup_keeps_its_scores_quiz_and_answers() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = ready_bot(
        &api,
        data.path(),
        &[("STUDYBOT__QUIZ__OPEN_PERIOD_SECS", "5")],
    );
    let (old, new) = (-1600, -1_001_600);
    api.push_update(fake_api::basic_group_text(old, 11, "Ann", "/quiz 1"));
    let poll = api.wait_for("sendPoll", 1, WAIT)[0].clone();
    let poll_id = poll.result()["poll"]["id"].as_str().unwrap().to_string();
    let correct = poll.body["correct_option_id"].as_u64().unwrap() as u32;
    api.push_update(fake_api::poll_answer(&poll_id, 11, "Ann", &[correct]));
    api.push_update(fake_api::migrated(old, new, 11));
    // The running quiz ends in the new chat, with the score made in the old one.
    let board = wait_for_text(&api, new, "Quiz over");
    assert!(board.contains("Ann — 10 points"), "{board}");
    api.push_update(fake_api::group_text(new, 12, "Bob", "/top"));
    let top = wait_for_text(&api, new, "Leaderboard");
    assert!(top.contains("Ann — 10 points"), "{top}");
    // A send that finds the group moved is sent again to its new id.
    let (old2, new2) = (-1700, -1_001_700);
    api.fail_next("sendMessage", 1, 400, fake_api::migrated_error(new2));
    api.push_update(fake_api::basic_group_text(
        old2,
        11,
        "Ann",
        "/ask who was john reed",
    ));
    wait_for_text(&api, new2, "Reed");
    wait_until(&api, "both moves are recorded", WAIT, || {
        count(data.path(), "SELECT COUNT(*) FROM chat_moves") == 2
    });
    assert_no_violations(&api);
}

/// An allowed basic group becomes a supergroup and a member asks at once: the question came
/// in the same batch as the move and was refused as from a chat outside the allow-list,
/// because the allow-list followed the move only once its handler had run.
#[test]
fn an_allowed_group_is_answered_in_the_same_batch_as_its_move_to_a_supergroup() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let (old, new) = (-1800, -1_001_800);
    // Both wait at Telegram before the bot polls, so they come in one batch.
    api.push_update(fake_api::migrated(old, new, 11));
    api.push_update(fake_api::group_text(
        new,
        11,
        "Ann",
        "/ask who was john reed",
    ));
    let allowed = old.to_string();
    let _bot = ready_bot(
        &api,
        data.path(),
        &[("STUDYBOT__TELEGRAM__ALLOWED_CHATS", allowed.as_str())],
    );
    let answer = wait_for_text(&api, new, "Reed");
    assert!(!answer.contains("only serves"), "{answer}");
    assert_eq!(texts_with(&api, new, "only serves"), 0);
    assert_no_violations(&api);
}

/// A quiz poll forwarded out of its group and voted on by someone outside it: the vote put
/// the outsider on the group's leaderboard. Now only the group's members score there.
#[test]
fn a_vote_on_a_forwarded_quiz_poll_from_outside_the_group_does_not_score() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = ready_bot(
        &api,
        data.path(),
        &[("STUDYBOT__QUIZ__OPEN_PERIOD_SECS", "5")],
    );
    let group = -1900;
    let outsider = 1999;
    api.set_member(group, outsider, "left");
    api.push_update(fake_api::group_text(group, 11, "Ann", "/quiz 1"));
    let poll = api.wait_for("sendPoll", 1, WAIT)[0].clone();
    let poll_id = poll.result()["poll"]["id"].as_str().unwrap().to_string();
    let correct = poll.body["correct_option_id"].as_u64().unwrap() as u32;
    api.push_update(fake_api::poll_answer(&poll_id, outsider, "Eve", &[correct]));
    api.push_update(fake_api::poll_answer(&poll_id, 11, "Ann", &[correct]));
    let board = wait_for_text(&api, group, "Quiz over");
    assert!(board.contains("Ann — 10 points"), "{board}");
    assert!(!board.contains("Eve"), "{board}");
    assert_eq!(
        count(
            data.path(),
            &format!("SELECT COUNT(*) FROM players WHERE user = {outsider}")
        ),
        0
    );
    assert_eq!(
        count(
            data.path(),
            &format!("SELECT COUNT(*) FROM review_cards WHERE user = {outsider}")
        ),
        0
    );
    assert!(bot_log(data.path()).contains("outsider"));
    assert_no_violations(&api);
}

// 7. Telegram's limits by construction.

/// A text with 150 sections and over ten thousand passages: `/sections` made one button per
/// section (past Telegram's 100), and a "More" button's passage ids passed 64 bytes.
#[test]
fn a_large_text_gets_paged_sections_and_buttons_within_the_limits() {
    let corpus = tempfile::tempdir().unwrap();
    let mut text = String::from("# A very long handbook\n\n");
    for s in 1..=149 {
        text.push_str(&format!("## Chapter {s} on orchards\n\n"));
        for p in 0..70 {
            text.push_str(&format!(
                "Apples and pears grow in orchard {s} row {p}.\n\n"
            ));
        }
    }
    text.push_str("## Councils\n\n");
    for p in 0..30 {
        text.push_str(&format!(
            "Factory committees and workers councils met in assembly number {p}.\n\n"
        ));
    }
    std::fs::write(corpus.path().join("handbook.md"), text).unwrap();
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let corpus_dir = corpus.path().to_str().unwrap().to_string();
    let _bot = ready_bot(
        &api,
        data.path(),
        &[
            ("STUDYBOT__CORPUS__DIR", corpus_dir.as_str()),
            ("STUDYBOT__SEARCH__TOP_K", "10"),
        ],
    );
    let chat = 1800;
    api.push_update(fake_api::private_text(chat, "Lu", "/sections"));
    let toc = api.wait_for("sendMessage", 1, WAIT)[0].clone();
    assert!(toc.text().contains("Contents, page 1/8"), "{}", toc.text());
    let buttons = keyboard_data(&toc);
    assert_eq!(buttons.len(), 21, "20 sections and Next");
    let next = buttons
        .iter()
        .find(|b| b.0.contains("Next"))
        .unwrap()
        .1
        .clone();
    let toc_id = toc.result()["message_id"].as_i64().unwrap();
    api.push_update(fake_api::callback(chat, chat, toc_id, &next));
    let edit = api.wait_for("editMessageText", 1, WAIT)[0].clone();
    assert!(
        edit.text().contains("Contents, page 2/8"),
        "{}",
        edit.text()
    );
    api.push_update(fake_api::private_text(
        chat,
        "Lu",
        "where did factory committees and workers councils meet",
    ));
    let answer = api.wait_for("sendMessage", 2, WAIT)[1].clone();
    let (_, more) = keyboard_data(&answer)
        .into_iter()
        .find(|b| b.0 == "More")
        .expect("a More button");
    assert!(more.len() <= 64, "{more}");
    let answer_id = answer.result()["message_id"].as_i64().unwrap();
    api.push_update(fake_api::callback(chat, chat, answer_id, &more));
    let results = api.wait_for("sendMessage", 3, WAIT)[2].clone();
    assert!(results.text().contains("§150"), "{}", results.text());
    assert_no_violations(&api);
}

/// A reply to any of the bot's messages (a poll, a scoreboard) used to be taken as a
/// question.
#[test]
fn replies_to_polls_and_notices_are_not_questions() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let group = -1900;
    // The quiz stays open for the whole test, so its end adds nothing.
    let _bot = ready_bot(
        &api,
        data.path(),
        &[("STUDYBOT__QUIZ__OPEN_PERIOD_SECS", "600")],
    );
    api.push_update(fake_api::group_text(group, 11, "Ann", "/quiz 1"));
    let poll = api.wait_for("sendPoll", 1, WAIT)[0].result();
    api.push_update(fake_api::reply_to(
        fake_api::group_text(group, 12, "Bob", "what were the soviets?"),
        poll,
    ));
    api.push_update(fake_api::group_text(group, 12, "Bob", "/score"));
    let score = wait_for_text(&api, group, "you have not answered");
    let score_message = ok_calls(&api, "sendMessage")
        .into_iter()
        .find(|c| c.result()["text"].as_str() == Some(score.as_str()))
        .unwrap()
        .result();
    api.push_update(fake_api::reply_to(
        fake_api::group_text(group, 12, "Bob", "who elected the soviets?"),
        score_message,
    ));
    api.push_update(fake_api::group_text(
        group,
        12,
        "Bob",
        "/ask who was john reed",
    ));
    let answer = wait_for_text(&api, group, "Reed");
    let answer_message = ok_calls(&api, "sendMessage")
        .into_iter()
        .find(|c| c.result()["text"].as_str() == Some(answer.as_str()))
        .unwrap()
        .result();
    api.push_update(fake_api::reply_to(
        fake_api::group_text(group, 12, "Bob", "what were factory shop committees?"),
        answer_message,
    ));
    // The announcement, the score, the answer and the follow-up's answer: nothing for the
    // replies to the poll and the score, which came before the follow-up.
    wait_until(&api, "the follow-up is answered", WAIT, || {
        sent_texts(&api, group).len() >= 4
    });
    let texts = sent_texts(&api, group);
    assert_eq!(texts.len(), 4, "{texts:#?}");
    assert!(texts[3].starts_with("1. "), "{}", texts[3]);
    assert_no_violations(&api);
}

#[test]
fn a_longer_username_is_not_a_mention() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = ready_bot(&api, data.path(), &[]);
    let group = -2000;
    api.push_update(fake_api::group_text(
        group,
        12,
        "Bob",
        &format!("@{BOT_USERNAME}_helper who was john reed"),
    ));
    api.push_update(fake_api::group_text(
        group,
        12,
        "Bob",
        &format!("hey @{BOT_USERNAME}, what were factory shop committees"),
    ));
    wait_for_text(&api, group, "Factory Shop Committees");
    assert_eq!(sent_texts(&api, group).len(), 1);
    assert_no_violations(&api);
}

// 8. Secrets.

/// Error bodies that echo the request path (as proxies do) carried the token into the log.
/// Every test of the real process checks its log for the token when it ends; this one makes
/// the bot log as much as it can about failing requests.
#[test]
fn no_log_line_contains_the_token_even_when_errors_echo_it() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    api.fail_next("getUpdates", 1, 409, fake_api::conflict_error());
    let bot = ready_bot(&api, data.path(), &[("RUST_LOG", "debug")]);
    api.fail_next(
        "sendMessage",
        1,
        502,
        json!({"ok": false, "error_code": 502, "description": "Bad Gateway: upstream failed for /bot123456:TESTTOKEN/sendMessage"}),
    );
    api.drop_next("sendMessage", 1);
    api.fail_next(
        "getChatMember",
        1,
        400,
        json!({"ok": false, "error_code": 400, "description": "Bad Request: no such user in /bot123456:TESTTOKEN/getChatMember"}),
    );
    api.push_update(fake_api::private_text(2100, "Mo", "who was john reed"));
    wait_for_text(&api, 2100, "Reed");
    api.push_update(fake_api::group_text(-2100, 12, "Bob", "/stop"));
    wait_for_text(&api, -2100, "No quiz is running");
    let log = bot_log(data.path());
    assert!(log.contains("retrying"), "{log}");
    assert!(
        log.contains("123456:***"),
        "the token shows redacted: {log}"
    );
    assert!(!log.contains("TESTTOKEN"), "{log}");
    drop(bot);
}
