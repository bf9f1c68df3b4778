"""One running node per storage directory, and whether one runs.

Two nodes on one directory would each think the other's writes were a
peer's, race on every transfer, and serve twice. A node holds an exclusive
`flock` on `node.lock` in its directory for as long as it runs; a second one
finds it taken and says whose pid holds it (written into the file).

The lock is also the answer to "is a node running here?": the kernel drops
it when the process dies, however it dies, and a copied directory has a copy
of the file that nobody holds, so a copy of a repository never sees the
original's node as its own (running.json, copied along with it, would say so).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = "node.lock"


class AlreadyRunning(Exception):
    """Another process runs a node on this directory."""

    def __init__(self, pid: int | None):
        super().__init__(f"node already running (pid {pid if pid is not None else '?'})")
        self.pid = pid


class StorageLost(Exception):
    """The node's directory was deleted or replaced while it ran (the node has stopped)."""


def directory_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of a directory, None when it is gone: a directory deleted and
    made again (`rm -rf .fixme && fixme init`) is another directory."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


class RunningLock:
    """The lock a running node holds on its directory."""

    def __init__(self, node_dir: Path):
        self.path = Path(node_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock and write our pid into it; AlreadyRunning when another holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(_pid_in(self.path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Let go (the file stays: removing it would race with a node starting)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def node_running(node_dir: Path) -> bool:
    """Does some process hold the lock of the node on `node_dir`?"""
    try:
        fd = os.open(Path(node_dir) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)   # also lets go of the shared lock, if we got it
    return False


def _pid_in(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
