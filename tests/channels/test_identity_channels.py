"""实名 on the web chat and the mini-program: a nonce, a signed token from the operator's identity
provider, and the resident is verified — never on the client's word."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from tests.helpers.identity_provider import RESIDENT, Integrator, Province, settings_env
from tongban.channels.app.settings import ChannelSettings
from tongban.channels.app.tokens import TokenSigner
from tongban.memory.applications import add_application
from tongban.memory.models import AuditLog, Resident
from tongban.memory.store import Store

XHR = {"X-Requested-With": "XMLHttpRequest"}
SECRET = "test-session-secret-0123456789"
RECEIPT = "GX20261118000777"


@pytest.fixture
def province(tmp_path: Path) -> Province:
    return Province(tmp_path / "jwks.json")


@pytest.fixture
def integrator() -> Integrator:
    return Integrator()


@pytest.fixture
def identity_app(make_app, province: Province, integrator: Integrator, monkeypatch: pytest.MonkeyPatch, store: Store):  # type: ignore[no-untyped-def]
    for name, value in settings_env(province, integrator).items():
        monkeypatch.setenv(name, value)
    with store.session() as session:
        add_application(session, store.vault, {
            "receipt_no": RECEIPT, "item": "居民身份证换领", "hall": "南宁市民中心",
            "applicant": {"name": RESIDENT["name"], "phone": RESIDENT["phone_number"],
                          "id_number": RESIDENT["id_number"]},
            "status": "审核中",
        })
    return make_app(ChannelSettings(env="test", session_secret=SECRET))


def web_resident(store: Store) -> Resident:
    with store.session() as session:
        return session.exec(select(Resident).where(Resident.web_id.is_not(None))).one()  # type: ignore[union-attr]


async def nonce(client, path: str = "/api/web/identity/nonce", headers=None) -> str:  # type: ignore[no-untyped-def]
    response = await client.post(path, headers=headers or XHR)
    assert response.status == 200, await response.text()
    return (await response.json())["nonce"]


async def test_an_id_token_verifies_the_web_resident_and_opens_their_progress(
        aiohttp_client, identity_app, province: Province, store: Store) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(identity_app)
    await client.get("/")  # the page sets the chat cookie
    before = await client.post("/api/web/messages", json={"text": f"查一下{RECEIPT}的进度"}, headers=XHR)
    assert "审核中" not in (await before.json())["text"], "not verified yet: a second factor is asked"
    token = province.id_token(await nonce(client))
    response = await client.post("/api/web/identity", json={"id_token": token}, headers=XHR)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body == {"verified": True, "source": "oidc", "name": "黄*", "phone": "139****5508",
                    "id_number": "4501**********102X"}
    assert RESIDENT["id_number"] not in await response.text()
    resident = web_resident(store)
    assert resident.verified and resident.id_number_bidx
    after = await client.post("/api/web/messages", json={"text": f"查一下{RECEIPT}的进度"}, headers=XHR)
    assert "审核中" in (await after.json())["text"], "the verified applicant sees their own progress"
    with store.session() as session:
        actors = session.exec(select(AuditLog.actor).where(AuditLog.entity == "resident")).all()
    assert any(a.startswith("identity:oidc:") for a in actors), "who vouched is audited"


async def test_the_clients_word_is_not_identity(aiohttp_client, identity_app, province: Province,
                                               integrator: Integrator, store: Store) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(identity_app)
    await client.get("/")
    claimed = await client.post("/api/web/identity", json={"name": "黄丽", "id_number": RESIDENT["id_number"]},
                                headers=XHR)
    assert claimed.status == 400
    other = await aiohttp_client(identity_app)
    await other.get("/")
    lifted = province.id_token(await nonce(other))  # issued for someone else's chat session
    refused = await client.post("/api/web/identity", json={"id_token": lifted}, headers=XHR)
    assert refused.status == 401 and (await refused.json())["error"] == "identity_rejected"
    forged = Integrator().assertion(await nonce(client))
    assert (await client.post("/api/web/identity", json={"assertion": forged}, headers=XHR)).status == 401
    no_csrf = await client.post("/api/web/identity", json={"id_token": lifted})
    assert no_csrf.status == 403
    with store.session() as session:
        assert not any(r.verified for r in session.exec(select(Resident)))


async def test_an_integrator_assertion_verifies_the_mini_program_resident(
        aiohttp_client, identity_app, integrator: Integrator, store: Store) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(identity_app)
    bearer = {"Authorization": "Bearer " + TokenSigner(SECRET, "miniprogram", 3600).sign({"sub": "o-mini-42"})}
    assertion = integrator.assertion(await nonce(client, "/api/mp/identity/nonce", bearer), algorithm="EdDSA")
    response = await client.post("/api/mp/identity", json={"assertion": assertion}, headers=bearer)
    assert response.status == 200, await response.text()
    assert (await response.json())["source"] == "assertion"
    with store.session() as session:
        resident = session.exec(select(Resident).where(Resident.miniprogram_openid == "o-mini-42")).one()
        assert resident.verified
    assert (await client.post("/api/mp/identity", json={"assertion": assertion})).status == 401, "Bearer needed"


async def test_without_a_provider_verification_is_off(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app())
    await client.get("/")
    response = await client.post("/api/web/identity/nonce", headers=XHR)
    assert response.status == 404 and (await response.json())["error"] == "identity_not_configured"
