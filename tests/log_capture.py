"""A logging handler that keeps what the steps log (their LOG does not propagate: caplog misses it)."""

from __future__ import annotations

import logging
from typing import List


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
