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


def duration_text(seconds: float) -> str:
    """A duration as a person reads it in a log: ``45 s``, ``12 min 03 s``, ``2 h 05 min``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return "{} s".format(seconds)
    if seconds < 3600:
        return "{} min {:02d} s".format(seconds // 60, seconds % 60)
    return "{} h {:02d} min".format(seconds // 3600, seconds % 3600 // 60)


#: The first progress line comes after this many seconds at most, so a slow task shows its rate early.
FIRST_LINE_AFTER = 5.0


class Progress:
    """Counts work done and logs a line with rate and ETA: the first after a few seconds, then at most
    every ``interval`` seconds.

    The rate of a line (and its ETA) is the one since the previous line: an import that resumes goes
    fast through the clips it already converted, and the average since the start would promise an
    ETA it cannot keep. The final line gives the average.
    """

    def __init__(
        self, label: str, total: Optional[int], unit: str = "items", interval: float = 15.0, scale: int = 1
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
        self._done_at_last = 0
        self._lines = 0
        #: the final line gives the average pace, the others the recent one
        self._finished = False

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        due = min(self.interval, FIRST_LINE_AFTER) if self._lines == 0 else self.interval
        if now - self._last >= due:
            LOG.info("%s", self.line(now))
            self._last, self._done_at_last, self._lines = now, self.done, self._lines + 1

    def rate(self, now: Optional[float] = None) -> float:
        """Work per second since the previous line, or since the start (first and final lines)."""
        now = now or time.monotonic()
        if not self._finished and self._lines and now > self._last and self.done > self._done_at_last:
            return (self.done - self._done_at_last) / (now - self._last)
        return self.done / max(now - self._start, 1e-9)

    def line(self, now: Optional[float] = None) -> str:
        rate = self.rate(now)
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
        self._finished = True
        LOG.info("%s (done in %s)", self.line(), duration_text(time.monotonic() - self._start))
