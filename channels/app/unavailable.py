"""The database (or the checkpoint store) away: a polite 503, not a stack trace.

While PostgreSQL is unreachable every turn fails the same way; residents get a short
message asking them to try again, gateways get a non-200 so they retry (WeChat after 5 s;
nothing was accepted, so nothing is lost), and the log gets one line, not a traceback.
Nothing is cached: the next request tries the database again, so service resumes by itself
once it is back.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy import exc as sa

from tongban.channels.app.jsonio import json_error

log = logging.getLogger(__name__)

UNAVAILABLE = (sa.OperationalError, sa.InterfaceError, sa.DisconnectionError, sa.TimeoutError,
               sqlite3.OperationalError)
MESSAGE = "系统暂时繁忙，请稍后再试。"
RETRY_AFTER_S = 5


@web.middleware
async def database_unavailable(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except Exception as exc:
        if not isinstance(exc, unavailable()):
            raise
        log.warning("%s %s: database unavailable (%s)", request.method, request.path, type(exc).__name__)
        return json_error(503, "unavailable", MESSAGE, headers={"Retry-After": str(RETRY_AFTER_S)})


def unavailable() -> tuple[type[Exception], ...]:
    """The errors that mean the database is away. psycopg's own count once something has
    imported it: only a PostgreSQL deployment raises them, and there the driver is loaded;
    on SQLite it is never imported (~12 MB of resident memory)."""
    psycopg = sys.modules.get("psycopg")
    if psycopg is None:
        return UNAVAILABLE
    return (*UNAVAILABLE, psycopg.OperationalError, psycopg.InterfaceError)
