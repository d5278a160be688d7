"""What the mini-program API and the web chat share: JSON in, the agent's reply as JSON out.

Parsing helpers raise the small errors below; each handler maps them to an HTTP answer, so
the status codes live in one visible place per endpoint.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from aiohttp import BodyPartReader, web

from tongban.agent.interface import Said
from tongban.agent.messages import Inbound, Reply
from tongban.channels.app import keys, ratelimit
from tongban.channels.app.base import AI_LABEL
from tongban.channels.app.jsonio import json_error, json_response
from tongban.channels.app.voice_hook import NO_VOICE, NOT_HEARD, transcriber
from tongban.memory.store import Store
from tongban.memory.transcripts import save_audio

MAX_TEXT = 2000
NUL_REFUSED = "内容中有无法识别的字符（\\u0000），请删去后重新提交"  # PostgreSQL text cannot hold NUL
AUDIO_FORMATS = frozenset({"aac", "mp3", "wav", "silk", "amr", "m4a", "webm", "ogg", "pcm"})
_AUDIO_TYPES = {
    "audio/aac": "aac", "audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/wav": "wav",
    "audio/x-wav": "wav", "audio/wave": "wav", "audio/silk": "silk", "audio/amr": "amr",
    "audio/mp4": "m4a", "audio/x-m4a": "m4a", "audio/webm": "webm", "audio/ogg": "ogg",
}


class BadInput(ValueError):
    """The request is malformed; the message says how, in the resident's language."""


class TooLarge(ValueError):
    """The upload is larger than the configured limit."""


def error(status: int, code: str, message: str) -> web.Response:
    """A clear JSON error: a stable code for programs, a sentence for people."""
    return json_error(status, code, message)


def same_origin(request: web.Request) -> bool:
    """A browser's request from this site: its Origin names this host (CSRF, WebSocket hijacking)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    return urlsplit(origin).netloc == request.host


def bad_input(exc: BadInput) -> web.Response:
    return error(400, "bad_request", str(exc))


def too_large(limit: int) -> web.Response:
    return ratelimit.too_large(limit)  # one wording at the door and in the handlers


# ------------------------------------------------------------------ parsing


async def read_json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except web.HTTPRequestEntityTooLarge as exc:  # past the app's client_max_size
        raise TooLarge() from exc
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested past the parser
        raise BadInput("请求体不是有效的 JSON") from exc
    if not isinstance(body, dict):
        raise BadInput("请求体应为 JSON 对象")
    if has_nul(body):
        raise BadInput(NUL_REFUSED)
    return body


def has_nul(value: Any) -> bool:
    """Whether a text anywhere in `value` holds NUL, which PostgreSQL can neither store nor look up
    (walked without recursion: a body may be nested as deep as the parser allows)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str) and "\x00" in item:
            return True
        if isinstance(item, dict):
            pending.extend((*item, *item.values()))
        elif isinstance(item, list):
            pending.extend(item)
    return False


async def json_body(request: web.Request) -> dict[str, Any] | web.Response:
    """The JSON object a staff route was sent, or the error answer for a body too large (413)
    or not a JSON object (400)."""
    try:
        return await read_json(request)
    except TooLarge:
        return error(413, "too_large", "请求体太大")
    except BadInput as exc:
        return bad_input(exc)


def message_text(body: dict[str, Any]) -> str:
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadInput("请输入要咨询的内容（text）")
    if len(text) > MAX_TEXT:
        raise BadInput(f"内容太长，请不要超过 {MAX_TEXT} 字")
    return text.strip()


async def read_audio(request: web.Request, limit: int) -> tuple[bytes, str]:
    """The audio of a voice upload: multipart (`file` part, `format` field) or a raw body."""
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge()
    fmt = request.query.get("format") or request.headers.get("X-Audio-Format")
    if request.content_type.startswith("multipart/"):
        audio = None
        try:
            async for part in await request.multipart():
                if not isinstance(part, BodyPartReader):
                    continue
                if part.filename is not None or part.name in ("file", "audio", "voice"):
                    audio = await _read_limited(part, limit)
                    fmt = fmt or _format_of(part.headers.get("Content-Type", ""), part.filename)
                elif part.name == "format":
                    fmt = (await part.text()).strip() or fmt
        except TooLarge:
            raise
        except ValueError as exc:  # a malformed multipart body, a format field that is not UTF-8
            raise BadInput("上传内容格式不正确") from exc
    else:
        audio = await _read_limited(request.content, limit)
        fmt = fmt or _format_of(request.content_type, None)
    if not audio:
        raise BadInput("没有收到语音文件")
    fmt = (fmt or "").lower().lstrip(".")
    if fmt not in AUDIO_FORMATS:
        raise BadInput(f"不支持的语音格式，请使用 {'/'.join(sorted(AUDIO_FORMATS))}")
    return audio, fmt


async def _read_limited(stream: Any, limit: int) -> bytes:
    """Read in chunks, refusing as soon as the limit is passed (not after buffering it all)."""
    chunks, size = [], 0
    while True:
        chunk = await (stream.read_chunk(65536) if isinstance(stream, BodyPartReader) else stream.read(65536))
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise TooLarge()
        chunks.append(chunk)


def _format_of(content_type: str, filename: str | None) -> str | None:
    base = content_type.split(";")[0].strip().lower()
    if base in _AUDIO_TYPES:
        return _AUDIO_TYPES[base]
    if filename and "." in filename:
        return filename.rsplit(".", 1)[1]
    return None


# ------------------------------------------------------------------ replies


def reply_json(reply: Reply, *, heard: str | None = None) -> dict[str, Any]:
    """The reply as the clients render it; `ai_label` is the 生成式人工智能标识 to show."""
    body: dict[str, Any] = {
        "text": reply.text,
        "ai_generated": reply.ai_generated,
        "ai_label": AI_LABEL if reply.ai_generated else None,
        "quick_replies": list(reply.quick_replies),
        "cards": list(reply.cards),
        "intent": reply.intent,
        "item": reply.item,
        "handoff": reply.handoff,
        "citations": list(reply.citations),  # knowledge-base entries the answer quotes, in order
        "elderly": reply.elderly,  # 长者模式: the page shows large print while it is on
    }
    if heard is not None:
        body["heard"] = heard  # what speech recognition understood, shown as the resident's bubble
    return body


def json_reply(body: dict[str, Any], status: int = 200) -> web.Response:
    return json_response(body, status=status)


async def respond_to_voice(app: web.Application, inbound: Inbound, audio: bytes, fmt: str) -> dict[str, Any]:
    """Transcribe with the optional hook and answer; without a hook, ask the resident to type."""
    transcribe = transcriber(app)
    if transcribe is None:
        return reply_json(Reply(text=NO_VOICE, quick_replies=["身份证到期了怎么换"]), heard="")
    result = await transcribe(audio, fmt)
    if result is None or not result[0].strip():
        return reply_json(Reply(text=NOT_HEARD), heard="")
    text, transcript = result
    store = app[keys.STORE]  # the recording is kept (encrypted) beside its transcript, for staff
    audio_ref = await asyncio.to_thread(_keep_recording, store, audio, fmt)
    heard_inbound = Inbound(
        channel=inbound.channel, user_id=inbound.user_id, text=text[:MAX_TEXT], unionid=inbound.unionid,
        transcript=transcript, audio_ref=audio_ref,
    )
    reply = await app[keys.AGENT].respond(heard_inbound)
    return reply_json(reply, heard=text)


def _keep_recording(store: Store, audio: bytes, fmt: str) -> str:
    """Sealed in the database: staff on any replica can play it."""
    with store.session(actor="channel:voice") as session:
        return save_audio(session, store.vault, audio, fmt)


# ------------------------------------------------------------------ history


async def history(app: web.Application, channel: str, user_id: str) -> dict[str, Any]:
    """The resident's recent conversation as the clients render it — their messages (masked as
    stored), the bot's, staff replies and notices, so a reload shows them again — and whether
    staff hold the conversation now (`handoff`: waiting, claimed or null)."""
    agent = app[keys.AGENT]
    said = await asyncio.to_thread(agent.history, channel, user_id)
    held = await asyncio.to_thread(agent.held, channel, user_id)
    return {"messages": [_line(s) for s in said], "handoff": held}


def _line(said: Said) -> dict[str, Any]:
    if said.role == "staff":
        return {"role": "staff", "text": said.text, "staff_name": said.staff_name, "at": said.at}
    if said.role != "assistant":
        return {"role": said.role, "text": said.text, "at": said.at}
    ai = said.ai_generated
    return {"role": "assistant", "text": said.text, "ai_generated": ai, "ai_label": AI_LABEL if ai else None,
            "at": said.at}
