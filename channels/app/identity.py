"""Verified identity (实名) for the web chat and the mini-program, from the operator's provider.

The client never states who the resident is. It asks for a nonce, has the resident sign in with
the province's identity service (or the integrator's own app) with that nonce, and posts the
signed token it got back; `tools.identity` checks it and the resident behind this chat session
becomes verified (`memory.residents.verify`): bookings are real-name, and progress opens without
a second factor for the applicant.

    POST {prefix}/identity/nonce                     → {"nonce": "…", "expires_in": 600}
    POST {prefix}/identity  {"id_token": "…"}        → {"verified": true, "source": "oidc", "name": "黄*", …}
                            {"assertion": "…"}          (an integrator's HS256/EdDSA JWT)
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from tongban.channels.app import keys
from tongban.channels.app.chat_api import error, json_reply
from tongban.memory.pii import mask_id_number, mask_name, mask_phone
from tongban.memory.residents import resolve, verify
from tongban.tools.identity import (
    IdentityRejected,
    IdentitySettings,
    IdentityVerifier,
    VerifiedIdentity,
    describe,
)

log = logging.getLogger(__name__)

VERIFIER = web.AppKey("identity_verifier", IdentityVerifier)
MAX_TOKEN = 16 * 1024


def setup(app: web.Application, settings: IdentitySettings | None = None) -> None:
    """Once per app, by the first channel that offers verification."""
    if VERIFIER in app:
        return
    settings = settings or IdentitySettings()
    app[VERIFIER] = IdentityVerifier(
        settings, secret_key=app[keys.SETTINGS].session_secret.get_secret_value(),
        clock=lambda: app[keys.CLOCK](),
    )
    log.info("%s", describe(settings))


def session_key(channel: str, user_id: str) -> str:
    return f"{channel}:{user_id}"


async def nonce(request: web.Request, channel: str, user_id: str) -> web.Response:
    verifier = request.app[VERIFIER]
    if not verifier.configured:
        return _not_configured()
    return json_reply({"nonce": verifier.nonce(session_key(channel, user_id)),
                       "expires_in": verifier.settings.identity_max_age_seconds})


async def establish(request: web.Request, body: Any, channel: str, user_id: str,
                    unionid: str | None = None) -> web.Response:
    """Check the posted token; on success the chat session's resident is verified."""
    verifier = request.app[VERIFIER]
    if not verifier.configured:
        return _not_configured()
    token = body.get("id_token") or body.get("assertion") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token.strip() or len(token) > MAX_TOKEN:
        return error(400, "bad_request", "请提交 id_token（统一身份认证的 ID Token）或 assertion（对接方签名的断言）")
    try:
        verified = verifier.verify(token.strip(), session_key=session_key(channel, user_id))
    except IdentityRejected as exc:
        log.warning("identity: refused for %s (%s)", channel, exc)
        return error(401, "identity_rejected", str(exc))
    shown = await asyncio.to_thread(_record, request.app, channel, user_id, unionid, verified)
    return json_reply({"verified": True, "source": verified.source, **shown})


def _record(app: web.Application, channel: str, user_id: str, unionid: str | None,
            verified: VerifiedIdentity) -> dict[str, Any]:
    store = app[keys.STORE]
    with store.session(actor=f"identity:{verified.source}:{verified.issuer}"[:128]) as session:
        resident = resolve(session, store.vault, channel=channel, user_id=user_id, unionid=unionid)
        verify(session, store.vault, resident, verified.identity)
    identity = verified.identity
    return {"name": mask_name(identity.name), "phone": mask_phone(identity.phone),
            "id_number": mask_id_number(identity.id_number)}


def _not_configured() -> web.Response:
    return error(404, "identity_not_configured",
                 "实名认证未开通：运营方需配置 TONGBAN_OIDC_* 或 TONGBAN_IDENTITY_ASSERTION_*")
