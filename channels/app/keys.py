"""Typed keys for every resource the app holds (aiohttp's AppKey)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

import aiohttp
from aiohttp import web

from tongban.agent.service import Agent
from tongban.channels.app.base import Deliveries
from tongban.channels.app.ratelimit import Door
from tongban.channels.app.settings import ChannelSettings
from tongban.memory.store import Store

SETTINGS = web.AppKey("settings", ChannelSettings)
STORE = web.AppKey("store", Store)
AGENT = web.AppKey("agent", Agent)
HTTP = web.AppKey("http", aiohttp.ClientSession)
DELIVERIES = web.AppKey("deliveries", Deliveries)
READY = web.AppKey("ready", dict)
# the one clock business rules read (WeChat's 48-hour window, today's statistics): the injected
# one, else the agent's once it is loaded, else Beijing time (tongban.memory.clock)
CLOCK = web.AppKey("clock", Callable[[], dt.datetime])
STARTED = web.AppKey("started", float)
AGENT_READY = web.AppKey("agent_ready", asyncio.Event)  # set once AGENT is loaded  # monotonic time the app began warming up
RATE_LIMITS = web.AppKey("rate_limits", Door)  # per address and per resident (channels.ratelimit)
# channel name → OutputChannel that reaches a resident outside a reply (staff messages, notices);
# each channel module registers its own in setup(app) — see channels.delivery
DELIVERY_CHANNELS = web.AppKey("delivery_channels", dict)
