"""A model server that hangs: the LLM brain gives up within its timeout and the offline brain answers.

The stand-in speaks OpenAI's chat-completions route and never answers. The first turn waits
out the configured bound (the client's timeout, one retry); later turns skip the model for a
while instead of each waiting again, so a hung server does not hold every resident up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.conftest import NOW
from tongban.agent.brains.llm import LLMBrain
from tongban.agent.brains.models import chat_model_from_settings
from tongban.agent.brains.offline import OfflineBrain
from tongban.agent.messages import Inbound
from tongban.agent.service import Agent
from tongban.agent.settings import AgentSettings
from tongban.memory.checkpoints import sqlite_checkpointer
from tongban.memory.store import Store

pytestmark = pytest.mark.slow  # fault injection: servers, proxies, kills, outages

TIMEOUT_S = 0.5


class HungModel:
    def __init__(self) -> None:
        self.requests = 0

    async def completions(self, _request: web.Request) -> web.Response:
        self.requests += 1
        await asyncio.sleep(3600)  # accepted, never answered
        raise AssertionError("unreachable")


@pytest.fixture
async def hung(aiohttp_server) -> AsyncIterator[tuple[HungModel, str]]:  # type: ignore[no-untyped-def]
    pytest.importorskip("langchain_openai")
    model = HungModel()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", model.completions)
    server = await aiohttp_server(app)
    yield model, str(server.make_url("/v1"))


async def test_a_hung_model_server_costs_one_bounded_wait_then_none(hung, store: Store, service_index) -> None:  # type: ignore[no-untyped-def]
    model, base = hung
    settings = AgentSettings(brain="llm", llm_base_url=base, llm_timeout_s=TIMEOUT_S)
    agent = Agent(store, brain=LLMBrain(chat_model_from_settings(settings)), fallback=OfflineBrain(),
                  clock=lambda: NOW, index=service_index, checkpointer=sqlite_checkpointer(":memory:"))
    timings = []
    for n, question in enumerate(["身份证到期了怎么换", "社保卡要带什么材料"]):
        started = time.monotonic()
        reply = await agent.respond(Inbound("wechat", f"o-hung-{n}", question, at=NOW))
        timings.append(time.monotonic() - started)
        assert reply.text and not reply.ai_generated, "the offline brain answered"
        assert reply.item in ("居民身份证换领", "社会保障卡申领")
    print(f"model server hung: first answer {timings[0]:.2f} s (bound {2 * TIMEOUT_S:.1f} s + turn), "
          f"next {timings[1]:.2f} s")
    assert model.requests == 2, "asked once, retried once (max_retries=1), then rested"
    assert TIMEOUT_S <= timings[0] < 2 * TIMEOUT_S + 3
    assert timings[1] < 1.5, "the next resident is not held up by the hung server"
