"""Progress lines for long sends: done/total and the rate, every N items or every S seconds."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

_default_log = logging.getLogger(__name__)


class ProgressLog:
    """
    Log ``Sent done/total <noun> (rate/s)`` while items are sent.

    A line is written when ``every_items`` more items are done, or when ``every_seconds`` have passed
    since the last line, and once more by :meth:`finish`.

    :param total: the number of items expected, or ``None`` when unknown.
    :param every_items: items between two lines; 0 turns the item trigger off.
    :param every_seconds: seconds between two lines; 0 turns the time trigger off.
    :param noun: what the items are, for the log line (``products``, ``stock items``).
    :param log: the logger to write to; the operator passes its own ``self.log``.
    :param clock: a monotonic clock in seconds.
    """

    def __init__(
        self,
        total: int | None,
        *,
        every_items: int = 5000,
        every_seconds: float = 30.0,
        noun: str = "products",
        log: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.every_items = every_items
        self.every_seconds = every_seconds
        self.noun = noun
        self.log = log or _default_log
        self.clock = clock
        self.done = 0
        self.lines = 0
        self._started = clock()
        self._last_time = self._started
        self._last_done = 0

    def advance(self, count: int) -> None:
        """Add ``count`` finished items and log a line when one is due."""
        self.done += count
        now = self.clock()
        due_by_items = self.every_items > 0 and self.done - self._last_done >= self.every_items
        due_by_time = self.every_seconds > 0 and now - self._last_time >= self.every_seconds
        if due_by_items or due_by_time:
            self._emit(now)

    def finish(self) -> None:
        """Log the final line."""
        self._emit(self.clock())

    @property
    def rate(self) -> float:
        """Items per second since the start; 0 before any time has passed."""
        elapsed = self.clock() - self._started
        return self.done / elapsed if elapsed > 0 else 0.0

    def _emit(self, now: float) -> None:
        elapsed = now - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        total = self.total if self.total is not None else self.done
        self.log.info("Sent %d/%d %s (%.0f/s)", self.done, total, self.noun, rate)
        self.lines += 1
        self._last_time = now
        self._last_done = self.done
