"""Answers from the knowledge base: the entry's own words, fitted to the channel, with their source.

The offline brain never rewrites an answer: it quotes the best entry (shortened at a sentence
end for SMS and for elderly residents, with the address of the full text) and says where it
comes from. When the question also named a service item, the item's guide comes with it.
"""

from __future__ import annotations

import re
from typing import Any

from tongban.agent.state import ConversationState
from tongban.tools.kb.chunks import sentences

LIMITS = {"sms": 70, "elderly": 160, "chat": 600}  # characters of an answer shown in each case
NOT_FOUND = ("抱歉，这个问题我在现有的政策问答和办事指南里没有找到可靠的答案，不能随便回答。"
             "您可以回复“转人工”请工作人员解答，或拨打12345政务服务便民热线。")


def knowledge(state: ConversationState) -> dict[str, Any] | None:
    """The knowledge-base result of this turn when its best hit may be answered from."""
    for result in reversed(state.get("results", [])):
        if result["name"] == "search_knowledge" and result["status"] == "success":
            data = result.get("data") or {}
            return data if data.get("answerable") and data.get("hits") else None
    return None


def page(key: str) -> str:
    """Where the full text can be read (the public page the SMS link points to)."""
    return f"/kb/{key}"


def fit(text: str, limit: int) -> tuple[str, bool]:
    """Whole sentences up to `limit` characters (at least the first, cut if it alone is longer);
    True when something was left out."""
    text = text.strip()
    if len(text) <= limit:
        return text, False
    out = ""
    for sentence in sentences(text):
        if out and len(out) + len(sentence) > limit:
            break
        out += sentence if not out or out[-1] in "。！？!?；;，,：:" else "\n" + sentence
    if len(out) > limit:
        out = out[: limit - 1] + "…"
    return out, True


def source_line(hit: dict[str, Any]) -> str:
    where = f"《{hit['source']}》" + (hit.get("locator") or "")
    extra = "，".join(x for x in (hit.get("department"), hit.get("origin")) if x)
    return f"（出处：{where}，编号 {hit['key']}" + (f"；{extra}" if extra else "") + "）"


def answer(hit: dict[str, Any], *, channel: str, elderly: bool) -> str:
    """One entry's answer for this channel, with its source."""
    limit = LIMITS["sms"] if channel == "sms" else LIMITS["elderly"] if elderly else LIMITS["chat"]
    body = hit["text"] if len(hit["text"]) <= limit or not hit.get("passage") else hit["passage"]
    shown, cut = fit(body, limit)
    if cut or body != hit["text"]:
        shown += f"\n全文：{page(hit['key'])}"
    if channel == "sms":
        return f"{shown}（编号 {hit['key']}）"
    return f"{shown}\n{source_line(hit)}"


def compose_answer(
    state: ConversationState, found: dict[str, Any], item_reply: dict[str, Any] | None, *, elderly: bool
) -> dict[str, Any]:
    """The knowledge-base answer, and the item guide when the question also named an item."""
    hit = found["hits"][0]
    channel = (state.get("turn") or {}).get("channel") or ""
    text = answer(hit, channel=channel, elderly=elderly)
    citations = [hit["key"]]
    if item_reply is None:
        return {"text": text, "quick_replies": ["转人工"], "cards": [_card(hit)], "item": None,
                "citations": citations}
    first = (state.get("focus") or {}).get("kb_first")
    if first == "item":
        text = f"{item_reply['text']}\n\n相关政策问答：\n{text}"
        cards = [*item_reply.get("cards", []), _card(hit)]
    else:
        text = f"{text}\n\n相关事项：【{item_reply['item']}】，回复“要带什么材料”“在哪里办”可查看办事指南。"
        cards = [*item_reply.get("cards", []), _card(hit)]  # the item card first: SMS templates read it
    return {**item_reply, "text": text, "cards": cards, "citations": citations}


def searched(state: ConversationState) -> dict[str, Any] | None:
    """This turn's knowledge-base result, answerable or not (None: not consulted)."""
    for result in reversed(state.get("results", [])):
        if result["name"] == "search_knowledge" and result["status"] == "success":
            return result.get("data") or {}
    return None


def _grams(text: str) -> set[str]:
    han = re.sub(r"[^0-9\u4e00-\u9fff]+", " ", text)
    return {word[i : i + 2] for word in han.split() for i in range(len(word) - 1)}


def grounded(text: str, hits: list[dict[str, Any]], share: float = 0.5) -> bool:
    """Does a model's answer say what the cited entries say? At least `share` of its character
    pairs (citation marks aside) must occur in them: a paraphrase passes, an invention does not."""
    said = _grams(re.sub(r"【[^】]*】|编号\s*[\w.-]+", " ", text))
    source: set[str] = set()
    for hit in hits:
        source |= _grams(f"{hit.get('title', '')} {hit['text']}")
    return bool(said) and len(said & source) / len(said) >= share


def model_answer(text: str, found: dict[str, Any]) -> tuple[str, list[str]] | None:
    """A model's answer to a policy question, with the sources of the entries it cites; None when
    it cites none of the retrieved entries or says more than they do (the offline answer then)."""
    hits = found.get("hits") or []
    cited = [h for h in hits if h["key"] in text]
    if not found.get("answerable") or not cited or not grounded(text, cited):
        return None
    return text + "\n" + "\n".join(source_line(h) for h in cited), [h["key"] for h in cited]


def _card(hit: dict[str, Any]) -> dict[str, Any]:
    return {"type": "kb", "key": hit["key"], "title": hit.get("title") or "", "source": hit["source"],
            "locator": hit.get("locator") or "", "url": page(hit["key"]), "summary": fit(hit["text"], 30)[0]}
