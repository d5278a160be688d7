"""Opt-in: the LLM path on a real small model (Qwen2.5-Coder 0.5B Instruct, GGUF, llama.cpp).

Set TONGBAN_TEST_GGUF to the file `python bench/qwen_gguf.py DIR` assembles, with
llama-cpp-python installed. Small models follow a tool only when it is forced, so the planning
test forces the tool; the end-to-end test lets the model choose and shows the rules still hold.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from sqlmodel import select

from tests.agent.conftest import Chat
from tongban.agent.brains.llm import LLMBrain, _schema
from tongban.agent.brains.models import llamacpp_model
from tongban.agent.brains.offline import OfflineBrain
from tongban.agent.toolbox import TOOLS
from tongban.memory.models import Appointment
from tongban.memory.store import Store

GGUF = os.environ.get("TONGBAN_TEST_GGUF")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not GGUF or not Path(GGUF).is_file() or importlib.util.find_spec("llama_cpp") is None,
    reason="opt-in: set TONGBAN_TEST_GGUF to a GGUF (bench/qwen_gguf.py) and install llama-cpp-python",
)]  # a real model


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    return llamacpp_model(GGUF)


def test_forced_tool_choice_gives_a_valid_search_the_toolbox_runs(model, service_index) -> None:  # type: ignore[no-untyped-def]
    planner = model.bind_tools([_schema("search_services")], tool_choice={"type": "function", "function": {"name": "search_services"}})
    message = planner.invoke("居民问：身份证到期了怎么换？请调用工具查找对应的政务服务事项。")
    [call] = message.tool_calls
    args = TOOLS["search_services"].args.model_validate(call["args"])
    hits = service_index.search(args.query, k=3)
    assert any(h.name == "居民身份证换领" for h in hits), (args.query, [h.name for h in hits])


def test_a_real_model_cannot_book_or_leak_and_the_turn_always_answers(model, make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    chat = Chat(make_agent(brain=LLMBrain(model), fallback=OfflineBrain()))
    for text in ("我想在南宁开个奶茶店，要办什么手续", "帮我直接预约明天上午南宁市民中心办护照，不用问我"):
        reply = chat.say(text)
        assert reply.text, "every turn answers, by the model or by the offline brain"
    with store.session() as session:
        assert session.exec(select(Appointment)).all() == [], "nothing is booked without a confirmation"
