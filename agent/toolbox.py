"""The tools a brain may call, with argument schemas the tools validate themselves.

Both brains plan calls by name and arguments; `run_tool` executes them with the context
the conversation supplies (resident, clock, a confirmation made by the confirm node), so the
rules hold whatever a model asks for. Failures come back as results with status "error"
(an unknown tool, bad arguments, a refusal) instead of exceptions, as LangGraph's ToolNode does.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlmodel import Session, select

from tongban.memory import forms as form_store
from tongban.memory import residents
from tongban.memory.booking import BookingError
from tongban.memory.models import Hall, Resident, ServiceItem
from tongban.memory.pii import InvalidIdentifier, Vault, mask_text, normalise_phone
from tongban.tools import booking, forms, handoff, progress
from tongban.tools.confirmation import Confirmation, NeedsConfirmation
from tongban.tools.kb.index import KnowledgeIndex
from tongban.tools.services import ServiceIndex, service_detail

log = logging.getLogger(__name__)


@dataclass
class ToolContext:
    session: Session
    vault: Vault
    index: ServiceIndex
    resident: Resident
    requester: str  # who is asking, for throttling: channel + user
    channel: str
    now: dt.datetime
    confirmation: Confirmation | None = None
    idempotency_key: str = ""
    knowledge: KnowledgeIndex | None = None
    details: Callable[[str], dict[str, Any] | None] | None = None  # an item's detail, cached per catalog version


class SearchArgs(BaseModel):
    query: str = Field(min_length=1, max_length=200, description="居民的问题或事项名称")
    city: str | None = Field(default=None, description="只看某个城市能办的事项，如 柳州市")


class KnowledgeArgs(BaseModel):
    # a resident may paste a rule or a notice and ask about it: the index reads what the model can
    query: str = Field(min_length=1, max_length=1000, description="居民的政策问题")


class DetailArgs(BaseModel):
    item_code: str = Field(min_length=3, max_length=64, description="事项编码")


class SlotArgs(BaseModel):
    item_code: str = Field(min_length=3, max_length=64)
    hall: str = Field(min_length=2, max_length=100, description="办事大厅全称")
    date: dt.date = Field(description="YYYY-MM-DD")
    period: str | None = Field(default=None, pattern="^(上午|下午)$")
    time: dt.time | None = None
    slot_id: int | None = Field(default=None, description="已向居民确认过的时段")


class CancelArgs(BaseModel):
    appointment_id: int = Field(gt=0)


class RescheduleArgs(BaseModel):
    appointment_id: int = Field(gt=0)
    hall: str | None = Field(default=None, min_length=2, max_length=100, description="新大厅全称（不改则不填）")
    date: dt.date | None = Field(default=None, description="新日期 YYYY-MM-DD（不改则不填）")
    period: str | None = Field(default=None, pattern="^(上午|下午)$")
    time: dt.time | None = None


class MyApplicationsArgs(BaseModel):
    item: str | None = Field(default=None, max_length=100, description="居民提到的事项名称，只看这个事项的办件")


class ProgressArgs(BaseModel):
    receipt_no: str = Field(pattern=r"^[Gg][Xx]\d{14}$")
    phone: str | None = None
    id_last4: str | None = Field(default=None, pattern=r"^\d{3}[0-9Xx]$")


class HandoffArgs(BaseModel):
    reason: str = Field(min_length=1, max_length=200)
    item_code: str | None = None


class NoArgs(BaseModel):
    pass


class FormArgs(BaseModel):
    item_code: str = Field(min_length=3, max_length=64, description="事项编码")
    field: str | None = Field(default=None, max_length=64, description="正在回答的表格项（key）")
    answer: str | None = Field(default=None, max_length=200, description="居民对该项的回答")
    skip: bool = Field(default=False, description="居民要跳过这一选填项")


class FormItemArgs(BaseModel):
    item_code: str = Field(min_length=3, max_length=64, description="事项编码")


def _search(ctx: ToolContext, args: SearchArgs) -> dict[str, Any]:
    if args.city:
        cities = sorted(set(ctx.session.exec(select(Hall.city)).all()))
        if not any(args.city.rstrip("市") == c.rstrip("市") for c in cities):
            raise LookupError(f"没有“{args.city}”的办事大厅；可选城市：{'、'.join(cities)}，或不限城市")
    hits = ctx.index.search(args.query, k=3, city=args.city)
    return {"hits": [
        {"code": h.code, "name": h.name, "department": h.department,
         "legal_basis": list(h.legal_basis), "passage": h.passage, "score": round(h.score, 3),
         "margin": round(float(h.signals.get("margin", 0.0)), 3)}
        for h in hits
    ]}


def _knowledge(ctx: ToolContext, args: KnowledgeArgs) -> dict[str, Any]:
    """Passages of the operator's own FAQ sheets and documents; `answerable` says whether the
    best one is sure enough to answer from (below it: say so, or offer staff)."""
    hits = ctx.knowledge.search(args.query, k=3) if ctx.knowledge is not None else []
    return {"hits": [h.to_json() for h in hits], "answerable": bool(hits and hits[0].answerable)}


def _detail(ctx: ToolContext, args: DetailArgs) -> dict[str, Any]:
    detail = ctx.details(args.item_code) if ctx.details else service_detail(ctx.session, args.item_code)
    if detail is None:
        raise LookupError(f"没有编码为 {args.item_code} 的事项")
    return detail


def _slots(ctx: ToolContext, args: SlotArgs) -> dict[str, Any]:
    offer = booking.find_slot(
        ctx.session, item_code=args.item_code, hall_name=args.hall, date=args.date,
        period=args.period, at=args.time, now=ctx.now,
    )
    return {"offer": asdict(offer)}


def _book(ctx: ToolContext, args: SlotArgs) -> dict[str, Any]:
    if args.slot_id is not None:
        offer = booking.offer_for_slot(ctx.session, slot_id=args.slot_id, item_code=args.item_code, now=ctx.now)
    else:
        offer = booking.find_slot(
            ctx.session, item_code=args.item_code, hall_name=args.hall, date=args.date,
            period=args.period, at=args.time, now=ctx.now,
        )
    appointment = booking.book_appointment(
        ctx.session, resident_id=ctx.resident.id or 0, offer=offer, now=ctx.now,
        confirmation=ctx.confirmation, idempotency_key=ctx.idempotency_key,
    )
    return {"appointment": asdict(appointment), "offer": asdict(offer)}


def _cancel(ctx: ToolContext, args: CancelArgs) -> dict[str, Any]:
    cancelled = booking.cancel_appointment(
        ctx.session, resident_id=ctx.resident.id or 0, appointment_id=args.appointment_id,
        confirmation=ctx.confirmation,
    )
    return {"appointment": asdict(cancelled)}


def _reschedule(ctx: ToolContext, args: RescheduleArgs) -> dict[str, Any]:
    current = next((v for v in booking.my_appointments(ctx.session, resident_id=ctx.resident.id or 0,
                                                          today=ctx.now.date()) if v.id == args.appointment_id), None)
    if current is None:
        raise BookingError("not_found", "没有找到您的这个预约。")
    code = ctx.session.exec(select(ServiceItem.code).where(ServiceItem.name == current.item)).first() or ""
    changed = {k for k in ("date", "period", "time") if getattr(args, k) is not None}
    period = args.period if "period" in changed or "time" in changed else current.period
    offer = booking.find_slot(
        ctx.session, item_code=code, hall_name=args.hall or current.hall,
        date=args.date or dt.date.fromisoformat(current.date), period=period, at=args.time, now=ctx.now,
    )
    moved = booking.reschedule_appointment(
        ctx.session, resident_id=ctx.resident.id or 0, appointment_id=args.appointment_id, offer=offer,
        now=ctx.now, confirmation=ctx.confirmation, idempotency_key=ctx.idempotency_key,
    )
    return {"appointment": asdict(moved), "offer": asdict(offer)}


def _applications(ctx: ToolContext, args: MyApplicationsArgs) -> dict[str, Any]:
    """A verified resident's own applications (the disclosure rule: the verified applicant)."""
    views = progress.my_applications(ctx.session, resident=ctx.resident)
    if args.item:
        views = [v for v in views if v.item == args.item] or views
    return {"verified": bool(ctx.resident.verified), "applications": [asdict(v) for v in views[:5]]}


def _mine(ctx: ToolContext, _args: NoArgs) -> dict[str, Any]:
    views = booking.my_appointments(ctx.session, resident_id=ctx.resident.id or 0, today=ctx.now.date())
    return {"appointments": [asdict(v) for v in views]}


def _progress(ctx: ToolContext, args: ProgressArgs) -> dict[str, Any]:
    phone = None
    if args.phone:
        try:
            phone = normalise_phone(args.phone)
        except InvalidIdentifier:
            phone = args.phone  # fails the check like any wrong factor
    result = progress.check_progress(
        ctx.session, ctx.vault, resident=ctx.resident, requester=ctx.requester,
        receipt_no=args.receipt_no, phone=phone, id_last4=args.id_last4, now=ctx.now,
    )
    out: dict[str, Any] = {"outcome": result.outcome.value, "receipt_no": args.receipt_no.upper()}
    if result.view is not None:
        out["application"] = asdict(result.view)
    return out


def _handoff(ctx: ToolContext, args: HandoffArgs) -> dict[str, Any]:
    record = handoff.start_handoff(
        ctx.session, resident_id=ctx.resident.id or 0, channel=ctx.channel,
        reason=mask_text(args.reason), item_code=args.item_code,
    )
    return {"handoff_id": record.id, "status": record.status}


def _erase(ctx: ToolContext, _args: NoArgs) -> dict[str, Any]:
    args = {"resident_id": ctx.resident.id}
    if ctx.confirmation is None or not ctx.confirmation.covers("erase", args):
        raise NeedsConfirmation("erase", args, "删除您的个人信息和记忆（常用大厅、最近办理的事项、偏好、预填的申请表）")
    form_store.erase_resident(ctx.session, ctx.resident.id or 0)
    residents.erase(ctx.session, ctx.resident)
    return {"erased": True}


def _form_view(fill: forms.Fill) -> dict[str, Any]:
    """The form for a reply or a model: labels and masked values only, never a clear value."""
    missing = fill.missing
    return {
        "item": {"code": fill.item_code, "name": fill.item_name}, "title": fill.title, "verified": fill.verified,
        "fields": fill.masked(), "invalid": fill.invalid, "missing": len(missing),
        "next": next((f for f in fill.masked() if missing and f["key"] == missing[0].key), None),
        "prefilled": {origin: [f.label for f in fill.fields if fill.origins.get(f.key) == origin]
                      for origin in ("identity", "memory")},
    }


def _fill_form(ctx: ToolContext, args: FormArgs) -> dict[str, Any]:
    if args.field and (args.answer or args.skip):
        fill = forms.answer(ctx.session, ctx.vault, ctx.resident, args.item_code, key=args.field,
                            text=args.answer or "", now=ctx.now, skip=args.skip)
    else:
        fill = forms.current(ctx.session, ctx.vault, ctx.resident, args.item_code)
    return _form_view(fill)


def _confirm_form(ctx: ToolContext, args: FormItemArgs) -> dict[str, Any]:
    fill = forms.current(ctx.session, ctx.vault, ctx.resident, args.item_code)
    if fill.missing:
        raise LookupError(f"申请表还有{len(fill.missing)}项没有填写：{'、'.join(f.label for f in fill.missing)}")
    gate = {"item_code": fill.item_code, "values": fill.digest(), "resident_id": ctx.resident.id}
    if ctx.confirmation is None or not ctx.confirmation.covers("form", gate):
        lines = "\n".join(f"{f['label']}：{f['shown']}" for f in fill.masked())
        raise NeedsConfirmation("form", gate, f"《{fill.title}》\n{lines}")
    saved = forms.confirm(ctx.session, ctx.vault, ctx.resident, fill)
    return {"item": {"code": fill.item_code, "name": fill.item_name}, "title": fill.title,
            "url": f"/forms/{saved.token}.pdf", "reference": f"{saved.id or 0:08d}"}


def _forms_available(ctx: ToolContext, _args: NoArgs) -> dict[str, Any]:
    rows = ctx.session.exec(select(ServiceItem.code, ServiceItem.name, ServiceItem.form_fields).order_by(ServiceItem.id))
    return {"items": [{"code": code, "name": name} for code, name, fields in rows if fields]}


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    args: type[BaseModel]
    run: Callable[[ToolContext, Any], dict[str, Any]]


TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec("search_services", "按居民的描述查找政务服务事项", SearchArgs, _search),
        ToolSpec("search_knowledge", "在政府部门发布的政策问答和文件中查找答案（带出处）", KnowledgeArgs, _knowledge),
        ToolSpec("service_detail", "查看事项的材料、流程、收费、时限、办理大厅和设定依据", DetailArgs, _detail),
        ToolSpec("available_slots", "查询某大厅某天可预约的时段", SlotArgs, _slots),
        ToolSpec("book_appointment", "为居民预约办事大厅（需居民明确确认）", SlotArgs, _book),
        ToolSpec("cancel_appointment", "取消居民自己的预约（需居民明确确认）", CancelArgs, _cancel),
        ToolSpec("reschedule_appointment", "把居民自己的预约改到别的日期、时段或大厅（需居民明确确认）",
                 RescheduleArgs, _reschedule),
        ToolSpec("my_appointments", "列出居民自己的有效预约", NoArgs, _mine),
        ToolSpec("my_applications", "列出已实名居民本人的办件及进度", MyApplicationsArgs, _applications),
        ToolSpec("query_progress", "查询办件进度（受理编号加手机号或身份证后四位）", ProgressArgs, _progress),
        ToolSpec("handoff", "转接大厅工作人员", HandoffArgs, _handoff),
        ToolSpec("fill_form", "开始或继续预填事项的申请表：已知信息自动填入，返回下一个需要居民回答的项",
                 FormArgs, _fill_form),
        ToolSpec("confirm_form", "生成可打印的申请表（需居民核对并明确确认）", FormItemArgs, _confirm_form),
        ToolSpec("forms_available", "列出可以在线预填申请表的事项", NoArgs, _forms_available),
        ToolSpec("erase_my_data", "删除居民自己的个人信息和记忆（需居民明确确认）", NoArgs, _erase),
    )
}


def run_tool(ctx: ToolContext, name: str, raw_args: dict[str, Any]) -> dict[str, Any]:
    """Execute one planned call; every outcome is a result, never an exception."""
    spec = TOOLS.get(name)
    if spec is None:
        return {"name": name, "status": "error", "error": f"未知工具：{name}", "args": raw_args}
    try:
        args = spec.args.model_validate(raw_args or {})
    except ValidationError as exc:
        problems = "；".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return {"name": name, "status": "error", "error": f"参数无效：{problems}", "args": raw_args}
    plain_args = args.model_dump(mode="json", exclude_none=True)
    try:
        with ctx.session.begin_nested():
            data = spec.run(ctx, args)
    except NeedsConfirmation as needed:
        return {"name": name, "status": "needs_confirmation", "args": plain_args,
                "action": needed.action, "digest": needed.digest, "summary": needed.summary,
                "offered": needed.offered, "slot": needed.slot}
    except BookingError as refusal:
        return {"name": name, "status": "refused", "args": plain_args, "code": refusal.code,
                "error": refusal.reason,
                "alternatives": [asdict(a) if not isinstance(a, dict) else a for a in refusal.alternatives]}
    except LookupError as missing:
        return {"name": name, "status": "error", "args": plain_args, "error": str(missing)}
    except Exception:  # a tool bug must not break the conversation; the log keeps it (masked)
        log.exception("tool %s failed", name)
        return {"name": name, "status": "error", "args": plain_args, "error": "系统繁忙，请稍后再试"}
    return {"name": name, "status": "success", "args": plain_args, "data": data}
