"""Pre-filled application forms: what tongban already knows fills the form, the rest is asked.

An item's form is described in the catalog (`FormField`). A field whose `source` is
"identity.*" is filled from the resident's verified identity (实名) — never from what an
unverified resident typed elsewhere — and "memory.<key>" from what an earlier form remembered
(sealed) or long-term memory. Everything else is asked, one field at a time, and checked the
way the hall would check it: ID numbers by GB 11643 check digit, phones by numbering plan,
bank cards by Luhn, dates resolved by jionlp. What leaves this module for a reply, a log or a
model is masked (`mask_value`); clear values live only in the sealed `FormFill` and the PDF.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import re
from dataclasses import dataclass, field

from rapidfuzz import fuzz
from sqlmodel import Session, select
from stdnum import luhn

from tongban.memory import forms
from tongban.memory.models import FormField, FormFill, Resident, ServiceItem
from tongban.memory.pii import (
    InvalidIdentifier,
    Vault,
    mask_id_number,
    mask_name,
    mask_phone,
    normalise_id_number,
    normalise_phone,
)
from tongban.memory.residents import identity_of

with contextlib.redirect_stdout(io.StringIO()):  # jionlp prints a banner on import
    import jionlp as jio

VERIFIED = "_verified"  # meta value kept with the form: identity fields came from 实名, or were typed
SKIP = re.compile(r"^(跳过|不填|没有|无|暂无|不用填|略过|先不填)[了吧。.!！]*$")
_LEAD_IN = re.compile(r"^(我的|他的|她的|对方的)?(名字|姓名|地址|账号|卡号|号码|编号)?(是|叫|为|填)[:：]?\s*|^(我叫|住在)\s*")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_DIGITS = {"id_number": re.compile(r"\d{17}[\dXx]"), "phone": re.compile(r"(?:\+?86)?1\d{10}"),
           "bank_card": re.compile(r"\d{12,19}")}


class InvalidAnswer(ValueError):
    """The resident's answer does not fit the field; the message says why, in Chinese."""


@dataclass
class Fill:
    """A form as it stands: values (clear, for the tool only), where each came from, what is missing."""

    item_code: str
    item_name: str
    fields: list[FormField]
    values: dict[str, str]
    origins: dict[str, str]  # key → identity / memory / answer
    verified: bool
    fill: FormFill | None = None
    invalid: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return f"{self.item_name}申请表"

    @property
    def missing(self) -> list[FormField]:
        return [f for f in self.fields if f.key not in self.values]

    def digest(self) -> str:
        """Names exactly these values: a confirmation of other values does not cover them."""
        payload = json.dumps(self.values, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def masked(self) -> list[dict[str, object]]:
        """Every field for a reply: label and masked value (None while missing)."""
        return [
            {"key": f.key, "label": f.label, "kind": f.kind, "options": list(f.options), "required": f.required,
             "personal": f.personal,
             "shown": mask_value(f, self.values[f.key]) if f.key in self.values else None,
             "origin": self.origins.get(f.key)}
            for f in self.fields
        ]


def fields_of(item: ServiceItem) -> list[FormField]:
    return [FormField.model_validate(f) for f in item.form_fields]


def item_with_form(session: Session, item_code: str) -> ServiceItem:
    item = session.exec(select(ServiceItem).where(ServiceItem.code == item_code)).first()
    if item is None:
        raise LookupError(f"没有编码为 {item_code} 的事项")
    if not item.form_fields:
        raise LookupError(f"“{item.name}”暂时没有可以预填的申请表")
    return item


def known_values(resident: Resident, vault: Vault, fields: list[FormField]) -> tuple[dict[str, str], dict[str, str]]:
    """Values tongban already holds for these fields, and where each came from."""
    identity = identity_of(resident, vault) if resident.verified else None
    kept = {**{k: str(v) for k, v in (resident.memory or {}).items() if isinstance(v, str | int)},
            **forms.remembered(resident, vault)}
    values: dict[str, str] = {}
    origins: dict[str, str] = {}
    for f in fields:
        kind, _, name = (f.source or "").partition(".")
        value = getattr(identity, name, None) if kind == "identity" and identity is not None else None
        if kind == "memory":
            value = kept.get(name)
        if value:
            values[f.key], origins[f.key] = str(value), kind
    return values, origins


def current(session: Session, vault: Vault, resident: Resident, item_code: str) -> Fill:
    """The resident's form for this item: their draft's answers under what is known now."""
    item = item_with_form(session, item_code)
    fields = fields_of(item)
    draft = forms.draft_for(session, resident_id=resident.id or 0, item_code=item.code)
    answered = forms.values_of(draft, vault) if draft else {}
    known, origins = known_values(resident, vault, fields)
    identity_keys = {f.key for f in fields if (f.source or "").startswith("identity.")}
    values, where = {}, {}
    for f in fields:  # a verified identity wins over anything typed; a typed answer over memory
        if f.key in known and (f.key in identity_keys or f.key not in answered):
            values[f.key], where[f.key] = known[f.key], origins[f.key]
        elif f.key in answered:
            values[f.key], where[f.key] = answered[f.key], "answer"
    return Fill(item.code, item.name, fields, values, where, resident.verified, draft)


def answer(
    session: Session, vault: Vault, resident: Resident, item_code: str, *, key: str, text: str,
    now: dt.datetime, skip: bool = False,
) -> Fill:
    """Record one answer (validated) in the resident's draft; an invalid one is reported, not kept."""
    fill = current(session, vault, resident, item_code)
    target = next((f for f in fill.fields if f.key == key), None)
    if target is None:
        raise LookupError(f"申请表里没有“{key}”这一项")
    try:
        if skip or SKIP.match(text.strip()):
            if target.required:
                raise InvalidAnswer(f"“{target.label}”是必填项，请提供")
            value = ""
        else:
            value = validate(target, text, now)
    except InvalidAnswer as exc:
        fill.invalid = {key: str(exc)}
        return fill
    fill.values[key], fill.origins[key] = value, "answer"
    return save(session, vault, resident, fill)


def save(session: Session, vault: Vault, resident: Resident, fill: Fill) -> Fill:
    stored = {**fill.values, VERIFIED: "1" if fill.verified else ""}
    fill.fill = forms.save(session, vault, fill.fill, resident_id=resident.id or 0, item_code=fill.item_code,
                           values=stored)
    return fill


def confirm(session: Session, vault: Vault, resident: Resident, fill: Fill) -> FormFill:
    """The resident confirmed exactly these values: keep them, and remember the reusable ones."""
    saved = save(session, vault, resident, fill).fill
    assert saved is not None
    forms.confirm(session, saved)
    reusable = {f.source.split(".", 1)[1]: fill.values[f.key] for f in fill.fields
                if (f.source or "").startswith("memory.") and fill.values.get(f.key)}
    forms.remember(session, resident, vault, reusable)
    return saved


def validate(f: FormField, text: str, now: dt.datetime) -> str:
    """The field's value from the resident's words, or InvalidAnswer saying what is wrong."""
    raw = _LEAD_IN.sub("", text.strip()).strip(" 。.，,")
    if not raw:
        raise InvalidAnswer(f"请提供“{f.label}”")
    if f.kind in _DIGITS:  # the number inside a sentence: 身份证号是4501…, 卡号 6222 0210 …
        found = _DIGITS[f.kind].search(re.sub(r"[\s-]", "", raw))
        raw = found.group() if found else raw
    try:
        if f.kind == "id_number":
            return normalise_id_number(re.sub(r"\s", "", raw))
        if f.kind == "phone":
            return normalise_phone(re.sub(r"[\s-]", "", raw))
    except InvalidIdentifier as exc:
        raise InvalidAnswer(f"{exc}，请核对后重新输入{f.label}") from exc
    if f.kind == "bank_card":
        digits = re.sub(r"[\s-]", "", raw)
        if not re.fullmatch(r"\d{12,19}", digits) or not luhn.is_valid(digits):
            raise InvalidAnswer("银行卡号无效（应为12到19位数字），请核对后重新输入")
        return digits
    if f.kind == "choice":
        return _choice(f, raw)
    if f.kind == "date":
        return _date(f, raw, now)
    if f.kind == "number":
        found = _NUMBER.search(raw.replace(",", ""))
        if found is None:
            raise InvalidAnswer(f"“{f.label}”请填写数字")
        return found.group()
    if len(raw) > 100:
        raise InvalidAnswer(f"“{f.label}”太长了，请不要超过100个字")
    return raw


def _choice(f: FormField, raw: str) -> str:
    if raw.isdigit() and 1 <= int(raw) <= len(f.options):
        return f.options[int(raw) - 1]
    for option in f.options:
        if option in raw or raw in option:
            return option
    score, best = max(((fuzz.partial_ratio(raw, o), o) for o in f.options), default=(0.0, ""))
    if score >= 75:
        return best
    raise InvalidAnswer(f"“{f.label}”请从这些中选择：{'、'.join(f.options)}")


def _date(f: FormField, raw: str, now: dt.datetime) -> str:
    try:
        parsed = jio.parse_time(raw, time_base=now.replace(tzinfo=None))
    except Exception as exc:  # jionlp raises assorted errors on what it cannot read
        raise InvalidAnswer(f"没看懂这个日期，请按“2024年5月1日”的格式告诉我{f.label}") from exc
    start, end = (dt.datetime.fromisoformat(t) for t in parsed["time"][:2])
    if parsed.get("type") != "time_point" or start.date() != end.date():
        raise InvalidAnswer(f"请说到具体哪一天，例如“2024年5月1日”（{f.label}）")
    day = start.date()
    return f"{day.year}年{day.month}月{day.day}日"


def mask_value(f: FormField, value: str) -> str:
    """How a value appears on screen, in logs and to a model: personal data masked."""
    if not value:
        return "（未填）"
    if f.kind == "id_number":
        return mask_id_number(value)
    if f.kind == "phone":
        return mask_phone(value)
    if f.kind == "bank_card" or (f.personal and value.isdigit()):
        return value[:4] + "*" * max(4, len(value) - 8) + value[-4:] if len(value) > 8 else "****"
    if not f.personal:
        return value
    if len(value) <= 4:
        return mask_name(value)
    keep = min(6, len(value) // 3)
    return value[:keep] + "****"


def pdf_of(session: Session, vault: Vault, fill: FormFill) -> bytes:
    """The printable form of a confirmed fill (clear values: for its owner or the staff holding it)."""
    from tongban.tools import form_pdf  # reportlab loads only when a form is printed

    item = item_with_form(session, fill.item_code)
    values = forms.values_of(fill, vault)
    return form_pdf.render(
        title=f"{item.name}申请表", item_code=item.code, fields=fields_of(item), values=values,
        verified=bool(values.get(VERIFIED)), reference=f"{fill.id or 0:08d}", created=fill.created_at,
    )
