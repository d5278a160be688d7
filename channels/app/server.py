"""The aiohttp application: one factory, every resource in a cleanup context.

`tongban serve` runs it on the embedded default (SQLite, offline brain) with no configuration.
Channel modules add their routes in `setup(app)`; domain errors become HTTP answers only in
their handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tongban.agent.interface import Assistant
from tongban.channels.app import headers, keys
from tongban.channels.app.base import Deliveries
from tongban.channels.app.jsonio import json_error, json_response
from tongban.channels.app.metrics import ack_timing
from tongban.channels.app.ratelimit import Door
from tongban.channels.app.settings import ChannelSettings, get_channel_settings
from tongban.channels.app.unavailable import database_unavailable
from tongban.channels.app.voice_setup import voice_context
from tongban.memory.clock import Clock, system_clock
from tongban.memory.pii import mask_library_logs
from tongban.memory.store import Store
from tongban.tools.index_progress import BUILD

log = logging.getLogger(__name__)

AgentFactory = Callable[[Store], Assistant]
# the ways in, each a package with `setup(app)` that adds its routes, its rate-limit policies and
# its delivery function; the app knows channels only through that
CHANNELS = ("tongban.channels.wechat.oa", "tongban.channels.wechat.miniprogram", "tongban.channels.web",
            "tongban.channels.sms", "tongban.channels.pages", "tongban.channels.console")
FIRST_START_GUESS_S = 40.0  # the demo catalog's first index build on two cores, before any rate is known


def create_app(
    settings: ChannelSettings | None = None,
    *,
    store: Store | None = None,
    agent_factory: AgentFactory | None = None,
    clock: Clock | None = None,
    load_in_background: bool = False,
) -> web.Application:
    """Build the app; tests inject a store, an agent factory and a clock, production reads settings.

    With `load_in_background` (what `tongban serve` does) the port opens at once: the agent (models, the retrieval index — tens of seconds on a first
    start) loads in the background while /healthz answers, /readyz says what is still loading,
    the web page says it is getting ready, and routes that need the agent answer 503 with a
    readable message and Retry-After. Without it, start-up waits for the agent (tests, embedders).
    """
    settings = settings or get_channel_settings()
    mask_library_logs()  # SDKs and access logs print phones in URLs and bodies: mask them at the source
    door = Door(settings)  # rate and body limits on every route but the probes (channels.app.ratelimit)
    app = web.Application(client_max_size=settings.max_upload_bytes,
                          middlewares=[door.middleware, ack_timing, database_unavailable, getting_ready])
    app[keys.SETTINGS] = settings
    app[keys.RATE_LIMITS] = door
    app[keys.READY] = {"database": False, "agent": False}
    app[keys.AGENT_READY] = asyncio.Event()
    app[keys.CLOCK] = clock or system_clock
    app[keys.STARTED] = time.monotonic()
    app[keys.DELIVERY_CHANNELS] = {}
    app.cleanup_ctx.append(door.context)
    app.cleanup_ctx.append(_database(store))
    app.cleanup_ctx.append(_agent(agent_factory or default_agent, clock_injected=clock is not None,
                                  background=load_in_background))
    app.cleanup_ctx.append(_http_session)
    app.cleanup_ctx.append(_deliveries)
    app.cleanup_ctx.append(voice_context)  # the voice hook, when speech recognition is configured
    headers.setup(app)  # security headers and a versionless Server on every response
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
    for name in CHANNELS:
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


def default_agent(store: Store) -> Assistant:
    """The configured agent. Its imports (LangGraph, the brains, the index) are heavy, so they
    happen here, in the warm-up after the port has opened, not when the server module loads."""
    from tongban.agent.service import make_agent

    return make_agent(store)


def _agent(factory: AgentFactory, *, clock_injected: bool, background: bool):  # type: ignore[no-untyped-def]
    async def load(app: web.Application) -> None:
        try:
            agent = await asyncio.to_thread(factory, app[keys.STORE])  # loads models and the index
        except Exception:
            log.exception("the agent could not be loaded: the server stays not ready")
            raise
        app[keys.AGENT] = agent
        if not clock_injected:
            app[keys.CLOCK] = agent.clock
        app[keys.READY]["agent"] = True
        app[keys.AGENT_READY].set()
        log.info("ready after %.1f s", time.monotonic() - app[keys.STARTED])

    async def context(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(load(app), name="agent-warm-up")
        if not background:
            await task
        yield
        if not task.done():
            task.cancel()  # stopped while warming up: the loading thread ends with the process
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    return context


# what still needs the agent answers "getting ready" until it is loaded; pages and probes don't
NEEDS_AGENT = ("/api/", "/sms/", "/console/api/")


@web.middleware
async def getting_ready(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    app = request.app
    if app[keys.READY]["agent"] or not _needs_agent(request):
        return await handler(request)
    wait = warm_up_estimate(app)
    return json_error(503, "starting", f"通办正在准备（约 {wait} 秒），请稍后再试。",
                      headers={"Retry-After": str(min(wait, 30))})


def _needs_agent(request: web.Request) -> bool:
    return request.path.startswith(NEEDS_AGENT) or (request.path == "/wechat" and request.method == "POST")


def warm_up_estimate(app: web.Application) -> int:
    """Seconds until ready: from the index build's rate once it has one, else a first guess."""
    remaining = BUILD.remaining_s()
    if remaining is None:
        elapsed = time.monotonic() - app[keys.STARTED]
        remaining = max(FIRST_START_GUESS_S - elapsed, 5.0)
    return max(1, math.ceil(remaining))


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
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready: the database answers and the agent (index, models) is loaded; else what is still
    loading, how far the index build has got and about how long it will take."""
    ready = dict(request.app[keys.READY])
    if ready.get("database"):
        try:
            await asyncio.to_thread(request.app[keys.STORE].ping)
        except Exception as exc:  # database gone: not ready, but alive
            log.warning("readiness: database unreachable: %s", type(exc).__name__)
            ready["database"] = False
    status = 200 if all(ready.values()) else 503
    body: dict[str, object] = {"ready": status == 200, **ready}
    if not ready["agent"]:
        body["loading"] = ["agent"] + (["index"] if BUILD.running else [])
        body["index"] = {"embedded": BUILD.done, "total": BUILD.total} if BUILD.running else None
        body["estimate_s"] = warm_up_estimate(request.app)
    return json_response(body, status=status)


async def metrics(_request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
