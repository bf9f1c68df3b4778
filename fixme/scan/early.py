"""Git work a scan after new commits will need, started before the scanner loads.

When `git status` shows that HEAD moved since the last scan, the scan asks
git what changed between the two commits (diff-tree). Starting it as soon
as the quick check has its answer lets git work while the scanner's modules
load (~10 ms). The scanner takes it only if it is for the HEADs it finds in
its store; otherwise it is stopped.
"""

from __future__ import annotations

from .quickcheck import StatusCheck, start_git, status_head
from .spawn import Child

TREE_DIFF_ARGS = ("diff-tree", "-r", "-z", "-M", "--no-commit-id", "--raw")


class EarlyGit:
    """diff-tree for base..head, running."""

    def __init__(self, root: str, base: str, head: str):
        self.root, self.base, self.head = root, base, head
        self._children: dict[str, Child] = {}
        try:
            self._children["tree"] = start_git(root, (*TREE_DIFF_ARGS, base, head))
        except OSError:
            self.close()

    def take(self, kind: str, root: str, base: str, head: str) -> Child | None:
        """The running "tree" process, if it is for exactly this repository and range."""
        if (root, base, head) != (self.root, self.base, self.head):
            return None
        return self._children.pop(kind, None)

    def close(self) -> None:
        """Stop what nobody took."""
        for child in self._children.values():
            child.kill()
        self._children.clear()


def start_early_git(check: StatusCheck) -> EarlyGit | None:
    """Start git on the commits since the last scan, when `check` shows HEAD moved."""
    head = status_head(check.raw)
    summary = check.state.get("summary")
    base = summary.get("head") if isinstance(summary, dict) else None
    if not isinstance(base, str) or head is None or base == head:
        return None
    return EarlyGit(check.root, base, head)
