"""How the 公众号 webhook paces agent turns (`TurnGate`): which turn goes next, and its guess
of whether a reply can still go back passively."""

from __future__ import annotations

import asyncio

from tongban.channels.wechat.oa.pacing import Ticket, TurnGate


async def test_time_a_turn_waits_for_acknowledgements_is_not_counted_as_its_duration() -> None:
    gate = TurnGate(limit=1, first_guess_s=0.01)
    written = asyncio.Event()

    async def acknowledgement() -> None:
        async with gate.first():
            await written.wait()

    ack = asyncio.create_task(acknowledgement())
    await asyncio.sleep(0)
    turn = asyncio.create_task(gate.run(lambda: asyncio.sleep(0.01), Ticket("o-a")))
    await asyncio.sleep(0.3)  # acknowledgements keep the turn from starting
    assert not turn.done()
    written.set()
    await asyncio.gather(ack, turn)
    assert gate.mean_s < 0.05, "a 10 ms turn is not taken for a 300 ms one"


async def test_the_guess_counts_the_turns_ahead_that_answer_passively() -> None:
    gate = TurnGate(limit=2, first_guess_s=0.1)
    assert gate.expected_s() == 0.1
    hold = asyncio.Event()
    turns = [asyncio.create_task(gate.run(hold.wait, Ticket(f"o-{n}", passive=n != 4))) for n in range(6)]
    await asyncio.sleep(0)
    # two running, three passive ones waiting; the pushed one waits behind a new passive turn
    assert gate.expected_s() == (5 // 2 + 1) * 0.1
    hold.set()
    await asyncio.gather(*turns)
    assert gate.expected_s() < 0.1


async def test_a_turn_whose_reply_is_pushed_yields_to_one_still_answering_passively() -> None:
    gate = TurnGate(limit=1)
    order: list[str] = []
    hold = asyncio.Event()

    async def turn(name: str) -> None:
        order.append(name)
        await hold.wait()

    first = asyncio.create_task(gate.run(lambda: turn("running"), Ticket("o-1")))
    await asyncio.sleep(0)
    pushed = asyncio.create_task(gate.run(lambda: turn("pushed"), Ticket("o-2", passive=False)))
    await asyncio.sleep(0)
    passive = asyncio.create_task(gate.run(lambda: turn("passive"), Ticket("o-3")))
    await asyncio.sleep(0)
    hold.set()
    await asyncio.gather(first, pushed, passive)
    assert order == ["running", "passive", "pushed"]


async def test_one_residents_turns_keep_their_order() -> None:
    gate = TurnGate(limit=1)
    order: list[str] = []
    hold = asyncio.Event()

    async def turn(name: str) -> None:
        order.append(name)
        await hold.wait()

    running = asyncio.create_task(gate.run(lambda: turn("other"), Ticket("o-other")))
    await asyncio.sleep(0)
    earlier = asyncio.create_task(gate.run(lambda: turn("first"), Ticket("o-same", passive=False)))
    await asyncio.sleep(0)
    later = asyncio.create_task(gate.run(lambda: turn("second"), Ticket("o-same")))  # passive, but behind its own
    await asyncio.sleep(0)
    hold.set()
    await asyncio.gather(running, earlier, later)
    assert order == ["other", "first", "second"]


async def test_a_turn_cancelled_while_waiting_gives_its_place_away() -> None:
    gate = TurnGate(limit=1)
    hold = asyncio.Event()
    running = asyncio.create_task(gate.run(hold.wait, Ticket("o-1")))
    await asyncio.sleep(0)
    waiting = asyncio.create_task(gate.run(hold.wait, Ticket("o-2")))
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    hold.set()
    await running
    assert await asyncio.wait_for(gate.run(lambda: asyncio.sleep(0, "next"), Ticket("o-3")), 1) == "next"
