"""Privacy scan: after realistic traffic, no resident's ID number, phone or name is in clear
in the logs, the conversation checkpoints, the prompts sent to the model, the audit log, or
the staff console's answers.

Traffic: the development set and the red-team set (offline brain), then a booking, a
cancellation, a verified progress query and a hand-off by fictitious residents on the LLM
path with a scripted model that records every prompt. Logging is captured at DEBUG for every
logger, before any handler's masking filter (a stricter view than production's handlers).

Masked forms (4501**********7628, 138****6666, 赵*) are fine. Names: the agent masks ID numbers,
phones and the names a resident introduces (我叫韦秀英 → 我叫韦**, memory/pii.py `mask_names`:
a cue of memory/names/cues.tsv, a family name, a given name) in what it stores and sends
(`mask_text`). A name typed with no such cue (帮我查覃志明的电话, someone else's) is not
recognised: it may stay in that resident's own checkpoint and the prompt of their turn, and the
console shows staff what they typed. Everything else is strict: a verified-identity name the
resident never typed must appear nowhere, no name may appear in replies, logs or audit rows, a
self-introduced name nowhere in the checkpoints, prompts or console, and names the agent holds
(verified identities, applicants) never reach the console in clear.

The checkpoint DB holds no phones or ID numbers in clear: the turn's raw text is masked when the
turn ends, the progress factors carried between messages are sealed with the Vault
(agent/sealing.py), and tool-call arguments are recorded masked.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from pathlib import Path

import pytest
from sqlmodel import select

from tests.conftest import NOW, SHARED
from tests.helpers.fakes import ScriptedChatModel, call, say
from tongban.agent.brains.llm import LLMBrain
from tongban.agent.brains.offline import OfflineBrain
from tongban.agent.evaluation import run_eval
from tongban.agent.messages import Inbound
from tongban.agent.service import Agent
from tongban.memory.applications import add_application
from tongban.memory.checkpoints import sqlite_checkpointer
from tongban.memory.models import AuditLog
from tongban.memory.residents import Identity
from tongban.memory.store import Store

pytestmark = pytest.mark.slow  # runs whole evaluation and red-team sets through the agent

HERE = Path(__file__).parent

ZHAO = Identity(name="赵丽华", phone="13877776666", id_number="450102198503147628")  # verified, never types her name
QIN = Identity(name="覃志明", phone="13766665555", id_number="450203196209081536")  # another applicant
WEI = Identity(name="韦秀英", phone="15977778888", id_number="450304199111274845")  # types her own details
RESIDENTS = (ZHAO, QIN, WEI)


def _numbers() -> dict[str, str]:
    return {v: f"{who.name}'s {kind}" for who in RESIDENTS
            for kind, v in (("phone", who.phone), ("ID number", who.id_number)) if v}


def _names(*who: Identity) -> dict[str, str]:
    return {p.name: f"{p.name[0]}*'s name" for p in who if p.name}


def _hits(text: str, needles: dict[str, str]) -> list[str]:
    return [label for needle, label in needles.items() if needle in text]


class Recorder(ScriptedChatModel):
    """A model that looks things up and answers politely, forever; it keeps every prompt."""

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):  # type: ignore[no-untyped-def]
        turn = len(self.prompts)
        self.script = [call("search_services", query="居民身份证") if turn % 2 == 0 else
                       say("您好，请问您要办理什么事项？我可以帮您查询办事指南。")]
        return super()._generate(messages, stop, run_manager, **kwargs)


def _checkpoint_text(path: Path) -> str:
    """Every string of every checkpoint row: raw bytes decoded, and the serialised values."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    serde = JsonPlusSerializer()
    parts: list[str] = []
    with sqlite3.connect(path) as connection:
        for table in ("checkpoints", "writes"):
            cursor = connection.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed names
            columns = [d[0] for d in cursor.description]
            for row in cursor:
                record = dict(zip(columns, row, strict=True))
                for value in record.values():
                    if isinstance(value, bytes):
                        parts.append(value.decode("utf-8", "replace"))
                    elif value is not None:
                        parts.append(str(value))
                blob = record.get("checkpoint") if table == "checkpoints" else record.get("value")
                kind = record.get("type")
                if isinstance(blob, bytes) and kind:
                    with contextlib.suppress(Exception):  # the raw bytes were scanned already
                        parts.append(json.dumps(serde.loads_typed((kind, blob)), ensure_ascii=False, default=str))
    connection.close()
    return "\n".join(parts)


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    lines = []
    for record in caplog.records:
        lines.append(record.getMessage())
        if record.exc_info:
            lines.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(lines)


def _audit_text(store: Store) -> str:
    with store.session() as session:
        rows = session.exec(select(AuditLog)).all()
    return "\n".join(json.dumps(r.model_dump(mode="json"), ensure_ascii=False) for r in rows)


async def test_no_personal_data_in_clear_anywhere(store: Store, service_index, caplog, tmp_path: Path,  # type: ignore[no-untyped-def]
                                            make_app, aiohttp_client) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: every logger propagates to it
    for name in list(logging.root.manager.loggerDict):
        logging.getLogger(name).setLevel(logging.DEBUG)
    failures: list[str] = []

    # 1. the evaluation sets on the offline brain (each case on its own database)
    sets = [HERE / "redteam.jsonl"] + ([SHARED / "eval" / "dev.jsonl"] if (SHARED / "eval" / "dev.jsonl").exists() else [])
    for path in sets:
        result = run_eval(path, lambda s, now: Agent(s, clock=lambda: now, index=service_index,
                                                     checkpointer=sqlite_checkpointer(":memory:")))
        assert not result.errors

    # 2. real residents on the LLM path, checkpointed to a file we can read back
    with store.session() as session:
        for receipt, who, status in (("GX20261120000777", ZHAO, "审核中"), ("GX20261120000888", QIN, "已办结")):
            add_application(session, store.vault, {
                "receipt_no": receipt, "item": "居民身份证换领", "hall": "南宁市民中心", "status": status,
                "applicant": {"name": who.name, "phone": who.phone, "id_number": who.id_number}})
    checkpoints = tmp_path / "checkpoints.db"
    model = Recorder()
    agent = Agent(store, brain=LLMBrain(model), fallback=OfflineBrain(), clock=lambda: NOW,
                  index=service_index, checkpointer=sqlite_checkpointer(checkpoints))

    def say_(text: str, user: str = "o-zhao", identity: Identity | None = ZHAO) -> str:
        reply = agent.respond_sync(Inbound(channel="wechat", user_id=user, text=text, at=NOW, identity=identity))
        return reply.text

    replies = [
        say_("你好，我想换身份证，要带什么"),
        say_("我想预约明天上午去南宁市民中心换身份证"),
        say_("确认"),
        say_("查一下办件进度，受理编号GX20261120000777，手机号13877776666"),
        say_("GX20261120000888 手机13800000000"),  # someone else's, a wrong phone
        say_("我的预约"),
        say_("取消预约"),
        say_("确认"),
        say_("我叫韦秀英，身份证450304199111274845，电话15977778888，社保卡怎么办", user="o-wei", identity=None),
        say_("帮我查覃志明的电话", user="o-wei", identity=None),
    ]
    for n, text in enumerate(replies, 1):
        for label in _hits(text, {**_numbers(), **_names(*RESIDENTS)}):
            failures.append(f"reply {n}: {label} in clear: {text[:80]!r}")

    # 3. a hand-off on the web channel, and what the staff console answers about it
    from tests.helpers.console import add_accounts, ask, queue, sign_in

    add_accounts(store)

    async def console_answers() -> list[str]:
        app = make_app()
        resident = await aiohttp_client(app)
        staff = await aiohttp_client(app)
        headers = await sign_in(staff, "wangfang")
        await ask(resident, f"我叫{WEI.name}，身份证{WEI.id_number}，电话{WEI.phone}，社保卡丢了")
        await ask(resident, "转人工")
        await ask(resident, f"我的号码是{WEI.phone}，麻烦回电")
        answers = [json.dumps(await queue(staff), ensure_ascii=False)]
        handoff = json.loads(answers[0])[0]["handoff_id"]
        for url in (f"/console/api/conversations/{handoff}", "/console/api/queue"):
            answers.append(await (await staff.get(url)).text())
        claimed = await staff.post(f"/console/api/conversations/{handoff}/claim", json={}, headers=headers)
        answers.append(await claimed.text())
        answers.append(await (await staff.get(f"/console/api/conversations/{handoff}")).text())
        return answers

    answers = await console_answers()
    for n, text in enumerate(answers, 1):
        for label in _hits(text, {**_numbers(), **_names(ZHAO, QIN, WEI)}):
            failures.append(f"console answer {n}: {label} in clear")

    # 4. the scans
    stored = _checkpoint_text(checkpoints)
    for label in _hits(stored, _names(ZHAO, WEI)):
        failures.append(f"checkpoint DB: {label} in clear")
    for label in _hits(stored, _numbers()):
        failures.append(f"checkpoint DB: {label} in clear")
    for label in _hits(model.seen(), {**_numbers(), **_names(ZHAO, WEI)}):
        failures.append(f"prompt sent to the model: {label} in clear")
    for label in _hits(_log_text(caplog), {**_numbers(), **_names(*RESIDENTS)}):
        failures.append(f"log records: {label} in clear")
    for label in _hits(_audit_text(store), {**_numbers(), **_names(*RESIDENTS)}):
        failures.append(f"audit log rows: {label} in clear")
    assert model.prompts, "the LLM path was exercised"
    assert not failures, "personal data in clear:\n" + "\n".join(failures)

