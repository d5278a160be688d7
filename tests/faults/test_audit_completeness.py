"""Every booking, cancellation, handoff, reveal and staff action has its audit record.

A mixed session through the real app — residents booking, cancelling and asking for a
person on the web chat; staff signing in, claiming, replying, noting, handing back and
closing; a supervisor revealing an identity; accounts added and deactivated — and then every
entity change is matched against the audit log, one by one.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from tests.helpers.console import PASSWORD, XHR, act, add_accounts, ask, queue, sign_in
from tongban.channels.console.auth import CONSOLE_SETTINGS
from tongban.channels.console.settings import ConsoleSettings
from tongban.memory import staff
from tongban.memory.models import (
    Appointment,
    AppointmentStatus,
    AuditLog,
    Handoff,
    HandoffStatus,
    StaffAccount,
)
from tongban.memory.store import Store

pytestmark = pytest.mark.slow  # fault injection: servers, proxies, kills, outages


def audit(store: Store) -> list[AuditLog]:
    with store.read_session() as session:
        return list(session.exec(select(AuditLog).order_by(AuditLog.id)))


def rows(store: Store, model: Any) -> list[Any]:
    with store.read_session() as session:
        return list(session.exec(select(model)))


def logged(entries: list[AuditLog], *, entity: str, entity_id: Any, action: str, **after: Any) -> list[AuditLog]:
    return [e for e in entries if e.entity == entity and e.entity_id == str(entity_id) and e.action == action
            and all((e.after or {}).get(k) == v for k, v in after.items())]


async def test_every_change_in_a_mixed_session_is_audited(aiohttp_client, make_app, store: Store) -> None:  # type: ignore[no-untyped-def]
    add_accounts(store)
    with store.session(actor="cli:admin") as session:
        staff.add_staff(session, username="temp", password=PASSWORD, role="staff", display_name="临时")
        staff.set_active(session, "temp", False)
    app = make_app()
    app[CONSOLE_SETTINGS] = ConsoleSettings(console_poll_s=0.05)
    residents = [await aiohttp_client(app) for _ in range(4)]
    booker, canceller, helped, handed_back = residents

    await ask(booker, "我想预约明天上午去南宁市民中心换身份证")
    assert "预约成功" in (await ask(booker, "确认"))["text"]
    await ask(canceller, "帮我约后天下午在柳州市政务服务中心办社保卡")
    assert "预约成功" in (await ask(canceller, "确认"))["text"]
    await ask(canceller, "取消预约")
    assert "取消" in (await ask(canceller, "确认"))["text"]
    await ask(helped, "身份证到期了怎么换")
    assert (await ask(helped, "转人工"))["handoff"] is True
    await ask(handed_back, "转人工")

    clerk = await aiohttp_client(app)
    boss = await aiohttp_client(app)
    clerk_headers = await sign_in(clerk, "wangfang")
    boss_headers = await sign_in(boss, "zhuguan")
    refused = await clerk.post("/console/api/sign-in", json={"username": "lisi", "password": "wrong"},
                               headers={**XHR, "Origin": clerk_headers["Origin"]})
    assert refused.status in (401, 403)
    waiting = {row["handoff_id"] for row in await queue(clerk)}
    assert len(waiting) == 2
    first, second = sorted(waiting)
    assert (await act(clerk, clerk_headers, first, "claim")).status == 200
    assert (await act(clerk, clerk_headers, first, "reply", text="您好，我是王芳，请问有什么可以帮您？")).status == 200
    assert (await act(clerk, clerk_headers, first, "note", text="居民咨询换证")).status == 200
    assert (await act(boss, boss_headers, first, "reveal")).status == 200
    assert (await act(boss, boss_headers, second, "reveal")).status == 200
    assert (await act(clerk, clerk_headers, first, "close")).status == 200
    assert (await act(clerk, clerk_headers, second, "claim")).status == 200
    assert (await act(clerk, clerk_headers, second, "hand-back")).status == 200
    assert (await clerk.post("/console/api/sign-out", headers=clerk_headers)).status == 200

    entries = audit(store)
    missing: list[str] = []

    def need(found: list[AuditLog], what: str) -> None:
        if not found:
            missing.append(what)

    appointments = rows(store, Appointment)
    assert len(appointments) == 2
    for appointment in appointments:
        found = logged(entries, entity="appointment", entity_id=appointment.id, action="create")
        need(found, f"booking {appointment.id}")
        assert all(e.actor.startswith("resident:web:") for e in found), "booked by the resident"
        if appointment.status == AppointmentStatus.CANCELLED:
            need(logged(entries, entity="appointment", entity_id=appointment.id, action="update",
                        status=AppointmentStatus.CANCELLED.value), f"cancellation {appointment.id}")
    handoffs = rows(store, Handoff)
    assert len(handoffs) == 2 and all(h.status == HandoffStatus.CLOSED for h in handoffs)
    for handoff in handoffs:
        need(logged(entries, entity="handoff", entity_id=handoff.id, action="create"), f"handoff {handoff.id}")
        need([e for e in logged(entries, entity="handoff", entity_id=handoff.id, action="claim")
              if e.actor.endswith("wangfang")], f"claim of {handoff.id} by wangfang")
        finished = "close" if handoff.id == first else "hand_back"
        need(logged(entries, entity="handoff", entity_id=handoff.id, action=finished), f"{finished} of {handoff.id}")
    for action in ("reply", "note"):
        need(logged(entries, entity="handoff", entity_id=first, action=action), f"{action} on {first}")
    reveals = [e for e in entries if e.action == "reveal"]
    assert len(reveals) == 2 and all(e.actor.endswith("zhuguan") for e in reveals), "each reveal, by whom"
    for username in ("wangfang", "zhuguan"):
        need(logged(entries, entity="staff_account", entity_id=username, action="sign_in"), f"sign-in {username}")
    need(logged(entries, entity="staff_account", entity_id="wangfang", action="sign_out"), "sign-out wangfang")
    need([e for e in entries if e.entity == "staff_account" and e.entity_id == "lisi" and "fail" in e.action],
         "failed sign-in of lisi")
    for account in rows(store, StaffAccount):
        need(logged(entries, entity="staff_account", entity_id=account.id, action="create"), f"account {account.username}")
    temp = next(a for a in rows(store, StaffAccount) if a.username == "temp")
    need(logged(entries, entity="staff_account", entity_id=temp.id, action="update", active=False), "deactivation")
    assert missing == [], f"changes without an audit record: {missing}"
    assert all("password" not in str(e.after or {}) or "[redacted]" in str(e.after) for e in entries)
