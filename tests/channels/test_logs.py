"""`tongban serve --log-format json`: one JSON object a line, personal data masked all the same."""

from __future__ import annotations

import io
import json
import logging

from tongban.channels.app import logs
from tongban.memory.pii import install_log_masking


def test_json_lines_carry_level_logger_and_a_masked_message() -> None:
    out = io.StringIO()
    handler = logs.handler("json")
    handler.setStream(out)  # type: ignore[attr-defined]
    logger = logging.getLogger("tongban.test.jsonlogs")
    logger.handlers, logger.propagate = [handler], False
    install_log_masking(logger)
    try:
        logger.warning("sms to %s: 您的预约已确认", "13812345678")
        try:
            raise ValueError("坏了")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.handlers = []
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["level"] == "warning" and first["logger"] == "tongban.test.jsonlogs"
    assert "13812345678" not in first["message"] and "138****5678" in first["message"]
    assert "您的预约已确认" in first["message"], "Chinese stays readable"
    assert second["message"] == "failed" and "ValueError: 坏了" in second["exception"]
