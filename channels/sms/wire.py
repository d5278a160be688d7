"""The gateways' 上行 (mobile-originated) formats, and who may post them.

Alibaba pushes a JSON array (batch) of `phone_number, send_time, content, sign_name,
dest_code, sequence_id`; Tencent posts an object (or an array) of `extend, mobile,
nationcode, sign, text, time`. A body is checked whole before anything is stored: one bad
entry makes it malformed (400), so a gateway never sees half a batch accepted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from tongban.channels.sms.settings import SmsSettings
from tongban.memory.clock import SHANGHAI
from tongban.memory.pii import InvalidIdentifier, normalise_phone

TOKEN_HEADER = "X-Tongban-Token"
MAX_TEXT = 1000  # a long SMS is at most a few hundred characters


class Malformed(ValueError):
    """The body is not the provider's documented format."""


@dataclass(frozen=True)
class Incoming:
    key: str  # the dedupe key: the gateway's id, or a digest of what identifies a retry
    phone: str  # 11 national digits; senders outside the mainland are skipped
    text: str
    at: dt.datetime


def authorised(settings: SmsSettings, *, remote: str | None, header: str | None, query: str | None) -> bool:
    """Every configured check must pass; with none configured, nothing may post."""
    token = settings.sms_webhook_token
    networks = settings.sms_allowed_ips
    if token is None and not networks:
        return False
    if token is not None:
        given = header or query or ""
        # the header's own bytes: aiohttp reads bytes that are not UTF-8 as surrogates
        if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.get_secret_value().encode()):
            return False
    if networks:
        try:
            address = ipaddress.ip_address(remote or "")
        except ValueError:
            return False
        if not any(address in ipaddress.ip_network(n, strict=False) for n in networks):
            return False
    return True


def _load(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # RecursionError: nested past the parser
        raise Malformed("body is not JSON") from exc


def _field(entry: dict[str, Any], name: str, kinds: tuple[type, ...]) -> Any:
    value = entry.get(name)
    if not isinstance(value, kinds) or isinstance(value, bool):
        raise Malformed(f"{name} missing or of the wrong type")
    return value


def _phone(raw: str, nationcode: str = "86") -> str | None:
    """A mainland mobile number, or None for anything else (which we cannot answer)."""
    raw = raw.strip().removeprefix("+")
    if nationcode != "86":
        return None
    if raw.startswith("86") and len(raw) == 13:
        raw = raw[2:]
    try:
        return normalise_phone(raw)
    except InvalidIdentifier:
        return None


def parse_aliyun(body: bytes) -> list[Incoming]:
    data = _load(body)
    if not isinstance(data, list) or not data:
        raise Malformed("expected a non-empty JSON array")
    found = []
    for entry in data:
        if not isinstance(entry, dict):
            raise Malformed("each entry must be an object")
        phone = _field(entry, "phone_number", (str, int))
        content = _field(entry, "content", (str,))
        sent = _field(entry, "send_time", (str,))
        sequence = _field(entry, "sequence_id", (str, int))
        try:
            at = dt.datetime.strptime(sent, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
        except ValueError as exc:
            raise Malformed("send_time must be yyyy-MM-dd HH:mm:ss") from exc
        number = _phone(str(phone))
        if number is not None:
            found.append(Incoming(key=f"aliyun:{sequence}", phone=number, text=content[:MAX_TEXT], at=at))
    return found


def parse_tencent(body: bytes) -> list[Incoming]:
    data = _load(body)
    entries = data if isinstance(data, list) else [data]
    if not entries or not all(isinstance(e, dict) for e in entries):
        raise Malformed("expected a JSON object or an array of objects")
    found = []
    for entry in entries:
        mobile = str(_field(entry, "mobile", (str, int)))
        text = _field(entry, "text", (str,))
        when = _field(entry, "time", (int, str))
        nationcode = str(entry.get("nationcode") or "86")
        try:
            at = dt.datetime.fromtimestamp(int(when), tz=SHANGHAI)
        except (ValueError, OverflowError, OSError) as exc:
            raise Malformed("time must be a Unix timestamp") from exc
        number = _phone(mobile, nationcode)
        if number is not None:
            digest = hashlib.sha256(f"{nationcode}:{mobile}:{when}:{text}".encode()).hexdigest()
            found.append(Incoming(key=f"tencent:{digest[:48]}", phone=number, text=text[:MAX_TEXT], at=at))
    return found
