"""The server's voice context installs the channels' hook from TONGBAN_VOICE_* settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from tests.helpers.funasr_runtime import FakeRuntime
from tests.voice.conftest import Clips
from tongban.agent.messages import Transcript
from tongban.channels.app.voice_hook import VOICE, transcriber
from tongban.channels.app.voice_setup import voice_context
from tongban.voice.recognizer import VoiceConfigError

VARIABLES = ("TONGBAN_VOICE_MODEL_DIR", "TONGBAN_VOICE_RUNTIME_URL", "TONGBAN_VOICE_MANDARIN_DIR")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


async def _started(app: web.Application):  # type: ignore[no-untyped-def]
    context = voice_context(app)
    await context.__anext__()
    return context


async def test_off_without_settings() -> None:
    app = web.Application()
    context = await _started(app)
    assert transcriber(app) is None
    with pytest.raises(StopAsyncIteration):
        await context.__anext__()


@pytest.mark.slow  # real audio or a FunASR model
async def test_local_models_from_settings(clips: Clips, tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TONGBAN_VOICE_MODEL_DIR", str(tiny_models["sensevoice"]))
    monkeypatch.setenv("TONGBAN_VOICE_MANDARIN_DIR", str(tiny_models["paraformer"]))
    monkeypatch.setenv("TONGBAN_VOICE_THREADS", "1")
    app = web.Application()
    context = await _started(app)
    hook = transcriber(app)
    assert hook is not None
    heard = await hook(clips.read("voice.amr"), "amr")
    assert heard is None or (isinstance(heard[0], str) and isinstance(heard[1], Transcript))
    assert await hook(b"not audio at all", "amr") is None
    with pytest.raises(StopAsyncIteration):
        await context.__anext__()


async def test_a_model_name_stops_the_server_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TONGBAN_VOICE_MODEL_DIR", "iic/SenseVoiceSmall")
    with pytest.raises(VoiceConfigError, match="not a directory"):
        await _started(web.Application())


@pytest.mark.slow  # real audio or a FunASR model
async def test_runtime_server_from_settings(clips: Clips, aiohttp_server, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    fake = FakeRuntime(answer="<|zh|><|NEUTRAL|><|Speech|><|withitn|>我想办社保卡。")
    runtime = web.Application()
    runtime.router.add_get("/", fake.handle)
    server = await aiohttp_server(runtime)
    monkeypatch.setenv("TONGBAN_VOICE_RUNTIME_URL", f"ws://{server.host}:{server.port}/")
    app = web.Application()
    await _started(app)
    text, transcript = await app[VOICE](clips.read("voice.silk"), "silk")
    assert text == "我想办社保卡。" and transcript.language == "zh" and transcript.confidence == 0.8
    assert fake.received and fake.received[0] > 32000 * 2, "the decoded PCM went over the socket"
