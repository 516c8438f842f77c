//! A small fake Telegram Bot API server for tests.
//!
//! Blocking std threads and `std::net` only, so it can be used both from plain tests that spawn
//! the real `studybot bot` binary (pointed at it with `TELOXIDE_API_URL`) and from tokio tests.
//! It answers `POST /bot<token>/<method>` with realistic results, records every call, lets tests
//! push updates and script failures, and checks the Bot API limits (HTML markup, text lengths,
//! inline keyboards, callback answers, inline results, polls). A broken limit is answered with a
//! 400 like Telegram would, and recorded in [`FakeApi::violations`]. Tests also set members'
//! roles (`getChatMember`), and script failures: error answers (429, 502, a 409 conflict, a
//! migrated group), answers held back for a while, and connections dropped without an answer.
//!
//! A bot in webhook mode gets its updates the way Telegram delivers them: once the bot has
//! called `setWebhook` (recorded: url, secret) and the test has said where the bot listens
//! ([`FakeApi::deliver_to`]), [`FakeApi::push_update`] POSTs each update to the webhook's path
//! there, with the secret in `X-Telegram-Bot-Api-Secret-Token`, and records the HTTP status.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

/// The bot's own user id (the numeric part of the test token `123456:TESTTOKEN`).
pub const BOT_USER_ID: i64 = 123456;
/// The bot's username as returned by `getMe`.
pub const BOT_USERNAME: &str = "studybot_test_bot";
/// The token tests give the bot.
pub const TEST_TOKEN: &str = "123456:TESTTOKEN";

/// Message ids, shared by update builders and messages the bot sends, so they never collide and
/// increase within every chat.
static NEXT_MESSAGE_ID: AtomicI64 = AtomicI64::new(1);
/// Ids of callback and inline queries built by the helpers.
static NEXT_QUERY_ID: AtomicI64 = AtomicI64::new(1);

fn next_message_id() -> i64 {
    NEXT_MESSAGE_ID.fetch_add(1, Ordering::SeqCst)
}

fn next_query_id() -> i64 {
    NEXT_QUERY_ID.fetch_add(1, Ordering::SeqCst)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(1)
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Methods the server knows, in Telegram's spelling (used to normalise case).
const KNOWN_METHODS: &[&str] = &[
    "getMe",
    "getWebhookInfo",
    "getUpdates",
    "deleteWebhook",
    "setWebhook",
    "setMyCommands",
    "deleteMyCommands",
    "getMyCommands",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "answerCallbackQuery",
    "answerInlineQuery",
    "sendPoll",
    "stopPoll",
    "sendChatAction",
    "deleteMessage",
    "getChatMember",
    "getFile",
];

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Call {
    /// The method in Telegram's camelCase spelling (as sent, if unknown).
    pub method: String,
    /// The request parameters (JSON body; form and multipart fields as strings).
    pub body: Value,
    pub token: String,
    /// The HTTP status the server answered with.
    pub status: u16,
    /// The full JSON response (`{"ok":true,"result":...}` or an error).
    pub response: Value,
    /// When the server received it.
    pub at: Instant,
}

impl Call {
    /// Whether the call was answered with `ok: true`.
    pub fn ok(&self) -> bool {
        self.status == 200
    }

    /// The `result` of a successful call (Null otherwise).
    pub fn result(&self) -> Value {
        self.response.get("result").cloned().unwrap_or(Value::Null)
    }

    /// `body.text` as a string ("" when absent).
    pub fn text(&self) -> String {
        self.body
            .get("text")
            .map(value_to_string)
            .unwrap_or_default()
    }
}

struct Failure {
    method: String,
    remaining: usize,
    status: u16,
    body: Value,
}

/// What happens to a call beyond its answer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Delivery {
    /// Answered at once.
    Now,
    /// Handled and recorded at once, answered after a while.
    After(Duration),
    /// Recorded, then the connection is closed without an answer.
    Drop,
}

struct Scripted {
    method: String,
    remaining: usize,
    delivery: Delivery,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    updates: Vec<Value>,
    last_update_id: i64,
    failures: Vec<Failure>,
    violations: Vec<String>,
    token: Option<String>,
    chats: HashMap<i64, Value>,
    messages: HashMap<(i64, i64), Value>,
    callbacks_pushed: Vec<String>,
    callbacks_answered: HashSet<String>,
    commands: Vec<Value>,
    next_poll_id: u64,
    /// Members' statuses ("creator", "administrator", "member", "left"), by (chat, user).
    members: HashMap<(i64, i64), String>,
    scripted: Vec<Scripted>,
    /// Fields that replace those of the default `getMe` answer.
    me: Map<String, Value>,
    /// The webhook Telegram would deliver updates to ("" when none), for `getWebhookInfo`.
    webhook_url: String,
    /// Further `getWebhookInfo` fields (`last_error_message`, ...).
    webhook_extra: Map<String, Value>,
    /// The `secret_token` of the last `setWebhook` ("" when none).
    webhook_secret: String,
    /// Where the bot listens, when it runs a webhook: updates are POSTed there.
    webhook_target: Option<SocketAddr>,
    /// Webhook deliveries: (update id, HTTP status; 0 when the connection failed).
    deliveries: Vec<(i64, u16)>,
    /// Files bots may fetch: file id → (file path, bytes).
    files: HashMap<String, (String, Vec<u8>)>,
    /// Largest file `getFile` hands out (0: Telegram's 20 MB).
    get_file_limit: u64,
    /// File paths downloaded, in order.
    downloads: Vec<String>,
}

/// A file registered with [`FakeApi::add_file`], as a document message carries it.
#[derive(Clone, Debug)]
pub struct FileRef {
    pub file_id: String,
    pub file_unique_id: String,
    pub file_size: u64,
    pub file_path: String,
    pub name: String,
}

/// What the cloud Bot API hands bots at most through `getFile`.
const GET_FILE_LIMIT: u64 = 20 * 1024 * 1024;

struct Shared {
    state: Mutex<State>,
    cond: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The fake server. Dropping it stops accepting connections.
pub struct FakeApi {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl FakeApi {
    /// Binds 127.0.0.1 on a free port and starts accepting connections.
    pub fn start() -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake Bot API");
        let addr = listener.local_addr().expect("local addr");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let accept_shared = shared.clone();
        std::thread::Builder::new()
            .name(format!("fake-api-{}", addr.port()))
            .spawn(move || accept_loop(listener, accept_shared))
            .expect("spawn accept thread");
        FakeApi { shared, addr }
    }

    /// `http://127.0.0.1:PORT`; teloxide appends `/bot<token>/<method>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stores `bytes` as a file bots can fetch (`getFile`, then `GET /file/bot<token>/<path>`),
    /// named `name` in the document messages that carry it.
    pub fn add_file(&self, bytes: Vec<u8>, name: &str) -> FileRef {
        let mut st = self.shared.lock();
        let n = st.files.len() + 1;
        let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("bin");
        let file = FileRef {
            file_id: format!("file-{n}"),
            file_unique_id: format!("unique-{n}"),
            file_size: bytes.len() as u64,
            file_path: format!("documents/file_{n}.{ext}"),
            name: name.to_string(),
        };
        st.files
            .insert(file.file_id.clone(), (file.file_path.clone(), bytes));
        file
    }

    /// Registers the file at `path` (absolute) as a local Bot API server (`--local`) serves
    /// it: `getFile` answers with that path on this machine, to be read from disk.
    pub fn add_local_file(&self, path: &std::path::Path, name: &str) -> FileRef {
        let bytes = std::fs::read(path).unwrap();
        let file = self.add_file(bytes, name);
        let mut st = self.shared.lock();
        let local = path.to_string_lossy().into_owned();
        if let Some(entry) = st.files.get_mut(&file.file_id) {
            entry.0 = local.clone();
        }
        FileRef {
            file_path: local,
            ..file
        }
    }

    /// The largest file `getFile` hands out (Telegram's cloud server: 20 MB).
    pub fn set_get_file_limit(&self, bytes: u64) {
        self.shared.lock().get_file_limit = bytes;
    }

    /// File paths bots downloaded, in order.
    pub fn downloads(&self) -> Vec<String> {
        self.shared.lock().downloads.clone()
    }

    /// Queues an update for `getUpdates`; sets and returns its `update_id`. With a webhook set
    /// and [`FakeApi::deliver_to`] given, POSTs it to the bot instead, with the webhook's
    /// secret, and returns once the bot has answered (the status is in
    /// [`FakeApi::deliveries`]).
    pub fn push_update(&self, update: Value) -> i64 {
        let mut st = self.shared.lock();
        let update = prepare_update(&mut st, update);
        let id = update["update_id"].as_i64().unwrap_or(0);
        if let (Some(target), false) = (st.webhook_target, st.webhook_url.is_empty()) {
            let path = webhook_path(&st.webhook_url);
            let secret = st.webhook_secret.clone();
            drop(st);
            let (status, _) = http_request(
                target,
                "POST",
                &path,
                Some(&secret).filter(|s| !s.is_empty()).map(String::as_str),
                &update.to_string(),
            );
            self.shared.lock().deliveries.push((id, status));
            self.shared.cond.notify_all();
            return id;
        }
        st.updates.push(update);
        drop(st);
        self.shared.cond.notify_all();
        id
    }

    /// POSTs an update to the bot's webhook with `secret` as its secret header (none when
    /// `None`), whatever the webhook's own secret, and returns the HTTP status (0 when the
    /// connection failed).
    pub fn post_update(&self, update: Value, secret: Option<&str>) -> u16 {
        let mut st = self.shared.lock();
        let update = prepare_update(&mut st, update);
        let target = st
            .webhook_target
            .expect("deliver_to: where the bot listens");
        let path = webhook_path(&st.webhook_url);
        drop(st);
        http_request(target, "POST", &path, secret, &update.to_string()).0
    }

    /// Delivers updates to a bot listening at `addr` once it has set its webhook.
    pub fn deliver_to(&self, addr: SocketAddr) {
        self.shared.lock().webhook_target = Some(addr);
    }

    /// The webhook's URL and secret, as the bot last set them ("" when none).
    pub fn webhook(&self) -> (String, String) {
        let st = self.shared.lock();
        (st.webhook_url.clone(), st.webhook_secret.clone())
    }

    /// The webhook deliveries so far: (update id, HTTP status).
    pub fn deliveries(&self) -> Vec<(i64, u16)> {
        self.shared.lock().deliveries.clone()
    }
}

/// The path of a webhook URL, which the bot serves.
fn webhook_path(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    match rest.find('/') {
        Some(at) => rest[at..].to_string(),
        None => "/".to_string(),
    }
}

/// One plain HTTP/1.1 request to `addr` (a new connection, closed after the answer): the
/// status (0 when the connection failed) and the body.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    secret: Option<&str>,
    body: &str,
) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(secret) = secret {
        request.push_str(&format!("X-Telegram-Bot-Api-Secret-Token: {secret}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

/// Gives an update its `update_id` and shows in it what Telegram would (the bot's message as
/// it now is, under a button press); remembers its chat.
fn prepare_update(st: &mut State, mut update: Value) -> Value {
    {
        st.last_update_id += 1;
        let id = st.last_update_id;
        if let Some(obj) = update.as_object_mut() {
            obj.insert("update_id".into(), json!(id));
        }
        for key in ["message", "edited_message"] {
            if let Some(chat) = update.get(key).and_then(|m| m.get("chat")) {
                if let Some(chat_id) = chat.get("id").and_then(Value::as_i64) {
                    st.chats.insert(chat_id, chat.clone());
                }
            }
        }
        if let Some(cq) = update.get_mut("callback_query") {
            if let Some(qid) = cq.get("id").and_then(Value::as_str) {
                st.callbacks_pushed.push(qid.to_string());
            }
            // Show the bot's real message (as it was sent/edited) in the query, like Telegram.
            if let Some(msg) = cq.get_mut("message") {
                let chat_id = msg.pointer("/chat/id").and_then(Value::as_i64);
                let msg_id = msg.get("message_id").and_then(Value::as_i64);
                if let (Some(c), Some(m)) = (chat_id, msg_id) {
                    if let Some(stored) = st.messages.get(&(c, m)) {
                        *msg = stored.clone();
                    } else if let Some(chat) = st.chats.get(&c) {
                        msg["chat"] = chat.clone();
                    }
                }
            }
        }
    }
    update
}

impl FakeApi {
    /// Forgets every scripted failure still to come.
    pub fn clear_failures(&self) {
        self.shared.lock().failures.clear();
    }

    /// The next `times` calls to `method` are answered with `status` and `body` (recorded, but
    /// not processed).
    pub fn fail_next(&self, method: &str, times: usize, status: u16, body: Value) {
        self.shared.lock().failures.push(Failure {
            method: method.to_string(),
            remaining: times,
            status,
            body,
        });
    }

    /// `user`'s status in `chat` for `getChatMember`: "creator", "administrator", "member",
    /// "left" or "kicked" (everyone is a "member" unless set).
    pub fn set_member(&self, chat: i64, user: i64, status: &str) {
        self.shared
            .lock()
            .members
            .insert((chat, user), status.to_string());
    }

    /// The next `times` calls to `method` are handled and recorded at once, but answered only
    /// after `delay` (a slow server, or a request in flight when the bot dies).
    pub fn delay_next(&self, method: &str, times: usize, delay: Duration) {
        self.shared.lock().scripted.push(Scripted {
            method: method.to_string(),
            remaining: times,
            delivery: Delivery::After(delay),
        });
    }

    /// The next `times` calls to `method` are recorded and their connections closed without
    /// an answer (a dropped connection).
    pub fn drop_next(&self, method: &str, times: usize) {
        self.shared.lock().scripted.push(Scripted {
            method: method.to_string(),
            remaining: times,
            delivery: Delivery::Drop,
        });
    }

    /// Every request, in order (failed ones included).
    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().calls.clone()
    }

    /// Requests to `method` (case-insensitive), failed ones included.
    pub fn calls_to(&self, method: &str) -> Vec<Call> {
        self.shared
            .lock()
            .calls
            .iter()
            .filter(|c| c.method.eq_ignore_ascii_case(method))
            .cloned()
            .collect()
    }

    /// Blocks until at least `count` successful calls to `method`, and returns them (all of
    /// them, which may be more than `count`). Panics with a dump of all calls on timeout.
    pub fn wait_for(&self, method: &str, count: usize, timeout: Duration) -> Vec<Call> {
        let deadline = Instant::now() + timeout;
        loop {
            let ok: Vec<Call> = self.calls_to(method).into_iter().filter(Call::ok).collect();
            if ok.len() >= count {
                return ok;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {count} successful {method} call(s), \
                     got {}.\n{}",
                    ok.len(),
                    self.dump()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A readable listing of all calls and violations, for failure messages.
    pub fn dump(&self) -> String {
        let st = self.shared.lock();
        let mut out = format!("fake Bot API: {} call(s)\n", st.calls.len());
        for (i, c) in st.calls.iter().enumerate() {
            if c.method == "getUpdates" && c.result().as_array().is_some_and(Vec::is_empty) {
                continue;
            }
            let mut body = c.body.to_string();
            truncate_chars(&mut body, 600);
            let mut resp = if c.ok() {
                String::new()
            } else {
                format!(" -> {}", c.response)
            };
            truncate_chars(&mut resp, 300);
            out.push_str(&format!("  #{i} {} {} {body}{resp}\n", c.status, c.method));
        }
        if !st.violations.is_empty() {
            out.push_str("violations:\n");
            for v in &st.violations {
                out.push_str(&format!("  {v}\n"));
            }
        }
        out
    }

    /// Limit violations found so far.
    pub fn violations(&self) -> Vec<String> {
        self.shared.lock().violations.clone()
    }

    /// Ids of callback queries pushed with `push_update` that were never answered.
    pub fn unanswered_callbacks(&self) -> Vec<String> {
        let st = self.shared.lock();
        st.callbacks_pushed
            .iter()
            .filter(|id| !st.callbacks_answered.contains(*id))
            .cloned()
            .collect()
    }

    /// Changes fields of the `getMe` answer, e.g. `{"supports_inline_queries": false}`.
    pub fn set_me(&self, fields: Value) {
        if let Value::Object(fields) = fields {
            self.shared.lock().me.extend(fields);
        }
    }

    /// Makes `getWebhookInfo` report a webhook at `url` ("" for none), with `extra` fields
    /// such as `last_error_message`, as if another deployment had set one. `deleteWebhook`
    /// removes it, as on Telegram.
    pub fn set_webhook(&self, url: &str, extra: Value) {
        let mut st = self.shared.lock();
        st.webhook_url = url.to_string();
        st.webhook_extra = match extra {
            Value::Object(fields) => fields,
            _ => Map::new(),
        };
    }

    /// The bot's own user id (as returned by `getMe`).
    pub fn bot_user_id(&self) -> i64 {
        BOT_USER_ID
    }

    /// The messages the bot has sent and not deleted, keyed by (chat id, message id), as they
    /// currently are (after edits).
    pub fn bot_message(&self, chat_id: i64, message_id: i64) -> Option<Value> {
        self.shared
            .lock()
            .messages
            .get(&(chat_id, message_id))
            .cloned()
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.cond.notify_all();
    }
}

fn truncate_chars(s: &mut String, max: usize) {
    if let Some((i, _)) = s.char_indices().nth(max) {
        s.truncate(i);
        s.push('…');
    }
}

// ---------------------------------------------------------------------------------------------
// Update builders

/// A user object as Telegram sends it.
pub fn user(user_id: i64, first_name: &str) -> Value {
    json!({"id": user_id, "is_bot": false, "first_name": first_name, "language_code": "en"})
}

/// The bot's own user object.
pub fn bot_user() -> Value {
    json!({"id": BOT_USER_ID, "is_bot": true, "first_name": "Studybot", "username": BOT_USERNAME})
}

fn chat_object(chat_id: i64, first_name: &str) -> Value {
    if chat_id > 0 {
        json!({"id": chat_id, "type": "private", "first_name": first_name})
    } else {
        json!({"id": chat_id, "type": "supergroup", "title": "Study group"})
    }
}

fn text_message(chat: Value, from: Value, text: &str) -> Value {
    let mut msg = json!({
        "message_id": next_message_id(),
        "from": from,
        "chat": chat,
        "date": now(),
        "text": text,
    });
    if text.starts_with('/') {
        let command = text.split(char::is_whitespace).next().unwrap_or(text);
        msg["entities"] =
            json!([{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]);
    }
    msg
}

/// A message update in a private chat (chat id = user id).
pub fn private_text(chat_and_user_id: i64, first_name: &str, text: &str) -> Value {
    json!({"message": text_message(
        chat_object(chat_and_user_id, first_name),
        user(chat_and_user_id, first_name),
        text,
    )})
}

/// A message update in a supergroup (`chat_id` negative).
pub fn group_text(chat_id: i64, user_id: i64, first_name: &str, text: &str) -> Value {
    json!({"message": text_message(
        json!({"id": chat_id, "type": "supergroup", "title": "Study group"}),
        user(user_id, first_name),
        text,
    )})
}

/// A message update in a basic group (negative id, not yet a supergroup).
pub fn basic_group_text(chat_id: i64, user_id: i64, first_name: &str, text: &str) -> Value {
    json!({"message": text_message(
        json!({"id": chat_id, "type": "group", "title": "Study group"}),
        user(user_id, first_name),
        text,
    )})
}

/// The id of Telegram's account that anonymous group admins post from.
pub const GROUP_ANONYMOUS_BOT: i64 = 1087968824;

/// A message an anonymous admin posts in a supergroup: sent as the group itself.
pub fn anonymous_admin_text(chat_id: i64, text: &str) -> Value {
    let group = json!({"id": chat_id, "type": "supergroup", "title": "Study group"});
    let mut update = json!({"message": text_message(
        group.clone(),
        json!({"id": GROUP_ANONYMOUS_BOT, "is_bot": true, "first_name": "Group", "username": "GroupAnonymousBot"}),
        text,
    )});
    update["message"]["sender_chat"] = group;
    update
}

/// The service message Telegram sends in a basic group that became supergroup `new_chat_id`.
pub fn migrated(old_chat_id: i64, new_chat_id: i64, user_id: i64) -> Value {
    json!({"message": {
        "message_id": next_message_id(),
        "from": user(user_id, "Owner"),
        "chat": {"id": old_chat_id, "type": "group", "title": "Study group"},
        "date": now(),
        "migrate_to_chat_id": new_chat_id,
    }})
}

/// The error Telegram answers a send into a group that became supergroup `new_chat_id`.
pub fn migrated_error(new_chat_id: i64) -> Value {
    json!({
        "ok": false,
        "error_code": 400,
        "description": "Bad Request: group chat was upgraded to a supergroup chat",
        "parameters": {"migrate_to_chat_id": new_chat_id},
    })
}

/// The error Telegram answers `getUpdates` when another process polls with the same token.
pub fn conflict_error() -> Value {
    json!({
        "ok": false,
        "error_code": 409,
        "description": "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    })
}

fn mime_type(name: &str) -> &'static str {
    match name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("pdf") => "application/pdf",
        Some("epub") => "application/epub+zip",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Some("html" | "htm") => "text/html",
        Some("txt") => "text/plain",
        Some("md") => "text/markdown",
        _ => "application/octet-stream",
    }
}

/// A message carrying `file` as a document, in `chat_id` (a private chat when positive, a
/// supergroup otherwise) from `user_id`, with `caption` (a leading command is marked up as
/// Telegram does).
pub fn document_message(
    chat_id: i64,
    user_id: i64,
    first_name: &str,
    file: &FileRef,
    caption: Option<&str>,
) -> Value {
    let mut msg = json!({
        "message_id": next_message_id(),
        "from": user(user_id, first_name),
        "chat": chat_object(chat_id, first_name),
        "date": now(),
        "document": {
            "file_id": file.file_id,
            "file_unique_id": file.file_unique_id,
            "file_name": file.name,
            "mime_type": mime_type(&file.name),
            "file_size": file.file_size,
        },
    });
    if let Some(caption) = caption {
        msg["caption"] = json!(caption);
        if caption.starts_with('/') {
            let command = caption.split(char::is_whitespace).next().unwrap_or(caption);
            msg["caption_entities"] =
                json!([{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]);
        }
    }
    json!({ "message": msg })
}

/// Sets `message.entities`.
pub fn with_entities(mut update: Value, entities: Value) -> Value {
    update["message"]["entities"] = entities;
    update
}

/// Sets `message.reply_to_message`.
pub fn reply_to(mut update: Value, replied_message: Value) -> Value {
    update["message"]["reply_to_message"] = replied_message;
    update
}

/// A callback query from `user_id` on the bot's message `message_id` in `chat_id`. When pushed,
/// the message is replaced by the bot's message as the server knows it.
pub fn callback(user_id: i64, chat_id: i64, message_id: i64, data: &str) -> Value {
    let id = next_query_id();
    json!({"callback_query": {
        "id": format!("cbq{id}"),
        "from": user(user_id, "User"),
        "message": {
            "message_id": message_id,
            "from": bot_user(),
            "chat": chat_object(chat_id, "User"),
            "date": now(),
            "text": "",
        },
        "chat_instance": format!("ci{chat_id}"),
        "data": data,
    }})
}

/// An inline query.
pub fn inline_query(user_id: i64, query: &str) -> Value {
    let id = next_query_id();
    json!({"inline_query": {
        "id": format!("iq{id}"),
        "from": user(user_id, "User"),
        "query": query,
        "offset": "",
        "chat_type": "sender",
    }})
}

/// A non-anonymous poll answer.
pub fn poll_answer(poll_id: &str, user_id: i64, first_name: &str, option_ids: &[u32]) -> Value {
    json!({"poll_answer": {
        "poll_id": poll_id,
        "user": user(user_id, first_name),
        "option_ids": option_ids,
    }})
}

// ---------------------------------------------------------------------------------------------
// HTTP

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let shared = shared.clone();
                let _ = std::thread::Builder::new()
                    .name("fake-api-conn".into())
                    .spawn(move || serve_connection(stream, shared));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    shared: Arc<Shared>,
}

impl Conn {
    /// Reads more bytes into the buffer; false on EOF, error or stop.
    fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 16384];
        loop {
            if self.shared.stop.load(Ordering::SeqCst) {
                return false;
            }
            match self.stream.read(&mut tmp) {
                Ok(0) => return false,
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    return true;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => return false,
            }
        }
    }

    fn take_until(&mut self, delim: &[u8]) -> Option<Vec<u8>> {
        loop {
            if let Some(pos) = find(&self.buf, delim) {
                let head: Vec<u8> = self.buf.drain(..pos + delim.len()).collect();
                return Some(head[..pos].to_vec());
            }
            if !self.fill() {
                return None;
            }
        }
    }

    fn take_exact(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill() {
                return None;
            }
        }
        Some(self.buf.drain(..n).collect())
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(conn: &mut Conn) -> Option<Request> {
    let head = conn.take_until(b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.trim().to_string();
    let mut parts = request_line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let mut req = Request {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    let chunked = req
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            let size_line = conn.take_until(b"\r\n")?;
            let size_line = String::from_utf8_lossy(&size_line);
            let size_hex = size_line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_hex, 16).ok()?;
            if size == 0 {
                // Trailers, up to an empty line.
                loop {
                    let line = conn.take_until(b"\r\n")?;
                    if line.is_empty() {
                        break;
                    }
                }
                break;
            }
            let chunk = conn.take_exact(size)?;
            req.body.extend_from_slice(&chunk);
            conn.take_exact(2)?;
        }
    } else if let Some(len) = req.header("content-length") {
        let len: usize = len.parse().ok()?;
        req.body = conn.take_exact(len)?;
    }
    Some(req)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        _ => "Status",
    }
}

fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
        shared: shared.clone(),
    };
    while let Some(req) = read_request(&mut conn) {
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if let Some(bytes) = file_download(&shared, &req) {
            let (status, body) = match bytes {
                Some(b) => (200, b),
                None => (404, b"Not Found".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status} {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\
                 Connection: {}\r\n\r\n",
                reason(status),
                body.len(),
                if close { "close" } else { "keep-alive" }
            );
            let mut out = head.into_bytes();
            out.extend_from_slice(&body);
            if conn.stream.write_all(&out).is_err() || conn.stream.flush().is_err() || close {
                break;
            }
            continue;
        }
        let (status, response, delivery) = handle_http(&shared, &req);
        match delivery {
            Delivery::Now => {}
            Delivery::After(delay) => std::thread::sleep(delay),
            Delivery::Drop => break,
        }
        let body = response.to_string();
        let head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: {}\r\n\r\n",
            reason(status),
            body.len(),
            if close { "close" } else { "keep-alive" }
        );
        let mut out = head.into_bytes();
        out.extend_from_slice(body.as_bytes());
        if conn.stream.write_all(&out).is_err() || conn.stream.flush().is_err() || close {
            break;
        }
    }
}

/// `GET /file/bot<token>/<path>`: `None` for any other request; `Some(None)` for a path or
/// token the server does not know.
fn file_download(shared: &Shared, req: &Request) -> Option<Option<Vec<u8>>> {
    let rest = req.target.strip_prefix("/file/bot")?;
    let (token, path) = rest.split_once('/')?;
    let token = percent_decode(token);
    // teloxide sends the path as one segment, its slashes percent-encoded.
    let path = percent_decode(path);
    let path = path.as_str();
    let mut st = shared.lock();
    if st.token.as_deref().is_some_and(|t| t != token) {
        return Some(None);
    }
    let bytes = st
        .files
        .values()
        .find(|(p, _)| p == path)
        .map(|(_, b)| b.clone());
    if bytes.is_some() {
        st.downloads.push(path.to_string());
    }
    Some(bytes)
}

fn get_file(st: &State, body: &Value) -> ApiResult {
    let id = body["file_id"].as_str().unwrap_or_default();
    let Some((path, bytes)) = st.files.get(id) else {
        return Err(bad_request("invalid file_id"));
    };
    let limit = match st.get_file_limit {
        0 => GET_FILE_LIMIT,
        n => n,
    };
    if bytes.len() as u64 > limit {
        return Err(bad_request("file is too big"));
    }
    let n = id.trim_start_matches("file-");
    Ok(json!({
        "file_id": id,
        "file_unique_id": format!("unique-{n}"),
        "file_size": bytes.len(),
        "file_path": path,
    }))
}

fn error_body(status: u16, description: &str) -> Value {
    json!({"ok": false, "error_code": status, "description": description})
}

fn handle_http(shared: &Shared, req: &Request) -> (u16, Value, Delivery) {
    let (path, query) = match req.target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (req.target.as_str(), None),
    };
    let Some(rest) = path.strip_prefix("/bot") else {
        return (404, error_body(404, "Not Found"), Delivery::Now);
    };
    let Some((token, method)) = rest.split_once('/') else {
        return (404, error_body(404, "Not Found"), Delivery::Now);
    };
    let token = percent_decode(token);
    let method = method.trim_matches('/').to_string();

    let mut params = Map::new();
    if let Some(q) = query {
        parse_urlencoded(q, &mut params);
    }
    let content_type = req
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut parse_error = None;
    if content_type.starts_with("multipart/form-data") {
        let boundary = req
            .header("content-type")
            .unwrap_or("")
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
            .map(|(_, v)| v.trim_matches('"').to_string());
        match boundary {
            Some(b) => parse_multipart(&req.body, &b, &mut params),
            None => parse_error = Some("Bad Request: multipart boundary missing".to_string()),
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        parse_urlencoded(&String::from_utf8_lossy(&req.body), &mut params);
    } else if !req.body.iter().all(u8::is_ascii_whitespace) {
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(m)) => params.extend(m),
            Ok(other) => {
                parse_error = Some(format!("Bad Request: expected a JSON object, got {other}"))
            }
            Err(e) => parse_error = Some(format!("Bad Request: can't parse JSON: {e}")),
        }
    }
    let body = Value::Object(params);
    let delivery = {
        let mut st = shared.lock();
        let delivery = st
            .scripted
            .iter_mut()
            .find(|s| s.remaining > 0 && s.method.eq_ignore_ascii_case(&method))
            .map(|s| {
                s.remaining -= 1;
                s.delivery
            })
            .unwrap_or(Delivery::Now);
        st.scripted.retain(|s| s.remaining > 0);
        if delivery == Delivery::Drop {
            // The connection breaks before the server reads the request: recorded with
            // status 0, not processed.
            let method = KNOWN_METHODS
                .iter()
                .find(|m| m.eq_ignore_ascii_case(&method))
                .map_or(method.clone(), |m| m.to_string());
            record(&mut st, &method, body, token, 0, json!({"dropped": true}));
            return (0, Value::Null, delivery);
        }
        delivery
    };
    let (status, response) = handle(shared, token, method, body, parse_error);
    (status, response, delivery)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let decoded = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match decoded {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Form values are strings; JSON-looking ones (objects/arrays, as teloxide serialises
/// `reply_markup` and friends) are parsed.
fn form_value(s: String) -> Value {
    let t = s.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        if let Ok(v) = serde_json::from_str(&s) {
            return v;
        }
    }
    Value::String(s)
}

fn parse_urlencoded(s: &str, params: &mut Map<String, Value>) {
    for pair in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(percent_decode(k), form_value(percent_decode(v)));
    }
}

fn parse_multipart(body: &[u8], boundary: &str, params: &mut Map<String, Value>) {
    let delim = format!("--{boundary}").into_bytes();
    let mut rest = body;
    while let Some(pos) = find(rest, &delim) {
        rest = &rest[pos + delim.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let next = find(rest, &delim).unwrap_or(rest.len());
        let part = &rest[..next];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let Some(split) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let headers = String::from_utf8_lossy(&part[..split]);
        let content = &part[split + 4..];
        let mut name = None;
        let mut filename = None;
        for line in headers.split("\r\n") {
            if !line.to_ascii_lowercase().starts_with("content-disposition") {
                continue;
            }
            for attr in line.split(';').skip(1) {
                if let Some((k, v)) = attr.trim().split_once('=') {
                    let v = v.trim().trim_matches('"').to_string();
                    match k.trim() {
                        "name" => name = Some(v),
                        "filename" => filename = Some(v),
                        _ => {}
                    }
                }
            }
        }
        if let Some(name) = name {
            let value = match filename {
                Some(f) => json!({"filename": f, "size": content.len()}),
                None => form_value(String::from_utf8_lossy(content).into_owned()),
            };
            params.insert(name, value);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bot API

/// A failed request: status, Telegram description, and whether it is a limit violation.
struct ApiErr {
    status: u16,
    description: String,
    violation: Option<String>,
}

type ApiResult = Result<Value, ApiErr>;

/// A 400 the bot caused by breaking a limit: recorded as a violation.
fn violation(description: &str, detail: String) -> ApiErr {
    ApiErr {
        status: 400,
        description: format!("Bad Request: {description}"),
        violation: Some(detail),
    }
}

/// A 400 that is Telegram behaviour but not a limit violation.
fn bad_request(description: &str) -> ApiErr {
    ApiErr {
        status: 400,
        description: format!("Bad Request: {description}"),
        violation: None,
    }
}

fn value_to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn get_str(body: &Value, key: &str) -> Option<String> {
    body.get(key).filter(|v| !v.is_null()).map(value_to_string)
}

fn get_i64(body: &Value, key: &str) -> Option<i64> {
    match body.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn get_bool(body: &Value, key: &str) -> Option<bool> {
    match body.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

fn handle(
    shared: &Shared,
    token: String,
    raw_method: String,
    body: Value,
    parse_error: Option<String>,
) -> (u16, Value) {
    let method = KNOWN_METHODS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(&raw_method))
        .map(|m| m.to_string())
        .unwrap_or_else(|| raw_method.clone());
    let mut st = shared.lock();

    let outcome: Result<Value, ApiErr> = 'outcome: {
        match &st.token {
            None => st.token = Some(token.clone()),
            Some(first) if *first != token => {
                break 'outcome Err(ApiErr {
                    status: 401,
                    description: "Unauthorized".into(),
                    violation: Some(format!(
                        "{method}: token {token:?} differs from the first token seen {first:?}"
                    )),
                });
            }
            Some(_) => {}
        }
        if let Some(f) = st
            .failures
            .iter_mut()
            .find(|f| f.remaining > 0 && f.method.eq_ignore_ascii_case(&method))
        {
            f.remaining -= 1;
            let (status, response) = (f.status, f.body.clone());
            st.failures.retain(|f| f.remaining > 0);
            record(&mut st, &method, body, token, status, response.clone());
            return (status, response);
        }
        if let Some(e) = parse_error {
            break 'outcome Err(ApiErr {
                status: 400,
                description: e,
                violation: None,
            });
        }
        if method == "getUpdates" {
            st = long_poll(shared, st, &body);
        }
        dispatch(&mut st, &method, &body)
    };

    let (status, response) = match outcome {
        Ok(result) => (200, json!({"ok": true, "result": result})),
        Err(e) => {
            if let Some(v) = e.violation {
                st.violations.push(format!("{method}: {v}"));
            }
            (e.status, error_body(e.status, &e.description))
        }
    };
    record(&mut st, &method, body, token, status, response.clone());
    (status, response)
}

fn record(st: &mut State, method: &str, body: Value, token: String, status: u16, resp: Value) {
    st.calls.push(Call {
        method: method.to_string(),
        body,
        token,
        status,
        response: resp,
        at: Instant::now(),
    });
}

/// Waits (releasing the lock) until an update with id >= offset is queued, up to
/// min(timeout, 1s).
fn long_poll<'a>(
    shared: &'a Shared,
    mut st: MutexGuard<'a, State>,
    body: &Value,
) -> MutexGuard<'a, State> {
    let offset = get_i64(body, "offset").unwrap_or(0);
    let timeout = get_i64(body, "timeout").unwrap_or(0).clamp(0, 1);
    let deadline = Instant::now() + Duration::from_secs(timeout as u64);
    loop {
        let pending = st
            .updates
            .iter()
            .any(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
        let now = Instant::now();
        if pending || now >= deadline || shared.stop.load(Ordering::SeqCst) {
            return st;
        }
        st = shared
            .cond
            .wait_timeout(st, deadline - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

fn dispatch(st: &mut State, method: &str, body: &Value) -> ApiResult {
    match method {
        "getMe" => {
            let mut me = me();
            if let Some(obj) = me.as_object_mut() {
                obj.extend(st.me.clone());
            }
            Ok(me)
        }
        "getWebhookInfo" => {
            let mut info = json!({
                "url": st.webhook_url,
                "has_custom_certificate": false,
                "pending_update_count": 0
            });
            if let Some(obj) = info.as_object_mut() {
                obj.extend(st.webhook_extra.clone());
            }
            Ok(info)
        }
        "getUpdates" => get_updates(st, body),
        "setWebhook" => set_webhook(st, body),
        "deleteWebhook" | "sendChatAction" => {
            if method == "deleteWebhook" {
                st.webhook_url.clear();
                st.webhook_extra.clear();
                st.webhook_secret.clear();
            }
            require_chat_if(method == "sendChatAction", body)?;
            Ok(json!(true))
        }
        "setMyCommands" => set_my_commands(st, body),
        "deleteMyCommands" => {
            st.commands.clear();
            Ok(json!(true))
        }
        "getMyCommands" => Ok(Value::Array(st.commands.clone())),
        "sendMessage" => send_message(st, body),
        "editMessageText" => edit_message_text(st, body),
        "editMessageReplyMarkup" => edit_message_reply_markup(st, body),
        "answerCallbackQuery" => answer_callback_query(st, body),
        "answerInlineQuery" => answer_inline_query(body),
        "sendPoll" => send_poll(st, body),
        "getChatMember" => get_chat_member(st, body),
        "getFile" => get_file(st, body),
        "stopPoll" => stop_poll(st, body),
        "deleteMessage" => {
            let chat_id = require_chat(body)?;
            let message_id = get_i64(body, "message_id")
                .ok_or_else(|| bad_request("message identifier is not specified"))?;
            st.messages.remove(&(chat_id, message_id));
            Ok(json!(true))
        }
        _ => Err(ApiErr {
            status: 404,
            description: "Not Found: method not found".into(),
            violation: Some(format!("unknown method {method:?}")),
        }),
    }
}

/// `setWebhook` as Telegram checks it: an https URL, and a secret of 1-256 `A-Za-z0-9_-`.
fn set_webhook(st: &mut State, body: &Value) -> ApiResult {
    let url = get_str(body, "url").unwrap_or_default();
    if !url.starts_with("https://") {
        return Err(ApiErr {
            status: 400,
            description: "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
                .into(),
            violation: Some(format!("webhook URL {url:?} is not https")),
        });
    }
    let secret = get_str(body, "secret_token").unwrap_or_default();
    let valid = (1..=256).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if body.get("secret_token").is_some() && !valid {
        return Err(ApiErr {
            status: 400,
            description: "Bad Request: secret token contains unallowed characters".into(),
            violation: Some("setWebhook: secret_token breaks Telegram's rule".into()),
        });
    }
    st.webhook_url = url;
    st.webhook_secret = secret;
    st.webhook_extra.clear();
    Ok(json!(true))
}

fn get_chat_member(st: &State, body: &Value) -> ApiResult {
    let chat_id = require_chat(body)?;
    let user_id = get_i64(body, "user_id").ok_or_else(|| bad_request("user not found"))?;
    let status = st
        .members
        .get(&(chat_id, user_id))
        .cloned()
        .unwrap_or_else(|| "member".to_string());
    let mut member = json!({"user": user(user_id, "Member"), "status": status});
    match status.as_str() {
        "creator" => {
            member["is_anonymous"] = json!(false);
        }
        "administrator" => {
            for key in [
                "can_be_edited",
                "is_anonymous",
                "can_post_messages",
                "can_edit_messages",
                "can_promote_members",
                "can_post_stories",
                "can_edit_stories",
                "can_delete_stories",
            ] {
                member[key] = json!(false);
            }
            for key in [
                "can_manage_chat",
                "can_change_info",
                "can_delete_messages",
                "can_manage_video_chats",
                "can_invite_users",
                "can_restrict_members",
                "can_pin_messages",
                "can_manage_topics",
            ] {
                member[key] = json!(true);
            }
        }
        "kicked" => {
            member["until_date"] = json!(0);
        }
        _ => {}
    }
    Ok(member)
}

fn me() -> Value {
    let mut me = bot_user();
    let obj = me.as_object_mut().expect("object");
    obj.insert("can_join_groups".into(), json!(true));
    obj.insert("can_read_all_group_messages".into(), json!(false));
    obj.insert("supports_inline_queries".into(), json!(true));
    obj.insert("can_connect_to_business".into(), json!(false));
    obj.insert("has_main_web_app".into(), json!(false));
    me
}

fn get_updates(st: &mut State, body: &Value) -> ApiResult {
    if !st.webhook_url.is_empty() {
        return Err(ApiErr {
            status: 409,
            description: "Conflict: can't use getUpdates method while webhook is active; use \
                          deleteWebhook to delete the webhook first"
                .into(),
            violation: None,
        });
    }
    let offset = get_i64(body, "offset").unwrap_or(0);
    let limit = get_i64(body, "limit").unwrap_or(100).clamp(1, 100) as usize;
    if offset > 0 {
        // Telegram forgets confirmed updates.
        st.updates
            .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
    }
    let result: Vec<Value> = st
        .updates
        .iter()
        .filter(|u| u["update_id"].as_i64().unwrap_or(0) >= offset)
        .take(limit)
        .cloned()
        .collect();
    Ok(Value::Array(result))
}

fn require_chat(body: &Value) -> Result<i64, ApiErr> {
    match body.get("chat_id") {
        None | Some(Value::Null) => Err(bad_request("chat_id is empty")),
        Some(Value::String(s)) if s.trim().is_empty() => Err(bad_request("chat_id is empty")),
        Some(_) => get_i64(body, "chat_id").ok_or_else(|| bad_request("chat not found")),
    }
}

fn require_chat_if(cond: bool, body: &Value) -> Result<(), ApiErr> {
    if cond {
        require_chat(body)?;
    }
    Ok(())
}

fn chat_for(st: &State, chat_id: i64) -> Value {
    st.chats.get(&chat_id).cloned().unwrap_or_else(|| {
        if chat_id > 0 {
            json!({"id": chat_id, "type": "private", "first_name": format!("User{chat_id}")})
        } else {
            json!({"id": chat_id, "type": "supergroup", "title": format!("Group {chat_id}")})
        }
    })
}

fn set_my_commands(st: &mut State, body: &Value) -> ApiResult {
    let commands = body
        .get("commands")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if commands.len() > 100 {
        return Err(violation(
            "BOT_COMMANDS_TOO_MUCH",
            format!("{} commands (max 100)", commands.len()),
        ));
    }
    for c in &commands {
        let name = get_str(c, "command").unwrap_or_default();
        let valid = (1..=32).contains(&name.len())
            && name
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
        if !valid {
            return Err(violation(
                "BOT_COMMAND_INVALID",
                format!("command {name:?} must be 1-32 chars of a-z, 0-9, _"),
            ));
        }
        let description = get_str(c, "description").unwrap_or_default();
        if !(1..=256).contains(&description.chars().count()) {
            return Err(violation(
                "BOT_COMMAND_DESCRIPTION_INVALID",
                format!("command {name:?}: description must be 1-256 chars"),
            ));
        }
    }
    st.commands = commands;
    Ok(json!(true))
}

/// Checks a message text (with its parse mode) and returns the visible text and entities.
fn check_text(
    text: Option<String>,
    parse_mode: Option<String>,
    what: &str,
    too_long: &str,
) -> Result<(String, Vec<Value>), ApiErr> {
    let Some(text) = text else {
        return Err(bad_request("message text is empty"));
    };
    let (visible, entities) = match parse_mode.as_deref() {
        Some(mode) if mode.eq_ignore_ascii_case("html") => {
            let parsed = parse_html(&text).map_err(|e| {
                violation(
                    &format!("can't parse entities: {e}"),
                    format!("{what}: invalid HTML ({e}) in {}", excerpt(&text)),
                )
            })?;
            if parsed.elements > 100 {
                return Err(violation(
                    "too many entities",
                    format!(
                        "{what}: {} formatting entities (max 100) in {}",
                        parsed.elements,
                        excerpt(&text)
                    ),
                ));
            }
            (parsed.text, parsed.entities)
        }
        _ => (text, Vec::new()),
    };
    if visible.trim().is_empty() {
        return Err(violation(
            "message text is empty",
            format!("{what}: empty visible text"),
        ));
    }
    let len = utf16_len(&visible);
    if len > 4096 {
        return Err(violation(
            too_long,
            format!("{what}: visible text is {len} UTF-16 units (max 4096)"),
        ));
    }
    Ok((visible, entities))
}

fn excerpt(s: &str) -> String {
    let mut e = format!("{s:?}");
    truncate_chars(&mut e, 200);
    e
}

/// Checks `reply_markup`; returns the inline keyboard to echo in the message, if any.
fn check_markup(body: &Value, what: &str) -> Result<Option<Value>, ApiErr> {
    let Some(markup) = body.get("reply_markup").filter(|m| !m.is_null()) else {
        return Ok(None);
    };
    let Some(keyboard) = markup.get("inline_keyboard") else {
        return Ok(None);
    };
    let rows = keyboard
        .as_array()
        .ok_or_else(|| bad_request("inline keyboard must be an Array of Arrays"))?;
    let mut count = 0;
    for row in rows {
        let buttons = row
            .as_array()
            .ok_or_else(|| bad_request("inline keyboard must be an Array of Arrays"))?;
        for b in buttons {
            count += 1;
            let text = get_str(b, "text").unwrap_or_default();
            if text.trim().is_empty() {
                return Err(violation(
                    "BUTTON_TEXT_INVALID",
                    format!("{what}: inline button with empty text: {b}"),
                ));
            }
            if let Some(data) = b.get("callback_data") {
                let data = value_to_string(data);
                if !(1..=64).contains(&data.len()) {
                    return Err(violation(
                        "BUTTON_DATA_INVALID",
                        format!(
                            "{what}: callback_data of button {text:?} is {} bytes (must be 1-64): {data:?}",
                            data.len()
                        ),
                    ));
                }
            } else if let Some(url) = b.get("url") {
                if value_to_string(url).trim().is_empty() {
                    return Err(violation(
                        "BUTTON_URL_INVALID",
                        format!("{what}: button {text:?} has an empty url"),
                    ));
                }
            } else {
                let action = [
                    "switch_inline_query",
                    "switch_inline_query_current_chat",
                    "switch_inline_query_chosen_chat",
                    "login_url",
                    "web_app",
                    "callback_game",
                    "pay",
                    "copy_text",
                ]
                .iter()
                .any(|k| b.get(k).is_some());
                if !action {
                    return Err(violation(
                        "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
                        format!("{what}: inline button {text:?} has no action"),
                    ));
                }
            }
        }
    }
    if count > 100 {
        return Err(violation(
            "reply markup is too long",
            format!("{what}: {count} inline buttons (max 100)"),
        ));
    }
    Ok(Some(markup.clone()))
}

fn send_message(st: &mut State, body: &Value) -> ApiResult {
    let chat_id = require_chat(body)?;
    let (text, entities) = check_text(
        get_str(body, "text"),
        get_str(body, "parse_mode"),
        "sendMessage",
        "message is too long",
    )?;
    let markup = check_markup(body, "sendMessage")?;
    let mut msg = json!({
        "message_id": next_message_id(),
        "from": bot_user(),
        "chat": chat_for(st, chat_id),
        "date": now(),
        "text": text,
    });
    set_entities_and_markup(&mut msg, body, entities, markup);
    st.messages.insert(
        (chat_id, msg["message_id"].as_i64().unwrap_or(0)),
        msg.clone(),
    );
    Ok(msg)
}

fn set_entities_and_markup(
    msg: &mut Value,
    body: &Value,
    entities: Vec<Value>,
    markup: Option<Value>,
) {
    let obj = msg.as_object_mut().expect("message object");
    obj.remove("entities");
    obj.remove("reply_markup");
    if !entities.is_empty() {
        obj.insert("entities".into(), Value::Array(entities));
    } else if let Some(e) = body.get("entities").filter(|e| e.is_array()) {
        obj.insert("entities".into(), e.clone());
    }
    if let Some(m) = markup {
        obj.insert("reply_markup".into(), m);
    }
}

/// The stored bot message an edit targets: Ok(None) for inline messages.
fn edit_target(st: &State, body: &Value) -> Result<Option<(i64, i64, Option<Value>)>, ApiErr> {
    if get_str(body, "inline_message_id").is_some_and(|s| !s.is_empty()) {
        return Ok(None);
    }
    let chat_id = require_chat(body)?;
    let message_id = get_i64(body, "message_id")
        .ok_or_else(|| bad_request("message identifier is not specified"))?;
    Ok(Some((
        chat_id,
        message_id,
        st.messages.get(&(chat_id, message_id)).cloned(),
    )))
}

fn not_modified() -> ApiErr {
    bad_request(
        "message is not modified: specified new message content and reply markup are exactly \
         the same as a current content and reply markup of the message",
    )
}

fn edited_base(st: &State, chat_id: i64, message_id: i64, stored: Option<Value>) -> Value {
    let mut msg = stored.unwrap_or_else(|| {
        json!({
            "message_id": message_id,
            "from": bot_user(),
            "chat": chat_for(st, chat_id),
            "date": now(),
            "text": "",
        })
    });
    msg["edit_date"] = json!(now());
    msg
}

fn edit_message_text(st: &mut State, body: &Value) -> ApiResult {
    let target = edit_target(st, body)?;
    let (text, entities) = check_text(
        get_str(body, "text"),
        get_str(body, "parse_mode"),
        "editMessageText",
        "MESSAGE_TOO_LONG",
    )?;
    let markup = check_markup(body, "editMessageText")?;
    let Some((chat_id, message_id, stored)) = target else {
        return Ok(json!(true));
    };
    if let Some(old) = &stored {
        let same_text = old.get("text").and_then(Value::as_str) == Some(text.as_str());
        let old_entities = old.get("entities").cloned().unwrap_or(json!([]));
        let same_entities = old_entities == Value::Array(entities.clone());
        let same_markup = old.get("reply_markup") == markup.as_ref();
        if same_text && same_entities && same_markup {
            return Err(not_modified());
        }
    }
    let mut msg = edited_base(st, chat_id, message_id, stored);
    msg["text"] = json!(text);
    set_entities_and_markup(&mut msg, body, entities, markup);
    st.messages.insert((chat_id, message_id), msg.clone());
    Ok(msg)
}

fn edit_message_reply_markup(st: &mut State, body: &Value) -> ApiResult {
    let target = edit_target(st, body)?;
    let markup = check_markup(body, "editMessageReplyMarkup")?;
    let Some((chat_id, message_id, stored)) = target else {
        return Ok(json!(true));
    };
    if let Some(old) = &stored {
        if old.get("reply_markup") == markup.as_ref() {
            return Err(not_modified());
        }
    }
    let mut msg = edited_base(st, chat_id, message_id, stored);
    let obj = msg.as_object_mut().expect("message object");
    obj.remove("reply_markup");
    if let Some(m) = markup {
        obj.insert("reply_markup".into(), m);
    }
    st.messages.insert((chat_id, message_id), msg.clone());
    Ok(msg)
}

fn answer_callback_query(st: &mut State, body: &Value) -> ApiResult {
    let id = get_str(body, "callback_query_id").unwrap_or_default();
    let invalid = "query is too old and response timeout expired or query id is invalid";
    if !st.callbacks_pushed.contains(&id) {
        return Err(violation(
            invalid,
            format!("unknown callback query id {id:?}"),
        ));
    }
    if st.callbacks_answered.contains(&id) {
        return Err(violation(
            invalid,
            format!("callback query {id:?} answered twice"),
        ));
    }
    if let Some(text) = get_str(body, "text") {
        let n = text.chars().count();
        if n > 200 {
            return Err(violation(
                "MESSAGE_TOO_LONG",
                format!(
                    "callback answer text is {n} chars (max 200): {}",
                    excerpt(&text)
                ),
            ));
        }
    }
    st.callbacks_answered.insert(id);
    Ok(json!(true))
}

fn answer_inline_query(body: &Value) -> ApiResult {
    let results = body
        .get("results")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if results.len() > 50 {
        return Err(violation(
            "RESULTS_TOO_MUCH",
            format!("{} inline results (max 50)", results.len()),
        ));
    }
    let mut ids = HashSet::new();
    for (i, r) in results.iter().enumerate() {
        let id = get_str(r, "id").unwrap_or_default();
        if !(1..=64).contains(&id.len()) {
            return Err(violation(
                "RESULT_ID_INVALID",
                format!("result #{i} id {id:?} is {} bytes (must be 1-64)", id.len()),
            ));
        }
        if !ids.insert(id.clone()) {
            return Err(violation(
                "RESULT_ID_DUPLICATE",
                format!("duplicate result id {id:?}"),
            ));
        }
        let kind = get_str(r, "type").unwrap_or_default();
        if kind == "article" || r.get("title").is_some() {
            let title = get_str(r, "title").unwrap_or_default();
            if title.trim().is_empty() {
                return Err(violation(
                    "RESULT_TITLE_EMPTY",
                    format!("result {id:?} has an empty title"),
                ));
            }
        }
        if let Some(content) = r.get("input_message_content") {
            if content.get("message_text").is_some() || kind == "article" {
                check_text(
                    get_str(content, "message_text"),
                    get_str(content, "parse_mode"),
                    &format!("answerInlineQuery result {id:?}"),
                    "MESSAGE_TOO_LONG",
                )
                .map_err(|mut e| {
                    if e.violation.is_none() {
                        e.violation = Some(format!("result {id:?}: {}", e.description));
                    }
                    e
                })?;
            }
        } else if kind == "article" {
            return Err(violation(
                "MESSAGE_EMPTY",
                format!("article result {id:?} has no input_message_content"),
            ));
        }
        check_markup(r, &format!("answerInlineQuery result {id:?}"))?;
    }
    Ok(json!(true))
}

fn poll_option_text(o: &Value) -> String {
    match o {
        Value::String(s) => s.clone(),
        other => get_str(other, "text").unwrap_or_default(),
    }
}

fn send_poll(st: &mut State, body: &Value) -> ApiResult {
    let chat_id = require_chat(body)?;
    let question = get_str(body, "question").unwrap_or_default();
    let qn = question.chars().count();
    if qn == 0 {
        return Err(violation(
            "poll question must be non-empty",
            "empty poll question".into(),
        ));
    }
    if qn > 300 {
        return Err(violation(
            "poll question length must not exceed 300",
            format!(
                "poll question is {qn} chars (max 300): {}",
                excerpt(&question)
            ),
        ));
    }
    let options: Vec<String> = body
        .get("options")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(poll_option_text).collect())
        .unwrap_or_default();
    if options.len() < 2 {
        return Err(violation(
            "poll must have at least 2 option",
            format!("{} poll option(s) (min 2)", options.len()),
        ));
    }
    if options.len() > 10 {
        return Err(violation(
            "poll can't have more than 10 options",
            format!("{} poll options (max 10)", options.len()),
        ));
    }
    for o in &options {
        let n = o.chars().count();
        if n == 0 {
            return Err(violation(
                "poll options must be non-empty",
                "empty poll option".into(),
            ));
        }
        if n > 100 {
            return Err(violation(
                "poll options length must not exceed 100",
                format!("poll option is {n} chars (max 100): {}", excerpt(o)),
            ));
        }
    }
    let is_anonymous = match body.get("is_anonymous") {
        None | Some(Value::Null) => true,
        Some(v) => match get_bool(body, "is_anonymous") {
            Some(b) => b,
            None => {
                return Err(violation(
                    "is_anonymous must be a Boolean",
                    format!("is_anonymous is {v}"),
                ))
            }
        },
    };
    let poll_type = get_str(body, "type").unwrap_or_else(|| "regular".into());
    if poll_type != "quiz" && poll_type != "regular" {
        return Err(violation(
            "poll type is invalid",
            format!("poll type {poll_type:?}"),
        ));
    }
    let correct = get_i64(body, "correct_option_id");
    if poll_type == "quiz" {
        match correct {
            Some(c) if (0..options.len() as i64).contains(&c) => {}
            other => {
                return Err(violation(
                    "wrong correct option ID specified",
                    format!(
                        "quiz correct_option_id {other:?} not in 0..{}",
                        options.len()
                    ),
                ))
            }
        }
    }
    let mut explanation = None;
    let mut explanation_entities = Vec::new();
    if let Some(raw) = get_str(body, "explanation") {
        let (text, entities) = match get_str(body, "explanation_parse_mode") {
            Some(m) if m.eq_ignore_ascii_case("html") => {
                let p = parse_html(&raw).map_err(|e| {
                    violation(
                        &format!("can't parse explanation entities: {e}"),
                        format!("poll explanation: invalid HTML ({e}) in {}", excerpt(&raw)),
                    )
                })?;
                (p.text, p.entities)
            }
            _ => (raw, Vec::new()),
        };
        let n = text.chars().count();
        let lf = text.matches('\n').count();
        if n > 200 || lf > 2 {
            return Err(violation(
                "explanation is too long",
                format!(
                    "quiz explanation is {n} chars with {lf} line feeds (max 200 chars, 2 line feeds): {}",
                    excerpt(&text)
                ),
            ));
        }
        explanation = Some(text);
        explanation_entities = entities;
    }
    let open_period = get_i64(body, "open_period");
    if let Some(p) = open_period {
        if !(5..=600).contains(&p) {
            return Err(violation(
                "open_period is invalid",
                format!("poll open_period {p} not in 5..=600"),
            ));
        }
    }
    let markup = check_markup(body, "sendPoll")?;

    st.next_poll_id += 1;
    let mut poll = json!({
        "id": format!("{}{:06}", now(), st.next_poll_id),
        "question": question,
        "options": options.iter().map(|o| json!({"text": o, "voter_count": 0})).collect::<Vec<_>>(),
        "total_voter_count": 0,
        "is_closed": false,
        "is_anonymous": is_anonymous,
        "type": poll_type,
        "allows_multiple_answers": poll_type == "regular"
            && get_bool(body, "allows_multiple_answers").unwrap_or(false),
    });
    if poll_type == "quiz" {
        poll["correct_option_id"] = json!(correct);
    }
    if let Some(e) = explanation {
        poll["explanation"] = json!(e);
        if !explanation_entities.is_empty() {
            poll["explanation_entities"] = Value::Array(explanation_entities);
        }
    }
    if let Some(p) = open_period {
        poll["open_period"] = json!(p);
    }
    let mut msg = json!({
        "message_id": next_message_id(),
        "from": bot_user(),
        "chat": chat_for(st, chat_id),
        "date": now(),
        "poll": poll,
    });
    if let Some(m) = markup {
        msg["reply_markup"] = m;
    }
    st.messages.insert(
        (chat_id, msg["message_id"].as_i64().unwrap_or(0)),
        msg.clone(),
    );
    Ok(msg)
}

fn stop_poll(st: &mut State, body: &Value) -> ApiResult {
    let chat_id = require_chat(body)?;
    let message_id = get_i64(body, "message_id")
        .ok_or_else(|| bad_request("message identifier is not specified"))?;
    let Some(msg) = st.messages.get_mut(&(chat_id, message_id)) else {
        return Err(bad_request("message with poll to stop not found"));
    };
    let Some(poll) = msg.get_mut("poll") else {
        return Err(bad_request("message is not a poll"));
    };
    if poll["is_closed"] == json!(true) {
        return Err(bad_request("poll has already been closed"));
    }
    poll["is_closed"] = json!(true);
    Ok(poll.clone())
}

// ---------------------------------------------------------------------------------------------
// Telegram HTML

/// Visible text, entities and the number of formatting elements of an HTML message.
#[derive(Debug)]
pub struct ParsedHtml {
    pub text: String,
    pub entities: Vec<Value>,
    pub elements: usize,
}

struct Open {
    tag: String,
    start: usize,
    entity: Option<Value>,
    language: Option<String>,
}

fn decode_entity(s: &str, at: usize) -> Result<(char, usize), String> {
    // `s` starts with '&'; returns the char and the byte length consumed.
    let end = s
        .char_indices()
        .take(12)
        .find(|(_, c)| *c == ';')
        .map(|(i, _)| i)
        .ok_or_else(|| format!("Character entity expected at byte offset {at} (raw '&')"))?;
    let name = &s[1..end];
    let ch = match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        _ => {
            if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)
            } else if let Some(dec) = name.strip_prefix('#') {
                dec.parse::<u32>().ok().and_then(char::from_u32)
            } else {
                None
            }
        }
    };
    ch.map(|c| (c, end + 1))
        .ok_or_else(|| format!("Unsupported HTML entity \"&{name};\" at byte offset {at}"))
}

fn decode_attr(s: &str) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        if rest.starts_with('&') {
            if let Ok((c, n)) = decode_entity(rest, i) {
                out.push(c);
                i += n;
                continue;
            }
        }
        let c = rest.chars().next().expect("char");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Parses the attributes of a start tag (the text after the tag name).
fn parse_attrs(s: &str) -> Vec<(String, String)> {
    let mut attrs = Vec::new();
    let mut chars = s.trim().trim_end_matches('/').chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || c == '=' {
                break;
            }
            name.push(c);
            chars.next();
        }
        if name.is_empty() {
            break;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            match chars.peek() {
                Some(&q) if q == '"' || q == '\'' => {
                    chars.next();
                    for c in chars.by_ref() {
                        if c == q {
                            break;
                        }
                        value.push(c);
                    }
                }
                _ => {
                    while let Some(&c) = chars.peek() {
                        if c.is_whitespace() {
                            break;
                        }
                        value.push(c);
                        chars.next();
                    }
                }
            }
        }
        attrs.push((name.to_ascii_lowercase(), decode_attr(&value)));
    }
    attrs
}

/// Parses Telegram's HTML subset; errors are like Telegram's "can't parse entities" details.
pub fn parse_html(s: &str) -> Result<ParsedHtml, String> {
    let mut text = String::new();
    let mut pos16 = 0usize;
    let mut stack: Vec<Open> = Vec::new();
    let mut entities: Vec<Value> = Vec::new();
    let mut elements = 0usize;
    let mut i = 0usize;
    while i < s.len() {
        let rest = &s[i..];
        let c = rest.chars().next().expect("char");
        if c == '&' {
            let (ch, n) = decode_entity(rest, i)?;
            text.push(ch);
            pos16 += ch.len_utf16();
            i += n;
            continue;
        }
        if c != '<' {
            text.push(c);
            pos16 += c.len_utf16();
            i += c.len_utf8();
            continue;
        }
        // A tag: find its end, respecting quoted attribute values.
        let mut end = None;
        let mut quote = None;
        for (j, ch) in rest.char_indices().skip(1) {
            match (quote, ch) {
                (Some(q), _) if ch == q => quote = None,
                (Some(_), _) => {}
                (None, '"') | (None, '\'') => quote = Some(ch),
                (None, '>') => {
                    end = Some(j);
                    break;
                }
                (None, '<') => break,
                _ => {}
            }
        }
        let Some(end) = end else {
            return Err(format!(
                "Unclosed start tag or raw '<' at byte offset {i} (use &lt;)"
            ));
        };
        let inner = &rest[1..end];
        if let Some(name) = inner.strip_prefix('/') {
            let name = name.trim().to_ascii_lowercase();
            let Some(open) = stack.pop() else {
                return Err(format!(
                    "Unexpected end tag \"</{name}>\" at byte offset {i}"
                ));
            };
            if open.tag != name {
                return Err(format!(
                    "Unmatched end tag at byte offset {i}, expected \"</{}>\", found \"</{name}>\"",
                    open.tag
                ));
            }
            let length = pos16 - open.start;
            if let Some(mut entity) = open.entity {
                if name == "code" && stack.last().is_some_and(|p| p.tag == "pre") {
                    // <pre><code class="language-x"> is one pre entity with a language.
                    if let Some(parent) = stack.last_mut() {
                        if open.language.is_some() {
                            parent.language = open.language.clone();
                        }
                    }
                } else if length > 0 {
                    if name == "pre" {
                        if let Some(lang) = &open.language {
                            entity["language"] = json!(lang);
                        }
                    }
                    entity["offset"] = json!(open.start);
                    entity["length"] = json!(length);
                    entities.push(entity);
                }
            }
        } else {
            let name_end = inner
                .find(|ch: char| ch.is_whitespace() || ch == '/')
                .unwrap_or(inner.len());
            let name = inner[..name_end].to_ascii_lowercase();
            if name.is_empty() {
                return Err(format!(
                    "Empty tag name or raw '<' at byte offset {i} (use &lt;)"
                ));
            }
            let attrs = parse_attrs(&inner[name_end..]);
            let attr = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let mut language = None;
            let entity = match name.as_str() {
                "b" | "strong" => Some(json!({"type": "bold"})),
                "i" | "em" => Some(json!({"type": "italic"})),
                "u" | "ins" => Some(json!({"type": "underline"})),
                "s" | "strike" | "del" => Some(json!({"type": "strikethrough"})),
                "tg-spoiler" => Some(json!({"type": "spoiler"})),
                "span" => {
                    if attr("class").as_deref() != Some("tg-spoiler") {
                        return Err(format!(
                            "Tag \"span\" must have class \"tg-spoiler\" at byte offset {i}"
                        ));
                    }
                    Some(json!({"type": "spoiler"}))
                }
                "code" => {
                    language =
                        attr("class").and_then(|c| c.strip_prefix("language-").map(str::to_string));
                    Some(json!({"type": "code"}))
                }
                "pre" => Some(json!({"type": "pre"})),
                "blockquote" => {
                    if attrs.iter().any(|(n, _)| n == "expandable") {
                        Some(json!({"type": "expandable_blockquote"}))
                    } else {
                        Some(json!({"type": "blockquote"}))
                    }
                }
                "a" => {
                    let Some(href) = attr("href") else {
                        return Err(format!(
                            "Tag \"a\" must have attribute \"href\" at byte offset {i}"
                        ));
                    };
                    // Telegram drops links it can't parse; keep only absolute URLs.
                    if href.contains(':') && !href.trim().is_empty() {
                        Some(json!({"type": "text_link", "url": href}))
                    } else {
                        None
                    }
                }
                "tg-emoji" => {
                    if attr("emoji-id").is_none() {
                        return Err(format!(
                            "Tag \"tg-emoji\" must have attribute \"emoji-id\" at byte offset {i}"
                        ));
                    }
                    None
                }
                _ => {
                    return Err(format!(
                        "Unsupported start tag \"{name}\" at byte offset {i}"
                    ))
                }
            };
            elements += 1;
            stack.push(Open {
                tag: name,
                start: pos16,
                entity,
                language,
            });
        }
        i += end + 1;
    }
    if let Some(open) = stack.last() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            open.tag
        ));
    }
    entities.sort_by_key(|e| {
        (
            e["offset"].as_u64().unwrap_or(0),
            std::cmp::Reverse(e["length"].as_u64().unwrap_or(0)),
        )
    });
    Ok(ParsedHtml {
        text,
        entities,
        elements,
    })
}
