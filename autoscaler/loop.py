"""The local loop: a round every ``interval`` seconds, or at once when woken; the workers'
reports received meanwhile are folded into the next round."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Iterable

from autoscaler.rounds import Autoscaler, run_round
from autoscaler.wake import WAKE, Signal

log = logging.getLogger("autoscaler")


def run_once(autoscaler: Autoscaler, clock: Callable[[], float] = time.time,
             signals: Iterable[Signal] = ()) -> list[dict]:
    """One round over every pool now, ``signals`` folded in; returns the decision records."""
    return run_round(autoscaler, clock(), signals)


class LocalLoop:
    """Runs rounds until stopped; ``wake()`` makes the next one happen immediately."""

    def __init__(self, autoscaler: Autoscaler, interval: float,
                 clock: Callable[[], float] = time.time):
        self.autoscaler, self.interval, self.clock = autoscaler, interval, clock
        self.woken = threading.Event()
        self.stopped = threading.Event()
        self.rounds = 0
        self._signals: list[Signal] = []
        self._lock = threading.Lock()

    def wake(self, signals: Iterable[Signal] = ()) -> None:
        """Hand ``signals`` to the next round; decide now instead of at the end of the
        interval unless they are only workers' reports (no wake)."""
        signals = list(signals)
        with self._lock:
            self._signals.extend(signals)
        if not signals or any(s.kind == WAKE for s in signals):
            self.woken.set()

    def stop(self) -> None:
        """End ``run`` after the round in progress."""
        self.stopped.set()
        self.woken.set()

    def run(self) -> None:
        """Rounds until ``stop()``; a failing round is logged and the loop goes on."""
        while not self.stopped.is_set():
            self.woken.clear()
            with self._lock:
                signals, self._signals = self._signals, []
            try:
                run_once(self.autoscaler, self.clock, signals)
            except Exception:
                log.exception("autoscaling round failed; trying again in %gs", self.interval)
                with self._lock:  # the next round learns from them instead
                    self._signals[:0] = signals
            self.rounds += 1
            self.woken.wait(self.interval)


def run_forever(autoscaler: Autoscaler, interval: float, stop_event: threading.Event,
                wake_event: threading.Event | None = None,
                clock: Callable[[], float] = time.time) -> None:
    """Rounds every ``interval`` s (sooner when ``wake_event`` is set) until ``stop_event`` is set."""
    loop = LocalLoop(autoscaler, interval, clock)
    if wake_event is not None:
        loop.woken = wake_event
    watcher = threading.Thread(target=lambda: (stop_event.wait(), loop.stop()),
                               name="autoscaler-stop", daemon=True)
    watcher.start()
    loop.run()
