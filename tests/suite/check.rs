//! `studybot check` as a self-hoster runs it before going live, against the fake Bot API:
//! a ready set-up, one with everything wrong, a bad or unusable token (never shown), broken
//! settings, no token at all.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::common::{fixture, root, run, studybot};
use crate::fake_api::{self, FakeApi, TEST_TOKEN};

/// `studybot check` with the test settings file, the token and the fake API.
fn check(api: &FakeApi, data: &Path) -> Command {
    let mut cmd = studybot(data);
    cmd.args(["check", "--config", "tests/fixtures/check/settings.toml"])
        .env("TELOXIDE_TOKEN", TEST_TOKEN)
        .env("TELOXIDE_API_URL", api.url());
    cmd
}

/// The output with the run's temporary paths and port replaced, for snapshots.
fn stable(out: &str, api: &FakeApi, data: &Path) -> String {
    out.replace(&format!("{}/", api.url()), "[api]")
        .replace(&data.display().to_string(), "[data]")
}

fn assert_no_token(out: &str, err: &str) {
    let secret = TEST_TOKEN.split_once(':').unwrap().1;
    assert!(!out.contains(secret), "the token is shown: {out}");
    assert!(!err.contains(secret), "the token is shown: {err}");
}

#[test]
fn a_ready_set_up_is_ready() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let (code, out, err) = run(&mut check(&api, data.path()));
    assert_eq!(code, 0, "{out}{err}");
    assert_no_token(&out, &err);
    insta::assert_snapshot!("check_ready", stable(&out, &api, data.path()));
    let asked: Vec<String> = api.calls().into_iter().map(|c| c.method).collect();
    assert_eq!(asked, ["getMe", "getWebhookInfo"], "check changes nothing");
    let left: Vec<String> = std::fs::read_dir(data.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "semantic")
        .collect();
    assert!(left.is_empty(), "check leaves nothing behind: {left:?}");
}

#[test]
fn everything_wrong_is_reported_at_once() {
    let api = FakeApi::start();
    api.set_me(json!({
        "supports_inline_queries": false,
        "can_read_all_group_messages": true,
        "can_join_groups": false,
    }));
    api.set_webhook(
        "https://old.example.org/hook",
        json!({"last_error_message": "Connection refused", "last_error_date": 1700000000}),
    );
    let data = tempfile::tempdir().unwrap();
    // A running instance holds the data_dir lock.
    let lock = std::fs::File::create(data.path().join("studybot.lock")).unwrap();
    lock.try_lock().unwrap();
    let corpus = fixture("check/corpus");
    let (code, out, err) = run(check(&api, data.path()).env("STUDYBOT__CORPUS__DIR", &corpus));
    assert_eq!(code, 1, "{out}{err}");
    assert_no_token(&out, &err);
    let out = out.replace(&root().display().to_string(), "[root]");
    insta::assert_snapshot!("check_problems", stable(&out, &api, data.path()));
    drop(lock);
    // Released, the lock is no error any more, and the rest are warnings.
    let (code, out, _) = run(check(&api, data.path()).env("STUDYBOT__CORPUS__DIR", &corpus));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\nready ("), "{out}");
}

#[test]
fn a_refused_token_is_an_error_and_never_shown() {
    let api = FakeApi::start();
    api.fail_next(
        "getMe",
        1,
        401,
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
    );
    let data = tempfile::tempdir().unwrap();
    let (code, out, err) = run(&mut check(&api, data.path()));
    assert_eq!(code, 1, "{out}{err}");
    assert_no_token(&out, &err);
    assert!(
        stable(&out, &api, data.path())
            .contains("error    bot: Telegram via [api] refused the token (Unauthorized)"),
        "{out}"
    );
    assert!(
        out.ends_with("not ready: 1 error to fix (0 warnings)\n"),
        "{out}"
    );

    // A malformed token, and an API that cannot be reached.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let unreachable = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    for (token, url, expected) in [
        (
            "123456 TESTTOKEN",
            api.url(),
            "error    token: the bot token is malformed",
        ),
        (
            TEST_TOKEN,
            unreachable,
            "error    bot: getMe via http://127.0.0.1:",
        ),
    ] {
        let (code, out, err) = run(check(&api, data.path())
            .env("TELOXIDE_TOKEN", token)
            .env("TELOXIDE_API_URL", url));
        assert_eq!(code, 1, "{out}{err}");
        assert_no_token(&out, &err);
        assert!(out.contains(expected), "{out}");
    }
}

#[test]
fn broken_settings_are_an_error_and_stop_there() {
    let data = tempfile::tempdir().unwrap();
    let (code, out, err) = run(studybot(data.path())
        .arg("check")
        .env("STUDYBOT__SEARCH__TOP_K", "0")
        .env("TELOXIDE_TOKEN", TEST_TOKEN));
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        out,
        "error    settings: configuration: search.top_k: must be between 1 and 10\n\
         not ready: 1 error to fix (0 warnings)\n"
    );
    let (code, out, _) = run(studybot(data.path()).arg("check").env(
        "STUDYBOT__TELEGRAM__WEBHOOK_URL",
        "http://plain.example.org/hook",
    ));
    assert_eq!(code, 1);
    assert!(
        out.contains("telegram.webhook_url: must be an https URL"),
        "{out}"
    );
}

#[test]
fn without_a_token_the_telegram_checks_are_skipped() {
    let data = tempfile::tempdir().unwrap();
    let (code, out, err) = run(studybot(data.path()).arg("check"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("warning  telegram: no token (TELOXIDE_TOKEN or telegram.token)"),
        "{out}"
    );
    assert!(out.ends_with("ready (1 warning)\n"), "{out}");
}

#[test]
fn a_webhook_configured_but_not_set_and_one_set_elsewhere_are_reported() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let hook = "https://bot.example.org/telegram";
    let (code, out, _) = run(check(&api, data.path()).env("STUDYBOT__TELEGRAM__WEBHOOK_URL", hook));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "ok       webhook: telegram.webhook_url is {hook} (webhook mode), and Telegram has no webhook set yet: studybot bot sets it when it starts"
        )),
        "{out}"
    );
    api.set_webhook("https://other.example.org/x", json!({}));
    let (_, out, _) = run(check(&api, data.path()).env("STUDYBOT__TELEGRAM__WEBHOOK_URL", hook));
    assert!(
        out.contains(&format!(
            "warning  webhook: Telegram delivers updates to https://other.example.org/x, but telegram.webhook_url is {hook}"
        )),
        "{out}"
    );
    api.set_webhook(hook, json!({"pending_update_count": 2}));
    let (_, out, _) = run(check(&api, data.path()).env("STUDYBOT__TELEGRAM__WEBHOOK_URL", hook));
    assert!(
        out.contains(&format!(
            "ok       webhook: {hook}, as telegram.webhook_url says (2 updates pending)"
        )),
        "{out}"
    );
}

/// What `check` says of a webhook left by another deployment: `studybot bot` removes it when
/// it starts, then answers by long polling.
#[test]
fn the_bot_removes_a_webhook_left_by_another_deployment() {
    let api = FakeApi::start();
    api.set_webhook("https://old.example.org/hook", json!({}));
    let data = tempfile::tempdir().unwrap();
    /// Kills the bot when the test ends, passed or not.
    struct Running(std::process::Child);
    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _bot = Running(
        studybot(data.path())
            .arg("bot")
            .env("TELOXIDE_TOKEN", TEST_TOKEN)
            .env("TELOXIDE_API_URL", api.url())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    api.push_update(fake_api::private_text(
        42,
        "Ann",
        "what were factory shop committees",
    ));
    api.wait_for("sendMessage", 1, Duration::from_secs(30));
    assert!(!api.calls_to("deleteWebhook").is_empty());
}
