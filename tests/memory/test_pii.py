"""Personal data is validated, masked everywhere it is shown, and not in clear at rest."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from tongban.memory.applications import add_application
from tongban.memory.pii import (
    InvalidIdentifier,
    PiiMaskingFilter,
    mask_id_number,
    mask_phone,
    mask_text,
    normalise_id_number,
    normalise_phone,
)
from tongban.memory.residents import Identity, resolve
from tongban.memory.store import Store

ID = "450102199001011231"
PHONE = "13800000000"


def test_id_numbers_are_checksummed() -> None:
    assert normalise_id_number(f" {ID} ") == ID
    with pytest.raises(InvalidIdentifier):
        normalise_id_number("450102199001011232")  # wrong check digit
    with pytest.raises(InvalidIdentifier):
        normalise_id_number("4501021990010112")


def test_phones_are_validated() -> None:
    assert normalise_phone("+86 138 0000 0000") == PHONE
    for bad in ("12345", "10000000000", "0771-5555555"):
        with pytest.raises(InvalidIdentifier):
            normalise_phone(bad)


def test_masks() -> None:
    assert mask_id_number(ID) == "4501**********1231"
    assert mask_phone(PHONE) == "138****0000"
    assert mask_text(f"身份证{ID}，电话{PHONE}") == "身份证4501**********1231，电话138****0000"


@pytest.mark.logs_personal_data  # the masking filter is shown clear numbers on purpose
def test_log_lines_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tongban.test")
    caplog.handler.addFilter(PiiMaskingFilter())
    with caplog.at_level(logging.INFO):
        logger.info("resident %s phone %s", ID, PHONE)
    assert ID not in caplog.text and PHONE not in caplog.text
    assert "4501**********1231" in caplog.text


def test_reprs_are_masked() -> None:
    identity = Identity(name="王芳", phone=PHONE, id_number=ID)
    assert ID not in repr(identity) and PHONE not in repr(identity) and "王芳" not in repr(identity)


def test_a_database_dump_shows_no_personal_data_in_clear(store: Store) -> None:
    with store.session() as session:
        resolve(session, store.vault, channel="web", user_id="w-1", identity=Identity(name="测试用户", phone=PHONE, id_number=ID))
        add_application(session, store.vault, {
            "receipt_no": "GX20261118000999", "item": "结婚登记", "hall": "南宁市民中心",
            "applicant": {"name": "测试用户", "phone": PHONE, "id_number": ID}, "status": "已受理",
        })
    dump = "\n".join(store.engine.raw_connection().driver_connection.iterdump())
    assert ID not in dump and PHONE not in dump and "测试用户" not in dump
    with store.engine.connect() as connection:
        audit_rows = connection.execute(text("SELECT before, after FROM audit_log")).all()
    assert all(ID not in str(row) and PHONE not in str(row) for row in audit_rows)


def test_shipped_demo_applications_are_valid_and_encrypted(store: Store) -> None:
    from tongban.memory.demo import application_rows

    rows = application_rows()
    assert len(rows) >= 24
    dump = "\n".join(store.engine.raw_connection().driver_connection.iterdump())
    for row in rows:
        normalise_id_number(row["applicant"]["id_number"])
        assert row["applicant"]["id_number"] not in dump
        assert row["applicant"]["phone"] not in dump


def test_libraries_that_log_request_lines_are_masked_where_the_record_is_made() -> None:
    """An SMS SDK's URL names the phone; a handler without the filter (a log shipper's) must
    still get it masked, so the mask sits on the library's logger, not on our handlers."""
    from tongban.memory.pii import mask_library_logs

    mask_library_logs()
    seen: list[str] = []
    shipper = logging.Handler()
    shipper.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    root = logging.getLogger()
    root.addHandler(shipper)
    try:
        logging.getLogger("urllib3.connectionpool").warning(
            '"GET /?PhoneNumbers=13977125508&TemplateParam=450102199001011231 HTTP/1.1" 200')
    finally:
        root.removeHandler(shipper)
    assert seen == ['"GET /?PhoneNumbers=139****5508&TemplateParam=4501**********1231 HTTP/1.1" 200']
