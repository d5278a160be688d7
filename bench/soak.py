"""Soak: a bounded mixed load on a real `tongban serve`, watching its memory and storage over time.

    python bench/soak.py [--duration 3600] [--residents 3000] [--rate 5]
                         [--postgres postgresql://postgres@127.0.0.1:5432/test] [--json PATH]

Starts `tongban serve` in a subprocess on loopback (offline brain; the embedded SQLite default or
a fresh database on --postgres; speech recognition on the tiny FunASR model the tests build)
and a stand-in for Tencent's API in this process. Residents arrive in sessions, at random, so
that about --rate turns a second are offered: single questions (bench/queries.jsonl), the
scripted conversations of ../shared/eval/dev.jsonl, and booking → my appointments → cancel.
Web residents (cookie, X-Forwarded-For from a trusted loopback ingress, four to an address)
type or send voice (espeak-ng speech); 公众号 residents send safe-mode messages with real wechatpy
crypto, and a reply that misses the passive window is awaited as a 客服消息. The retention job
runs every --retention-every seconds with short periods, so data ages out during the run.

Every --personal-every'th session (one in 30 by default) is a resident giving personal data the
way residents do: a progress query with a phone number and ID last four, an ID number and phone
typed before a booking, a demo applicant's own progress query. Their numbers are fictitious but
valid (GB 11643 check digit; 1[3-9] mobile), drawn per resident from --seed. Every ID number and
mobile number any script sent is recorded, and the privacy scan (issue #11) looks for each of
them in clear: in the server's log, in every row of every table of the database and of the
checkpoint store (text, JSON, and raw bytes of blobs: LangGraph's checkpoints) at the end, in
the rows each retention run is about to delete just before it runs, and in the raw bytes of
every file the server keeps under its data dir (SQLite pages, freed ones too, WAL, recordings).
Masked forms (4501**********7628, 138****6666) pass; any number in clear is a hit, printed
masked, and the soak exits non-zero. Names are not sent: one a resident types may stay in
their own checkpoint by design (tests/redteam/test_privacy_scan.py).

Prints the limits in effect, throughput, latency p50/p95/p99 per kind, errors, lost replies,
the server's RSS and the database over time, and verdicts: RSS flat over the second half,
storage growing with retained rows only. The default rate limits stay on: a realistic load must
not trip them, and any 429 counts as an error. The client shares the machine with the server,
so on a small machine the figures include its CPU too.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import itertools
import json
import logging
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import xmltodict
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tongban.channels.wechat.security import sign  # noqa: E402

SHARED = ROOT.parent / "shared"
TOKEN, APP_ID, SECRET = "soak-token", "wxsoak00000000000", "soak-secret"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
WECHAT_SERVERS = [f"101.226.103.{n}" for n in range(60, 64)]  # the gateway's egress addresses
SENTENCES = ["ni3 hao3, wo3 xiang3 ban4 shen1 fen4 zheng4.", "she4 bao3 ka3 zai4 na3 li3 ban4?",
             "ming2 tian1 shang4 wu3 ke3 yi3 yu4 yue1 ma?"]
BOOKINGS = ["我想预约明天上午去南宁市民中心换身份证"]
THROTTLED = "您发送得太快了"
AREAS = ("450102", "450103", "450105", "450203", "450304", "450403", "450521", "451002", "452122")  # Guangxi


# ---------------------------------------------------------------------------- what residents say


def scripts() -> tuple[list[list[str]], list[list[str]], list[list[str]]]:
    """(single questions, scripted conversations, booking sessions), from the shipped sets."""
    singles = [[json.loads(line)["say"]] for line in (ROOT / "bench" / "queries.jsonl").open(encoding="utf-8")
               if line.strip()]
    conversations, books = [], list(BOOKINGS)
    dev = SHARED / "eval" / "dev.jsonl"
    for line in dev.open(encoding="utf-8") if dev.exists() else []:
        if not line.strip() or line.startswith("#"):
            continue
        case = json.loads(line)
        turns = [t for t in case["turns"] if "say" in t]
        intents = {t.get("expect", {}).get("intent") for t in turns}
        if "handoff" in intents or any("人工" in t["say"] for t in turns):
            continue  # staff would hold the conversation: the bot stays silent by design
        conversations.append([t["say"] for t in turns])
        if "book_appointment" in intents:
            books.append(turns[0]["say"])
    sessions = [[book, "确认", "我的预约", "取消预约", "确认"] for book in books]
    return singles, conversations, sessions


def pick_script(pools: tuple[list[list[str]], ...], rng: random.Random) -> list[str]:
    singles, conversations, bookings = pools
    roll = rng.random()
    pool = singles if roll < 0.5 else conversations if roll < 0.8 and conversations else bookings
    return list(rng.choice(pool))


def personal_numbers(seed: int, n: int) -> tuple[str, str]:
    """Resident n's fictitious mobile number and resident ID: valid, and the same for the same seed."""
    from stdnum.cn import ric

    from tongban.memory.pii import InvalidIdentifier, is_valid_id_number, normalise_phone

    rng = random.Random(f"soak-personal-{seed}-{n}")
    while True:
        phone = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
        with contextlib.suppress(InvalidIdentifier):
            if normalise_phone(phone) == phone:
                break
    born = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(65 * 365))
    prefix = f"{rng.choice(AREAS)}{born:%Y%m%d}{rng.randrange(1, 1000):03d}"
    id_number = prefix + ric.calc_check_digit(prefix + "0")  # it wants 18 characters, the last a placeholder
    assert is_valid_id_number(id_number), id_number
    return phone, id_number


def demo_applicants() -> list[dict[str, str]]:
    """The demo data's applications (fictitious): a receipt number and its applicant's own phone and ID."""
    demo = json.loads((ROOT / "memory" / "demo" / "applications.json").read_text(encoding="utf-8"))
    return [{"receipt_no": a["receipt_no"], **a["applicant"]} for a in demo]


def personal_script(seed: int, n: int, k: int, demo: list[dict[str, str]]) -> list[str]:
    """The k'th personal-data session, for resident n: numbers typed in free text, as residents do."""
    phone, id_number = personal_numbers(seed, n)
    receipt = f"GX2026{(seed * 7919 + n) % 10**10:010d}"  # no such application: "not found"
    kind = k % 4
    if kind == 0:
        return [f"查询办件进度，受理编号{receipt}，手机号{phone}，身份证后四位{id_number[-4:]}"]
    if kind == 1:
        return [f"帮我查一下办件进度，受理编号是{receipt}", f"手机号{phone}"]  # the factor comes a turn later
    if kind == 2:
        return [f"我的身份证号是{id_number}，手机{phone}，帮我预约明天上午去南宁市民中心换身份证",
                "确认", "我的预约", "取消预约", "确认"]
    applicant = demo[(seed + n) % len(demo)] if demo else {"receipt_no": receipt, "phone": phone}
    return [f"查一下办件进度，受理编号{applicant['receipt_no']}，手机号{applicant['phone']}"]  # verified: disclosed


# ---------------------------------------------------------------------------- the server's side


def make_clips(folder: Path) -> list[bytes]:
    """espeak-ng Mandarin (pinyin voice), 16 kHz mono WAV, as a browser upload converted would be."""
    clips = []
    for n, sentence in enumerate(SENTENCES):
        raw, wav = folder / f"s{n}.wav", folder / f"clip{n}.wav"
        subprocess.run(["espeak-ng", "-v", "cmn-latn-pinyin", "-w", str(raw), sentence], check=True, capture_output=True)
        subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav)], check=True, capture_output=True)
        clips.append(wav.read_bytes())
    return clips


def voice_setup(folder: Path) -> tuple[list[bytes], Path | None, str]:
    missing = [t for t in ("espeak-ng", "sox") if shutil.which(t) is None]
    if missing:
        return [], None, f"off ({', '.join(missing)} missing)"
    try:
        from tongban.voice.tiny import build_sensevoice

        model = build_sensevoice(folder / "tiny-sensevoice")
    except ImportError as exc:
        return [], None, f"off (voice extra missing: {exc.name})"
    return make_clips(folder), model, "tiny random SenseVoiceSmall-shaped model (~100k parameters): gibberish transcripts"


class Tencent:
    """Tencent's API for the 公众号: tokens, and 客服消息 handed to whoever waits for them."""

    def __init__(self) -> None:
        self.waiting: dict[str, collections.deque[asyncio.Future[str]]] = collections.defaultdict(collections.deque)
        self.pushed = 0
        self.unexpected = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self.token)
        app.router.add_post("/cgi-bin/message/custom/send", self.send)
        return app

    async def token(self, _request: web.Request) -> web.Response:
        return web.json_response({"access_token": "SOAK_TOKEN", "expires_in": 7200})

    async def send(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.pushed += 1
        queue = self.waiting.get(body.get("touser", ""))
        if queue:
            future = queue.popleft()
            if not future.done():
                future.set_result(body.get("text", {}).get("content", ""))
        else:
            self.unexpected += 1
        return web.json_response({"errcode": 0, "errmsg": "ok"})


# ---------------------------------------------------------------------------- residents


@dataclass
class Resident:
    n: int
    channel: str  # web or wechat
    address: str
    cookie: str | None = None

    @property
    def openid(self) -> str:
        return f"o-soak-{self.n:06d}"


@dataclass
class Figures:
    latencies: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)
    retention: list[dict[str, Any]] = field(default_factory=list)


class Load:
    def __init__(self, args: argparse.Namespace, base: str, tencent: Tencent, clips: list[bytes]) -> None:
        from wechatpy.crypto import WeChatCrypto

        self.args, self.base, self.tencent, self.clips = args, base, tencent, clips
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
        self.rng = random.Random(args.seed)
        self.pools = scripts()
        self.figures = Figures()
        self.msg_ids = itertools.count(int(time.time()) * 1000)
        count = args.residents
        self.residents = [Resident(n, "wechat" if self.rng.random() < args.wechat_share else "web",
                                   f"10.{n // 1024 % 256}.{n // 4 % 256}.{n % 4 + 1}") for n in range(count)]
        self.rng.shuffle(self.residents)
        self.idle = collections.deque(self.residents)
        self.session: aiohttp.ClientSession | None = None
        self.demo = demo_applicants()
        self.sessions = 0
        self.personal_sessions = 0
        self.sent: dict[str, str] = {}  # every ID number and mobile number sent, in clear → what it is
        self.messages_with_numbers = 0

    def mean_turns(self) -> float:
        singles, conversations, bookings = self.pools
        mean = lambda pool: statistics.mean(len(s) for s in pool) if pool else 1.0  # noqa: E731
        usual = 0.5 * 1 + 0.3 * mean(conversations) + 0.2 * mean(bookings)
        every = self.args.personal_every
        if every <= 0:
            return usual
        personal = statistics.mean(len(personal_script(0, 0, k, self.demo)) for k in range(4))
        return usual + (personal - usual) / every

    def script(self, resident: Resident) -> tuple[list[str], bool]:
        """The next session's script; every --personal-every'th (the first included) gives personal data."""
        script = pick_script(self.pools, self.rng)  # drawn always: the rest of the run stays as without them
        every, self.sessions = self.args.personal_every, self.sessions + 1
        if every > 0 and (self.sessions - 1) % every == 0:
            script = personal_script(self.args.seed, resident.n, self.personal_sessions, self.demo)
            self.personal_sessions += 1
            return script, True
        return script, False

    def note_sent(self, resident: Resident, text: str) -> None:
        """Record every ID number and mobile number in what a resident sends: the scan looks for them."""
        from tongban.memory.pii import ID_RE, PHONE_RE

        found = [("ID number", "".join(m.groups()).upper()) for m in ID_RE.finditer(text)]
        found += [("phone", "".join(m.groups())) for m in PHONE_RE.finditer(text)]
        for kind, number in found:
            self.sent.setdefault(number, f"{kind} sent by resident {resident.n}")
        self.messages_with_numbers += bool(found)

    async def run(self, until: float) -> None:
        """Sessions arrive at random (Poisson), each a resident who is not mid-session."""
        sessions_per_s = self.args.rate / self.mean_turns()
        tasks: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()
        while loop.time() < until:
            await asyncio.sleep(self.rng.expovariate(sessions_per_s))
            if not self.idle:
                self.figures.outcomes["no idle resident"] += 1
                continue
            resident = self.idle.popleft()
            task = asyncio.create_task(self.converse(resident, *self.script(resident), until))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=self.args.drain)

    async def converse(self, resident: Resident, script: list[str], personal: bool, until: float) -> None:
        try:
            for n, text in enumerate(script):
                if n and asyncio.get_running_loop().time() > until:
                    break
                voice = resident.channel == "web" and self.clips and self.rng.random() < self.args.voice_share
                voice = voice and not personal  # numbers are typed (the clips say none)
                if resident.channel == "wechat":
                    await self.wechat(resident, text)
                elif voice:
                    await self.web_voice(resident)
                else:
                    await self.web_text(resident, text)
                await asyncio.sleep(self.rng.uniform(1.0, 5.0))  # reading, thinking, typing
        finally:
            self.idle.append(resident)

    def _record(self, kind: str, started: float, outcome: str) -> None:
        self.figures.outcomes[f"{kind} {outcome}"] += 1
        if outcome == "ok":
            self.figures.latencies[kind].append(time.perf_counter() - started)

    async def web_text(self, resident: Resident, text: str) -> None:
        self.note_sent(resident, text)
        await self._web(resident, "web text", "/api/web/messages", json_body={"text": text})

    async def web_voice(self, resident: Resident) -> None:
        form = aiohttp.FormData()
        form.add_field("file", self.rng.choice(self.clips), filename="voice.wav", content_type="audio/wav")
        await self._web(resident, "web voice", "/api/web/voice", data=form)

    async def _web(self, resident: Resident, kind: str, path: str, **body: Any) -> None:
        assert self.session is not None
        headers = {"X-Requested-With": "XMLHttpRequest", "X-Forwarded-For": resident.address}
        if resident.cookie:
            headers["Cookie"] = f"tongban_web={resident.cookie}"
        started = time.perf_counter()
        try:
            async with self.session.post(self.base + path, headers=headers, json=body.get("json_body"),
                                         data=body.get("data")) as response:
                if "tongban_web" in response.cookies:
                    resident.cookie = response.cookies["tongban_web"].value
                reply = await response.json() if response.status in (200, 429) else {}
                outcome = ("throttled" if response.status == 429 else "ok" if response.status == 200
                           and reply.get("text") else f"http {response.status}")
        except (TimeoutError, aiohttp.ClientError) as exc:
            outcome = f"error {type(exc).__name__}"
        self._record(kind, started, outcome)

    async def wechat(self, resident: Resident, text: str) -> None:
        assert self.session is not None
        self.note_sent(resident, text)
        stamp, nonce = str(int(time.time())), os.urandom(4).hex()
        xml = (f"<xml><ToUserName><![CDATA[gh_soak]]></ToUserName><FromUserName><![CDATA[{resident.openid}]]>"
               f"</FromUserName><CreateTime>{stamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
               f"<Content><![CDATA[{text}]]></Content><MsgId>{next(self.msg_ids)}</MsgId></xml>")
        envelope = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, stamp))["xml"]
        query = {"signature": sign(TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce,
                 "openid": resident.openid, "encrypt_type": "aes", "msg_signature": envelope["MsgSignature"]}
        body = f"<xml><ToUserName><![CDATA[gh_soak]]></ToUserName><Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
        pushed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.tencent.waiting[resident.openid].append(pushed)
        started = time.perf_counter()
        try:
            async with self.session.post(self.base + "/wechat", params=query, data=body,
                                         headers={"X-Forwarded-For": random.choice(WECHAT_SERVERS)}) as response:
                answer = await response.text()
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._forget(resident, pushed)
            self._record("wechat ack", started, f"error {type(exc).__name__}")
            return
        self._record("wechat ack", started, "ok" if status == 200 else f"http {status}")
        if status != 200:
            self._forget(resident, pushed)
            return
        if answer != "success":  # a passive reply, sealed for this account
            self._forget(resident, pushed)
            document = xmltodict.parse(answer)["xml"]
            plain = self.crypto.decrypt_message(answer, document["MsgSignature"], document["TimeStamp"], document["Nonce"])
            content = xmltodict.parse(plain)["xml"].get("Content") or ""
            self._record("wechat reply (passive)", started, "throttled" if THROTTLED in content else "ok" if content else "empty")
            return
        try:  # acknowledged: the reply comes as a 客服消息
            content = await asyncio.wait_for(pushed, timeout=self.args.push_timeout)
            self._record("wechat reply (pushed)", started, "ok" if content else "empty")
        except TimeoutError:
            self._forget(resident, pushed)
            self._record("wechat reply (pushed)", started, "lost")

    def _forget(self, resident: Resident, future: asyncio.Future[str]) -> None:
        queue = self.tencent.waiting.get(resident.openid)
        if queue and future in queue:
            queue.remove(future)
        if not queue:
            self.tencent.waiting.pop(resident.openid, None)
        future.cancel()


# ---------------------------------------------------------------------------- watching


class Watch:
    """The server's RSS (with its children), the database's size and its rows, over time."""

    TABLES = ("inbound_message", "transcript_message", "question_log", "resident", "appointment", "audit_log")
    RETAINED_BY_DESIGN = ("resident", "appointment", "audit_log")  # the hall's records; not aged out

    def __init__(self, pid: int, url: str, data_dir: Path) -> None:
        from tongban.memory.db import make_engine

        self.process = psutil.Process(pid)
        self.url, self.data_dir = url, data_dir
        self.engine = make_engine(url)
        self.postgres = url.startswith("postgresql")

    def rss_mb(self) -> float:
        total = self.process.memory_info().rss
        for child in self.process.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):  # a decoder that just finished
                total += child.memory_info().rss
        return total / 2**20

    def storage(self) -> dict[str, Any]:
        from sqlalchemy import text

        rows: dict[str, int] = {}
        with self.engine.connect() as connection:
            for table in self.TABLES:
                rows[table] = int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)
            if self.postgres:
                size = int(connection.execute(text("SELECT pg_database_size(current_database())")).scalar() or 0)
                for table in ("checkpoints", "checkpoint_writes", "checkpoint_blobs"):
                    rows[table] = int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)
        if not self.postgres:
            import sqlite3

            size = sum(p.stat().st_size for p in self.data_dir.glob("*.db*"))
            with sqlite3.connect(self.data_dir / "checkpoints.db", timeout=30) as connection:
                for table in ("checkpoints", "writes"):
                    rows[table] = int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        return {"db_mb": size / 2**20, "rows": rows}


class Retention:
    """The retention job with short periods: messages older than --retain-s, threads idle that long."""

    def __init__(self, url: str, data_dir: Path, retain_s: float) -> None:
        from tongban.memory.checkpoints import make_checkpointer
        from tongban.memory.settings import MemorySettings
        from tongban.memory.store import Store

        self.settings = MemorySettings(env="development", database_url=url, data_dir=data_dir)
        self.store = Store.from_settings(self.settings)
        self.saver = make_checkpointer(self.settings)
        self.retain_s = retain_s

    def run(self) -> dict[str, Any]:
        from tongban.memory.checkpoints import apply_retention
        from tongban.memory.retention import purge_before

        started = time.perf_counter()
        now = dt.datetime.now(dt.UTC)
        with self.store.session(actor="system:retention") as session:
            purged = purge_before(session, self.settings.data_dir, now - dt.timedelta(seconds=self.retain_s))
        # idle_days is whole days: shift "now" so that "a day idle" means retain_s idle
        kept, deleted = apply_retention(self.saver, now=now + dt.timedelta(days=1, seconds=-self.retain_s), idle_days=1)
        return {**purged.__dict__, "threads_kept": kept, "threads_deleted": deleted,
                "seconds": time.perf_counter() - started}


# ---------------------------------------------------------------------------- the privacy scan


DIGIT_RUN = re.compile(rb"[0-9]{11,}[Xx]?")
AGED_OUT = ("inbound_message", "transcript_message", "question_log",  # what retention deletes (and the
            "checkpoints", "writes", "checkpoint_writes", "checkpoint_blobs")  # checkpoint pruning)
MAX_HITS_KEPT = 200


def mask_number(number: str) -> str:
    from tongban.memory.pii import mask_id_number, mask_phone

    return mask_phone(number) if len(number) == 11 else mask_id_number(number)


def _as_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)  # checkpoint blobs (msgpack): strings inside are plain UTF-8
    if isinstance(value, dict | list):  # JSON columns on PostgreSQL
        return json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
    return str(value).encode("utf-8")


class PrivacyScan:
    """Looks for the numbers residents sent (11-digit phones, 18-character IDs) in clear (issue #11).

    Every run of 11 or more ASCII digits is cut into windows of 11 and 18, so a number is found
    inside a longer run too (+8613…, glued to other digits), in text, JSON or raw bytes alike:
    digits are ASCII in UTF-8, JSON and msgpack. Masked forms (4501**********7628, 138****6666)
    have no such run. `numbers` may grow while the scan is used (the load keeps adding to it).
    """

    def __init__(self, numbers: dict[str, str]) -> None:
        self.numbers = numbers  # number in clear (IDs upper-case) → what it is, never printed
        self.hits: dict[tuple[str, str], dict[str, str]] = {}
        self.log_lines = self.rows = self.values = self.files_scanned = self.bytes = self.db_scans = 0
        self.tables: set[str] = set()
        self.seconds = 0.0

    def find(self, data: bytes) -> list[str]:
        found = []
        for match in DIGIT_RUN.finditer(data):
            run = match.group().decode("ascii").upper()
            for size in (11, 18):
                found += [run[i:i + size] for i in range(len(run) - size + 1) if run[i:i + size] in self.numbers]
        return found

    def _look(self, where: str, data: bytes) -> None:
        self.bytes += len(data)
        for number in self.find(data):
            self.hits.setdefault((where, number), {"where": where, "number": mask_number(number),
                                                   "what": self.numbers[number]})

    def log(self, path: Path) -> None:
        """Every line of the server's log."""
        started = time.perf_counter()
        for n, line in enumerate(path.read_bytes().splitlines() if path.exists() else [], 1):
            self.log_lines += 1
            self._look(f"{path.name} line {n}", line)
        self.seconds += time.perf_counter() - started

    def database(self, url: str, label: str, only: tuple[str, ...] | None = None) -> None:
        """Every value of every row of every table (or of those `only`): text, JSON, and blobs as raw bytes."""
        from sqlalchemy import inspect, text

        from tongban.memory.db import make_engine

        started = time.perf_counter()
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                for table in inspect(connection).get_table_names():
                    if only is not None and table not in only:
                        continue
                    self.tables.add(f"{label}:{table}")
                    result = connection.execution_options(stream_results=True, yield_per=500).execute(
                        text(f'SELECT * FROM "{table}"'))  # noqa: S608 - names from the schema itself
                    columns = list(result.keys())
                    key = next((c for c in ("id", "thread_id") if c in columns), None)
                    for n, row in enumerate(result, 1):
                        self.rows += 1
                        record = dict(zip(columns, row, strict=True))
                        which = f"{key}={record[key]}" if key else f"row {n}"
                        for column, value in record.items():
                            data = _as_bytes(value)
                            if data:
                                self.values += 1
                                self._look(f"{label} {table}.{column} ({which})", data)
        finally:
            engine.dispose()
        self.db_scans += 1
        self.seconds += time.perf_counter() - started

    def databases(self, url: str, data_dir: Path, only: tuple[str, ...] | None = None) -> None:
        """The service's database and the checkpoint store (in it on PostgreSQL, SQLite files beside it else)."""
        from sqlalchemy.engine import make_url

        main = make_url(url)
        postgres = main.get_backend_name() == "postgresql"
        self.database(url, "postgresql" if postgres else Path(main.database or "").name, only)
        for path in sorted(data_dir.glob("*.db")):
            if postgres or path.resolve() != Path(main.database or "").resolve():
                self.database(f"sqlite:///{path}", path.name, only)

    def files(self, data_dir: Path, skip: tuple[Path, ...]) -> None:
        """The raw bytes of every file the server keeps: SQLite pages (freed ones too) and WAL, recordings, ..."""
        started = time.perf_counter()
        chunk, overlap = 8 << 20, 32
        for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
            if any(path == s or s in path.parents for s in skip):
                continue
            self.files_scanned += 1
            where = f"file {path.relative_to(data_dir)}"
            with path.open("rb") as stream:
                tail = b""
                while block := stream.read(chunk):
                    for number in self.find(tail + block):  # one across a seam is whole in the overlap
                        self.hits.setdefault((where, number), {"where": where, "number": mask_number(number),
                                                               "what": self.numbers[number]})
                    self.bytes += len(block)
                    tail = block[-overlap:]
        self.seconds += time.perf_counter() - started

    def report(self, load: Load | None = None) -> dict[str, Any]:
        hits = list(self.hits.values())
        return {
            "numbers_sent": len(self.numbers),
            "messages_with_numbers": load.messages_with_numbers if load else 0,
            "personal_sessions": load.personal_sessions if load else 0,
            "log_lines": self.log_lines, "db_scans": self.db_scans, "tables": len(self.tables), "rows_scanned": self.rows,
            "values_scanned": self.values, "files_scanned": self.files_scanned, "bytes_scanned": self.bytes,
            "seconds": self.seconds, "hits_total": len(hits), "hits": hits[:MAX_HITS_KEPT],
        }


# ---------------------------------------------------------------------------- the run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _create_database(base: str) -> str:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from tongban.memory.db import make_engine

    name = f"tongban_soak_{os.urandom(5).hex()}"
    admin = make_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def _drop_database(base: str, url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from tongban.memory.db import make_engine

    admin = make_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def _server_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("tongban")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "tongban"]
    return [*head, "serve", "--host", "127.0.0.1", "--port", str(port)]


async def _ready(session: aiohttp.ClientSession, url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 600  # the first start builds the database and the retrieval index
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}; its log:\n{log.read_text()[-3000:]}")
        try:
            async with session.get(url) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.5)
    raise SystemExit("the server did not become ready")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="tongban-soak-"))
    clips, model, voice_note = voice_setup(data_dir / "voice") if args.voice_share > 0 else ([], None, "off (--voice-share 0)")
    logging.getLogger().setLevel(logging.WARNING)  # FunASR's import turns the root logger up to INFO
    tencent = Tencent()
    runner = web.AppRunner(tencent.app(), access_log=None)
    await runner.setup()
    api_port, port = _free_port(), _free_port()
    await web.TCPSite(runner, "127.0.0.1", api_port).start()
    database = _create_database(args.postgres) if args.postgres else None
    url = database or f"sqlite:///{data_dir / 'tongban.db'}"
    overrides = {
        "TONGBAN_ENV": "development", "TONGBAN_DATA_DIR": str(data_dir), "TONGBAN_DATABASE_URL": url,
        "TONGBAN_WECHAT_TOKEN": TOKEN, "TONGBAN_WECHAT_APP_ID": APP_ID, "TONGBAN_WECHAT_APP_SECRET": SECRET,
        "TONGBAN_WECHAT_AES_KEY": AES_KEY, "TONGBAN_WECHAT_API_BASE": f"http://127.0.0.1:{api_port}",
        "TONGBAN_TRUSTED_PROXIES": '["127.0.0.1/32"]',  # the load plays the ingress; clients are in X-Forwarded-For
        "TONGBAN_VOICE_THREADS": "1", "PYTHONPATH": str(ROOT),
    }
    if model is not None:
        overrides["TONGBAN_VOICE_MODEL_DIR"] = str(model)
    os.environ.update(overrides)  # this process reads the same settings: the limits and the retention job
    from tongban.channels.app.ratelimit import Door
    from tongban.channels.app.settings import ChannelSettings

    limits = {k: v for k, v in Door(ChannelSettings()).describe().items() if k != "storage"}
    log_path = data_dir / "server.log"
    server = subprocess.Popen(_server_command(port), env=os.environ.copy(), cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=log_path.open("wb"))
    load: Load | None = None
    privacy: PrivacyScan | None = None
    report: dict[str, Any] | None = None
    try:
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=60), cookie_jar=aiohttp.DummyCookieJar(),
            connector=aiohttp.TCPConnector(limit=500),
        ) as session:
            started = time.monotonic()
            await _ready(session, f"http://127.0.0.1:{port}/readyz", server, log_path)
            startup_s = time.monotonic() - started
            print(f"soak: {args.duration:g} s, {args.residents} residents, ~{args.rate:g} turns/s offered, "
                  f"{'PostgreSQL' if args.postgres else 'SQLite (embedded default)'}, {os.cpu_count()} CPUs "
                  f"(client and server share them); server ready in {startup_s:.0f} s", flush=True)
            print(f"voice: {voice_note}")
            print(f"rate limits in effect (defaults unless TONGBAN_RATE_* set): {json.dumps(limits, ensure_ascii=False)}",
                  flush=True)
            load = Load(args, f"http://127.0.0.1:{port}", tencent, clips)
            load.session = session
            privacy = PrivacyScan(load.sent)
            watch = Watch(server.pid, url, data_dir)
            retention = Retention(url, data_dir, args.retain_s)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            until = t0 + args.duration
            driving = asyncio.create_task(load.run(until))
            next_sample, next_retention = t0, t0 + args.retention_every
            print(f"{'t s':>6} {'RSS MB':>7} {'DB MB':>7} {'turns':>7} {'errors':>6}  retained rows", flush=True)
            while not driving.done():
                now = loop.time()
                if now >= next_retention:
                    if args.scan_before_retention:  # the rows the retention job is about to delete
                        await asyncio.to_thread(privacy.databases, url, data_dir, AGED_OUT)
                    load.figures.retention.append({**await asyncio.to_thread(retention.run), "t": now - t0})
                    next_retention += args.retention_every
                if now >= next_sample:
                    sample = {"t": now - t0, "rss_mb": watch.rss_mb(), **await asyncio.to_thread(watch.storage),
                              "turns": _turns(load.figures), "errors": _errors(load.figures)}
                    load.figures.samples.append(sample)
                    rows = " ".join(f"{k}={v}" for k, v in sample["rows"].items())
                    print(f"{sample['t']:>6.0f} {sample['rss_mb']:>7.1f} {sample['db_mb']:>7.1f} {sample['turns']:>7} "
                          f"{sample['errors']:>6}  {rows}", flush=True)
                    next_sample += args.sample_every
                await asyncio.wait({driving}, timeout=1.0)
            elapsed = loop.time() - t0
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                metrics = await response.text()
        report = summarise(args, load.figures, elapsed, tencent, metrics, limits, voice_note)
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        await runner.cleanup()
        if report is not None and privacy is not None:  # the server has stopped: its log and data are whole
            privacy.log(log_path)
            privacy.databases(url, data_dir)
            privacy.files(data_dir, skip=(log_path, data_dir / "voice"))  # the log by line; voice/: the load's clips
            report["privacy"] = privacy.report(load)
        if database and args.postgres:
            _drop_database(args.postgres, database)
        if not args.keep and report is not None and report["errors"] == 0 and not report["privacy"]["hits"]:
            shutil.rmtree(data_dir, ignore_errors=True)  # errors or hits: keep the server's log and data
        if report is not None:
            print_report(report, log_path)
    assert report is not None
    return report


def _turns(figures: Figures) -> int:
    return sum(v for k, v in figures.outcomes.items() if k.endswith(" ok") and not k.startswith("wechat ack"))


def _errors(figures: Figures) -> int:
    return sum(v for k, v in figures.outcomes.items() if not k.endswith(" ok") and k != "no idle resident")


# ---------------------------------------------------------------------------- the report


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope, per second."""
    if len(points) < 2:
        return 0.0
    xs, ys = zip(*points, strict=True)
    mx, my = statistics.mean(xs), statistics.mean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def summarise(args: argparse.Namespace, figures: Figures, elapsed: float, tencent: Tencent, metrics: str,
              limits: dict[str, Any], voice_note: str) -> dict[str, Any]:
    kinds = {}
    for kind, values in sorted(figures.latencies.items()):
        kinds[kind] = {"n": len(values), "per_s": len(values) / elapsed, "p50_ms": _percentile(values, 0.5) * 1000,
                       "p95_ms": _percentile(values, 0.95) * 1000, "p99_ms": _percentile(values, 0.99) * 1000}
    samples = figures.samples
    half = [s for s in samples if s["t"] >= samples[-1]["t"] / 2] if samples else []
    rss_growth = half[-1]["rss_mb"] - half[0]["rss_mb"] if len(half) > 1 else 0.0
    rss_slope = _slope([(s["t"], s["rss_mb"]) for s in half]) * 60
    aged = AGED_OUT

    def retained(sample: dict[str, Any]) -> int:
        return sum(sample["rows"].values())

    first, mid, last = (samples[0], half[0], samples[-1]) if half else ({}, {}, {})
    storage = {}
    if half:
        storage = {
            "db_mb_start": first["db_mb"], "db_mb_mid": mid["db_mb"], "db_mb_end": last["db_mb"],
            "retained_rows_start": retained(first), "retained_rows_mid": retained(mid), "retained_rows_end": retained(last),
            "aged_rows_end": sum(last["rows"].get(t, 0) for t in aged),
            "purged": {k: sum(r.get(k, 0) for r in figures.retention)
                       for k in ("inbound", "transcript", "recordings", "questions", "threads_deleted")},
            "retention_runs": len(figures.retention),
        }
        # SQLite files never shrink: rows the retention job deleted free pages that later rows
        # reuse, so the file is bounded by the rows *written* (retained now + deleted meanwhile)
        deleted = sum(r.get(k, 0) for r in figures.retention if r.get("t", 0.0) >= mid["t"]
                      for k in ("inbound", "transcript", "recordings", "questions"))
        growth_mb, rows_added = last["db_mb"] - mid["db_mb"], retained(last) - retained(mid) + deleted
        per_row = (mid["db_mb"] - first["db_mb"]) / max(1, retained(mid) - retained(first))
        storage["second_half_db_growth_mb"] = growth_mb
        storage["second_half_rows_added"] = rows_added
        storage["bounded"] = growth_mb <= max(1.0, 3 * per_row * max(0, rows_added))
    refused = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                  if line.startswith("tongban_rate_limited_total{"))
    outcomes = dict(figures.outcomes)
    lost = sum(v for k, v in outcomes.items() if k.endswith((" lost", " empty")))
    errors = _errors(figures)
    return {
        "duration_s": elapsed, "residents": args.residents, "rate": args.rate, "voice": voice_note,
        "turns": _turns(figures), "throughput_per_s": _turns(figures) / elapsed, "kinds": kinds,
        "outcomes": outcomes, "errors": errors, "lost": lost, "throttled_server_side": refused,
        "pushes_unexpected": tencent.unexpected, "limits": limits,
        "rss": {"start_mb": samples[0]["rss_mb"] if samples else 0, "end_mb": samples[-1]["rss_mb"] if samples else 0,
                "second_half_growth_mb": rss_growth, "second_half_slope_mb_per_min": rss_slope,
                "flat": rss_growth <= args.max_rss_growth_mb},
        "storage": storage, "samples": samples, "retention": figures.retention,
    }


def print_report(report: dict[str, Any], log_path: Path) -> None:
    print(f"\nthroughput: {report['turns']} replies in {report['duration_s']:.0f} s = {report['throughput_per_s']:.2f}/s; "
          f"errors {report['errors']}, lost replies {report['lost']}, 429s counted by the server "
          f"{report['throttled_server_side']:.0f}")
    print(f"{'kind':<24} {'n':>6} {'per s':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for kind, k in report["kinds"].items():
        print(f"{kind:<24} {k['n']:>6} {k['per_s']:>6.2f} {k['p50_ms']:>8.0f} {k['p95_ms']:>8.0f} {k['p99_ms']:>8.0f}")
    print("outcomes: " + ", ".join(f"{k}: {v}" for k, v in sorted(report["outcomes"].items())))
    rss = report["rss"]
    print(f"RSS: {rss['start_mb']:.0f} → {rss['end_mb']:.0f} MB; second half {rss['second_half_growth_mb']:+.1f} MB "
          f"(slope {rss['second_half_slope_mb_per_min']:+.2f} MB/min) → {'FLAT' if rss['flat'] else 'GROWING'}")
    s = report["storage"]
    if s:
        print(f"storage: DB {s['db_mb_start']:.1f} → {s['db_mb_mid']:.1f} → {s['db_mb_end']:.1f} MB; rows "
              f"{s['retained_rows_start']} → {s['retained_rows_mid']} → {s['retained_rows_end']} (aged-out kinds now "
              f"{s['aged_rows_end']}); {s['retention_runs']} retention runs purged {s['purged']}; second half "
              f"{s['second_half_db_growth_mb']:+.1f} MB for {s['second_half_rows_added']:+d} rows → "
              f"{'grows with retained data only' if s['bounded'] else 'GROWING BEYOND RETAINED DATA'}")
    p = report.get("privacy")
    if p:
        print(f"privacy: {p['numbers_sent']} ID and mobile numbers sent in clear ({p['messages_with_numbers']} messages, "
              f"{p['personal_sessions']} personal-data sessions); scanned {p['log_lines']} log lines, "
              f"{p['rows_scanned']} rows ({p['values_scanned']} values, {p['tables']} tables) in {p['db_scans']} "
              f"database scans, {p['files_scanned']} files raw; {p['bytes_scanned'] / 2**20:.1f} MB in "
              f"{p['seconds']:.1f} s → " + (f"{p['hits_total']} IN CLEAR" if p["hits"] else "none in clear"))
        for hit in p["hits"][:20]:
            print(f"  {hit['where']}: {hit['number']} ({hit['what']})")
        if p["hits_total"] > 20:
            print(f"  ... and {p['hits_total'] - 20} more (the JSON report keeps {len(p['hits'])})")
    print(f"server log: {log_path}" if log_path.exists() else
          "server log: removed with the data (kept on errors, privacy hits or with --keep)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=3600.0, help="seconds of load")
    parser.add_argument("--residents", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=5.0, help="turns a second offered, on average")
    parser.add_argument("--postgres", default=None, metavar="URL", help="a fresh database on this server instead of SQLite")
    parser.add_argument("--wechat-share", type=float, default=0.4, help="share of residents on the 公众号")
    parser.add_argument("--voice-share", type=float, default=0.15, help="share of web turns sent as voice")
    parser.add_argument("--retention-every", type=float, default=60.0, help="seconds between retention runs")
    parser.add_argument("--retain-s", type=float, default=300.0, help="what retention keeps (seconds), for the soak")
    parser.add_argument("--sample-every", type=float, default=15.0, help="seconds between RSS and storage samples")
    parser.add_argument("--push-timeout", type=float, default=60.0, help="seconds to wait for a 客服消息")
    parser.add_argument("--drain", type=float, default=90.0, help="seconds to let sessions finish at the end")
    parser.add_argument("--max-rss-growth-mb", type=float, default=40.0, help="the flatness verdict's bound")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--personal-every", type=int, default=30,
                        help="every Nth session gives an ID number and phone (0: none); the privacy scan looks for them")
    parser.add_argument("--no-scan-before-retention", dest="scan_before_retention", action="store_false",
                        help="scan for numbers in clear only at the end, not also the rows each retention run deletes")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    parser.add_argument("--keep", action="store_true", help="keep the data directory (and the server log)")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    if report["privacy"]["hits"]:
        raise SystemExit(f"privacy scan: {report['privacy']['hits_total']} numbers residents sent found in clear")


if __name__ == "__main__":
    main()
