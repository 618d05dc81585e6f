"""A function called every few seconds on a daemon thread, until stopped."""
from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Calls ``fn`` every ``interval`` seconds; an error is logged and the next call made."""

    def __init__(self, interval: float, fn: Callable[[], object], name: str):
        self.interval, self.fn, self.name = interval, fn, name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "Periodic":
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the call in progress (waiting up to ``timeout`` seconds for it, if given)."""
        self._stop.set()
        if timeout is not None and self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.fn()
            except Exception:
                log.exception("%s failed; trying again in %gs", self.name, self.interval)
