"""The system `git`, driven for the git transport of record logs (gitrelay.py).

Every git operation is a run of the user's own `git` program: fetch and
push go through their credential helpers, ssh config and `insteadOf` rules,
and fixme never speaks a git protocol itself. Objects are read with
`cat-file --batch-check` (type and size, before anything is read) and
one streamed `cat-file --batch` per set of objects, and written with one `fast-import` per commit, which
builds the blobs, the trees and the commit in one process and refuses to
move a ref other than forward.

GitPython is not used: the handful of commands here read as plainly through
subprocess, fast-import and the batch readers are what bulk work needs, and
importing it would cost more than a whole sync of a few records.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping

# The buffer `cat-file --batch` output is read through: objects are read one at a time
# (memory holds one, whatever they add up to), the pipe in large pieces.
STREAM_BUFFER = 1024 * 1024
_HEADER_BYTES = 200   # "<id> <type> <size>\n" is shorter; a longer line is not an answer


class GitFailed(Exception):
    """A git command failed; the message is one line, git's own words when it gave any."""


@dataclass(frozen=True)
class ObjectInfo:
    oid: str
    type: str     # blob, tree, commit, tag
    size: int     # bytes of the object's content


@dataclass(frozen=True)
class TreeEntry:
    mode: bytes
    name: bytes   # as stored: may hold anything but NUL; the reader decides what it accepts
    oid: str


class TreeFormatError(ValueError):
    """Bytes that are not a well-formed tree object."""


class Git:
    """One repository's git, run as a program in its work tree (or git dir)."""

    def __init__(self, root: Path, environ: Mapping[str, str] | None = None):
        self.root = Path(root)
        env = dict(os.environ if environ is None else environ)
        env.setdefault("LC_ALL", "C")   # git's messages are quoted to the user as they are
        for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
            env.pop(name, None)
        self.env = env
        self._oid_bytes: int | None = None

    # -- running -----------------------------------------------------------------
    def run(self, *args: str, input: bytes | None = None, check: bool = True,
            extra_env: Mapping[str, str] | None = None) -> bytes:
        proc = self._run(args, input, extra_env)
        if check and proc.returncode != 0:
            raise GitFailed(first_line(proc.stderr) or f"git {args[0]} failed ({proc.returncode})")
        return proc.stdout

    def _run(self, args: Iterable[str], input: bytes | None,
             extra_env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
        env = {**self.env, **(extra_env or {})}
        # Input and errors go through files, so stdout is the only pipe and is read in large
        # pieces: a poll loop over three pipes costs more than git itself for megabytes of output.
        with tempfile.TemporaryFile() as feed, tempfile.TemporaryFile() as errors:
            if input is not None:
                feed.write(input)
                feed.seek(0)
            try:
                proc = subprocess.run(["git", "-C", str(self.root), *args], stdin=feed if input is not None
                                      else subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, env=env)
            except FileNotFoundError:
                raise GitFailed("git is not installed or not on PATH") from None
            except OSError as exc:
                raise GitFailed(f"cannot run git: {exc.strerror}") from None
            errors.seek(0)
            proc.stderr = errors.read()
        return proc

    def succeeds(self, *args: str) -> bool:
        return self._run(args, None).returncode == 0

    # -- repository facts ------------------------------------------------------------
    def common_dir(self) -> Path:
        """The directory holding refs and objects (shared by linked worktrees)."""
        text = self.run("rev-parse", "--git-common-dir").decode("utf-8", "surrogateescape").strip()
        path = Path(text)
        return path if path.is_absolute() else (self.root / path).resolve()

    def oid_bytes(self) -> int:
        """Bytes of a raw object id in tree objects: 20 (sha1) or 32 (sha256)."""
        if self._oid_bytes is None:
            fmt = self.run("rev-parse", "--show-object-format").decode().strip()
            self._oid_bytes = 32 if fmt == "sha256" else 20
        return self._oid_bytes

    def remotes(self) -> list[str]:
        return self.run("remote").decode("utf-8", "surrogateescape").split()

    def config_all(self, key: str) -> list[str]:
        proc = self._run(["config", "--get-all", key], None)
        if proc.returncode not in (0, 1):   # 1: not set
            raise GitFailed(first_line(proc.stderr) or f"git config {key} failed")
        return proc.stdout.decode("utf-8", "surrogateescape").splitlines()

    def config_add(self, key: str, value: str) -> None:
        self.run("config", "--add", key, value)

    # -- refs ------------------------------------------------------------------------
    def refs(self, prefix: str) -> dict[str, str]:
        """{ref name: object id} of every ref under `prefix` (which ends in '/')."""
        out = self.run("for-each-ref", "--format=%(objectname) %(refname)", prefix)
        found = {}
        for line in out.decode("utf-8", "surrogateescape").splitlines():
            oid, _, name = line.partition(" ")
            found[name] = oid
        return found

    def ref(self, name: str) -> str | None:
        proc = self._run(["rev-parse", "-q", "--verify", f"{name}^{{commit}}"], None)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self.succeeds("merge-base", "--is-ancestor", ancestor, descendant)

    def delete_refs(self, names: Iterable[str]) -> None:
        commands = "".join(f"delete {name}\n" for name in names)
        if commands:
            self.run("update-ref", "--stdin", input=commands.encode("utf-8", "surrogateescape"))

    # -- objects -----------------------------------------------------------------------
    def info(self, oids: Iterable[str]) -> dict[str, ObjectInfo | None]:
        """Type and size of each object (None: not in the repository), read before any content is."""
        oids = list(dict.fromkeys(oids))
        if not oids:
            return {}
        out = self.run("cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)", "--buffer",
                       input="".join(f"{oid}\n" for oid in oids).encode())
        found: dict[str, ObjectInfo | None] = {}
        for asked, line in zip(oids, out.decode().splitlines()):
            parts = line.split()
            if len(parts) == 3 and parts[2].isdigit():
                found[asked] = ObjectInfo(parts[0], parts[1], int(parts[2]))
            else:
                found[asked] = None   # "<oid> missing"
        return found

    def contents(self, infos: Iterable[ObjectInfo]) -> dict[str, bytes]:
        """The content of objects info() described; the caller has checked their sizes."""
        return {item.oid: data for item, data in self.stream(infos)}

    def stream(self, infos: Iterable[ObjectInfo]) -> Iterator[tuple[ObjectInfo, bytes]]:
        """(info, content) of each object info() described, in order, as git reads them.

        One `cat-file --batch --buffer` for them all: the ids go in from a
        file, the output is read through a large buffer as it comes, so the
        caller works on each object (checks it, hands it to other threads)
        while git reads the next, and only one object is held here at a
        time. Every answer must be the object asked for, of the type and
        size info() gave (which the caller checked): anything else stops the
        read with GitFailed.
        """
        infos = list(dict.fromkeys(infos))
        if not infos:
            return
        with tempfile.TemporaryFile() as feed, tempfile.TemporaryFile() as errors:
            feed.write("".join(f"{item.oid}\n" for item in infos).encode())
            feed.seek(0)
            try:
                proc = subprocess.Popen(["git", "-C", str(self.root), "cat-file", "--batch", "--buffer"],
                                        stdin=feed, stdout=subprocess.PIPE, stderr=errors, env=self.env,
                                        bufsize=STREAM_BUFFER)
            except OSError as exc:
                raise GitFailed(f"cannot run git: {exc.strerror}") from None
            out = proc.stdout
            assert out is not None
            finished = False
            try:
                for item in infos:
                    header = out.readline(_HEADER_BYTES)
                    parts = header.split()
                    if (len(parts) != 3 or parts[0] != item.oid.encode() or parts[1] != item.type.encode()
                            or parts[2] != str(item.size).encode()):
                        errors.seek(0)
                        why = first_line(errors.read()) or f"answered {header[:80]!r}"
                        raise GitFailed(f"cat-file, asked for {item.oid}: {why}")
                    data = out.read(item.size + 1)   # the content is followed by a newline
                    if len(data) != item.size + 1:
                        raise GitFailed(f"cat-file stopped in the middle of {item.oid}")
                    yield item, data[:-1]
                finished = True
            finally:
                out.close()
                if not finished:
                    proc.kill()   # the read failed or the caller stopped early: the rest is not wanted
                proc.wait()

    def fast_import(self, stream: bytes) -> None:
        """Run `git fast-import` on `stream` (which ends with `done`). It writes objects
        and moves refs only forward: a ref that would not fast-forward fails the run."""
        self.run("fast-import", "--quiet", "--done", input=stream)

    # -- remotes -------------------------------------------------------------------------
    def fetch(self, remote: str, refspecs: Iterable[str], extra_env: Mapping[str, str] | None = None) -> None:
        self.run("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--prune", remote, *refspecs,
                 extra_env=extra_env)

    def push(self, remote: str, refspecs: Iterable[str], extra_env: Mapping[str, str] | None = None) -> None:
        self.run("push", "--quiet", "--no-verify", remote, *refspecs, extra_env=extra_env)


def parse_tree(data: bytes, oid_bytes: int) -> list[TreeEntry]:
    """The entries of a tree object's content: `<mode> SP <name> NUL <raw id>`, repeated."""
    entries = []
    at = 0
    while at < len(data):
        space = data.find(b" ", at)
        nul = data.find(b"\0", space + 1) if space >= 0 else -1
        if space < 0 or nul < 0 or nul + 1 + oid_bytes > len(data):
            raise TreeFormatError(f"malformed tree entry at byte {at}")
        mode = data[at:space]
        if not mode.isdigit():
            raise TreeFormatError(f"malformed mode {mode[:16]!r} at byte {at}")
        entries.append(TreeEntry(mode, data[space + 1:nul], data[nul + 1:nul + 1 + oid_bytes].hex()))
        at = nul + 1 + oid_bytes
    return entries


def first_line(stderr: bytes) -> str:
    """git's first meaningful line of complaint, without its 'fatal: ' / 'error: ' prefix."""
    for line in stderr.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line and not line.startswith("hint:"):
            for prefix in ("fatal: ", "error: "):
                line = line.removeprefix(prefix)
            return line
    return ""
