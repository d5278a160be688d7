"""A turn is all or nothing: when its database commit fails, the conversation stays where it was.

The checkpoint (conversation state) and the database (appointments, transcript) are stored
apart; the database going away at the moment a confirmation commits must not leave the
conversation past a booking that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import event
from sqlmodel import select

from tests.agent.conftest import Chat
from tongban.agent.service import Agent
from tongban.memory.models import Appointment, AppointmentStatus
from tongban.memory.store import Store

pytestmark = pytest.mark.slow  # fault injection: servers, proxies, kills, outages


def confirmed(store: Store) -> list[Appointment]:
    with store.read_session() as session:
        return list(session.exec(select(Appointment).where(Appointment.status == AppointmentStatus.CONFIRMED)))


def fail_next_commit(store: Store) -> None:
    def refuse(_connection) -> None:  # type: ignore[no-untyped-def]
        event.remove(store.engine, "commit", refuse)
        raise ConnectionError("server closed the connection unexpectedly")

    event.listen(store.engine, "commit", refuse)


def test_a_confirmation_whose_commit_failed_can_be_given_again(make_agent: Callable[..., Agent], store: Store) -> None:
    chat = Chat(make_agent(), user="o-commit")
    assert "请确认" in chat.say("我想预约明天上午去南宁市民中心换身份证").text
    fail_next_commit(store)
    with pytest.raises(ConnectionError):
        chat.say("确认")
    assert confirmed(store) == []
    again = chat.say("确认")
    assert "预约成功" in again.text, "the confirmation is still pending"
    assert len(confirmed(store)) == 1


def test_a_request_whose_commit_failed_is_asked_again_not_half_remembered(make_agent: Callable[..., Agent], store: Store) -> None:
    chat = Chat(make_agent(), user="o-commit2")
    fail_next_commit(store)
    with pytest.raises(ConnectionError):
        chat.say("我想预约明天上午去南宁市民中心换身份证")
    assert "预约成功" not in chat.say("确认").text, "nothing was pending: a yes books nothing"
    assert confirmed(store) == []
