"""The suite-wide log scan (tests/helpers/privacy_watch.py) finds clear personal data and only that."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.privacy_watch import Watch, personal_data_in
from tongban.memory.pii import PiiMaskingFilter


@pytest.mark.parametrize(("line", "found"), [
    ("resident 450102199001011231 asked", ["ID 4501…1231"]),
    ("call 13800000000 back", ["phone 138…0000"]),
    ("测试用户 booked", ["name 测*"]),
    ("resident said 我是李建国，想问低保", ["name 李*"]),
    ("resident said 我是李**，想问低保", []),
    ("resident said 我是低保户，想问", []),
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


def test_under_xdist_a_workers_hit_fails_the_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`pytest -n 2`: the workers log, the controller reports; a hit must still fail the run."""
    pytest.importorskip("xdist")
    root = Path(__file__).resolve().parents[1]
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (tmp_path / "conftest.py").write_text(
        "from tests.helpers.privacy_watch import (pytest_configure, pytest_runtest_protocol,\n"
        "    pytest_sessionfinish, pytest_terminal_summary, pytest_testnodedown)\n", encoding="utf-8")
    (tmp_path / "test_inner.py").write_text(
        "import logging\n\n"
        "def test_leaks():\n    logging.getLogger('inner').warning('call %s back', '13977125508')\n\n"
        "def test_quiet():\n    logging.getLogger('inner').warning('nothing personal')\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # xdist only: three processes, each cheap to start
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "xdist", "-p", "no:cacheprovider", "-n", "2", "-q"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert "2 passed" in run.stdout, run.stdout + run.stderr
    assert "with personal data in clear" in run.stdout and "test_inner.py::test_leaks: inner: phone 139…5508" in run.stdout
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, "the tests passed, the scan did not"
