"""Old messages, transcripts, recordings and question logs are deleted; recent ones stay."""

from __future__ import annotations

import datetime as dt

from sqlmodel import func, select

from tongban.memory import uploads
from tongban.memory.inbound import accept
from tongban.memory.models import (
    AuditLog,
    InboundMessage,
    QuestionLog,
    Resident,
    TranscriptMessage,
    Upload,
)
from tongban.memory.retention import purge_before
from tongban.memory.store import Store
from tongban.memory.transcripts import append, audio_dir, load_audio, save_audio
from tongban.memory.uploads import UploadSettings

NOW = dt.datetime(2026, 11, 24, 1, 30, tzinfo=dt.UTC)


def test_a_recording_from_an_earlier_version_on_disk_is_still_purged(store: Store) -> None:
    data_dir = store.settings.data_dir
    folder = audio_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    ref = "0" * 32 + ".wav"
    (folder / ref).write_bytes(store.vault.encrypt_bytes(b"RIFF-legacy"))
    with store.session() as session:
        resident = Resident(web_id="legacy-audio")
        session.add(resident)
        session.flush()
        append(session, store.vault, resident_id=resident.id, role="resident", channel="web", text="旧录音",
               audio_ref=ref, at=NOW - dt.timedelta(days=200))
        assert load_audio(session, store.vault, ref, legacy_dir=data_dir) == (b"RIFF-legacy", "wav")
    with store.session() as session:
        assert purge_before(session, data_dir, NOW - dt.timedelta(days=180)).recordings == 1
    assert not (folder / ref).exists()


def test_purge_removes_only_what_is_older_than_the_cutoff(store: Store) -> None:
    data_dir = store.settings.data_dir
    with store.session() as session:
        resident = Resident(web_id="kept-and-purged")
        session.add(resident)
        session.flush()
        old_audio = save_audio(session, store.vault, b"RIFF-old", "wav", at=NOW - dt.timedelta(days=200))
        new_audio = save_audio(session, store.vault, b"RIFF-new", "wav", at=NOW - dt.timedelta(days=1))
        for age, ref in ((200, old_audio), (1, new_audio)):
            at = NOW - dt.timedelta(days=age)
            append(session, store.vault, resident_id=resident.id, role="resident", channel="web",
                   text=f"{age} 天前的话", audio_ref=ref, at=at)
            row, _ = accept(session, store.vault, channel="web", message_key=f"m-{age}", user_id="u", text="你好")
            row.received_at = at
            session.add(row)
            session.add(QuestionLog(at=at, kind="low_confidence", text_masked="masked", resident_key="k", channel="web"))
    with store.session() as session:
        purged = purge_before(session, data_dir, NOW - dt.timedelta(days=180))
    assert (purged.transcript, purged.inbound, purged.questions, purged.recordings) == (1, 1, 1, 1)
    with store.session() as session:
        assert load_audio(session, store.vault, old_audio) is None
        assert load_audio(session, store.vault, new_audio) == (b"RIFF-new", "wav")
    with store.session() as session:
        for table in (TranscriptMessage, InboundMessage, QuestionLog):
            assert session.exec(select(func.count()).select_from(table)).one() == 1
        assert session.exec(select(AuditLog).where(AuditLog.action == "retention")).one().after["transcript"] == 1


def test_uploaded_materials_go_after_their_own_shorter_period(any_store: Store) -> None:
    store = any_store
    with store.session() as session:
        resident = Resident(web_id="uploads-kept-and-purged")
        session.add(resident)
        session.flush()
        for age in (45, 20, 1):
            uploads.save(session, store.vault, resident_id=resident.id or 0, channel="web", content_type="image/jpeg",
                         data=f"photo taken {age} days ago".encode(), review={"status": "reviewed"},
                         at=NOW - dt.timedelta(days=age))
    with store.session() as session:
        purged = purge_before(session, store.settings.data_dir, NOW - dt.timedelta(days=180),
                              uploads_before=NOW - dt.timedelta(days=30))
        assert purged.uploads == 1
        purged = purge_before(session, store.settings.data_dir, NOW - dt.timedelta(days=10))
        assert purged.uploads == 1, "without an upload period the data cutoff applies"
    with store.session() as session:
        (kept,) = session.exec(select(Upload)).all()
        assert store.vault.decrypt_bytes(kept.blob_enc) == b"photo taken 1 days ago"
        logged = session.exec(select(AuditLog).where(AuditLog.action == "retention")).all()
        assert [a.after["uploads"] for a in logged] == [1, 1]


def test_the_upload_period_is_a_setting(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("TONGBAN_UPLOAD_RETENTION_DAYS", raising=False)
    assert UploadSettings(_env_file=None).upload_retention_days == 30  # type: ignore[call-arg]
    monkeypatch.setenv("TONGBAN_UPLOAD_RETENTION_DAYS", "7")
    assert UploadSettings().upload_retention_days == 7
