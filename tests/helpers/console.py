"""Shared steps of the console tests: staff accounts, signing in, a resident asking for a person."""

from __future__ import annotations

from typing import Any

from tongban.memory import staff
from tongban.memory.store import Store

PASSWORD = "correct-horse-battery"
XHR = {"X-Requested-With": "XMLHttpRequest"}
ACCOUNTS = {
    "wangfang": {"role": "staff", "display_name": "王芳", "hall": "南宁市民中心"},
    "lisi": {"role": "staff", "display_name": "李四", "hall": "南宁市民中心"},
    "zhuguan": {"role": "supervisor", "display_name": "赵主管", "hall": None},
}


def add_accounts(store: Store) -> None:
    with store.session(actor="test") as session:
        for username, fields in ACCOUNTS.items():
            staff.add_staff(session, username=username, password=PASSWORD, **fields)


def origin(client: Any) -> dict[str, str]:
    return {"Origin": f"http://{client.host}:{client.port}"}


async def sign_in(client: Any, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Signs the client in; returns the headers its POSTs need (CSRF token, Origin)."""
    response = await client.post("/console/api/sign-in", json={"username": username, "password": password},
                                 headers={**origin(client), **XHR})
    assert response.status == 200, await response.text()
    body = await response.json()
    return {**origin(client), "X-CSRF-Token": body["csrf"]}


async def ask(client: Any, text: str) -> dict[str, Any]:
    response = await client.post("/api/web/messages", json={"text": text}, headers=XHR)
    assert response.status == 200, await response.text()
    return await response.json()


async def queue(client: Any) -> list[dict[str, Any]]:
    response = await client.get("/console/api/queue")
    assert response.status == 200, await response.text()
    return (await response.json())["conversations"]


async def act(client: Any, headers: dict[str, str], handoff_id: int, action: str, **body: Any) -> Any:
    return await client.post(f"/console/api/conversations/{handoff_id}/{action}", json=body, headers=headers)
