"""Signed, expiring session tokens for the mini-program (Bearer) and the web chat (cookie).

A token is `base64url(json claims).base64url(HMAC-SHA256)`, keyed with the session secret and
a purpose, so a web cookie can never pass as a mini-program token. Claims are signed, not
encrypted: they hold only the bearer's own channel id, never WeChat's session_key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


class InvalidToken(ValueError):
    """Missing, malformed, forged or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    def __init__(self, secret: str, purpose: str, ttl_s: int) -> None:
        self._key = hashlib.sha256(f"{purpose}\0{secret}".encode()).digest()
        self.ttl_s = ttl_s

    def sign(self, claims: dict[str, Any], *, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        body = _b64(json.dumps({**claims, "exp": issued + self.ttl_s}, separators=(",", ":")).encode())
        return f"{body}.{self._mac(body)}"

    def verify(self, token: str | None, *, now: float | None = None) -> dict[str, Any]:
        if not token or token.count(".") != 1 or not token.isascii():  # ours are base64url: ASCII
            raise InvalidToken("malformed")
        body, mac = token.split(".")
        if not hmac.compare_digest(mac, self._mac(body)):
            raise InvalidToken("bad signature")
        try:
            claims = json.loads(_unb64(body))
        except ValueError as exc:
            raise InvalidToken("malformed") from exc
        if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
            raise InvalidToken("malformed")
        if claims["exp"] < (now if now is not None else time.time()):
            raise InvalidToken("expired")
        return claims

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())
