//! Adding a text from the chat, through the real `studybot bot` process and the fake Bot API
//! (`getFile` and the file download): a member sends a PDF and asks about it a moment later,
//! with page citations, in that chat only. Each test is named for the failure it prevents.

use std::time::Duration;

use crate::bot::{
    assert_no_violations, bot_log, keyboard_data, ready_bot, sent_texts, wait_until, BotProcess,
    WAIT,
};
use crate::common::root;
use crate::fake_api::{self, FakeApi};

/// Reading a PDF in the child process and indexing it, in a debug build on a busy machine.
const READ_WAIT: Duration = Duration::from_secs(120);

const ON: (&str, &str) = ("STUDYBOT__UPLOADS__ENABLED", "true");

fn pdf() -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/formats/latex.pdf")).unwrap()
}

fn probe() -> (String, String) {
    crate::common::latex_pdf_probe()
}

/// Everything the bot wrote in `chat`: messages sent and the texts of its edits.
fn said(api: &FakeApi, chat: i64) -> Vec<String> {
    let edits = api
        .calls_to("editMessageText")
        .into_iter()
        .filter(|c| c.ok() && c.body["chat_id"].as_i64() == Some(chat))
        .map(|c| c.text());
    sent_texts(api, chat).into_iter().chain(edits).collect()
}

fn wait_said(api: &FakeApi, chat: i64, needle: &str, limit: Duration) -> String {
    let mut found = String::new();
    wait_until(
        api,
        &format!("{chat} is told “{needle}”"),
        limit,
        || match said(api, chat).into_iter().find(|t| t.contains(needle)) {
            Some(t) => {
                found = t;
                true
            }
            None => false,
        },
    );
    found
}

/// Sends `bytes` as `name` in `chat` from `user` (captioned `caption`), as Telegram delivers
/// a document message.
fn send_file(
    api: &FakeApi,
    chat: i64,
    user: i64,
    bytes: Vec<u8>,
    name: &str,
    caption: Option<&str>,
) {
    let file = api.add_file(bytes, name);
    api.push_update(fake_api::document_message(
        chat, user, "Reader", &file, caption,
    ));
}

fn ask(api: &FakeApi, chat: i64, user: i64, text: &str) {
    let update = if chat > 0 {
        fake_api::private_text(chat, "Reader", text)
    } else {
        fake_api::group_text(chat, user, "Reader", text)
    };
    api.push_update(update);
}

/// The bot's answer to `question` in `chat` (the first message quoting it back, or the
/// latest message after it was asked).
fn answer_to(api: &FakeApi, chat: i64, before: usize) -> String {
    wait_until(api, "an answer", WAIT, || {
        sent_texts(api, chat).len() > before
    });
    sent_texts(api, chat).remove(before)
}

fn start(api: &FakeApi, data: &std::path::Path, extra: &[(&str, &str)]) -> BotProcess {
    let mut env = vec![ON];
    env.extend_from_slice(extra);
    ready_bot(api, data, &env)
}

/// Before, a group's PDF had to be copied onto the server and the bot restarted; now the
/// member sends it privately and asks a moment later, in the same process, and the answer
/// names the page.
#[test]
fn a_pdf_sent_privately_is_answered_with_its_page_without_a_restart() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = start(&api, data.path(), &[]);
    let reader = 9101;
    send_file(&api, reader, reader, pdf(), "latex.pdf", None);
    wait_said(&api, reader, "Reading latex.pdf", WAIT);
    let ready = wait_said(&api, reader, "Ready:", READ_WAIT);
    assert!(
        ready.contains("pages") && ready.contains("passages"),
        "{ready}"
    );
    let pid = _bot.child.id();
    let (question, page) = probe();
    let before = sent_texts(&api, reader).len();
    ask(&api, reader, reader, &question);
    let answer = answer_to(&api, reader, before);
    assert!(answer.contains(&format!("p. {page}")), "{answer}");
    assert_eq!(_bot.child.id(), pid);
    let before = sent_texts(&api, reader).len();
    ask(&api, reader, reader, "/texts");
    let texts = answer_to(&api, reader, before);
    assert!(texts.contains("added by Reader"), "{texts}");
    assert!(api.calls_to("getFile").len() == 1);
    // Inline mode answers from the member's own text, and nobody else's.
    for (user, own) in [(reader, true), (reader + 1, false)] {
        let before = api.calls_to("answerInlineQuery").len();
        api.push_update(fake_api::inline_query(user, &question));
        let calls = api.wait_for("answerInlineQuery", before + 1, WAIT);
        let results = calls[before].body["results"].to_string();
        assert_eq!(
            results.contains(&format!("p. {page}")),
            own,
            "user {user}: {results}"
        );
    }
    assert_no_violations(&api);
}

/// A member's /add in a group is refused (adding is for admins by default), an admin's
/// caption /add works, and another group never sees the text: not in /texts, not in answers.
#[test]
fn a_groups_text_is_added_by_its_admin_only_and_stays_out_of_other_groups() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = start(&api, data.path(), &[]);
    let (group, other) = (-100_9102, -100_9103);
    let (admin, member) = (9104, 9105);
    api.set_member(group, admin, "administrator");
    send_file(&api, group, member, pdf(), "latex.pdf", Some("/add"));
    wait_said(
        &api,
        group,
        "Only an admin of this chat can add texts",
        WAIT,
    );
    assert!(
        api.calls_to("getFile").is_empty(),
        "a refused file was downloaded"
    );
    // A plain document in a group is chatter.
    send_file(&api, group, admin, pdf(), "latex.pdf", None);
    send_file(&api, group, admin, pdf(), "latex.pdf", Some("/add"));
    wait_said(&api, group, "Ready:", READ_WAIT);
    assert_eq!(api.calls_to("getFile").len(), 1);
    let (question, page) = probe();
    let before = sent_texts(&api, group).len();
    ask(&api, group, member, &format!("/ask {question}"));
    let answer = answer_to(&api, group, before);
    assert!(answer.contains(&format!("p. {page}")), "{answer}");
    let before = sent_texts(&api, other).len();
    ask(&api, other, member, &format!("/ask {question}"));
    let elsewhere = answer_to(&api, other, before);
    assert!(!elsewhere.contains(&format!("p. {page}")), "{elsewhere}");
    let before = sent_texts(&api, other).len();
    ask(&api, other, member, "/texts");
    let listed = answer_to(&api, other, before);
    assert!(!listed.contains("added by"), "{listed}");
    assert_no_violations(&api);
}

/// A restart keeps an added text (its record, parsed form and index), and the same file
/// sent again is recognised instead of read twice.
#[test]
fn a_restart_keeps_an_added_text_and_the_same_file_again_is_recognised() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let reader = 9106;
    {
        let _bot = start(&api, data.path(), &[]);
        let file = api.add_file(pdf(), "latex.pdf");
        let update = api.push_update(fake_api::document_message(
            reader, reader, "Reader", &file, None,
        ));
        wait_said(&api, reader, "Ready:", READ_WAIT);
        // Stopped once Telegram was told the update is handled: an update killed before that
        // is delivered again (the durable inbox of the reliability work will change that).
        wait_until(&api, "the document's update is confirmed", WAIT, || {
            api.calls_to("getUpdates")
                .iter()
                .any(|c| c.body["offset"].as_i64().is_some_and(|o| o > update))
        });
    }
    let _bot = start(&api, data.path(), &[]);
    let (question, page) = probe();
    let before = sent_texts(&api, reader).len();
    ask(&api, reader, reader, &question);
    let answer = answer_to(&api, reader, before);
    assert!(answer.contains(&format!("p. {page}")), "{answer}");
    assert_eq!(api.calls_to("getFile").len(), 1, "the file was read twice");
    send_file(&api, reader, reader, pdf(), "copy of latex.pdf", None);
    wait_said(&api, reader, "already here as text 2", WAIT);
    assert_no_violations(&api);
}

/// `/remove` asks first, then removes the text; a button on an old answer from it says the
/// text was removed instead of showing another passage.
#[test]
fn a_removed_text_is_gone_and_its_old_buttons_say_so() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = start(&api, data.path(), &[]);
    let reader = 9107;
    send_file(&api, reader, reader, pdf(), "latex.pdf", None);
    wait_said(&api, reader, "Ready:", READ_WAIT);
    // Removed once its vectors are written: a removal while they are computed leaves their
    // folder behind (noted as a known gap of the library).
    wait_said(&api, reader, "Semantic ranking is on", READ_WAIT);
    let (question, _) = probe();
    let before = api.calls_to("sendMessage").len();
    ask(&api, reader, reader, &question);
    wait_until(&api, "the answer", WAIT, || {
        api.calls_to("sendMessage").len() > before
    });
    let answer = api.calls_to("sendMessage").remove(before);
    let full = keyboard_data(&answer)
        .into_iter()
        .find(|(label, _)| label == "Full passage")
        .unwrap()
        .1;
    let answer_id = answer.result()["message_id"].as_i64().unwrap();
    let before = api.calls_to("sendMessage").len();
    ask(&api, reader, reader, "/remove 2");
    wait_until(&api, "the confirmation", WAIT, || {
        api.calls_to("sendMessage").len() > before
    });
    let prompt = api.calls_to("sendMessage").remove(before);
    assert!(prompt.text().contains("Remove"), "{}", prompt.text());
    let confirm = keyboard_data(&prompt)
        .into_iter()
        .find(|(label, _)| label == "Remove it")
        .unwrap()
        .1;
    let prompt_id = prompt.result()["message_id"].as_i64().unwrap();
    api.push_update(fake_api::callback(reader, reader, prompt_id, &confirm));
    wait_said(&api, reader, "Removed", WAIT);
    api.push_update(fake_api::callback(reader, reader, answer_id, &full));
    wait_until(&api, "the old button is answered", WAIT, || {
        api.calls_to("answerCallbackQuery").iter().any(|c| {
            c.body["text"]
                .as_str()
                .is_some_and(|t| t.contains("removed"))
        })
    });
    let before = sent_texts(&api, reader).len();
    ask(&api, reader, reader, "/texts");
    let texts = answer_to(&api, reader, before);
    assert!(!texts.contains("added by"), "{texts}");
    let folders = std::fs::read_dir(data.path().join("texts"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(folders, 0, "the removed text's files are still there");
    assert_no_violations(&api);
}

/// Adding that is off, a format that does not work, a file over the limit and a chat at its
/// quota each get one line naming the setting and its value, and download nothing.
#[test]
fn every_refused_file_gets_one_line_naming_the_limit_and_changes_nothing() {
    let data = tempfile::tempdir().unwrap();
    {
        let api = FakeApi::start();
        let _off = ready_bot(&api, data.path(), &[]);
        send_file(&api, 9108, 9108, pdf(), "latex.pdf", None);
        let line = wait_said(&api, 9108, "off on this bot", WAIT);
        assert!(line.contains("STUDYBOT__UPLOADS__ENABLED=true"), "{line}");
        assert!(
            api.calls_to("getFile").is_empty(),
            "a refused file was downloaded"
        );
    }
    let api = FakeApi::start();
    let _bot = start(
        &api,
        data.path(),
        &[
            ("STUDYBOT__UPLOADS__MAX_FILE_MB", "1"),
            ("STUDYBOT__UPLOADS__MAX_TEXTS_PER_CHAT", "1"),
        ],
    );
    let reader = 9109;
    send_file(
        &api,
        reader,
        reader,
        b"a,b\n1,2\n".to_vec(),
        "sheet.xlsx",
        None,
    );
    let line = wait_said(&api, reader, "files; sheet.xlsx is none of them", WAIT);
    assert!(line.contains("PDF, EPUB, DOCX, HTML, TXT and MD"), "{line}");
    send_file(&api, reader, reader, vec![b'a'; 2 << 20], "big.txt", None);
    wait_said(
        &api,
        reader,
        "the limit here is 1 MB (uploads.max_file_mb)",
        WAIT,
    );
    assert!(
        api.calls_to("getFile").is_empty(),
        "a refused file was downloaded"
    );
    send_file(&api, reader, reader, pdf(), "latex.pdf", None);
    wait_said(&api, reader, "Ready:", READ_WAIT);
    send_file(
        &api,
        reader,
        reader,
        b"# Notes\n\nThe harbour lights were lit at dusk.\n".to_vec(),
        "notes.md",
        None,
    );
    wait_said(&api, reader, "uploads.max_texts_per_chat = 1", WAIT);
    assert_eq!(api.calls_to("getFile").len(), 1);
    assert_no_violations(&api);
}

/// A bot killed (SIGKILL) while it reads a text leaves no half text: the next start discards
/// the job, tells the chat, and serves everything else.
#[test]
fn a_kill_while_reading_leaves_no_half_text_and_the_chat_is_told() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let reader = 9110;
    let db = data.path().join("studybot.sqlite3");
    let status = || -> Option<String> {
        let conn = rusqlite::Connection::open(&db).ok()?;
        conn.query_row("SELECT status FROM added_texts", [], |r| r.get(0))
            .ok()
    };
    // The bigger PDF: long enough to read that the job is caught in the middle.
    let book = std::fs::read(root().join("eval/formats/bike-coop/pdf/members-manual.pdf")).unwrap();
    let mut caught = false;
    for _ in 0..3 {
        let mut bot = start(&api, data.path(), &[]);
        send_file(
            &api,
            reader,
            reader,
            book.clone(),
            "members-manual.pdf",
            None,
        );
        let deadline = std::time::Instant::now() + READ_WAIT;
        while std::time::Instant::now() < deadline {
            match status().as_deref() {
                Some("reading") => {
                    bot.child.kill().unwrap();
                    caught = true;
                    break;
                }
                Some(_) => break,
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        let _ = bot.child.wait();
        if caught {
            break;
        }
        // Read before it could be caught: remove it and try again.
        let _ = std::fs::remove_dir_all(data.path());
        std::fs::create_dir_all(data.path()).unwrap();
    }
    assert!(caught, "the reading was never caught in the middle");
    let first_job: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT id FROM added_texts", [], |r| r.get(0))
        .unwrap();
    let _bot = start(&api, data.path(), &[]);
    wait_said(
        &api,
        reader,
        "restarted while reading members-manual.pdf",
        WAIT,
    );
    assert!(bot_log(data.path()).contains("discarded a text"));
    // Telegram may deliver the file again (the kill came before the bot said it was done
    // with it): then it is read anew, as a new job. Either way no half text stays.
    wait_until(&api, "no text is being read", READ_WAIT, || {
        status().as_deref() != Some("reading")
    });
    let conn = rusqlite::Connection::open(&db).unwrap();
    let old: i64 = conn
        .query_row(
            "SELECT count(*) FROM added_texts WHERE id = ?1",
            [first_job],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(old, 0, "the unfinished job is still recorded");
    let ready: i64 = conn
        .query_row(
            "SELECT count(*) FROM added_texts WHERE status = 'ready'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let folders = std::fs::read_dir(data.path().join("texts"))
        .map(|d| d.count())
        .unwrap_or(0) as i64;
    assert_eq!(
        folders, ready,
        "files of a text that is not served are left behind"
    );
    let before = sent_texts(&api, reader).len();
    ask(&api, reader, reader, "/texts");
    let answer = answer_to(&api, reader, before);
    assert!(answer.contains("text"), "{answer}");
}

/// A group's added text survives the group becoming a supergroup (before the fix its texts
/// stayed with the old id until a restart), and `/quiz` there asks questions from it, their
/// explanations citing its pages.
#[test]
fn a_groups_text_moves_with_it_to_a_supergroup_and_quizzes_come_from_it() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = start(&api, data.path(), &[("STUDYBOT__UPLOADS__WHO", "members")]);
    let (old, new, member) = (-9120, -100_9120, 9121);
    send_file(&api, old, member, pdf(), "latex.pdf", Some("/add"));
    wait_said(&api, old, "Ready:", READ_WAIT);
    api.push_update(fake_api::migrated(old, new, member));
    let before = sent_texts(&api, new).len();
    ask(&api, new, member, "/texts");
    let listed = answer_to(&api, new, before);
    assert!(listed.contains("added by Reader"), "{listed}");
    ask(&api, new, member, "/quiz 1");
    let polls = api.wait_for("sendPoll", 1, WAIT);
    let poll = &polls[0];
    assert_eq!(poll.body["chat_id"].as_i64(), Some(new));
    let explanation = poll.body["explanation"].as_str().unwrap_or_default();
    assert!(explanation.contains("p. "), "{explanation}");
    assert_no_violations(&api);
}

/// The figures of BENCHMARKS.md for a book added from the chat, end to end through the bot
/// process and the fake Bot API: from the document's update to the "Ready" edit, to the first
/// answer from the book, and to semantic ranking; the bot's peak RSS; and the answer latency
/// of other chats asking at human pace before and while the book is read. A benchmark, not a
/// test: it asserts nothing about speed.
///
/// `STUDYBOT_BENCH_BOOK=/tmp/big.pdf cargo test --release --test suite -- --ignored
/// --nocapture figures_of_a_book_added_from_the_chat`
#[test]
#[ignore = "benchmark: needs STUDYBOT_BENCH_BOOK=FILE and a release build"]
fn figures_of_a_book_added_from_the_chat() {
    use std::time::Instant;
    let path = std::env::var("STUDYBOT_BENCH_BOOK").expect("set STUDYBOT_BENCH_BOOK to a PDF");
    let book = std::fs::read(&path).unwrap();
    let name = std::path::Path::new(&path)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let bot = start(
        &api,
        data.path(),
        &[
            ("STUDYBOT__UPLOADS__MAX_FILE_MB", "50"),
            ("RUST_LOG", "info,studybot::telegram::pipeline=debug"),
        ],
    );
    let reader = 9601;
    let others: Vec<i64> = (9611..9615).collect();
    let questions = [
        "what were factory shop committees",
        "who were the bolsheviks",
        "what did the soviets do",
        "what happened in july",
    ];
    // Each other chat asks every 3 s (a reader's pace: faster, and the flood guard rightly
    // tells them to slow down); the latency of an answer is from its update to the
    // bot's sendMessage.
    let ask_round = |asked: &mut Vec<(i64, usize, Instant)>, round: usize| {
        for &chat in &others {
            let before = sent_texts(&api, chat).len();
            ask(&api, chat, chat, questions[round % questions.len()]);
            asked.push((chat, before, Instant::now()));
        }
    };
    let latencies = |asked: &[(i64, usize, Instant)]| -> Vec<f64> {
        let mut ms: Vec<f64> = asked
            .iter()
            .filter_map(|&(chat, before, at)| {
                let sent: Vec<_> = api
                    .calls_to("sendMessage")
                    .into_iter()
                    .filter(|c| c.ok() && c.body["chat_id"].as_i64() == Some(chat))
                    .collect();
                sent.get(before)
                    .map(|c| c.at.saturating_duration_since(at).as_secs_f64() * 1e3)
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        ms
    };
    let summary = |ms: &[f64]| {
        if ms.is_empty() {
            return "no answers".to_string();
        }
        let p = |q: f64| ms[((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
        format!(
            "{} answers, p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
            ms.len(),
            p(0.5),
            p(0.9),
            p(1.0)
        )
    };
    let mut baseline = Vec::new();
    for round in 0..8 {
        ask_round(&mut baseline, round);
        std::thread::sleep(Duration::from_secs(3));
    }
    let sent_at = Instant::now();
    send_file(&api, reader, reader, book, &name, None);
    let mut during = Vec::new();
    let mut tick = 0;
    let (mut ready, mut first, mut semantic) = (None, None, None);
    let mut asked_book = None;
    // The reader's chat is watched every 100 ms (the book's question goes out as soon as the
    // "Ready" edit is seen); the other chats ask every 3 s.
    while semantic.is_none() && sent_at.elapsed() < Duration::from_secs(600) {
        if tick % 30 == 0 {
            ask_round(&mut during, tick / 30);
        }
        tick += 1;
        let edit_at = |needle: &str| {
            api.calls_to("editMessageText")
                .into_iter()
                .find(|c| {
                    c.ok()
                        && c.body["chat_id"].as_i64() == Some(reader)
                        && c.text().contains(needle)
                })
                .map(|c| c.at.saturating_duration_since(sent_at))
        };
        if ready.is_none() {
            ready = edit_at("Ready:");
            if ready.is_some() {
                asked_book = Some((sent_texts(&api, reader).len(), Instant::now()));
                ask(
                    &api,
                    reader,
                    reader,
                    "what did the harbour council vote on the wage",
                );
            }
        }
        if let (Some((before, _)), None) = (asked_book, first) {
            let sent: Vec<_> = api
                .calls_to("sendMessage")
                .into_iter()
                .filter(|c| c.ok() && c.body["chat_id"].as_i64() == Some(reader))
                .collect();
            if let Some(call) = sent.get(before) {
                let answer = call.result()["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                assert!(
                    answer.contains("p. "),
                    "not answered from the book: {answer}"
                );
                first = Some(call.at.saturating_duration_since(sent_at));
            }
        }
        semantic = edit_at("Semantic ranking is on");
        std::thread::sleep(Duration::from_millis(100));
    }
    let asked_after = asked_book.map(|(_, at)| at.saturating_duration_since(sent_at));
    std::thread::sleep(Duration::from_secs(2));
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", bot.child.id())).unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    // utime, stime, cutime, cstime (fields 14-17, clock ticks of 10 ms): the bot's own CPU
    // time and its document readers'.
    let stat =
        std::fs::read_to_string(format!("/proc/{}/stat", bot.child.id())).unwrap_or_default();
    let ticks: Vec<f64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().skip(11).take(4))
        .into_iter()
        .flatten()
        .filter_map(|t| t.parse().ok())
        .collect();
    if let [user, sys, child_user, child_sys] = ticks[..] {
        println!(
            "bot CPU since start: user {:.2} s, sys {:.2} s; its document readers: user {:.2} s, sys {:.2} s",
            user / 100.0,
            sys / 100.0,
            child_user / 100.0,
            child_sys / 100.0
        );
    }
    let pages = said(&api, reader)
        .into_iter()
        .filter(|t| t.contains(" of ") && t.starts_with("Reading"))
        .count();
    println!("book {name}: {}", said(&api, reader).join(" | "));
    println!("progress edits with a page: {pages}");
    println!("ready (lexical) after {ready:?}; book question asked after {asked_after:?}, answered after {first:?}; semantic ranking after {semantic:?}");
    println!("bot peak RSS {hwm}; load average {}", load.trim());
    let log = bot_log(data.path());
    for needle in [
        "an added text answers",
        "semantic ranking on for an added text",
    ] {
        let line = log.lines().find(|l| l.contains(needle)).unwrap_or("");
        println!(
            "bot log: {}",
            line.split(needle).nth(1).unwrap_or("?").trim()
        );
    }
    let slow: Vec<String> = during
        .iter()
        .filter_map(|&(chat, before, at)| {
            let sent: Vec<_> = api
                .calls_to("sendMessage")
                .into_iter()
                .filter(|c| c.ok() && c.body["chat_id"].as_i64() == Some(chat))
                .collect();
            let ms = sent
                .get(before)?
                .at
                .saturating_duration_since(at)
                .as_millis();
            (ms > 500).then(|| {
                format!(
                    "{ms} ms at {:.1} s",
                    at.saturating_duration_since(sent_at).as_secs_f64()
                )
            })
        })
        .collect();
    println!("other chats' answers over 500 ms: {slow:?}");
    let _ = std::fs::copy(data.path().join("bot.log"), "/tmp/studybot-bench-bot.log");
    println!(
        "other chats before the book: {}",
        summary(&latencies(&baseline))
    );
    println!(
        "other chats while it is read: {}",
        summary(&latencies(&during))
    );
    assert_no_violations(&api);
}

/// The same file sent in a second chat must not be read and given vectors again: it is
/// ready at once with semantic ranking on, and one folder holds it for both chats.
#[test]
fn the_same_file_in_another_chat_reuses_its_reading_and_vectors() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let _bot = start(&api, data.path(), &[]);
    let (first, second) = (9701, 9702);
    send_file(&api, first, first, pdf(), "latex.pdf", None);
    wait_said(&api, first, "Semantic ranking is on", READ_WAIT);
    send_file(&api, second, second, pdf(), "copy.pdf", None);
    let ready = wait_said(&api, second, "Ready:", READ_WAIT);
    assert!(
        ready.contains("Ask away.") && !ready.contains("joins in"),
        "the second chat waits for vectors again: {ready}"
    );
    let folders = std::fs::read_dir(data.path().join("texts"))
        .unwrap()
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().is_dir()))
        .count();
    assert_eq!(folders, 1, "one file, stored twice");
    let folder = std::fs::read_dir(data.path().join("texts"))
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    let originals = std::fs::read_dir(&folder)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "pdf"))
        .count();
    assert_eq!(originals, 1, "a restart would read the text twice");
    let (question, page) = probe();
    let before = sent_texts(&api, second).len();
    ask(&api, second, second, &question);
    let answer = answer_to(&api, second, before);
    assert!(answer.contains(&format!("p. {page}")), "{answer}");
    assert_no_violations(&api);
}

/// With a local Bot API server (`--local`), `getFile` names the file on this machine: it must
/// be read from there (a download of that path would fail), and files past the cloud
/// server's 20 MB are fine when `uploads.max_file_mb` allows them.
#[test]
fn a_local_bot_api_servers_file_path_is_read_from_disk() {
    let api = FakeApi::start();
    api.set_get_file_limit(2000 << 20);
    let data = tempfile::tempdir().unwrap();
    let _bot = start(&api, data.path(), &[]);
    let reader = 9801;
    let copy = data.path().join("local-server-copy.pdf");
    std::fs::write(&copy, pdf()).unwrap();
    let file = api.add_local_file(&copy, "latex.pdf");
    api.push_update(fake_api::document_message(
        reader, reader, "Reader", &file, None,
    ));
    wait_said(&api, reader, "Ready:", READ_WAIT);
    assert!(api.downloads().is_empty(), "{:?}", api.downloads());
    let (question, page) = probe();
    let before = sent_texts(&api, reader).len();
    ask(&api, reader, reader, &question);
    let answer = answer_to(&api, reader, before);
    assert!(answer.contains(&format!("p. {page}")), "{answer}");
    assert_no_violations(&api);
}
