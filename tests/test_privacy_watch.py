"""The suite-wide log scan (tests/helpers/privacy_watch.py) finds clear personal data and only that."""

from __future__ import annotations

import logging

import pytest

from tests.helpers.privacy_watch import Watch, personal_data_in
from tongban.memory.pii import PiiMaskingFilter


@pytest.mark.parametrize(("line", "found"), [
    ("resident 450102199001011231 asked", ["ID 4501…1231"]),
    ("call 13800000000 back", ["phone 138…0000"]),
    ("测试用户 booked", ["name 测*"]),
    ("resident 4501**********1231 and 138****0000", []),
    ("order 450102199001011232 fails the check digit", []),
    ("at 1732421234567 ms, trace 202611240930001234", []),
])
def test_clear_numbers_and_names_are_found_masked_ones_are_not(line: str, found: list[str]) -> None:
    assert personal_data_in(line) == found


@pytest.mark.logs_personal_data  # it plants a clear phone for the scan to find
def test_the_watch_reads_records_before_any_masking_filter() -> None:
    watch = Watch()
    watch.addFilter(PiiMaskingFilter())  # what install_log_masking does to every root handler
    logger = logging.getLogger("tongban.test.watch")
    logger.addHandler(watch)
    try:
        logger.warning("lookup for %s", "13977125508")
    finally:
        logger.removeHandler(watch)
    assert watch.hits == ["(collection): tongban.test.watch: phone 139…5508"]
