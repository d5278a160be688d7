"""How fast gateways are acknowledged: WeChat and the SMS gateways retry after about 5 s."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import Counter, Histogram

# webhook path → (channel label, the gateway's deadline in seconds)
DEADLINES: dict[str, tuple[str, float]] = {
    "/wechat": ("wechat", 5.0),
    "/api/mp/push": ("miniprogram", 5.0),
    "/sms/aliyun": ("sms", 5.0),
    "/sms/tencent": ("sms", 5.0),
}
ACK_SECONDS = Histogram(
    "tongban_ack_seconds", "Time to acknowledge a gateway's webhook", ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 5, 10),
)
LATE_ACKS = Counter("tongban_acks_late_total", "Webhook acknowledgements outside the gateway's deadline", ["channel"])


@web.middleware
async def ack_timing(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    watched = DEADLINES.get(request.path) if request.method == "POST" else None
    if watched is None:
        return await handler(request)
    channel, deadline = watched
    started = time.perf_counter()
    try:
        return await handler(request)
    finally:
        elapsed = time.perf_counter() - started
        ACK_SECONDS.labels(channel=channel).observe(elapsed)
        if elapsed > deadline:
            LATE_ACKS.labels(channel=channel).inc()
