//! Webhook mode and the operations endpoints of the real `studybot bot` process: the secret
//! header, `/healthz`, `/metrics`, bad settings, and the webhook left set at a stop (and
//! removed by a bot that polls). The flows users see in both modes are in [`bot`](crate::bot).

use std::net::SocketAddr;

use serde_json::json;

use crate::bot::{
    assert_no_violations, bot_log, free_port, ready_bot, sent_texts, terminate, wait_until, Mode,
    ModeEnv, WAIT,
};
use crate::common::{run, studybot};
use crate::fake_api::{self, http_request, FakeApi, TEST_TOKEN};

/// A secret that is easy to spot in a log.
const SECRET: &str = "Webhook_secret-SPOTME-42";

/// The value of the metric line that starts with `name` (`name` includes any labels).
pub fn metric(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    http_request(addr, "GET", path, None, "")
}

#[test]
fn the_webhook_refuses_requests_without_the_secret_and_serves_healthz_and_metrics() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let mode_env = ModeEnv::new(Mode::Webhook, &api);
    let env = mode_env.with(&[("STUDYBOT__TELEGRAM__WEBHOOK_SECRET", SECRET)]);
    let listen: SocketAddr = env
        .iter()
        .find(|(k, _)| *k == "STUDYBOT__TELEGRAM__LISTEN")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let mut bot = ready_bot(&api, data.path(), &env);
    let (url, secret) = api.webhook();
    assert_eq!(url, "https://bot.example.org/telegram/hook");
    assert_eq!(secret, SECRET);
    assert!(api.calls_to("deleteWebhook").is_empty());

    let (status, body) = get(listen, "/healthz");
    assert_eq!(status, 200, "{body}");
    let (status, before) = get(listen, "/metrics");
    assert_eq!(status, 200, "{before}");
    assert_eq!(
        metric(&before, "studybot_questions_answered_total"),
        Some(0.0)
    );

    // Missing and wrong secrets: 401, and the question is never answered.
    let question = |text: &str| fake_api::private_text(601, "Ann", text);
    assert_eq!(
        api.post_update(question("what were factory shop committees"), None),
        401
    );
    assert_eq!(
        api.post_update(question("what were factory shop committees"), Some("wrong")),
        401
    );
    assert_eq!(
        api.post_update(
            question("what were factory shop committees"),
            Some(&SECRET[..SECRET.len() - 1])
        ),
        401
    );
    // A body that is no update: 400, and the bot goes on.
    let (status, _) = http_request(listen, "POST", "/telegram/hook", Some(SECRET), "{not json");
    assert_eq!(status, 400);
    // The right secret: answered. It is the first and only message sent, so the refused
    // requests were not handled.
    api.push_update(question("how did the soviets organise elections"));
    wait_until(&api, "the question is answered", WAIT, || {
        !sent_texts(&api, 601).is_empty()
    });
    assert_eq!(api.deliveries().last().map(|d| d.1), Some(200));
    let (status, after) = get(listen, "/metrics");
    assert_eq!(status, 200);
    assert_eq!(
        metric(&after, "studybot_questions_answered_total"),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        metric(&after, "studybot_answer_latency_seconds_count"),
        Some(1.0),
        "{after}"
    );
    assert_eq!(metric(&after, "studybot_updates_handled_total"), Some(1.0));
    let sent = sent_texts(&api, 601);
    assert_eq!(sent.len(), 1, "{sent:?}");

    // A stop leaves the webhook set, so that updates wait at Telegram for the next start.
    let (_, clean) = terminate(&mut bot);
    assert!(clean, "exit status after SIGTERM");
    assert_eq!(api.webhook().0, "https://bot.example.org/telegram/hook");
    assert!(api.calls_to("deleteWebhook").is_empty());
    assert!(
        !bot_log(data.path()).contains("SPOTME"),
        "the secret is logged"
    );
    assert_no_violations(&api);
}

#[test]
fn a_polling_bot_removes_a_leftover_webhook_and_serves_metrics_when_asked() {
    let api = FakeApi::start();
    api.set_webhook("https://old.example.org/hook", json!({}));
    let data = tempfile::tempdir().unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let listen = addr.to_string();
    let _bot = ready_bot(
        &api,
        data.path(),
        &[("STUDYBOT__TELEGRAM__METRICS_LISTEN", &listen)],
    );
    api.push_update(fake_api::private_text(
        602,
        "Bo",
        "what were factory shop committees",
    ));
    wait_until(&api, "the question is answered", WAIT, || {
        !sent_texts(&api, 602).is_empty()
    });
    assert!(!api.calls_to("deleteWebhook").is_empty());
    assert_eq!(api.webhook().0, "");
    assert_eq!(get(addr, "/healthz").0, 200);
    // The answer is queued before it is sent, so the counter has moved by now.
    let (status, metrics) = get(addr, "/metrics");
    assert_eq!(status, 200);
    assert_eq!(
        metric(&metrics, "studybot_questions_answered_total"),
        Some(1.0),
        "{metrics}"
    );
    for line in [
        "studybot_questions_refused_total{reason=\"not_in_text\"}",
        "studybot_quizzes_run_total",
        "studybot_flood_drops_total{stage=\"guard\"}",
        "studybot_flood_drops_total{stage=\"outbox\"}",
        "studybot_send_retries_total",
        "studybot_send_errors_total",
    ] {
        assert!(metric(&metrics, line).is_some(), "{line} in {metrics}");
    }
    assert_no_violations(&api);
}

#[test]
fn bad_webhook_settings_are_a_one_line_error_naming_the_key() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    for (key, value, named) in [
        (
            "STUDYBOT__TELEGRAM__WEBHOOK_SECRET",
            "no spaces allowed SPOTME",
            "telegram.webhook_secret",
        ),
        (
            "STUDYBOT__TELEGRAM__LISTEN",
            "localhost-port",
            "telegram.listen",
        ),
        (
            "STUDYBOT__TELEGRAM__METRICS_LISTEN",
            &port,
            "telegram.metrics_listen",
        ),
        (
            "STUDYBOT__TELEGRAM__WEBHOOK_URL",
            "http://bot.example.org/hook",
            "telegram.webhook_url",
        ),
    ] {
        let (code, out, err) = run(studybot(data.path())
            .arg("bot")
            .env("TELOXIDE_TOKEN", TEST_TOKEN)
            .env("TELOXIDE_API_URL", "http://127.0.0.1:9")
            .env(
                "STUDYBOT__TELEGRAM__WEBHOOK_URL",
                "https://bot.example.org/hook",
            )
            .env(key, value));
        assert_eq!(code, 2, "{key}={value}: {err}");
        assert!(out.is_empty());
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(named), "{key}: {err}");
        assert!(!err.contains("SPOTME"), "{err}");
    }
}

/// Telegram starts refusing the token (revoked in @BotFather): the bot went on retrying
/// `getUpdates` forever, deaf and looking alive. Now it exits with code 2 (which the systemd
/// unit does not restart) and one line saying what to do.
#[test]
fn a_revoked_token_ends_the_bot_with_code_2_and_one_clear_line() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let mut bot = ready_bot(&api, data.path(), &[]);
    api.fail_next(
        "getUpdates",
        1000,
        401,
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
    );
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = bot.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < WAIT,
            "the bot went on with a refused token"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(2));
    let log = bot_log(data.path());
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("refused the bot token"))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("@BotFather"), "{log}");
}

/// `getUpdates` keeps failing (Telegram unreachable): `/healthz` said ok all the same. Now it
/// turns 503 once the bot has not heard from Telegram for 45 s, and back to 200 when it does.
#[test]
fn healthz_fails_while_the_bot_does_not_hear_from_telegram() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let listen_text = listen.to_string();
    let _bot = ready_bot(
        &api,
        data.path(),
        &[("STUDYBOT__TELEGRAM__METRICS_LISTEN", &listen_text)],
    );
    wait_until(&api, "healthz answers", WAIT, || {
        get(listen, "/healthz").0 == 200
    });
    api.fail_next(
        "getUpdates",
        1000,
        502,
        json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}),
    );
    wait_until(
        &api,
        "healthz turns unhealthy",
        std::time::Duration::from_secs(90),
        || get(listen, "/healthz").0 == 503,
    );
    assert!(get(listen, "/healthz")
        .1
        .contains("no contact with Telegram"));
    api.clear_failures();
    wait_until(
        &api,
        "healthz recovers",
        std::time::Duration::from_secs(90),
        || get(listen, "/healthz").0 == 200,
    );
}

/// Sends raw request `head` (no body follows) to `addr` and returns the status line of the
/// answer, waiting at most `limit`.
fn raw_status(addr: SocketAddr, head: &str, limit: std::time::Duration) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(limit)).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = [0u8; 256];
    let n = stream.read(&mut answer).unwrap_or(0);
    String::from_utf8_lossy(&answer[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Anyone who can reach the listener: a request announcing 100 MB without the secret was
/// read (up to 2 MB) before the secret was checked, a slow body held its connection open,
/// headers sent without end held a connection, and every refusal was a log line. Now the
/// secret is checked on the headers, a body is read only up to 256 KB and for 10 s, headers
/// get 10 s, and refusals are logged once a minute.
#[test]
fn the_webhook_checks_the_secret_before_the_body_and_bounds_what_it_reads() {
    let api = FakeApi::start();
    let data = tempfile::tempdir().unwrap();
    let mode_env = ModeEnv::new(Mode::Webhook, &api);
    let env = mode_env.with(&[("STUDYBOT__TELEGRAM__WEBHOOK_SECRET", SECRET)]);
    let listen: SocketAddr = env
        .iter()
        .find(|(k, _)| *k == "STUDYBOT__TELEGRAM__LISTEN")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let _bot = ready_bot(&api, data.path(), &env);
    let short = std::time::Duration::from_secs(5);
    // No secret, a huge body announced and never sent: refused at once.
    let head = "POST /telegram/hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n";
    assert!(raw_status(listen, head, short).contains("401"));
    // The secret, and a body over 256 KB: refused.
    let big = format!(
        "{{\"update_id\": 1, \"pad\": \"{}\"}}",
        "x".repeat(300 * 1024)
    );
    let (status, _) = http_request(listen, "POST", "/telegram/hook", Some(SECRET), &big);
    assert_eq!(status, 413);
    // The secret, and a body that never comes: given up after 10 s.
    let head = format!(
        "POST /telegram/hook HTTP/1.1\r\nHost: x\r\nX-Telegram-Bot-Api-Secret-Token: {SECRET}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    );
    assert!(raw_status(listen, &head, std::time::Duration::from_secs(20)).contains("408"));
    // Headers that never end: the connection is closed after 10 s, not held.
    {
        use std::io::{Read as _, Write as _};
        let mut slow = std::net::TcpStream::connect(listen).unwrap();
        slow.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        slow.write_all(b"POST /telegram/hook HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        let started = std::time::Instant::now();
        let mut answer = [0u8; 256];
        let closed = matches!(slow.read(&mut answer), Ok(0) | Err(_));
        assert!(
            closed && started.elapsed() < std::time::Duration::from_secs(25),
            "a connection whose headers never end was kept {:?}",
            started.elapsed()
        );
    }
    // Thirty refusals make one log line, not thirty.
    for _ in 0..30 {
        let (status, _) = http_request(listen, "POST", "/telegram/hook", None, "{}");
        assert_eq!(status, 401);
    }
    let log = bot_log(data.path());
    let lines = log
        .lines()
        .filter(|l| l.contains("webhook requests refused"))
        .count();
    assert!(lines <= 1, "{log}");
    // And the bot still answers.
    api.push_update(fake_api::private_text(602, "Ann", "who was john reed"));
    wait_until(&api, "the question is answered", WAIT, || {
        !sent_texts(&api, 602).is_empty()
    });
    assert!(!log.contains("SPOTME"));
    assert_no_violations(&api);
}
