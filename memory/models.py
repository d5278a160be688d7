"""The government-service domain as sqlmodel tables.

`ServiceItemBase` doubles as the catalog import/export schema (Base/table split), so a row
in a province's catalog file and a row in the database are validated by the same model.
Personal data is held only as ciphertext plus blind indexes (see `memory.pii`).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, field_validator
from sqlalchemy import JSON, CheckConstraint, Column, Index, LargeBinary, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ---------------------------------------------------------------- catalog


class Material(BaseModel):
    name: str
    form: str = "原件"  # 原件 / 复印件 / 原件及复印件 / 电子证照
    count: int = 1
    required: bool = True
    note: str = ""


class Faq(BaseModel):
    q: str
    a: str


class FormField(BaseModel):
    """One field of an item's application form, as the catalog describes it.

    `source` says where a known value comes from ("identity.name", "identity.id_number",
    "identity.phone", "memory.<key>"); fields without one are asked for.
    """

    key: str
    label: str
    kind: str = "text"  # text / date / choice / phone / id_number
    source: str | None = None
    options: list[str] = []
    required: bool = True
    personal: bool = False  # masked on screen and in logs


class ServiceItemBase(SQLModel):
    code: str = Field(index=True, unique=True, min_length=3, max_length=64)
    name: str = Field(index=True, unique=True, min_length=2, max_length=100)
    department: str = Field(index=True, min_length=1, max_length=50)
    description: str = ""
    legal_basis: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    applicants: str = ""
    materials: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    steps: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    statutory_limit_days: int | None = Field(default=None, ge=0)
    promised_limit_days: int | None = Field(default=None, ge=0)
    time_limit_note: str = ""
    fee: str = "不收费"
    fee_yuan: float | None = Field(default=0.0, ge=0)  # None: varies, see `fee`
    online: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    mail: bool = False
    appointment_required: bool = False
    faqs: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    form_fields: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )


class ServiceItemCreate(ServiceItemBase):
    """One catalog row as imported: nested lists validated, not just stored."""

    @field_validator("materials")
    @classmethod
    def _materials(cls, value: list[Any]) -> list[dict[str, Any]]:
        return [Material.model_validate(m).model_dump() for m in value]

    @field_validator("faqs")
    @classmethod
    def _faqs(cls, value: list[Any]) -> list[dict[str, Any]]:
        return [Faq.model_validate(f).model_dump() for f in value]

    @field_validator("form_fields")
    @classmethod
    def _form_fields(cls, value: list[Any]) -> list[dict[str, Any]]:
        return [FormField.model_validate(f).model_dump() for f in value]

    @field_validator("legal_basis", "steps", "online", "keywords", mode="before")
    @classmethod
    def _string_lists(cls, value: Any) -> list[str]:
        if isinstance(value, str):  # CSV cells hold lists separated by ；or |
            value = [p for p in (s.strip() for s in value.replace("；", "|").split("|")) if p]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("must be a list of strings")
        return value


class ServiceItem(ServiceItemBase, table=True):
    __tablename__ = "service_item"
    id: int | None = Field(default=None, primary_key=True)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class HallItem(SQLModel, table=True):
    __tablename__ = "hall_item"
    hall_id: int = Field(foreign_key="hall.id", primary_key=True)
    item_id: int = Field(foreign_key="service_item.id", primary_key=True, index=True)


class HallBase(SQLModel):
    code: str = Field(index=True, unique=True, max_length=64)
    name: str = Field(index=True, unique=True, max_length=100)
    city: str = Field(index=True, max_length=50)
    district: str = ""
    address: str = ""
    phone: str = ""
    hours: str = ""
    aliases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # opening windows; slots are cut from these in half-hour steps
    am_open: dt.time = dt.time(9, 0)
    am_close: dt.time = dt.time(12, 0)
    pm_open: dt.time = dt.time(14, 30)
    pm_close: dt.time = dt.time(17, 30)


class Hall(HallBase, table=True):
    __tablename__ = "hall"
    id: int | None = Field(default=None, primary_key=True)


# ---------------------------------------------------------------- appointments


class Period(StrEnum):
    MORNING = "上午"
    AFTERNOON = "下午"


class Slot(SQLModel, table=True):
    """A bookable half-hour window of one hall; `booked` never exceeds `capacity`."""

    __tablename__ = "slot"
    __table_args__ = (
        UniqueConstraint("hall_id", "date", "start", name="uq_slot_hall_date_start"),
        CheckConstraint("booked >= 0 AND booked <= capacity", name="ck_slot_capacity"),
    )
    id: int | None = Field(default=None, primary_key=True)
    hall_id: int = Field(foreign_key="hall.id", index=True)
    date: dt.date = Field(index=True)
    start: dt.time
    end: dt.time
    period: str = Field(max_length=4)
    window: str = Field(default="综合窗口", max_length=50)
    capacity: int = Field(ge=0)
    booked: int = Field(default=0, ge=0)


class AppointmentStatus(StrEnum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    RESCHEDULED = "rescheduled"  # the old row of a reschedule; the new row is confirmed


class Appointment(SQLModel, table=True):
    __tablename__ = "appointment"
    __table_args__ = (
        # one active appointment per resident, item and day — enforced by the database
        Index(
            "uq_appointment_active_per_day",
            "resident_id",
            "item_id",
            "date",
            unique=True,
            sqlite_where=text("status = 'confirmed'"),
            postgresql_where=text("status = 'confirmed'"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", index=True)
    item_id: int = Field(foreign_key="service_item.id")
    hall_id: int = Field(foreign_key="hall.id")
    slot_id: int = Field(foreign_key="slot.id", index=True)
    date: dt.date
    status: str = Field(default=AppointmentStatus.CONFIRMED, max_length=16, index=True)
    confirmation_code: str = Field(unique=True, max_length=16)
    idempotency_key: str | None = Field(default=None, unique=True, max_length=128)
    replaces_id: int | None = Field(default=None, foreign_key="appointment.id")
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)


# ---------------------------------------------------------------- applications (办件)


class Application(SQLModel, table=True):
    __tablename__ = "application"
    id: int | None = Field(default=None, primary_key=True)
    receipt_no: str = Field(unique=True, index=True, max_length=32)
    item_id: int = Field(foreign_key="service_item.id")
    hall_id: int = Field(foreign_key="hall.id")
    status: str = Field(max_length=32)
    applicant_name_enc: str
    applicant_phone_enc: str | None = None
    applicant_id_enc: str | None = None
    applicant_phone_bidx: str | None = Field(default=None, index=True, max_length=64)
    applicant_id_bidx: str | None = Field(default=None, index=True, max_length=64)
    applicant_id_last4_bidx: str | None = Field(default=None, max_length=64)
    submitted_at: dt.datetime

    def __repr__(self) -> str:  # never show ciphertext or blind indexes in logs
        return f"Application(receipt_no={self.receipt_no!r}, status={self.status!r})"


class ApplicationEvent(SQLModel, table=True):
    __tablename__ = "application_event"
    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="application.id", index=True)
    status: str = Field(max_length=32)
    at: dt.datetime
    department: str = ""
    note: str = ""


class ProgressAttempt(SQLModel, table=True):
    """Failed second-factor checks, for throttling guessing."""

    __tablename__ = "progress_attempt"
    id: int | None = Field(default=None, primary_key=True)
    requester: str = Field(index=True, max_length=128)
    receipt_no: str = Field(index=True, max_length=32)
    at: dt.datetime = Field(index=True)


# ---------------------------------------------------------------- residents


class Resident(SQLModel, table=True):
    """One person across channels; verified identity only as ciphertext + blind index."""

    __tablename__ = "resident"
    id: int | None = Field(default=None, primary_key=True)
    wechat_openid: str | None = Field(default=None, unique=True, max_length=64)
    wechat_unionid: str | None = Field(default=None, unique=True, max_length=64)
    miniprogram_openid: str | None = Field(default=None, unique=True, max_length=64)
    web_id: str | None = Field(default=None, unique=True, max_length=64)
    phone_enc: str | None = None
    phone_bidx: str | None = Field(default=None, unique=True, max_length=64)
    name_enc: str | None = None
    id_number_enc: str | None = None
    id_number_bidx: str | None = Field(default=None, index=True, max_length=64)
    verified: bool = False
    elderly: bool = False
    usual_hall_id: int | None = Field(default=None, foreign_key="hall.id")
    preferred_language: str = Field(default="zh", max_length=16)
    memory: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)

    def __repr__(self) -> str:
        return f"Resident(id={self.id}, verified={self.verified}, elderly={self.elderly})"


# ---------------------------------------------------------------- audit


class AuditLog(SQLModel, table=True):
    """Every write: who, what, when, before/after (personal data masked)."""

    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=128)
    action: str = Field(max_length=32)
    entity: str = Field(max_length=64, index=True)
    entity_id: str = Field(default="", max_length=64)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


# ---------------------------------------------------------------- handoff to staff


class HandoffStatus(StrEnum):
    WAITING = "waiting"
    CLAIMED = "claimed"
    CLOSED = "closed"  # handed back to the bot or finished


class Handoff(SQLModel, table=True):
    """A conversation waiting for, or held by, hall staff; the bot is silent meanwhile."""

    __tablename__ = "handoff"
    __table_args__ = (
        Index(
            "uq_handoff_open_per_resident",
            "resident_id",
            unique=True,
            sqlite_where=text("status != 'closed'"),
            postgresql_where=text("status != 'closed'"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", index=True)
    channel: str = Field(max_length=16)
    reason: str = Field(max_length=200)
    item_code: str | None = Field(default=None, max_length=64)
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=HandoffStatus.WAITING, max_length=16, index=True)
    staff: str | None = Field(default=None, max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow)
    claimed_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    notified_at: dt.datetime | None = None  # when the resident was told staff are away or busy


# ---------------------------------------------------------------- transcripts and staff


class TranscriptRole(StrEnum):
    RESIDENT = "resident"
    BOT = "bot"
    STAFF = "staff"
    NOTE = "note"  # a staff member's internal note: never sent to the resident
    SYSTEM = "system"  # what the system told the resident (opening hours, nobody free)


class TranscriptMessage(SQLModel, table=True):
    """Every message of a conversation, whoever wrote it; the text only as ciphertext.

    The agent's checkpoint keeps a trimmed, masked history for the model; this is the full
    record staff read when they take a conversation over.
    """

    __tablename__ = "transcript_message"
    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", index=True)
    handoff_id: int | None = Field(default=None, foreign_key="handoff.id", index=True)
    role: str = Field(max_length=16)
    channel: str = Field(max_length=16)
    text_enc: str
    at: dt.datetime = Field(default_factory=utcnow, index=True)
    message_id: str | None = Field(default=None, max_length=128)  # the channel's inbound id
    audio_ref: str | None = Field(default=None, max_length=128)  # encrypted audio under the data dir
    staff: str | None = Field(default=None, max_length=64)
    delivered: bool | None = None  # staff and system messages: reached the resident's channel

    def __repr__(self) -> str:
        return f"TranscriptMessage(id={self.id}, role={self.role!r}, channel={self.channel!r})"


class StaffRole(StrEnum):
    STAFF = "staff"
    SUPERVISOR = "supervisor"  # also sees figures and may reveal personal data


class StaffAccount(SQLModel, table=True):
    __tablename__ = "staff_account"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True, max_length=64)
    display_name: str = Field(max_length=64)
    role: str = Field(default=StaffRole.STAFF, max_length=16)
    hall: str | None = Field(default=None, max_length=100)
    department: str | None = Field(default=None, max_length=50)
    # what else this account may see beyond its own hall and department (`memory.staff.Scope`)
    halls: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    departments: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    password_hash: str = Field(max_length=256)
    active: bool = True
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)

    def __repr__(self) -> str:  # never the hash
        return f"StaffAccount(username={self.username!r}, role={self.role!r}, active={self.active})"


class StaffSession(SQLModel, table=True):
    """A signed-in console session; the cookie holds a random token, the table only its hash."""

    __tablename__ = "staff_session"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    staff_id: int = Field(foreign_key="staff_account.id", index=True)
    created_at: dt.datetime = Field(default_factory=utcnow)
    expires_at: dt.datetime = Field(index=True)


class SeenNonce(SQLModel, table=True):
    """A signed request already accepted (WeChat's timestamp + nonce), kept for its window so a
    replay is refused by every replica when there is no Redis."""

    __tablename__ = "seen_nonce"
    key: str = Field(primary_key=True, max_length=64)  # a hash of channel, timestamp and nonce
    digest: str = Field(max_length=64)  # of the body: WeChat's own retry carries the same one
    expires_at: dt.datetime = Field(index=True)


# ---------------------------------------------------------------- inbound messages


class InboundStatus(StrEnum):
    RECEIVED = "received"  # stored before the channel is acknowledged
    ANSWERED = "answered"  # the agent ran; `reply` holds what it said, waiting to be sent
    PUSHING = "pushing"  # one sender holds the reply and is sending it; retries leave it alone
    DELIVERED = "delivered"  # the reply reached the resident (passively or pushed)
    FAILED = "failed"  # delivery gave up after retries; kept for staff


class InboundMessage(SQLModel, table=True):
    """Every message a channel accepted, keyed by the channel's own id for deduplication.

    Gateways retry (WeChat after 5 s, SMS gateways on timeouts); the unique key makes each
    message run the agent once across replicas, and the row makes it durable before the ack.
    """

    __tablename__ = "inbound_message"
    __table_args__ = (UniqueConstraint("channel", "message_key", name="uq_inbound_channel_key"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    message_key: str = Field(max_length=128)
    user_id: str = Field(max_length=64, index=True)
    kind: str = Field(default="text", max_length=16)
    text_enc: str | None = None  # the message, encrypted like all personal data
    status: str = Field(default=InboundStatus.RECEIVED, max_length=16, index=True)
    reply: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    attempts: int = 0
    received_at: dt.datetime = Field(default_factory=utcnow, index=True)
    answered_at: dt.datetime | None = None


# ---------------------------------------------------------------- life events (高效办成一件事)


class LifeEventBase(SQLModel):
    """One 一件事: the items a life event usually takes, in the order they are done.

    Each step is a group of alternatives (迁居: 户口迁移 or 居住证办理); doing any one of a
    group satisfies the step. Kept as data so a province edits it without a release.
    """

    code: str = Field(index=True, unique=True, min_length=2, max_length=64)
    name: str = Field(unique=True, min_length=1, max_length=50)
    title: str = Field(default="", max_length=100)
    steps: list[list[str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class LifeEventCreate(LifeEventBase):
    """One life-event row as imported: a step may be an item name or a list of alternatives."""

    @field_validator("steps", mode="before")
    @classmethod
    def _steps(cls, value: Any) -> list[list[str]]:
        if not isinstance(value, list) or not value:
            raise ValueError("steps must be a non-empty list")
        groups = [[step] if isinstance(step, str) else step for step in value]
        if not all(isinstance(g, list) and g and all(isinstance(s, str) and s for s in g) for g in groups):
            raise ValueError("each step must be an item name or a list of item names")
        return groups


class LifeEvent(LifeEventBase, table=True):
    __tablename__ = "life_event"
    id: int | None = Field(default=None, primary_key=True)
    updated_at: dt.datetime = Field(default_factory=utcnow)


# ---------------------------------------------------------------- questions (hot and unplaced)


class QuestionKind(StrEnum):
    ANSWERED = "answered"  # placed on an item with confidence: counts towards hot topics, no text kept
    LOW_CONFIDENCE = "low_confidence"  # service words but no item, or an item the question did not name
    REPHRASED = "rephrased"  # a second lookup in a row without a confident item
    ASKED_PERSON = "asked_person"  # the resident asked for staff
    KB_ANSWERED = "kb_answered"  # answered from the knowledge base (`kb_key`), no text kept
    KB_MISS = "kb_miss"  # a policy question the knowledge base could not answer surely


class QuestionLog(SQLModel, table=True):
    """What residents ask, for supervisors: hot topics per week and questions tongban could not place.

    The text is masked and kept only for unplaced questions; the resident is a keyed hash, so
    repeated askers can be counted once without anyone being identifiable from this table.
    """

    __tablename__ = "question_log"
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, index=True)
    kind: str = Field(max_length=16, index=True)
    item_code: str | None = Field(default=None, max_length=64, index=True)  # placed or guessed item
    kb_key: str | None = Field(default=None, max_length=128)  # the knowledge-base entry answered from
    text_masked: str | None = Field(default=None, max_length=500)
    resident_key: str = Field(max_length=64)
    channel: str = Field(max_length=16)


# ---------------------------------------------------------------- forms and uploaded materials


class FormFillStatus(StrEnum):
    DRAFT = "draft"
    CONFIRMED = "confirmed"


class FormFill(SQLModel, table=True):
    """A resident's application form for one item, filled in conversation.

    The values are personal data, so they are held only sealed (Fernet, `memory.pii.Vault`);
    `token` is the unguessable part of the PDF's download address.
    """

    __tablename__ = "form_fill"
    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=64, unique=True)
    resident_id: int = Field(foreign_key="resident.id", index=True)
    item_code: str = Field(max_length=64)
    values_enc: str = ""
    status: str = Field(default=FormFillStatus.DRAFT, max_length=16)
    created_at: dt.datetime = Field(default_factory=utcnow, index=True)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class Upload(SQLModel, table=True):
    """A photo or PDF of a material a resident sent for review; the file itself sealed.

    `review` holds the check result with personal data masked, for the resident's reply and
    the staff handoff card. Rows and files go with the retention job.
    """

    __tablename__ = "upload"
    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", index=True)
    item_code: str | None = Field(default=None, max_length=64)
    channel: str = Field(max_length=16)
    content_type: str = Field(max_length=64)
    size_bytes: int = Field(ge=0)
    sha256: str = Field(max_length=64)
    blob_enc: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    material: str | None = Field(default=None, max_length=100)  # the required material it matched
    review: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, index=True)


# ---------------------------------------------------------------- knowledge base (FAQ sheets, policy documents)


class KbSource(SQLModel, table=True):
    """One imported file: an operator's FAQ sheet or policy document, by its file name.

    `sha256` is the file's content hash: importing the same bytes again changes nothing.
    """

    __tablename__ = "kb_source"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=255, unique=True)
    kind: str = Field(max_length=16)  # csv, xlsx, jsonl, pdf, docx, md, html, txt
    sha256: str = Field(max_length=64)
    entries: int = 0
    imported_at: dt.datetime = Field(default_factory=utcnow)


class KbEntry(SQLModel, table=True):
    """A citable piece of knowledge: an FAQ row, a JSONL record, a page or section of a document.

    `key` is what replies cite (the file's own id, else derived from file and position);
    `locator` says where in the file it came from (row 12, page 3); `content_hash` lets a
    re-import leave unchanged entries (and their embeddings) alone.
    """

    __tablename__ = "kb_entry"
    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="kb_source.id", index=True)
    key: str = Field(max_length=128, unique=True)
    title: str = Field(default="", max_length=500)  # the question, or the heading
    text: str = ""
    department: str = Field(default="", max_length=100)
    origin: str = Field(default="", max_length=500)  # the source the file names (a policy, a URL)
    keywords: str = Field(default="", max_length=500)  # 关键字, separated by 、
    locator: str = Field(default="", max_length=64)
    content_hash: str = Field(max_length=64)
    updated_at: dt.datetime = Field(default_factory=utcnow)


# ---------------------------------------------------------------- running as several replicas


class Recording(SQLModel, table=True):
    """A voice message's recording, sealed, in the database so every replica can play it.

    `ref` is what the transcript row keeps (`TranscriptMessage.audio_ref`); the row goes with
    the retention job together with its transcript.
    """

    __tablename__ = "recording"
    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(max_length=64, unique=True)
    blob_enc: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, index=True)


class LiveMessage(SQLModel, table=True):
    """A message for a resident's open web page, waiting for the replica that holds the page.

    Written with the transcript row; the replica holding the resident's socket claims it
    (`claimed_by`, `claimed_at`) in one UPDATE, so it is delivered once; unclaimed, it waits
    for the page's next connection or poll.
    """

    __tablename__ = "live_message"
    id: int | None = Field(default=None, primary_key=True)
    web_id: str = Field(max_length=64, index=True)
    transcript_id: int | None = Field(default=None, index=True)
    event_enc: str  # the page's JSON event, encrypted like the transcript text
    created_at: dt.datetime = Field(default_factory=utcnow, index=True)
    claimed_at: dt.datetime | None = Field(default=None, index=True)
    claimed_by: str | None = Field(default=None, max_length=64)


class SmsBudget(SQLModel, table=True):
    """One number's SMS spend on one day: reserved by one guarded UPDATE, exact across replicas."""

    __tablename__ = "sms_budget"
    user_id: str = Field(max_length=64, primary_key=True)  # the phone's blind index
    day: str = Field(max_length=10, primary_key=True)  # Asia/Shanghai date
    used: int = Field(default=0, ge=0)
