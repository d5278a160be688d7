"""Approved templates: the only thing a Chinese SMS gateway will send.

Gateways (Alibaba, Tencent) deliver nothing but pre-approved templates whose variables are
short values; a message built from free text is refused, and a long variable is cut by the
gateway or the message rejected. So every reply is one registered template, its variables
cleaned and fitted to their limits here, before a sender sees it.

Segments follow the 70/67 rule: the 【signature】 counts; up to 70 characters is one SMS,
longer messages are split into 67-character segments (each carries a concatenation header).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from string import Template as _Text
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

SINGLE_LIMIT = 70
SEGMENT_LIMIT = 67
MENU_LINE = "回复1查进度 2预约 3咨询 0人工"


class Variable(BaseModel):
    max_length: int = Field(default=35, ge=1, le=500)
    truncate: bool = True  # links and codes are refused rather than cut (a cut link is wrong)


class Template(BaseModel):
    code: str = Field(min_length=1)  # Alibaba TemplateCode (SMS_…) or Tencent TemplateId
    text: str = Field(min_length=1)  # as approved, with ${name} placeholders
    variables: dict[str, Variable] = Field(default_factory=dict)  # in Tencent's {1},{2}… order

    @field_validator("variables", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """`{"item": 20}` is short for `{"item": {"max_length": 20}}`."""
        if isinstance(value, dict):
            return {k: {"max_length": v} if isinstance(v, int) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _placeholders_match(self) -> Template:
        named = set(re.findall(r"\$\{(\w+)\}", self.text))
        if named != set(self.variables):
            raise ValueError(f"template {self.code}: placeholders {sorted(named)} != variables {sorted(self.variables)}")
        return self


class TemplateError(ValueError):
    """A value that cannot go into its variable (a link or code over its limit, a missing one)."""


def _t(template_code: str, text: str, /, **variables: int | dict[str, Any]) -> dict[str, Any]:
    return {"code": template_code, "text": text, "variables": variables}


_LINK = {"max_length": 80, "truncate": False}
_CODE = {"max_length": 20, "truncate": False}

# Defaults: the codes are placeholders until the gateway approves each text; override them
# (and, if the approved wording differs, the text) with TONGBAN_SMS_TEMPLATES.
DEFAULTS: dict[str, dict[str, Any]] = {
    "menu": _t("SMS_TB_MENU", f"您好，这里是政务服务短信助手。{MENU_LINE}"),
    "fallback": _t("SMS_TB_FALLBACK", f"抱歉，短信暂不能回答这个问题。{MENU_LINE}，或拨打12345"),
    "consult": _t("SMS_TB_CONSULT", "请直接回复您想办的事，如：换身份证要带什么。回复0转人工"),
    "item": _t("SMS_TB_ITEM", "${item}办事指南：${url} 回复2预约 0人工", item=20, url=_LINK),
    "kb": _t("SMS_TB_KB", "${summary}（政策问答，全文：${url}）回复0人工", summary=30, url=_LINK),
    "book_item": _t("SMS_TB_BOOK_ITEM", "请回复要预约办理的事项，如：换身份证"),
    "book_hall": _t("SMS_TB_BOOK_HALL", "预约${item}，请回复办理大厅，如：${hall}", item=20, hall=20),
    "book_date": _t("SMS_TB_BOOK_DATE", "预约${item}，请回复日期和上下午，如：明天上午", item=20),
    "book_confirm": _t(
        "SMS_TB_BOOK_CONFIRM", "请确认预约：${item}，${time}，${hall}。回复1确认，2取消",
        item=20, time=20, hall=20,
    ),
    "book_refused": _t("SMS_TB_BOOK_REFUSED", "该时间无法预约${item}，可约${time}。请回复其他日期", item=20, time=20),
    "booked": _t(
        "SMS_TB_BOOKED", "预约成功：${item}，${time}，${hall}，预约码${code}。请带齐材料按时到场",
        item=20, time=20, hall=20, code=_CODE,
    ),
    "no_appointment": _t("SMS_TB_NO_APPOINTMENT", "您目前没有待办理的预约。回复2预约"),
    "cancel_confirm": _t("SMS_TB_CANCEL_CONFIRM", "请确认取消预约：${item}。回复1确认取消，2保留", item=20),
    "cancel_which": _t("SMS_TB_CANCEL_WHICH", "您有多个预约，请回复要取消的事项，如：${item}", item=20),
    "cancelled": _t("SMS_TB_CANCELLED", "已为您取消${item}的预约。", item=20),
    "declined": _t("SMS_TB_DECLINED", f"好的，已取消该操作。{MENU_LINE}"),
    "progress": _t(
        "SMS_TB_PROGRESS", "办件${receipt}（${item}）当前状态：${status}。",
        receipt=_CODE, item=20, status=10,
    ),
    "progress_ask": _t("SMS_TB_PROGRESS_ASK", "请回复办件受理编号（GX开头共16位，见受理回执）"),
    "progress_check": _t(
        "SMS_TB_PROGRESS_CHECK",
        "未能核验该办件。请核对受理编号，或回复申请时登记的手机号、身份证后四位。多次失败请15分钟后再试",
    ),
    "handoff": _t("SMS_TB_HANDOFF", "已为您转接人工服务，工作人员会尽快回复，请稍候。"),
    # handed off outside staffed hours: when someone will answer, as the web chat says it
    "handoff_later": _t(
        "SMS_TB_HANDOFF_LATER", "已为您转接人工服务。现在是非工作时间，工作人员将在${when}后回复，急事请拨12345",
        when=12,
    ),
    "staff_notice": _t("SMS_TB_STAFF_NOTICE", "工作人员已处理您的咨询，详情请拨打12345，或直接回复短信留言"),
    # the first reply of the staff member who took the conversation: their joining and their
    # answer in one SMS (the join notice is not sent on its own)
    "staff_joined": _t(
        "SMS_TB_STAFF_JOINED", "工作人员${staff}已接入并回复了您的咨询，详情请拨打12345，或直接回复短信留言", staff=8,
    ),
}


def registry(overrides: dict[str, dict[str, Any]] | None = None, *, variable_limit: int = 35) -> dict[str, Template]:
    """Defaults merged with configured overrides (a key may change only its code).

    `variable_limit` is the gateway's cap (Alibaba: 35 characters for most variables): a
    truncatable variable never exceeds it, whatever its template says.
    """
    overrides = overrides or {}
    templates = {}
    for key in DEFAULTS.keys() | overrides.keys():
        template = Template.model_validate({**DEFAULTS.get(key, {}), **overrides.get(key, {})})
        for spec in template.variables.values():
            if spec.truncate:
                spec.max_length = min(spec.max_length, variable_limit)
        templates[key] = template
    return templates


@dataclass(frozen=True)
class Rendered:
    """One template with its fitted variables, ready for any sender."""

    key: str
    template: Template
    variables: dict[str, str]  # in the template's order
    text: str  # the body as the resident reads it, without the signature

    def full_text(self, sign_name: str) -> str:
        return f"【{sign_name}】{self.text}"

    def segments(self, sign_name: str) -> int:
        return segments(self.full_text(sign_name))


def segments(text: str) -> int:
    """How many SMS a message costs: 1 up to 70 characters, else ⌈n / 67⌉ (signature included)."""
    length = len(text)
    if length <= SINGLE_LIMIT:
        return 1
    return math.ceil(length / SEGMENT_LIMIT)


_FORBIDDEN = re.compile(r"[【】\[\]\r\n\t\x00-\x1f]")


def clean(value: str) -> str:
    """Gateways refuse brackets that look like a signature and control characters."""
    return re.sub(r"\s+", " ", _FORBIDDEN.sub(" ", value)).strip()


def fit(name: str, value: str, spec: Variable) -> str:
    value = clean(value)
    if len(value) <= spec.max_length:
        return value
    if not spec.truncate:
        raise TemplateError(f"{name} is {len(value)} characters, its limit is {spec.max_length}")
    return value[: spec.max_length - 1] + "…"


def render(templates: dict[str, Template], key: str, values: dict[str, str] | None = None) -> Rendered:
    """Fill one registered template; raises TemplateError when a value cannot fit."""
    template = templates[key]
    values = values or {}
    missing = [name for name in template.variables if not values.get(name)]
    if missing:
        raise TemplateError(f"template {key}: no value for {', '.join(missing)}")
    fitted = {name: fit(name, values[name], spec) for name, spec in template.variables.items()}
    return Rendered(key=key, template=template, variables=fitted, text=_Text(template.text).substitute(fitted))
