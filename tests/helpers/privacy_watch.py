"""Privacy scan over the whole test suite's logs: no log record may carry an ID number or a
mobile number in clear, nor the name of a test resident the code holds, nor a name a message
introduces (我叫王小芳, memory.pii.find_names).

Every record of every logger, at DEBUG, is read *before* any handler's masking filter
(`memory.pii.PiiMaskingFilter`): production handlers would mask what slips through, but code
that relies on that last line of defence leaks wherever a handler lacks the filter (a library's
own handler, a log shipper). A hit fails the run at the end, naming the test and the logger.

ID numbers count when they pass the GB 11643 check (so order numbers and timestamps do not),
phones when they fit the mobile numbering plan. Tests that log clear numbers on purpose (the
masking filter's own tests) say so with `@pytest.mark.logs_personal_data`. Run with
pytest-xdist (`-n 2`), each worker scans its own tests and the controller reports them all.
"""

from __future__ import annotations

import logging
import re

import pytest

from tongban.memory.pii import PiiMaskingFilter, find_names, is_valid_id_number

_ID = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{16}[\dXx](?![0-9A-Za-z])")
_PHONE = re.compile(r"(?<![0-9])(?:\+?86)?1[3-9]\d{9}(?![0-9])")
# names of the fictitious residents whose verified identities the tests hold
NAMES = ("测试用户", "赵丽华", "覃志明", "黄丽", "韦小宝")


def personal_data_in(text: str) -> list[str]:
    """What in this text is personal data in clear, each shown masked (for the report)."""
    found = [f"ID {m[:4]}…{m[-4:]}" for m in _ID.findall(text) if is_valid_id_number(m.upper())]
    found += [f"phone {m[:3]}…{m[-4:]}" for m in _PHONE.findall(text)]
    found += [f"name {n[0]}*" for n in NAMES if n in text]
    found += [f"name {text[start:start + kept]}*" for start, _, kept in find_names(text)]  # 我叫王小芳
    return found


class Watch(logging.Handler):
    """A root handler that keeps every clear hit with the test that logged it."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.hits: list[str] = []
        self.records = 0
        self.test = "(collection)"
        self.allowed = False

    def addFilter(self, filter) -> None:  # type: ignore[no-untyped-def]  # noqa: N802 (logging's name)
        if not isinstance(filter, PiiMaskingFilter):  # this handler must see what code logged
            super().addFilter(filter)

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        if self.allowed:
            return
        try:
            text = record.getMessage()
        except Exception:  # a broken format string is not this scan's business
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += f"\n{record.exc_info[1]!r}"
        for hit in personal_data_in(text):
            self.hits.append(f"{self.test}: {record.name}: {hit}")


WATCH = Watch()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "logs_personal_data: the test logs clear personal data on purpose")
    root = logging.getLogger()
    root.setLevel(min(root.level or logging.WARNING, logging.DEBUG))
    root.handlers.insert(0, WATCH)  # first: before any other handler's filter touches the record


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # type: ignore[no-untyped-def]
    WATCH.test, WATCH.allowed = item.nodeid, item.get_closest_marker("logs_personal_data") is not None
    yield
    WATCH.test, WATCH.allowed = "(between tests)", False


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    terminalreporter.write_line(
        f"privacy scan of the logs: {WATCH.records} records read, {len(WATCH.hits)} with personal data in clear")
    for hit in WATCH.hits[:50]:
        terminalreporter.write_line(f"  {hit}", red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker (-n): its controller adds up and decides
        workeroutput["privacy_watch"] = {"records": WATCH.records, "hits": WATCH.hits}
        return
    if WATCH.hits and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # type: ignore[no-untyped-def]
    """pytest-xdist's controller: a worker finished; its records and hits count here."""
    seen = getattr(node, "workeroutput", {}).get("privacy_watch")
    if seen:
        WATCH.records += seen["records"]
        WATCH.hits.extend(seen["hits"])
