"""Verified identity comes only from a token the operator's identity provider signed."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.conftest import NOW
from tests.helpers.identity_provider import (
    CLIENT_ID,
    ISSUER,
    RESIDENT,
    Integrator,
    Province,
    rsa_key,
    settings_env,
)
from tongban.memory.progress import Outcome, query_progress
from tongban.memory.residents import resolve, verify
from tongban.memory.store import Store
from tongban.tools.identity import IdentityRejected, IdentitySettings, IdentityVerifier, describe

SESSION = "web-session-1"


def make_verifier(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, clock=lambda: NOW,  # type: ignore[no-untyped-def]
                  **overrides: str) -> IdentityVerifier:
    for name, value in {**env, **overrides}.items():
        monkeypatch.setenv(name, value)
    return IdentityVerifier(IdentitySettings(_env_file=None), secret_key="test-secret-key-0123456789", clock=clock)


@pytest.fixture
def province(tmp_path: Path) -> Province:
    return Province(tmp_path / "jwks.json")


@pytest.fixture
def integrator() -> Integrator:
    return Integrator()


@pytest.fixture
def verifier(province: Province, integrator: Integrator, monkeypatch: pytest.MonkeyPatch) -> IdentityVerifier:
    return make_verifier(settings_env(province, integrator), monkeypatch)


def rejected(verifier: IdentityVerifier, token: str, session: str = SESSION) -> str:
    with pytest.raises(IdentityRejected) as caught:
        verifier.verify(token, session_key=session)
    return str(caught.value)


def test_an_id_token_from_the_province_establishes_identity(verifier: IdentityVerifier, province: Province) -> None:
    verified = verifier.verify(province.id_token(verifier.nonce(SESSION)), session_key=SESSION)
    assert verified.source == "oidc" and verified.issuer == ISSUER and verified.subject == "gx-0001"
    assert verified.identity.name == "黄丽" and verified.identity.id_number == RESIDENT["id_number"]
    assert verified.identity.phone == "13977125508"


def test_a_forged_or_misaddressed_id_token_is_refused(verifier: IdentityVerifier, province: Province) -> None:
    nonce = verifier.nonce(SESSION)
    assert "签名不对" in rejected(verifier, province.id_token(nonce, key=rsa_key()))  # right kid, wrong key
    assert "不是签给通办的" in rejected(verifier, province.id_token(nonce, claims={"aud": "another-app"}))
    assert "签发方不被信任" in rejected(verifier, province.id_token(nonce, claims={"iss": "https://evil.example"}))
    assert "签名公钥" in rejected(verifier, province.id_token(nonce, kid="k9", key=rsa_key()))
    assert "缺少" in rejected(verifier, province.id_token(nonce, claims={"sub": None}))
    unsigned = jwt.encode({"iss": ISSUER, "aud": CLIENT_ID, "sub": "x", "iat": int(NOW.timestamp()),
                           "exp": int(NOW.timestamp()) + 60, "nonce": nonce, **RESIDENT}, None, algorithm="none")
    assert "令牌无效" in rejected(verifier, unsigned)
    assert "格式不对" in rejected(verifier, "not-a-token")


def test_the_public_key_cannot_serve_as_an_hmac_secret(verifier: IdentityVerifier, province: Province) -> None:
    """The old algorithm-confusion attack: HS256 "signed" with the provider's public key."""
    public_pem = province.keys["k1"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    body = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "x", "iat": int(NOW.timestamp()),
            "exp": int(NOW.timestamp()) + 60, "nonce": verifier.nonce(SESSION), **RESIDENT}
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': 'k1'}).encode())}.{b64(json.dumps(body).encode())}"
    forged = f"{signing_input}.{b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())}"
    assert "令牌无效" in rejected(verifier, forged)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_stale_expired_or_future_tokens_are_refused(verifier: IdentityVerifier, province: Province) -> None:
    nonce = verifier.nonce(SESSION)
    now = NOW.timestamp()
    assert "过期" in rejected(verifier, province.id_token(nonce, at=now - 400, lifetime=300))
    assert "太久" in rejected(verifier, province.id_token(nonce, at=now - 3600, lifetime=7200))
    assert "签发时间不对" in rejected(verifier, province.id_token(nonce, at=now + 600))


def test_a_token_is_bound_to_the_chat_session_that_asked_for_it(verifier: IdentityVerifier, province: Province,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert "nonce" in rejected(verifier, province.id_token(None))
    assert "nonce" in rejected(verifier, province.id_token(verifier.nonce("someone-else")))
    assert "nonce" in rejected(verifier, province.id_token("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
    issued_earlier = make_verifier(settings_env(province, None), monkeypatch,
                                   clock=lambda: NOW - dt.timedelta(minutes=20)).nonce(SESSION)
    assert "nonce" in rejected(verifier, province.id_token(issued_earlier)), "a nonce expires"


def test_a_rotated_key_is_read_from_the_jwks_file(verifier: IdentityVerifier, province: Province) -> None:
    assert verifier.verify(province.id_token(verifier.nonce(SESSION)), session_key=SESSION)
    old_token = province.id_token(verifier.nonce(SESSION))
    kid = province.rotate()
    assert verifier.verify(province.id_token(verifier.nonce(SESSION), kid=kid), session_key=SESSION)
    assert "签名公钥" in rejected(verifier, old_token), "the retired key no longer verifies"


@pytest.fixture
def jwks_url(province: Province) -> Iterator[str]:
    directory = str(province.jwks_path.parent)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=directory, **kwargs)

        def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{province.jwks_path.name}"
    server.shutdown()


def test_keys_can_come_from_the_providers_jwks_url(province: Province, jwks_url: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = make_verifier(settings_env(province, None), monkeypatch, TONGBAN_OIDC_JWKS=jwks_url)
    assert verifier.verify(province.id_token(verifier.nonce(SESSION)), session_key=SESSION).identity.name == "黄丽"


def test_an_assertion_from_the_integrators_backend_establishes_identity(verifier: IdentityVerifier,
                                                                        integrator: Integrator) -> None:
    for algorithm in ("HS256", "EdDSA"):
        verified = verifier.verify(integrator.assertion(verifier.nonce(SESSION), algorithm=algorithm), session_key=SESSION)
        assert verified.source == "assertion" and verified.identity.id_number == RESIDENT["id_number"]
    stranger = Integrator()
    for algorithm in ("HS256", "EdDSA"):
        assert "签名不对" in rejected(verifier, stranger.assertion(verifier.nonce(SESSION), algorithm=algorithm))
    assert "不是签给通办的" in rejected(verifier, integrator.assertion(verifier.nonce(SESSION), claims={"aud": "x"}))


def test_only_the_configured_kind_of_assertion_is_accepted(province: Province, integrator: Integrator,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    hmac_only = make_verifier({"TONGBAN_IDENTITY_ASSERTION_HMAC_KEY": integrator.hmac_key}, monkeypatch)
    assert "算法不被接受" in rejected(hmac_only, integrator.assertion(hmac_only.nonce(SESSION), algorithm="EdDSA"))
    assert "签发方不被信任" in rejected(hmac_only, province.id_token(hmac_only.nonce(SESSION)))


def test_a_token_without_real_name_data_or_with_bad_data_is_refused(verifier: IdentityVerifier,
                                                                   integrator: Integrator) -> None:
    nonce = verifier.nonce(SESSION)
    assert "没有实名信息" in rejected(verifier, integrator.assertion(nonce, claims={"id_number": None, "phone_number": None}))
    assert "无效" in rejected(verifier, integrator.assertion(nonce, claims={"id_number": "450103197805121021"}))
    assert "格式不对" in rejected(verifier, integrator.assertion(nonce, claims={"id_number": 45010319780512102}))


def test_claim_names_follow_the_providers(province: Province, monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = make_verifier(settings_env(province, None), monkeypatch, TONGBAN_IDENTITY_ID_NUMBER_CLAIM="cert_no")
    token = province.id_token(verifier.nonce(SESSION), claims={"cert_no": RESIDENT["id_number"], "id_number": None})
    assert verifier.verify(token, session_key=SESSION).identity.id_number == RESIDENT["id_number"]


def test_nothing_is_trusted_until_a_provider_is_configured(province: Province, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(settings_env(province, Integrator())):
        monkeypatch.delenv(name, raising=False)
    verifier = make_verifier({}, monkeypatch)
    assert not verifier.configured and "未开通" in rejected(verifier, province.id_token(verifier.nonce(SESSION)))
    without_audience = make_verifier({**settings_env(province, None), "TONGBAN_OIDC_AUDIENCE": ""}, monkeypatch)
    assert not without_audience.configured, "an issuer without the client id would accept any app's tokens"
    assert "off" in describe(without_audience.settings)
    with pytest.raises(ValueError, match="32 bytes"):
        make_verifier({"TONGBAN_IDENTITY_ASSERTION_HMAC_KEY": "short"}, monkeypatch)


def test_the_verified_identity_opens_the_residents_own_progress(store: Store, verifier: IdentityVerifier,
                                                                integrator: Integrator) -> None:
    from tongban.memory.applications import add_application

    with store.session() as session:
        add_application(session, store.vault, {
            "receipt_no": "GX20261118000999", "item": "居民身份证换领", "hall": "南宁市民中心",
            "applicant": {"name": "黄丽", "phone": "13977125508", "id_number": RESIDENT["id_number"]},
            "status": "审核中",
        })
        resident = resolve(session, store.vault, channel="web", user_id=SESSION)
        asked = query_progress(session, store.vault, receipt_no="GX20261118000999", requester="web:x",
                               now=NOW, resident=resident)
        assert asked.outcome == Outcome.NEED_FACTOR and not resident.verified
        verified = verifier.verify(integrator.assertion(verifier.nonce(SESSION)), session_key=SESSION)
        verify(session, store.vault, resident, verified.identity)
        shown = query_progress(session, store.vault, receipt_no="GX20261118000999", requester="web:x",
                               now=NOW, resident=resident)
        assert resident.verified and shown.outcome == Outcome.DISCLOSED


def test_a_phone_another_resident_holds_stays_theirs(store: Store) -> None:
    from tongban.memory.residents import Identity

    with store.session() as session:
        by_sms = resolve(session, store.vault, channel="sms", user_id="13977125508")
        on_web = resolve(session, store.vault, channel="web", user_id=SESSION)
        verify(session, store.vault, on_web, Identity(name="黄丽", phone="13977125508", id_number=RESIDENT["id_number"]))
        assert on_web.verified and on_web.id_number_bidx and on_web.phone_bidx is None
        assert by_sms.phone_bidx is not None
