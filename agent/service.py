"""The one entry point every channel uses: `Agent.respond(Inbound) -> Reply`.

A turn resolves the resident, appends the message to the transcript staff read
(`memory.transcripts`), stays silent while staff hold the conversation, runs the graph on the
resident's thread (resuming it when it waits for a confirmation) and returns the reply.
Messages of one resident are processed one at a time, in arrival order; on PostgreSQL an
advisory lock extends that across replicas.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from tongban.agent import elderly as elderly_mode
from tongban.agent.brains.base import Brain, BrainContext
from tongban.agent.brains.naming import ItemTerms
from tongban.agent.brains.offline import OfflineBrain
from tongban.agent.brains.slots import HallRef, warm_up
from tongban.agent.graph import build_graph
from tongban.agent.interface import Reviewed, Said, Upload
from tongban.agent.messages import AI_LABEL, Inbound, Reply, ToolCall, clip_text
from tongban.agent.metrics import HANDOFFS, TURN_SECONDS, TURNS
from tongban.agent.runtime import TurnRuntime
from tongban.agent.state import RESET
from tongban.agent.toolbox import ToolContext
from tongban.agent.uploads import review_upload
from tongban.memory import transcripts
from tongban.memory.checkpoints import AfterCommit, make_checkpointer
from tongban.memory.clock import SHANGHAI, Clock, system_clock
from tongban.memory.db import is_postgres
from tongban.memory.models import Hall, Resident, ServiceItem, TranscriptRole
from tongban.memory.pii import mask_phone, mask_text
from tongban.memory.residents import find, resolve
from tongban.memory.store import Store
from tongban.tools.detail import DetailCache
from tongban.tools.handoff import after_hours_notice, mark_notified, open_handoff
from tongban.tools.kb.index import KnowledgeIndex, get_knowledge
from tongban.tools.places import catalog_region
from tongban.tools.services import ServiceIndex, catalog_fingerprint, get_index, local_catalog_edits

log = logging.getLogger(__name__)
CHOICES = "elderly_choices"  # resident.memory: the choices the last elderly-mode reply numbered

# how often item terms are checked against edits by other processes (this one's are seen at once)
TERMS_CHECK_S = 1.0


class Agent:
    def __init__(
        self,
        store: Store,
        *,
        brain: Brain | None = None,
        fallback: Brain | None = None,
        clock: Clock = system_clock,
        index: ServiceIndex | None = None,
        checkpointer: BaseCheckpointSaver | None = None,
        knowledge: KnowledgeIndex | None = None,
    ) -> None:
        self.store = store
        self.brain = brain or OfflineBrain()
        self.fallback = fallback
        self.clock = clock
        self.index = index or get_index(store)
        self.knowledge = knowledge or get_knowledge(store)
        # checkpoints are written after the turn's transaction commits, never before (AfterCommit)
        self._checkpoints = AfterCommit(checkpointer or make_checkpointer(store.settings))
        self.graph = build_graph(self._checkpoints)
        self._locks = KeyedLocks()
        self._async_locks = KeyedAsyncLocks()
        self._halls: list[HallRef] | None = None
        self._terms: tuple[Any, ItemTerms] | None = None
        self._item_names: dict[str, str] = {}
        self._region: frozenset[str] = frozenset()
        self._details = DetailCache()  # items' details, per catalog version like the terms
        self._terms_seen: tuple[int, float] = (-1, 0.0)  # local edits and time at the last check
        warm_up()

    # ------------------------------------------------------------------ entry points

    async def respond(self, message: Inbound) -> Reply:
        """Off the event loop: a turn does database and CPU work.

        An asyncio lock per conversation queues its messages first-in first-out, so five
        messages sent at once are answered in the order they arrived.
        """
        async with self._async_locks.hold(f"{message.channel}:{message.user_id}"):
            return await asyncio.to_thread(self.respond_sync, message)

    def respond_sync(self, message: Inbound) -> Reply:
        key = f"{message.channel}:{message.user_id}"
        actor = f"resident:{message.channel}:{_masked(message)}"
        with TURN_SECONDS.time(), self._locks.hold(key), self._replica_lock(key), self._checkpoints.turn(), \
                self.store.session(actor=actor) as session:
            reply = self._turn(session, message)
        TURNS.labels(channel=message.channel, intent=reply.intent or "none").inc()
        if reply.handoff and any(c.name == "handoff" for c in reply.tool_calls):
            HANDOFFS.labels(channel=message.channel).inc()
        return reply

    # ------------------------------------------------------------------ what channels read

    def history(self, channel: str, user_id: str) -> list[Said]:
        """The resident's recent conversation from the transcript: their messages (masked, as the
        checkpoint keeps them), the bot's, staff replies and notices; staff's notes never."""
        with self.store.read_session() as session:
            resident = find(session, self.store.vault, channel=channel, user_id=user_id)
            if resident is None or resident.id is None:
                return []
            entries = transcripts.for_resident(session, self.store.vault, resident.id)
        return [s for s in map(_said, entries) if s]

    def held(self, channel: str, user_id: str) -> str | None:
        """Whether staff hold the resident's conversation: "waiting", "claimed", or None."""
        with self.store.read_session() as session:
            resident = find(session, self.store.vault, channel=channel, user_id=user_id)
            handoff = open_handoff(session, resident.id) if resident and resident.id else None
            return str(handoff.status) if handoff else None

    def focus(self, resident_id: int) -> dict[str, Any]:
        """The conversation's focus from the resident's thread (item, hall, date, receipt number…)."""
        state = self.graph.get_state(_config(resident_id))
        return dict((state.values or {}).get("focus") or {})

    async def review_upload(self, upload: Upload) -> Reviewed:
        """A material reviewed against the conversation's item and filed (agent.uploads)."""
        return await review_upload(self.store, upload, today=self.clock().date(), focus=self.focus)

    def refresh_index(self) -> None:
        self.index.refresh(force=True)

    # ------------------------------------------------------------------ the turn

    def _turn(self, session: Session, message: Inbound) -> Reply:
        now = message.at or self.clock()
        if now.tzinfo is None:
            now = now.replace(tzinfo=SHANGHAI)
        resident = self._resident(session, message)
        said = message  # as written: the transcript keeps it, whatever a numbered choice makes of it
        wants_elderly = elderly_mode.asked(message.text)
        was_elderly = resident.elderly
        if wants_elderly is not None and wants_elderly != was_elderly:
            resident.elderly = wants_elderly  # remembered: every later turn, every channel
            session.add(resident)
        held = open_handoff(session, resident.id or 0)
        if held is not None:  # staff hold the conversation: the bot is silent
            return self._recorded(session, resident.id or 0, said, Reply(text="", handoff=True), held.id)
        if wants_elderly is not None and elderly_mode.only_asked(message.text):
            return self._recorded(session, resident.id or 0, said, Reply(
                text=elderly_mode.acknowledge(wants_elderly, was_elderly), elderly=wants_elderly))
        elderly = resident.elderly or message.transcript is not None
        offered = list((resident.memory or {}).get(CHOICES) or [])
        if elderly and (chosen := elderly_mode.choose(message.text, offered)):
            message = replace(message, text=chosen)  # "2": the second of the choices numbered last turn
        thread_id = _thread(resident.id or 0)
        self._checkpoints.hold(thread_id)
        terms = self._item_terms(session)
        assert self._terms is not None
        runtime = TurnRuntime(
            brain=self.brain,
            fallback=self.fallback,
            brain_ctx=BrainContext(
                index=self.index, halls=self._hall_refs(session), now=now,
                verified=resident.verified, elderly=elderly, memory=dict(resident.memory or {}),
                terms=terms, items=self._item_names, region=self._region,
                knowledge=self.knowledge,
            ),
            tools=ToolContext(
                session=session, vault=self.store.vault, index=self.index, resident=resident,
                requester=f"{message.channel}:{message.user_id}", channel=message.channel, now=now,
                knowledge=self.knowledge,
                details=functools.partial(self._details.get, session, version=self._terms[0]),
            ),
            thread_id=thread_id,
        )
        config: dict[str, Any] = {"configurable": {"thread_id": thread_id}}
        turn = {
            "text": clip_text(message.text), "now": now.isoformat(), "channel": message.channel,
            "message_id": message.message_id, "elderly": elderly,
            "confidence": message.transcript.confidence if message.transcript else None,
            "language": message.transcript.language if message.transcript else None,
        }
        # one checkpoint per turn, written when the run ends or pauses for a confirmation: the
        # turn's database writes commit together at the end too, so both stay in step
        if self._checkpoints.interrupted(config):
            state = self.graph.invoke(Command(resume=turn), config, context=runtime, durability="exit")
        else:
            state = self.graph.invoke(
                {"turn": turn, "plan": RESET, "results": RESET, "steps": 0, "pending": None,
                 "confirmation": None, "reply": {}, "intent": None, "brain": None, "more": False,
                 "placement": None},
                config, context=runtime, durability="exit",
            )
        reply = _reply(state, elderly)
        if reply.handoff:
            reply = _tell_when_staff_answer(session, resident.id or 0, now, reply)
        choices: list[str] = []
        if elderly:
            reply, choices = elderly_mode.plain(reply)
        if choices != offered:
            resident.memory = {**{k: v for k, v in (resident.memory or {}).items() if k != CHOICES},
                               **({CHOICES: choices} if choices else {})}
            session.add(resident)
        return self._recorded(session, resident.id or 0, said, reply)

    def _resident(self, session: Session, message: Inbound) -> Resident:
        """The resident writing, found by the channel's id, or enrolled. A first message enrols
        them in a short transaction of its own, so the turn's one write transaction still comes
        at its end; the turn then reads afresh, past its first look."""
        vault = self.store.vault
        found = find(session, vault, channel=message.channel, user_id=message.user_id)
        if found is None:
            try:
                enrolled = self._enrol(message)
            except IntegrityError:  # enrolled a moment ago by another turn (the same phone, unionid)
                enrolled = self._enrol(message)
            session.commit()  # nothing written yet: only the snapshot that predates the enrolment ends
            found = session.merge(enrolled, load=False)  # as committed: no need to read it back
        return resolve(session, vault, channel=message.channel, user_id=message.user_id,
                       unionid=message.unionid, identity=message.identity, found=found)

    def _enrol(self, message: Inbound) -> Resident:
        with self.store.session(actor=f"resident:{message.channel}:{_masked(message)}") as first:
            return resolve(first, self.store.vault, channel=message.channel, user_id=message.user_id,
                           unionid=message.unionid, identity=message.identity)

    def _recorded(self, session: Session, resident_id: int, said: Inbound, reply: Reply,
                  handoff_id: int | None = None) -> Reply:
        """The turn's lines in the transcript, written last. The bot's is labelled where a model
        wrote it, for staff and for the resident's history."""
        answer = f"{reply.text}\n{AI_LABEL}" if reply.text and reply.ai_generated else reply.text
        transcripts.append_turn(
            session, self.store.vault, resident_id=resident_id, channel=said.channel, said=said.text,
            answer=answer, handoff_id=handoff_id, message_id=said.message_id, audio_ref=said.audio_ref, at=said.at,
        )
        return reply

    def _item_terms(self, session: Session) -> ItemTerms:
        """The catalog's names and keywords, rebuilt when the catalog changes. Checking costs two
        aggregate queries, so a turn checks only after this process edited the catalog or once a
        second (edits by other processes or replicas)."""
        edits, checked = self._terms_seen
        now = time.monotonic()
        if self._terms is not None and edits == local_catalog_edits() and now - checked < TERMS_CHECK_S:
            return self._terms[1]
        self._terms_seen = (local_catalog_edits(), now)
        fingerprint = catalog_fingerprint(session)  # the index's own: also counts this process's edits
        if self._terms is None or self._terms[0] != fingerprint:
            rows = session.exec(select(ServiceItem.code, ServiceItem.name, ServiceItem.keywords,
                                       ServiceItem.department)).all()
            self._terms = (fingerprint, ItemTerms.build([(c, n, list(k)) for c, n, k, _ in rows]))
            self._item_names = {c: n for c, n, _, _ in rows}
            self._region = catalog_region(d for *_, d in rows)
        return self._terms[1]

    def _hall_refs(self, session: Session) -> list[HallRef]:
        if self._halls is None:
            self._halls = [
                HallRef(id=h.id or 0, name=h.name, city=h.city, aliases=tuple(h.aliases),
                        hours=((f"{h.am_open:%H:%M}", f"{h.am_close:%H:%M}"),
                               (f"{h.pm_open:%H:%M}", f"{h.pm_close:%H:%M}")))
                for h in session.exec(select(Hall).order_by(Hall.id))
            ]
        return self._halls

    @contextmanager
    def _replica_lock(self, key: str) -> Iterator[None]:
        """Across replicas: an advisory lock per conversation, held past the commit until the
        checkpoint is written, so the next turn (on any replica) reads both."""
        if not is_postgres(self.store.engine):
            yield
            return
        number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        with self.store.engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": number})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": number})


def _thread(resident_id: int) -> str:
    """A resident's conversation thread: one per resident, whichever channel they write on."""
    return f"resident:{resident_id}"


def _config(resident_id: int) -> dict[str, Any]:
    return {"configurable": {"thread_id": _thread(resident_id)}}


def _said(entry: transcripts.Entry) -> Said | None:
    if not entry.text:
        return None
    at = (entry.at if entry.at.tzinfo else entry.at.replace(tzinfo=dt.UTC)).isoformat()
    if entry.role == TranscriptRole.RESIDENT:
        return Said("resident", mask_text(entry.text), at=at)
    if entry.role == TranscriptRole.BOT:  # the transcript keeps the AI label the resident saw
        ai = entry.text.endswith(f"\n{AI_LABEL}")
        return Said("assistant", entry.text.removesuffix(f"\n{AI_LABEL}"), ai_generated=ai, at=at)
    if entry.role in (TranscriptRole.STAFF, TranscriptRole.SYSTEM):
        return Said(str(entry.role), entry.text, staff_name=entry.staff_name, at=at)
    return None


class KeyedLocks:
    """One lock per conversation, kept only while a turn holds or waits for it: memory stays
    flat however many residents have written (a lock per resident ever seen grew without end)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key) or (threading.Lock(), 0)
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class KeyedAsyncLocks:
    """The event loop's side of `KeyedLocks`: messages of one conversation first-in first-out."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


def _masked(message: Inbound) -> str:
    return mask_phone(message.user_id) if message.channel == "sms" else message.user_id[-6:]


def _tell_when_staff_answer(session: Session, resident_id: int, now: dt.datetime, reply: Reply) -> Reply:
    """Handed off outside staffed hours: say honestly when someone will answer."""
    notice = after_hours_notice(now)
    handoff = open_handoff(session, resident_id)
    if notice is None or handoff is None or not mark_notified(session, handoff.id or 0):
        return reply
    return replace(reply, text=f"{reply.text}\n{notice}" if reply.text else notice)


def _reply(state: dict[str, Any], elderly: bool) -> Reply:
    reply = state.get("reply") or {}
    focus = state.get("focus") or {}
    intent = state.get("intent")
    if intent == "declined":
        intent = None
    elif intent in ("change_appointment", "repair"):  # changing a booking is booking, to a channel
        intent = "book_appointment"
    item = reply.get("item")
    if item is None and intent in ("service_lookup", "book_appointment", "cancel_appointment"):
        item = (focus.get("item") or {}).get("name")
    return Reply(
        text=reply.get("text", ""),
        intent=intent,  # type: ignore[arg-type]
        item=item,
        quick_replies=reply.get("quick_replies", []),
        cards=reply.get("cards", []),
        tool_calls=[
            ToolCall(name=r["name"], args=r.get("args", {}), status=_status(r["status"]),
                     result=r.get("error") or r["status"])
            for r in state.get("results", [])
        ],
        handoff=bool(reply.get("handoff")),
        ai_generated=bool(reply.get("ai_generated")),
        elderly=elderly,
        citations=list(reply.get("citations") or []),
    )


def _status(status: str) -> str:
    return {"success": "success", "needs_confirmation": "refused", "refused": "refused"}.get(status, "error")


def shared_index(store: Store) -> ServiceIndex:
    """One index for many stores holding the same catalog (evaluation cases), cached on disk
    beside the default database and keyed by catalog and model, so runs reuse it."""
    from tongban.memory.settings import get_memory_settings
    from tongban.tools.settings import ToolsSettings

    settings = ToolsSettings(index_dir=get_memory_settings().data_dir / "index")
    return ServiceIndex(store, settings, check_interval=float("inf"))


def shared_knowledge(store: Store) -> KnowledgeIndex:
    """Like `shared_index`, for the knowledge base the evaluation imported into every case."""
    from tongban.memory.settings import get_memory_settings
    from tongban.tools.settings import ToolsSettings

    settings = ToolsSettings(index_dir=get_memory_settings().data_dir / "index")
    return KnowledgeIndex(store, settings, check_interval=float("inf"))


def make_agent(
    store: Store, *, clock: Clock = system_clock, brain: str = "offline", index: ServiceIndex | None = None,
    knowledge: KnowledgeIndex | None = None,
) -> Agent:
    """The agent as configuration describes it (also what `tongban eval` builds per case)."""
    if brain == "llm":
        from tongban.agent.brains.llm import LLMBrain

        return Agent(store, brain=LLMBrain.from_settings(), fallback=OfflineBrain(), clock=clock, index=index,
                     knowledge=knowledge)
    return Agent(store, clock=clock, index=index, knowledge=knowledge)
