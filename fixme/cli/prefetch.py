"""Start the quick check's `git status` as early as possible.

Imported before argparse: it must stay tiny (os and the quickcheck module
only) and must never fail — any doubt means no prefetch.
"""

from __future__ import annotations

import os

from ..scan.quickcheck import find_work_tree, start_status
from ..scan.spawn import Child


class StatusPrefetch:
    def __init__(self, root: str, proc: Child):
        self.root = root
        self.proc = proc

    @classmethod
    def for_argv(cls, argv: list[str]) -> "StatusPrefetch | None":
        """Start `git status` when argv is plainly `[-C DIR] scan` without --full or --help."""
        directory = "."
        rest = list(argv)
        if rest[:1] == ["-C"] and len(rest) >= 2:
            directory, rest = rest[1], rest[2:]
        if not rest or rest[0] != "scan" or any(a in ("--full", "-h", "--help") for a in rest):
            return None
        root = find_work_tree(os.path.expanduser(directory))
        if root is None:
            return None
        try:
            return cls(root, start_status(root))
        except OSError:
            return None

    def take(self, start: str) -> Child | None:
        """The running `git status` if it is for the work tree of `start`; else stop it."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if find_work_tree(start) == self.root:
            return proc
        proc.kill()
        return None
