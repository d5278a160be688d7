"""A FunASR runtime server as the recogniser, for deployments that scale recognition apart.

The protocol (funasr-runtime's `funasr-wss-server`, and the Python `funasr_wss_server.py`):
a JSON start message `{mode: "offline", wav_name, wav_format: "pcm", audio_fs: 16000,
is_speaking: true, hotwords?, itn}`, binary 16 kHz PCM chunks, then `{is_speaking: false}`;
the server answers JSON with `text`, `mode` and `is_final`. Two quirks are handled: the Python
server sends `is_final: false` even for the final offline result, and sends nothing at all
when it heard nothing — so the first offline-mode message is the answer, and silence until the
timeout means nothing was heard. Prefer the C++ runtime in production: the Python demo server
serves one connection at a time.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field

import aiohttp

from tongban.voice.recognizer import Heard, RecognitionError, heuristic_confidence, parse_rich

CHUNK_BYTES = 1920  # 60 ms of 16 kHz PCM, what the reference client sends per message
BYTES_PER_SECOND = 32000


@dataclass
class RuntimeRecognizer:
    url: str  # ws://asr:10095 or wss://…
    timeout_s: float = 30.0
    hotwords: dict[str, int] = field(default_factory=dict)  # word → weight (1–100)
    verify_ssl: bool = True  # False: accept the runtime's self-signed certificate (its default for wss)
    name: str = "funasr-runtime"

    async def recognize(self, pcm: bytes) -> Heard:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                message = await self._exchange(pcm)
        except TimeoutError:
            message = None  # the Python server stays silent when it heard nothing
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise RecognitionError(f"runtime server {self.url}: {type(exc).__name__}: {exc}") from exc
        if message is None:
            return Heard(text="", confidence=0.0, seconds=time.perf_counter() - started)
        rich = parse_rich(str(message.get("text") or ""))
        seconds = len(pcm) / BYTES_PER_SECOND
        return Heard(
            text=rich.text, language=rich.language or "zh", confidence=heuristic_confidence(rich.text, seconds),
            emotion=rich.emotion, event=rich.event, seconds=time.perf_counter() - started,
        )

    async def _exchange(self, pcm: bytes) -> dict | None:
        start = {
            "mode": "offline", "wav_name": f"tongban-{uuid.uuid4().hex[:12]}", "wav_format": "pcm",
            "audio_fs": 16000, "is_speaking": True, "itn": True,
            # the Python server reads these even in offline mode
            "chunk_size": [5, 10, 5], "chunk_interval": 10,
        }
        if self.hotwords:
            start["hotwords"] = json.dumps(self.hotwords, ensure_ascii=False)
        async with aiohttp.ClientSession() as session, session.ws_connect(
            self.url, protocols=("binary",), ssl=self.verify_ssl, heartbeat=None, max_msg_size=4 * 1024 * 1024,
        ) as ws:
            await ws.send_str(json.dumps(start))
            for offset in range(0, len(pcm), CHUNK_BYTES):
                await ws.send_bytes(pcm[offset : offset + CHUNK_BYTES])
            await ws.send_str(json.dumps({"is_speaking": False}))
            async for frame in ws:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    if frame.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                        break
                    continue
                message = json.loads(frame.data)
                if str(message.get("mode", "offline")).endswith("offline") or message.get("is_final"):
                    return message
            return None  # closed without an answer: nothing heard
