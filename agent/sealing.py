"""Personal data the conversation must carry between messages, sealed in the checkpoint.

A progress query may take three messages (receipt number, then phone); a doubtful transcript
waits for a yes. Those values live in the conversation's focus, and the focus is checkpointed,
so at the end of every turn they are encrypted with the app's Vault and opened again when the
next turn starts: the checkpoint store never holds them in clear.
"""

from __future__ import annotations

import json
from typing import Any

from tongban.memory.pii import Vault, mask_phone, mask_text

SEALED_KEYS = ("phone", "id_last4", "heard")
PREFIX = "sealed:"


def seal(focus: dict[str, Any], vault: Vault) -> dict[str, Any]:
    """The sealed form of this focus's sensitive values (only those not sealed yet)."""
    sealed: dict[str, Any] = {}
    for key in SEALED_KEYS:
        value = focus.get(key)
        if value is None or (isinstance(value, str) and value.startswith(PREFIX)):
            continue
        sealed[key] = PREFIX + (vault.encrypt(json.dumps(value, ensure_ascii=False)) or "")
    return sealed


def unseal(focus: dict[str, Any], vault: Vault) -> dict[str, Any]:
    opened = dict(focus)
    for key in SEALED_KEYS:
        value = focus.get(key)
        if isinstance(value, str) and value.startswith(PREFIX):
            try:
                opened[key] = json.loads(vault.decrypt(value[len(PREFIX):]) or "null")
            except ValueError:  # sealed under another secret key: forget it rather than fail
                opened[key] = None
    return opened


def masked_args(args: dict[str, Any]) -> dict[str, Any]:
    """Tool arguments as recorded in the state: the tool already ran with the real ones."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        if key == "phone" and isinstance(value, str):
            out[key] = mask_phone(value)
        elif key in ("id_last4", "id_number"):
            out[key] = "****"
        elif key == "answer":  # a form answer may be a bank card, a partner's name: the tool keeps it sealed
            out[key] = "（已隐去）"
        elif isinstance(value, str):
            out[key] = mask_text(value)
        else:
            out[key] = value
    return out
