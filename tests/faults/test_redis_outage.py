"""Redis going away mid-run: the WeChat access token falls back to this process, replies still go out.

The app reaches Redis through a TCP proxy the test cuts and restores; Tencent's API is the
local stand-in, and replies past the passive budget go out as 客服消息 (which need the token).
"""

from __future__ import annotations

import pytest

from tests.helpers.proxy import Proxy
from tests.helpers.wechat_oa import agent_of, post, rows, text_xml
from tongban.channels.app import keys
from tongban.channels.wechat.oa.webhook import CLIENT
from tongban.memory.models import InboundStatus
from tongban.memory.store import Store

pytestmark = pytest.mark.slow  # fault injection: servers, proxies, kills, outages

REDIS = ("127.0.0.1", 6379)


def _redis_or_skip() -> None:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis(*REDIS, socket_connect_timeout=1).ping()
    except Exception:
        pytest.skip(f"Redis not reachable at {REDIS[0]}:{REDIS[1]}")


async def test_replies_go_out_while_redis_is_down_and_after_it_returns(aiohttp_client, make_wechat, store: Store, tencent) -> None:  # type: ignore[no-untyped-def]
    _redis_or_skip()
    async with Proxy(*REDIS) as proxy:
        client = await aiohttp_client(make_wechat(
            wechat_aes_key=None, passive_reply_budget_s=0.05, redis_url=f"redis://127.0.0.1:{proxy.port}/15"))
        agent_of(client).delay = 0.1
        wechat = client.app[CLIENT]
        try:
            for n, cut in enumerate([False, True, False]):
                if cut:
                    await proxy.cut()
                elif n:
                    await proxy.restore()
                await post(client, text_xml(f"o-redis-{n}", "身份证丢了怎么办", 9100 + n))
                await client.app[keys.DELIVERIES].drain()
                assert len(tencent.sent) == n + 1, f"reply {n} went out (Redis {'down' if cut else 'up'})"
            assert [r.status for r in rows(store)] == [InboundStatus.DELIVERED] * 3
            assert tencent.token_requests == 1, "the token is also kept in memory: used while Redis was away"
        finally:
            await proxy.restore()
            wechat.session.delete(wechat.access_token_key)
