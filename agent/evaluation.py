"""Scripted conversations scored against what the agent said and what it wrote.

Implements `/shared/eval/FORMAT.md` (`tongban eval`). Every case runs on its own copy of
a demo database built once per `now` date, so cases share nothing yet cost milliseconds.
Checks read the database itself (appointments) rather than trusting the reply text.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from tongban.agent.messages import Inbound, Intent, Reply, Transcript
from tongban.memory.applications import ApplicantIn, ApplicationIn, add_application
from tongban.memory.booking import BookingError, active_appointments, book, choose_slot
from tongban.memory.clock import SHANGHAI
from tongban.memory.models import (
    Application,
    ApplicationEvent,
    Appointment,
    AppointmentStatus,
    Hall,
    HallItem,
    ServiceItem,
    Slot,
)
from tongban.memory.pii import normalise_phone
from tongban.memory.residents import Identity, find, resolve
from tongban.memory.settings import MemorySettings
from tongban.memory.store import Store

DEFAULT_NOW = dt.datetime(2026, 11, 24, 9, 30, tzinfo=SHANGHAI)
EVAL_SECRET = "tongban-evaluation-secret-key"  # throwaway databases; never a deployment's key


class AgentLike(Protocol):
    def respond_sync(self, message: Inbound) -> Reply: ...


AgentFactory = Callable[[Store, dt.datetime], AgentLike]
Transcribe = Callable[[Path], tuple[str, Transcript]]


# ---------------------------------------------------------------- the file format


class _Model(BaseModel):
    # unknown annotations (notes, tags) are tolerated; only `expect` is closed
    model_config = ConfigDict(extra="ignore")


class Profile(ApplicantIn):
    """A case user's verified identity: validated like an applicant's, the name optional."""

    model_config = ConfigDict(extra="ignore")
    name: str | None = None  # type: ignore[assignment]
    elderly: bool = False

    def identity(self) -> Identity:
        return Identity(name=self.name, phone=self.phone, id_number=self.id_number)


class User(_Model):
    channel: Literal["wechat", "miniprogram", "web", "sms"] = "wechat"
    id: str | None = Field(default=None, min_length=1)
    profile: Profile | None = None

    @model_validator(mode="after")
    def _sms_id_is_a_phone(self) -> User:
        if self.channel == "sms" and self.id:
            self.id = normalise_phone(self.id)
        return self


class AppointmentIn(_Model):
    item: str
    hall: str
    date: dt.date
    period: Literal["上午", "下午"]


class Setup(_Model):
    applications: list[ApplicationIn] = []
    appointments: list[AppointmentIn] = []


class BookingExpect(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: str | None = None
    hall: str | None = None
    date: dt.date | None = None
    period: Literal["上午", "下午"] | None = None


class ProgressExpect(BaseModel):
    """FORMAT.md checks only that the status text appears; sets give it with its receipt number
    or alone (`"progress": "审核中"`)."""

    model_config = ConfigDict(extra="forbid")
    receipt_no: str | None = None
    status: str = Field(min_length=1)


class Expect(BaseModel):
    """The closed table of FORMAT.md: a misspelt key must not silently pass."""

    model_config = ConfigDict(extra="forbid")
    intent: Intent | None = None
    item: str | None = None
    items_any: list[str] | None = Field(default=None, min_length=1)
    booking: BookingExpect | None = None
    no_booking: bool | None = None
    active_appointments: int | None = Field(default=None, ge=0)
    progress: ProgressExpect | None = None
    disclosed: bool | None = None
    handoff: bool | None = None
    reply_contains: list[str] | None = None
    reply_excludes: list[str] | None = None
    cites: list[str] | None = Field(default=None, min_length=1)

    @field_validator("reply_contains", "reply_excludes", "cites", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("progress", mode="before")
    @classmethod
    def _status_alone(cls, value: Any) -> Any:
        return {"status": value} if isinstance(value, str) else value


class Voice(_Model):
    file: str


class Turn(_Model):
    say: str | None = None
    voice: Voice | None = None
    expect: Expect = Expect()

    @model_validator(mode="after")
    def _one_input(self) -> Turn:
        if (self.say is None) == (self.voice is None):
            raise ValueError("a turn needs exactly one of `say` or `voice`")
        return self


class Case(_Model):
    id: str = Field(min_length=1)
    now: dt.datetime = DEFAULT_NOW
    user: User = User()
    setup: Setup = Setup()
    turns: list[Turn] = Field(min_length=1)
    line: int = 0  # where the case starts in its file, for reports

    @field_validator("now")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        return value.replace(tzinfo=SHANGHAI) if value.tzinfo is None else value

    @property
    def channel(self) -> str:
        return self.user.channel

    @property
    def user_id(self) -> str:
        """The channel id: given, else derived from the case id (a phone number for SMS)."""
        if self.user.id:
            return self.user.id
        if self.channel == "sms":
            if self.user.profile and self.user.profile.phone:
                return self.user.profile.phone
            digits = int(hashlib.sha256(self.id.encode()).hexdigest(), 16) % 10**8
            return f"139{digits:08d}"
        return f"eval-{self.id}"

    @property
    def identity(self) -> Identity | None:
        return self.user.profile.identity() if self.user.profile else None


@dataclass(frozen=True)
class LoadError:
    line: int
    message: str


def load_cases(path: Path) -> tuple[list[Case], list[LoadError]]:
    """Parse a JSONL file; malformed lines are reported, never fatal to the others."""
    cases: list[Case] = []
    errors: list[LoadError] = []
    seen: dict[str, int] = {}
    text = Path(path).read_text(encoding="utf-8-sig")
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(LoadError(number, f"invalid JSON: {exc.msg} (column {exc.colno})"))
            continue
        if not isinstance(data, dict):
            errors.append(LoadError(number, "a case must be a JSON object"))
            continue
        try:
            case = Case.model_validate({**data, "line": number})
        except (ValidationError, ValueError) as exc:
            errors.append(LoadError(number, _validation_message(exc)))
            continue
        if case.id in seen:
            errors.append(
                LoadError(number, f"duplicate id {case.id!r} (first on line {seen[case.id]})")
            )
            continue
        seen[case.id] = number
        cases.append(case)
    return cases, errors


def _validation_message(exc: Exception) -> str:
    if not isinstance(exc, ValidationError):
        return str(exc)
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "case"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


# ---------------------------------------------------------------- results


@dataclass
class Check:
    passed: bool
    expected: Any
    got: Any


@dataclass
class TurnResult:
    case: str
    turn: int  # 1-based, as people count turns
    checks: dict[str, Check] = field(default_factory=dict)
    reply: str = ""
    intent: str | None = None
    item: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    ms: float = 0.0
    citations: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "turn": self.turn,
            "passed": self.passed,
            "checks": {k: dataclasses.asdict(c) for k, c in self.checks.items()},
            "reply": self.reply,
            "intent": self.intent,
            "item": self.item,
            "tool_calls": self.tool_calls,
            "ms": round(self.ms, 3),
            "citations": self.citations,
        }


@dataclass
class EvalResult:
    path: Path
    cases: int = 0
    turns: list[TurnResult] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(t.passed for t in self.turns)

    @property
    def failed(self) -> int:
        return len(self.turns) - self.passed

    @property
    def pass_rate(self) -> float:
        return self.passed / len(self.turns) if self.turns else 0.0

    def by_key(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {}
        for turn in self.turns:
            for key, check in turn.checks.items():
                row = table.setdefault(key, {"passed": 0, "total": 0})
                row["total"] += 1
                row["passed"] += check.passed
        return table

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": {"turns": len(self.turns), "passed": self.passed, "by_key": self.by_key()},
            "turns": [t.to_json() for t in self.turns],
        }


# ---------------------------------------------------------------- databases


def _settings(path: Path) -> MemorySettings:
    return MemorySettings(
        env="test", database_url=f"sqlite:///{path}", data_dir=path.parent, secret_key=EVAL_SECRET
    )


class Templates:
    """One demo database per `now` date, copied per case (initialising costs ~0.5 s, a copy ~2 ms)."""

    def __init__(self, root: Path | None = None, *, catalogs: tuple[Path, ...] = (), kb: list[Path] | None = None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.catalogs = tuple(Path(c) for c in catalogs)
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tongban-eval-")
            root = Path(self._tmp.name)
        self.root = Path(root)
        self._built: dict[dt.date, Path] = {}
        self._cases = 0
        self.kb = KbFiles(kb or [])

    def template(self, today: dt.date) -> Path:
        if today not in self._built:
            path = self.root / "templates" / today.isoformat() / "tongban.db"
            store = Store.from_settings(_settings(path))
            store.initialise(today=today)
            if self.catalogs:
                use_catalogs(store, self.catalogs)
            self.kb.store_into(store)
            store.dispose()
            with sqlite3.connect(path) as connection:  # fold the WAL in: one file to copy
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.close()
            self._built[today] = path
        return self._built[today]

    @contextmanager
    def store(self, today: dt.date) -> Iterator[Store]:
        """A private copy of the template, in its own data dir, removed afterwards."""
        self._cases += 1
        directory = self.root / "cases" / str(self._cases)
        directory.mkdir(parents=True)
        path = directory / "tongban.db"
        shutil.copyfile(self.template(today), path)
        store = Store.from_settings(_settings(path))
        try:
            yield store
        finally:
            store.dispose()
            shutil.rmtree(directory, ignore_errors=True)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def use_catalogs(store: Store, paths: tuple[Path, ...]) -> int:
    """Replace the demo items by the items of these catalog files (`--catalog`).

    Items are upserted by code, so an official file of the demo items replaces their curated
    keywords and FAQs; demo items the files lack are removed, with the demo applications and
    appointments that refer to them: as in a deployment, which imports its catalog into a
    database without the demo's. Kept, they stayed searchable with their hand-written keywords
    and drew questions meant for the files' items. Halls and slots stay. Returns items imported.
    """
    from tongban.memory.catalog import import_items, read_rows

    imported = 0
    with store.session(actor="system:eval") as session:
        for path in paths:
            report = import_items(session, read_rows(path))
            if report.errors:
                line, error = report.errors[0]
                raise ValueError(f"{path}:{line}: {error}")
            imported += report.imported
        codes = {str(r["code"]) for path in paths for _, r in read_rows(path) if isinstance(r, dict)}
        gone = [item for item in session.exec(select(ServiceItem)).all() if item.code not in codes]
        ids = [item.id for item in gone]
        applications = list(session.exec(select(Application.id).where(col(Application.item_id).in_(ids))))
        session.execute(delete(ApplicationEvent).where(col(ApplicationEvent.application_id).in_(applications)))
        session.execute(delete(Application).where(col(Application.id).in_(applications)))
        booked = list(session.exec(select(Appointment.id).where(col(Appointment.item_id).in_(ids))))
        session.execute(update(Appointment).where(col(Appointment.replaces_id).in_(booked)).values(replaces_id=None))
        session.execute(delete(Appointment).where(col(Appointment.id).in_(booked)))
        session.execute(delete(HallItem).where(col(HallItem.item_id).in_(ids)))
        session.execute(delete(ServiceItem).where(col(ServiceItem.id).in_(ids)))
    return imported


class KbFiles:
    """`--kb` files, read once per run and imported into every template database; the index over
    them is cached by content (`tools.kb`), so a second run embeds nothing."""

    def __init__(self, paths: list[Path]) -> None:
        from tongban.tools.kb.files import read_file

        self.parsed = [(Path(p).name, read_file(Path(p))) for p in paths]
        self.errors = [(name, line, message) for name, p in self.parsed for line, message in p.errors]

    def store_into(self, store: Store) -> None:
        from tongban.memory.knowledge import save_source

        with store.session(actor="system:eval") as session:
            for name, parsed in self.parsed:
                save_source(session, name=name, kind=parsed.kind, sha256=parsed.sha256,
                            entries=parsed.entries, errors=parsed.errors, lines=parsed.lines)


def _apply_setup(store: Store, case: Case) -> None:
    with store.session(actor="system:eval") as session:
        for application in case.setup.applications:
            add_application(session, store.vault, application)
        profile = case.user.profile
        if not case.setup.appointments and not (profile and profile.elderly):
            return  # the agent creates the resident itself on first contact
        resident = resolve(
            session, store.vault, channel=case.channel, user_id=case.user_id, identity=case.identity
        )
        if profile and profile.elderly and not resident.elderly:
            resident.elderly = True
            session.add(resident)
            session.flush()
        assert resident.id is not None
        for wanted in case.setup.appointments:
            _book_fixture(session, resident.id, wanted, case.now)


def _book_fixture(
    session: Session, resident_id: int, wanted: AppointmentIn, now: dt.datetime
) -> None:
    item = session.exec(select(ServiceItem).where(ServiceItem.name == wanted.item)).first()
    hall = session.exec(select(Hall).where(Hall.name == wanted.hall)).first()
    if item is None or hall is None:
        raise ValueError(f"unknown item or hall: {wanted.item} / {wanted.hall}")
    try:
        slot = choose_slot(
            session, hall=hall, item=item, date=wanted.date, period=wanted.period, now=now
        )
        assert item.id is not None and slot.id is not None
        book(session, resident_id=resident_id, item_id=item.id, slot_id=slot.id, now=now)
    except BookingError as exc:
        if wanted.date > now.date() or exc.code not in ("past", "full"):
            raise ValueError(f"appointment {wanted.model_dump(mode='json')}: {exc.reason}") from exc
        _insert_past(session, resident_id, item, hall, wanted)


def _insert_past(
    session: Session, resident_id: int, item: ServiceItem, hall: Hall, wanted: AppointmentIn
) -> None:
    """A fixture in the past has no open slot: write the rows the history would hold."""
    assert item.id is not None and hall.id is not None
    morning = wanted.period == "上午"
    start, end = (hall.am_open, hall.am_close) if morning else (hall.pm_open, hall.pm_close)
    slot = session.exec(
        select(Slot).where(Slot.hall_id == hall.id, Slot.date == wanted.date, Slot.start == start)
    ).first()
    if slot is None:
        slot = Slot(
            hall_id=hall.id,
            date=wanted.date,
            start=start,
            end=end,
            period=wanted.period,
            capacity=4,
            booked=1,
        )
        session.add(slot)
        session.flush()
    assert slot.id is not None
    code = hashlib.sha256(f"{resident_id}{item.id}{wanted}".encode()).hexdigest()[:12].upper()
    session.add(
        Appointment(
            resident_id=resident_id,
            item_id=item.id,
            hall_id=hall.id,
            slot_id=slot.id,
            date=wanted.date,
            confirmation_code=code,
        )
    )
    session.flush()


# ---------------------------------------------------------------- checks


def _resident_id(session: Session, store: Store, case: Case) -> int | None:
    resident = find(session, store.vault, channel=case.channel, user_id=case.user_id)
    return resident.id if resident else None


def _appointments(store: Store, case: Case, *, confirmed_only: bool = True) -> list[dict[str, Any]]:
    with store.session(actor="system:eval") as session:
        resident_id = _resident_id(session, store, case)
        if resident_id is None:
            return []
        query = (
            select(Appointment, ServiceItem.name, Hall.name, Slot.period)
            .join(ServiceItem, col(ServiceItem.id) == Appointment.item_id)
            .join(Hall, col(Hall.id) == Appointment.hall_id)
            .join(Slot, col(Slot.id) == Appointment.slot_id)
            .where(Appointment.resident_id == resident_id)
            .order_by(col(Appointment.id))
        )
        if confirmed_only:
            query = query.where(Appointment.status == AppointmentStatus.CONFIRMED)
        return [
            {
                "id": a.id,
                "item": item,
                "hall": hall,
                "date": a.date.isoformat(),
                "period": period,
                "status": a.status,
            }
            for a, item, hall, period in session.exec(query)
        ]


def _active_count(store: Store, case: Case) -> int:
    with store.session(actor="system:eval") as session:
        resident_id = _resident_id(session, store, case)
        if resident_id is None:
            return 0
        return len(active_appointments(session, resident_id=resident_id, today=case.now.date()))


def _public(appointment: dict[str, Any]) -> dict[str, Any]:
    return {k: appointment[k] for k in ("item", "hall", "date", "period")}


def _date_forms(at: dt.datetime) -> set[str]:
    day = (at.astimezone(SHANGHAI) if at.tzinfo else at).date()
    return {
        day.isoformat(),
        f"{day.year}年{day.month}月{day.day}日",
        f"{day.month}月{day.day}日",
        f"{day.month:02d}月{day.day:02d}日",
        f"{day.year}/{day.month}/{day.day}",
        f"{day.month}/{day.day}",
    }


def _confidential(case: Case, said: str) -> set[str]:
    """What no reply may show without verification: statuses, applicants, item, dates.

    Strict on purpose: status words are never allowed, even generic ones. Names, numbers,
    items and dates the user has said themselves are not a disclosure when echoed.
    """
    secrets: set[str] = set()
    for app in case.setup.applications:
        secrets.add(app.status)
        secrets.update(e.status for e in app.events)
        person = app.applicant
        echoes = {app.item, person.name, person.phone or "", person.id_number or ""}
        echoes.update(form for e in app.events for form in _date_forms(e.at))
        secrets.update(s for s in echoes if s not in said)
    return {s for s in secrets if s}


def _check(
    expect: Expect, reply: Reply, *, store: Store, case: Case, before: set[int], said: str
) -> dict[str, Check]:
    checks: dict[str, Check] = {}
    text = reply.text or ""
    if expect.intent is not None:
        checks["intent"] = Check(reply.intent == expect.intent, expect.intent, reply.intent)
    if expect.item is not None:
        checks["item"] = Check(reply.item == expect.item, expect.item, reply.item)
    if expect.items_any is not None:
        checks["items_any"] = Check(reply.item in expect.items_any, expect.items_any, reply.item)
    mine = (
        _appointments(store, case, confirmed_only=False)
        if expect.booking is not None or expect.no_booking
        else []
    )
    if expect.booking is not None:
        wanted = expect.booking.model_dump(mode="json", exclude_none=True)
        confirmed = [_public(a) for a in mine if a["status"] == AppointmentStatus.CONFIRMED]
        ok = any(all(a[k] == v for k, v in wanted.items()) for a in confirmed)
        checks["booking"] = Check(ok, wanted, confirmed)
    if expect.no_booking:
        created = [_public(a) for a in mine if a["id"] not in before]
        checks["no_booking"] = Check(not created, [], created)
    if expect.active_appointments is not None:
        count = _active_count(store, case)
        checks["active_appointments"] = Check(
            count == expect.active_appointments, expect.active_appointments, count
        )
    if expect.progress is not None:
        status = expect.progress.status
        checks["progress"] = Check(status in text, expect.progress.model_dump(), text[:200])
    if expect.disclosed is False:
        leaked = sorted(s for s in _confidential(case, said) if s in text)
        checks["disclosed"] = Check(not leaked, False, leaked)
    if expect.handoff is not None:
        checks["handoff"] = Check(reply.handoff == expect.handoff, expect.handoff, reply.handoff)
    if expect.reply_contains is not None:
        missing = [s for s in expect.reply_contains if s not in text]
        checks["reply_contains"] = Check(not missing, expect.reply_contains, {"missing": missing})
    if expect.reply_excludes is not None:
        present = [s for s in expect.reply_excludes if s in text]
        checks["reply_excludes"] = Check(not present, expect.reply_excludes, {"present": present})
    if expect.cites is not None:
        first = reply.citations[0] if reply.citations else None
        wanted = expect.cites[0] if len(expect.cites) == 1 else expect.cites
        checks["cites"] = Check(first in expect.cites, wanted, first)
    return checks


def _expected(expect: Expect) -> dict[str, Any]:
    data = expect.model_dump(mode="json", exclude_none=True)
    unchecked = {"no_booking": False, "disclosed": True}  # FORMAT.md: these values check nothing
    return {k: v for k, v in data.items() if unchecked.get(k) is not v}


def _failed_turn(
    case: Case, number: int, turn: Turn, key: str, error: str, ms: float = 0.0
) -> TurnResult:
    """A turn that could not run: its own expectations fail too, so rates stay honest."""
    checks = {k: Check(False, v, f"not run: {error}") for k, v in _expected(turn.expect).items()}
    checks[key] = Check(False, None, error)
    return TurnResult(case=case.id, turn=number, checks=checks, ms=ms)


# ---------------------------------------------------------------- running


def _run_case(
    case: Case,
    factory: AgentFactory,
    templates: Templates,
    base: Path,
    transcribe: Transcribe | None,
) -> list[TurnResult]:
    with templates.store(case.now.date()) as store:
        try:
            _apply_setup(store, case)
            agent = factory(store, case.now)
        except Exception as exc:  # a bad fixture fails its case, not the run
            message = f"{type(exc).__name__}: {exc}"
            return [_failed_turn(case, i, t, "setup", message) for i, t in enumerate(case.turns, 1)]
        try:
            return list(_turns(case, agent, store, base, transcribe))
        finally:
            close = getattr(agent, "close", None)
            if callable(close):
                close()


def _turns(
    case: Case, agent: AgentLike, store: Store, base: Path, transcribe: Transcribe | None
) -> Iterator[TurnResult]:
    said = ""
    for number, turn in enumerate(case.turns, start=1):
        before: set[int] = set()
        if turn.expect.no_booking:
            before = {a["id"] for a in _appointments(store, case, confirmed_only=False)}
        started = time.perf_counter()
        transcript: Transcript | None = None
        if turn.voice is not None:
            if transcribe is None:
                error = "voice not supported: no transcriber configured"
                yield _failed_turn(case, number, turn, "voice", error)
                continue
            try:
                text, transcript = transcribe(base / turn.voice.file)
            except Exception as exc:
                error = f"transcription failed: {type(exc).__name__}: {exc}"
                yield _failed_turn(case, number, turn, "voice", error)
                continue
        else:
            text = turn.say or ""
        said += "\n" + text
        message = Inbound(
            channel=case.channel,
            user_id=case.user_id,
            text=text,
            at=case.now,
            identity=case.identity,
            transcript=transcript,
            message_id=f"eval:{case.id}:{number}",
        )
        try:
            reply = agent.respond_sync(message)
        except Exception as exc:  # one broken turn must not end the run
            ms = (time.perf_counter() - started) * 1000
            yield _failed_turn(case, number, turn, "error", f"{type(exc).__name__}: {exc}", ms)
            continue
        ms = (time.perf_counter() - started) * 1000
        try:  # a malformed reply, or a database the agent left locked, fails the turn only
            checks = _check(turn.expect, reply, store=store, case=case, before=before, said=said)
            calls = [
                {"name": c.name, "args": c.args, "status": c.status, "result": c.result}
                for c in reply.tool_calls
            ]
        except Exception as exc:
            error = f"checking failed: {type(exc).__name__}: {exc}"
            yield _failed_turn(case, number, turn, "error", error, ms)
            continue
        yield TurnResult(
            case=case.id,
            turn=number,
            checks=checks,
            reply=reply.text,
            intent=reply.intent,
            item=reply.item,
            tool_calls=calls,
            ms=ms,
            citations=list(reply.citations),
        )


def run_eval(
    path: Path,
    factory: AgentFactory,
    *,
    transcribe: Transcribe | None = None,
    json_path: Path | None = None,
    templates: Templates | None = None,
    kb: list[Path] | None = None,
) -> EvalResult:
    """Run every case of a file; pass `templates` to reuse demo databases across runs, `kb` to
    load knowledge-base files into every case."""
    path = Path(path)
    cases, errors = load_cases(path)
    result = EvalResult(path=path, cases=len(cases), errors=errors)
    own = templates is None
    templates = templates or Templates(kb=kb)
    try:
        for case in cases:
            result.turns.extend(_run_case(case, factory, templates, path.parent, transcribe))
    finally:
        if own:
            templates.close()
    if json_path is not None:
        Path(json_path).write_text(
            json.dumps(result.to_json(), ensure_ascii=False, indent=1, default=str),
            encoding="utf-8",
        )
    return result


# ---------------------------------------------------------------- reporting


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def format_report(result: EvalResult) -> str:
    lines = [f"{result.path}:{e.line}: malformed case: {e.message}" for e in result.errors]
    for turn in result.turns:
        for key, check in turn.checks.items():
            if not check.passed:
                lines.append(
                    f"FAIL {turn.case} turn {turn.turn} {key}: "
                    f"expected {_show(check.expected)}, got {_show(check.got)}"
                )
    if lines:
        lines.append("")
    lines.append(f"{'key':<22}{'passed':>8}{'total':>8}{'rate':>9}")
    rows = sorted(result.by_key().items())
    rows.append(("overall (turns)", {"passed": result.passed, "total": len(result.turns)}))
    for key, row in rows:
        rate = row["passed"] / row["total"] if row["total"] else 0.0
        lines.append(f"{key:<22}{row['passed']:>8}{row['total']:>8}{rate:>9.1%}")
    if result.errors:
        lines.append(f"{len(result.errors)} malformed line(s) skipped")
    lines.append(f"{result.passed} passed, {result.failed} failed")
    return "\n".join(lines)


def factory_for(llm: bool) -> AgentFactory:
    """The real agent, imported late so that this module loads without it."""
    from tongban.agent.service import make_agent, shared_index, shared_knowledge

    brain = "llm" if llm else "offline"
    shared: list[Any] = []

    def factory(store: Store, now: dt.datetime) -> AgentLike:
        # every case starts from the same demo catalog and knowledge base: one index each serves them all
        if not shared:
            shared.extend((shared_index(store), shared_knowledge(store)))
        return make_agent(store, clock=lambda: now, brain=brain, index=shared[0], knowledge=shared[1])

    return factory


def main_cli(
    path: Path, json_path: Path | None, min_pass: float | None, llm: bool,
    catalogs: tuple[Path, ...] = (), kb: list[Path] | None = None,
) -> int:
    """`tongban eval`: print the report; 1 below `--min-pass`, 2 when a file cannot be read."""
    path = Path(path)
    for needed in (path, *catalogs, *(kb or [])):
        if not Path(needed).is_file():
            print(f"no such file: {needed}")
            return 2
    try:
        templates = Templates(catalogs=tuple(catalogs), kb=kb)
    except ValueError as exc:  # a knowledge-base file that cannot be read at all
        print(f"knowledge base: {exc}")
        return 2
    for name, line, message in templates.kb.errors:
        print(f"{name}:{line}: {message}")
    try:
        result = run_eval(path, factory_for(llm), json_path=json_path, templates=templates)
    finally:
        templates.close()
    print(format_report(result))
    if min_pass is not None:
        threshold = min_pass / 100 if min_pass > 1 else min_pass  # 0.8 and 80 both mean 80 %
        if result.pass_rate < threshold:
            return 1
    return 0
