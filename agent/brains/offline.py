"""The offline brain: intent, slots and dialogue policy with no model server.

It decides from cue classes (`intents`), slot extraction (`slots`) and the retrieval's own
confidence, carries context in the conversation's focus (the item in play, hall, date, receipt
number, the task under way), asks for the one missing thing, and plans tool calls. Writes are
planned like any call; the tools refuse them until the resident confirms.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from tongban.agent.brains import clarify, replies
from tongban.agent.brains.base import BrainContext
from tongban.agent.brains.intents import Cues, cues, plainly_service, private_matter
from tongban.agent.brains.repair import repair_commands
from tongban.agent.brains.slots import (
    HallRef,
    bare_weekday,
    classify_answer,
    extract_id_last4,
    extract_phone,
    extract_receipt_no,
    extract_when,
    match_hall,
    normalise,
    same_weekday_in_week_of,
)
from tongban.agent.commands import Command, digress
from tongban.agent.state import ConversationState, Frame
from tongban.agent.verdict import calling
from tongban.tools.forms import SKIP
from tongban.tools.kb.index import QUERY_CHARS
from tongban.tools.language import cue
from tongban.tools.places import places
from tongban.tools.retrieval import Fusion, Hit
from tongban.tools.text import official_reading

# what a question asks about an item, in the order tried: cue aspect_<name> (tools/knowledge/cues.tsv)
ASPECTS = ("materials", "fee", "time_limit", "halls", "online", "applicants", "steps")
# other cues read here: usual_place (the hall used last time), lead_in (openings dropped before
# searching), action_words (what to do rather than which item), item_question, form_stop and
# not_an_answer (during a form), form_words, aspect_only (a question naming only an aspect), keep
# (a clause keeping something as it is), same_day (the appointment's own day)
# a message this long is a pasted text (a rule, a notice) rather than a typed request
PASTED = 100


def _chosen(text: str, choices: list[str], items: list[str]) -> str | None:
    """A receipt number picked from a list shown: by its position (第二个, 2), its last digits, or
    words for its item that name no other listed (公积金嗰个; `items` in the order of `choices`)."""
    if not choices:
        return None
    for receipt in choices:
        if receipt[-4:] in text:
            return receipt
    if len(items) == len(choices):
        called = [receipt for receipt, item in zip(choices, items, strict=True) if calling(text, item)]
        if len(called) == 1:
            return called[0]
    match = re.search(r"第?([1-9一二三四五])(个|项|条|件)?", text)
    if match:
        position = "一二三四五".find(match.group(1)) + 1 or int(match.group(1))
        if position <= len(choices):
            return choices[position - 1]
    return None


def item_ref(hit: Hit) -> dict[str, str]:
    return {"code": hit.code, "name": hit.name}


def confident(hit: Hit | None) -> bool:
    """The question names this item (its name or a keyword, or a homophone of one)."""
    return hit is not None and hit.signals.get("named", 0.0) >= 2


def strong(hit: Hit | None) -> bool:
    """Lexical evidence agrees with the vectors, though the item may not be named."""
    if hit is None:
        return False
    s = hit.signals
    words, agree = float(s.get("words", 0.0)), float(s.get("agree", 0.0))
    return (words >= 2.0 and s.get("words_rank") == 1.0 and agree >= 2) or (agree >= 3 and words >= 1.5)


def near(hit: Hit) -> bool:
    """The vectors found the hit near in meaning (the embedder's own line, tools.embeddings.near_line), or
    were not asked: ranks alone make every question's first hit look sure."""
    return hit.signals.get("near", 1.0) >= 1.0


def plausible(hit: Hit | None) -> bool:
    """Weaker: good enough for a fresh question that is clearly about a service. An item the
    question does not name must also be near it in meaning, not only first in rank."""
    return hit is not None and (confident(hit) or ((strong(hit) or hit.score >= 0.6) and near(hit)))


# how far below the first hit (in fused score over its best) a hit the question names more
# fully may still be preferred to it: naming decides between close hits, never against a
# clearly better one (老人优待证在哪里办 is about 老年人优待证办理, not 退役军人优待证申领)
NAMED_CLOSE = 0.12


# a naming word this long names an object whole (无犯罪记录证明, 居民身份证), not a part of one
WHOLE_NAME = 4

# how far ahead in the structure of its name (retrieval's `structure` signal) the first hit must be
# for naming an object whole not to overturn it: the weight of an action meant (Fusion.action)
ACTION_AHEAD = Fusion().action


def _rivals(hits: list[Hit]) -> list[Hit]:
    """The first hit and those close enough behind it (within `NAMED_CLOSE`) that naming may
    choose among them. Closeness is read on the order retrieval gave, the structure of the
    names included: 开公司 is about 企业设立登记, which the object and action put clearly first,
    not about 非公司企业法人分支机构设立登记, whose name merely holds 公司. A hit the question
    names whole (`WHOLE_NAME`) stays a rival on its fused score: a structure read from a short
    word (公司 → 企业) does not outvote 无犯罪纪录证明. Unless both names' objects were read and the
    first hit is ahead by its action (`ACTION_AHEAD`: the action meant, or the rival's follow-up
    unsaid): 房子送给我，房产证要改成我的名字 names 不动产权证书 whole, but wants its 转移登记, not
    its 补发 (ho3-100, #18). A rival whose object was not read (无犯罪纪录证明 beside 企业设立登记)
    is behind by an object read from a short word, not by an action: it stays."""
    top = hits[0]

    def ranked(hit: Hit) -> float:
        return float(hit.signals.get("ranked", hit.score))

    def structure(hit: Hit) -> float:
        return float(hit.signals.get("structure", 0.0))

    return [top] + [
        h for h in hits[1:] if ranked(top) - ranked(h) <= NAMED_CLOSE
        or (h.signals.get("named", 0.0) >= WHOLE_NAME and top.score - h.score <= NAMED_CLOSE
            and not (structure(h) > 0 and structure(top) - structure(h) >= ACTION_AHEAD))
    ]


def elsewhere(hit: Hit | None, current: dict[str, str] | None) -> bool:
    """The words of a question point at another item (公积金怎么提取 while booking 社保卡),
    though it names none exactly: then it is not a follow-up about the current one."""
    if hit is None or current is None or hit.code == current.get("code"):
        return False
    s = hit.signals
    return float(s.get("words", 0.0)) >= 3.0 and float(s.get("words_rank", 99.0)) <= 2 and hit.score >= 0.6


def kept_out(text: str) -> str:
    """The message without its clauses that keep something as it is (cue keep): in
    把换身份证那个取消掉，社保卡的保留 only the first clause says which one is meant."""
    clauses = [part for part in re.split(r"[，,；;。]", text) if part.strip()]
    meant = [part for part in clauses if not cue("keep").search(part)]
    return "，".join(meant) if meant and len(meant) < len(clauses) else text


def aspect_of(text: str) -> str | None:
    for name in ASPECTS:
        if cue(f"aspect_{name}").search(text):
            return name
    return None


class OfflineBrain:
    name = "offline"

    # ------------------------------------------------------------ understanding

    def understand(self, state: ConversationState, ctx: BrainContext) -> dict[str, Any]:
        if state.get("steps", 0) > 0:
            return self._continue(state, ctx)
        offered = (state.get("focus") or {}).get("choices")
        if not offered:
            return self._understand(state, ctx)
        # the agent asked which item was meant: the answer picks one, or is a new message
        if (picked := clarify.pick(state["turn"]["text"], offered)) is not None:
            return clarify.chosen(picked, state.get("focus") or {})
        decision = self._understand(state, ctx)
        return {**decision, "focus": {"choices": None, "choice_aspect": None, **(decision.get("focus") or {})}}

    def _understand(self, state: ConversationState, ctx: BrainContext) -> dict[str, Any]:
        text = normalise(state["turn"]["text"])
        focus = state.get("focus") or {}
        c = cues(text)
        when = extract_when(text, ctx.now)
        hall = match_hall(text, ctx.halls)
        receipt = extract_receipt_no(text)
        phone = extract_phone(text)
        task = focus.get("task")
        last4 = extract_id_last4(text, asked=task == "query_progress" and bool(focus.get("receipt_no")))
        update: dict[str, Any] = {}
        if hall:
            update["hall"] = hall.name
        if when and when.date:
            update.update(date=when.date.isoformat(), period=when.period, date_said=True,
                          time=when.time.strftime("%H:%M") if when.time else None)
        elif when and when.period:
            update["period"] = when.period
        if receipt:
            update["receipt_no"] = receipt
        if phone:
            update["phone"] = phone
        if last4:
            update["id_last4"] = last4

        if c.injection:
            return self._say("out_of_scope", {"refusal": "safety"})
        if c.third_party and (c.book or c.cancel):  # appointments are real-name: never for someone else
            return self._say("out_of_scope", {"refusal": "third_party", "task": None})
        policy = self._policy(text, c, ctx)
        if c.handoff and not policy:
            return self._handoff(text, focus)
        if c.erase and not policy:
            return {"intent": "my_data", "focus": {"task": None, "data_action": "erase"},
                    "plan": [{"name": "erase_my_data", "args": {}}]}
        if c.show_data:
            return {"intent": "my_data", "focus": {"task": None, "data_action": "show"}, "plan": []}
        form = focus.get("form") or {}
        if task == "fill_form" and form.get("asking") and cue("form_stop").match(text):
            return self._say("fill_form", {"task": None, "form": {**form, "asking": None}, "form_action": "stopped"})
        if task == "fill_form" and form.get("asking") and not (cue("not_an_answer").search(text) or c.form or c.book or c.cancel):
            return self._form_answer(state["turn"]["text"], form)
        if c.form:
            return self._form_start(text, focus, ctx)
        if c.progress and not (receipt or policy) and self._names_a_state_item(text, when, hall, ctx):
            c = dataclasses.replace(c, progress=False)
        if receipt or (c.progress and not policy) or (
                task == "query_progress" and (phone or last4 or focus.get("receipt_choices"))):
            return self._progress({**focus, **update}, update, text, ctx, task)
        found: list[Hit] = []
        hit = self._search(text, when, hall, ctx, found=found)
        # for writes, the item is what remains once the action words are gone
        spoken = kept_out(text) if c.cancel or c.change else text  # 社保卡的保留 is not the one meant
        stripped = cue("action_words").sub(" ", spoken)
        also: list[Hit] = []  # every hit of the words naming the item, not only the first
        named = (
            self._search(stripped, when, hall, ctx, said=spoken, found=also)
            if (c.cancel or c.book or task) and stripped.strip() != text else hit
        )
        also = also if named is not hit else found
        if (c.change and (c.booked_ref or task == "change_appointment")) or (
                task == "change_appointment" and (when is not None or hall is not None or confident(named))):
            same_day = cue("same_day")
            if same_day.search(text):
                # 同一天改成下午: the appointment's day, not today; 那天有事，推到下礼拜一 names a day
                other = extract_when(same_day.sub("，", text), ctx.now)
                update = {k: v for k, v in update.items() if k not in ("date", "date_said", "period", "time")}
                if other is not None:  # what is said besides the same-day words (改去下昼，同一日)
                    update.update({k: v for k, v in (
                        ("date", other.date and other.date.isoformat()), ("date_said", other.date is not None or None),
                        ("period", other.period), ("time", other.time and other.time.strftime("%H:%M"))) if v})
            weekday = bare_weekday(when) and "date" in update  # 改到礼拜三: in the appointment's week
            return self._change({**focus, **update}, {**update, "weekday": weekday or None}, named, task)
        if c.cancel and not policy:
            item = item_ref(named) if confident(named) else None
            # 社保卡 names 社会保障卡申领 and 社会保障卡挂失与补换 alike: the booked one of them is meant
            names = [h.name for h in also if confident(h)]
            return {"intent": "cancel_appointment",
                    "focus": {**update, "task": "cancel_appointment", "cancel_item": item, "cancel_names": names,
                              "item": item or focus.get("item")},
                    "plan": [{"name": "my_appointments", "args": {}}], "more": True}
        if c.my_appointments:
            return {"intent": "my_appointments", "focus": {"task": None}, "plan": [{"name": "my_appointments", "args": {}}]}
        answers_missing_item = task == "book_appointment" and focus.get("missing") == "item" and plausible(named)
        wants_booking = (c.book and not policy) or answers_missing_item or (
            bool(when and when.date) and hall is not None and c.service_words) or (
            task == "book_appointment" and (when is not None or hall is not None or cue("usual_place").search(text))
            and not (confident(hit) and not c.book and hit and hit.code != (focus.get("item") or {}).get("code"))
        )
        if wants_booking:
            return self._book(text, {**focus, **update}, update, named, ctx)
        if not task and not (c.book or c.thanks or c.greeting) and classify_answer(text) == "yes":
            # 好 / 嗯嗯 with nothing waiting for it (a booking just made): acknowledged, not out of scope
            return self._say("chitchat", {"task": None, "digression": "ack"})
        if (c.greeting or c.about_bot) and not confident(hit):
            # a thank-you (好，谢谢晒) is answered as one, not with the list of what we can do
            return self._say("chitchat", {"task": None, "digression": "chitchat" if c.greeting and c.thanks else None})
        if (abroad := other_region(text, ctx, hit, focus.get("item"), found[:3])):
            # 上海的居住证怎么办 asks about another region's rules: neither the item named nor the one
            # in play answers it. The knowledge base may still answer; else an honest "don't know"
            hit, focus = None, {**focus, "item": None}
        # a bank's card, a shop's pass, a parcel (intents.private_matter) is not the item its words
        # resemble (信用卡丢了 is no 社会保障卡挂失): unless the message names that item, none is meant
        private = None if confident(hit) else private_matter(text, [h.name for h in found])
        if private:
            hit, found = None, []
        decision = self._lookup(text, focus, update, hit, c.service_words)
        # no cue word, or only weak hits: a question plainly about a service here is still not out
        # of scope. Without a cue word only a hit the lexical evidence backs is answered; others are
        # asked. Another region's rules are no choice among our items
        plain = (not abroad and not private and decision["intent"] == "out_of_scope"
                 and plainly_service(text, [h.name for h in found]))
        if plain and not c.service_words and (confident(hit) or strong(hit)):
            decision = self._lookup(text, focus, update, hit, True)
        follow_up = decision["intent"] == "service_lookup" and decision["focus"].get("question") is not None
        guess = item_ref(hit)["code"] if hit is not None and plausible(hit) else None
        decision, kb = self._consult(text, decision, hit, c.service_words, ctx)
        # its hits too weak to answer: ask which of the best it is (not while a task waits, whose
        # confirmation is asked again instead; not when the knowledge base said it has no answer)
        unsure = (plain and decision["intent"] == "out_of_scope" and not decision["focus"].get("kb_miss")
                  and not state.get("stack"))
        offer = clarify.unsure(found) if unsure else (
            clarify.choices(found, named=confident(hit) or strong(hit))
            if decision["intent"] == "service_lookup" and not follow_up and found and hit is found[0]
            and kb.get("kb") != "hit" else None  # a sure policy answer needs no choice of item
        )
        # not sure, yet no close call either: the first hit is answered, and a model (the LLM
        # brain) may still pick among the first few (agent/brains/choose.py)
        rivals = None if offer or confident(hit) or strong(hit) or decision["intent"] != "service_lookup" \
            or follow_up or not found or hit is not found[0] or kb.get("kb") == "hit" else clarify.rivals(found)
        if offer:
            decision = {"intent": "service_lookup", "plan": [],
                        "focus": {**update, "choices": offer, "choice_aspect": decision["focus"].get("aspect"),
                                  "task": None}}
        return {**decision, "placement": {"confident": confident(hit), "service_words": c.service_words or plain,
                                          "elsewhere": bool(abroad), "private": bool(private),
                                          "follow_up": follow_up, "guess": guess, "unsure": bool(offer and unsure),
                                          "rivals": rivals,
                                          **kb}}

    def _names_a_state_item(self, text: str, when: Any, hall: HallRef | None, ctx: BrainContext) -> bool:
        """Is the progress word (状态) part of the name of the item the words and vectors agree on
        (社会保障卡应用状态查询)? Then 社保卡还能不能用，状态在哪里查 asks for that item, not for
        an application's progress. One of the 140 questions of sichuan-colloquial-3 (#18)."""
        said = cue("progress").search(text)
        hit = self._search(text, when, hall, ctx)
        return bool(said and hit is not None and (confident(hit) or strong(hit)) and said.group(0) in hit.name)

    def _policy(self, text: str, c: Cues, ctx: BrainContext) -> bool:
        """A question about handing off, erasing, booking, cancelling or an application's progress
        (如何举报…, 网络预约出租汽车驾驶员证要什么条件, 怎样撤销申请), or a pasted text (an
        operator's notice on application states), that the knowledge base answers surely: the
        answer, not the action. An explicit request (我要投诉, 转人工, 帮我预约, 取消预约, 查下进度)
        is no question and keeps its action; so does a receipt number, which only progress reads."""
        if ctx.knowledge is None or not (c.handoff or c.erase or c.book or c.cancel or c.progress):
            return False
        if not (c.asks_how or len(text) >= PASTED):
            return False
        if (c.progress or c.cancel) and len(text) < PASTED and (c.booked_ref or cue("own_matter").search(text)):
            return False  # 我的申请状态怎么查: the resident's own case, which the action looks up
        hits = ctx.knowledge.search(cue("lead_in").sub("", text).strip()[:QUERY_CHARS], k=1)
        return bool(hits and hits[0].answerable)

    def _consult(
        self, text: str, decision: dict[str, Any], hit: Hit | None, service_words: bool, ctx: BrainContext
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The knowledge base: policy questions get its answer, item questions keep their card,
        and a question that needs both gets both. Below the calibrated line nothing is taken
        from it; a policy question is then told honestly that no reliable answer was found."""
        focus = decision["focus"]
        if ctx.knowledge is None:
            return decision, {}
        query = cue("lead_in").sub("", text).strip()[:QUERY_CHARS]  # what the index reads of a pasted text
        hits = ctx.knowledge.search(query, k=3)
        if not hits:
            return decision, {}
        top = hits[0]
        if not top.answerable:
            if decision["intent"] == "out_of_scope" and (service_words or cue("item_question").search(text)):
                decision = {**decision, "focus": {**focus, "kb_miss": True}}
            return decision, {"kb": "miss"}
        found = {"kb": "hit", "kb_key": top.key}
        plan = [{"name": "search_knowledge", "args": {"query": query}}]
        if decision["intent"] == "service_lookup" and decision.get("plan") and (confident(hit) or focus.get("question")):
            # the question names an item (or follows one up): its guide first, the policy answer beside it
            return {**decision, "plan": [*plan, *decision["plan"]], "focus": {**focus, "kb_first": "item"}}, found
        if decision["intent"] == "service_lookup" and decision.get("plan") and strong(hit):
            # an item the words and vectors agree on, though unnamed (驾驶证快到期了): the policy
            # answer first, the item's guide beside it; both help, and neither is a guess
            return {**decision, "plan": [*plan, *decision["plan"]], "focus": {**focus, "kb_first": "kb"}}, found
        # a policy question that names no item: the knowledge base answers (an unnamed item's guide would be a guess)
        return {"intent": "service_lookup", "focus": {"task": None, "kb_first": "kb"}, "plan": plan}, found

    def _search(
        self, text: str, when: Any, hall: HallRef | None, ctx: BrainContext, said: str | None = None,
        found: list[Hit] | None = None,
    ) -> Hit | None:
        """The item asked about; `said` is the whole message when `text` lost its action words
        (社保卡坏了 still names its item after 了 is gone). `found` receives all the hits."""
        query = text
        if when and when.text:
            query = query.replace(when.text, " ")
        if hall:
            for name in (hall.name, *hall.aliases):
                query = query.replace(name, " ")
        query = cue("lead_in").sub("", query).strip()
        if len(query) < 2:
            return None
        hits = ctx.index.search(query, k=3)
        if not hits:
            return None
        if found is not None:
            found.extend(hits)
        # keep the first hit when words and sounds alone settled it (the retrieval cascade);
        # otherwise prefer the hit the text names most fully (出生医学证明 over 出生), then rank
        # read in official terms too (老人优待证 names 老年人优待证, 驾照 names 机动车驾驶证)
        readings = [query, official_reading(query), *([said] if said else [])]
        words: dict[str, str] = {}
        for hit in hits:
            words[hit.code] = max((ctx.terms.naming_word(r, hit.code) for r in readings), key=len)
            hit.signals["named"] = float(len(words[hit.code]))
        if hits[0].signals.get("dense_skipped"):
            return hits[0]
        rivals = _rivals(hits)

        def naming(hit: Hit) -> int:
            # a word one rival is named by, which another's own terms also contain (营业执照 in
            # 营业执照变更), does not tell them apart: both get it, and the ranking decides
            return max(len(w) for w in (words[hit.code], *(words[r.code] for r in rivals if ctx.terms.shares(hit.code, words[r.code]) and words[r.code])))

        return max(rivals, key=naming)

    def _say(self, intent: str, update: dict[str, Any]) -> dict[str, Any]:
        return {"intent": intent, "focus": update, "plan": []}

    def _handoff(self, text: str, focus: dict[str, Any]) -> dict[str, Any]:
        item = focus.get("item") or {}
        reason = "居民投诉" if "投诉" in text or "举报" in text else "居民要求人工服务"
        return {"intent": "handoff", "focus": {"task": None},
                "plan": [{"name": "handoff", "args": {"reason": reason, "item_code": item.get("code")}}]}

    def _progress(self, merged: dict[str, Any], update: dict[str, Any], text: str, ctx: BrainContext,
                  task: str | None) -> dict[str, Any]:
        focus = {**update, "task": "query_progress"}
        receipt = merged.get("receipt_no")
        if ctx.verified and not update.get("receipt_no") and (task != "query_progress" or merged.get("receipt_choices")):
            # a fresh "my application" lists their own again; after a list, the one picked from it
            receipt = _chosen(text, merged.get("receipt_choices") or [], merged.get("receipt_items") or [])
            focus["receipt_no"] = receipt
        if not receipt and ctx.verified:
            # a verified resident's "my application": their own, under the disclosure rule
            named = self._search(cue("action_words").sub(" ", text), None, None, ctx, said=text)
            args = {"item": named.name} if confident(named) else {}
            return {"intent": "query_progress", "focus": {**focus, "receipt_choices": None, "receipt_items": None},
                    "plan": [{"name": "my_applications", "args": args}], "more": True}
        if not receipt:
            return {"intent": "query_progress", "focus": focus, "plan": []}
        args = {"receipt_no": receipt}
        if merged.get("phone"):
            args["phone"] = merged["phone"]
        if merged.get("id_last4"):
            args["id_last4"] = merged["id_last4"]
        return {"intent": "query_progress", "focus": focus, "plan": [{"name": "query_progress", "args": args}]}

    def _book(
        self, text: str, merged: dict[str, Any], update: dict[str, Any], hit: Hit | None, ctx: BrainContext
    ) -> dict[str, Any]:
        focus = {**update, "task": "book_appointment"}
        item = merged.get("item")
        if plausible(hit) and (confident(hit) or not item):
            item = item_ref(hit)  # type: ignore[arg-type]
            focus["item"] = item
        hall = merged.get("hall")
        if not hall and cue("usual_place").search(text) and ctx.memory.get("usual_hall"):
            hall = focus["hall"] = ctx.memory["usual_hall"]
        missing = next(
            (name for name, value in (("item", item), ("hall", hall), ("date", merged.get("date"))) if not value),
            None,
        )
        if missing:
            focus["missing"] = missing
            return {"intent": "book_appointment", "focus": focus, "plan": []}
        focus["missing"] = None
        args = {"item_code": item["code"], "hall": hall, "date": merged["date"]}
        if merged.get("period"):
            args["period"] = merged["period"]
        if merged.get("time"):
            args["time"] = merged["time"]
        return {"intent": "book_appointment", "focus": focus, "plan": [{"name": "book_appointment", "args": args}]}

    def _change(self, merged: dict[str, Any], update: dict[str, Any], named: Hit | None, task: str | None) -> dict[str, Any]:
        """改约: which appointment (the one named, else the only one), then the new time."""
        said = {k: update[k] for k in ("date", "period", "time", "hall", "weekday") if update.get(k)}
        if "period" in said and "time" not in said:
            said["time"] = None
        before = (merged.get("change_slots") or {}) if task == "change_appointment" else {}
        slots = {k: v for k, v in {**before, **said}.items() if v}
        focus: dict[str, Any] = {**update, "task": "change_appointment", "change_slots": slots}
        if confident(named):
            focus["change_item"] = item_ref(named)  # type: ignore[arg-type]
            focus["change_target"] = None
        elif task != "change_appointment":
            focus["change_item"] = focus["change_target"] = None
        return {"intent": "change_appointment", "focus": focus,
                "plan": [{"name": "my_appointments", "args": {}}], "more": True}

    def _lookup(
        self, text: str, focus: dict[str, Any], update: dict[str, Any], hit: Hit | None, service_words: bool
    ) -> dict[str, Any]:
        aspect = aspect_of(text)
        current = focus.get("item")
        asks = aspect is not None or bool(cue("aspect_only").search(text) or cue("item_question").search(text))
        # an aspect (多久, 要带什么) asks about the item in play; a bare question may point elsewhere
        follow_up = bool(current) and asks and not confident(hit) and (aspect is not None or not elsewhere(hit, current))
        if follow_up:
            item = current
        elif confident(hit) or (plausible(hit) and (service_words or aspect)):
            item = item_ref(hit)  # type: ignore[arg-type]
        else:
            return {"intent": "out_of_scope", "focus": {"task": None}, "plan": []}
        return {"intent": "service_lookup",
                "focus": {**update, "item": item, "aspect": aspect or ("faq" if follow_up else None),
                          "question": text if follow_up else None, "task": None},
                "plan": [{"name": "service_detail", "args": {"item_code": item["code"]}}]}

    def _form_start(self, text: str, focus: dict[str, Any], ctx: BrainContext) -> dict[str, Any]:
        """填表: the item the message names, else the one in play, else the form under way."""
        named = self._search(cue("form_words").sub(" ", text).strip(), None, None, ctx)
        item = item_ref(named) if confident(named) else focus.get("item") or (focus.get("form") or {}).get("item")
        if not item:
            return {"intent": "fill_form", "focus": {"task": None}, "plan": [{"name": "forms_available", "args": {}}]}
        return {"intent": "fill_form", "focus": {"task": "fill_form", "item": item}, "more": True,
                "plan": [{"name": "fill_form", "args": {"item_code": item["code"]}}]}

    def _form_answer(self, said: str, form: dict[str, Any]) -> dict[str, Any]:
        """The resident's answer to the field asked; a personal one is kept out of the history."""
        skip = bool(SKIP.match(said.strip())) and not form.get("required", True)
        answer = unicodedata.normalize("NFKC", said).strip()[:200]  # full-width digits; names keep their characters
        args: dict[str, Any] = {"item_code": form["item"]["code"], "field": form["asking"], "answer": answer}
        if skip:
            args["skip"] = True
        decision: dict[str, Any] = {"intent": "fill_form", "focus": {"task": "fill_form"}, "more": True,
                                    "plan": [{"name": "fill_form", "args": args}]}
        if form.get("personal"):
            decision["said"] = f"（{form.get('label', '表格项')}：已隐去）"
        return decision

    def _continue(self, state: ConversationState, ctx: BrainContext) -> dict[str, Any]:
        """A second step within the turn: choose which appointment to cancel, or, once a form
        has every value, ask the resident to confirm it."""
        focus = state.get("focus") or {}
        if state.get("intent") == "fill_form":
            filled = next((r for r in reversed(state.get("results", [])) if r["name"] == "fill_form"), None)
            data = (filled or {}).get("data") or {}
            if filled and filled["status"] == "success" and not data.get("invalid") and data.get("next") is None:
                return {"plan": [{"name": "confirm_form", "args": {"item_code": data["item"]["code"]}}]}
            return {"plan": []}
        if state.get("intent") == "change_appointment":
            return self._change_target(state, focus, ctx)
        if state.get("intent") == "query_progress":
            mine = next((r for r in state.get("results", []) if r["name"] == "my_applications"), None)
            listed = ((mine or {}).get("data") or {}).get("applications", [])
            several = len(listed) > 1
            return {"plan": [], "focus": {"receipt_choices": [a["receipt_no"] for a in listed] if several else None,
                                          "receipt_items": [a["item"] for a in listed] if several else None}}
        if state.get("intent") != "cancel_appointment" or focus.get("cancel_target"):
            return {"plan": []}
        listed = next((r for r in reversed(state.get("results", [])) if r["name"] == "my_appointments"), None)
        appointments = (listed or {}).get("data", {}).get("appointments", [])
        wanted = focus.get("cancel_item") or {}
        date = focus.get("date") if focus.get("date_said") else None
        matches = [a for a in appointments if not date or a["date"] == date]
        meant = set(focus.get("cancel_names") or ())
        if (wanted or meant) and len(matches) > 1:
            exact = [a for a in matches if wanted and a["item"] == wanted.get("name")]
            matches = exact or [a for a in matches if a["item"] in meant]
        if len(matches) > 1:
            matches = []  # several, nothing tells them apart: ask which
        if len(matches) == 1:  # the item is the one cancelled, though the message named only a day
            code = next((c for c, name in ctx.items.items() if name == matches[0]["item"]), None)
            item = {"code": code, "name": matches[0]["item"]} if code else focus.get("item")
            return {"focus": {"cancel_target": matches[0]["id"], "item": item},
                    "plan": [{"name": "cancel_appointment", "args": {"appointment_id": matches[0]["id"]}}]}
        return {"plan": []}

    def _change_target(self, state: ConversationState, focus: dict[str, Any], ctx: BrainContext) -> dict[str, Any]:
        """The appointment to move and, once the new day or time is known, the move itself."""
        if any(r["name"] == "reschedule_appointment" for r in state.get("results", [])):
            return {"plan": []}
        listed = next((r for r in reversed(state.get("results", [])) if r["name"] == "my_appointments"), None)
        appointments = (listed or {}).get("data", {}).get("appointments", [])
        wanted = focus.get("change_item") or {}
        target = next((a for a in appointments if a["id"] == focus.get("change_target")), None)
        if target is None:
            matches = [a for a in appointments if not wanted or a["item"] == wanted.get("name")]
            target = matches[0] if len(matches) == 1 else None
        if target is None:
            return {"plan": []}  # none, or several: the reply lists them
        wanted_slots = dict(focus.get("change_slots") or {})
        if wanted_slots.get("weekday") and wanted_slots.get("date"):
            wanted_slots["date"] = same_weekday_in_week_of(dt.date.fromisoformat(wanted_slots["date"]),
                                                           dt.date.fromisoformat(target["date"]),
                                                           ctx.now.date()).isoformat()
        args: dict[str, Any] = {"appointment_id": target["id"], **{
            k: v for k, v in wanted_slots.items() if k in ("date", "period", "time", "hall")}}
        code = next((c for c, name in ctx.items.items() if name == target["item"]), None)
        item = {"code": code, "name": target["item"]} if code else None
        update = {"change_target": target["id"], "change_item": item, "item": item}
        if len(args) == 1:
            return {"focus": update, "plan": []}  # the reply asks for the new time
        return {"focus": update, "plan": [{"name": "reschedule_appointment", "args": args}]}

    # ------------------------------------------------------------ repair

    def repair(self, state: ConversationState, frame: Frame, ctx: BrainContext) -> list[Command]:
        text = normalise(state["turn"]["text"])
        offered = (state.get("focus") or {}).get("choices")
        if offered and clarify.pick(text, offered) is not None:
            return [digress("question")]  # the answer to "which item?" asked during the aside

        def named(query: str) -> Hit | None:
            hit = self._search(query, extract_when(query, ctx.now), match_hall(query, ctx.halls), ctx)
            return hit if confident(hit) or strong(hit) else None

        return repair_commands(text, frame, ctx, named)

    # ------------------------------------------------------------ replies

    def compose(self, state: ConversationState, ctx: BrainContext) -> dict[str, Any]:
        return replies.compose(state, ctx)


def other_region(
    text: str, ctx: BrainContext, hit: Hit | None, current: dict[str, str] | None, near: Sequence[Hit] = (),
) -> bool:
    """Does the message ask about another region (it names a place of another province and none
    of the provinces of the operator's halls or its catalog's departments)? Not when the item found
    or in play reaches beyond the region itself (去澳门玩签注点办, 人在广东 of 异地就医备案). The
    catalog counts as home: one whose items 广安市 bureaus handle answers 回广安.

    Nor when one of the next hits (`near`, the first three) serves residents who are elsewhere
    (cue served_elsewhere: 异地…备案): 退休了去海南跟女儿住，医保要备案 and 去广州住咗一排想用
    医保结算 are about our insurance used there, though a 费用结算 item ranked first. Two of the
    244 questions of sichuan-colloquial-3 and heldout-official-3 (#18) were told 'another region'."""
    names = [n for n in ((hit.name if hit else ""), (current or {}).get("name", "")) if n]
    if any(cue("spans_regions").search(n) for n in names):
        return False
    if any(cue("served_elsewhere").search(h.name) for h in near):
        return False
    known = places()
    home = {p for p in (known.of(h.city) for h in ctx.halls) if p} | ctx.region
    return known.elsewhere(text, home) is not None
