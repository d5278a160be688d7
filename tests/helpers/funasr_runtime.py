"""A local server speaking funasr-wss-server's WebSocket protocol (offline mode)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web


@dataclass
class FakeRuntime:
    """funasr-wss-server's offline mode: start JSON, binary PCM, {is_speaking: false} → result."""

    answer: str | None = "<|yue|><|NEUTRAL|><|Speech|><|withitn|>我想问下社保卡点样办。"
    starts: list[dict] = field(default_factory=list)
    received: list[int] = field(default_factory=list)
    protocols: list[str | None] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("binary",))
        await ws.prepare(request)
        self.protocols.append(ws.ws_protocol)
        start, audio = None, 0
        async for message in ws:
            if message.type == WSMsgType.BINARY:
                audio += len(message.data)
            elif message.type == WSMsgType.TEXT:
                body = json.loads(message.data)
                if start is None:
                    start = body
                    self.starts.append(body)
                elif body.get("is_speaking") is False:
                    self.received.append(audio)
                    if self.answer is not None:  # like the Python server: is_final false, nothing when silent
                        await ws.send_str(json.dumps({"mode": "offline", "text": self.answer,
                                                      "wav_name": start["wav_name"], "is_final": False}))
                    await ws.close()
        return ws
