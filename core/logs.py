"""How every process logs: plain lines (``LOG_FORMAT=text``) or one JSON object a line
(``json``), each carrying the fields bound to the code that logs it.

``configure(settings, process=...)`` is called once by each entry point. Code that works
for a job binds its fields (``bound(job_id=..., kind=...)``): a contextvar, so a thread
or a task sees only its own, and every line logged inside carries them — in JSON mode a
log tool follows one job through the web app, the Lambdas and the workers by ``job_id``.
"""
from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Iterator, TextIO

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
#: What a JSON line calls the standard record attributes it keeps.
JSON_NAMES = {"levelname": "level", "name": "logger", "exc_info": "exception"}

_fields: ContextVar[dict] = ContextVar("jobsys_log_fields", default={})


def bind(**fields) -> Token:
    """Add ``fields`` (None values left out) to every line this context logs from now on;
    ``unbind`` the token to drop them again."""
    kept = {k: v if isinstance(v, (int, float, bool)) else str(v)
            for k, v in fields.items() if v is not None}
    return _fields.set({**_fields.get(), **kept})


def unbind(token: Token) -> None:
    """Back to the fields bound before ``bind`` returned ``token``."""
    _fields.reset(token)


@contextmanager
def bound(**fields) -> Iterator[None]:
    """``fields`` on every line logged inside the block."""
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


def current() -> dict:
    """The fields bound where this is called."""
    return dict(_fields.get())


class ContextFilter(logging.Filter):
    """Puts the bound fields on each record (a field passed as ``extra`` wins), and the
    process id as ``pid``."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _fields.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        record.pid = record.process
        return True


def formatter(log_format: str, process: str) -> logging.Formatter:
    """The formatter of ``log_format``; JSON lines name the ``process`` (web, worker...)."""
    if log_format == "json":
        return JsonFormatter(" ".join(f"%({name})s" for name in ("levelname", "name", "message")),
                             rename_fields=JSON_NAMES, timestamp=True,
                             static_fields={"process": process}, json_ensure_ascii=False)
    return logging.Formatter(TEXT_FORMAT)


def handler(log_format: str, process: str, stream: TextIO | None = None) -> logging.Handler:
    """A stream handler (stderr by default) writing ``log_format`` lines with the bound fields."""
    out = logging.StreamHandler(stream or sys.stderr)
    out.setFormatter(formatter(log_format, process))
    out.addFilter(ContextFilter())
    out.jobsys = True  # type: ignore[attr-defined]
    return out


def configure(settings, process: str, *, level: int | str = logging.INFO,
              stream: TextIO | None = None,
              loggers: tuple[str, ...] = ()) -> logging.Handler | None:
    """Set up the root logger of a process from ``settings`` (None: text).

    JSON takes the root logger over (a runtime's own handler, the Lambda's, would write a
    second, unparsed line); text leaves a root logger that already has handlers as it is,
    so ``make run`` and the tests keep theirs. ``loggers`` that keep their own handlers
    (gunicorn's) are pointed at the same handler. Returns the handler installed, if any.
    """
    log_format = getattr(settings, "log_format", "text")
    root = logging.getLogger()
    if log_format == "text" and any(not getattr(h, "jobsys", False) for h in root.handlers):
        return None
    root.setLevel(level)
    out = handler(log_format, process, stream)
    root.handlers = [out]
    if log_format == "json":
        # A warning is several lines of text on stderr unless logging writes it.
        logging.captureWarnings(True)
        for name in loggers:
            logging.getLogger(name).handlers = [out]
    return out
