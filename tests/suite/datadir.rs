//! One data directory, one process: a second `bot`, `index` or `chat` on a data directory a
//! bot holds exits at once, and the bot keeps working; `backup` works beside it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{fixture, run, studybot};
use crate::fake_api::{self, FakeApi, TEST_TOKEN};

const WAIT: Duration = Duration::from_secs(30);

/// A running bot process; killed when dropped.
struct Bot(Child);

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bot_command(api: &FakeApi, data: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = studybot(data);
    cmd.arg("bot")
        .env("TELOXIDE_TOKEN", TEST_TOKEN)
        .env("TELOXIDE_API_URL", api.url())
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Starts a bot and waits until it polls (it has registered its commands).
fn ready_bot(api: &FakeApi, data: &Path, env: &[(&str, &str)]) -> Bot {
    let before = api.calls_to("setMyCommands").len();
    let child = bot_command(api, data, env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let bot = Bot(child);
    api.wait_for("setMyCommands", before + 2, WAIT);
    bot
}

/// Runs `cmd` with stdin closed and returns (exit code, stderr), failing if it is still
/// running at the deadline: "exits at once" as a condition, not a timing.
fn exits(cmd: &mut Command) -> (i32, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return (status.code().unwrap_or(-1), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{cmd:?} is still running: it should have been refused");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The refusal: one line naming the data directory and saying another instance holds it.
fn assert_refused(code: i32, err: &str, data: &Path) {
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(&data.display().to_string()), "{err}");
    assert!(err.contains("another studybot instance"), "{err}");
}

/// Waits until the bot has answered `count` messages in `chat`; returns their texts.
fn answers(api: &FakeApi, chat: i64, count: usize) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let texts: Vec<String> = api
            .calls_to("sendMessage")
            .into_iter()
            .filter(|c| c.ok() && c.body["chat_id"].as_i64() == Some(chat))
            .map(|c| c.result()["text"].as_str().unwrap_or_default().to_string())
            .collect();
        if texts.len() >= count {
            return texts;
        }
        assert!(Instant::now() < deadline, "no answer in chat {chat}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Regression: a second `studybot bot` on the same data directory ran beside the first, and
/// both resumed the same quizzes and posted the same polls.
#[test]
fn a_second_instance_on_a_data_directory_exits_at_once_and_the_first_keeps_answering() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let first = ready_bot(&api, data.path(), &[]);

    let (code, err) = exits(&mut bot_command(&api, data.path(), &[]));
    assert_refused(code, &err, data.path());
    let (code, err) = exits(studybot(data.path()).arg("index"));
    assert_refused(code, &err, data.path());
    let (code, err) = exits(studybot(data.path()).arg("chat"));
    assert_refused(code, &err, data.path());
    assert!(
        err.contains(&format!("(process {})", first.0.id())),
        "names the holder: {err}"
    );

    // The first one still answers, and only it polls.
    api.push_update(fake_api::private_text(801, "Ann", "who was john reed"));
    assert!(answers(&api, 801, 1)[0].contains("Reed"));
    assert_eq!(
        api.calls_to("setMyCommands").len(),
        2,
        "the refused bot never started"
    );

    // `backup` only reads: it works beside the running bot, and the copy opens.
    let copy = data.path().join("copy.sqlite3");
    let (code, out, err) = run(studybot(data.path()).arg("backup").arg(&copy));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("backed up"), "{out}");
    let db = rusqlite::Connection::open(&copy).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let tables: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('players', 'quizzes')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 2);

    // Once the first is gone (however it ended), the data directory is free again.
    drop(first);
    let (code, out, err) = run(studybot(data.path()).arg("index"));
    assert_eq!(code, 0, "{out}{err}");
}

/// Regression: `studybot index` removed and rebuilt the stored index a live bot was reading
/// when the corpus had changed on disk.
#[test]
fn index_never_replaces_the_index_a_live_bot_reads() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let corpus = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture("handbook")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, corpus.path().join(path.file_name().unwrap())).unwrap();
    }
    let env = [
        ("STUDYBOT__CORPUS__DIR", corpus.path().to_str().unwrap()),
        ("STUDYBOT__SEARCH__PERSIST_MIN_BYTES", "1"),
        ("STUDYBOT__SEARCH__SEMANTIC", "false"),
    ];
    let bot = ready_bot(&api, data.path(), &env);
    let index = data.path().join("index");
    let listing = |dir: &Path| -> Vec<(String, u64)> {
        let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let hash = std::fs::read_to_string(index.join("built-from")).unwrap();
    let before = listing(&index);

    // The text changes on disk while the bot runs: a rebuild would replace its index.
    let notes = corpus.path().join("notes.txt");
    let mut text = std::fs::read_to_string(&notes).unwrap();
    text.push_str("\n\nA new paragraph about the beehives by the orchard wall.\n");
    std::fs::write(&notes, text).unwrap();
    let index_cmd = || {
        let mut cmd = studybot(data.path());
        cmd.arg("index").envs(env);
        cmd
    };
    let (code, err) = exits(&mut index_cmd());
    assert_refused(code, &err, data.path());
    assert_eq!(
        std::fs::read_to_string(index.join("built-from")).unwrap(),
        hash
    );
    assert_eq!(listing(&index), before, "the live index is untouched");

    // The bot answers from its index as before.
    api.push_update(fake_api::private_text(
        802,
        "Bo",
        "when is the tool shed unlocked",
    ));
    assert!(answers(&api, 802, 1)[0].contains("tool shed"));

    // With the bot gone, `index` rebuilds for the changed text.
    drop(bot);
    let (code, out, err) = run(&mut index_cmd());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("index: built"), "{out}");
    assert_ne!(
        std::fs::read_to_string(index.join("built-from")).unwrap(),
        hash
    );
}
