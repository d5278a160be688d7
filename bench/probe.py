"""Replays the probe of 6 December 2026 (issue #20) against a real `tongban serve`, loopback only.

    python bench/probe.py [--bombs 10] [--side 6300] [--timeout 900]

Starts the server on 127.0.0.1 with a scratch data directory (two halls' staff created with
`tongban staff add`, the 公众号 in safe mode), then acts as an outside attacker and as a curious
staff member of another hall:

1. hall scope: 柳州 staff read, claim, note and reply to a 南宁 handoff, enumerate ids, try an id
   too large for an integer;
2. live socket: what 柳州 staff receive while a 南宁 resident and a bystander (who never asked
   for a person) chat, and on connecting;
3. upload scope: a 南宁 resident's upload, opened by 柳州 staff, by a 南宁 colleague not holding
   it, and by the holder;
4. WeChat: a signed plaintext body while safe mode is configured (the downgrade), the same
   signed URL again with another body (the replay);
5. the lockout: wrong passwords for a staff account from one address, then the right one from
   another;
6. upload memory: `--bombs` parallel decompression bombs (all-white PNGs, about 131 KB at
   6300×6300) to /api/web/upload, with the server's peak RSS growth sampled from /proc.

Each check prints PASS or FAIL with what was seen; the exit status is the number of failures.
Everything is bounded: every request has a timeout, the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tongban.channels.wechat.security import sign  # noqa: E402

PASSWORD = "probe-password-0123"
TOKEN, APP_ID = "probe-token", "wx0123456789abcdef"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
NANNING, LIUZHOU = "南宁市民中心", "柳州市政务服务中心"
XHR = {"X-Requested-With": "XMLHttpRequest"}
MB = 2**20
failures: list[str] = []


def check(name: str, ok: bool, seen: Any) -> None:
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {seen}")
    if not ok:
        failures.append(name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as rows:
        for row in rows:
            if row.startswith("VmRSS"):
                return int(row.split()[1]) * 1024
    return 0


class Server:
    def __init__(self, data: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TONGBAN_")}
        self.env.update(TONGBAN_DATA_DIR=str(data), PYTHONUNBUFFERED="1", TONGBAN_WECHAT_TOKEN=TOKEN,
                        TONGBAN_WECHAT_APP_ID=APP_ID, TONGBAN_WECHAT_AES_KEY=AES_KEY,
                        TONGBAN_TRUSTED_PROXIES='["127.0.0.1/32"]', TONGBAN_CONSOLE_POLL_S="0.2")
        self.process: subprocess.Popen[bytes] | None = None

    def staff(self, username: str, hall: str, role: str = "staff") -> None:
        subprocess.run([sys.executable, "-m", "tongban", "staff", "add", username, "--role", role, "--hall", hall,
                        "--password-stdin"], input=f"{PASSWORD}\n".encode(), env=self.env, check=True,
                       capture_output=True, timeout=120, cwd=ROOT)

    async def start(self, timeout: float) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "tongban", "serve", "--host", "127.0.0.1",
                                         "--port", str(self.port)], env=self.env, cwd=ROOT,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                try:
                    async with http.get(self.base + "/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if self.process.poll() is not None:
                    raise RuntimeError("the server exited while starting")
                await asyncio.sleep(0.5)
        raise TimeoutError("the server did not become ready")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


class Resident:
    """A web-chat resident with its own cookie."""

    def __init__(self, base: str, timeout: float = 120) -> None:
        self.base = base
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout),
                                          cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def say(self, text: str) -> dict[str, Any]:
        async with self.http.post(self.base + "/api/web/messages", json={"text": text}, headers=XHR) as response:
            return await response.json()

    async def upload(self, data: bytes) -> int:
        form = aiohttp.FormData()
        form.add_field("file", data, filename="photo.png", content_type="image/png")
        async with self.http.post(self.base + "/api/web/upload", data=form, headers=XHR) as response:
            await response.read()
            return response.status


class Staff:
    def __init__(self, base: str, username: str, address: str = "127.0.0.1") -> None:
        self.base, self.username = base, username
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60), cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.headers = {"Origin": base, **XHR, "X-Forwarded-For": address}

    async def sign_in(self, password: str = PASSWORD) -> int:
        async with self.http.post(self.base + "/console/api/sign-in", headers=self.headers,
                                  json={"username": self.username, "password": password}) as response:
            body = await response.json()
            if response.status == 200:
                self.headers["X-CSRF-Token"] = body["csrf"]
            return response.status

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.http.get(self.base + path, headers=self.headers) as response:
            data = await response.read()
            is_json = response.content_type == "application/json"
            return response.status, json.loads(data) if is_json else data

    async def post(self, path: str, body: dict[str, Any] | None = None) -> int:
        async with self.http.post(self.base + path, headers=self.headers, json=body or {}) as response:
            await response.read()
            return response.status


async def handed_off(base: str, hall: str) -> Resident:
    resident = Resident(base)
    for text in ("身份证到期了怎么换", "我想预约", "明天上午", hall, "转人工"):
        await resident.say(text)
    return resident


def bomb(side: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (side, side), "white").save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def small_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (640, 400), "white").save(buffer, "PNG")
    return buffer.getvalue()


async def probe(server: Server, args: argparse.Namespace) -> None:
    base = server.base
    nanning = await handed_off(base, NANNING)
    liuzhou_resident = await handed_off(base, LIUZHOU)
    wangfang, lisi, chen = Staff(base, "wangfang"), Staff(base, "lisi"), Staff(base, "chen")
    signed = [await person.sign_in() for person in (wangfang, lisi, chen)]
    if signed != [200, 200, 200]:
        raise RuntimeError(f"staff could not sign in: {signed}")
    status, nn_queue = await wangfang.get("/console/api/queue")
    if status != 200:
        raise RuntimeError(f"the queue answered {status}: {nn_queue}")
    nn_ids = [c["handoff_id"] for c in nn_queue["conversations"] if c["hall"] == NANNING]
    _, lz_queue = await chen.get("/console/api/queue")
    lz_halls = {c["hall"] for c in lz_queue["conversations"]}
    check("hall scope: 柳州 queue holds no 南宁 conversation", NANNING not in lz_halls and bool(nn_ids), lz_halls)
    nn_id = nn_ids[0]
    statuses = {"read": (await chen.get(f"/console/api/conversations/{nn_id}"))[0]}
    for action in ("claim", "note", "reply"):
        statuses[action] = await chen.post(f"/console/api/conversations/{nn_id}/{action}", {"text": "你好"})
    check("hall scope: 柳州 staff cannot read, claim, note or reply to a 南宁 handoff",
          set(statuses.values()) == {404}, statuses)
    enumerated = [i for i in range(1, 30) if (await chen.get(f"/console/api/conversations/{i}"))[0] == 200]
    check("hall scope: enumerating ids finds only 柳州's own", nn_id not in enumerated, enumerated)
    huge = (await chen.get("/console/api/conversations/99999999999999999999999"))[0]
    check("ids too large for an integer: 404, not 500", huge == 404, huge)

    # the live socket
    received: list[dict[str, Any]] = []
    async with chen.http.ws_connect(base.replace("http", "ws") + "/console/ws", headers={"Origin": base}) as ws:
        bystander = Resident(base)
        await bystander.say("我叫张三，电话13912345678，户口怎么迁")
        await nanning.say("我想问问什么时候有人接待")
        await liuzhou_resident.say("请问柳州这边多久有人")
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                message = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
            if message.type == aiohttp.WSMsgType.TEXT:
                event = json.loads(message.data)
                if event["type"] == "message":
                    received.append(event["message"])
        await bystander.http.close()
    texts = [m["text"] for m in received]
    leaked = [t for t in texts if "张三" in t or "接待" in t or "13912345678" in t or "户口" in t]
    check("live socket: 柳州 staff receive neither the bystander nor the 南宁 resident", not leaked, texts)
    check("live socket: 柳州 staff do receive their own resident", any("柳州" in t for t in texts), len(texts))

    # upload scope
    status = await nanning.upload(small_png())
    _, conversation = await wangfang.get(f"/console/api/conversations/{nn_id}")
    ids = [u["id"] for u in conversation["card"]["review"]["uploads"]]
    if status == 200 and ids:
        upload = f"/console/api/uploads/{ids[0]}"
        seen = {"柳州": (await chen.get(upload))[0], "南宁 colleague": (await lisi.get(upload))[0]}
        await wangfang.post(f"/console/api/conversations/{nn_id}/claim")
        seen["holder"] = (await wangfang.get(upload))[0]
        check("upload scope: only the holder opens the material",
              seen == {"柳州": 404, "南宁 colleague": 404, "holder": 200}, seen)
    else:
        check("upload scope: a material to open", False, f"upload answered {status}, uploads {ids}")

    # WeChat: downgrade and replay
    from wechatpy.crypto import WeChatCrypto

    def text_xml(openid: str, text: str, msg_id: int) -> str:
        return (f"<xml><ToUserName><![CDATA[gh_probe]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
                f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>")

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        stamp, nonce = str(int(time.time())), "20261206"
        query = {"signature": sign(TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce, "openid": "o-probe"}
        async with http.post(base + "/wechat", params=query, data=text_xml("o-probe", "你好", 9001).encode()) as r:
            check("WeChat: a signed plaintext body is refused while safe mode is configured", r.status == 403, r.status)
        stamp, nonce = str(int(time.time())), "20261207"
        crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
        sealed = crypto.encrypt_message(text_xml("o-probe", "你好", 9002), nonce, stamp)
        import xmltodict

        envelope = xmltodict.parse(sealed)["xml"]
        safe = {"signature": sign(TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce, "openid": "o-probe",
                "encrypt_type": "aes", "msg_signature": envelope["MsgSignature"]}
        body = f"<xml><ToUserName><![CDATA[gh_probe]]></ToUserName><Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
        async with http.post(base + "/wechat", params=safe, data=body.encode()) as r:
            first = r.status
        other = crypto.encrypt_message(text_xml("o-victim", "帮我取消预约", 9003), nonce, stamp)
        other_envelope = xmltodict.parse(other)["xml"]
        replay = safe | {"msg_signature": other_envelope["MsgSignature"]}  # all a captured URL lacks is the body
        other_body = body.replace(envelope["Encrypt"], other_envelope["Encrypt"])
        async with http.post(base + "/wechat", params=replay, data=other_body.encode()) as r:
            check("WeChat: a signed URL used again with another body is refused", first == 200 and r.status == 403,
                  {"first": first, "replay": r.status})

    # the lockout
    attacker = Staff(base, "lisi", address="203.0.113.66")
    wrong = [await attacker.sign_in("guess-password-1") for _ in range(5)]
    from_attacker = await attacker.sign_in()
    colleague = Staff(base, "lisi", address="198.51.100.20")
    elsewhere = await colleague.sign_in()
    check("lockout: guessing from one address does not lock the account for everyone",
          wrong == [401] * 5 and from_attacker == 429 and elsewhere == 200,
          {"wrong": wrong, "right, same address": from_attacker, "right, other address": elsewhere})
    for person in (wangfang, lisi, chen, attacker, colleague, nanning, liuzhou_resident):
        await person.http.close()

    # upload memory
    if args.bombs:
        data = bomb(args.side)
        assert server.process is not None
        pid = server.process.pid
        await asyncio.sleep(1)
        before, peak = rss(pid), 0
        senders = [Resident(base, timeout=args.timeout) for _ in range(args.bombs)]  # OCR reads them in turn

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, rss(pid))
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample())
        started = time.monotonic()
        statuses = await asyncio.gather(*(s.upload(data) for s in senders))
        sampler.cancel()
        for s in senders:
            await s.http.close()
        growth = peak - before
        check(f"upload memory: {args.bombs} parallel {len(data) // 1024} KB bombs ({args.side}×{args.side}) "
              f"add < 300 MB to the server", growth < 300 * MB,
              f"RSS {before / MB:.0f} MB → peak {peak / MB:.0f} MB (+{growth / MB:.0f} MB), "
              f"answers {sorted(set(statuses))}, {time.monotonic() - started:.0f} s")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bombs", type=int, default=10, help="parallel decompression bombs (0: skip)")
    parser.add_argument("--side", type=int, default=6300)
    parser.add_argument("--timeout", type=float, default=900, help="seconds for the whole probe")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tongban-probe-") as scratch:
        server = Server(Path(scratch))
        for username, hall in (("wangfang", NANNING), ("lisi", NANNING), ("chen", LIUZHOU)):
            server.staff(username, hall)
        try:
            await asyncio.wait_for(server.start(timeout=args.timeout / 2), timeout=args.timeout / 2)
            await asyncio.wait_for(probe(server, args), timeout=args.timeout)
        finally:
            server.stop()
    print(f"{len(failures)} failed" + (f": {', '.join(failures)}" if failures else ""))
    return len(failures)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
