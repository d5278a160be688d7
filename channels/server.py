"""The aiohttp application: one factory, every resource in a cleanup context.

`tongban serve` runs it on the embedded default (SQLite, offline brain) with no configuration.
Channel modules add their routes in `setup(app)`; domain errors become HTTP answers only in
their handlers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tongban.agent.service import Agent, make_agent
from tongban.channels import keys
from tongban.channels.base import Deliveries
from tongban.channels.metrics import ack_timing
from tongban.channels.ratelimit import Door
from tongban.channels.settings import ChannelSettings, get_channel_settings
from tongban.channels.unavailable import database_unavailable
from tongban.channels.voice_setup import voice_context
from tongban.memory.pii import mask_library_logs
from tongban.memory.store import Store

log = logging.getLogger(__name__)

AgentFactory = Callable[[Store], Agent]


def create_app(
    settings: ChannelSettings | None = None,
    *,
    store: Store | None = None,
    agent_factory: AgentFactory | None = None,
) -> web.Application:
    """Build the app; tests inject a store and an agent factory, production reads settings."""
    settings = settings or get_channel_settings()
    mask_library_logs()  # SDKs and access logs print phones in URLs and bodies: mask them at the source
    door = Door(settings)  # rate and body limits on every route but the probes (channels.ratelimit)
    app = web.Application(client_max_size=settings.max_upload_bytes, middlewares=[door.middleware, ack_timing, database_unavailable])
    app[keys.SETTINGS] = settings
    app[keys.RATE_LIMITS] = door
    app[keys.READY] = {"database": False, "agent": False}
    app[keys.DELIVERY_CHANNELS] = {}
    app.cleanup_ctx.append(door.context)
    app.cleanup_ctx.append(_database(store))
    app.cleanup_ctx.append(_agent(agent_factory or (lambda s: make_agent(s))))
    app.cleanup_ctx.append(_http_session)
    app.cleanup_ctx.append(_deliveries)
    app.cleanup_ctx.append(voice_context)  # the voice hook, when speech recognition is configured
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    for module in _channel_modules():
        module.setup(app)
    return app


def _channel_modules() -> list:  # type: ignore[type-arg]
    """Channels present in this build; each exposes `setup(app)`."""
    import importlib

    found = []
    for name in ("tongban.channels.wechat_oa", "tongban.channels.miniprogram", "tongban.channels.web", "tongban.channels.sms", "tongban.channels.items",
                 "tongban.channels.console", "tongban.channels.forms"):
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return found


def _database(injected: Store | None):  # type: ignore[no-untyped-def]
    async def context(app: web.Application) -> AsyncIterator[None]:
        store = injected or Store.from_settings()
        if injected is None and store.settings.env == "development":
            # the embedded default prepares itself; production runs migrations as a job
            await asyncio.to_thread(store.initialise)
        app[keys.STORE] = store
        app[keys.READY]["database"] = True
        yield
        if injected is None:
            store.dispose()

    return context


def _agent(factory: AgentFactory):  # type: ignore[no-untyped-def]
    async def context(app: web.Application) -> AsyncIterator[None]:
        app[keys.AGENT] = await asyncio.to_thread(factory, app[keys.STORE])  # loads models and the index
        app[keys.READY]["agent"] = True
        yield

    return context


async def _http_session(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        app[keys.HTTP] = session
        yield


async def _deliveries(app: web.Application) -> AsyncIterator[None]:
    app[keys.DELIVERIES] = Deliveries()
    yield
    await app[keys.DELIVERIES].drain()  # finish replies in flight before closing the session


async def healthz(_request: web.Request) -> web.Response:
    """Alive: the process answers. Says nothing about its dependencies."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready: the database answers and the agent (index, models) is loaded."""
    ready = dict(request.app[keys.READY])
    if ready.get("database"):
        try:
            await asyncio.to_thread(request.app[keys.STORE].ping)
        except Exception as exc:  # database gone: not ready, but alive
            log.warning("readiness: database unreachable: %s", type(exc).__name__)
            ready["database"] = False
    status = 200 if all(ready.values()) else 503
    return web.json_response({"ready": status == 200, **ready}, status=status)


async def metrics(_request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
