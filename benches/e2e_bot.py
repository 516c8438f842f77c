#!/usr/bin/env python3
"""End-to-end benchmark of `studybot bot` against a fake Telegram Bot API server on loopback
(standard library only). See BENCHMARKS.md for figures.

The fake server answers getMe, setMyCommands, deleteWebhook and anything else with ok, serves
getUpdates as a long poll, and records every sendMessage. Once the bot polls, it waits, reads
the bot's idle memory, then injects `/ask` questions from eval/dev.jsonl into 50 group chats
at a target rate for a bounded time, each from a new user id (so the per-user flood limit is
never reached), and measures update-in -> sendMessage-out latency, the sustained reply rate and
the bot's memory (VmRSS sampled, VmHWM at the end) from /proc.

    python3 benches/e2e_bot.py --bin target/release/studybot --rate 200 --seconds 20 \
        [--env STUDYBOT__TELEGRAM__MAX_SENDS_PER_SEC=10000] [--private --chats 1000]

Telegram takes 20 messages a minute in a group, and the bot keeps to that: past a minute's
backlog a group's older answers are dropped (with one notice). So above 50 * 20 / 60 = 17
questions a second into the 50 groups, the groups' limits are what is measured; `--private`
spreads the questions over `--chats` private chats instead (each sender then asks from the
same user id, so keep each chat under the flood guard's one question per two seconds).
"""
import argparse
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Studybot", "username": "studybot_bench_bot"}
CHATS = 50


class State:
    def __init__(self):
        self.cond = threading.Condition()
        self.updates = []  # (update_id, update)
        self.next_update = 1
        self.injected = {}  # (chat_id, message_id) -> perf_counter at injection
        self.replies = []  # (perf_counter, latency or None)
        self.polls = 0
        self.first_poll = threading.Event()
        self.stopping = False
        self.sent_id = 0

    def inject(self, chat_id, message_id, user_id, text):
        now = time.perf_counter()
        chat = ({"id": chat_id, "type": "private", "first_name": f"Reader{chat_id}"} if chat_id > 0
                else {"id": chat_id, "type": "group", "title": f"Study group {chat_id}"})
        update = {
            "update_id": 0,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": chat,
                "from": {"id": user_id, "is_bot": False, "first_name": f"Reader{user_id}"},
                "text": text,
                "entities": [{"type": "bot_command", "offset": 0, "length": 4}],
            },
        }
        with self.cond:
            update["update_id"] = self.next_update
            self.updates.append((self.next_update, update))
            self.next_update += 1
            self.injected[(chat_id, message_id)] = now
            self.cond.notify_all()


STATE = State()


class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to each reply

    def log_message(self, *args):
        pass

    def reply(self, result):
        body = json.dumps({"ok": True, "result": result}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.do_POST()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            params = json.loads(raw) if raw else {}
        except ValueError:
            params = {}
        method = self.path.rsplit("/", 1)[-1].lower()  # teloxide sends GetMe, Telegram ignores case
        if method == "getme":
            self.reply(dict(BOT_USER, can_join_groups=True, can_read_all_group_messages=False,
                            supports_inline_queries=False, can_connect_to_business=False,
                            has_main_web_app=False))
        elif method == "getupdates":
            self.reply(get_updates(params))
        elif method == "sendmessage":
            now = time.perf_counter()
            chat_id = int(params.get("chat_id"))
            to = (params.get("reply_parameters") or {}).get("message_id")
            with STATE.cond:
                sent = STATE.injected.pop((chat_id, to), None)
                STATE.replies.append((now, None if sent is None else now - sent))
                STATE.sent_id += 1
                message_id = 1_000_000 + STATE.sent_id
            self.reply({"message_id": message_id, "date": int(time.time()), "from": BOT_USER,
                        "chat": {"id": chat_id, "type": "group", "title": f"Study group {chat_id}"},
                        "text": params.get("text", "")})
        else:
            self.reply(True)


def get_updates(params):
    offset = int(params.get("offset") or 0)
    timeout = min(float(params.get("timeout") or 0), 30.0)
    limit = int(params.get("limit") or 100)
    deadline = time.monotonic() + timeout
    STATE.first_poll.set()
    with STATE.cond:
        STATE.polls += 1
        STATE.updates = [(i, u) for i, u in STATE.updates if i >= offset]
        while not STATE.updates and not STATE.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            STATE.cond.wait(left)
        return [u for _, u in STATE.updates[:limit]]


def proc_kb(pid, field):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(-(-p * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "target" / "release" / "studybot"))
    ap.add_argument("--rate", type=float, default=200.0, help="updates injected per second")
    ap.add_argument("--seconds", type=float, default=20.0, help="how long to inject (bounded to 120)")
    ap.add_argument("--idle", type=float, default=3.0, help="seconds idle before the load")
    ap.add_argument("--drain", type=float, default=60.0, help="most seconds to wait for replies after injecting")
    ap.add_argument("--env", action="append", default=[], help="extra NAME=VALUE for the bot")
    ap.add_argument("--chats", type=int, default=CHATS, help="chats the questions are spread over")
    ap.add_argument("--private", action="store_true", help="private chats instead of groups")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    seconds = min(args.seconds, 120.0)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    data = tempfile.mkdtemp(prefix="studybot-e2e-")
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
            if bot.poll() is not None or time.perf_counter() - start > 60:
                raise SystemExit(f"the bot never polled for updates; see {data}/bot.log")
        ready = time.perf_counter() - start
        time.sleep(args.idle)
        idle_rss = proc_kb(bot.pid, "VmRSS")

        with open(ROOT / "eval" / "dev.jsonl", encoding="utf-8") as fh:
            questions = [json.loads(line)["question"] for line in fh if line.strip()]
        peak_rss = [0]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak_rss[0] = max(peak_rss[0], proc_kb(bot.pid, "VmRSS") or 0)
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        total = int(args.rate * seconds)
        message_ids = [0] * args.chats
        t0 = time.perf_counter()
        for k in range(total):
            at = t0 + k / args.rate
            delay = at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            chat = k % args.chats
            message_ids[chat] += 1
            chat_id, user_id = (200_000 + chat, 200_000 + chat) if args.private else (-(1000 + chat), 100_000 + k)
            STATE.inject(chat_id, message_ids[chat], user_id, "/ask " + questions[k % len(questions)])
        injected_in = time.perf_counter() - t0
        deadline = time.perf_counter() + args.drain
        while time.perf_counter() < deadline:
            with STATE.cond:
                answered = sum(1 for _, lat in STATE.replies if lat is not None)
            if answered >= total:
                break
            time.sleep(0.05)
        done.set()
        sampler.join()
        hwm = proc_kb(bot.pid, "VmHWM")
        with STATE.cond:
            replies = [(t, lat) for t, lat in STATE.replies if lat is not None]
            stray = len(STATE.replies) - len(replies)
        lat = sorted(l * 1e3 for _, l in replies)
        last = max((t for t, _ in replies), default=t0)
        # Steady state: replies between 25% and 100% of the injection window.
        window = [t for t, _ in replies if t0 + 0.25 * seconds <= t <= t0 + seconds]
        result = {
            "target_rate": args.rate, "seconds": seconds, "injected": total,
            "injected_in_s": round(injected_in, 2), "answered": len(replies), "other_sends": stray,
            "ready_s": round(ready, 3),
            "sustained_rate": round(len(replies) / max(last - t0, 1e-9), 1),
            "steady_rate": round(len(window) / (0.75 * seconds), 1),
            "latency_ms": {"p50": round(pct(lat, 50), 1), "p90": round(pct(lat, 90), 1),
                           "p99": round(pct(lat, 99), 1), "max": round(lat[-1] if lat else float("nan"), 1)},
            "rss_mb": {"idle": round((idle_rss or 0) / 1024, 1), "load_max": round(peak_rss[0] / 1024, 1),
                       "hwm": round((hwm or 0) / 1024, 1)},
            "polls": STATE.polls, "env": args.env,
        }
        print(json.dumps(result) if args.json else json.dumps(result, indent=1))
    finally:
        with STATE.cond:
            STATE.stopping = True
            STATE.cond.notify_all()
        bot.send_signal(signal.SIGTERM)
        try:
            bot.wait(15)
        except subprocess.TimeoutExpired:
            bot.kill()
        server.shutdown()


if __name__ == "__main__":
    main()
