"""The WeChat official account (公众号) webhook: `/wechat`.

GET answers WeChat's URL check; POST carries messages. Every request is signed and fresh or
refused (403) before its body is read; a message is stored, deduplicated on WeChat's MsgId,
before anything is acknowledged, so of WeChat's retries (after 5 s, twice) and of several
replicas only one runs the agent. A reply that is ready within `passive_reply_budget_s`
goes back passively in the HTTP answer; otherwise WeChat gets `success` at once and the
reply follows as a 客服消息 from a background delivery that shutdown waits for.

Message states (memory.inbound): RECEIVED → PUSHING (reply stored, one sender holds it) →
DELIVERED, or FAILED when WeChat cannot deliver (45015: 48-hour window closed); failed
replies stay stored for staff. A push that still fails after its retries (系统繁忙, HTTP
errors, 45047 too many 客服消息) goes back to ANSWERED: queued in the database, never
dropped, and a WeChat retry may then take it passively. Every hand-over is a conditional
update, so a reply is sent passively or pushed, never both.

A crash loses nothing accepted: a sweep (at start-up and every `sweep_every_s`) takes rows
nobody is working on — RECEIVED ones are answered (unless the turn had already committed,
whose reply is then taken from the transcript), ANSWERED ones pushed — and WeChat's own
retry of a message the crashed process had accepted is answered passively at once.
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
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy import update
from sqlmodel import Session, col, select
from wechatpy.messages import BaseMessage
from wechatpy.replies import create_reply

from tongban.agent.messages import Inbound
from tongban.channels.app import delivery, keys
from tongban.channels.app.delivery import NotDelivered
from tongban.channels.app.ratelimit import GATEWAY, THROTTLED
from tongban.channels.app.settings import ChannelSettings
from tongban.channels.app.voice_hook import VOICE, transcriber
from tongban.channels.wechat.api import (
    CUSTOMER_SERVICE_WINDOW_S,
    UNDELIVERABLE,
    Client,
    RetryPolicy,
    push_text,
)
from tongban.channels.wechat.nonces import NonceBook
from tongban.channels.wechat.oa.content import (
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
from tongban.channels.wechat.oa.pacing import Ticket, TurnGate
from tongban.channels.wechat.security import (
    Envelope,
    Malformed,
    Refused,
    parse_xml,
    read_message,
    verify,
)
from tongban.channels.wechat.tokens import share_tokens, tokens_of
from tongban.memory.clock import SHANGHAI
from tongban.memory.db import is_postgres
from tongban.memory.inbound import accept, committed_reply, mark, record_reply
from tongban.memory.models import InboundMessage, InboundStatus, utcnow
from tongban.memory.store import Store

__all__ = ["CLIENT", "VOICE", "WECHAT", "OfficialAccount", "setup"]

log = logging.getLogger(__name__)

CHANNEL = "wechat"
NONCES = "wechat-oa"  # the nonce book's name for this endpoint's signed URLs
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
        self.busy: set[int] = set()  # rows this process is answering or pushing now
        self.pushing: set[int] = set()  # of those, rows a background task owns
        self.started = utcnow()
        self.postgres = False
        self.stale_after_s = 120.0  # PostgreSQL: another replica's row this old is taken as orphaned
        self.sweep_every_s = 30.0
        self._db: ThreadPoolExecutor | None = None
        self._api: ThreadPoolExecutor | None = None
        self.nonces: NonceBook | None = None

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """Open the pools and the client (its token in the shared store: wechat.tokens); close them.

        Turns of different residents run side by side on either database (one resident's in
        order: `Agent.respond`, `TurnGate`): a turn writes only at its end, and SQLite's one
        writer is handed over in order within the process (`memory.sqlite_writer`). There this
        channel's own writes, each a statement or two, take one thread: in arrival order, so one
        resident's messages reach the gate in the order they came; PostgreSQL locks rows.
        """
        postgres = self.postgres = is_postgres(app[keys.STORE].engine)
        self.started = utcnow()
        self.gate = TurnGate(limit=max(2, os.cpu_count() or 2))
        self._db = ThreadPoolExecutor(8 if postgres else 1, thread_name_prefix="wechat-db")
        self._api = ThreadPoolExecutor(4, thread_name_prefix="wechat-api")
        self.nonces = NonceBook(app[keys.STORE], window_s=self.settings.max_request_age_s,
                                redis_url=self.settings.redis_url)
        if self.settings.wechat_app_id and self.settings.wechat_app_secret:
            self.client = tokens_of(app).client(
                self.settings.wechat_app_id, self.settings.wechat_app_secret.get_secret_value(),
                api_base=self.settings.wechat_api_base,
            )
            app[CLIENT] = self.client
        else:
            log.warning("WeChat app id or secret not set: replies only passively, no 客服消息")
        sweeper = asyncio.ensure_future(_sweep_forever(app))
        yield
        sweeper.cancel()
        await asyncio.gather(sweeper, return_exceptions=True)
        await app[keys.DELIVERIES].drain()  # pushes in flight still need the pools
        self._db.shutdown(wait=True)
        self._api.shutdown(wait=True)

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._db is not None
        async with self.gate.first():  # acknowledgements before the next turn
            return await asyncio.get_running_loop().run_in_executor(self._db, functools.partial(fn, *args))

    def orphaned(self, row: InboundMessage) -> bool:
        """Nobody is working on this row: not this process, and (SQLite: one process) it was
        accepted before this process started, or (any database) it is older than stale_after_s."""
        if row.id in self.busy:
            return False
        received = _utc(row.received_at)
        if not self.postgres and received < self.started:
            return True
        return (utcnow() - received).total_seconds() > self.stale_after_s

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """wechatpy (requests) off the event loop."""
        assert self._api is not None
        return await asyncio.get_running_loop().run_in_executor(self._api, functools.partial(fn, *args))


WECHAT = web.AppKey("wechat", OfficialAccount)
CLIENT = web.AppKey("wechat_client", Client)


def setup(app: web.Application) -> None:
    """Mount `/wechat` when a token is configured; without one the channel is off."""
    settings = app[keys.SETTINGS]
    app[keys.RATE_LIMITS].limit("/wechat", GATEWAY)  # per resident in `receive`, once decrypted
    if settings.wechat_token is None:
        return
    account = OfficialAccount(settings)
    app[WECHAT] = account
    share_tokens(app)  # the access-token store the mini-program uses too
    app.cleanup_ctx.append(account.context)
    app.router.add_get("/wechat", check_url)
    app.router.add_post("/wechat", receive)
    delivery.register(app, _Output(account))  # staff replies and notices as 客服消息


class _Output:
    """The 公众号 as an output channel: a 客服消息 with the webhook's retries; refusals
    (45015: the resident has not written for 48 hours) leave the message undelivered."""

    name = CHANNEL

    def __init__(self, account: OfficialAccount) -> None:
        self._account = account

    async def send_text(self, recipient: str, text: str) -> None:
        account = self._account
        if account.client is None:
            raise NotDelivered("no_client")
        outcome = await push_text(account.client, recipient, text, policy=account.retry, off_loop=account.call)
        if not outcome.sent:
            raise NotDelivered(f"errcode {outcome.errcode}")


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
        if account.envelope is not None and not safe and not account.settings.wechat_compatible_mode:
            raise Refused("plaintext, but safe mode is configured (TONGBAN_WECHAT_COMPATIBLE_MODE is off)")
        raw = body = await request.read()
        if safe:
            if account.envelope is None:
                raise Malformed("safe mode, but TONGBAN_WECHAT_AES_KEY is not set")
            body = account.envelope.open(parse_xml(body), request.query)
        message = read_message(body)
        signed = _Signed(request.query.get("timestamp", ""), request.query.get("nonce", ""), raw)
        if await request.app[keys.RATE_LIMITS].allow("chat", f"wechat:{message.source}"):
            text = await _handle(request.app, message, signed, deadline=started + account.settings.passive_reply_budget_s)
        else:
            await _first_use(account, signed)
            text = THROTTLED  # a fast, polite passive reply; the agent does not run, nothing is stored
    except Refused as exc:
        log.warning("wechat: refused: %s", exc)
        raise web.HTTPForbidden() from None
    except Malformed as exc:
        log.warning("wechat: malformed: %s", exc)
        raise web.HTTPBadRequest(text="malformed") from None
    if not text:
        return web.Response(text=SUCCESS)
    xml = create_reply(text, message, render=True)
    if safe and account.envelope is not None:
        xml = account.envelope.seal(xml, nonce=request.query.get("nonce", ""))
    return web.Response(text=xml, content_type="application/xml")


@dataclass(frozen=True)
class _Signed:
    """What WeChat signed (timestamp, nonce) and the body that came with it."""

    timestamp: str
    nonce: str
    body: bytes


async def _first_use(account: OfficialAccount, signed: _Signed) -> None:
    """Refuse a signed URL seen before with another body (`channels.wechat.nonces`); a message
    for the agent is admitted with its acceptance instead (`_accept`), in one transaction."""
    assert account.nonces is not None
    if not await account.db(_admit, account.nonces, signed, None):
        raise Refused("a signed URL used again with another body (replay)")


# ---------------------------------------------------------------------------- the flow


async def _handle(app: web.Application, message: BaseMessage, signed: _Signed, *, deadline: float) -> str | None:
    """The passive reply's text, or None for `success` (nothing now, or a push later)."""
    account = app[WECHAT]
    action = classify(message, account.menu)
    if isinstance(action, Ignore | Answer) or (isinstance(action, Listen) and transcriber(app) is None):
        await _first_use(account, signed)
        if isinstance(action, Ignore):
            return None
        # no agent, no state: safe to say again on a retry; or speech recognition is off
        return action.text if isinstance(action, Answer) else NOT_HEARD
    store = app[keys.STORE]
    key = message_key(message)
    stored = action.text if isinstance(action, Ask) else None
    kind = "event" if message.type == "event" else message.type
    assert account.nonces is not None
    row, fresh = await account.db(_accept, store, account.nonces, signed, key, message.source, stored, kind)
    if not fresh:
        if not (row.status == InboundStatus.RECEIVED and account.orphaned(row) and await account.db(_take, store, row)):
            return await _retried(account, store, row)
        # WeChat asks again for a message a crashed process had accepted: answer it now
        done = await account.db(_committed, store, row)
        if done is not None:
            await account.db(_record, store, row.id, done, InboundStatus.DELIVERED)
            return done or None
    assert row.id is not None
    account.busy.add(row.id)
    try:
        return await _respond(app, message, action, key, row.id, deadline)
    finally:
        if row.id not in account.pushing:
            account.busy.discard(row.id)


async def _respond(
    app: web.Application, message: BaseMessage, action: Ask | Listen, key: str, row_id: int, deadline: float,
) -> str | None:
    account, store = app[WECHAT], app[keys.STORE]
    remaining = deadline - asyncio.get_running_loop().time()
    # a queue longer than the window (with a margin: the estimate lags a growing queue) means
    # the reply will be pushed anyway, so acknowledge now rather than at the deadline
    hopeless = 2 * account.gate.expected_s() > remaining
    ticket = Ticket(message.source, passive=not hopeless)
    turn = asyncio.ensure_future(_answer(app, message.source, message.time, action, key, ticket))
    try:
        await asyncio.wait({turn}, timeout=0 if hopeless else max(0.0, remaining))
    except asyncio.CancelledError:  # WeChat hung up: the reply still goes out
        ticket.passive = False
        _push_later(app, turn, row_id, message.source, message.time)
        raise
    if not turn.done():
        ticket.passive = False  # pushed: turns that can still answer passively go first
        _push_later(app, turn, row_id, message.source, message.time)
        return None
    text = turn.result()
    await account.db(_record, store, row_id, text, InboundStatus.DELIVERED)
    return text or None


async def _retried(account: OfficialAccount, store: Store, row: InboundMessage) -> str | None:
    """WeChat asks again: hand over a stored reply nobody is sending, once; otherwise `success`."""
    if row.status == InboundStatus.ANSWERED and row.id is not None and await account.db(
        _move, store, row.id, InboundStatus.ANSWERED, InboundStatus.DELIVERED,
    ):
        return str((row.reply or {}).get("text") or "") or None
    return None  # still processing or being pushed (here or on another replica), delivered, or failed


async def _answer(
    app: web.Application, openid: str, sent_at: float, action: Ask | Listen, key: str, ticket: Ticket,
) -> str:
    """Run the agent once; the rendered text ("" when staff hold the conversation)."""
    try:
        if isinstance(action, Listen):
            heard = await _listen(app, action)
            if heard is None:
                return NOT_HEARD
            action = heard
        inbound = Inbound(
            channel=CHANNEL, user_id=openid, text=action.text, transcript=action.transcript,
            at=dt.datetime.fromtimestamp(sent_at, tz=SHANGHAI), message_id=key,
        )
        reply = await app[WECHAT].gate.run(lambda: app[keys.AGENT].respond(inbound), ticket)
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


def _push_later(app: web.Application, turn: asyncio.Future[str], row_id: int, openid: str, sent_at: float) -> None:
    account = app[WECHAT]
    account.busy.add(row_id)
    account.pushing.add(row_id)
    app[keys.DELIVERIES].spawn(_deliver(app, turn, row_id, openid, sent_at), name=f"wechat:{row_id}")


async def _deliver(app: web.Application, turn: asyncio.Future[str], row_id: int, openid: str, sent_at: float) -> None:
    """The reply as a 客服消息, once the agent has finished."""
    account, store = app[WECHAT], app[keys.STORE]
    try:
        text = await turn
        # PUSHING: held by this sender, so a WeChat retry arriving now says `success`
        await account.db(_record, store, row_id, text, InboundStatus.PUSHING if text else InboundStatus.DELIVERED)
        if text:
            await _push(app, row_id, openid, text, sent_at, account.retry)
    finally:
        account.pushing.discard(row_id)
        account.busy.discard(row_id)


async def _push(app: web.Application, row_id: int, openid: str, text: str, sent_at: float, policy: RetryPolicy) -> None:
    """Push a reply this sender holds (PUSHING): DELIVERED, FAILED when it can never arrive
    (window closed), or ANSWERED — queued for the next sweep — when WeChat is failing or
    throttling now."""
    account, store = app[WECHAT], app[keys.STORE]
    if account.client is None or app[keys.CLOCK]().timestamp() - sent_at > CUSTOMER_SERVICE_WINDOW_S:
        await account.db(_mark, store, row_id, InboundStatus.FAILED, None)
        return
    outcome = await push_text(
        account.client, openid, text, policy=policy, off_loop=account.call,
        still_due=functools.partial(account.db, _move, store, row_id, InboundStatus.ANSWERED, InboundStatus.PUSHING),
        release=functools.partial(account.db, _move, store, row_id, InboundStatus.PUSHING, InboundStatus.ANSWERED),
    )
    if outcome.sent:
        await account.db(_mark, store, row_id, InboundStatus.DELIVERED, outcome.attempts)
    elif outcome.errcode in UNDELIVERABLE:
        await account.db(_mark, store, row_id, InboundStatus.FAILED, outcome.attempts)
    else:
        log.warning("wechat: reply %s queued after %d attempts (errcode %s)", row_id, outcome.attempts, outcome.errcode)
        await account.db(_mark, store, row_id, InboundStatus.ANSWERED, outcome.attempts)


# ---------------------------------------------------------------------------- after a crash


async def _sweep_forever(app: web.Application) -> None:
    account = app[WECHAT]
    await app[keys.AGENT_READY].wait()  # orphans are answered by the agent: wait for it to load
    while True:
        try:
            await sweep(app)
        except Exception as exc:  # the database away for a moment: the next sweep tries again
            log.warning("wechat: sweep failed: %s", type(exc).__name__)
        await asyncio.sleep(account.sweep_every_s)


async def sweep(app: web.Application) -> int:
    """Answer or push every accepted message nobody is working on; returns how many were taken."""
    account, store = app[WECHAT], app[keys.STORE]
    taken = 0
    for row in await account.db(_open_rows, store):
        if row.id is None or not account.orphaned(row) or not await account.db(_take, store, row):
            continue
        taken += 1
        account.busy.add(row.id)
        account.pushing.add(row.id)
        app[keys.DELIVERIES].spawn(_resume(app, row), name=f"wechat:resume:{row.id}")
    return taken


async def _resume(app: web.Application, row: InboundMessage) -> None:
    account, store = app[WECHAT], app[keys.STORE]
    assert row.id is not None
    sent_at = _utc(row.received_at).timestamp()
    try:
        if row.status == InboundStatus.RECEIVED:
            done = await account.db(_committed, store, row)
            if done is None:
                said = store.vault.decrypt(row.text_enc) if row.text_enc else None
                done = await _answer(app, row.user_id, sent_at, Ask(said), row.message_key,
                                     Ticket(row.user_id, passive=False)) if said else NOT_HEARD
            status = InboundStatus.PUSHING if done else InboundStatus.DELIVERED
            await account.db(_record, store, row.id, done, status)
            text, held = done, bool(done)
        else:  # ANSWERED (queued), or PUSHING by a sender that died: `_take` made it ours
            text = str((row.reply or {}).get("text") or "")
            held = row.status == InboundStatus.PUSHING or await account.db(
                _move, store, row.id, InboundStatus.ANSWERED, InboundStatus.PUSHING,
            )  # held first, so a WeChat retry arriving meanwhile does not also take it passively
        if text and held:
            await _push(app, row.id, row.user_id, text, sent_at, RetryPolicy(attempts=1))
    finally:
        account.pushing.discard(row.id)
        account.busy.discard(row.id)


# ---------------------------------------------------------------------------- storage (off the loop)


def _admit(nonces: NonceBook, signed: _Signed, session: Session | None) -> bool:
    return nonces.admit(NONCES, signed.timestamp, signed.nonce, signed.body, time.time(), session=session)


def _accept(
    store: Store, nonces: NonceBook, signed: _Signed, key: str, openid: str, text: str | None, kind: str,
) -> tuple[InboundMessage, bool]:
    """The signed URL admitted and the message stored, in one transaction: a replay stores nothing."""
    with store.session(actor=f"resident:wechat:{openid[-6:]}") as session:
        if not _admit(nonces, signed, session):
            raise Refused("a signed URL used again with another body (replay)")
        return accept(session, store.vault, channel=CHANNEL, message_key=key, user_id=openid, text=text, kind=kind)


def _record(store: Store, row_id: int, text: str, status: InboundStatus) -> None:
    with store.session(actor="system:wechat") as session:
        record_reply(session, row_id, {"text": text}, delivered=status == InboundStatus.DELIVERED, status=status)


def _mark(store: Store, row_id: int, status: InboundStatus, attempts: int | None) -> None:
    with store.session(actor="system:wechat") as session:
        mark(session, row_id, status, attempts=attempts)


def _move(store: Store, row_id: int, before: InboundStatus, after: InboundStatus) -> bool:
    """before → after, only if still `before`: of concurrent senders exactly one wins."""
    with store.session(actor="system:wechat") as session:
        result = session.execute(
            update(InboundMessage)
            .where(col(InboundMessage.id) == row_id, col(InboundMessage.status) == before)
            .values(status=after)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _utc(at: dt.datetime) -> dt.datetime:
    """Stored times are UTC; SQLite gives them back without a zone."""
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def _open_rows(store: Store) -> list[InboundMessage]:
    """Accepted and not finished, within WeChat's 48-hour window, oldest first."""
    since = utcnow() - dt.timedelta(seconds=CUSTOMER_SERVICE_WINDOW_S)
    with store.read_session() as session:
        return list(session.exec(
            select(InboundMessage).where(
                InboundMessage.channel == CHANNEL,
                col(InboundMessage.status).in_(
                    [InboundStatus.RECEIVED, InboundStatus.ANSWERED, InboundStatus.PUSHING]),
                col(InboundMessage.received_at) >= since,
            ).order_by(col(InboundMessage.received_at)).limit(200)
        ))


def _take(store: Store, row: InboundMessage) -> bool:
    """Claim a row for recovery: of several replicas sweeping at once, one wins."""
    with store.session(actor="system:wechat") as session:
        result = session.execute(
            update(InboundMessage)
            .where(col(InboundMessage.id) == row.id, col(InboundMessage.status) == row.status,
                   col(InboundMessage.attempts) == row.attempts)
            .values(attempts=row.attempts + 1)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _committed(store: Store, row: InboundMessage) -> str | None:
    """The reply of a turn that had committed before the crash, or None if it had not."""
    with store.read_session() as session:
        return committed_reply(session, store.vault, channel=CHANNEL, message_key=row.message_key)
