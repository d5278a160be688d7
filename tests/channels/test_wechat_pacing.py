"""How the 公众号 webhook guesses whether a reply can still go back passively (`TurnGate`)."""

from __future__ import annotations

import asyncio

from tongban.channels.wechat.oa.pacing import TurnGate


async def test_time_a_turn_waits_for_acknowledgements_is_not_counted_as_its_duration() -> None:
    gate = TurnGate(limit=1, first_guess_s=0.01)
    written = asyncio.Event()

    async def acknowledgement() -> None:
        async with gate.first():
            await written.wait()

    ack = asyncio.create_task(acknowledgement())
    await asyncio.sleep(0)
    turn = asyncio.create_task(gate.run(lambda: asyncio.sleep(0.01)))
    await asyncio.sleep(0.3)  # acknowledgements keep the turn from starting
    assert not turn.done()
    written.set()
    await asyncio.gather(ack, turn)
    assert gate.mean_s < 0.05, "a 10 ms turn is not taken for a 300 ms one"


async def test_the_guess_grows_with_the_queue_ahead() -> None:
    gate = TurnGate(limit=2, first_guess_s=0.1)
    assert gate.expected_s() == 0.1
    hold = asyncio.Event()
    turns = [asyncio.create_task(gate.run(hold.wait)) for _ in range(5)]
    await asyncio.sleep(0)
    assert gate.expected_s() == (5 // 2 + 1) * 0.1  # two running, three waiting, then this one
    hold.set()
    await asyncio.gather(*turns)
    assert gate.expected_s() < 0.1 * 2
