"""Everything the CLI takes from the outside world, in one injectable object.

Tests build an Environment with string buffers and a chosen directory and
call `main(argv, env)` in-process; the real program uses `from_system()`.

The modules a warm `fixme scan` loads (this one among them) do not import
`typing`: it costs a fifth of that command's own time; `io.TextIOBase` is
what sys.stdout and io.StringIO both are.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from io import TextIOBase


@dataclass
class Environment:
    stdout: TextIOBase
    stderr: TextIOBase
    cwd: os.PathLike[str] | str
    stdout_isatty: bool = False
    stderr_isatty: bool = False
    environ: Mapping[str, str] = field(default_factory=dict)
    # Cells a table may take: the terminal's width; None when stdout is no terminal (a pipe
    # or a file gets every title whole). Tests give a number to stand for a terminal.
    width: int | None = 100
    prefetch: bool = False  # may use a `git status` started before parsing (real runs only)
    # Said on stderr once the command has done its work (main.run), and only if it did:
    # a command that fails says why in one line, and nothing else.
    closing_notices: list[str] = field(default_factory=list)

    @classmethod
    def from_system(cls, prefetch: bool = False) -> "Environment":
        return cls(
            stdout=sys.stdout,
            stderr=sys.stderr,
            cwd=os.getcwd(),
            stdout_isatty=sys.stdout.isatty(),
            stderr_isatty=sys.stderr.isatty(),
            environ=os.environ,
            width=terminal_width(os.environ),
            prefetch=prefetch,
        )

    def start_dir(self, directory: str | None = None) -> str:
        """Where the command runs: the working directory, or `-C DIRECTORY` relative to it."""
        start = os.fspath(self.cwd)
        if directory:
            start = os.path.realpath(os.path.join(start, os.path.expanduser(directory)))
            if not os.path.isdir(start):
                from ..errors import FixmeError

                raise FixmeError(f"-C {directory}: no such directory")
        return start

    def wants_color(self, choice: str = "auto") -> bool:
        """Colour only on a terminal, and never when NO_COLOR is set (unless forced)."""
        if choice == "always":
            return True
        if choice == "never" or self.environ.get("NO_COLOR") or self.environ.get("TERM") == "dumb":
            return False
        return self.stdout_isatty


def terminal_width(environ: Mapping[str, str]) -> int | None:
    """The width of the terminal stdout is, as `COLUMNS` says or else the terminal itself;
    None when stdout is not a terminal."""
    try:
        if not sys.stdout.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    columns = environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns or None
    except (OSError, ValueError):
        return None
