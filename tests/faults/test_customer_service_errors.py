"""客服消息 failures: retried with growing delays, then queued in the database, delivered later.

Tencent's stand-in answers the documented failures — -1 系统繁忙, HTTP 500 from a proxy in
front, 45047 (too many 客服消息 before the resident writes again) — and 45015 (the 48-hour
window closed), which can never succeed and is given up at once, as before.
"""

from __future__ import annotations

import pytest

from tests.helpers.wechat_oa import agent_of, post, rows, text_xml
from tests.helpers.wechat_server import BUSY, OUT_OF_TIME, TOO_MANY
from tongban.channels.app import keys
from tongban.channels.wechat.api import RetryPolicy
from tongban.channels.wechat.oa.webhook import WECHAT, sweep
from tongban.memory.models import InboundStatus
from tongban.memory.store import Store

pytestmark = pytest.mark.slow  # fault injection: servers, proxies, kills, outages

BACKOFF = RetryPolicy(attempts=3, first_delay_s=0.05, factor=2.0)


@pytest.mark.parametrize("failure", [BUSY, 500, TOO_MANY], ids=["system-busy", "http-500", "45047"])
async def test_a_failing_push_is_queued_and_delivered_by_a_later_sweep(aiohttp_client, make_wechat, store: Store, tencent, failure) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat(wechat_aes_key=None, passive_reply_budget_s=0.05))
    client.app[WECHAT].retry = BACKOFF
    agent_of(client).delay = 0.1
    tencent.send_failures.extend([failure] * 3)
    assert await (await post(client, text_xml("o-cs", "身份证丢了怎么办", 9301))).text() == "success"
    await client.app[keys.DELIVERIES].drain()
    [row] = rows(store)
    if failure is TOO_MANY:  # a limit, not a hiccup: waiting seconds does not lift it
        assert tencent.send_attempts == 1
    else:
        assert tencent.send_attempts == 3
        gaps = [b - a for a, b in zip(tencent.send_times, tencent.send_times[1:], strict=False)]
        assert gaps[0] >= 0.05 and gaps[1] >= 0.1, f"backing off: {gaps}"
    assert tencent.sent == [] and row.status == InboundStatus.ANSWERED, "queued, not dropped"
    tencent.send_failures.clear()

    client.app[WECHAT].stale_after_s = 0  # the next periodic sweep, without waiting for it
    assert await sweep(client.app) == 1
    await client.app[keys.DELIVERIES].drain()
    [sent] = tencent.sent
    assert sent["touser"] == "o-cs" and "身份证" in sent["text"]["content"]
    assert rows(store)[0].status == InboundStatus.DELIVERED
    assert await sweep(client.app) == 0, "delivered once"
    assert len(agent_of(client).calls) == 1


async def test_a_closed_window_is_given_up_at_once_and_kept_for_staff(aiohttp_client, make_wechat, store: Store, tencent) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_wechat(wechat_aes_key=None, passive_reply_budget_s=0.05))
    agent_of(client).delay = 0.1
    tencent.send_failures.append(OUT_OF_TIME)
    await post(client, text_xml("o-gone", "身份证丢了怎么办", 9302))
    await client.app[keys.DELIVERIES].drain()
    client.app[WECHAT].stale_after_s = 0
    assert await sweep(client.app) == 0, "failed rows are not swept"
    [row] = rows(store)
    assert row.status == InboundStatus.FAILED and tencent.send_attempts == 1 and "身份证" in row.reply["text"]
