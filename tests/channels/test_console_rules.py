"""The rules under the console: one claim wins, the transcript, opening hours, audio, the CLI."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from tests.conftest import NOW
from tongban.agent.messages import Inbound
from tongban.agent.service import Agent
from tongban.channels.console.cli import staff_app
from tongban.memory import staff, transcripts
from tongban.memory.checkpoints import sqlite_checkpointer
from tongban.memory.models import AuditLog, Handoff, Recording, StaffAccount, TranscriptMessage
from tongban.memory.residents import resolve
from tongban.memory.store import Store
from tongban.tools import handoff as handoffs

SHANGHAI = handoffs.SHANGHAI


def at(day: str, time: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=SHANGHAI)


def _agent(store: Store, index, clock=lambda: NOW) -> Agent:  # type: ignore[no-untyped-def]
    return Agent(store, clock=clock, index=index, checkpointer=sqlite_checkpointer(":memory:"))


# ------------------------------------------------------------------ one claim wins


def _race(store: Store, agent: Agent, handoff_id: int, text: str) -> tuple[dict[str, bool], list]:  # type: ignore[type-arg]
    """Two staff claim and the resident writes, released together by a barrier."""
    barrier = threading.Barrier(3)
    won: dict[str, bool] = {}
    replies = []

    def take(name: str) -> None:
        barrier.wait()
        with store.session(actor=f"staff:{name}") as session:
            won[name] = handoffs.claim(session, handoff_id, staff=name)

    def write() -> None:
        barrier.wait()
        replies.append(agent.respond_sync(Inbound(channel="web", user_id="w-claim", text=text)))

    threads = [threading.Thread(target=take, args=(n,)) for n in ("wangfang", "lisi")]
    threads.append(threading.Thread(target=write))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return won, replies


def test_two_staff_claim_while_the_resident_writes_exactly_one_wins(any_store: Store, service_index) -> None:  # type: ignore[no-untyped-def]
    agent = _agent(any_store, service_index)
    assert agent.respond_sync(Inbound(channel="web", user_id="w-claim", text="转人工")).handoff
    with any_store.session() as session:
        handoff_id = session.exec(select(Handoff.id)).one() or 0
    for attempt in range(3):  # several rounds: the database decides the race every time
        won, replies = _race(any_store, agent, handoff_id, f"还在吗{attempt}")
        assert sorted(won.values()) == [False, True]
        with any_store.session() as session:
            handoff = session.get(Handoff, handoff_id)
            assert handoff is not None and handoff.status == "claimed" and won[handoff.staff or ""]
            handoff.status, handoff.staff, handoff.claimed_at = "waiting", None, None  # for the next round
        assert replies[0].text == "" and replies[0].handoff, "the bot stays silent"
    with any_store.session() as session:
        said = [transcripts.get(session, any_store.vault, r.id or 0).text  # type: ignore[union-attr]
                for r in session.exec(select(TranscriptMessage).where(TranscriptMessage.role == "resident")
                                      .order_by(TranscriptMessage.id))]
    assert said == ["转人工", "还在吗0", "还在吗1", "还在吗2"]


# ------------------------------------------------------------------ transcript and opening hours


def test_the_agent_keeps_the_transcript_and_tells_after_hours_residents_when(store: Store, service_index) -> None:  # type: ignore[no-untyped-def]
    evening = at("2026-11-27", "19:05")  # a Friday evening: the next working day is Monday
    agent = _agent(store, service_index, clock=lambda: evening)
    asked = agent.respond_sync(Inbound(channel="web", user_id="w-night", text="身份证到期了怎么换", message_id="m-1"))
    handed = agent.respond_sync(Inbound(channel="web", user_id="w-night", text="转人工"))
    assert handed.handoff
    assert "现在是非工作时间，工作人员将在下一个工作日（11月30日）上午9点后回复您" in handed.text
    assert "12345" in handed.text
    with store.session() as session:
        resident = resolve(session, store.vault, channel="web", user_id="w-night")
        entries = transcripts.conversation(session, store.vault, resident.id or 0)
        assert session.exec(select(Handoff)).one().notified_at is not None
        raw = session.exec(select(TranscriptMessage.text_enc)).all()
    assert [(e.role, e.text) for e in entries] == [
        ("resident", "身份证到期了怎么换"), ("bot", asked.text), ("resident", "转人工"), ("bot", handed.text)]
    assert entries[0].message_id == "m-1"
    assert all("身份证" not in r for r in raw), "stored encrypted"


@pytest.mark.parametrize(("now", "expected"), [
    (at("2026-11-24", "09:30"), None),
    (at("2026-11-24", "15:00"), None),
    (at("2026-11-24", "12:30"), "现在是午休时间，工作人员将在今天下午2点半后回复您"),
    (at("2026-11-24", "07:50"), "现在是非工作时间，工作人员将在今天上午9点后回复您"),
    (at("2026-11-24", "17:30"), "现在是非工作时间，工作人员将在明天上午9点后回复您"),
    (at("2026-11-28", "10:00"), "现在是非工作时间，工作人员将在下一个工作日（11月30日）上午9点后回复您"),
    (at("2026-10-01", "10:00"), "现在是非工作时间，工作人员将在下一个工作日（10月8日）上午9点后回复您"),
    (at("2026-09-30", "18:00"), "现在是非工作时间，工作人员将在下一个工作日（10月8日）上午9点后回复您"),
])
def test_opening_hours_notice(now: dt.datetime, expected: str | None) -> None:
    notice = handoffs.after_hours_notice(now)
    if expected is None:
        assert notice is None and handoffs.staffed(now)
    else:
        assert notice is not None and notice.startswith(expected) and "12345" in notice


def test_a_make_up_working_day_is_staffed() -> None:
    from tongban.memory.calendar import day_status

    saturday = dt.date(2026, 9, 20)
    if day_status(saturday).reason != "调休上班":
        pytest.skip("the calendar shipped has no make-up Saturday on this date")
    assert handoffs.staffed(at(saturday.isoformat(), "10:00"))


async def test_nobody_claims_in_time_the_resident_is_told_once(aiohttp_client, make_app, store) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers.console import XHR, origin
    from tongban.channels.console.auth import CONSOLE_SETTINGS
    from tongban.channels.console.live import tell_unclaimed
    from tongban.channels.console.settings import ConsoleSettings

    app = make_app()
    app[CONSOLE_SETTINGS] = ConsoleSettings(console_unclaimed_after_s=60)
    client = await aiohttp_client(app)
    await client.get("/")  # the page: the resident's cookie
    live = await client.ws_connect("/api/web/live", headers=origin(client))
    await client.post("/api/web/messages", json={"text": "转人工"}, headers=XHR)
    with store.session() as session:
        created = session.exec(select(Handoff)).one().created_at.replace(tzinfo=dt.UTC)
    assert await tell_unclaimed(app, created + dt.timedelta(seconds=30)) == 0, "not yet"
    local = created.astimezone(SHANGHAI)
    saturday = dt.datetime.combine(local.date() + dt.timedelta(days=(5 - local.weekday()) % 7 or 7),
                                   dt.time(10, 0), SHANGHAI)
    if not handoffs.staffed(saturday):
        assert await tell_unclaimed(app, saturday) == 0, "nobody to wait for at weekends"
    later = handoffs.next_staffed(created + dt.timedelta(seconds=61))
    assert await tell_unclaimed(app, later) == 1
    told = await live.receive_json(timeout=5)
    assert told["role"] == "system" and "暂时没有工作人员接入" in told["text"] and "12345" in told["text"]
    assert await tell_unclaimed(app, later + dt.timedelta(seconds=30)) == 0, "once"
    with store.session() as session:
        [system] = session.exec(select(TranscriptMessage).where(TranscriptMessage.role == "system")).all()
        assert system.delivered is True
    await live.close()


# ------------------------------------------------------------------ voice


async def test_voice_is_stored_encrypted_and_played_to_signed_in_staff(aiohttp_client, make_app, store) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers.console import add_accounts, sign_in

    audio = b"OggS" + bytes(range(256)) * 8
    with store.session() as session:
        ref = transcripts.save_audio(session, store.vault, audio, "ogg")
        sealed = session.exec(select(Recording.blob_enc).where(Recording.ref == ref)).one()
    assert audio not in sealed and bytes(range(256)) not in sealed
    assert not transcripts.audio_dir(store.settings.data_dir).exists(), "nothing on this replica's disk"
    with store.session() as session:
        resident = resolve(session, store.vault, channel="web", user_id="w-voice")
        handoffs.start_handoff(session, resident_id=resident.id or 0, channel="web", reason="居民要求人工服务")
        row = transcripts.append(session, store.vault, resident_id=resident.id or 0, role="resident", channel="web",
                                 text="我想问一下社保卡", audio_ref=ref)
        message_id = row.id
    add_accounts(store)
    client = await aiohttp_client(make_app())
    assert (await client.get(f"/console/api/audio/{message_id}")).status == 401
    await sign_in(client, "wangfang")
    played = await client.get(f"/console/api/audio/{message_id}")
    assert played.status == 200 and played.content_type == "audio/ogg" and await played.read() == audio
    assert (await client.get("/console/api/audio/999999")).status == 404
    [handoff_row] = (await (await client.get("/console/api/queue")).json())["conversations"]
    conversation = await (await client.get(f"/console/api/conversations/{handoff_row['handoff_id']}")).json()
    assert conversation["messages"][-1]["audio"] == f"/console/api/audio/{message_id}"
    assert conversation["messages"][-1]["text"] == "我想问一下社保卡"
    with store.session() as session:
        assert session.exec(select(AuditLog).where(AuditLog.action == "play_audio")).first() is not None
    with store.session() as session:
        assert transcripts.load_audio(session, store.vault, "../../etc/passwd", legacy_dir=store.settings.data_dir) is None


async def test_a_web_voice_message_keeps_its_recording_beside_the_transcript(aiohttp_client, make_app, store) -> None:  # type: ignore[no-untyped-def]
    from aiohttp import FormData

    from tests.helpers.console import XHR
    from tongban.agent.messages import Transcript
    from tongban.channels.app.voice_hook import VOICE

    async def transcribe(audio: bytes, fmt: str) -> tuple[str, Transcript] | None:
        return "社保卡丢了怎么办", Transcript(confidence=0.95)

    app = make_app()
    app[VOICE] = transcribe
    client = await aiohttp_client(app)
    recording = b"\x1a\x45\xdf\xa3" + bytes(range(200))
    form = FormData()
    form.add_field("format", "webm")
    form.add_field("file", recording, filename="voice.webm", content_type="audio/webm")
    response = await client.post("/api/web/voice", data=form, headers=XHR)
    assert response.status == 200 and (await response.json())["heard"] == "社保卡丢了怎么办"
    with store.session() as session:
        [row] = session.exec(select(TranscriptMessage).where(TranscriptMessage.role == "resident")).all()
        assert store.vault.decrypt(row.text_enc) == "社保卡丢了怎么办" and row.audio_ref
        assert transcripts.load_audio(session, store.vault, row.audio_ref) == (recording, "webm")


# ------------------------------------------------------------------ accounts


def test_tongban_staff_add(store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TONGBAN_ENV", "test")
    monkeypatch.setenv("TONGBAN_DATABASE_URL", str(store.engine.url))
    monkeypatch.setenv("TONGBAN_SECRET_KEY", "test-secret-key-0123456789")
    monkeypatch.setenv("TONGBAN_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    added = runner.invoke(staff_app, ["add", "chenjing", "--role", "supervisor", "--hall", "柳州市政务服务中心",
                                      "--password-stdin"], input="a-long-enough-secret\n")
    assert added.exit_code == 0, added.output
    prompted = runner.invoke(staff_app, ["add", "liuyang"], input="another-secret-1\nanother-secret-1\n")
    assert prompted.exit_code == 0, prompted.output
    short = runner.invoke(staff_app, ["add", "zhao", "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "至少" in short.output
    again = runner.invoke(staff_app, ["add", "chenjing", "--password-stdin"], input="a-long-enough-secret\n")
    assert again.exit_code == 1 and "已存在" in again.output
    bad_role = runner.invoke(staff_app, ["add", "x", "--role", "admin", "--password-stdin"], input="a-long-enough-secret\n")
    assert bad_role.exit_code == 2
    with store.session() as session:
        account = session.exec(select(StaffAccount).where(StaffAccount.username == "chenjing")).one()
        assert account.role == "supervisor" and account.hall == "柳州市政务服务中心"
        assert account.password_hash.startswith("$argon2id$") and "a-long-enough-secret" not in repr(account)
        assert staff.authenticate(session, "chenjing", "a-long-enough-secret") is not None
        assert staff.authenticate(session, "chenjing", "wrong-password") is None
        assert staff.authenticate(session, "liuyang", "another-secret-1") is not None
    deactivated = runner.invoke(staff_app, ["deactivate", "liuyang"])
    assert deactivated.exit_code == 0
    with store.session() as session:
        assert staff.authenticate(session, "liuyang", "another-secret-1") is None
