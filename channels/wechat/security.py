"""Is this request from WeChat, and what does it say? Signatures, replays, safe-mode envelopes.

wechatpy compares signatures with `!=`, which leaks timing; here every comparison is
`hmac.compare_digest`. The envelope itself is wechatpy's (PrpCrypto: AES-256-CBC with the
EncodingAESKey, the app id appended), so replies encrypt exactly as WeChat expects.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

import xmltodict
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException
from wechatpy.messages import BaseMessage


class Refused(Exception):
    """The request is not (or no longer) WeChat's: a forged or stale signature. → 403"""


class Malformed(Exception):
    """Signed by WeChat but unreadable: bad XML, a broken envelope. → 400"""


def sign(token: str, *parts: str) -> str:
    """WeChat's signature: SHA-1 over the sorted token, timestamp, nonce (and ciphertext)."""
    return hashlib.sha1("".join(sorted((token, *parts))).encode()).hexdigest()


def verify(token: str, query: Mapping[str, str], *, max_age_s: int, now: float | None = None) -> None:
    """Check `signature` and the timestamp's freshness; raises Refused."""
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    try:
        sent = int(timestamp)
    except ValueError:
        raise Refused("timestamp missing or not a number") from None
    if abs((now if now is not None else time.time()) - sent) > max_age_s:
        raise Refused("stale timestamp")  # a replay of an old, validly signed request
    _compare(sign(token, timestamp, nonce), query.get("signature", ""))


def parse_xml(body: bytes) -> dict[str, Any]:
    """The `<xml>` element as a dict; raises Malformed. Entity declarations are refused."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise Malformed("DTDs are not part of WeChat's format")
    try:
        root = xmltodict.parse(body)
    except Exception as exc:  # expat errors, bad encodings
        raise Malformed(f"not XML: {type(exc).__name__}") from None
    document = root.get("xml") if isinstance(root, dict) else None
    if not isinstance(document, dict):
        raise Malformed("no <xml> root")
    return document


def read_message(xml: bytes) -> BaseMessage:
    """wechatpy's message, with what every message needs checked now rather than later."""
    parse_xml(xml)  # refuses DTDs and non-XML with a reason
    try:
        message = parse_message(xml)
        if not (message.source and message.target and message.type):
            raise ValueError("FromUserName, ToUserName and MsgType are required")
        int(message.time)
        int(message.id)
    except Exception as exc:  # missing fields, non-numeric CreateTime or MsgId
        raise Malformed(f"not a WeChat message: {type(exc).__name__}: {exc}") from None
    return message


class Envelope:
    """Safe mode (安全模式) and compatible mode: the AES envelope around messages and replies."""

    def __init__(self, token: str, aes_key: str, app_id: str) -> None:
        try:
            self._crypto = WeChatCrypto(token, aes_key, app_id)
        except (AssertionError, ValueError) as exc:
            raise ValueError("TONGBAN_WECHAT_AES_KEY must be the 43-character EncodingAESKey") from exc
        self._token, self._app_id = token, app_id

    def open(self, document: Mapping[str, Any], query: Mapping[str, str]) -> bytes:
        """Check `msg_signature` over the ciphertext, then decrypt; the plaintext XML."""
        encrypted = document.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise Malformed("safe mode without <Encrypt>")
        expected = sign(self._token, query.get("timestamp", ""), query.get("nonce", ""), encrypted)
        _compare(expected, query.get("msg_signature", ""))
        try:
            return PrpCrypto(self._crypto.key).decrypt(encrypted, self._app_id).encode()
        except InvalidAppIdException:
            raise Refused("encrypted for another app id") from None
        except Exception as exc:  # bad base64, padding, length
            raise Malformed(f"cannot decrypt: {type(exc).__name__}") from None

    def seal(self, xml: str, *, nonce: str, timestamp: str | None = None) -> str:
        """Encrypt a passive reply (with its own msg_signature), as WeChat expects in safe mode."""
        return self._crypto.encrypt_message(xml, nonce, timestamp)


def _compare(expected: str, given: str) -> None:
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise Refused("bad signature")
