"""A progress bar on stderr: only on a terminal, only once work takes a while."""

from __future__ import annotations

from typing import TYPE_CHECKING

import time

if TYPE_CHECKING:
    from typing import TextIO

SHOW_AFTER = 0.4  # seconds; quick scans never flash a bar


class ProgressBar:
    def __init__(self, stream: TextIO, enabled: bool, width: int = 30):
        self.stream = stream
        self.enabled = enabled
        self.width = width
        self.started = time.monotonic()
        self.shown = False
        self.last_draw = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.started < SHOW_AFTER or (now - self.last_draw < 0.05 and done < total):
            return
        self.last_draw = now
        filled = int(self.width * done / total) if total else self.width
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{phase:<16} [{bar}] {done}/{total}\x1b[K")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False
