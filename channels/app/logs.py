"""Log output for `tongban serve`: readable lines on a terminal, or JSON lines for collectors.

Loki, Elasticsearch and Cloud Logging read one JSON object a line; a masking filter on the
handler (tongban.memory.pii) runs before formatting, so personal data is masked either way.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonLines(logging.Formatter):
    """One JSON object a record: time (UTC, ISO 8601), level, logger, message, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def handler(fmt: str) -> logging.Handler:
    out = logging.StreamHandler()
    out.setFormatter(JsonLines() if fmt == "json" else logging.Formatter(TEXT))
    return out
