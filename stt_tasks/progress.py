"""Progress lines for the task log.

Airflow shows a container's output line by line, so progress is a plain line every few seconds
on stderr (never a carriage-return bar, which would glue into one line, never stdout, whose last
line is the step's JSON result).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Optional

LOG = logging.getLogger("stt_tasks")


def configure_logging(level: int = logging.INFO) -> None:
    """Send the package's log to stderr with a short, timestamped format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger("stt_tasks")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class Progress:
    """Counts work done and logs a line with rate and ETA at most every ``interval`` seconds."""

    def __init__(
        self, label: str, total: Optional[int], unit: str = "items", interval: float = 5.0, scale: int = 1
    ) -> None:
        """``scale`` divides counts for display: count bytes, show MB with ``unit="MB", scale=10**6``."""
        self.label = label
        self.total = total
        self.unit = unit
        self.interval = interval
        self.scale = scale
        self.done = 0
        self._start = time.monotonic()
        self._last = self._start

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            LOG.info("%s", self.line(now))

    def line(self, now: Optional[float] = None) -> str:
        elapsed = max((now or time.monotonic()) - self._start, 1e-9)
        rate = self.done / elapsed
        done = self._shown(self.done)
        if self.total:
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            return "{}: {}/{} {} ({:.0%}), {:.1f} {}/s, ETA {:.0f} s".format(
                self.label, done, self._shown(self.total), self.unit, self.done / self.total, rate / self.scale,
                self.unit, eta
            )
        return "{}: {} {}, {:.1f} {}/s".format(self.label, done, self.unit, rate / self.scale, self.unit)

    def _shown(self, count: int) -> str:
        return str(count) if self.scale == 1 else "{:.1f}".format(count / self.scale)

    def finish(self) -> None:
        LOG.info("%s (done in %.1f s)", self.line(), time.monotonic() - self._start)
