"""Turns of different residents run side by side on SQLite: a turn takes the database's one
writer only for its writes at the end, never while it reads and thinks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.agent.conftest import Chat
from tongban.agent.brains.offline import OfflineBrain
from tongban.agent.service import Agent
from tongban.memory import transcripts
from tongban.memory.inbound import accept
from tongban.memory.residents import find
from tongban.memory.store import Store


class Held(OfflineBrain):
    """The offline brain, which first waits at `gate` (a barrier, or an event set by the test)."""

    def __init__(self, gate: threading.Barrier | threading.Event) -> None:
        super().__init__()
        self.gate = gate
        self.thinking = threading.Event()

    def understand(self, state: Any, ctx: Any) -> dict[str, Any]:
        self.thinking.set()
        assert self.gate.wait(timeout=10) is not False, "released in time"
        return super().understand(state, ctx)


def test_turns_of_different_residents_think_at_the_same_time(make_agent: Callable[..., Agent], store: Store) -> None:
    agent = make_agent(brain=Held(threading.Barrier(3)))  # each turn waits until all three are thinking
    with ThreadPoolExecutor(3) as pool:
        replies = list(pool.map(lambda n: Chat(agent, user=f"o-side-{n}", identity=None).say("身份证丢了怎么办"), range(3)))
    assert all("身份证" in reply.text for reply in replies)
    with store.read_session() as session:
        for n in range(3):
            resident = find(session, store.vault, channel="wechat", user_id=f"o-side-{n}")
            assert resident is not None and resident.id is not None
            lines = transcripts.conversation(session, store.vault, resident.id)
            assert [line.role for line in lines] == ["resident", "bot"], "each answer after its question"


def test_a_message_is_accepted_while_a_turn_is_thinking(make_agent: Callable[..., Agent], store: Store) -> None:
    Chat(make_agent(), user="o-thinker").say("你好")  # known to the database: the turn starts by reading
    release = threading.Event()
    brain = Held(release)
    chat = Chat(make_agent(brain=brain), user="o-thinker")
    with ThreadPoolExecutor(1) as pool:
        turn = pool.submit(chat.say, "社保卡要带什么材料")
        assert brain.thinking.wait(10)
        accepted = threading.Event()

        def acknowledge() -> None:
            with store.session() as session:
                accept(session, store.vault, channel="wechat", message_key="m-1", user_id="o-other", text="你好")
            accepted.set()

        threading.Thread(target=acknowledge, daemon=True).start()
        assert accepted.wait(5), "stored while the turn still thinks"
        assert not turn.done()
        release.set()
        assert "材料" in turn.result(timeout=10).text
