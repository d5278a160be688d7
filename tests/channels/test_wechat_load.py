"""The 公众号 webhook under a modest open-loop load, with WeChat's retries: every message is
answered exactly once — passively or as one 客服消息, never both, never twice, never not at all.

The CI-sized form of `bench/wechat_load.py`; its timing goals (≥ 99 % passive at 50 msg/s)
live in the benchmark, this test checks only what must hold at any speed.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.channels.test_wechat_oa import agent_of, make_wechat, post, rows, tencent, text_xml  # noqa: F401 (fixtures used below)
from tongban.channels.app import keys
from tongban.memory.models import InboundStatus
from tongban.memory.store import Store

QUESTIONS = ["身份证丢了怎么办", "社保卡要带什么材料", "居住证怎么办理", "你好", "残疾人证办理需要多久"]
RATE = 20  # messages a second
RESIDENTS = 12
MESSAGES = 48  # four messages per resident, interleaved


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_a_burst_with_retries_answers_every_message_exactly_once(  # type: ignore[no-untyped-def]
    aiohttp_client, make_wechat, store: Store, tencent, request, database: str,  # noqa: F811 (the fixtures imported above)
) -> None:
    app_store = request.getfixturevalue("pg_store") if database == "postgresql" else store
    # a budget short enough that some replies miss the passive window and are pushed instead
    client = await aiohttp_client(make_wechat(app_store=app_store, wechat_aes_key=None, passive_reply_budget_s=0.15))
    passive: Counter[str] = Counter()

    async def send(n: int) -> None:
        openid = f"o-load-{n % RESIDENTS:02d}"
        xml = text_xml(openid, QUESTIONS[n % len(QUESTIONS)], 900_000 + n)
        attempts = [post(client, xml)]
        if n % 3 == 0:  # WeChat asks again for every third message (its retry after 5 s, sooner)
            attempts.append(_later(0.05 * (n % 4), post(client, xml)))
        for response in await asyncio.gather(*attempts):
            assert response.status == 200
            if await response.text() != "success":
                passive[openid] += 1

    await asyncio.gather(*(_later(n / RATE, send(n)) for n in range(MESSAGES)))
    await client.app[keys.DELIVERIES].drain()

    pushed = Counter(sent["touser"] for sent in tencent.sent)
    per_resident = MESSAGES // RESIDENTS
    answers = {openid: passive[openid] + pushed[openid] for openid in {*passive, *pushed}}
    assert answers == {f"o-load-{r:02d}": per_resident for r in range(RESIDENTS)}, "0 lost, 0 duplicated"
    assert len(agent_of(client).calls) == MESSAGES, "one agent run per message, retries included"
    stored = rows(app_store)
    assert len(stored) == MESSAGES and all(r.status == InboundStatus.DELIVERED for r in stored)


async def _later(delay: float, work):  # type: ignore[no-untyped-def]
    await asyncio.sleep(delay)
    return await work
