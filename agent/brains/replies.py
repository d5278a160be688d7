"""Replies composed from tool results: concise Simplified Chinese, grounded in the catalog.

Lookups cite the item code and legal basis. Elderly mode keeps sentences short, asks one
question at a time, and writes numbers plainly. No text here comes from a model, so these
replies carry no AI-generated label; the LLM brain's do.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rapidfuzz import fuzz

from tongban.agent.brains import clarify
from tongban.agent.brains.base import BrainContext
from tongban.agent.brains.form_replies import compose_form, confirm_text
from tongban.agent.brains.kb_replies import NOT_FOUND, compose_answer, knowledge, searched
from tongban.agent.state import ConversationState
from tongban.memory.clock import WEEKDAYS

CAPABILITIES = "我可以帮您：查询办事指南（材料、流程、收费、时限、办理地点），预约办事大厅，查询办件进度，或转接人工服务。"


def _result(state: ConversationState, name: str) -> dict[str, Any] | None:
    return next((r for r in reversed(state.get("results", [])) if r["name"] == name), None)


def _day(iso: str) -> str:
    day = dt.date.fromisoformat(iso)
    return f"{day.month}月{day.day}日（周{WEEKDAYS[day.weekday()]}）"


def reply(
    text: str,
    *,
    quick: list[str] | None = None,
    cards: list[dict[str, Any]] | None = None,
    item: str | None = None,
) -> dict[str, Any]:
    return {"text": text, "quick_replies": quick or [], "cards": cards or [], "item": item}


def compose(state: ConversationState, ctx: BrainContext) -> dict[str, Any]:
    intent = state.get("intent")
    focus = state.get("focus") or {}
    results = state.get("results", [])
    pending = next((r for r in results if r["status"] == "needs_confirmation"), None)
    if pending is not None:
        asked = _confirm_question(pending, focus)
        if focus.get("corrected"):  # a correction: the same question, with exactly the new values
            asked = {**asked, "text": "好的，已按您说的修改。" + asked["text"]}
        return asked
    if focus.get("digression") in ASIDES:
        return reply(ASIDES[focus["digression"]])
    if focus.get("repair") == "which":
        return reply("好的，您要改哪一项？时间、日期、大厅还是事项？")
    if focus.get("repair") in WHICH_VALUE:  # 换个大厅: that value, to what
        return reply(WHICH_VALUE[focus["repair"]])
    if focus.get("repair") == "which_again":  # a bare yes to that question: what to, in one example
        return reply("请直接说要改成什么，比如“改到下午”。不用改就回复“确认”。", quick=["确认", "取消"])
    composer = {
        "service_lookup": _lookup,
        "book_appointment": _booking,
        "cancel_appointment": _cancel,
        "my_appointments": _mine,
        "query_progress": _progress,
        "handoff": _handoff,
        "my_data": _my_data,
        "chitchat": _chitchat,
        "declined": _declined,
        "change_appointment": _change,
        "fill_form": compose_form,
    }.get(intent or "", _out_of_scope)
    return composer(state, ctx)


def _confirm_question(pending: dict[str, Any], focus: dict[str, Any]) -> dict[str, Any]:
    item = (focus.get("item") or {}).get("name")
    if pending["action"] == "book":
        text = f"请确认：{pending['summary']}。回复“确认”即为您预约，回复“取消”则不预约。"
    elif pending["action"] == "form":
        return reply(confirm_text(pending["summary"]), quick=["确认", "取消"], item=item)
    elif pending["action"] == "reschedule":
        text = f"请确认：{pending['summary']}。回复“确认”即为您改约，回复“不用”保留原预约。"
    elif pending["action"] == "cancel":
        text = f"请确认：{pending['summary']}。回复“确认”取消该预约，回复“不用”保留。"
    else:
        text = f"请确认：{pending['summary']}。回复“确认”继续，回复“取消”放弃。"
    return reply(text, quick=["确认", "取消"], item=item)


# ------------------------------------------------------------------ lookups


def _lookup(state: ConversationState, ctx: BrainContext) -> dict[str, Any]:
    found = knowledge(state)
    item = _item_guide(state, ctx) if _result(state, "service_detail") else None
    if found is not None:
        return compose_answer(state, found, item, elderly=ctx.elderly)
    if item is None and searched(state) is not None:  # consulted, nothing sure enough: say so
        return reply(NOT_FOUND, quick=["转人工", "查询办件进度"])
    return item or _item_guide(state, ctx)


def _item_guide(state: ConversationState, ctx: BrainContext) -> dict[str, Any]:
    detail = (_result(state, "service_detail") or {}).get("data")
    offered = (state.get("focus") or {}).get("choices")
    if not detail and offered:  # a close call: ask which item (agent/brains/clarify.py)
        numbered = ctx.elderly or (state.get("turn") or {}).get("channel") == "sms"
        text, quick = clarify.question(offered, numbered=numbered)
        return reply(text, quick=quick, item=offered[0]["name"])
    if not detail:
        return reply("抱歉，没有查到这个事项的办事指南。" + CAPABILITIES)
    aspect = (state.get("focus") or {}).get("aspect")
    if aspect == "halls":
        detail = _hall_in_play_first(detail, (state.get("focus") or {}).get("hall"))
    head = f"【{detail['name']}】（事项编码 {detail['code']}，{detail['department']}）"
    if aspect == "faq":
        body = _faq(detail, (state.get("focus") or {}).get("question") or "", ctx.elderly)
    else:
        body = {
            "materials": _materials,
            "halls": _halls,
            "fee": _fee,
            "time_limit": _time_limit,
            "steps": _steps,
            "online": _online,
            "applicants": _applicants,
        }.get(aspect or "", _summary)(detail, ctx.elderly)
    basis = "、".join(detail.get("legal_basis", [])[:2])
    text = f"{head}\n{body}"
    if basis:
        text += f"\n设定依据：{basis}。"
    quick = (
        ["要带什么材料", "在哪里办", "预约办理"]
        if aspect != "materials"
        else ["在哪里办", "预约办理"]
    )
    card = {
        "type": "item",
        "code": detail["code"],
        "name": detail["name"],
        "department": detail["department"],
        "materials": [m["name"] for m in detail.get("materials", [])],
        "fee": detail.get("fee"),
    }
    return reply(text, quick=quick, cards=[card], item=detail["name"])


def _faq(detail: dict[str, Any], question: str, elderly: bool) -> str:
    """A follow-up without a fixed aspect: the item's closest common question, else a summary."""
    faqs = detail.get("faqs", [])
    if faqs:
        scored = [
            (fuzz.partial_ratio(question, f["q"]) + fuzz.ratio(question, f["q"]), f) for f in faqs
        ]
        score, best = max(scored, key=lambda pair: pair[0])
        if score >= 70:
            return f"问：{best['q']}\n答：{best['a']}"
    return _summary(detail, elderly)


def _summary(detail: dict[str, Any], elderly: bool) -> str:
    if elderly:
        return "\n".join(
            [
                detail.get("description", ""),
                _fee(detail, True),
                "想知道要带什么材料，请回复“材料”。",
            ]
        )
    parts = [
        detail.get("description", ""),
        _materials(detail, False),
        _fee(detail, False),
        _time_limit(detail, False),
    ]
    halls = detail.get("halls", [])
    if halls:
        parts.append(f"可在{len(halls)}个政务服务中心办理，如{halls[0]['name']}。")
    if detail.get("online"):
        parts.append(f"也可在{'、'.join(detail['online'])}网上办理。")
    return "\n".join(p for p in parts if p)


def _materials(detail: dict[str, Any], elderly: bool) -> str:
    materials = detail.get("materials", [])
    required = [m for m in materials if m.get("required", True)]
    lines = [
        f"{n}. {m['name']}（{m['form']}{'，' + str(m['count']) + '份' if m.get('count', 1) > 1 else ''}）"
        for n, m in enumerate(required, start=1)
    ]
    text = "需要带的材料：\n" + "\n".join(lines)
    optional = [m["name"] for m in materials if not m.get("required", True)]
    if optional:  # elderly mode too, in one short line: an older resident asked what to bring
        text += f"\n视情况提供：{'、'.join(optional[:2] if elderly else optional)}。"
    return text


def _hall_in_play_first(detail: dict[str, Any], hall: str | None) -> dict[str, Any]:
    """你们中心在哪: asked while a booking names its hall, that hall's address comes first, so
    the answer is about the place the resident is going to, not the catalog's first five."""
    halls = detail.get("halls", [])
    mine = [h for h in halls if h.get("name") == hall]
    if not mine:
        return detail
    return {**detail, "halls": [*mine, *(h for h in halls if h.get("name") != hall)]}


def _halls(detail: dict[str, Any], elderly: bool) -> str:
    halls = detail.get("halls", [])
    if not halls:
        return "请咨询当地政务服务中心。"
    shown = halls[:3] if elderly else halls[:5]
    lines = [f"· {h['name']}：{h['address']}（{h['phone']}）" for h in shown]
    more = f"\n等{len(halls)}个大厅均可办理。" if len(halls) > len(shown) else ""
    hours = halls[0].get("hours", "")
    online = (
        f"\n也可在{'、'.join(detail['online'])}网上办理。"
        if detail.get("online") and not elderly
        else ""
    )
    return (
        "可以到这些地方办理：\n"
        + "\n".join(lines)
        + more
        + (f"\n办公时间：{hours}" if hours else "")
        + online
    )


def _fee(detail: dict[str, Any], _elderly: bool) -> str:
    return f"收费：{detail.get('fee') or '不收费'}。"


def _time_limit(detail: dict[str, Any], _elderly: bool) -> str:
    parts = []
    if detail.get("promised_limit_days") is not None:
        days = detail["promised_limit_days"]
        parts.append("当场办结" if days == 0 else f"承诺{days}个工作日内办结")
    if detail.get("statutory_limit_days") is not None and detail.get(
        "statutory_limit_days"
    ) != detail.get("promised_limit_days"):
        parts.append(f"法定时限{detail['statutory_limit_days']}日")
    text = "办理时限：" + ("，".join(parts) if parts else "以窗口告知为准") + "。"
    return text + (
        f"（{detail['time_limit_note']}）" if detail.get("time_limit_note") and not parts else ""
    )


def _steps(detail: dict[str, Any], elderly: bool) -> str:
    steps = detail.get("steps", [])[: 3 if elderly else 6]
    return "办理流程：\n" + "\n".join(f"{n}. {s}" for n, s in enumerate(steps, start=1))


def _online(detail: dict[str, Any], _elderly: bool) -> str:
    online = detail.get("online", [])
    text = f"可在{'、'.join(online)}网上办理。" if online else "这个事项需要到大厅现场办理。"
    if detail.get("mail"):
        text += "办好的证件可以邮寄到家。"
    return text


def _applicants(detail: dict[str, Any], _elderly: bool) -> str:
    return f"申请条件：{detail.get('applicants') or '请咨询窗口'}"


# ------------------------------------------------------------------ appointments


def _booking(state: ConversationState, ctx: BrainContext) -> dict[str, Any]:
    focus = state.get("focus") or {}
    item = (focus.get("item") or {}).get("name")
    booked = _result(state, "book_appointment")
    if booked and booked["status"] == "success":
        a = booked["data"]["appointment"]
        text = (
            f"预约成功！{a['item']}，{_day(a['date'])}{a['period']}{a['start']}-{a['end']}，{a['hall']}。"
            f"预约码：{a['confirmation_code']}。请带齐材料按时到场，如需取消请告诉我。"
        )
        return reply(
            text,
            quick=["要带什么材料", "取消预约"],
            item=a["item"],
            cards=[{"type": "appointment", **a}],
        )
    if booked and booked["status"] == "refused":
        alternatives = booked.get("alternatives", [])
        text = booked["error"]
        if alternatives:
            text += (
                "可以约这些时间："
                + "；".join(f"{_day(a['date'])}{a['period']}" for a in alternatives[:3])
                + "。您看哪个合适？"
            )
        quick = [f"{_day(a['date'])}{a['period']}" for a in alternatives[:3]]
        return reply(text, quick=quick, item=item)
    if booked and booked["status"] == "error":
        return reply(f"抱歉，预约没有成功：{booked['error']}", item=item)
    missing = focus.get("missing")
    if missing == "item":
        return reply("您想预约办理哪个事项？比如换身份证、办社保卡。")
    if missing == "hall":
        usual = ctx.memory.get("usual_hall")
        quick = [usual] if usual else [h.name for h in ctx.halls[:3]]
        return reply(f"好的，办理{item}。您想去哪个政务服务中心？", quick=quick, item=item)
    if missing == "date":
        return reply(
            f"您想哪天去{focus.get('hall')}办理{item}？上午还是下午？",
            quick=["明天上午", "明天下午", "后天上午"],
            item=item,
        )
    return reply("请告诉我要办的事项、大厅和日期，我来帮您预约。", item=item)


def _cancel(state: ConversationState, _ctx: BrainContext) -> dict[str, Any]:
    cancelled = _result(state, "cancel_appointment")
    if cancelled and cancelled["status"] == "success":
        a = cancelled["data"]["appointment"]
        return reply(
            f"已为您取消预约：{a['item']}，{_day(a['date'])}{a['period']}，{a['hall']}。",
            item=a["item"],
        )
    listed = (_result(state, "my_appointments") or {}).get("data", {}).get("appointments", [])
    if not listed:
        return reply("您目前没有待办理的预约。")
    lines = [
        f"{n}. {a['item']}，{_day(a['date'])}{a['period']}，{a['hall']}"
        for n, a in enumerate(listed, start=1)
    ]
    return reply(
        "您有这些预约，请告诉我要取消哪一个：\n" + "\n".join(lines),
        quick=[a["item"] for a in listed[:3]],
    )


def _mine(state: ConversationState, _ctx: BrainContext) -> dict[str, Any]:
    listed = (_result(state, "my_appointments") or {}).get("data", {}).get("appointments", [])
    if not listed:
        return reply("您目前没有待办理的预约。需要我帮您预约吗？", quick=["预约办理"])
    lines = [
        f"· {a['item']}，{_day(a['date'])}{a['period']}{a['start']}，{a['hall']}，预约码{a['confirmation_code']}"
        for a in listed
    ]
    return reply("您的预约：\n" + "\n".join(lines), quick=["取消预约"])


# ------------------------------------------------------------------ progress


def _progress(state: ConversationState, ctx: BrainContext) -> dict[str, Any]:
    result = _result(state, "query_progress")
    mine = _result(state, "my_applications")
    if result is None and mine is not None and mine["status"] == "success":
        return _my_applications(mine["data"]["applications"], ctx)
    if result is None:
        return reply("请提供办件的受理编号（GX开头，共16位，在受理回执上）。")
    if result["status"] != "success":
        return reply("受理编号格式不对，请核对后再发（GX开头，共16位）。")
    data = result["data"]
    outcome = data["outcome"]
    if outcome == "disclosed":
        app = data["application"]
        last = app["events"][-1] if app["events"] else None
        text = (
            f"办件 {app['receipt_no']}（{app['item']}，{app['hall']}）当前状态：{app['status']}。"
        )
        if last and not ctx.elderly:
            text += (
                f"\n最近进展：{last['at'][:10]} {last['status']}"
                + (f"，{last['note']}" if last.get("note") else "")
                + "。"
            )
        return reply(text, item=app["item"], cards=[{"type": "progress", **app}])
    if outcome == "need_factor":
        return reply("为了保护您的信息，请再提供申请时登记的手机号，或身份证号的后四位。")
    if outcome == "throttled":
        return reply("验证失败次数较多，为保护办件信息，请15分钟后再试，或携带身份证到大厅查询。")
    return reply(
        "没有查到与这些信息匹配的办件。请核对受理编号和申请时登记的手机号（或身份证后四位）后再试。"
    )


def _my_applications(apps: list[dict[str, Any]], ctx: BrainContext) -> dict[str, Any]:
    """A verified resident's own applications: the one, or a list to choose from."""
    if not apps:
        return reply("没有查到您名下的办件。如果有受理编号（GX开头，共16位），请发给我。")
    if len(apps) == 1:
        app = apps[0]
        text = f"您的办件 {app['receipt_no']}（{app['item']}，{app['hall']}）当前状态：{app['status']}。"
        last = app["events"][-1] if app["events"] else None
        if last and not ctx.elderly:
            text += f"\n最近进展：{last['at'][:10]} {last['status']}。"
        return reply(text, item=app["item"], cards=[{"type": "progress", **app}])
    shown = apps[:3] if ctx.elderly else apps
    lines = [f"{n}. {a['item']}（{a['receipt_no']}）" for n, a in enumerate(shown, start=1)]
    return reply("您名下有这些办件：\n" + "\n".join(lines) + "\n您想查哪一个？回复序号就行。",
                 quick=[str(n) for n in range(1, len(shown) + 1)])


# ------------------------------------------------------------------ the rest


def _handoff(state: ConversationState, _ctx: BrainContext) -> dict[str, Any]:
    result = _result(state, "handoff")
    if result and result["status"] == "success":
        return reply("好的，已为您转接人工服务，工作人员会尽快回复您，请稍候。")
    return reply("抱歉，暂时无法转接人工，请拨打12345政务服务便民热线。")


def _my_data(state: ConversationState, ctx: BrainContext) -> dict[str, Any]:
    focus = state.get("focus") or {}
    if focus.get("data_action") == "erase":
        erased = _result(state, "erase_my_data")
        if erased and erased["status"] == "success":
            return reply(
                "已删除您的个人信息和记忆（常用大厅、最近办理的事项、偏好、预填的申请表）。已有的预约仍然保留。"
            )
        return reply("抱歉，删除没有成功，请稍后再试。")
    memory = ctx.memory
    lines = []
    if memory.get("usual_hall"):
        lines.append(f"常用大厅：{memory['usual_hall']}")
    if memory.get("recent_items"):
        lines.append(f"最近办理：{'、'.join(memory['recent_items'])}")
    if ctx.elderly:
        lines.append("已开启长者模式")
    if not lines:
        return reply("我没有保存您的个人偏好。")
    return reply(
        "我记得的关于您的信息：\n" + "\n".join(lines) + "\n如需删除，请回复“删除我的信息”。"
    )


def _declined(state: ConversationState, _ctx: BrainContext) -> dict[str, Any]:
    action = (state.get("focus") or {}).get("declined")
    text = {
        "book": "好的，这次不预约了。还有什么可以帮您？",
        "cancel": "好的，已为您保留预约，请按时到场。",
        "erase": "好的，您的信息保持不变。",
        "reschedule": "好的，预约保持不变，请按原时间到场。",
        "change": "好的，预约保持不变，请按原时间到场。",
        "form": "好的，申请表先不生成，已填的内容会为您保留，想继续时说“继续填表”。",
    }.get(action or "", "好的，已取消这个操作。")
    return reply(text, quick=["预约办理", "查询办件进度"])


# the one value the resident wants changed without saying to what (换个大厅, 换一天, 换个时间)
WHICH_VALUE = {"which_hall": "好的，您想换到哪个大厅？", "which_date": "好的，您想改到哪一天？",
               "which_time": "好的，您想改到几点？"}
ASIDES = {"chitchat": "不客气。", "hesitate": "好的，不着急，您慢慢考虑。", "cannot_handle": "抱歉，这个我帮不上忙。",
          "ack": "好的。还有什么可以帮您？"}


def reask(pending: dict[str, Any], elderly: bool) -> str:
    """After an aside, the suspended confirmation once more: the same action, the same values."""
    if elderly:
        return f"您刚才的事还没办完：{pending['summary']}。要办就回复“确认”。"
    verb = {"book": "即为您预约", "cancel": "取消该预约", "reschedule": "即为您改约"}.get(pending.get("action", ""), "继续")
    return f"您刚才的{pending['summary']}还没有确认。回复“确认”{verb}，回复“取消”则不办。"


def _change(state: ConversationState, _ctx: BrainContext) -> dict[str, Any]:
    moved = _result(state, "reschedule_appointment")
    if moved and moved["status"] == "success":
        a = moved["data"]["appointment"]
        return reply(
            f"改约成功！{a['item']}，{_day(a['date'])}{a['period']}{a['start']}-{a['end']}，{a['hall']}。"
            f"新的预约码：{a['confirmation_code']}，原预约已作废。",
            quick=["要带什么材料", "取消预约"], item=a["item"], cards=[{"type": "appointment", **a}],
        )
    if moved and moved["status"] == "refused":
        alternatives = moved.get("alternatives", [])
        text = moved["error"]
        if alternatives:
            text += "可以改到这些时间：" + "；".join(f"{_day(a['date'])}{a['period']}" for a in alternatives[:3]) + "。您看哪个合适？"
        return reply(text, quick=[f"{_day(a['date'])}{a['period']}" for a in alternatives[:3]])
    if moved and moved["status"] == "error":
        return reply(f"抱歉，改约没有成功：{moved['error']}")
    listed = (_result(state, "my_appointments") or {}).get("data", {}).get("appointments", [])
    if _result(state, "my_appointments") is not None and not listed:
        return reply("您目前没有可以改约的预约。需要我帮您新约一个吗？", quick=["预约办理"])
    if listed:
        lines = [f"{n}. {a['item']}，{_day(a['date'])}{a['period']}，{a['hall']}" for n, a in enumerate(listed, start=1)]
        return reply("您有这些预约，请告诉我要改哪一个：\n" + "\n".join(lines), quick=[a["item"] for a in listed[:3]])
    return reply("请告诉我要改到哪天、上午还是下午。", quick=["明天上午", "明天下午"])


def _chitchat(_state: ConversationState, _ctx: BrainContext) -> dict[str, Any]:
    return reply(
        "您好，我是通办政务服务助手。" + CAPABILITIES,
        quick=["换身份证", "预约办理", "查询办件进度"],
    )


def _out_of_scope(state: ConversationState, _ctx: BrainContext) -> dict[str, Any]:
    refusal = (state.get("focus") or {}).get("refusal")
    if (state.get("focus") or {}).get("kb_miss"):  # a policy question the knowledge base cannot answer surely
        return reply(NOT_FOUND, quick=["转人工", "查询办件进度"])
    if refusal == "third_party":
        return reply(
            "抱歉，预约和取消只能以您本人的实名身份办理，我不能替他人预约、取消或查看他人的预约。"
            "请让本人用自己的账号办理，或带本人身份证件到大厅窗口办理。" + CAPABILITIES,
            quick=["预约办理", "我的预约"],
        )
    if refusal == "safety":
        return reply("抱歉，我不能提供他人的信息，也不会更改我的规则。" + CAPABILITIES)
    return reply(
        "抱歉，这个问题超出了政务服务的范围，我回答不了。" + CAPABILITIES,
        quick=["换身份证", "预约办理", "查询办件进度"],
    )
