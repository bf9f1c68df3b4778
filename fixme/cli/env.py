"""Everything the CLI takes from the outside world, in one injectable object.

Tests build an Environment with string buffers and a chosen directory and
call `main(argv, env)` in-process; the real program uses `from_system()`.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, TextIO


@dataclass
class Environment:
    stdout: TextIO
    stderr: TextIO
    cwd: Path
    stdout_isatty: bool = False
    stderr_isatty: bool = False
    environ: Mapping[str, str] = field(default_factory=dict)
    width: int = 100

    @classmethod
    def from_system(cls) -> "Environment":
        out_tty = sys.stdout.isatty()
        return cls(
            stdout=sys.stdout,
            stderr=sys.stderr,
            cwd=Path.cwd(),
            stdout_isatty=out_tty,
            stderr_isatty=sys.stderr.isatty(),
            environ=os.environ,
            width=shutil.get_terminal_size((100, 24)).columns,
        )

    def wants_color(self, choice: str = "auto") -> bool:
        """Colour only on a terminal, and never when NO_COLOR is set (unless forced)."""
        if choice == "always":
            return True
        if choice == "never" or self.environ.get("NO_COLOR") or self.environ.get("TERM") == "dumb":
            return False
        return self.stdout_isatty
