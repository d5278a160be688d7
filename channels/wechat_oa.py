"""The WeChat official account (公众号) webhook: `/wechat`.

GET answers WeChat's URL check; POST carries messages. Every request is signed and fresh or
refused (403) before its body is read; a message is stored, deduplicated on WeChat's MsgId,
before anything is acknowledged, so of WeChat's retries (after 5 s, twice) and of several
replicas only one runs the agent. A reply that is ready within `passive_reply_budget_s`
goes back passively in the HTTP answer; otherwise WeChat gets `success` at once and the
reply follows as a 客服消息 from a background delivery that shutdown waits for.

Message states (memory.inbound): RECEIVED → ANSWERED (reply stored, push pending) →
DELIVERED, or FAILED when WeChat refuses (45015: 48-hour window closed) or retries run out;
failed replies stay stored for staff.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import update
from sqlmodel import col
from wechatpy.messages import BaseMessage
from wechatpy.replies import create_reply

from agent.messages import Inbound
from channels import keys
from channels.settings import ChannelSettings
from channels.voice_hook import VOICE, transcriber
from channels.wechat.api import (
    CUSTOMER_SERVICE_WINDOW_S,
    Client,
    RetryPolicy,
    push_text,
    redis_lock,
    token_storage,
)
from channels.wechat.content import (
    FAILED,
    MENU,
    NOT_HEARD,
    Answer,
    Ask,
    Ignore,
    Listen,
    classify,
    message_key,
    render,
)
from channels.wechat.pacing import TurnGate
from channels.wechat.security import Envelope, Malformed, Refused, parse_xml, read_message, verify
from memory.db import is_postgres
from memory.inbound import accept, mark, record_reply
from memory.models import InboundMessage, InboundStatus
from memory.store import Store

__all__ = ["CLIENT", "VOICE", "WECHAT", "OfficialAccount", "setup"]

log = logging.getLogger(__name__)

CHANNEL = "wechat"
SHANGHAI = ZoneInfo("Asia/Shanghai")
SUCCESS = "success"  # WeChat's "received, nothing to say now"
T = TypeVar("T")


class OfficialAccount:
    """One app's 公众号 state: crypto, the API client, and the thread pools it runs on.

    Database writes get their own small pool so acknowledgements never queue behind agent
    turns (which use the default executor); API calls get another, since they can wait
    seconds on the network.
    """

    def __init__(self, settings: ChannelSettings) -> None:
        assert settings.wechat_token is not None
        self.settings = settings
        self.token = settings.wechat_token.get_secret_value()
        self.envelope = (
            Envelope(self.token, settings.wechat_aes_key.get_secret_value(), settings.wechat_app_id)
            if settings.wechat_aes_key and settings.wechat_app_id else None
        )
        if settings.wechat_aes_key and not settings.wechat_app_id:  # the mini-program may share the key
            log.warning("wechat: safe mode needs TONGBAN_WECHAT_APP_ID (it encrypts for the app id); plaintext only")
        self.retry = RetryPolicy()  # tests shorten the delays
        self.menu = dict(MENU)
        self.gate = TurnGate()  # replaced at start-up, sized for the database
        self.client: Client | None = None
        self._db: ThreadPoolExecutor | None = None
        self._api: ThreadPoolExecutor | None = None

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """Open the pools and the client (Redis token storage when reachable); close them.

        SQLite takes one writer at a time and hands its lock over by polling, so there turns
        run one at a time and this channel's writes from one thread; PostgreSQL locks rows.
        """
        postgres = is_postgres(app[keys.STORE].engine)
        self.gate = TurnGate(limit=max(2, os.cpu_count() or 2) if postgres else 1)
        self._db = ThreadPoolExecutor(8 if postgres else 1, thread_name_prefix="wechat-db")
        self._api = ThreadPoolExecutor(4, thread_name_prefix="wechat-api")
        redis = None
        if self.settings.wechat_app_id and self.settings.wechat_app_secret:
            storage, redis = await self.call(token_storage, self.settings.redis_url)
            self.client = Client(
                self.settings.wechat_app_id, self.settings.wechat_app_secret.get_secret_value(),
                api_base=self.settings.wechat_api_base, session=storage,
                shared_lock=redis_lock(redis, self.settings.wechat_app_id) if redis is not None else None,
            )
            app[CLIENT] = self.client
        else:
            log.warning("WeChat app id or secret not set: replies only passively, no 客服消息")
        yield
        await app[keys.DELIVERIES].drain()  # pushes in flight still need the pools
        self._db.shutdown(wait=True)
        self._api.shutdown(wait=True)
        if redis is not None:
            redis.close()

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._db is not None
        async with self.gate.first():  # acknowledgements before the next turn
            return await asyncio.get_running_loop().run_in_executor(self._db, functools.partial(fn, *args))

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """wechatpy (requests) off the event loop."""
        assert self._api is not None
        return await asyncio.get_running_loop().run_in_executor(self._api, functools.partial(fn, *args))


WECHAT = web.AppKey("wechat", OfficialAccount)
CLIENT = web.AppKey("wechat_client", Client)


def setup(app: web.Application) -> None:
    """Mount `/wechat` when a token is configured; without one the channel is off."""
    settings = app[keys.SETTINGS]
    if settings.wechat_token is None:
        return
    account = OfficialAccount(settings)
    app[WECHAT] = account
    app.cleanup_ctx.append(account.context)
    app.router.add_get("/wechat", check_url)
    app.router.add_post("/wechat", receive)


# ---------------------------------------------------------------------------- handlers


async def check_url(request: web.Request) -> web.Response:
    """WeChat's server-URL check: echo `echostr` when the signature is ours."""
    account = request.app[WECHAT]
    try:
        verify(account.token, request.query, max_age_s=account.settings.max_request_age_s)
    except Refused as exc:
        log.warning("wechat: URL check refused: %s", exc)
        raise web.HTTPForbidden() from None
    return web.Response(text=request.query.get("echostr", ""))


async def receive(request: web.Request) -> web.Response:
    started = asyncio.get_running_loop().time()
    account = request.app[WECHAT]
    safe = request.query.get("encrypt_type", "raw") == "aes"
    try:
        verify(account.token, request.query, max_age_s=account.settings.max_request_age_s)
        body = await request.read()
        if safe:
            if account.envelope is None:
                raise Malformed("safe mode, but TONGBAN_WECHAT_AES_KEY is not set")
            body = account.envelope.open(parse_xml(body), request.query)
        message = read_message(body)
    except Refused as exc:
        log.warning("wechat: refused: %s", exc)
        raise web.HTTPForbidden() from None
    except Malformed as exc:
        log.warning("wechat: malformed: %s", exc)
        raise web.HTTPBadRequest(text="malformed") from None
    text = await _handle(request.app, message, deadline=started + account.settings.passive_reply_budget_s)
    if not text:
        return web.Response(text=SUCCESS)
    xml = create_reply(text, message, render=True)
    if safe and account.envelope is not None:
        xml = account.envelope.seal(xml, nonce=request.query.get("nonce", ""))
    return web.Response(text=xml, content_type="application/xml")


# ---------------------------------------------------------------------------- the flow


async def _handle(app: web.Application, message: BaseMessage, *, deadline: float) -> str | None:
    """The passive reply's text, or None for `success` (nothing now, or a push later)."""
    account = app[WECHAT]
    action = classify(message, account.menu)
    if isinstance(action, Ignore):
        return None
    if isinstance(action, Answer):
        return action.text  # no agent, no state: safe to say again on a retry
    if isinstance(action, Listen) and transcriber(app) is None:
        return NOT_HEARD  # speech recognition is off
    store = app[keys.STORE]
    key = message_key(message)
    stored = action.text if isinstance(action, Ask) else None
    kind = "event" if message.type == "event" else message.type
    row, fresh = await account.db(_accept, store, key, message.source, stored, kind)
    if not fresh:
        return await _retried(account, store, row)
    remaining = deadline - asyncio.get_running_loop().time()
    # a queue longer than the window (with a margin: the estimate lags a growing queue) means
    # the reply will be pushed anyway, so acknowledge now rather than at the deadline
    hopeless = 2 * account.gate.expected_s() > remaining
    turn = asyncio.ensure_future(_answer(app, message, action, key))
    try:
        await asyncio.wait({turn}, timeout=0 if hopeless else max(0.0, remaining))
    except asyncio.CancelledError:  # WeChat hung up: the reply still goes out
        _push_later(app, turn, row.id, message)
        raise
    if not turn.done():
        _push_later(app, turn, row.id, message)
        return None
    text = turn.result()
    await account.db(_record, store, row.id, text, True)
    return text or None


async def _retried(account: OfficialAccount, store: Store, row: InboundMessage) -> str | None:
    """WeChat asks again: hand over a stored, undelivered reply once; otherwise `success`."""
    if row.status == InboundStatus.ANSWERED and row.id is not None and await account.db(_claim, store, row.id):
        return str((row.reply or {}).get("text") or "") or None
    return None  # still processing (here or on another replica), delivered, or failed


async def _answer(app: web.Application, message: BaseMessage, action: Ask | Listen, key: str) -> str:
    """Run the agent once; the rendered text ("" when staff hold the conversation)."""
    try:
        if isinstance(action, Listen):
            heard = await _listen(app, action)
            if heard is None:
                return NOT_HEARD
            action = heard
        inbound = Inbound(
            channel=CHANNEL, user_id=message.source, text=action.text, transcript=action.transcript,
            at=dt.datetime.fromtimestamp(message.time, tz=SHANGHAI), message_id=key,
        )
        reply = await app[WECHAT].gate.run(lambda: app[keys.AGENT].respond(inbound))
    except Exception:
        log.exception("wechat: turn failed for message %s", key)
        return FAILED
    if reply.handoff and not reply.text:
        return ""  # staff hold the conversation: the bot says nothing
    return render(reply)


async def _listen(app: web.Application, voice: Listen) -> Ask | None:
    """Download the audio and hand it to the voice hook; None when nothing was understood."""
    hook, account = transcriber(app), app[WECHAT]
    if hook is None or account.client is None:
        return None
    try:
        audio = await account.call(account.client.download, voice.media_id)
    except Exception as exc:  # expired MediaId (3 days), WeChat unreachable
        log.warning("wechat: voice %s not downloaded: %r", voice.media_id, exc)
        return None
    heard = await hook(audio, voice.fmt)
    if heard is None or not heard[0].strip():
        return None
    return Ask(heard[0].strip(), heard[1])


def _push_later(app: web.Application, turn: asyncio.Future[str], row_id: int | None, message: BaseMessage) -> None:
    app[keys.DELIVERIES].spawn(_deliver(app, turn, row_id, message), name=f"wechat:{message_key(message)}")


async def _deliver(app: web.Application, turn: asyncio.Future[str], row_id: int | None, message: BaseMessage) -> None:
    """The reply as a 客服消息, once the agent has finished; marked DELIVERED or FAILED."""
    account, store = app[WECHAT], app[keys.STORE]
    assert row_id is not None
    text = await turn
    await account.db(_record, store, row_id, text, not text)  # ANSWERED: a retry may take it now
    if not text:
        return
    if account.client is None or time.time() - message.time > CUSTOMER_SERVICE_WINDOW_S:
        await account.db(_mark, store, row_id, InboundStatus.FAILED, 0)
        return
    outcome = await push_text(
        account.client, message.source, text, policy=account.retry, off_loop=account.call,
        still_due=functools.partial(account.db, _is_answered, store, row_id),
    )
    status = InboundStatus.DELIVERED if outcome.sent else InboundStatus.FAILED
    await account.db(_mark, store, row_id, status, outcome.attempts)


# ---------------------------------------------------------------------------- storage (off the loop)


def _accept(store: Store, key: str, openid: str, text: str | None, kind: str) -> tuple[InboundMessage, bool]:
    with store.session(actor=f"resident:wechat:{openid[-6:]}") as session:
        return accept(session, store.vault, channel=CHANNEL, message_key=key, user_id=openid, text=text, kind=kind)


def _record(store: Store, row_id: int, text: str, delivered: bool) -> None:
    with store.session(actor="system:wechat") as session:
        record_reply(session, row_id, {"text": text}, delivered=delivered)


def _mark(store: Store, row_id: int, status: InboundStatus, attempts: int) -> None:
    with store.session(actor="system:wechat") as session:
        mark(session, row_id, status, attempts=attempts)


def _claim(store: Store, row_id: int) -> bool:
    """ANSWERED → DELIVERED, only if still ANSWERED: one of concurrent deliverers wins."""
    with store.session(actor="system:wechat") as session:
        result = session.execute(
            update(InboundMessage)
            .where(col(InboundMessage.id) == row_id, col(InboundMessage.status) == InboundStatus.ANSWERED)
            .values(status=InboundStatus.DELIVERED)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _is_answered(store: Store, row_id: int) -> bool:
    with store.read_session() as session:
        row = session.get(InboundMessage, row_id)
        return row is not None and row.status == InboundStatus.ANSWERED
