//! Self-tests of the fake Bot API server, with teloxide itself as the client.

use std::time::Duration;

use serde_json::json;
use teloxide::adaptors::throttle::Limits;
use teloxide::prelude::*;
use teloxide::types::{
    InlineKeyboardButton, InlineKeyboardMarkup, InputPollOption, ParseMode, PollType, UpdateKind,
};
use teloxide::RequestError;

use crate::fake_api::{self, FakeApi, TEST_TOKEN};

fn bot(api: &FakeApi) -> Bot {
    Bot::new(TEST_TOKEN).set_api_url(api.url().parse().unwrap())
}

#[tokio::test]
async fn get_me_works() {
    let api = FakeApi::start();
    let me = bot(&api).get_me().await.unwrap();
    assert_eq!(me.id.0 as i64, api.bot_user_id());
    assert!(me.is_bot);
    assert_eq!(me.username(), "studybot_test_bot");
    assert!(me.supports_inline_queries);
    assert!(!me.can_read_all_group_messages);
    assert_eq!(api.calls_to("getme").len(), 1);
    assert_eq!(api.calls()[0].token, TEST_TOKEN);
    assert!(api.violations().is_empty(), "{:?}", api.violations());
}

#[tokio::test]
async fn html_message_is_recorded_with_entities_and_markup() {
    let api = FakeApi::start();
    let keyboard = InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("Next", "next:1")]]);
    let msg = bot(&api)
        .send_message(
            ChatId(42),
            "<b>Bold</b> &amp; <a href=\"https://example.org/?a=1&amp;b=2\">link</a> é",
        )
        .parse_mode(ParseMode::Html)
        .reply_markup(keyboard)
        .await
        .unwrap();
    assert_eq!(msg.text(), Some("Bold & link é"));
    assert_eq!(msg.chat.id, ChatId(42));
    assert!(msg.chat.is_private());
    assert_eq!(msg.entities().map(<[_]>::len), Some(2));
    assert!(msg.reply_markup().is_some());

    let calls = api.wait_for("sendMessage", 1, Duration::from_secs(1));
    assert_eq!(calls[0].body["chat_id"], json!(42));
    assert_eq!(calls[0].body["parse_mode"], json!("HTML"));
    assert!(calls[0].text().starts_with("<b>Bold</b>"));
    assert_eq!(
        calls[0].result()["message_id"].as_i64(),
        Some(msg.id.0 as i64)
    );
    assert!(api.violations().is_empty(), "{:?}", api.violations());

    // Editing to the same content is refused like Telegram does; a real edit works.
    let b = bot(&api);
    let same = b
        .edit_message_text(ChatId(42), msg.id, "Bold")
        .reply_markup(InlineKeyboardMarkup::new([[
            InlineKeyboardButton::callback("Next", "next:1"),
        ]]))
        .await;
    assert!(same.is_ok());
    let again = b
        .edit_message_text(ChatId(42), msg.id, "Bold")
        .reply_markup(InlineKeyboardMarkup::new([[
            InlineKeyboardButton::callback("Next", "next:1"),
        ]]))
        .await;
    assert!(
        matches!(
            again,
            Err(RequestError::Api(teloxide::ApiError::MessageNotModified))
        ),
        "{again:?}"
    );
    assert!(api.violations().is_empty(), "{:?}", api.violations());
}

#[tokio::test]
async fn invalid_html_is_a_violation_and_an_error() {
    let api = FakeApi::start();
    let b = bot(&api);
    let res = b
        .send_message(ChatId(42), "<b>x")
        .parse_mode(ParseMode::Html)
        .await;
    assert!(res.is_err(), "{res:?}");
    for bad in ["a < b", "Tom & Jerry", "<div>x</div>", "<b><i>x</b></i>"] {
        let res = b
            .send_message(ChatId(42), bad)
            .parse_mode(ParseMode::Html)
            .await;
        assert!(res.is_err(), "{bad}: {res:?}");
    }
    assert_eq!(api.violations().len(), 5, "{:?}", api.violations());
    assert!(api.violations()[0].contains("invalid HTML"));
    assert!(api
        .wait_for("sendMessage", 0, Duration::from_millis(10))
        .is_empty());

    // Plain text is not parsed; too long text is refused.
    b.send_message(ChatId(42), "a < b & c").await.unwrap();
    let long = b.send_message(ChatId(42), "x".repeat(4097)).await;
    assert!(
        matches!(
            long,
            Err(RequestError::Api(teloxide::ApiError::MessageIsTooLong))
        ),
        "{long:?}"
    );
    assert_eq!(api.violations().len(), 6);
}

#[tokio::test]
async fn retry_after_is_returned_and_throttle_retries() {
    let api = FakeApi::start();
    let too_many = json!({
        "ok": false, "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1}
    });
    api.fail_next("sendMessage", 1, 429, too_many.clone());
    let res = bot(&api).send_message(ChatId(7), "hi").await;
    assert!(matches!(res, Err(RequestError::RetryAfter(_))), "{res:?}");
    assert_eq!(api.calls_to("sendMessage").len(), 1);

    let api = FakeApi::start();
    api.fail_next("sendMessage", 1, 429, too_many);
    let throttled = bot(&api).throttle(Limits::default());
    let msg = throttled.send_message(ChatId(7), "hi").await.unwrap();
    assert_eq!(msg.text(), Some("hi"));
    let calls = api.calls_to("sendMessage");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].status, 429);
    assert_eq!(calls[1].status, 200);
}

#[tokio::test]
async fn long_poll_returns_pushed_updates() {
    let api = FakeApi::start();
    let b = bot(&api);
    // Nothing queued: returns empty after the (capped) timeout.
    let empty = b.get_updates().offset(0).timeout(1).await.unwrap();
    assert!(empty.is_empty());

    let update = fake_api::private_text(1001, "Ann", "/ask what is a cell?");
    let handle = tokio::spawn({
        let b = b.clone();
        async move { b.get_updates().offset(0).timeout(1).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let id = api.push_update(update);
    let updates = handle.await.unwrap().unwrap();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].id.0 as i64, id);
    let UpdateKind::Message(msg) = &updates[0].kind else {
        panic!("not a message: {:?}", updates[0]);
    };
    assert_eq!(msg.text(), Some("/ask what is a cell?"));
    assert_eq!(msg.entities().unwrap()[0].length, 4);

    // Confirmed updates are not sent again.
    let again = b
        .get_updates()
        .offset(id as i32 + 1)
        .timeout(0)
        .await
        .unwrap();
    assert!(again.is_empty());

    // Other kinds deserialize too.
    let sent = b.send_message(ChatId(-100), "group").await.unwrap();
    api.push_update(fake_api::group_text(
        -100,
        5,
        "Bob",
        "@studybot_test_bot hi",
    ));
    api.push_update(fake_api::callback(5, -100, sent.id.0 as i64, "next:1"));
    api.push_update(fake_api::inline_query(5, "cell"));
    api.push_update(fake_api::poll_answer("p1", 5, "Bob", &[1]));
    let updates = b
        .get_updates()
        .offset(id as i32 + 1)
        .timeout(1)
        .await
        .unwrap();
    assert_eq!(updates.len(), 4);
    assert!(matches!(updates[0].kind, UpdateKind::Message(_)));
    let UpdateKind::CallbackQuery(q) = &updates[1].kind else {
        panic!("not a callback: {:?}", updates[1]);
    };
    assert_eq!(q.data.as_deref(), Some("next:1"));
    assert_eq!(q.regular_message().and_then(|m| m.text()), Some("group"));
    assert!(matches!(updates[2].kind, UpdateKind::InlineQuery(_)));
    assert!(matches!(updates[3].kind, UpdateKind::PollAnswer(_)));

    assert_eq!(api.unanswered_callbacks(), vec![q.id.0.clone()]);
    b.answer_callback_query(q.id.clone()).await.unwrap();
    assert!(api.unanswered_callbacks().is_empty());
    assert!(b.answer_callback_query(q.id.clone()).await.is_err());
    assert_eq!(api.violations().len(), 1, "{:?}", api.violations());
}

#[tokio::test]
async fn long_callback_data_is_a_violation() {
    let api = FakeApi::start();
    let keyboard =
        InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("Go", "a".repeat(65))]]);
    let res = bot(&api)
        .send_message(ChatId(1), "pick")
        .reply_markup(keyboard)
        .await;
    assert!(
        matches!(
            res,
            Err(RequestError::Api(teloxide::ApiError::ButtonDataInvalid))
        ),
        "{res:?}"
    );
    let v = api.violations();
    assert_eq!(v.len(), 1);
    assert!(v[0].contains("65 bytes"), "{v:?}");

    // 64 bytes is fine.
    let keyboard =
        InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("Go", "a".repeat(64))]]);
    bot(&api)
        .send_message(ChatId(1), "pick")
        .reply_markup(keyboard)
        .await
        .unwrap();
    assert_eq!(api.violations().len(), 1);
}

#[tokio::test]
async fn polls_are_recorded_and_checked() {
    let api = FakeApi::start();
    let b = bot(&api);
    let msg = b
        .send_poll(
            ChatId(9),
            "Which organelle makes ATP?",
            [
                InputPollOption::new("Nucleus"),
                InputPollOption::new("Mitochondrion"),
            ],
        )
        .type_(PollType::Quiz)
        .correct_option_id(1)
        .explanation("The <b>powerhouse</b>.")
        .explanation_parse_mode(ParseMode::Html)
        .is_anonymous(false)
        .open_period(60)
        .await
        .unwrap();
    let poll = msg.poll().expect("a poll message");
    assert_eq!(poll.options.len(), 2);
    assert_eq!(poll.options[1].text, "Mitochondrion");
    assert_eq!(poll.correct_option_id, Some(1));
    assert_eq!(poll.explanation.as_deref(), Some("The powerhouse."));
    assert!(!poll.is_anonymous);

    let calls = api.wait_for("sendPoll", 1, Duration::from_secs(1));
    let options = calls[0].body["options"].as_array().unwrap();
    assert_eq!(options.len(), 2);
    assert!(api.violations().is_empty(), "{:?}", api.violations());

    let stopped = b.stop_poll(ChatId(9), msg.id).await.unwrap();
    assert!(stopped.is_closed);
    assert_eq!(stopped.id, poll.id);

    // Limits.
    let one = b
        .send_poll(ChatId(9), "Q?", [InputPollOption::new("only")])
        .await;
    assert!(one.is_err());
    let long_expl = b
        .send_poll(
            ChatId(9),
            "Q?",
            [InputPollOption::new("a"), InputPollOption::new("b")],
        )
        .type_(PollType::Quiz)
        .correct_option_id(0)
        .explanation("x".repeat(201))
        .await;
    assert!(long_expl.is_err());
    let bad_correct = b
        .send_poll(
            ChatId(9),
            "Q?",
            [InputPollOption::new("a"), InputPollOption::new("b")],
        )
        .type_(PollType::Quiz)
        .correct_option_id(2)
        .await;
    assert!(bad_correct.is_err());
    assert_eq!(api.violations().len(), 3, "{:?}", api.violations());
}

#[test]
fn raw_http_keep_alive_chunked_multipart_and_unknown_methods() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;

    let api = FakeApi::start();
    let addr = api.url().trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let read_response = |reader: &mut BufReader<TcpStream>| -> (u16, serde_json::Value) {
        let mut status_line = String::new();
        reader.read_line(&mut status_line).unwrap();
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let mut len = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    };

    // Chunked JSON body, case-insensitive method name.
    let body = r#"{"chat_id":3,"text":"chunked"}"#;
    let (a, b) = body.split_at(10);
    write!(
        stream,
        "POST /bot{TEST_TOKEN}/SENDMESSAGE HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    )
    .unwrap();
    let (status, resp) = read_response(&mut reader);
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["result"]["text"], json!("chunked"));

    // Multipart on the same connection: parsed, unknown method answered 404.
    let mp = "--XyZ\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n3\r\n--XyZ\r\n\
              Content-Disposition: form-data; name=\"document\"; filename=\"a.txt\"\r\n\
              Content-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n";
    write!(
        stream,
        "POST /bot{TEST_TOKEN}/sendDocument HTTP/1.1\r\nHost: x\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\n\r\n{mp}",
        mp.len()
    )
    .unwrap();
    let (status, resp) = read_response(&mut reader);
    assert_eq!(status, 404);
    assert_eq!(resp["description"], json!("Not Found: method not found"));

    // A different token is refused.
    write!(
        stream,
        "POST /bot1:OTHER/getMe HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let (status, _) = read_response(&mut reader);
    assert_eq!(status, 401);

    let calls = api.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0].method, "sendMessage");
    assert_eq!(calls[1].body["document"]["filename"], json!("a.txt"));
    assert_eq!(calls[1].body["chat_id"], json!("3"));
    assert_eq!(api.violations().len(), 2, "{:?}", api.violations());
}

#[test]
fn html_parser_handles_telegram_subset() {
    let p = fake_api::parse_html(
        "<pre><code class=\"language-rust\">fn x() {}</code></pre> <span class=\"tg-spoiler\">s</span> &#128512;&#x41;",
    )
    .unwrap();
    assert_eq!(p.text, "fn x() {} s 😀A");
    assert_eq!(p.entities[0]["type"], json!("pre"));
    assert_eq!(p.entities[0]["language"], json!("rust"));
    assert_eq!(p.entities[1]["type"], json!("spoiler"));
    assert_eq!(p.elements, 3);
    assert!(fake_api::parse_html("<span>x</span>").is_err());
    assert!(fake_api::parse_html("<a>x</a>").is_err());
    assert!(fake_api::parse_html("x &nbsp; y").is_err());
    assert!(fake_api::parse_html("</b>").is_err());
    let many = "<b>x</b>".repeat(101);
    assert_eq!(fake_api::parse_html(&many).unwrap().elements, 101);
}
