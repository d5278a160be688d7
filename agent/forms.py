"""What the conversation remembers about a form being filled, between messages.

The focus keeps which item's form is under way, the field just asked and every field asked so
far — keys and labels only: the values are sealed in the resident's draft (`memory.forms`), so
the checkpoint holds nothing personal. It is updated from the tools' results whichever brain
planned the calls, so a model starting a form hands the questions to the same rules.
"""

from __future__ import annotations

from typing import Any

from tongban.agent.state import ConversationState

FORM_OFFER = "这个事项有申请表，我可以用您的实名信息先帮您填好，只问缺少的几项，回复“帮我填表”即可。"
# without a verified identity there is nothing to fill from: every field is asked
FORM_OFFER_UNVERIFIED = "这个事项有申请表，我可以一项一项问您，在线帮您填好，回复“帮我填表”即可。"


def form_offer(verified: bool) -> str:
    return FORM_OFFER if verified else FORM_OFFER_UNVERIFIED


def form_progress(state: ConversationState) -> dict[str, Any]:
    """The focus update after this turn's form tools: the next field asked, or the form done."""
    focus = state.get("focus") or {}
    form: dict[str, Any] | None = focus.get("form")
    update: dict[str, Any] = {}
    for result in state.get("results", []):
        if result["name"] == "fill_form" and result["status"] == "success":
            data = result["data"]
            same = (form or {}).get("item", {}).get("code") == data["item"]["code"]
            asked = list((form or {}).get("asked", [])) if same else []
            form = {"item": data["item"], "asked": asked, "asking": None}
            ask = data.get("next")
            if ask:
                form.update(asking=ask["key"], label=ask["label"], personal=ask["personal"], required=ask["required"])
                if ask["key"] not in asked:
                    asked.append(ask["key"])
            update["task"] = "fill_form" if ask else None
        elif result["name"] == "confirm_form" and result["status"] == "success":
            form, update["task"] = None, None
    if form != focus.get("form"):
        update["form"] = form
    return update
