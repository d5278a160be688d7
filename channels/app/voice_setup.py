"""Installs the voice hook (`channels.app.voice_hook.VOICE`) when speech recognition is configured.

Voice is optional: with neither TONGBAN_VOICE_MODEL_DIR nor TONGBAN_VOICE_RUNTIME_URL set this
does nothing and the channels ask residents to type. When it is set, a configuration that cannot
work (a model that is not a local directory, funasr or sox missing) stops the server at start-up
rather than failing residents one by one. The models load before the server takes traffic.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from tongban.agent.messages import Transcript
from tongban.channels.app.voice_hook import VOICE, Transcribe
from tongban.voice.settings import VoiceSettings

if TYPE_CHECKING:
    from tongban.voice.pipeline import VoicePipeline

log = logging.getLogger(__name__)


async def voice_context(app: web.Application) -> AsyncIterator[None]:
    settings = VoiceSettings()
    if not settings.enabled or app.get(VOICE) is not None:  # off, or a hook was injected
        if app.get(VOICE) is None:
            log.info("voice: off (set TONGBAN_VOICE_MODEL_DIR or TONGBAN_VOICE_RUNTIME_URL to recognise "
                     "voice messages); residents are asked to type")
        yield
        return
    from tongban.voice.factory import build_pipeline

    pipeline = build_pipeline(settings)
    await pipeline.warm()
    app[VOICE] = make_transcribe(pipeline)
    log.info("voice: on (%s, %d workers)", pipeline.recognizer.name, pipeline.workers)
    yield
    await pipeline.close()


def make_transcribe(pipeline: VoicePipeline) -> Transcribe:
    """The hook's shape: None when nothing intelligible was heard (broken, too long, busy, silent)."""
    from tongban.voice.audio import AudioError
    from tongban.voice.pipeline import max_seconds_for

    async def transcribe(audio: bytes, fmt: str) -> tuple[str, Transcript] | None:
        try:
            text, heard = await pipeline.transcribe(audio, fmt, max_seconds=max_seconds_for(fmt))
        except AudioError:
            return None
        text = text.strip()
        return (text, Transcript(confidence=heard.confidence, language=heard.language)) if text else None

    return transcribe
