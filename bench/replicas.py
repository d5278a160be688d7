"""Several `tongban serve` replicas on one PostgreSQL and Redis: is anything lost or misrouted?

    python bench/replicas.py --replicas 3 --duration 60 --kill-one \\
        --postgres postgresql://postgres@127.0.0.1:5432/test --redis redis://127.0.0.1:6379/0

Starts N replicas (each its own port and data dir; they share a fresh database, Redis and the
retrieval index the first one builds) behind HAProxy from Debian (`apt-get install haproxy`),
started here on loopback with bounded connections and timeouts, round-robin, health-checked.
Through the proxy it runs the soak's mixed traffic (bench/soak.py: web text and voice, 公众号)
plus mini-program turns and material uploads and SMS pushes from a few numbers, each sending
more than its daily budget at once so that replicas race for it. Web residents who asked for
a person keep a live socket open through the proxy; staff reply to them from the console of a
replica other than the one holding the socket (so every reply crosses replicas). With
`--kill-one` the replica holding most sockets is SIGKILLed mid-run and started again; its
residents reconnect through the proxy. At the end every resident polls once for what waits.

Prints replies sent and received, lost, duplicated, misrouted, cross-replica deliveries made,
files (recordings, uploads) readable from every replica, SMS budget overruns and out-of-order
answers; the last line is one line of those counts. Exits 0 only when nothing is lost,
duplicated or misrouted, every cross-replica delivery was made, every file is readable from
every replica and no SMS budget was overrun.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import io
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import soak  # noqa: E402  (the traffic generators, the Tencent mock, database helpers)

STAFF_USER, STAFF_PASSWORD = "bench-supervisor", "bench-password-0123456789"
SMS_TOKEN = "bench-sms-token"
SESSION_SECRET = "bench-session-secret-0123456789"
SECRET_KEY = "bench-secret-key-0123456789abcdef"
MARK = "【回复】"  # staff replies carry it, then resident and sequence: R3-17


class Mp(soak.Tencent):
    """The soak's Tencent mock, plus the mini-program's wx.login exchange."""

    def app(self) -> web.Application:
        app = super().app()
        app.router.add_get("/sns/jscode2session", self.code2session)
        return app

    async def code2session(self, request: web.Request) -> web.Response:
        return web.json_response({"openid": f"mp-{request.query['js_code']}", "session_key": "k"})


# ---------------------------------------------------------------------------- replicas and proxy


@dataclass
class Replica:
    n: int
    port: int
    data_dir: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    kills: int = 0
    ready: bool = False

    @property
    def name(self) -> str:
        return f"r{self.n}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**self.env, "TONGBAN_PORT": str(self.port), "TONGBAN_DATA_DIR": str(self.data_dir),
               "TONGBAN_REPLICA_NAME": self.name}
        log = (self.data_dir / "server.log").open("ab")
        self.proc = subprocess.Popen(soak._server_command(self.port), env=env, cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=log)

    def kill(self) -> None:
        assert self.proc is not None
        self.ready = False
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def haproxy_config(port: int, replicas: list[Replica]) -> str:
    """Loopback only, bounded: at most 2000 connections, every wait has a timeout."""
    servers = "\n".join(f"  server {r.name} 127.0.0.1:{r.port} check" for r in replicas)
    return f"""global
  maxconn 2000
defaults
  mode http
  timeout connect 2s
  timeout client 120s
  timeout server 120s
  timeout tunnel 300s
  timeout http-request 30s
  option redispatch
  retries 3
frontend bench
  bind 127.0.0.1:{port}
  maxconn 2000
  default_backend replicas
backend replicas
  balance roundrobin
  option httpchk GET /healthz
  default-server inter 300ms fall 1 rise 2
{servers}
"""


async def wait_ready(session: aiohttp.ClientSession, replica: Replica) -> None:
    assert replica.proc is not None
    await soak._ready(session, replica.url + "/readyz", replica.proc, replica.data_dir / "server.log")
    replica.ready = True


# ---------------------------------------------------------------------------- staff and residents with sockets


@dataclass
class Figures:
    sent: dict[str, str] = field(default_factory=dict)  # reply text → the replica whose console sent it
    via: dict[str, str] = field(default_factory=dict)  # every reply written, answered or not → its console's replica
    crossing: set[str] = field(default_factory=set)  # replies sent while the page was on another replica
    in_doubt: set[str] = field(default_factory=set)  # the console's answer was lost (its replica killed)
    received: collections.Counter[str] = field(default_factory=collections.Counter)
    crossed: set[str] = field(default_factory=set)  # received on a replica other than the sender's
    by_poll: int = 0
    misrouted: int = 0
    reconnects: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)


class Page:
    """A web resident handed over to staff, keeping a live socket open through the proxy."""

    def __init__(self, n: int, proxy: str, http: aiohttp.ClientSession, figures: Figures) -> None:
        self.n, self.proxy, self.http, self.figures = n, proxy, http, figures
        self.cookie = ""
        self.replica: str | None = None  # where the socket is now
        self.handoff_id = 0
        self.connected = asyncio.Event()

    def headers(self) -> dict[str, str]:
        return {"Cookie": f"tongban_web={self.cookie}", "Origin": self.proxy, "X-Requested-With": "XMLHttpRequest",
                "X-Forwarded-For": f"10.99.{self.n // 250}.{self.n % 250 + 1}"}

    async def ask(self, text: str) -> dict[str, Any]:
        headers = self.headers() if self.cookie else {"X-Requested-With": "XMLHttpRequest",
                                                       "X-Forwarded-For": f"10.99.{self.n // 250}.{self.n % 250 + 1}"}
        async with self.http.post(self.proxy + "/api/web/messages", json={"text": text}, headers=headers) as response:
            if "tongban_web" in response.cookies:
                self.cookie = response.cookies["tongban_web"].value
            return await response.json()

    async def listen(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with self.http.ws_connect(self.proxy + "/api/web/live", headers=self.headers(),
                                                heartbeat=5) as socket:
                    self.replica = socket._response.headers.get("X-Tongban-Replica")
                    self.connected.set()
                    async for message in socket:
                        if message.type != aiohttp.WSMsgType.TEXT:
                            break
                        self.take(json.loads(message.data), self.replica)
            except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
                self.figures.errors[f"socket {type(exc).__name__}"] += 1
            self.connected.clear()
            self.replica = None
            if not stop.is_set():
                self.figures.reconnects += 1
                await asyncio.sleep(0.3)

    def take(self, event: dict[str, Any], replica: str | None) -> None:
        text = str(event.get("text") or "")
        if not text.startswith(MARK):
            return  # notices ("staff have joined")
        if not text.startswith(f"{MARK}R{self.n}-"):
            self.figures.misrouted += 1
            return
        self.figures.received[text] += 1
        if replica is None:
            self.figures.by_poll += 1
        elif self.figures.via.get(text) not in (None, replica):
            self.figures.crossed.add(text)

    async def poll(self) -> None:
        async with self.http.get(self.proxy + "/api/web/live/pending", headers=self.headers()) as response:
            for event in (await response.json()).get("messages", []):
                self.take(event, None)


class Staff:
    """A supervisor signed in once (the session is in the database: valid on every replica)."""

    def __init__(self, replicas: list[Replica], http: aiohttp.ClientSession, figures: Figures) -> None:
        self.replicas, self.http, self.figures = replicas, http, figures
        self.csrf = ""

    async def sign_in(self) -> None:
        replica = self.replicas[0]
        async with self.http.post(replica.url + "/console/api/sign-in",
                                  json={"username": STAFF_USER, "password": STAFF_PASSWORD},
                                  headers={"Origin": replica.url, "X-Requested-With": "XMLHttpRequest"}) as response:
            assert response.status == 200, await response.text()
            self.csrf = (await response.json())["csrf"]

    async def post(self, replica: Replica, path: str, body: dict[str, Any]) -> aiohttp.ClientResponse:
        headers = {"Origin": replica.url, "X-CSRF-Token": self.csrf, "X-Requested-With": "XMLHttpRequest"}
        async with self.http.post(replica.url + path, json=body, headers=headers) as response:
            await response.read()
            return response

    async def waiting(self) -> set[int]:
        async with self.http.get(self.replicas[0].url + "/console/api/queue") as response:
            return {c["handoff_id"] for c in (await response.json())["conversations"]}

    def other_than(self, name: str | None, rng: random.Random) -> Replica | None:
        choices = [r for r in self.replicas if r.ready and r.alive and r.name != name]
        return rng.choice(choices) if choices else None

    async def reply(self, page: Page, k: int, rng: random.Random) -> None:
        replica = self.other_than(page.replica, rng)
        if replica is None:
            return
        text = f"{MARK}R{page.n}-{k}"
        crossing = page.replica is not None
        self.figures.via[text] = replica.name
        try:
            async with self.http.post(
                replica.url + f"/console/api/conversations/{page.handoff_id}/reply", json={"text": text},
                headers={"Origin": replica.url, "X-CSRF-Token": self.csrf, "X-Requested-With": "XMLHttpRequest"},
            ) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            self.figures.in_doubt.add(text)
            self.figures.errors[f"reply {type(exc).__name__}"] += 1
            return
        if status != 200:
            self.figures.errors[f"reply http {status}"] += 1
            return
        self.figures.sent[text] = replica.name
        if crossing:
            self.figures.crossing.add(text)


# ---------------------------------------------------------------------------- mini-program, uploads, SMS


def tiny_png() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (320, 200), "white")
    ImageDraw.Draw(image).text((20, 80), "JUMIN SHENFENZHENG", fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def miniprogram(proxy: str, http: aiohttp.ClientSession, n: int, until: float, counts: collections.Counter[str],
                      png: bytes, rng: random.Random) -> None:
    address = {"X-Forwarded-For": f"10.98.{n // 250}.{n % 250 + 1}"}
    async with http.post(proxy + "/api/mp/login", json={"code": f"bench{n}"}, headers=address) as response:
        if response.status != 200:
            counts[f"mp login http {response.status}"] += 1
            return
        token = (await response.json())["token"]
    headers = {**address, "Authorization": f"Bearer {token}"}
    uploaded = False
    while asyncio.get_running_loop().time() < until:
        try:
            if not uploaded:
                form = aiohttp.FormData()
                form.add_field("file", png, filename="id.png", content_type="image/png")
                async with http.post(proxy + "/api/mp/upload", data=form, headers=headers) as response:
                    counts[f"mp upload http {response.status}"] += 1
                # staff open a resident's materials only through a handoff (#20): ask for one
                async with http.post(proxy + "/api/mp/messages", json={"text": "转人工，帮我看看材料"},
                                     headers=headers) as response:
                    counts[f"mp handoff http {response.status}"] += 1
                uploaded = True
            text = rng.choice(["社保卡丢了怎么补办", "居住证要什么材料", "身份证到期了怎么换"])
            async with http.post(proxy + "/api/mp/messages", json={"text": text}, headers=headers) as response:
                counts[f"mp text http {response.status}"] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            counts[f"mp error {type(exc).__name__}"] += 1
        await asyncio.sleep(rng.uniform(2.0, 5.0))


async def sms_burst(proxy: str, http: aiohttp.ClientSession, phone: str, count: int,
                    counts: collections.Counter[str]) -> None:
    """One number sends `count` messages in quick succession, each push acknowledged before the
    next (that is their arrival order); the proxy spreads them over the replicas, which answer
    in the background and race for the number's budget."""
    from tongban.memory.clock import SHANGHAI

    now = dt.datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")

    async def push(k: int) -> None:
        body = [{"phone_number": phone, "send_time": now, "content": ["身份证怎么换", "1", "社保卡", "居住证"][k % 4],
                 "sign_name": "通办", "dest_code": "1", "sequence_id": f"{phone}-{k}-{os.urandom(3).hex()}"}]
        try:
            async with http.post(proxy + "/sms/aliyun", json=body, headers={"X-Tongban-Token": SMS_TOKEN}) as response:
                counts[f"sms push http {response.status}"] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            counts[f"sms push error {type(exc).__name__}"] += 1

    for k in range(count):
        await push(k)


def sms_figures(url: str, budget: int) -> dict[str, int]:
    """From the database: sends beyond a number's budget, answers out of arrival order (row ids:
    each push was acknowledged before the next), 公众号 messages still waiting for their reply."""
    from sqlalchemy import text

    from tongban.memory.db import make_engine

    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT user_id, id, status, reply, answered_at FROM inbound_message WHERE channel = 'sms' ORDER BY id")).all()
        waiting = connection.execute(text(
            "SELECT count(*) FROM inbound_message WHERE channel = 'wechat' AND status IN ('received', 'answered')")).scalar()
    engine.dispose()
    sent: collections.Counter[str] = collections.Counter()
    answered: dict[str, list[Any]] = collections.defaultdict(list)
    for user, _row_id, status, reply, answered_at in rows:
        reply = json.loads(reply) if isinstance(reply, str) else reply
        if status == "delivered" and reply and reply.get("segments"):
            sent[user] += 1
        if answered_at is not None:
            answered[user].append(answered_at)
    out_of_order = sum(1 for times in answered.values() for a, b in zip(times, times[1:], strict=False) if b < a)
    return {"messages": len(rows), "sent": sum(sent.values()), "numbers": len({r[0] for r in rows}),
            "overruns": sum(max(0, c - budget) for c in sent.values()), "out_of_order": out_of_order,
            "wechat_waiting": int(waiting or 0)}


async def files_readable(replicas: list[Replica], http: aiohttp.ClientSession, url: str) -> tuple[int, int, int]:
    """(files, readable from every replica, reads that failed): recordings and uploads."""
    from sqlalchemy import text

    from tongban.memory.db import make_engine

    engine = make_engine(url)
    with engine.connect() as connection:
        audio = [r[0] for r in connection.execute(text("SELECT id FROM transcript_message WHERE audio_ref IS NOT NULL"))]
        uploads = [r[0] for r in connection.execute(text("SELECT id FROM upload"))]
    engine.dispose()
    paths = [f"/console/api/audio/{i}" for i in audio] + [f"/console/api/uploads/{i}" for i in uploads]
    everywhere, failed = 0, 0
    for path in paths:
        ok = 0
        for replica in replicas:
            async with http.get(replica.url + path) as response:
                body = await response.read()
                ok += response.status == 200 and len(body) > 0
        everywhere += ok == len(replicas)
        failed += len(replicas) - ok
    return len(paths), everywhere, failed


# ---------------------------------------------------------------------------- the run


def prepare_database(url: str, data_dir: Path) -> None:
    """Schema, demo catalog and a supervisor, once, before any replica starts (as the Helm
    chart's migration job does; the replicas run with TONGBAN_ENV=test, which prepares nothing)."""
    from tongban.memory import staff
    from tongban.memory.settings import MemorySettings
    from tongban.memory.store import Store

    store = Store.from_settings(MemorySettings(env="development", database_url=url, data_dir=data_dir,
                                               secret_key=SECRET_KEY))
    logging.disable(logging.INFO)  # Alembic's progress lines
    try:
        store.initialise()
    finally:
        logging.disable(logging.NOTSET)
    with store.session(actor="bench") as session:
        staff.add_staff(session, username=STAFF_USER, password=STAFF_PASSWORD, role="supervisor",
                        display_name="压测主管", hall=None)
    store.dispose()


async def run(args: argparse.Namespace) -> int:
    if shutil.which("haproxy") is None:
        raise SystemExit("haproxy is not installed: apt-get install haproxy")
    work = Path(tempfile.mkdtemp(prefix="tongban-replicas-"))
    rng = random.Random(args.seed)
    clips, model, voice_note = soak.voice_setup(work / "voice") if args.voice_share > 0 else ([], None, "off")
    tencent = Mp()
    runner = web.AppRunner(tencent.app(), access_log=None)
    await runner.setup()
    api_port = soak._free_port()
    await web.TCPSite(runner, "127.0.0.1", api_port).start()
    database = soak._create_database(args.postgres)
    await asyncio.to_thread(prepare_database, database, work / "prepare")
    env = {**os.environ,
           "TONGBAN_ENV": "test", "TONGBAN_DATABASE_URL": database, "TONGBAN_REDIS_URL": args.redis,
           "TONGBAN_SECRET_KEY": SECRET_KEY, "TONGBAN_SESSION_SECRET": SESSION_SECRET,
           "TONGBAN_REPLICAS": str(args.replicas), "TONGBAN_INDEX_DIR": str(args.index_dir or work / "index"),
           "TONGBAN_RATE_LIMIT_KEY_PREFIX": f"bench-{os.urandom(4).hex()}",
           "TONGBAN_WECHAT_TOKEN": soak.TOKEN, "TONGBAN_WECHAT_APP_ID": soak.APP_ID,
           "TONGBAN_WECHAT_APP_SECRET": soak.SECRET, "TONGBAN_WECHAT_AES_KEY": soak.AES_KEY,
           "TONGBAN_WECHAT_API_BASE": f"http://127.0.0.1:{api_port}",
           "TONGBAN_MINIPROGRAM_APP_ID": "wxbenchmp000000000", "TONGBAN_MINIPROGRAM_APP_SECRET": "bench-mp-secret",
           "TONGBAN_SMS_WEBHOOK_TOKEN": SMS_TOKEN, "TONGBAN_SMS_DAILY_BUDGET": str(args.sms_budget),
           "TONGBAN_SMS_BUDGET_UNIT": "messages",
           "TONGBAN_TRUSTED_PROXIES": '["127.0.0.1/32"]', "TONGBAN_VOICE_THREADS": "1", "PYTHONPATH": str(ROOT)}
    if model is not None:
        env["TONGBAN_VOICE_MODEL_DIR"] = str(model)
    replicas = []
    for n in range(args.replicas):
        (work / f"r{n}").mkdir()
        replicas.append(Replica(n, soak._free_port(), work / f"r{n}", env))
    proxy_port = soak._free_port()
    (work / "haproxy.cfg").write_text(haproxy_config(proxy_port, replicas))
    proxy_proc: subprocess.Popen[bytes] | None = None
    figures, counts = Figures(), collections.Counter[str]()
    code, lines = 1, ["replicas: the run did not finish FAIL"]
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60), cookie_jar=aiohttp.DummyCookieJar(),
                                         connector=aiohttp.TCPConnector(limit=400)) as http, \
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60),
                                      cookie_jar=aiohttp.CookieJar(unsafe=True)) as staff_http:
            started = time.monotonic()
            replicas[0].start()  # the first builds the shared retrieval index; the rest read it
            await wait_ready(http, replicas[0])
            for replica in replicas[1:]:
                replica.start()
            await asyncio.gather(*(wait_ready(http, r) for r in replicas[1:]))
            proxy_proc = subprocess.Popen(["haproxy", "-f", str(work / "haproxy.cfg"), "-db"],
                                          stdout=subprocess.DEVNULL, stderr=(work / "haproxy.log").open("wb"))
            proxy = f"http://127.0.0.1:{proxy_port}"
            await asyncio.sleep(1.0)  # the proxy's first health checks
            print(f"replicas: {args.replicas} ready in {time.monotonic() - started:.0f} s behind HAProxy on {proxy} "
                  f"(PostgreSQL, Redis {args.redis}); voice: {voice_note}", flush=True)

            staff = Staff(replicas, staff_http, figures)
            await staff.sign_in()
            pages = [Page(n, proxy, http, figures) for n in range(args.pages)]
            for page in pages:  # one at a time: the new waiting handoff is this page's
                before = await staff.waiting()
                await page.ask("身份证到期了怎么换")
                await page.ask("转人工")
                new = await staff.waiting() - before
                assert len(new) == 1, f"expected one new handoff, got {new}"
                page.handoff_id = new.pop()
                claimed = await staff.post(replicas[page.n % len(replicas)],
                                           f"/console/api/conversations/{page.handoff_id}/claim", {})
                assert claimed.status == 200
            stop = asyncio.Event()
            listeners = [asyncio.create_task(p.listen(stop)) for p in pages]
            await asyncio.wait_for(asyncio.gather(*(p.connected.wait() for p in pages)), timeout=30)
            print(f"{len(pages)} handed-over web residents with live sockets on "
                  f"{dict(collections.Counter(p.replica for p in pages))}", flush=True)

            loop = asyncio.get_running_loop()
            until = loop.time() + args.duration
            load_args = argparse.Namespace(seed=args.seed, residents=args.residents, wechat_share=0.4,
                                           personal_every=0, rate=args.rate, drain=15.0, voice_share=args.voice_share,
                                           push_timeout=20.0)
            load = soak.Load(load_args, proxy, tencent, clips)
            load.session = http
            tasks = [asyncio.create_task(load.run(until))]
            png = tiny_png()
            tasks += [asyncio.create_task(miniprogram(proxy, http, n, until, counts, png, rng)) for n in range(args.mp)]

            async def replies() -> None:
                k = 0
                while loop.time() < until:
                    k += 1
                    await asyncio.gather(*(staff.reply(p, k, rng) for p in pages if p.connected.is_set()))
                    await asyncio.sleep(args.reply_every)

            async def sms() -> None:
                phones = [f"1390771{n:04d}" for n in range(args.sms_numbers)]
                for phone in phones:
                    await sms_burst(proxy, http, phone, args.sms_budget + 3, counts)
                    await asyncio.sleep(args.duration / (2 * len(phones)))

            async def fault() -> None:
                await asyncio.sleep(args.duration * 0.4)
                held = collections.Counter(p.replica for p in pages if p.replica)
                victim = max(replicas, key=lambda r: (held.get(r.name, 0), r.n))
                print(f"t={args.duration * 0.4:.0f} s: SIGKILL {victim.name} (holding {held.get(victim.name, 0)} "
                      f"sockets)", flush=True)
                victim.kill()
                await asyncio.sleep(2.0)
                victim.start()
                await wait_ready(http, victim)
                print(f"{victim.name} restarted and ready", flush=True)

            tasks += [asyncio.create_task(replies()), asyncio.create_task(sms())]
            if args.kill_one:
                tasks.append(asyncio.create_task(fault()))
            await asyncio.gather(*tasks)
            await asyncio.sleep(args.settle)  # the last replies reach their pages
            stop.set()
            for task in listeners:
                task.cancel()
            await asyncio.gather(*listeners, return_exceptions=True)
            for page in pages:  # what still waits goes to the page's next poll
                await page.poll()
            readable = await files_readable(replicas, staff_http, database)
        sms_counts = await asyncio.to_thread(sms_figures, database, args.sms_budget)
        code, lines = report(figures, counts, load.figures, readable, sms_counts, replicas)
    finally:
        if proxy_proc is not None:
            proxy_proc.terminate()
            proxy_proc.wait(timeout=10)
        for replica in replicas:
            replica.stop()
        await runner.cleanup()
        soak._drop_database(args.postgres, database)
        if code == 0 and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs and data kept in {work}")
    print("\n".join(lines), flush=True)
    return code


def report(figures: Figures, counts: collections.Counter[str], soak_figures: Any, readable: tuple[int, int, int],
           sms: dict[str, int], replicas: list[Replica]) -> tuple[int, list[str]]:
    """The exit code and the lines to print, the counts last."""
    lines: list[str] = []
    print = lines.append  # noqa: A001 - collected, printed after the servers have stopped
    sent = set(figures.sent)
    got = set(figures.received)
    lost = len(sent - got)
    duplicated = sum(c - 1 for c in figures.received.values() if c > 1)
    unexpected = len(got - sent - figures.in_doubt)  # received but never sent: misrouted as well
    misrouted = figures.misrouted + unexpected
    crossing_made = len(figures.crossing & got)
    doubt_received = len(figures.in_doubt & got)
    files, everywhere, failed_reads = readable
    turns = sum(v for k, v in soak_figures.outcomes.items() if k.endswith(" ok"))
    errors = sum(v for k, v in soak_figures.outcomes.items() if not k.endswith((" ok", " throttled")))
    print(f"traffic: {turns} soak turns ok, {errors} not ok {dict(soak_figures.outcomes)}")
    print(f"mini-program and SMS: {dict(sorted(counts.items()))}")
    print(f"staff replies: {len(sent)} sent, {len(got & sent)} received ({figures.by_poll} by the final poll), "
          f"{lost} lost, {duplicated} duplicated, {misrouted} misrouted; {len(figures.in_doubt)} written to a console "
          f"killed before it answered ({doubt_received} of them received, not counted); sockets reconnected "
          f"{figures.reconnects} times")
    print(f"cross-replica deliveries: {crossing_made} of {len(figures.crossing)} replies written while the page was on "
          f"another replica were delivered; {len(figures.crossed)} replies in all were received on a socket of a "
          f"replica other than the writer's")
    print(f"files: {files} (recordings and uploads), {everywhere} readable from every one of {len(replicas)} "
          f"replicas, {failed_reads} failed reads")
    print(f"sms: {sms['messages']} messages from {sms['numbers']} numbers, {sms['sent']} replies sent, "
          f"{sms['overruns']} budget overruns, {sms['out_of_order']} answered out of order")
    print(f"公众号: {sms['wechat_waiting']} accepted messages still waiting for their reply at the end (a replica "
          f"was killed mid-turn: the webhook's sweep answers them once 120 s old; not lost)")
    if figures.errors:
        print(f"client errors: {dict(figures.errors)}")
    ok = (lost == 0 and duplicated == 0 and misrouted == 0 and crossing_made == len(figures.crossing)
          and everywhere == files and sms["overruns"] == 0 and sms["out_of_order"] == 0 and len(sent) > 0)
    print(f"replicas={len(replicas)} kills={sum(r.kills for r in replicas)} sent={len(sent)} "
          f"received={len(got & sent)} lost={lost} duplicated={duplicated} misrouted={misrouted} "
          f"cross_replica={crossing_made}/{len(figures.crossing)} files_everywhere={everywhere}/{files} "
          f"sms_overruns={sms['overruns']} sms_out_of_order={sms['out_of_order']} {'OK' if ok else 'FAIL'}")
    return (0 if ok else 1), lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic")
    parser.add_argument("--kill-one", action="store_true", help="SIGKILL one replica mid-run and restart it")
    parser.add_argument("--postgres", required=True, help="a PostgreSQL URL; the run creates and drops its own database")
    parser.add_argument("--redis", required=True)
    parser.add_argument("--pages", type=int, default=6, help="handed-over web residents with live sockets")
    parser.add_argument("--reply-every", type=float, default=2.0, help="seconds between rounds of staff replies")
    parser.add_argument("--residents", type=int, default=30)
    parser.add_argument("--rate", type=float, default=0.8, help="soak turns per second offered")
    parser.add_argument("--voice-share", type=float, default=0.3)
    parser.add_argument("--mp", type=int, default=3, help="mini-program residents")
    parser.add_argument("--sms-numbers", type=int, default=3)
    parser.add_argument("--sms-budget", type=int, default=3)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--index-dir", type=Path, default=None,
                        help="a retrieval index of the demo catalog to reuse (default: the first replica builds one)")
    parser.add_argument("--keep", action="store_true", help="keep logs and data even when all is well")
    args = parser.parse_args()
    if args.replicas < 2:
        parser.error("--replicas must be at least 2")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
