"""The FunASR runtime recogniser against a local server speaking the runtime's WebSocket protocol."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.helpers.funasr_runtime import FakeRuntime
from tongban.voice.recognizer import RecognitionError
from tongban.voice.runtime import RuntimeRecognizer


@pytest.fixture
async def runtime(aiohttp_server) -> AsyncIterator[tuple[FakeRuntime, str]]:  # type: ignore[no-untyped-def]
    fake = FakeRuntime()
    app = web.Application()
    app.router.add_get("/", fake.handle)
    server = await aiohttp_server(app)
    yield fake, f"ws://{server.host}:{server.port}/"


async def test_offline_exchange(runtime) -> None:  # type: ignore[no-untyped-def]
    fake, url = runtime
    pcm = bytes(32000 * 3)  # 3 s
    heard = await RuntimeRecognizer(url, hotwords={"社保卡": 20}).recognize(pcm)
    assert heard.text == "我想问下社保卡点样办。" and heard.language == "yue" and heard.emotion == "NEUTRAL"
    assert heard.confidence == 0.8  # heuristic: the runtime sends no posteriors
    [start] = fake.starts
    assert start["mode"] == "offline" and start["wav_format"] == "pcm" and start["audio_fs"] == 16000
    assert start["is_speaking"] is True and start["itn"] is True
    assert json.loads(start["hotwords"]) == {"社保卡": 20}
    assert fake.received == [len(pcm)] and fake.protocols == ["binary"]


async def test_a_silent_server_means_nothing_heard(runtime) -> None:  # type: ignore[no-untyped-def]
    fake, url = runtime
    fake.answer = None
    heard = await RuntimeRecognizer(url, timeout_s=5).recognize(bytes(3200))
    assert heard.text == "" and heard.confidence == 0.0


async def test_an_unreachable_server_is_a_recognition_error(unused_tcp_port: int) -> None:
    with pytest.raises(RecognitionError):
        await RuntimeRecognizer(f"ws://127.0.0.1:{unused_tcp_port}/", timeout_s=5).recognize(bytes(3200))
