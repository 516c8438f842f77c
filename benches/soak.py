#!/usr/bin/env python3
"""Soak and flood benchmarks of `studybot bot` against a faulty fake Telegram Bot API on
loopback (standard library only). Not run in CI; figures are in BENCHMARKS.md.

    python3 benches/soak.py --bin target/release/studybot soak [--minutes 10] [--rate 20]
    python3 benches/soak.py --bin target/release/studybot flood

soak: for `--minutes` at `--rate` updates a second, a mix of questions in 40 groups and 40
private chats, presses of the buttons on the bot's answers, inline queries, /top and /score.
The fake server answers a share of requests with a 429 (retry after 1 s), a 502 with an HTML
page, or closes the connection without answering (getUpdates included). It samples the bot's
resident memory (VmRSS) and open file descriptors (/proc/PID/fd) after a warm-up minute and
every minute after, and checks at the end that every question got its answer.

flood: one group floods the bot with 100 commands and button presses in 10 seconds (ten
members), while a private reader asks a question every 2 seconds; prints the latency of each
private answer, how many messages went into the group and whether it got its one notice.
"""
import argparse
import json
import os
import random
import signal
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Studybot", "username": "studybot_bench_bot"}


class State:
    def __init__(self):
        self.cond = threading.Condition()
        self.updates = []  # (update_id, update)
        self.next_update = 1
        self.next_message = 1
        self.first_poll = threading.Event()
        self.stopping = False
        self.faults = {"429": 0.0, "502": 0.0, "drop": 0.0}
        self.injected_faults = {"429": 0, "502": 0, "drop": 0}
        self.asked = {}  # (chat, message_id) -> perf_counter when injected
        self.answers = {}  # (chat, message_id) -> perf_counter of the first answer
        self.sent = []  # (perf_counter, chat, text)
        self.buttons = []  # (chat, message_id, callback data)
        self.callbacks_pushed = set()
        self.callbacks_answered = set()
        self.inline_answered = 0
        self.pushed_at = {}  # update_id -> perf_counter when queued
        self.delivery = []  # seconds from queued to first handed to the bot
        self.rng = random.Random(17)

    def message_id(self):
        with self.cond:
            self.next_message += 1
            return self.next_message

    def push(self, update):
        with self.cond:
            update["update_id"] = self.next_update
            self.pushed_at[self.next_update] = time.perf_counter()
            self.updates.append((self.next_update, update))
            self.next_update += 1
            self.cond.notify_all()

    def fault(self, method):
        """Which fault, if any, to inject into this call."""
        if method in ("getme", "setmycommands", "deletewebhook"):
            return None
        with self.cond:
            roll = self.rng.random()
            for name, share in self.faults.items():
                if roll < share:
                    self.injected_faults[name] += 1
                    return name
                roll -= share
        return None


STATE = State()


def chat_object(chat_id):
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": f"Reader{chat_id}"}
    return {"id": chat_id, "type": "supergroup", "title": f"Study group {chat_id}"}


def user(user_id):
    return {"id": user_id, "is_bot": False, "first_name": f"Reader{user_id}"}


def ask(chat_id, user_id, text):
    """Pushes a message; returns its (chat, message id)."""
    message_id = STATE.message_id()
    message = {"message_id": message_id, "date": int(time.time()), "chat": chat_object(chat_id),
               "from": user(user_id), "text": text}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    with STATE.cond:
        STATE.asked[(chat_id, message_id)] = time.perf_counter()
    STATE.push({"message": message})
    return (chat_id, message_id)


def press(user_id, chat_id, message_id, data):
    with STATE.cond:
        qid = f"cb{STATE.next_update}"
        STATE.callbacks_pushed.add(qid)
    STATE.push({"callback_query": {
        "id": qid, "from": user(user_id), "chat_instance": f"ci{chat_id}", "data": data,
        "message": {"message_id": message_id, "date": int(time.time()), "chat": chat_object(chat_id),
                    "from": BOT_USER, "text": "an answer"}}})


def inline(user_id, query):
    STATE.push({"inline_query": {"id": f"iq{STATE.next_update}", "from": user(user_id),
                                 "query": query, "offset": ""}})


class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def send(self, status, payload, content_type="application/json"):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            params = json.loads(raw) if raw else {}
        except ValueError:
            params = {}
        method = self.path.rsplit("/", 1)[-1].lower()
        fault = self.fault(method)
        if fault == "drop":
            self.close_connection = True
            return
        if fault == "429":
            return self.send(429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                                   "parameters": {"retry_after": 1}})
        if fault == "502":
            return self.send(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
        self.send(200, {"ok": True, "result": self.result(method, params)})

    def fault(self, method):
        if STATE.stopping:
            return None
        return STATE.fault(method)

    def result(self, method, params):
        now = time.perf_counter()
        if method == "getme":
            return dict(BOT_USER, can_join_groups=True, can_read_all_group_messages=False,
                        supports_inline_queries=True, can_connect_to_business=False, has_main_web_app=False)
        if method == "getupdates":
            return get_updates(params)
        if method in ("sendmessage", "editmessagetext"):
            chat_id = int(params.get("chat_id"))
            message_id = STATE.message_id() if method == "sendmessage" else int(params.get("message_id"))
            to = (params.get("reply_parameters") or {}).get("message_id")
            text = params.get("text", "")
            keyboard = (params.get("reply_markup") or {}).get("inline_keyboard") or []
            with STATE.cond:
                STATE.sent.append((now, chat_id, text))
                if to is not None and (chat_id, to) in STATE.asked:
                    STATE.answers.setdefault((chat_id, to), now)
                for row in keyboard:
                    for button in row:
                        if "callback_data" in button:
                            STATE.buttons.append((chat_id, message_id, button["callback_data"]))
                STATE.buttons = STATE.buttons[-500:]
            return {"message_id": message_id, "date": int(time.time()), "from": BOT_USER,
                    "chat": chat_object(chat_id), "text": text}
        if method == "answercallbackquery":
            with STATE.cond:
                STATE.callbacks_answered.add(params.get("callback_query_id"))
            return True
        if method == "answerinlinequery":
            with STATE.cond:
                STATE.inline_answered += 1
            return True
        if method == "getchatmember":
            return {"user": user(int(params.get("user_id", 1))), "status": "member"}
        return True


def get_updates(params):
    offset = int(params.get("offset") or 0)
    timeout = min(float(params.get("timeout") or 0), 30.0)
    limit = int(params.get("limit") or 100)
    deadline = time.monotonic() + timeout
    STATE.first_poll.set()
    with STATE.cond:
        STATE.updates = [(i, u) for i, u in STATE.updates if i >= offset]
        while not STATE.updates and not STATE.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            STATE.cond.wait(left)
        batch = [u for _, u in STATE.updates[:limit]]
        now = time.perf_counter()
        for u in batch:
            queued = STATE.pushed_at.pop(u["update_id"], None)
            if queued is not None:
                STATE.delivery.append(now - queued)
        return batch


def proc_kb(pid, field):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def sample(pid, label, t0):
    rss = proc_kb(pid, "VmRSS") or 0
    row = {"at_s": round(time.perf_counter() - t0), "label": label, "rss_mb": round(rss / 1024, 1),
           "fds": open_fds(pid), "threads": proc_kb(pid, "Threads")}
    print(json.dumps(row), flush=True)
    return row


def questions():
    with open(ROOT / "eval" / "dev.jsonl", encoding="utf-8") as fh:
        return [json.loads(line)["question"] for line in fh if line.strip()]


def soak(bot, args):
    qs = questions()
    rng = random.Random(5)
    groups = [-(5000 + i) for i in range(40)]
    privates = [6000 + i for i in range(40)]
    t0 = time.perf_counter()
    # Warm-up: a minute of the same load without counting, so allocators and caches settle.
    samples = []
    total = int(args.rate * 60 * (args.minutes + 1))
    for k in range(total):
        at = t0 + k / args.rate
        delay = at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        if k == int(args.rate * 60):
            samples.append(sample(bot.pid, "start (after the warm-up minute)", t0))
        elif k > int(args.rate * 60) and k % int(args.rate * 60) == 0:
            samples.append(sample(bot.pid, f"minute {k // int(args.rate * 60) - 1}", t0))
        roll = rng.random()
        member = 100 + rng.randrange(500)
        if roll < 0.55:
            chat = rng.choice(groups + privates)
            who = chat if chat > 0 else member
            text = ("/ask " if chat < 0 else "") + rng.choice(qs)
            ask(chat, who, text)
        elif roll < 0.80:
            with STATE.cond:
                button = rng.choice(STATE.buttons) if STATE.buttons else None
            if button:
                chat, message_id, data = button
                press(chat if chat > 0 else member, chat, message_id, data)
        elif roll < 0.92:
            inline(member, rng.choice(qs))
        else:
            chat = rng.choice(groups)
            ask(chat, member, rng.choice(["/top", "/score", "/sections"]))
    injected = time.perf_counter() - t0
    # Drain: every question answered (retries included), then the final sample.
    deadline = time.perf_counter() + args.drain
    while time.perf_counter() < deadline:
        with STATE.cond:
            missing = [k for k in STATE.asked if k not in STATE.answers]
        if not missing:
            break
        time.sleep(0.2)
    time.sleep(2)
    samples.append(sample(bot.pid, "end", t0))
    with STATE.cond:
        latencies = sorted(STATE.answers[k] - STATE.asked[k] for k in STATE.answers)
        by_kind = {}
        for (chat, message), asked in STATE.asked.items():
            if (chat, message) in STATE.answers:
                kind = "group" if chat < 0 else "private"
                by_kind.setdefault(kind, []).append(STATE.answers[(chat, message)] - asked)
        delivery = sorted(STATE.delivery)
        print(json.dumps({"delivery_s": "queued -> handed to the bot", "p50": round(pct(delivery, 50), 3),
                          "p99": round(pct(delivery, 99), 3), "n": len(delivery)}))
        for kind, values in sorted(by_kind.items()):
            values.sort()
            print(json.dumps({"latency_s": kind, "p50": round(pct(values, 50), 3),
                              "p99": round(pct(values, 99), 3), "n": len(values)}))
        result = {
            "minutes": args.minutes, "rate": args.rate, "updates": STATE.next_update - 1,
            "injected_in_s": round(injected, 1),
            "messages": len(STATE.asked), "answered": len(STATE.answers),
            "unanswered": len([k for k in STATE.asked if k not in STATE.answers]),
            "callbacks": len(STATE.callbacks_pushed), "callbacks_answered": len(STATE.callbacks_answered),
            "inline_answered": STATE.inline_answered,
            "faults_injected": STATE.injected_faults,
            "latency_s": {"p50": round(pct(latencies, 50), 3), "p99": round(pct(latencies, 99), 3),
                          "max": round(latencies[-1], 3) if latencies else None},
            "rss_mb": {"start": samples[0]["rss_mb"], "end": samples[-1]["rss_mb"],
                       "max": max(s["rss_mb"] for s in samples)},
            "fds": {"start": samples[0]["fds"], "end": samples[-1]["fds"],
                    "max": max(s["fds"] or 0 for s in samples)},
        }
    print(json.dumps(result, indent=1))


def flood(bot, args):
    group, reader = -7000, 7001
    first = ask(group, 10, "/ask what were factory shop committees")
    deadline = time.perf_counter() + 30
    while first not in STATE.answers and time.perf_counter() < deadline:
        time.sleep(0.05)
    with STATE.cond:
        buttons = [(c, m, d) for c, m, d in STATE.buttons if c == group]
    if not buttons:
        raise SystemExit("the group's first answer had no buttons")
    t0 = time.perf_counter()
    private = []
    for i in range(100):
        at = t0 + i * 0.1
        delay = at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        member = 10 + i % 10
        if i % 2 == 0:
            ask(group, member, f"/ask how did the soviets organise elections ({i})")
        else:
            _, message_id, data = buttons[i % len(buttons)]
            press(member, group, message_id, data)
        if time.perf_counter() - t0 >= 2 * len(private):
            private.append(ask(reader, reader, "who was john reed"))
    deadline = time.perf_counter() + args.drain
    while time.perf_counter() < deadline:
        with STATE.cond:
            if all(k in STATE.answers for k in private):
                break
        time.sleep(0.05)
    time.sleep(2)
    with STATE.cond:
        latencies = [round(STATE.answers[k] - STATE.asked[k], 3) if k in STATE.answers else None
                     for k in private]
        group_sent = [t for t, c, _ in STATE.sent if c == group and t >= t0]
        notices = sum(1 for _, c, text in STATE.sent if c == group and "skipped some older answers" in text)
    print(json.dumps({"private_latency_s": latencies, "group_messages_after_flood_start": len(group_sent),
                      "group_busy_notices": notices, "callbacks": len(STATE.callbacks_pushed),
                      "callbacks_answered": len(STATE.callbacks_answered)}, indent=1))


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(-(-p * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", choices=["soak", "flood"])
    ap.add_argument("--bin", default=str(ROOT / "target" / "release" / "studybot"))
    ap.add_argument("--minutes", type=float, default=10.0, help="soak: minutes measured (after a warm-up minute)")
    ap.add_argument("--rate", type=float, default=20.0, help="soak: updates per second")
    ap.add_argument("--faults", type=float, default=0.03, help="soak: share of calls failing with each of 429, 502 and a dropped connection")
    ap.add_argument("--drain", type=float, default=120.0, help="most seconds to wait for answers at the end")
    ap.add_argument("--env", action="append", default=[], help="extra NAME=VALUE for the bot")
    args = ap.parse_args()

    if args.scenario == "soak":
        STATE.faults = {"429": args.faults, "502": args.faults, "drop": args.faults}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    data = tempfile.mkdtemp(prefix="studybot-soak-")
    env = dict(os.environ, TELOXIDE_TOKEN="123456:TEST", TELOXIDE_API_URL=f"http://127.0.0.1:{port}",
               STUDYBOT__DATA_DIR=data, RUST_LOG="error")
    for kv in args.env:
        k, v = kv.split("=", 1)
        env[k] = v
    log = open(Path(data) / "bot.log", "w")
    start = time.perf_counter()
    bot = subprocess.Popen([args.bin, "bot"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        while not STATE.first_poll.wait(0.1):
            if bot.poll() is not None or time.perf_counter() - start > 120:
                raise SystemExit(f"the bot never polled for updates; see {data}/bot.log")
        time.sleep(1)
        (soak if args.scenario == "soak" else flood)(bot, args)
    finally:
        with STATE.cond:
            STATE.stopping = True
            STATE.cond.notify_all()
        bot.send_signal(signal.SIGTERM)
        try:
            bot.wait(20)
        except subprocess.TimeoutExpired:
            bot.kill()
        server.shutdown()
        print(f"bot exit status {bot.returncode}; log in {data}/bot.log", flush=True)


if __name__ == "__main__":
    main()
