"""Thin, fast access to the git plumbing the scanner needs.

Everything goes through the real `git` binary with machine-readable flags
(-z, --porcelain) so that odd file names cannot confuse the parsers, and with
settings that make the output independent of the user's git config.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable
from pathlib import Path

# Options that make git's output stable, and the status parser: shared with the fast path.
from .early import TREE_DIFF_ARGS
from .quickcheck import find_work_tree, git_environment, start_git, status_head, status_records
from .spawn import Child

NULL_SHA = "0" * 40


class GitError(Exception):
    """A git command failed, or the directory is not a git repository."""


class StatusEntry(namedtuple("StatusEntry", "path kind")):
    """One line of `git status --porcelain=v2`: a path that differs from HEAD.

    kind is "changed", "untracked" or "unmerged".
    """

    __slots__ = ()


class Status(namedtuple("Status", "head entries raw")):
    """head: None in a repository without commits; entries: StatusEntry tuple;
    raw: the exact output, to tell cheaply whether anything changed."""

    __slots__ = ()


class TreeChange(namedtuple("TreeChange", "status path old_path blob regular", defaults=(True,))):
    """A path that differs between two commits (from `git diff-tree --raw -M`).

    status: A, M, D, R, T, ...; blob: the new blob, None when deleted;
    regular: a regular file (not a symlink or submodule) after the change.
    """

    __slots__ = ()


class Git:
    """Runs git in one repository's work tree."""

    def __init__(self, root: Path):
        self.root = root

    # -- running ---------------------------------------------------------
    def run(self, *args: str, check: bool = True, env: dict[str, str] | None = None) -> bytes:
        """git's output; GitError with git's first line of complaint when it fails (with `check`).

        `env` adds to the environment git runs in.
        """
        proc = self.popen(*args, env=env)
        out, err = proc.communicate()
        if check and proc.returncode != 0:
            raise GitError(first_line(err) or f"git {args[0]} failed ({proc.returncode})")
        return out

    def popen(self, *args: str, env: dict[str, str] | None = None) -> Child:
        """Start git; a Child rather than a Popen, so that subprocess is never imported (see spawn)."""
        return start_git(str(self.root), args, env)

    # -- repository facts -------------------------------------------------
    def head(self) -> str | None:
        out = self.run("rev-parse", "-q", "--verify", "HEAD^{commit}", check=False)
        sha = out.decode().strip()
        return sha or None

    def tree(self, commit: str) -> dict[str, str]:
        """path -> blob id for every regular file (no symlinks, no submodules) at `commit`."""
        out = self.run("ls-tree", "-r", "-z", "--full-tree", commit)
        files: dict[str, str] = {}
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, path = record.partition(b"\t")
            mode, kind, blob = meta.split(b" ")
            if kind == b"blob" and mode in (b"100644", b"100755"):
                files[path.decode("utf-8", "surrogateescape")] = blob.decode()
        return files

    def tree_changes(self, old: str, new: str, started: Child | None = None) -> list[TreeChange]:
        """What changed between two commits, renames detected as `git log -M` does.

        `started` is that same diff-tree, already running (see early.py).
        """
        proc = started or self.popen(*TREE_DIFF_ARGS, old, new)
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise GitError(first_line(err) or f"git diff-tree failed ({proc.returncode})")
        return parse_raw_diff(out)



def find_root(start: Path) -> Path:
    """The top of the work tree containing `start`, or GitError.

    The usual case (a `.git` directory or file above `start`, no GIT_DIR
    games) is answered from the file system; anything else asks git.
    """
    found = find_work_tree(str(start))
    if found is not None:
        return Path(found)
    import subprocess

    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=start, capture_output=True, env=git_environment(),
        )
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH") from None
    except NotADirectoryError:
        raise GitError(f"{start}: not a directory") from None
    if proc.returncode != 0:
        message = first_line(proc.stderr)
        if "not a git repository" in message:
            raise GitError(f"{start}: not a git repository")
        raise GitError(message or f"{start}: cannot run git")
    top = proc.stdout.decode().strip()
    if not top:
        raise GitError(f"{start}: not inside a work tree (a bare repository?)")
    return Path(top)


def parse_status(raw: bytes) -> Status:
    """Parse `git status --porcelain=v2 -z --branch` output."""
    entries = tuple(StatusEntry(path, kind) for kind, path in status_records(raw))
    return Status(status_head(raw), entries, raw)


def parse_raw_diff(out: bytes) -> list[TreeChange]:
    """Parse `git diff-tree --raw -z` output (with rename detection)."""
    fields = out.split(b"\0")
    changes: list[TreeChange] = []
    i = 0
    while i < len(fields):
        meta = fields[i]
        if not meta.startswith(b":"):
            i += 1
            continue
        _, new_mode, _, new_blob, status = meta[1:].decode().split(" ")
        letter = status[0]
        if letter in "RC":
            old_path = fields[i + 1].decode("utf-8", "surrogateescape")
            path = fields[i + 2].decode("utf-8", "surrogateescape")
            i += 3
        else:
            old_path = None
            path = fields[i + 1].decode("utf-8", "surrogateescape")
            i += 2
        blob = None if letter == "D" or new_blob == NULL_SHA else new_blob
        changes.append(TreeChange(letter, path, old_path, blob, new_mode in ("100644", "100755")))
    return changes


def line_ranges(lines: Iterable[int]) -> list[tuple[int, int]]:
    """Collapse line numbers into inclusive (start, end) runs for `-L` options."""
    ranges: list[tuple[int, int]] = []
    for n in sorted(set(lines)):
        if ranges and ranges[-1][1] == n - 1:
            ranges[-1] = (ranges[-1][0], n)
        else:
            ranges.append((n, n))
    return ranges


_ESCAPES = {b"n": b"\n", b"t": b"\t", b'"': b'"', b"\\": b"\\", b"a": b"\a", b"b": b"\b",
            b"f": b"\f", b"r": b"\r", b"v": b"\v"}


def unquote_path(raw: bytes) -> str:
    """A path as git wrote it, with its C-style quoting (control characters, quotes) undone."""
    if not (raw.startswith(b'"') and raw.endswith(b'"') and len(raw) >= 2):
        return raw.decode("utf-8", "surrogateescape")
    body, out, i = raw[1:-1], bytearray(), 0
    while i < len(body):
        ch = body[i:i + 1]
        if ch == b"\\" and i + 1 < len(body):
            nxt = body[i + 1:i + 2]
            if nxt.isdigit():
                out.append(int(body[i + 1:i + 4], 8))
                i += 4
                continue
            out += _ESCAPES.get(nxt, nxt)
            i += 2
            continue
        out += ch
        i += 1
    return bytes(out).decode("utf-8", "surrogateescape")


def first_line(stderr: bytes) -> str:
    """git's complaint in one line: its first fatal or error line, else its first line."""
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    first = next((line for line in lines if line.startswith(("fatal: ", "error: "))), lines[0] if lines else "")
    if "from promisor remote" in first:
        return "history this partial clone has not downloaded (fixme scan --blame fetches it)"
    return first.removeprefix("fatal: ").removeprefix("error: ")
