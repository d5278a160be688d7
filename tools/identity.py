"""Verified identity (实名) from the operator's identity provider, never from the client's word.

Two kinds of signed token are accepted, both JWTs:

- an OIDC ID token from the province's unified identity service (统一身份认证): signed with one
  of the provider's keys (a JWKS file or URL), issued by the configured issuer for the
  configured client id (audience);
- an assertion from the integrator's own backend (which did the real-name check itself):
  signed with a shared HMAC key (HS256) or an Ed25519 key (EdDSA) whose public half tongban
  holds.

Either must be fresh (exp, iat within the max age) and, by default, carry the nonce tongban
issued to the chat session presenting it: a token lifted from one session does not verify
another. The nonce is an HMAC of the session and a time, so any replica can check it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from pydantic import Field, SecretStr

from tongban.memory.clock import Clock, system_clock
from tongban.memory.pii import InvalidIdentifier
from tongban.memory.residents import Identity
from tongban.memory.settings import TongbanSettings

# asymmetric only for the provider's keys: an HS256 token "signed" with a public key is refused
OIDC_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]


class IdentitySettings(TongbanSettings):
    """`TONGBAN_OIDC_*` for the province's identity service, `TONGBAN_IDENTITY_*` for the rest."""

    oidc_issuer: str | None = None
    oidc_audience: str | None = None  # the client id(s) tongban was registered with, comma-separated
    oidc_jwks: str | None = None  # a JWKS file path, or an https:// URL (keys cached, refetched on an unknown kid)
    identity_assertion_issuer: str = "integrator"
    identity_assertion_hmac_key: SecretStr | None = None  # HS256, at least 32 bytes
    identity_assertion_public_key: str | None = None  # Ed25519 public key: PEM text or a PEM file path
    identity_audience: str = "tongban"  # the audience the integrator's assertions name
    identity_name_claim: str = "name"
    identity_phone_claim: str = "phone_number"
    identity_id_number_claim: str = "id_number"
    identity_require_nonce: bool = True
    identity_max_age_seconds: int = Field(default=600, ge=30, le=86400)
    identity_leeway_seconds: int = Field(default=60, ge=0, le=600)

    @property
    def configured(self) -> bool:
        return bool(self.oidc_ready or self.identity_assertion_hmac_key or self.identity_assertion_public_key)

    @property
    def oidc_ready(self) -> bool:
        """All three are needed: without the audience, a token the province issued to any other
        app would pass."""
        return bool(self.oidc_issuer and self.oidc_jwks and _split(self.oidc_audience))


class IdentityRejected(Exception):
    """A token that does not establish identity; the message is safe to show."""


@dataclass(frozen=True)
class VerifiedIdentity:
    identity: Identity
    source: str  # "oidc" or "assertion"
    issuer: str
    subject: str


class IdentityVerifier:
    def __init__(self, settings: IdentitySettings, *, secret_key: str, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.clock = clock
        self._nonce_key = hashlib.sha256(f"tongban-identity-nonce|{secret_key}".encode()).digest()
        self._jwks = _Keys(settings.oidc_jwks) if settings.oidc_ready and settings.oidc_jwks else None
        self._public_key = _public_key(settings.identity_assertion_public_key)
        hmac_key = settings.identity_assertion_hmac_key
        if hmac_key is not None and len(hmac_key.get_secret_value().encode()) < 32:
            raise ValueError("TONGBAN_IDENTITY_ASSERTION_HMAC_KEY must be at least 32 bytes")

    @property
    def configured(self) -> bool:
        return self.settings.configured

    # ------------------------------------------------------------------ nonces

    def nonce(self, session_key: str) -> str:
        """A nonce for one chat session (web id, mini-program openid) to put in its login request."""
        stamp = struct.pack(">Q", int(self.clock().timestamp()))
        return _b64(stamp + self._mac(session_key, stamp))

    def _nonce_ok(self, nonce: Any, session_key: str) -> bool:
        try:
            raw = base64.urlsafe_b64decode(str(nonce) + "=" * (-len(str(nonce)) % 4))
        except ValueError:
            return False
        if len(raw) != 24 or not hmac.compare_digest(raw[8:], self._mac(session_key, raw[:8])):
            return False
        age = self.clock().timestamp() - struct.unpack(">Q", raw[:8])[0]
        return -self.settings.identity_leeway_seconds <= age <= self.settings.identity_max_age_seconds

    def _mac(self, session_key: str, stamp: bytes) -> bytes:
        return hmac.new(self._nonce_key, session_key.encode() + b"|" + stamp, hashlib.sha256).digest()[:16]

    # ------------------------------------------------------------------ tokens

    def verify(self, token: str, *, session_key: str) -> VerifiedIdentity:
        """The identity a token asserts for this chat session, or IdentityRejected."""
        if not self.configured:
            raise IdentityRejected("实名认证未开通")
        try:
            header = jwt.get_unverified_header(token)
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError as exc:
            raise IdentityRejected("令牌格式不对") from exc
        s = self.settings
        try:
            if self._jwks is not None and issuer == s.oidc_issuer:
                key = self._jwks.key_for(header.get("kid"))
                claims = self._decode(token, key, OIDC_ALGORITHMS, issuer, _split(s.oidc_audience))
                source = "oidc"
            elif issuer == s.identity_assertion_issuer and (s.identity_assertion_hmac_key or self._public_key):
                if header.get("alg") == "HS256" and s.identity_assertion_hmac_key is not None:
                    key = s.identity_assertion_hmac_key.get_secret_value()
                elif header.get("alg") == "EdDSA" and self._public_key is not None:
                    key = self._public_key
                else:
                    raise IdentityRejected("令牌的签名算法不被接受")
                claims = self._decode(token, key, [header["alg"]], issuer, [s.identity_audience])
                source = "assertion"
            else:
                raise IdentityRejected("令牌的签发方不被信任")
        except jwt.PyJWTError as exc:
            raise IdentityRejected(f"令牌无效：{_reason(exc)}") from exc
        if s.identity_require_nonce and not self._nonce_ok(claims.get("nonce"), session_key):
            raise IdentityRejected("令牌不属于这次会话（nonce 不符或已过期）")
        return VerifiedIdentity(self._identity(claims), source, str(issuer), str(claims.get("sub", "")))

    def _decode(self, token: str, key: Any, algorithms: list[str], issuer: str,
                audience: list[str]) -> dict[str, Any]:
        """Signature, issuer and audience by PyJWT; times against the injected clock."""
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=algorithms, issuer=issuer, audience=audience,
            options={"require": ["exp", "iat", "iss", "sub", "aud"], "verify_exp": False, "verify_iat": False,
                     "verify_nbf": False},
        )
        now, leeway = self.clock().timestamp(), self.settings.identity_leeway_seconds
        if not isinstance(claims["exp"], int | float) or not isinstance(claims["iat"], int | float):
            raise IdentityRejected("令牌无效：时间字段格式不对")
        if claims["exp"] < now - leeway:
            raise IdentityRejected("令牌已过期，请重新登录")
        if claims["iat"] > now + leeway or now - claims["iat"] > self.settings.identity_max_age_seconds:
            raise IdentityRejected("令牌签发时间不对或太久，请重新登录")
        if isinstance(claims.get("nbf"), int | float) and claims["nbf"] > now + leeway:
            raise IdentityRejected("令牌尚未生效")
        return claims

    def _identity(self, claims: dict[str, Any]) -> Identity:
        s = self.settings
        values = {field: claims.get(claim) for field, claim in
                  (("name", s.identity_name_claim), ("phone", s.identity_phone_claim),
                   ("id_number", s.identity_id_number_claim))}
        if not values["id_number"] and not values["phone"]:
            raise IdentityRejected("令牌里没有实名信息（身份证号或手机号）")
        if any(v is not None and not isinstance(v, str) for v in values.values()):
            raise IdentityRejected("令牌里的实名信息格式不对")
        try:
            return Identity(name=(values["name"] or "").strip()[:32] or None, phone=values["phone"] or None,
                            id_number=values["id_number"] or None)
        except InvalidIdentifier as exc:
            raise IdentityRejected("令牌里的身份证号或手机号无效") from exc


class _Keys:
    """The provider's signing keys from a JWKS file (reread when it changes) or URL (cached)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._client = jwt.PyJWKClient(source, cache_keys=True, lifespan=3600) if "://" in source else None
        self._loaded: tuple[float, dict[str, jwt.PyJWK]] | None = None
        self._guard = threading.Lock()

    def key_for(self, kid: str | None) -> Any:
        if self._client is not None:
            try:
                if kid is None:
                    raise IdentityRejected("令牌缺少 kid")
                return self._client.get_signing_key(kid).key
            except jwt.PyJWKClientError as exc:
                raise IdentityRejected("找不到令牌的签名公钥") from exc
        keys = self._file_keys()
        if kid is None and len(keys) == 1:
            return next(iter(keys.values())).key
        if kid not in keys:
            raise IdentityRejected("找不到令牌的签名公钥")
        return keys[kid].key

    def _file_keys(self) -> dict[str, jwt.PyJWK]:
        path = Path(self.source)
        stamp = path.stat().st_mtime
        with self._guard:
            if self._loaded is None or self._loaded[0] != stamp:
                jwks = jwt.PyJWKSet.from_json(path.read_text("utf-8"))
                self._loaded = (stamp, {str(k.key_id or i): k for i, k in enumerate(jwks.keys)})
            return self._loaded[1]


def _public_key(value: str | None) -> Any:
    if not value:
        return None
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    pem = value if "BEGIN PUBLIC KEY" in value else Path(value).read_text("utf-8")
    key = load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("TONGBAN_IDENTITY_ASSERTION_PUBLIC_KEY must be an Ed25519 public key (PEM)")
    return key


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _reason(exc: jwt.PyJWTError) -> str:
    reasons = {
        jwt.InvalidSignatureError: "签名不对", jwt.InvalidAudienceError: "不是签给通办的",
        jwt.InvalidIssuerError: "签发方不对", jwt.MissingRequiredClaimError: "缺少必需的字段",
        jwt.InvalidAlgorithmError: "签名算法不被接受", jwt.DecodeError: "格式不对",
    }
    for kind, reason in reasons.items():
        if isinstance(exc, kind):
            return reason
    return "无法验证"


def describe(settings: IdentitySettings) -> str:
    """One start-up line: which identity sources are trusted (no secrets)."""
    sources = []
    if settings.oidc_ready:
        sources.append(f"OIDC {settings.oidc_issuer}")
    if settings.identity_assertion_hmac_key:
        sources.append(f"HS256 assertions from {settings.identity_assertion_issuer}")
    if settings.identity_assertion_public_key:
        sources.append(f"Ed25519 assertions from {settings.identity_assertion_issuer}")
    return "identity: " + (", ".join(sources) if sources else "off (no identity provider configured)")


__all__ = ["IdentityRejected", "IdentitySettings", "IdentityVerifier", "VerifiedIdentity", "describe"]
