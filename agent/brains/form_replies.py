"""Replies while a form is filled: one question at a time, and the filled form masked.

Questions name the field and, for choices, offer the options as quick replies; an answer that
does not fit is asked again with the reason. Values appear only masked (身份证 4501**********1234);
the clear form is in the PDF its owner downloads.
"""

from __future__ import annotations

from typing import Any

from tongban.agent.brains.base import BrainContext
from tongban.agent.state import ConversationState

# channels whose residents have no browser identity to open /forms/… with (no cookie, no token)
BROWSERLESS = ("wechat", "sms")
ORIGINS = {"identity": "您的实名信息", "memory": "您上次填写的信息"}


def _reply(text: str, *, quick: list[str] | None = None, cards: list[dict[str, Any]] | None = None,
           item: str | None = None) -> dict[str, Any]:
    return {"text": text, "quick_replies": quick or [], "cards": cards or [], "item": item}


def question(field: dict[str, Any], *, again: bool = False) -> tuple[str, list[str]]:
    """How one field is asked, and its quick replies."""
    label, kind = field["label"], field["kind"]
    lead = "接着刚才的，" if again else ""
    if kind == "choice":
        options = field.get("options", [])
        numbered = "；".join(f"{n}. {o}" for n, o in enumerate(options, start=1))
        text, quick = f"{lead}请问{label}是哪一项？{numbered}", list(options[:6])
    elif kind == "date":
        text, quick = f"{lead}请问{label}是哪一天？（如 2024年5月1日）", []
    elif kind == "id_number":
        text, quick = f"{lead}请提供{label}（18位）。", []
    elif kind == "bank_card":
        text, quick = f"{lead}请提供{label}（本人名下的借记卡）。", []
    else:
        text, quick = f"{lead}请提供{label}。", []
    if not field.get("required", True):
        text += "（选填，没有可回复“跳过”）"
        quick.append("跳过")
    return text, quick


def compose_form(state: ConversationState, ctx: BrainContext) -> dict[str, Any]:
    focus = state.get("focus") or {}
    results = state.get("results", [])
    if focus.get("form_action") == "stopped":
        return _reply("好的，先不填了。已填的内容会为您保留，想继续时说“继续填表”。", quick=["继续填表"])
    done = next((r for r in results if r["name"] == "confirm_form" and r["status"] == "success"), None)
    if done is not None:
        data = done["data"]
        card = {"type": "form", "title": data["title"], "url": data["url"], "item": data["item"]["name"]}
        if (state.get("turn") or {}).get("channel") in BROWSERLESS:
            text = (f"《{data['title']}》已填好并保存（预填编号 {data['reference']}）。"
                    "公众号和短信里打不开下载链接：到政务服务中心窗口时说“转人工”，接待您的工作人员可以直接打印，"
                    "您核对后签字即可。")
            return _reply(text, quick=["要带什么材料", "预约办理"], cards=[card], item=data["item"]["name"])
        text = (f"《{data['title']}》已生成，请下载打印：{data['url']}\n"
                "请核对后签字，连同所需材料带到政务服务中心窗口提交。下载链接只有您本人能打开。")
        return _reply(text, quick=["要带什么材料", "预约办理"], cards=[card], item=data["item"]["name"])
    listed = next((r for r in results if r["name"] == "forms_available"), None)
    if listed is not None:
        names = [i["name"] for i in (listed.get("data") or {}).get("items", [])]
        return _reply("您想填写哪个事项的申请表？目前可以在线预填：" + "、".join(names) + "。", quick=names[:4])
    filled = next((r for r in reversed(results) if r["name"] == "fill_form"), None)
    failed = next((r for r in reversed(results) if r["status"] == "error"), None)
    if filled is None or filled["status"] != "success":
        reason = (failed or filled or {}).get("error") or "暂时无法填写申请表"
        return _reply(f"抱歉，{reason}。也可以到政务服务中心窗口领取纸质表格填写。")
    return _progress(filled["data"], focus, ctx, answered=bool(filled.get("args", {}).get("field")))


def _progress(data: dict[str, Any], focus: dict[str, Any], ctx: BrainContext, *, answered: bool) -> dict[str, Any]:
    ask, item = data.get("next"), data["item"]["name"]
    parts: list[str] = []
    if data.get("invalid"):
        parts.append(next(iter(data["invalid"].values())) + "。")
    elif answered:
        parts.append("好的，已记下。")
    else:
        parts.append(f"好的，我来帮您填写《{data['title']}》，共{len(data['fields'])}项。")
        for origin, labels in data.get("prefilled", {}).items():
            if labels:
                parts.append(f"已根据{ORIGINS[origin]}填好：{'、'.join(labels)}。")
        if not data.get("verified") and not ctx.verified:
            parts.append("您还没有实名认证，姓名、身份证号等需要您自己填写，窗口会当面核对证件。")
        if ask:
            parts.append(f"还需要您提供{data['missing']}项。")
    if ask is None:  # nothing missing: the confirmation question follows from confirm_form
        return _reply("".join(parts), item=item)
    again = not data.get("invalid") and ask["key"] in (focus.get("form") or {}).get("asked", [])
    text, quick = question(ask, again=again)
    return _reply("".join(parts) + "\n" + text, quick=quick, item=item)


def confirm_text(summary: str) -> str:
    return f"请核对您的申请表：\n{summary}\n回复“确认”生成可打印的申请表，回复“取消”暂不生成。"
