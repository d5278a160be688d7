"""An acknowledged message survives a crash: SIGKILL right after the ack, restart, it is answered.

The 公众号 webhook stores each message before answering `success`; here the passive budget
is tiny so every message is acknowledged at once and answered later, and the server is
killed the moment the acks are in. After the restart each resident gets exactly one reply
(as a 客服消息). The web chat has no separate ack — its answer is the reply, sent after the
turn committed — so a kill right after it leaves the exchange in the resident's history.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlmodel import select

from tests.helpers.harness import APP_ID, SECRET, Server, WeChat, free_port, store_for
from tests.helpers.wechat_server import FakeWeChat
from tongban.memory.models import InboundMessage, InboundStatus

pytestmark = pytest.mark.slow  # fault injection: servers, proxies, kills, outages

HEADERS = {"X-Requested-With": "fetch"}


async def test_messages_acknowledged_before_a_kill_are_answered_after_it(template_db: Path, service_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(template_db, data / "tongban.db")
    tencent = FakeWeChat(APP_ID, SECRET)
    runner = web.AppRunner(tencent.app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    server = Server(data, tencent_base=f"http://127.0.0.1:{port}",
                    index_dir=service_index.settings.resolved_index_dir(service_index.store.settings),
                    env={"TONGBAN_PASSIVE_REPLY_BUDGET_S": "0.001"})
    openids = [f"o-ack-{n}" for n in range(8)]  # turns run one at a time on SQLite: most are owed
    try:
        await server.start()
        async with aiohttp.ClientSession() as http:
            wechat = WeChat(server, tencent, http)
            async with http.post(f"{server.base}/api/web/messages", json={"text": "社保卡要带什么材料"},
                                 headers=HEADERS) as response:
                assert response.status == 200 and "材料" in (await response.json())["text"]
                cookie = response.cookies["tongban_web"].value
            acks = await asyncio.gather(*(wechat.send(o, "身份证丢了怎么办") for o in openids))
            server.kill()  # the moment the acks are in
            assert acks == [None] * len(openids), "acknowledged with `success`, reply to follow"
            owed = [o for o in openids if not wechat.pushed(o)]
            restart_s = await server.start()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and any(not wechat.pushed(o) for o in openids):
                await asyncio.sleep(0.1)
            print(f"{len(owed)} of {len(openids)} replies still owed at the kill; restart {restart_s:.1f} s")
            assert owed, "the kill came before the replies"
            for openid in openids:
                pushed = wechat.pushed(openid)
                assert pushed and "身份证" in pushed[0], f"{openid} was answered after the restart"
                # at least once: a push that reached Tencent just before the kill, not yet marked
                # DELIVERED, goes out again (WeChat has no idempotency key); an owed one goes once
                assert len(pushed) == 1 if openid in owed else set(pushed) == {pushed[0]}, (openid, pushed)
            async with http.get(f"{server.base}/api/web/history", cookies={"tongban_web": cookie}) as response:
                said = [m["text"] for m in (await response.json())["messages"]]
            assert said[0] == "社保卡要带什么材料" and "材料" in said[1]
    finally:
        server.stop()
        await runner.cleanup()
    store = store_for(data)
    with store.read_session() as session:
        statuses = [r.status for r in session.exec(select(InboundMessage).where(InboundMessage.channel == "wechat"))]
    store.dispose()
    assert statuses == [InboundStatus.DELIVERED] * len(openids)
