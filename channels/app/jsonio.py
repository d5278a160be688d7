"""JSON answers people can read: Chinese stays Chinese (no \\u escapes), errors have one shape.

Every error a channel returns is `{"error": CODE, "message": 中文说明}` with its HTTP status, so
an integrator's client needs one branch for all of them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

dumps = functools.partial(json.dumps, ensure_ascii=False, default=str)


def json_response(body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers, dumps=dumps)


def json_error(status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None) -> web.Response:
    return json_response({"error": code, "message": message}, status=status, headers=headers)
