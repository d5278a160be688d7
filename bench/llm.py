"""The LLM path on a real small model: planning with a forced tool, and whole turns.

    python bench/qwen_gguf.py .models            # once: assemble and verify the GGUF
    pip install llama-cpp-python                 # builds from source (~8 min on 2 cores)
    python bench/llm.py .models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf

Prints per-call latency of a forced search_services plan, and per-turn latency, the share of
turns the model answered itself (labelled AI) and how often the offline brain took over.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tongban.agent.brains.llm import LLMBrain, _schema
from tongban.agent.brains.models import llamacpp_model
from tongban.agent.brains.offline import OfflineBrain
from tongban.agent.messages import Inbound
from tongban.agent.service import Agent, shared_index
from tongban.memory.checkpoints import sqlite_checkpointer
from tongban.memory.settings import MemorySettings
from tongban.memory.store import Store

NOW = dt.datetime(2026, 11, 24, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
QUESTIONS = ["身份证到期了怎么换", "开奶茶店要办哪些证", "失业了能领钱吗", "公积金租房怎么提取", "孩子上小学怎么报名"]


def main(path: str) -> None:
    logging.disable(logging.WARNING)
    started = time.perf_counter()
    model = llamacpp_model(path)
    print(f"model            {Path(path).name} loaded in {time.perf_counter() - started:.1f} s")
    planner = model.bind_tools([_schema("search_services")],
                               tool_choice={"type": "function", "function": {"name": "search_services"}})
    plans = []
    for question in QUESTIONS:
        started = time.perf_counter()
        message = planner.invoke(f"居民问：{question}。请调用工具查找对应的政务服务事项。")
        plans.append((time.perf_counter() - started) * 1000)
        print(f"  plan  {question} -> {message.tool_calls[0]['args'] if message.tool_calls else 'no call'}")
    print(f"forced tool plan p50 {statistics.median(plans):.0f} ms, max {max(plans):.0f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.from_settings(MemorySettings(env="test", data_dir=Path(tmp), secret_key="bench-secret-0123456789"))
        store.initialise(today=NOW.date())
        agent = Agent(store, brain=LLMBrain(model), fallback=OfflineBrain(), clock=lambda: NOW,
                      index=shared_index(store), checkpointer=sqlite_checkpointer(":memory:"))
        turns, ai = [], 0
        for n, question in enumerate(QUESTIONS):
            started = time.perf_counter()
            reply = agent.respond_sync(Inbound("web", f"llm-{n}", f"我想问一下，{question}", at=NOW))
            turns.append((time.perf_counter() - started) * 1000)
            ai += reply.ai_generated
        print(f"whole turns      p50 {statistics.median(turns):.0f} ms, max {max(turns):.0f} ms; "
              f"{ai}/{len(turns)} answered by the model (AI-labelled), the rest by the offline brain")
        store.dispose()


if __name__ == "__main__":
    main(sys.argv[1])
