"""Killing a real `tongban serve` in the middle of booking conversations, and counting.

A trial: residents book 居民身份证换领 through the 公众号 webhook (safe mode, real wechatpy
crypto), with a stand-in for Tencent's API receiving the 客服消息; at a random moment of a
random step the server gets SIGKILL, is restarted, and the conversations carry on. WeChat's
behaviour is kept, its 5 s schedule compressed: a request that failed is sent again with the
same MsgId once the server is back (at most twice), and a `success` means the reply comes as
a 客服消息. Each resident answers what the bot asked, like a person would, and at the end the
database is compared with what each resident was told.

Used by tests/faults/test_sigkill.py (a few seeded trials) and bench/faults.py (100).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import xmltodict
from sqlmodel import col, select
from wechatpy.crypto import WeChatCrypto

from tests.helpers.wechat_server import FakeWeChat
from tongban.channels.wechat.security import sign
from tongban.memory.models import (
    Appointment,
    AppointmentStatus,
    AuditLog,
    InboundMessage,
    InboundStatus,
    Resident,
)
from tongban.memory.settings import MemorySettings
from tongban.memory.store import Store

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "faults-token"
APP_ID = "wxfaults000000000"
SECRET = "faults-secret"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ACCOUNT = "gh_faults"
HALLS = ["南宁市民中心", "南宁市兴宁区政务服务中心", "柳州市政务服务中心", "桂林市政务服务中心",
         "梧州市政务服务中心", "玉林市政务服务中心", "百色市政务服务中心", "北海市政务服务中心"]
DAYS = [f"下周{d}{half}" for d in "一二三四五" for half in ("上午", "下午")]
STEPS = ("ask", "hall", "date", "confirm")
CODE = re.compile(r"预约码[：:]?\s*([0-9A-Z]{6,16})")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """`tongban serve` on a data dir, started, killed and restarted as a subprocess."""

    def __init__(self, data_dir: Path, *, tencent_base: str, index_dir: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ, "TONGBAN_ENV": "development", "TONGBAN_DATA_DIR": str(data_dir),
            "TONGBAN_WECHAT_TOKEN": TOKEN, "TONGBAN_WECHAT_APP_ID": APP_ID, "TONGBAN_WECHAT_APP_SECRET": SECRET,
            "TONGBAN_WECHAT_AES_KEY": AES_KEY, "TONGBAN_WECHAT_API_BASE": tencent_base, **(env or {}),
        }
        if index_dir is not None:
            self.env["TONGBAN_INDEX_DIR"] = str(index_dir)
        if "TONGBAN_DATABASE_URL" not in (env or {}):
            self.env.pop("TONGBAN_DATABASE_URL", None)
        self.process: subprocess.Popen[bytes] | None = None
        self.ready = asyncio.Event()
        self.log = data_dir / "serve.log"

    async def start(self, timeout: float = 180) -> float:
        """Spawn and wait for /readyz; returns the seconds it took."""
        started = time.monotonic()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tongban", "serve", "--port", str(self.port)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        async with aiohttp.ClientSession() as http:
            while time.monotonic() - started < timeout:
                if self.process.poll() is not None:
                    raise AssertionError(f"the server exited during start-up; see {self.log}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{self.base}/readyz") as response:
                        if response.status == 200:
                            self.ready.set()
                            return time.monotonic() - started
                await asyncio.sleep(0.05)
        raise AssertionError("the server did not become ready")

    def kill(self) -> None:
        self.ready.clear()
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class WeChat:
    """WeChat's side of the webhook: sealed requests, retries, passive replies and 客服消息."""

    def __init__(self, server: Server, tencent: FakeWeChat, http: aiohttp.ClientSession) -> None:
        self.server, self.tencent, self.http = server, tencent, http
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
        self.msg_ids = iter(range(10_000_000 + random.randrange(10**9), 10**12))

    async def send(self, openid: str, text: str, *, sent: asyncio.Event | None = None) -> str | None:
        """The passive reply's text, or None when WeChat got `success` or gave up (3 tries)."""
        msg_id = next(self.msg_ids)
        xml = (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>"
        )
        for _attempt in range(3):
            await self.server.ready.wait()
            stamp, nonce = str(int(time.time())), os.urandom(4).hex()
            query = {"signature": sign(TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce,
                     "encrypt_type": "aes", "openid": openid}
            envelope = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, stamp))["xml"]
            query["msg_signature"] = envelope["MsgSignature"]
            body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
            if sent is not None:
                sent.set()
            try:
                async with self.http.post(f"{self.server.base}/wechat", params=query, data=body.encode(),
                                          timeout=aiohttp.ClientTimeout(total=5)) as response:
                    answer = await response.text()
                    if response.status != 200:
                        continue
            except (aiohttp.ClientError, TimeoutError):
                continue  # killed mid-request, or too slow: WeChat sends it again
            if answer == "success":
                return None
            document = xmltodict.parse(answer)["xml"]
            plain = self.crypto.decrypt_message(answer, document["MsgSignature"], document["TimeStamp"], document["Nonce"])
            return str(xmltodict.parse(plain)["xml"]["Content"])
        return None

    def pushed(self, openid: str) -> list[str]:
        return [m["text"]["content"] for m in self.tencent.sent if m["touser"] == openid]


@dataclass
class Person:
    """One person booking: answers what the bot asks, and remembers what they were told."""

    openid: str
    hall: str
    days: list[str]
    told: list[str] = field(default_factory=list)
    codes: set[str] = field(default_factory=set)
    unanswered: int = 0
    step: str = "ask"
    done: bool = False

    def next_message(self, reply: str) -> str | None:
        if "预约成功" in reply or ("您的预约" in reply and CODE.search(reply)):
            self.codes.update(CODE.findall(reply))
            self.done = True
            return None
        if "请确认" in reply:
            self.step = "confirm"
            return "确认"
        if "哪个政务服务中心" in reply:
            self.step = "hall"
            return self.hall
        if "哪天" in reply or "其他时间" in reply or "可以约" in reply:
            self.step = "date"
            return self.days.pop(0) if self.days else None
        if self.step == "confirm":  # 确认 answered with something else: did it book?
            self.step = "check"
            return "我的预约"
        self.step = "ask"
        return f"我要预约换身份证，{self.hall}"


async def converse(wechat: WeChat, resident: Person, *, step_sent: dict[str, asyncio.Event],
                   max_messages: int = 12, push_wait_s: float = 20) -> None:
    text: str | None = "我要预约换身份证"
    for _ in range(max_messages):
        if text is None or resident.done:
            return
        before = len(wechat.pushed(resident.openid))
        event = step_sent.get(resident.step)
        reply = await wechat.send(resident.openid, text, sent=event)
        if reply is None:  # `success`: the reply comes as a 客服消息
            deadline = time.monotonic() + push_wait_s
            while time.monotonic() < deadline and len(wechat.pushed(resident.openid)) == before:
                await asyncio.sleep(0.05)
            pushed = wechat.pushed(resident.openid)[before:]
            reply = "\n".join(pushed) if pushed else None
        if reply is None:
            resident.unanswered += 1  # nothing came back: the resident writes again
            continue
        resident.told.append(reply)
        text = resident.next_message(reply)


@dataclass
class Figures:
    trials: int = 0
    residents: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    lost: int = 0  # told 预约成功, not in the database
    duplicated: int = 0  # more than one confirmed appointment
    untold: int = 0  # in the database, never told
    resumed: int = 0  # finished booking after the kill
    unanswered: int = 0  # messages that got no reply at all
    unprocessed: int = 0  # inbound rows still RECEIVED/ANSWERED at the end
    unaudited: int = 0  # appointments without their audit record
    restarts: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.restarts)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    def report(self) -> str:
        return (
            f"trials {self.trials}, residents {self.residents}\n"
            f"kills per phase: {dict(sorted(self.kills.items()))}\n"
            f"lost {self.lost}, duplicated {self.duplicated}, untold {self.untold}, resumed {self.resumed}/"
            f"{self.residents}, unanswered messages {self.unanswered}, unprocessed inbound {self.unprocessed}, "
            f"appointments without audit {self.unaudited}\n"
            f"restart to ready: p50 {self.percentile(0.5):.2f} s, p99 {self.percentile(0.99):.2f} s"
        )


def store_for(data_dir: Path) -> Store:
    return Store.from_settings(MemorySettings(env="development", data_dir=data_dir))


async def trial(number: int, rng: random.Random, server: Server, wechat: WeChat, store: Store,
                figures: Figures, *, residents: int = 2) -> None:
    """One kill: residents book concurrently; SIGKILL at a random moment of a random step."""
    people = [
        Person(f"o-fault-{number:03d}-{n}", rng.choice(HALLS), rng.sample(DAYS, len(DAYS)))
        for n in range(residents)
    ]
    step = rng.choice(STEPS)
    delay = rng.uniform(0.0, 0.5)
    step_sent = {step: asyncio.Event()}
    talks = [asyncio.ensure_future(converse(wechat, p, step_sent=step_sent)) for p in people]
    fired = asyncio.ensure_future(step_sent[step].wait())
    await asyncio.wait([fired, asyncio.gather(*talks)], return_when=asyncio.FIRST_COMPLETED)
    if fired.done():
        await asyncio.sleep(delay)
        figures.kills[step] += 1
        server.kill()
        figures.restarts.append(await server.start())
    else:
        fired.cancel()
        figures.kills["after the end"] += 1
        server.kill()
        figures.restarts.append(await server.start())
    await asyncio.gather(*talks)
    figures.trials += 1
    await asyncio.to_thread(_check, store, people, figures, number)


def _check(store: Store, people: list[Person], figures: Figures, number: int) -> None:
    with store.read_session() as session:
        for person in people:
            figures.residents += 1
            figures.unanswered += person.unanswered
            resident = session.exec(select(Resident).where(Resident.wechat_openid == person.openid)).first()
            booked = [] if resident is None else list(session.exec(
                select(Appointment).where(Appointment.resident_id == resident.id,
                                          Appointment.status == AppointmentStatus.CONFIRMED)))
            codes = {a.confirmation_code for a in booked}
            for appointment in booked:
                if session.exec(select(AuditLog).where(
                        AuditLog.entity == "appointment", AuditLog.entity_id == str(appointment.id),
                        AuditLog.action == "create", col(AuditLog.actor).startswith("resident:wechat:"))).first() is None:
                    figures.unaudited += 1
            if len(booked) > 1:
                figures.duplicated += 1
                figures.problems.append(f"trial {number}: {person.openid} has {len(booked)} appointments")
            if person.codes - codes:
                figures.lost += 1
                figures.problems.append(f"trial {number}: {person.openid} was told {person.codes}, stored {codes}")
            if codes - person.codes:
                figures.untold += 1
                figures.problems.append(f"trial {number}: {person.openid} never told of {codes - person.codes}; "
                                        f"told {person.told}")
            if person.done and booked:
                figures.resumed += 1
            elif not person.done:
                figures.problems.append(f"trial {number}: {person.openid} did not finish; told {person.told}")
        left = session.exec(select(InboundMessage).where(
            col(InboundMessage.user_id).startswith(f"o-fault-{number:03d}-"),
            col(InboundMessage.status).in_([InboundStatus.RECEIVED, InboundStatus.ANSWERED]))).all()
        figures.unprocessed += len(left)
        if left:
            figures.problems.append(f"trial {number}: inbound rows left {[(r.id, r.status) for r in left]}")


async def run_trials(data_dir: Path, *, trials: int, seed: int, residents: int = 2,
                     index_dir: Path | None = None, progress: Any = None) -> Figures:
    """Start Tencent's stand-in and the server once, then kill and restart it `trials` times."""
    from aiohttp import web

    rng = random.Random(seed)
    random.seed(seed)
    tencent = FakeWeChat(APP_ID, SECRET)
    runner = web.AppRunner(tencent.app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    server = Server(data_dir, tencent_base=f"http://127.0.0.1:{port}", index_dir=index_dir)
    figures = Figures()
    store = store_for(data_dir)
    try:
        await server.start()
        async with aiohttp.ClientSession() as http:
            wechat = WeChat(server, tencent, http)
            for number in range(trials):
                await trial(number, rng, server, wechat, store, figures, residents=residents)
                if progress is not None:
                    progress(number + 1, figures)
    finally:
        server.stop()
        store.dispose()
        await runner.cleanup()
    return figures
