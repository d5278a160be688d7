"""The SMS channel: `/sms/aliyun` and `/sms/tencent` webhooks, the turn, the send.

A push is authorised (token or allow-list, else 403 before the body is read), parsed whole
(400 when malformed), and every message stored — deduplicated on the gateway's id, since
gateways retry — before the gateway gets its documented ack. The agent runs afterwards in a
background delivery; its reply becomes one approved template, counted in segments against
the number's daily budget, and goes out through the configured sender. Across replicas the
budget is one database row per number and day (memory.sms_budget: exact), and a number's
messages are answered in the order they arrived (`_in_turn`: earlier rows first).

Message states (memory.inbound): RECEIVED → ANSWERED (template chosen, send under way) →
DELIVERED; FAILED when the gateway refused or the daily budget was spent (kept for staff).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiohttp import web
from sqlmodel import Session, col, select

from tongban.agent.messages import Inbound
from tongban.channels.app import delivery, keys
from tongban.channels.app.jsonio import json_response
from tongban.channels.app.ratelimit import GATEWAY
from tongban.channels.sms.compose import Choice, choose
from tongban.channels.sms.menu import interpret
from tongban.channels.sms.senders import Sender, Sent, make_sender
from tongban.channels.sms.settings import SmsSettings, get_sms_settings
from tongban.channels.sms.templates import Rendered, Template, TemplateError, registry, render
from tongban.channels.sms.wire import (
    SHANGHAI,
    TOKEN_HEADER,
    Incoming,
    Malformed,
    authorised,
    parse_aliyun,
    parse_tencent,
)
from tongban.memory import sms_budget
from tongban.memory.inbound import accept, mark, record_reply
from tongban.memory.models import InboundMessage, InboundStatus, utcnow
from tongban.memory.pii import mask_phone
from tongban.memory.residents import Identity
from tongban.memory.store import Store

log = logging.getLogger(__name__)

CHANNEL = "sms"
T = TypeVar("T")
ACKS = {
    "aliyun": ({"code": 0, "msg": "成功"}, lambda why: {"code": 1, "msg": f"请求格式错误：{why}"}),
    "tencent": ({"result": 0, "errmsg": "OK"}, lambda why: {"result": 1, "errmsg": f"malformed: {why}"}),
}
PARSERS: dict[str, Callable[[bytes], list[Incoming]]] = {"aliyun": parse_aliyun, "tencent": parse_tencent}


class SmsChannel:
    """The channel's state, filled at start-up: settings, templates, sender, pools, locks.

    Database work gets its own small pool so acknowledgements never wait behind agent turns;
    gateway calls another, since they can wait seconds on the network.
    """

    def __init__(self) -> None:
        self.settings = SmsSettings()
        self.templates: dict[str, Template] = {}
        self.sender: Sender | None = None
        self.clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(SHANGHAI)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._db: ThreadPoolExecutor | None = None
        self._api: ThreadPoolExecutor | None = None

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        self.settings = app.get(SMS_SETTINGS) or get_sms_settings()
        self.templates = registry(self.settings.sms_templates, variable_limit=self.settings.sms_variable_limit)
        self.sender = self.sender or make_sender(self.settings)
        self.clock = lambda: app[keys.CLOCK]()
        # warn only about what an operator configured and left broken; untouched, SMS is just off
        inbound = self.settings.sms_webhook_token is not None or bool(self.settings.sms_allowed_ips)
        outbound = self.settings.sms_provider != "console"
        if outbound and not inbound:
            log.warning("sms: a gateway is configured but no webhook token or allowed IPs: every push is refused")
        elif inbound and not outbound and self.settings.env == "production":
            log.warning("sms: no gateway configured (TONGBAN_SMS_PROVIDER): replies are only logged")
        elif not inbound:
            log.info("sms: off (set TONGBAN_SMS_WEBHOOK_TOKEN or TONGBAN_SMS_ALLOWED_IPS and a gateway to turn it on)")
        self._db = ThreadPoolExecutor(2, thread_name_prefix="sms-db")
        self._api = ThreadPoolExecutor(4, thread_name_prefix="sms-api")
        yield
        await app[keys.DELIVERIES].drain()  # sends in flight still need the pools
        self._db.shutdown(wait=True)
        self._api.shutdown(wait=True)

    def lock(self, phone: str) -> asyncio.Lock:
        """One number's messages run one at a time, first in first out; unused locks go away."""
        lock = self._locks.get(phone)
        if lock is None:
            lock = self._locks[phone] = asyncio.Lock()
        return lock

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._db is not None
        return await asyncio.get_running_loop().run_in_executor(self._db, functools.partial(fn, *args))

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._api is not None
        return await asyncio.get_running_loop().run_in_executor(self._api, functools.partial(fn, *args))


SMS = web.AppKey("sms", SmsChannel)
SMS_SETTINGS = web.AppKey("sms_settings", SmsSettings)  # tests and embedders set it before start


def setup(app: web.Application) -> None:
    channel = SmsChannel()
    app[SMS] = channel
    app.cleanup_ctx.append(channel.context)
    delivery.register(app, SmsOutput(app))
    app[keys.RATE_LIMITS].limit("/sms/", GATEWAY)  # per sending number in `receive`
    app.router.add_post("/sms/aliyun", functools.partial(receive, provider="aliyun"))
    app.router.add_post("/sms/tencent", functools.partial(receive, provider="tencent"))


# ---------------------------------------------------------------------------- the webhook


async def receive(request: web.Request, *, provider: str) -> web.Response:
    channel = request.app[SMS]
    if not authorised(channel.settings, remote=request.remote, header=request.headers.get(TOKEN_HEADER),
                      query=request.query.get("token")):
        log.warning("sms/%s: refused a push from %s", provider, request.remote)
        raise web.HTTPForbidden()
    ok, malformed = ACKS[provider]
    try:
        messages = PARSERS[provider](await request.read())
    except Malformed as exc:
        log.warning("sms/%s: malformed push: %s", provider, exc)
        return json_response(malformed(str(exc)), status=400)
    store = request.app[keys.STORE]
    fresh = await channel.db(_accept_all, store, messages)
    for incoming, row_id in fresh:  # spawned in arrival order; the per-number lock keeps it
        if not await request.app[keys.RATE_LIMITS].allow("chat", f"sms:{incoming.phone}"):
            await channel.db(_flooded, store, row_id)  # a flood spends no turns and no SMS budget
            continue
        request.app[keys.DELIVERIES].spawn(_answer(request.app, incoming, row_id), name=f"sms:{incoming.key}")
    return json_response(ok)


# ---------------------------------------------------------------------------- the turn


async def _answer(app: web.Application, incoming: Incoming, row_id: int) -> None:
    """One message, start to finish; messages of one number run one at a time, in order."""
    channel, store = app[SMS], app[keys.STORE]
    async with channel.lock(incoming.phone):
        await _in_turn(channel, store, incoming.phone, row_id)
        day = _today(channel)
        if await channel.db(_budget_left, store, incoming.phone, row_id, day, channel.settings) <= 0:
            # a runaway conversation: the agent does not run either (no unseen bookings)
            await channel.db(_hold, store, row_id, {"template": None, "day": day})
            log.warning("sms: daily budget spent for %s; message kept for staff", mask_phone(incoming.phone))
            return
        last = await channel.db(_last_template, store, incoming.phone, row_id)
        turn = interpret(incoming.text, last_template=last)
        choice: Choice | None = Choice(turn.template, {}) if turn.template else None
        if turn.text is not None:
            choice = await _ask_agent(app, incoming, turn.text)
        if choice is None:  # staff hold the conversation: the bot stays silent
            await channel.db(_record, store, row_id, {"template": None}, InboundStatus.DELIVERED)
            return
        await _deliver(channel, store, incoming.phone, row_id, _render(channel, choice))


async def _ask_agent(app: web.Application, incoming: Incoming, text: str) -> Choice | None:
    try:
        reply = await app[keys.AGENT].respond(Inbound(
            channel=CHANNEL, user_id=incoming.phone, text=text, at=incoming.at, message_id=incoming.key,
            identity=Identity(phone=incoming.phone),  # the network proved the sending number
        ))
    except Exception:
        log.exception("sms: turn failed for message %s", incoming.key)
        return Choice("fallback", {})
    channel_settings = app[keys.SETTINGS]
    return choose(reply, public_url=app[SMS].settings.public_url(channel_settings.host, channel_settings.port),
                  now=incoming.at or app[keys.CLOCK]())


def _render(channel: SmsChannel, choice: Choice) -> Rendered:
    try:
        return render(channel.templates, choice.key, choice.values)
    except (TemplateError, KeyError) as exc:  # never free text: the fallback template instead
        log.warning("sms: template %s not usable (%s): sending the fallback", choice.key, exc)
        return render(channel.templates, "fallback")


class SmsOutput:
    """Staff messages to an SMS resident: free text never leaves, so they get `staff_notice`.

    The staff's words stay in the transcript; the resident learns that staff answered and how
    to reach them. The notice counts against the same daily budget as replies. Staff joining
    costs no SMS of its own: it rides on their first reply (`staff_joined`), one paid message
    where two would say the same.
    """

    name = CHANNEL

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self._joined: dict[str, str] = {}  # phone → the staff member who took it, not yet told

    async def send_message(self, recipient: str, text: str, *, role: str = "staff",
                           staff_name: str | None = None, status: str | None = None) -> None:
        if role == "system" and status == "claimed":
            self._joined[recipient] = staff_name or ""  # told with the first reply
            return
        if role == "staff" and recipient in self._joined:
            staff = self._joined.pop(recipient)
            await self._send(recipient, "staff_joined", {"staff": staff or "值班人员"})
            return
        if status == "closed":
            self._joined.pop(recipient, None)
        await self._send(recipient, "staff_notice", {})

    async def send_text(self, recipient: str, text: str) -> None:
        await self._send(recipient, "staff_notice", {})

    async def _send(self, recipient: str, key: str, values: dict[str, str]) -> None:
        channel, store = self.app[SMS], self.app[keys.STORE]
        async with channel.lock(recipient):
            row_id = await channel.db(_accept_notice, store, recipient)
            await _in_turn(channel, store, recipient, row_id)
            if not await _deliver(channel, store, recipient, row_id, render(channel.templates, key, values)):
                raise delivery.NotDelivered("SMS budget spent or the gateway refused")


async def _deliver(channel: SmsChannel, store: Store, phone: str, row_id: int, message: Rendered) -> bool:
    """Within today's budget, send; the row says what was sent, or why it was kept for staff."""
    settings = channel.settings
    count = message.segments(settings.sms_sign_name)
    day = _today(channel)
    record = {
        "template": message.key, "code": message.template.code, "segments": count, "day": day,
        # the variables may hold receipt numbers and codes: encrypted like the message itself
        "variables": store.vault.encrypt(json.dumps(message.variables, ensure_ascii=False)),
    }
    log.info("sms: %s to %s, %d segment(s)", message.key, mask_phone(phone), count)
    if not await channel.db(_reserve, store, phone, row_id, record, settings):
        log.warning("sms: daily budget spent for %s; reply %s kept for staff", mask_phone(phone), message.key)
        return False
    sent, attempts = Sent(ok=False, error="not sent"), 0
    assert channel.sender is not None
    while attempts < settings.sms_send_attempts:
        attempts += 1
        try:
            sent = await channel.call(channel.sender.send, phone, message)
            break
        except Exception as exc:  # the network or the SDK: try again, then give up
            log.warning("sms: send attempt %d to %s failed: %r", attempts, mask_phone(phone), exc)
            sent = Sent(ok=False, error=type(exc).__name__)
    if not sent.ok:
        log.error("sms: %s to %s refused: %s", message.key, mask_phone(phone), sent.error)
    status = InboundStatus.DELIVERED if sent.ok else InboundStatus.FAILED
    await channel.db(_sent, store, phone, row_id, {**record, "reference": sent.reference, "error": sent.error}, status,
                     attempts, settings)
    return sent.ok


# ---------------------------------------------------------------------------- storage (off the loop)


def _today(channel: SmsChannel) -> str:
    return channel.clock().astimezone(SHANGHAI).date().isoformat()


def _user(store: Store, phone: str) -> str:
    """Rows are keyed by the phone's blind index: look-ups work, the number is not stored plain."""
    return store.vault.blind_index("phone", phone) or ""


def _accept_all(store: Store, messages: list[Incoming]) -> list[tuple[Incoming, int]]:
    """One transaction for the whole push: durable before the ack, or not at all."""
    fresh = []
    with store.session(actor="channel:sms") as session:
        for incoming in messages:
            row, new = accept(session, store.vault, channel=CHANNEL, message_key=incoming.key,
                              user_id=_user(store, incoming.phone), text=incoming.text)
            if new and row.id is not None:
                fresh.append((incoming, row.id))
    return fresh


def _accept_notice(store: Store, phone: str) -> int:
    """An outbound notice gets a row too, so the daily budget and staff see every send."""
    with store.session(actor="channel:sms") as session:
        row, _ = accept(session, store.vault, channel=CHANNEL, message_key=f"notice:{uuid.uuid4().hex}",
                        user_id=_user(store, phone), text=None, kind="notice")
        assert row.id is not None
        return row.id


def _last_template(store: Store, phone: str, row_id: int) -> str | None:
    with store.read_session() as session:
        reply = session.exec(
            select(InboundMessage.reply)
            .where(InboundMessage.channel == CHANNEL, InboundMessage.user_id == _user(store, phone),
                   col(InboundMessage.id) != row_id, col(InboundMessage.reply).is_not(None))
            .order_by(col(InboundMessage.id).desc())
            .limit(1)
        ).first()
    return (reply or {}).get("template")


def _cost(record: dict[str, Any], settings: SmsSettings) -> int:
    return int(record["segments"]) if settings.sms_budget_unit == "segments" else 1


def _budget_left(store: Store, phone: str, row_id: int, day: str, settings: SmsSettings) -> int:
    with store.read_session() as session:
        return settings.sms_daily_budget - sms_budget.used(session, _user(store, phone), day)


def _reserve(store: Store, phone: str, row_id: int, record: dict[str, Any], settings: SmsSettings) -> bool:
    """Reserve this send if it fits today's budget (one guarded UPDATE, exact across replicas);
    else hold it for staff."""
    with store.session(actor="channel:sms") as session:
        if not sms_budget.take(session, _user(store, phone), record["day"], _cost(record, settings),
                               settings.sms_daily_budget):
            _held(session, row_id, record)
            return False
        record_reply(session, row_id, record, delivered=False)  # ANSWERED: sending
        return True


def _earlier_unsettled(store: Store, phone: str, row_id: int, since: dt.datetime) -> bool:
    """Is an earlier message of this number still being answered (on any replica)?"""
    with store.read_session() as session:
        return session.exec(
            select(InboundMessage.id)
            .where(InboundMessage.channel == CHANNEL, InboundMessage.user_id == _user(store, phone),
                   col(InboundMessage.id) < row_id,
                   col(InboundMessage.status).in_([InboundStatus.RECEIVED, InboundStatus.ANSWERED]),
                   col(InboundMessage.received_at) >= since)
            .limit(1)
        ).first() is not None


async def _in_turn(channel: SmsChannel, store: Store, phone: str, row_id: int) -> None:
    """Wait until this number's earlier messages are answered, whichever replica took them.

    Gateways spread one number's messages over replicas; the row ids give their order. A row
    left unanswered by a replica that died stops counting after `sms_order_wait_s`.
    """
    wait = channel.settings.sms_order_wait_s
    since = utcnow() - dt.timedelta(seconds=wait)
    deadline = asyncio.get_running_loop().time() + wait
    while await channel.db(_earlier_unsettled, store, phone, row_id, since):
        if asyncio.get_running_loop().time() >= deadline:
            log.warning("sms: an earlier message of %s is still unanswered; going on", mask_phone(phone))
            return
        await asyncio.sleep(0.1)


def _flooded(store: Store, row_id: int) -> None:
    """Past the number's rate limit: kept for staff, not answered."""
    with store.session(actor="channel:sms") as session:
        record_reply(session, row_id, {"held": "rate_limited"}, delivered=False)
        mark(session, row_id, InboundStatus.FAILED)


def _hold(store: Store, row_id: int, record: dict[str, Any]) -> None:
    with store.session(actor="channel:sms") as session:
        _held(session, row_id, record)


def _held(session: Session, row_id: int, record: dict[str, Any]) -> None:
    record_reply(session, row_id, {**record, "held": "daily_budget"}, delivered=False)
    mark(session, row_id, InboundStatus.FAILED)


def _sent(store: Store, phone: str, row_id: int, record: dict[str, Any], status: InboundStatus, attempts: int,
          settings: SmsSettings) -> None:
    with store.session(actor="channel:sms") as session:
        if status != InboundStatus.DELIVERED:  # refused by the gateway: not spent
            sms_budget.give_back(session, _user(store, phone), record["day"], _cost(record, settings))
        record_reply(session, row_id, record, delivered=status == InboundStatus.DELIVERED)
        mark(session, row_id, status, attempts=attempts)


def _record(store: Store, row_id: int, record: dict[str, Any], status: InboundStatus) -> None:
    with store.session(actor="channel:sms") as session:
        record_reply(session, row_id, record, delivered=status == InboundStatus.DELIVERED)

