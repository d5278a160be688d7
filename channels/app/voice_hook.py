"""The optional speech-recognition hook that voice-capable channels share.

Speech recognition is heavy and optional (the `voice` extra), so channels never import it:
whoever starts the server puts an async callable under `VOICE`, and a channel without one
answers voice with a polite request to type instead.

    async def transcribe(audio: bytes, fmt: str) -> tuple[str, Transcript] | None

`fmt` is the container the client sent (aac, mp3, wav, silk, amr, webm…); None means nothing
intelligible was heard.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from tongban.agent.messages import Transcript

Transcribe = Callable[[bytes, str], Awaitable[tuple[str, Transcript] | None]]

VOICE = web.AppKey("voice", object)  # holds a `Transcribe`; absent when speech is off

NO_VOICE = "语音识别暂未开启，请打字告诉我您想办什么事。"
NOT_HEARD = "抱歉，没有听清，请再说一遍，或者打字告诉我。"


def transcriber(app: web.Application) -> Transcribe | None:
    """The configured hook, or None when speech recognition is off."""
    hook = app.get(VOICE)
    return hook if callable(hook) else None  # type: ignore[return-value]
