"""The evaluation runner, driven by a scripted agent that books and cancels for real."""

from __future__ import annotations

import datetime as dt
import json
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from tests.conftest import SHARED
from tongban.agent import evaluation
from tongban.agent.evaluation import (
    Templates,
    format_report,
    load_cases,
    main_cli,
    run_eval,
)
from tongban.agent.messages import Inbound, Reply, ToolCall, Transcript
from tongban.memory.booking import active_appointments, book, cancel, choose_slot
from tongban.memory.models import Application, Hall, Resident, ServiceItem
from tongban.memory.residents import resolve
from tongban.memory.store import Store

pytestmark = pytest.mark.slow  # runs whole evaluation and red-team sets through the agent

CST = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 11, 24, 9, 30, tzinfo=CST)
PROFILE = {"name": "测试用户", "phone": "13800000000", "id_number": "450102199001011231"}
APPLICATION = {
    "receipt_no": "GX20261118000123",
    "item": "居民身份证换领",
    "hall": "南宁市民中心",
    "applicant": {"name": "王芳", "phone": "13912345678", "id_number": "450203195503124563"},
    "status": "审核中",
    "events": [
        {"status": "已受理", "at": "2026-11-18T10:00:00+08:00"},
        {"status": "审核中", "at": "2026-11-20T15:00:00+08:00"},
    ],
}

Action = Callable[["ScriptedAgent", Inbound], Reply]


class ScriptedAgent:
    """Answers from a script keyed by the user's words; unknown words get a chitchat reply."""

    def __init__(self, store: Store, now: dt.datetime, script: dict[str, Action]) -> None:
        self.store, self.now, self.script = store, now, script
        self.seen: list[Inbound] = []

    def respond_sync(self, message: Inbound) -> Reply:
        self.seen.append(message)
        action = self.script.get(message.text)
        return action(self, message) if action else Reply(text="您好", intent="chitchat")

    def resident(self, session: Any, message: Inbound) -> Resident:
        return resolve(
            session,
            self.store.vault,
            channel=message.channel,
            user_id=message.user_id,
            identity=message.identity,
        )


def says(text: str, **fields: Any) -> Action:
    return lambda agent, message: Reply(text=text, **fields)


def books(item: str, hall: str, date: str, period: str) -> Action:
    def action(agent: ScriptedAgent, message: Inbound) -> Reply:
        with agent.store.session(actor="test") as session:
            resident = agent.resident(session, message)
            found_item = session.exec(select(ServiceItem).where(ServiceItem.name == item)).one()
            found_hall = session.exec(select(Hall).where(Hall.name == hall)).one()
            slot = choose_slot(
                session,
                hall=found_hall,
                item=found_item,
                date=dt.date.fromisoformat(date),
                period=period,
                now=agent.now,
            )
            book(
                session,
                resident_id=resident.id,  # type: ignore[arg-type]
                item_id=found_item.id,  # type: ignore[arg-type]
                slot_id=slot.id,  # type: ignore[arg-type]
                now=agent.now,
            )
        call = ToolCall(name="book", args={"item": item, "date": dt.date.fromisoformat(date)})
        return Reply(text="已为您预约", intent="book_appointment", item=item, tool_calls=[call])

    return action


def cancels_all(agent: ScriptedAgent, message: Inbound) -> Reply:
    with agent.store.session(actor="test") as session:
        resident = agent.resident(session, message)
        assert resident.id is not None
        for appointment in active_appointments(
            session, resident_id=resident.id, today=agent.now.date()
        ):
            cancel(session, appointment_id=appointment.id, resident_id=resident.id)  # type: ignore[arg-type]
    return Reply(text="已取消", intent="cancel_appointment")


def reads_status(agent: ScriptedAgent, message: Inbound) -> Reply:
    """Reports the status stored for the receipt number the user typed."""
    with agent.store.session(actor="test") as session:
        application = session.exec(
            select(Application).where(Application.receipt_no == message.text)
        ).first()
    status = application.status if application else "未找到"
    return Reply(text=f"您的办件状态：{status}", intent="query_progress")


def raises(agent: ScriptedAgent, message: Inbound) -> Reply:
    raise RuntimeError("brain exploded")


def scripted(script: dict[str, Action]) -> Callable[[Store, dt.datetime], ScriptedAgent]:
    return lambda store, now: ScriptedAgent(store, now, script)


def case(id: str, *turns: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"id": id, "turns": list(turns), **fields}


def turn(say: str, **expect: Any) -> dict[str, Any]:
    return {"say": say, "expect": expect}


def write(tmp_path: Path, *rows: dict[str, Any] | str) -> Path:
    path = tmp_path / "cases.jsonl"
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Templates:
    return Templates(tmp_path_factory.mktemp("eval"))


def run(tmp_path: Path, templates: Templates, script: dict[str, Action], *rows: Any, **kw: Any):  # type: ignore[no-untyped-def]
    return run_eval(write(tmp_path, *rows), scripted(script), templates=templates, **kw)


def checks(result: evaluation.EvalResult, case_id: str, number: int) -> dict[str, bool]:
    found = next(t for t in result.turns if t.case == case_id and t.turn == number)
    return {key: check.passed for key, check in found.checks.items()}


# ---------------------------------------------------------------- loading


def test_load_applies_the_documented_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, case("c1", turn("你好")))
    (loaded,), errors = load_cases(path)
    assert errors == []
    assert loaded.now == NOW
    assert loaded.channel == "wechat"
    assert loaded.user_id == "eval-c1"
    assert loaded.identity is None
    assert loaded.setup.applications == [] and loaded.setup.appointments == []


def test_malformed_lines_are_reported_with_their_line_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# a comment",
        case("ok", turn("你好")),
        "",
        "{not json",
        {"turns": [{"say": "x"}]},
        {"id": "no-turns"},
        case("empty-turn", {"expect": {"intent": "chitchat"}}),
        case("ok", turn("again")),
        case("typo", turn("你好", intnet="chitchat")),
        case("bad-phone", turn("你好"), user={"profile": {"phone": "12345"}}),
        case("both", {"say": "x", "voice": {"file": "a.wav"}}),
        case("ok2", turn("你好")),
    )
    cases, errors = load_cases(path)
    assert [c.id for c in cases] == ["ok", "ok2"]
    assert [e.line for e in errors] == [4, 5, 6, 7, 8, 9, 10, 11]
    assert "duplicate id 'ok'" in errors[4].message
    assert "intnet" in errors[5].message


def test_a_malformed_line_does_not_stop_the_run(tmp_path: Path, templates: Templates) -> None:
    result = run(
        tmp_path,
        templates,
        {"你好": says("您好", intent="chitchat")},
        case("first", turn("你好", intent="chitchat")),
        '{"id": "broken", "turns": [',
        case("last", turn("你好", intent="chitchat")),
    )
    assert [t.case for t in result.turns] == ["first", "last"]
    assert result.passed == 2
    report = format_report(result)
    assert f"{result.path}:2: malformed case" in report
    assert report.splitlines()[-1] == "2 passed, 0 failed"


# ---------------------------------------------------------------- checks


def test_intent_item_and_items_any(tmp_path: Path, templates: Templates) -> None:
    script = {"换身份证": says("……", intent="service_lookup", item="居民身份证换领")}
    result = run(
        tmp_path,
        templates,
        script,
        case(
            "c",
            turn(
                "换身份证",
                intent="service_lookup",
                item="居民身份证换领",
                items_any=["结婚登记", "居民身份证换领"],
            ),
            turn(
                "换身份证", intent="book_appointment", item="居民身份证补领", items_any=["结婚登记"]
            ),
        ),
    )
    assert checks(result, "c", 1) == {"intent": True, "item": True, "items_any": True}
    assert checks(result, "c", 2) == {"intent": False, "item": False, "items_any": False}
    assert (result.passed, result.failed) == (1, 1)


def test_booking_checks_read_the_database(tmp_path: Path, templates: Templates) -> None:
    script = {
        "约": says("请确认", intent="book_appointment"),
        "确认": books("居民身份证换领", "南宁市民中心", "2026-11-25", "上午"),
    }
    result = run(
        tmp_path,
        templates,
        script,
        case(
            "c",
            turn("约", no_booking=True, booking={"item": "居民身份证换领"}),
            turn(
                "确认",
                no_booking=True,
                booking={
                    "item": "居民身份证换领",
                    "hall": "南宁市民中心",
                    "date": "2026-11-25",
                    "period": "上午",
                },
            ),
            turn(
                "确认了吗", no_booking=True, booking={"date": "2026-11-25"}, active_appointments=1
            ),
            turn("再看看", booking={"period": "下午"}, active_appointments=2),
            user={"profile": PROFILE},
        ),
    )
    assert checks(result, "c", 1) == {"no_booking": True, "booking": False}
    assert checks(result, "c", 2) == {"no_booking": False, "booking": True}
    assert checks(result, "c", 3) == {
        "no_booking": True,
        "booking": True,
        "active_appointments": True,
    }
    assert checks(result, "c", 4) == {"booking": False, "active_appointments": False}
    second = result.turns[1].checks["no_booking"]
    assert second.got == [
        {"item": "居民身份证换领", "hall": "南宁市民中心", "date": "2026-11-25", "period": "上午"}
    ]


def test_no_booking_false_checks_nothing(tmp_path: Path, templates: Templates) -> None:
    script = {"确认": books("居民身份证换领", "南宁市民中心", "2026-11-25", "上午")}
    result = run(tmp_path, templates, script, case("c", turn("确认", no_booking=False)))
    assert checks(result, "c", 1) == {}
    assert result.passed == 1


def test_setup_appointments_and_cancel(tmp_path: Path, templates: Templates) -> None:
    appointment = {
        "item": "普通护照签发",
        "hall": "南宁市民中心",
        "date": "2026-11-26",
        "period": "上午",
    }
    result = run(
        tmp_path,
        templates,
        {"取消": cancels_all},
        case(
            "c",
            turn("看看", active_appointments=1, booking=appointment),
            turn("取消", intent="cancel_appointment", active_appointments=0),
            turn("取消", active_appointments=1),
            user={"profile": PROFILE},
            setup={"appointments": [appointment]},
        ),
    )
    assert checks(result, "c", 1) == {"active_appointments": True, "booking": True}
    assert checks(result, "c", 2) == {"intent": True, "active_appointments": True}
    assert checks(result, "c", 3) == {"active_appointments": False}


def test_past_setup_appointments_are_not_active(tmp_path: Path, templates: Templates) -> None:
    past = {"item": "普通护照签发", "hall": "南宁市民中心", "date": "2026-11-20", "period": "下午"}
    result = run(
        tmp_path,
        templates,
        {},
        case(
            "c", turn("看看", active_appointments=0, booking=past), setup={"appointments": [past]}
        ),
    )
    assert checks(result, "c", 1) == {"active_appointments": True, "booking": True}


def test_setup_applications_load_and_progress_is_checked(
    tmp_path: Path, templates: Templates
) -> None:
    result = run(
        tmp_path,
        templates,
        {"GX20261118000123": reads_status},
        case(
            "c",
            turn(
                "GX20261118000123",
                intent="query_progress",
                progress={"receipt_no": "GX20261118000123", "status": "审核中"},
            ),
            turn(
                "GX20261118000123", progress={"receipt_no": "GX20261118000123", "status": "已办结"}
            ),
            turn("GX20261118000123", progress="审核中"),  # the status alone, as FORMAT.md words it
            turn("GX20261118000123", progress="已办结"),
            setup={"applications": [APPLICATION]},
        ),
    )
    assert result.turns[0].reply == "您的办件状态：审核中"
    assert checks(result, "c", 1) == {"intent": True, "progress": True}
    assert checks(result, "c", 2) == {"progress": False}
    assert checks(result, "c", 3) == {"progress": True}
    assert checks(result, "c", 4) == {"progress": False}


@pytest.mark.parametrize(
    "leak",
    [
        "审核中",
        "已受理",
        "王芳",
        "13912345678",
        "450203195503124563",
        "11月20日",
        "2026-11-18",
        "居民身份证换领",
    ],
)
def test_disclosed_fails_on_any_leak(tmp_path: Path, templates: Templates, leak: str) -> None:
    result = run(
        tmp_path,
        templates,
        {"查进度": says(f"您的办件：{leak}", intent="query_progress")},
        case("c", turn("查进度", disclosed=False), setup={"applications": [APPLICATION]}),
    )
    assert checks(result, "c", 1) == {"disclosed": False}
    assert result.turns[0].checks["disclosed"].got == [leak]


def test_disclosed_passes_on_a_safe_reply_and_echoes(tmp_path: Path, templates: Templates) -> None:
    safe = "请提供办件时登记的手机号，以便核实身份。"
    result = run(
        tmp_path,
        templates,
        {
            "查进度": says(safe, intent="query_progress"),
            "我的居民身份证换领办到哪了": says("居民身份证换领的进度需要先核实身份"),
        },
        case(
            "c",
            turn("查进度", disclosed=False),
            turn("我的居民身份证换领办到哪了", disclosed=False),
            turn("查进度", disclosed=True),  # `true` checks nothing, per FORMAT.md
            setup={"applications": [APPLICATION]},
        ),
    )
    assert checks(result, "c", 1) == {"disclosed": True}
    assert checks(result, "c", 2) == {"disclosed": True}
    assert checks(result, "c", 3) == {}


def test_handoff_and_reply_text(tmp_path: Path, templates: Templates) -> None:
    script = {
        "转人工": says("正在为您转接人工客服", intent="handoff", handoff=True),
        "你好": says("您好，我是通办助手", intent="chitchat"),
    }
    result = run(
        tmp_path,
        templates,
        script,
        case(
            "c",
            turn("转人工", handoff=True, reply_contains=["人工", "转接"], reply_excludes=["抱歉"]),
            turn("你好", handoff=True, reply_contains=["人工", "通办"], reply_excludes="通办"),
        ),
    )
    assert checks(result, "c", 1) == {
        "handoff": True,
        "reply_contains": True,
        "reply_excludes": True,
    }
    assert checks(result, "c", 2) == {
        "handoff": False,
        "reply_contains": False,
        "reply_excludes": False,
    }
    second = result.turns[1].checks
    assert second["reply_contains"].got == {"missing": ["人工"]}
    assert second["reply_excludes"].got == {"present": ["通办"]}


# ---------------------------------------------------------------- robustness


def test_an_agent_exception_fails_only_its_turn(tmp_path: Path, templates: Templates) -> None:
    script = {"炸": raises, "你好": says("您好", intent="chitchat")}
    result = run(
        tmp_path,
        templates,
        script,
        case("c", turn("炸", intent="chitchat"), turn("你好", intent="chitchat")),
        case("d", turn("炸")),
        case("e", turn("你好", intent="chitchat")),
    )
    assert [(t.case, t.turn, t.passed) for t in result.turns] == [
        ("c", 1, False),
        ("c", 2, True),
        ("d", 1, False),
        ("e", 1, True),
    ]
    assert result.turns[0].checks["error"].got == "RuntimeError: brain exploded"
    assert checks(result, "c", 1) == {"intent": False, "error": False}
    assert "FAIL c turn 1 error" in format_report(result)


def test_a_reply_that_is_not_a_reply_fails_only_its_turn(
    tmp_path: Path, templates: Templates
) -> None:
    script = {"坏": lambda agent, message: None, "你好": says("您好", intent="chitchat")}  # type: ignore[dict-item]
    result = run(
        tmp_path, templates, script, case("c", turn("坏"), turn("你好", intent="chitchat"))
    )
    assert [t.passed for t in result.turns] == [False, True]
    assert "AttributeError" in result.turns[0].checks["error"].got


def test_the_public_dev_set_loads() -> None:
    path = SHARED / "eval" / "dev.jsonl"
    if not path.exists():
        pytest.skip("shared/eval/dev.jsonl is not beside the checkout")
    cases, errors = load_cases(path)
    assert errors == []
    assert len({c.id for c in cases}) == len(cases) > 30


def test_a_bad_fixture_fails_its_case_only(tmp_path: Path, templates: Templates) -> None:
    bad = {"item": "不存在的事项", "hall": "南宁市民中心", "date": "2026-11-26", "period": "上午"}
    result = run(
        tmp_path,
        templates,
        {"你好": says("您好", intent="chitchat")},
        case("bad", turn("你好"), turn("你好"), setup={"appointments": [bad]}),
        case("good", turn("你好", intent="chitchat")),
    )
    assert [(t.case, t.passed) for t in result.turns] == [
        ("bad", False),
        ("bad", False),
        ("good", True),
    ]
    assert "不存在的事项" in result.turns[0].checks["setup"].got


def test_voice_turns(tmp_path: Path, templates: Templates) -> None:
    seen: list[Path] = []

    def transcribe(path: Path) -> tuple[str, Transcript]:
        seen.append(path)
        return "你好", Transcript(confidence=0.9, language="yue")

    rows = (case("v", {"voice": {"file": "clips/hello.wav"}, "expect": {"intent": "chitchat"}}),)
    script = {"你好": says("您好", intent="chitchat")}
    without = run(tmp_path, templates, script, *rows)
    assert checks(without, "v", 1) == {"intent": False, "voice": False}
    assert "voice not supported" in without.turns[0].checks["voice"].got

    agents: list[ScriptedAgent] = []

    def factory(store: Store, now: dt.datetime) -> ScriptedAgent:
        agents.append(ScriptedAgent(store, now, script))
        return agents[-1]

    with_asr = run_eval(write(tmp_path, *rows), factory, transcribe=transcribe, templates=templates)
    assert with_asr.passed == 1
    assert seen == [tmp_path / "clips" / "hello.wav"]
    assert agents[0].seen[0].transcript == Transcript(confidence=0.9, language="yue")


def test_inbound_carries_channel_identity_and_clock(tmp_path: Path, templates: Templates) -> None:
    agents: list[ScriptedAgent] = []

    def factory(store: Store, now: dt.datetime) -> ScriptedAgent:
        agents.append(ScriptedAgent(store, now, {}))
        return agents[-1]

    later = "2026-12-07T15:00:00+08:00"
    path = write(
        tmp_path,
        case(
            "a", turn("你好"), user={"channel": "web", "id": "w-1", "profile": PROFILE}, now=later
        ),
        case("b", turn("你好")),
    )
    run_eval(path, factory, templates=templates)
    first, second = agents[0].seen[0], agents[1].seen[0]
    assert (first.channel, first.user_id, first.at) == (
        "web",
        "w-1",
        dt.datetime.fromisoformat(later),
    )
    assert first.identity is not None and first.identity.phone == "13800000000"
    assert agents[0].now == dt.datetime.fromisoformat(later)
    assert (second.channel, second.user_id, second.at, second.identity) == (
        "wechat",
        "eval-b",
        NOW,
        None,
    )


def test_sms_users_are_found_by_phone(tmp_path: Path, templates: Templates) -> None:
    script = {"确认": books("居民身份证换领", "南宁市民中心", "2026-11-25", "下午")}
    result = run(
        tmp_path,
        templates,
        script,
        case(
            "s",
            turn("确认", booking={"period": "下午"}, active_appointments=1),
            user={"channel": "sms"},
        ),
    )
    assert result.passed == 1


def test_cases_are_isolated(tmp_path: Path, templates: Templates) -> None:
    user = {"id": "same-person", "profile": PROFILE}
    script = {
        "确认": books("居民身份证换领", "南宁市民中心", "2026-11-25", "上午"),
        "GX20261118000123": reads_status,
    }
    result = run(
        tmp_path,
        templates,
        script,
        case(
            "one",
            turn("确认", active_appointments=1),
            turn(
                "GX20261118000123", progress={"receipt_no": "GX20261118000123", "status": "审核中"}
            ),
            user=user,
            setup={"applications": [APPLICATION]},
        ),
        case(
            "two",
            turn("看看", active_appointments=0),
            turn("GX20261118000123", reply_contains=["未找到"]),
            user=user,
        ),
    )
    assert result.failed == 0, format_report(result)


def test_elderly_profile_marks_the_resident(tmp_path: Path, templates: Templates) -> None:
    flags: list[bool] = []

    def look(agent: ScriptedAgent, message: Inbound) -> Reply:
        with agent.store.session() as session:
            flags.append(agent.resident(session, message).elderly)
        return Reply(text="好")

    run(
        tmp_path,
        templates,
        {"看": look},
        case("old", turn("看"), user={"profile": {**PROFILE, "elderly": True}}),
    )
    assert flags == [True]


# ---------------------------------------------------------------- output and exit status


def test_json_output_has_the_documented_shape(tmp_path: Path, templates: Templates) -> None:
    out = tmp_path / "out.json"
    script = {"确认": books("居民身份证换领", "南宁市民中心", "2026-11-25", "上午")}
    run(
        tmp_path,
        templates,
        script,
        case("c", turn("确认", intent="book_appointment", item="结婚登记"), turn("再见")),
        json_path=out,
    )
    data = json.loads(out.read_text("utf-8"))
    assert set(data) == {"summary", "turns"}
    assert data["summary"] == {
        "turns": 2,
        "passed": 1,
        "by_key": {"intent": {"passed": 1, "total": 1}, "item": {"passed": 0, "total": 1}},
    }
    first = data["turns"][0]
    assert set(first) == {
        "case",
        "turn",
        "passed",
        "checks",
        "reply",
        "intent",
        "item",
        "tool_calls",
        "ms",
        "citations",
    }
    assert (first["case"], first["turn"], first["passed"]) == ("c", 1, False)
    assert first["checks"]["item"] == {
        "passed": False,
        "expected": "结婚登记",
        "got": "居民身份证换领",
    }
    assert first["tool_calls"] == [
        {
            "name": "book",
            "args": {"item": "居民身份证换领", "date": "2026-11-25"},
            "status": "success",
            "result": "",
        }
    ]
    assert first["reply"] == "已为您预约" and first["intent"] == "book_appointment"
    assert isinstance(first["ms"], float)
    assert data["turns"][1]["checks"] == {} and data["turns"][1]["passed"] is True


def test_report_lists_failures_then_rates_then_totals(tmp_path: Path, templates: Templates) -> None:
    result = run(
        tmp_path,
        templates,
        {"你好": says("您好", intent="chitchat")},
        case("c", turn("你好", intent="chitchat"), turn("你好", intent="handoff")),
    )
    lines = format_report(result).splitlines()
    assert lines[0] == 'FAIL c turn 2 intent: expected "handoff", got "chitchat"'
    assert any(line.split()[:4] == ["intent", "1", "2", "50.0%"] for line in lines)
    assert any(line.split()[:5] == ["overall", "(turns)", "1", "2", "50.0%"] for line in lines)
    assert lines[-1] == "1 passed, 1 failed"


@pytest.fixture
def fake_service(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Stands in for `agent.service`, which the lead is writing."""
    calls: list[dict[str, Any]] = []

    def make_agent(store: Store, *, clock: Callable[[], dt.datetime], brain: str = "offline", index: object = None,  # type: ignore[no-untyped-def]
                   knowledge: object = None):
        calls.append({"brain": brain, "now": clock()})
        return ScriptedAgent(store, clock(), {"你好": says("您好", intent="chitchat")})

    module = types.ModuleType("tongban.agent.service")
    module.make_agent = make_agent  # type: ignore[attr-defined]
    module.shared_index = lambda store: None  # type: ignore[attr-defined]
    module.shared_knowledge = lambda store: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tongban.agent.service", module)
    return calls


def test_main_cli_exit_status(
    tmp_path: Path, fake_service: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        case("a", turn("你好", intent="chitchat")),
        case("b", turn("你好", intent="handoff")),
    )
    assert main_cli(path, None, None, False) == 0
    assert main_cli(path, None, 0.5, False) == 0
    assert main_cli(path, None, 0.6, True) == 1
    assert main_cli(path, None, 60, False) == 1  # a percentage works too
    assert main_cli(tmp_path / "missing.jsonl", None, None, False) == 2
    assert [c["brain"] for c in fake_service] == ["offline"] * 4 + ["llm"] * 2 + ["offline"] * 2
    assert fake_service[0]["now"] == NOW
    assert "1 passed, 1 failed" in capsys.readouterr().out


def test_main_cli_writes_json(tmp_path: Path, fake_service: list[dict[str, Any]]) -> None:
    out = tmp_path / "r.json"
    assert main_cli(write(tmp_path, case("a", turn("你好"))), out, 1.0, False) == 0
    assert json.loads(out.read_text("utf-8"))["summary"]["passed"] == 1


def test_cases_copy_the_day_s_template_instead_of_initialising_a_database(
    tmp_path: Path, templates: Templates, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What keeps a case cheap: its database is a copy of the day's template (migrations and
    demo data done once), so no case initialises one. (Seconds live in bench/, not here.)"""
    appointment = {
        "item": "普通护照签发",
        "hall": "南宁市民中心",
        "date": "2026-11-26",
        "period": "上午",
    }
    rows = [
        case(
            f"c{i}",
            turn("你好"),
            user={"profile": PROFILE},
            setup={"applications": [APPLICATION], "appointments": [appointment]},
        )
        for i in range(20)
    ]
    templates.template(NOW.date())  # built once per date, not per case
    initialised: list[object] = []
    original = Store.initialise

    def counting(self: Store, *args: object, **kwargs: object) -> object:
        initialised.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Store, "initialise", counting)
    result = run(tmp_path, templates, {}, *rows)
    assert result.passed == 20
    assert initialised == [], "a case initialised a database of its own"
