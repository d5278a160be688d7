"""The channels and the Resident column that holds each one's id, in one place."""

from __future__ import annotations

from tongban.memory.channel import Channel, column_of
from tongban.memory.models import Resident
from tongban.memory.residents import find, resolve
from tongban.memory.store import Store


def test_every_channel_but_sms_names_a_resident_column() -> None:
    for channel in Channel:
        column = channel.column
        assert column is None if channel is Channel.SMS else hasattr(Resident, column)  # type: ignore[arg-type]
    assert column_of("web") == "web_id" and column_of("fax") is None and column_of("sms") is None
    assert Channel("miniprogram") == "miniprogram", "plain channel names keep working"


def test_find_reads_and_creates_nothing(store: Store) -> None:
    with store.session() as session:
        assert find(session, store.vault, channel="web", user_id="w-1") is None
        made = resolve(session, store.vault, channel="web", user_id="w-1")
        texted = resolve(session, store.vault, channel="sms", user_id="13800138000")
        session.flush()
        assert find(session, store.vault, channel=Channel.WEB, user_id="w-1").id == made.id  # type: ignore[union-attr]
        assert find(session, store.vault, channel="sms", user_id="+86 138 0013 8000").id == texted.id  # type: ignore[union-attr]
        assert find(session, store.vault, channel="fax", user_id="w-1") is None
