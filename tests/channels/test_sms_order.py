"""A number's SMS are answered in arrival order even when replicas share them out."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from tongban.channels.sms.channel import CHANNEL, SmsChannel, _in_turn, _user
from tongban.channels.sms.settings import SmsSettings
from tongban.memory.inbound import accept, mark
from tongban.memory.models import InboundStatus
from tongban.memory.store import Store

PHONE = "13907710001"


def _channel(**settings: object) -> SmsChannel:
    channel = SmsChannel()
    channel.settings = SmsSettings(**settings)  # type: ignore[arg-type]
    channel._db = ThreadPoolExecutor(2)
    return channel


def _rows(store: Store, phone: str, n: int) -> list[int]:
    with store.session() as session:
        return [accept(session, store.vault, channel=CHANNEL, message_key=f"k{k}", user_id=_user(store, phone),
                       text="你好")[0].id or 0 for k in range(n)]


async def test_a_message_waits_until_the_numbers_earlier_one_is_answered_elsewhere(any_store: Store) -> None:
    first, second = _rows(any_store, PHONE, 2)
    [other] = _rows(any_store, "13907710002", 1)  # another number: no wait
    channel = _channel()  # the replica answering the second message; the first is another's
    waiting = asyncio.create_task(_in_turn(channel, any_store, PHONE, second))
    await asyncio.wait_for(_in_turn(channel, any_store, "13907710002", other), timeout=5)
    await asyncio.sleep(0.5)
    assert not waiting.done(), "the first message is still being answered"
    with any_store.session() as session:
        mark(session, first, InboundStatus.DELIVERED)
    await asyncio.wait_for(waiting, timeout=5)


async def test_a_message_left_unanswered_by_a_dead_replica_stops_holding_the_next(any_store: Store) -> None:
    _first, second = _rows(any_store, PHONE, 2)
    channel = _channel(sms_order_wait_s=0.5)
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(_in_turn(channel, any_store, PHONE, second), timeout=5)
    assert asyncio.get_running_loop().time() - started >= 0.4
