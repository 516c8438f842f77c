//! Study tools as users meet them, through the real `studybot bot` against the fake Bot API
//! and through `studybot chat`: the review deck of wrong quiz answers on the Leitner schedule
//! (the clock moved forward with `STUDYBOT_DEBUG_CLOCK_OFFSET`, never waited for), the deep
//! link a group's `/review` gives, and one text at a time per chat. Rendered messages are
//! snapshotted.

use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;

use studybot::commands::{self, Caller, Command, Handler};
use studybot::config::QuizSettings;
use studybot::quiz::pool::QuestionPool;
use studybot::quiz::session::QuizService;
use studybot::store::{SqliteStore, Store};
use studybot::telegram::render;
use studybot::Engine;

use crate::bot::{
    assert_no_violations, ready_bot, sent_texts, terminate, wait_for_text, wait_until, WAIT,
};
use crate::common::{root, studybot};
use crate::fake_api::{self, FakeApi, BOT_USERNAME};

/// A day and a minute, in seconds: a card answered right once is due again.
const A_DAY_LATER: &str = "86460";

fn polls_to(api: &FakeApi, chat: i64) -> Vec<fake_api::Call> {
    api.calls_to("sendPoll")
        .into_iter()
        .filter(|c| c.ok() && c.body["chat_id"].as_i64() == Some(chat))
        .collect()
}

fn poll_id(call: &fake_api::Call) -> String {
    call.result()["poll"]["id"].as_str().unwrap().to_string()
}

fn correct(call: &fake_api::Call) -> u32 {
    call.body["correct_option_id"].as_u64().unwrap() as u32
}

/// Runs a one-question quiz in `chat` (a private chat: its user has the same id) and answers
/// it wrongly; returns once the quiz is over.
fn answer_a_quiz_question_wrongly(api: &FakeApi, chat: i64) -> fake_api::Call {
    api.push_update(fake_api::private_text(chat, "Vera", "/quiz 1"));
    wait_until(api, "the quiz poll", WAIT, || {
        polls_to(api, chat).len() == 1
    });
    let poll = polls_to(api, chat).remove(0);
    let wrong = (correct(&poll) + 1) % 4;
    api.push_update(fake_api::poll_answer(
        &poll_id(&poll),
        chat,
        "Vera",
        &[wrong],
    ));
    wait_for_text(api, chat, "Quiz over");
    poll
}

#[test]
fn a_wrong_quiz_answer_comes_back_in_review_and_moves_up_a_box_when_answered_right() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let env = [("STUDYBOT__QUIZ__OPEN_PERIOD_SECS", "5")];
    let mut bot = ready_bot(&api, data.path(), &env);
    let chat = 901;
    api.push_update(fake_api::private_text(chat, "Vera", "/review"));
    let empty = wait_for_text(&api, chat, "review deck is empty");
    assert!(empty.contains("answer wrongly in a quiz"), "{empty}");
    let quiz_poll = answer_a_quiz_question_wrongly(&api, chat);

    api.push_update(fake_api::private_text(chat, "Vera", "/review"));
    wait_for_text(&api, chat, "Review: 1 question due");
    wait_until(&api, "the review poll", WAIT, || {
        polls_to(&api, chat).len() == 2
    });
    let review = polls_to(&api, chat).remove(1);
    let question = review.body["question"].as_str().unwrap();
    assert!(question.starts_with("[review, box 1] "), "{question}");
    assert!(
        question.ends_with(
            quiz_poll.body["question"]
                .as_str()
                .unwrap()
                .trim_start_matches("[1/1] ")
        ),
        "the card asks the question answered wrongly: {question}"
    );
    assert_eq!(review.body["explanation"], quiz_poll.body["explanation"]);
    assert!(
        review.body["explanation"].as_str().unwrap().contains('§'),
        "the explanation cites the passage"
    );
    assert!(
        review.body.get("open_period").is_none_or(|p| p.is_null()),
        "a review waits for the member: {}",
        review.body
    );
    api.push_update(fake_api::poll_answer(
        &poll_id(&review),
        chat,
        "Vera",
        &[correct(&review)],
    ));
    let done = wait_for_text(&api, chat, "Review done for now");
    assert!(
        done.contains("Your deck has 1 card. The next is due in 24 hours."),
        "{done}"
    );
    api.push_update(fake_api::private_text(chat, "Vera", "/review"));
    let nothing = wait_for_text(&api, chat, "Nothing to review now");
    assert!(nothing.contains("due in 24 hours"), "{nothing}");

    // A day later, after a restart, the card is due again, from box 2.
    terminate(&mut bot);
    let later = [
        ("STUDYBOT__QUIZ__OPEN_PERIOD_SECS", "5"),
        ("STUDYBOT_DEBUG_CLOCK_OFFSET", A_DAY_LATER),
    ];
    let _bot = ready_bot(&api, data.path(), &later);
    api.push_update(fake_api::private_text(chat, "Vera", "/review"));
    wait_until(&api, "the card comes back", WAIT, || {
        polls_to(&api, chat).len() == 3
    });
    let again = polls_to(&api, chat).remove(2);
    let question = again.body["question"].as_str().unwrap();
    assert!(question.starts_with("[review, box 2] "), "{question}");
    // Wrong this time: back to the first box, due at once.
    api.push_update(fake_api::poll_answer(
        &poll_id(&again),
        chat,
        "Vera",
        &[(correct(&again) + 1) % 4],
    ));
    wait_until(&api, "the review ends again", WAIT, || {
        sent_texts(&api, chat)
            .iter()
            .filter(|t| t.contains("Review done for now"))
            .count()
            == 2
    });
    let last = sent_texts(&api, chat).pop().unwrap();
    assert!(last.contains("One is due again now"), "{last}");
    assert_no_violations(&api);
}

/// `/review` sent twice posts two polls for the same card; before, answering both moved it up
/// two boxes and started two review chains. Now the newer poll supersedes the older, whose
/// vote is dropped and counted.
#[test]
fn a_second_review_poll_supersedes_the_first_so_a_card_moves_once() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let env = [("STUDYBOT__QUIZ__OPEN_PERIOD_SECS", "5")];
    let _bot = ready_bot(&api, data.path(), &env);
    let chat = 905;
    answer_a_quiz_question_wrongly(&api, chat);
    for n in [2, 3] {
        api.push_update(fake_api::private_text(chat, "Vera", "/review"));
        wait_until(&api, "a review poll", WAIT, || {
            polls_to(&api, chat).len() == n
        });
    }
    let polls = polls_to(&api, chat);
    let (first, second) = (&polls[1], &polls[2]);
    api.push_update(fake_api::poll_answer(
        &poll_id(first),
        chat,
        "Vera",
        &[correct(first)],
    ));
    wait_until(&api, "the stale vote is counted as dropped", WAIT, || {
        crate::bot::bot_log(data.path()).contains("reason=\"stale_poll\"")
    });
    assert!(
        !sent_texts(&api, chat)
            .iter()
            .any(|t| t.contains("Review done")),
        "the superseded poll moved the card"
    );
    api.push_update(fake_api::poll_answer(
        &poll_id(second),
        chat,
        "Vera",
        &[correct(second)],
    ));
    let done = wait_for_text(&api, chat, "Review done for now");
    assert!(
        done.contains("The next is due in 24 hours."),
        "moved up one box, not two: {done}"
    );
    assert_eq!(polls_to(&api, chat).len(), 3, "one review chain, not two");
    assert_no_violations(&api);
}

#[test]
fn the_deep_link_from_a_group_opens_the_review_in_the_private_chat() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let env = [("STUDYBOT__QUIZ__OPEN_PERIOD_SECS", "5")];
    let _bot = ready_bot(&api, data.path(), &env);
    let (group, user) = (-9100, 902);
    answer_a_quiz_question_wrongly(&api, user);
    api.push_update(fake_api::group_text(group, user, "Vera", "/review"));
    wait_for_text(&api, group, "Reviews run in my private chat");
    let reply = api
        .calls_to("sendMessage")
        .into_iter()
        .find(|c| c.ok() && c.body["chat_id"].as_i64() == Some(group))
        .unwrap();
    let button = &reply.body["reply_markup"]["inline_keyboard"][0][0];
    let link = format!("https://t.me/{BOT_USERNAME}?start=review");
    assert_eq!(
        button["url"].as_str(),
        Some(link.as_str()),
        "{}",
        reply.body
    );
    assert!(polls_to(&api, group).is_empty(), "the group is not quizzed");
    // Telegram sends "/start review" when the member opens the link.
    api.push_update(fake_api::private_text(user, "Vera", "/start review"));
    wait_for_text(&api, user, "Review: 1 question due");
    wait_until(&api, "the review poll", WAIT, || {
        polls_to(&api, user).len() == 2
    });
    assert!(polls_to(&api, user)[1].body["question"]
        .as_str()
        .unwrap()
        .starts_with("[review, box 1] "));
    assert_no_violations(&api);
}

/// A corpus of two texts: the groundwater report (document 1) and the shipped text
/// (document 2), whose curated quiz bank is used.
fn two_texts() -> (tempfile::TempDir, Vec<(&'static str, String)>) {
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "tests/fixtures/report/groundwater-survey.txt",
        "corpus/russia-october-1917.txt",
    ] {
        let from = root().join(file);
        std::fs::copy(&from, dir.path().join(from.file_name().unwrap())).unwrap();
    }
    let env = vec![
        ("STUDYBOT__CORPUS__DIR", dir.path().display().to_string()),
        (
            "STUDYBOT__CORPUS__QUIZ_DIR",
            root().join("corpus/quiz").display().to_string(),
        ),
    ];
    (dir, env)
}

/// The documents of the questions of every quiz started in `chat`.
fn quiz_documents(data: &std::path::Path, chat: i64) -> Vec<u64> {
    let db = rusqlite::Connection::open(data.join("studybot.sqlite3")).unwrap();
    let mut stmt = db
        .prepare("SELECT questions FROM quizzes WHERE chat = ?1")
        .unwrap();
    let rows: Vec<String> = stmt
        .query_map([chat], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.iter()
        .flat_map(|json| {
            let questions: Vec<serde_json::Value> = serde_json::from_str(json).unwrap();
            questions
                .into_iter()
                .map(|q| q["doc"].as_u64().unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn text_restricts_answers_and_quizzes_in_one_chat_not_another_and_survives_a_restart() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let (_corpus, env) = two_texts();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut bot = ready_bot(&api, data.path(), &env);
    let (one, other) = (951, 952);
    api.push_update(fake_api::private_text(one, "Ola", "/texts"));
    let texts = wait_for_text(&api, one, "I serve 2 texts");
    assert!(
        texts.contains("1. Groundwater survey (6 sections)"),
        "{texts}"
    );
    assert!(texts.contains("This chat reads all of them"), "{texts}");
    api.push_update(fake_api::private_text(one, "Ola", "/text 2"));
    let set = wait_for_text(&api, one, "This chat now reads");
    assert!(set.contains("Russia - October 1917"), "{set}");
    let question = "how many village wells did the survey measure";
    api.push_update(fake_api::private_text(one, "Ola", question));
    api.push_update(fake_api::private_text(other, "Oto", question));
    wait_until(&api, "both chats are answered", WAIT, || {
        sent_texts(&api, one).len() == 3 && !sent_texts(&api, other).is_empty()
    });
    let restricted = sent_texts(&api, one).pop().unwrap();
    assert!(
        !restricted.contains("Groundwater"),
        "chat {one} reads the shipped text only: {restricted}"
    );
    let everything = sent_texts(&api, other).pop().unwrap();
    assert!(everything.contains("Groundwater survey"), "{everything}");
    // Inline queries carry no chat: they follow the member's private chat with the bot.
    api.push_update(fake_api::inline_query(one, question));
    let inline = api.wait_for("answerInlineQuery", 1, WAIT);
    api.push_update(fake_api::inline_query(other, question));
    let inline = {
        let mut all = api.wait_for("answerInlineQuery", 2, WAIT);
        all.truncate(2);
        assert_eq!(inline.len(), 1);
        all
    };
    let results = |call: &fake_api::Call| call.body["results"].to_string();
    assert!(
        !results(&inline[0]).contains("Groundwater"),
        "{}",
        results(&inline[0])
    );
    assert!(
        results(&inline[1]).contains("Groundwater survey"),
        "{}",
        results(&inline[1])
    );
    api.push_update(fake_api::private_text(one, "Ola", "/quiz 10"));
    wait_until(&api, "a quiz poll", WAIT, || {
        !polls_to(&api, one).is_empty()
    });
    let docs = quiz_documents(data.path(), one);
    assert_eq!(docs.len(), 10);
    assert!(
        docs.iter().all(|&d| d == 1),
        "the quiz keeps to the chat's text: {docs:?}"
    );
    api.push_update(fake_api::private_text(one, "Ola", "/stop"));
    wait_for_text(&api, one, "Quiz stopped");

    terminate(&mut bot);
    let _bot = ready_bot(&api, data.path(), &env);
    api.push_update(fake_api::private_text(one, "Ola", "/texts"));
    api.push_update(fake_api::private_text(other, "Oto", "/texts"));
    wait_until(&api, "both lists", WAIT, || {
        sent_texts(&api, one)
            .iter()
            .filter(|t| t.contains("I serve 2 texts"))
            .count()
            == 2
            && sent_texts(&api, other)
                .iter()
                .any(|t| t.contains("I serve 2 texts"))
    });
    let after = sent_texts(&api, one).pop().unwrap();
    assert!(
        after.contains("This chat reads") && after.contains("Russia - October 1917"),
        "the choice survives a restart: {after}"
    );
    let unchanged = sent_texts(&api, other).pop().unwrap();
    assert!(
        unchanged.contains("This chat reads all of them"),
        "{unchanged}"
    );
    assert_no_violations(&api);
}

#[test]
fn in_a_group_only_an_admin_chooses_the_text() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let corpus = root().join("tests/fixtures/handbook");
    let env = [("STUDYBOT__CORPUS__DIR", corpus.to_str().unwrap())];
    let _bot = ready_bot(&api, data.path(), &env);
    let group = -9500;
    api.set_member(group, 71, "member");
    api.set_member(group, 72, "administrator");
    api.push_update(fake_api::group_text(group, 71, "Mem", "/text 2"));
    wait_for_text(
        &api,
        group,
        "Only an admin of this chat can choose its text",
    );
    api.push_update(fake_api::group_text(group, 72, "Adm", "/text 2"));
    wait_for_text(
        &api,
        group,
        "This chat now reads Field notes on the orchard",
    );
    assert_no_violations(&api);
}

fn chat(data: &std::path::Path, env: &[(&str, &str)], script: &str) -> String {
    let mut cmd = studybot(data);
    cmd.arg("chat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
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

/// The options of the last question printed.
fn options_of_last_question(out: &str) -> Vec<String> {
    let start = out.rfind("Question ").unwrap();
    out[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim().split_once(") ").unwrap().1.to_string())
        .collect()
}

#[test]
fn the_terminal_reviews_a_wrong_answer_on_the_schedule_and_keeps_the_deck() {
    let data = tempfile::tempdir().unwrap();
    // One-question quizzes answered with option 1 until one is wrong (each is right with
    // chance 1/4).
    let mut out = String::new();
    for _ in 0..12 {
        out = chat(data.path(), &[], "/quiz 1\n1\n/quit\n");
        if out.contains("Not quite.") {
            break;
        }
    }
    let answer = out
        .split("Not quite. The answer is ")
        .nth(1)
        .unwrap_or_else(|| panic!("no wrong answer in 12 quizzes: {out}"))
        .lines()
        .next()
        .unwrap();
    let answer = answer.strip_suffix('.').unwrap_or(answer).to_string();
    // A new process: the deck is kept.
    let first = chat(data.path(), &[], "/review\n/quit\n");
    assert!(first.contains("Review: 1 question due"), "{first}");
    assert!(first.contains("Review (box 1):"), "{first}");
    let n = options_of_last_question(&first)
        .iter()
        .position(|o| *o == answer)
        .unwrap()
        + 1;
    let reviewed = chat(data.path(), &[], &format!("/review\n{n}\n/quit\n"));
    assert!(reviewed.contains("Right!"), "{reviewed}");
    assert!(reviewed.contains('§'), "the explanation cites the passage");
    assert!(
        reviewed
            .contains("Review done for now. Your deck has 1 card. The next is due in 24 hours."),
        "{reviewed}"
    );
    let now = chat(data.path(), &[], "/review\n/quit\n");
    assert!(now.contains("Nothing to review now"), "{now}");
    // A day later the card is due again, from box 2.
    let later = chat(
        data.path(),
        &[("STUDYBOT_DEBUG_CLOCK_OFFSET", A_DAY_LATER)],
        "/review\n/quit\n",
    );
    assert!(later.contains("Review (box 2):"), "{later}");
}

fn handbook() -> Arc<Engine> {
    static ENGINE: std::sync::OnceLock<Arc<Engine>> = std::sync::OnceLock::new();
    ENGINE
        .get_or_init(|| {
            Arc::new(Engine::in_memory(&root().join("tests/fixtures/handbook")).unwrap())
        })
        .clone()
}

fn studied(engine: Arc<Engine>) -> (Handler, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let service = QuizService::new(
        store.clone(),
        QuestionPool::new(Vec::new()),
        QuizSettings::default(),
    );
    let handler = Handler::new(engine).with_quiz(Arc::new(service));
    (handler, store)
}

fn rendered(handler: &Handler, reply: &commands::Reply) -> String {
    let message = render::reply(reply, handler.tag());
    crate::telegram::assert_valid_html(&message.html);
    let mut out = message.html;
    out.push_str("\n---- buttons\n");
    for row in &message.buttons {
        let row: Vec<String> = row
            .iter()
            .map(|(label, data)| {
                assert!(data.len() <= 64, "{data}");
                format!("[{label}] {data}")
            })
            .collect();
        out.push_str(&row.join(" | "));
        out.push('\n');
    }
    out
}

fn caller(admin: bool) -> Caller {
    Caller {
        user: 5,
        name: "Ann <&>".into(),
        admin,
    }
}

#[test]
fn snapshot_texts_and_text() {
    let (h, _) = studied(handbook());
    let texts = h
        .command_in_chat(1, &caller(true), false, &Command::Texts, 0)
        .0;
    insta::assert_snapshot!("texts_all", rendered(&h, &texts));
    let set = h
        .command_in_chat(1, &caller(true), false, &Command::Text("2".into()), 0)
        .0;
    insta::assert_snapshot!("text_set", rendered(&h, &set));
    let texts = h
        .command_in_chat(1, &caller(true), false, &Command::Texts, 0)
        .0;
    insta::assert_snapshot!("texts_one_chosen", rendered(&h, &texts));
    let refused = h
        .command_in_chat(-1, &caller(false), true, &Command::Text("1".into()), 0)
        .0;
    insta::assert_snapshot!("text_refused", rendered(&h, &refused));
}

#[test]
fn sections_and_read_keep_to_the_chats_text() {
    let (h, _) = studied(handbook());
    let admin = caller(true);
    let toc = |chat: i64| {
        rendered(
            &h,
            &h.command_in_chat(chat, &admin, false, &Command::Sections, 0)
                .0,
        )
    };
    assert!(toc(1).contains("Composting") && toc(1).contains("Pruning"));
    h.command_in_chat(1, &admin, false, &Command::Text("2".into()), 0);
    assert!(
        !toc(1).contains("Composting") && toc(1).contains("Pruning"),
        "{}",
        toc(1)
    );
    assert!(
        toc(2).contains("Composting"),
        "another chat still reads both"
    );
    let read = |chat: i64| {
        rendered(
            &h,
            &h.command_in_chat(chat, &admin, false, &Command::Read("1".into()), 0)
                .0,
        )
    };
    assert!(read(1).contains("orchard"), "{}", read(1));
    assert!(read(2).contains("Community Garden"), "{}", read(2));
    h.command_in_chat(1, &admin, false, &Command::Text("all".into()), 0);
    assert!(toc(1).contains("Composting"));
}

#[test]
fn snapshot_single_text() {
    let (h, _) = studied(crate::telegram::engine());
    let texts = h
        .command_in_chat(1, &caller(true), false, &Command::Texts, 0)
        .0;
    insta::assert_snapshot!("texts_single", rendered(&h, &texts));
}

#[test]
fn snapshot_review_messages_and_score_by_section() {
    let (h, store) = studied(crate::telegram::engine());
    let now = 1_000_000;
    let empty = h
        .command_in_chat(5, &caller(true), false, &Command::Review, now)
        .0;
    insta::assert_snapshot!("review_empty", rendered(&h, &empty));
    h.set_username("studybot_test_bot");
    let group = h
        .command_in_chat(-5, &caller(false), true, &Command::Review, now)
        .0;
    insta::assert_snapshot!("review_in_group", rendered(&h, &group));
    let question = serde_json::json!({
        "key": "k", "question": "Who?", "options": ["A", "B"], "correct": 0,
        "explanation": "“A” — §5 The role of the Soviets, ¶1", "doc": 0, "section": 5
    })
    .to_string();
    store.add_card(5, "k", &question, now).unwrap();
    let started = h
        .command_in_chat(5, &caller(true), false, &Command::Review, now)
        .0;
    insta::assert_snapshot!("review_started", rendered(&h, &started));
    store.attach_review_poll("p", 5, 5, "k", 0).unwrap();
    store
        .answer_review("p", 5, 0, now, &studybot::quiz::review::schedule)
        .unwrap();
    let done = h.review_next(5, now, Some("k")).unwrap_err();
    insta::assert_snapshot!("review_done", rendered(&h, &done));
    for (section, correct) in [(5, true), (5, false), (6, true), (2, false), (2, false)] {
        store.record_section(5, 5, 0, section, correct).unwrap();
    }
    // The player's overall record, as a quiz answer leaves it.
    let id = store.create_quiz(5, 5, "[]", now).unwrap().unwrap();
    store.begin_question(id, 0, "q", now + 30, now).unwrap();
    store.attach_poll(id, 0, "quiz-poll", 1, None).unwrap();
    store
        .record_answer("quiz-poll", 5, "Ann <&>", 1, &studybot::quiz::score)
        .unwrap();
    let score = h
        .command_in_chat(5, &caller(true), false, &Command::Score, now)
        .0;
    insta::assert_snapshot!("score_by_section", rendered(&h, &score));
}

#[test]
fn the_new_commands_are_in_help_and_the_telegram_menu() {
    let names: Vec<&str> = commands::COMMANDS.iter().map(|c| c.name).collect();
    for name in ["review", "texts", "text"] {
        assert!(names.contains(&name), "{name}");
    }
    let menu = studybot::telegram::bot_commands();
    assert!(menu.iter().any(|c| c.command == "review"));
}
