"""A test identity provider: keys generated per test, tokens signed as the real ones are.

`Province` plays the unified identity service (统一身份认证): RSA keys published as a JWKS file
and OIDC ID tokens. `Integrator` plays an integrator's backend signing assertions with an
HMAC key or an Ed25519 key.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tests.conftest import NOW

ISSUER = "https://tyrz.gxzf.example/oidc"
CLIENT_ID = "tongban-web"
RESIDENT = {"name": "黄丽", "id_number": "45010319780512102X", "phone_number": "13977125508"}


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Province:
    """The province's identity service: publishes its public keys, signs ID tokens."""

    jwks_path: Path
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.keys:
            self.keys = {"k1": rsa_key()}
        self.publish()

    def publish(self) -> None:
        entries = []
        for kid, key in self.keys.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            entries.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        self.jwks_path.write_text(json.dumps({"keys": entries}), "utf-8")

    def rotate(self) -> str:
        kid = f"k{len(self.keys) + 1}"
        self.keys = {kid: rsa_key()}
        self.publish()
        return kid

    def id_token(self, nonce: str | None, *, kid: str | None = None, key: Any = None, claims: dict[str, Any] | None = None,
                 at: float | None = None, lifetime: int = 300, algorithm: str = "RS256") -> str:
        kid = kid or next(iter(self.keys))
        issued = at if at is not None else NOW.timestamp()
        body = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "gx-0001", "iat": int(issued),
                "exp": int(issued) + lifetime, **RESIDENT}
        if nonce is not None:
            body["nonce"] = nonce
        body.update(claims or {})
        return jwt.encode({k: v for k, v in body.items() if v is not None}, key or self.keys[kid],
                          algorithm=algorithm, headers={"kid": kid})


@dataclass
class Integrator:
    """An integrator's backend: real-name checked on its side, asserted to tongban."""

    hmac_key: str = field(default_factory=lambda: secrets.token_urlsafe(40))
    ed25519: ed25519.Ed25519PrivateKey = field(default_factory=ed25519.Ed25519PrivateKey.generate)
    issuer: str = "integrator"

    @property
    def public_pem(self) -> str:
        return self.ed25519.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def assertion(self, nonce: str | None, *, algorithm: str = "HS256", claims: dict[str, Any] | None = None) -> str:
        body = {"iss": self.issuer, "aud": "tongban", "sub": "app-user-42", "iat": int(NOW.timestamp()),
                "exp": int(NOW.timestamp()) + 120, **RESIDENT}
        if nonce is not None:
            body["nonce"] = nonce
        body.update(claims or {})
        key = self.hmac_key if algorithm == "HS256" else self.ed25519
        return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=algorithm)


def settings_env(province: Province | None, integrator: Integrator | None) -> dict[str, str]:
    """The TONGBAN_* variables an operator sets for these providers."""
    env: dict[str, str] = {}
    if province is not None:
        env |= {"TONGBAN_OIDC_ISSUER": ISSUER, "TONGBAN_OIDC_AUDIENCE": CLIENT_ID,
                "TONGBAN_OIDC_JWKS": str(province.jwks_path)}
    if integrator is not None:
        env |= {"TONGBAN_IDENTITY_ASSERTION_HMAC_KEY": integrator.hmac_key,
                "TONGBAN_IDENTITY_ASSERTION_PUBLIC_KEY": integrator.public_pem}
    return env
