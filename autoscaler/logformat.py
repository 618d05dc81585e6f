"""The autoscaler's log lines: plain text, or with ``LOG_FORMAT=json`` one JSON object a
line with the fields the rest of the system writes (core/logs.py). Standard library
only: the Lambda package carries no logging library.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import TextIO

TEXT_FORMAT = "%(asctime)s %(name)s %(message)s"


class JsonLines(logging.Formatter):
    """One JSON object per record; a traceback is a field of it, never lines of its own."""

    def __init__(self, process: str):
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        line = {"level": record.levelname, "logger": record.name,
                "message": record.getMessage(), "process": self.process,
                "timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat()}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(log_format: str, process: str = "autoscaler",
              stream: TextIO | None = None) -> logging.Handler:
    """Make the root logger write ``log_format`` lines (``text`` or ``json``) to ``stream``
    (stderr), in place of any handler it had (the Lambda runtime's)."""
    out = logging.StreamHandler(stream or sys.stderr)
    out.setFormatter(JsonLines(process) if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers = [out]
    root.setLevel(logging.INFO)
    return out
