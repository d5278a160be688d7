"""Typed keys for every resource the app holds (aiohttp's AppKey), and nothing else.

Every channel module reads the app through these, so this module imports nothing of ours at
run time (the types are for the type checker only): it can never be part of an import cycle.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from tongban.agent.interface import Assistant
    from tongban.channels.app.base import Deliveries
    from tongban.channels.app.ratelimit import Door
    from tongban.channels.app.settings import ChannelSettings
    from tongban.memory.store import Store

SETTINGS: web.AppKey[ChannelSettings] = web.AppKey("settings")
STORE: web.AppKey[Store] = web.AppKey("store")
# the agent as channels see it (agent.interface.Assistant): injected, never reached into
AGENT: web.AppKey[Assistant] = web.AppKey("agent")
HTTP = web.AppKey("http", aiohttp.ClientSession)
DELIVERIES: web.AppKey[Deliveries] = web.AppKey("deliveries")
READY = web.AppKey("ready", dict)
# the one clock business rules read (WeChat's 48-hour window, today's statistics): the injected
# one, else the agent's once it is loaded, else Beijing time (tongban.memory.clock)
CLOCK: web.AppKey[Callable[[], dt.datetime]] = web.AppKey("clock")
STARTED = web.AppKey("started", float)  # monotonic time the app began warming up
AGENT_READY = web.AppKey("agent_ready", asyncio.Event)  # set once AGENT is loaded
RATE_LIMITS: web.AppKey[Door] = web.AppKey("rate_limits")  # per address and per resident (app.ratelimit)
# channel name → OutputChannel that reaches a resident outside a reply (staff messages, notices);
# each channel registers its own in setup(app) — see app.delivery
DELIVERY_CHANNELS = web.AppKey("delivery_channels", dict)
# a callable that wakes the staff console's live view (new transcript lines, a new review);
# absent when the console is not mounted
STAFF_POKE: web.AppKey[Callable[[], Any]] = web.AppKey("staff_poke")
