"""Who wrote each tag line: git blame, per file or for many files at once.

Two ways to the same answer:

* `blame_file` runs one `git blame --porcelain` per file with one `-L n,n`
  per wanted line. Good for a handful of files; each call walks the history
  on its own, so blaming thousands of files this way reads the history
  thousands of times.
* `replay_blame` reads the whole history once (`git log -p -U0`, oldest
  first) and tracks, for every line of every file, the commit that last
  changed it, exactly as blame assigns lines: a line changed by a commit
  belongs to that commit, an unchanged line keeps its origin, whole-file
  renames are followed, and at a merge a line goes to the first parent that
  has it unchanged. Good for a cold scan of a large repository.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Collection, Iterator

from .early import LOG_ARGS
from .gitio import NULL_SHA, Git, GitError, line_ranges
from .spawn import Child


class Origin(namedtuple("Origin", "commit author email time tz path")):
    """Where a line came from: the commit that introduced it, or none yet.

    commit, author, email: None when not committed yet; time: author time,
    seconds since the epoch; tz: author time zone, like +0100; path: the
    file's path in that commit (follows renames).
    """

    __slots__ = ()


def uncommitted(path: str) -> Origin:
    return Origin(None, None, None, None, None, path)


# ---------------------------------------------------------------------------
# one file at a time


def blame_file(git: Git, path: str, lines: Collection[int], rev: str | None) -> dict[int, Origin]:
    """Blame `lines` of `path` at commit `rev`, or in the work tree when rev is None."""
    if not lines:
        return {}
    args = ["blame", "--porcelain"]
    for start, end in line_ranges(lines):
        args += ["-L", f"{start},{end}"]
    if rev is not None:
        args.append(rev)
    args += ["--", path]
    return parse_porcelain(git.run(*args), path)


def parse_porcelain(out: bytes, path: str) -> dict[int, Origin]:
    """Parse `git blame --porcelain` output into final line -> Origin."""
    details: dict[str, dict[str, str]] = {}
    filenames: dict[str, str] = {}
    result: dict[int, Origin] = {}
    sha = ""
    final = 0
    for raw in out.split(b"\n"):
        if raw.startswith(b"\t"):
            result[final] = _origin(sha, details.get(sha, {}), filenames.get(sha, path))
            continue
        if raw.startswith(b"filename "):
            filenames[sha] = _unquote(raw[len(b"filename "):])
            continue
        key, _, value = raw.decode("utf-8", "surrogateescape").partition(" ")
        if len(key) == 40 and _is_hex(key):
            sha = key
            final = int(value.split(" ")[1])
        elif key:
            details.setdefault(sha, {})[key] = value
    return result


def _origin(sha: str, info: dict[str, str], path: str) -> Origin:
    if sha == NULL_SHA:
        return uncommitted(path)
    email = info.get("author-mail", "").strip("<>")
    time = info.get("author-time")
    return Origin(sha, info.get("author"), email, int(time) if time else None, info.get("author-tz"), path)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


# ---------------------------------------------------------------------------
# the whole history at once

_HUNK = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")

Hunk = tuple[int, int, int, int]  # old start, old count, new start, new count
LineOrigins = list  # one origin key per line; None while unknown (merges)


class _Section:
    """One file's part of a commit's diff against one parent."""

    __slots__ = ("src", "dst", "new", "deleted", "binary", "hunks")

    def __init__(self) -> None:
        self.src: str | None = None
        self.dst: str | None = None
        self.new = False
        self.deleted = False
        self.binary = False
        self.hunks: list[Hunk] | None = None

    def add_hunk(self, hunk: Hunk) -> None:
        if self.hunks is None:
            self.hunks = []
        self.hunks.append(hunk)


class _Commit:
    __slots__ = ("sha", "parents", "author", "email", "time", "tz", "sections")

    def __init__(self, sha: str, parents: list[str], author: str, email: str, time: int, tz: str,
                 sections: list[list[_Section]]):
        self.sha = sha
        self.parents = parents
        self.author = author
        self.email = email
        self.time = time
        self.tz = tz
        self.sections = sections  # one list per parent (one list for a root)


def replay_blame(git: Git, head: str, wanted: dict[str, Collection[int]]) -> dict[str, dict[int, Origin]]:
    """Blame the wanted lines of files at `head` by replaying its whole history once.

    Files the replay cannot vouch for (a line whose origin stays unknown,
    binary in the past, a diff that does not apply) are left out of the
    answer; callers blame those one by one.
    """
    replay = _Replay(_children_counts(commit_graph(git, head)))
    log = start_log(git, head)
    try:
        for commit in _read_commits(log.stdout):
            replay.apply(commit)
    finally:
        stderr = log.finish()
    _check_log(log, stderr)
    return replay.answer(head, wanted)


class NotLinear(Exception):
    """base..head is not a chain of single-parent commits starting at base."""


def replay_chain(log: Child, head: str, base: str, wanted: dict[str, Collection[int]],
                 seed: dict[str, list]) -> dict[str, dict[int, Origin]]:
    """Like replay_blame, for only the commits after `base`, read from `start_log(git, head, base)`.

    The replay starts from `seed` (path -> per-line Origin, or None where
    the origin is not known at base), so it needs base..head to be a simple
    chain; NotLinear otherwise (a merge, or a base that is not an ancestor).
    Checking that on the commits as they stream in saves asking git for the
    commit graph first (`git rev-list`, a process of its own).
    """
    replay = _Replay({})  # in a chain every commit has one child: no state is shared
    replay.states[base] = dict(seed)
    tip = base
    try:
        for commit in _read_commits(log.stdout):
            if commit.parents != [tip]:
                raise NotLinear(commit.sha)
            replay.apply(commit)
            tip = commit.sha
    finally:
        stderr = log.finish()
    _check_log(log, stderr)
    if tip != head:
        raise NotLinear(head)
    return replay.answer(head, wanted)


def start_log(git: Git, head: str, base: str | None = None) -> Child:
    """Start `git log -p` over the commits of head (after base), oldest first, in replay format."""
    return git.popen(*LOG_ARGS, head if base is None else f"{base}..{head}")


def _check_log(log: Child, stderr: bytes) -> None:
    if log.returncode != 0:
        raise GitError(stderr.decode("utf-8", "replace").strip().splitlines()[0] if stderr else "git log failed")


def commit_graph(git: Git, head: str) -> list[list[str]]:
    """[commit, parent, ...] rows for the commits of head, newest first."""
    return [line.split() for line in git.run("rev-list", "--parents", head).decode().splitlines()]


def _children_counts(graph: list[list[str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for shas in graph:
        counts.setdefault(shas[0], 0)
        for parent in shas[1:]:
            counts[parent] = counts.get(parent, 0) + 1
    return counts


def _read_commits(stream) -> Iterator[_Commit]:
    """Turn the `git log -p` byte stream into commits with their sections."""
    commit: _Commit | None = None
    section: _Section | None = None
    for line in stream:
        first = line[:1]
        if first == b"\x01":
            header, _, meta = line[1:].rstrip(b"\n").partition(b"\x02")
            shas = header.decode().split(" ")
            if commit is not None and commit.sha == shas[0]:
                commit.sections.append([])  # the same merge again: diff against the next parent
            else:
                if commit is not None:
                    yield commit
                author, email, time, tz = meta.decode("utf-8", "surrogateescape").split("\x02")
                parents = [s for s in shas[1:] if s]
                commit = _Commit(shas[0], parents, author, email, int(time), tz, [[]])
            section = None
        elif first == b"@" and section is not None:
            m = _HUNK.match(line)
            if m:
                a, b, c, d = m.groups()
                section.add_hunk((int(a), 1 if b is None else int(b), int(c), 1 if d is None else int(d)))
        elif line.startswith(b"diff --git ") and commit is not None:
            section = _Section()
            section.src = section.dst = _header_path(line[len(b"diff --git "):].rstrip(b"\n"))
            commit.sections[-1].append(section)
        elif section is not None and section.hunks is None:
            _read_section_header(section, line.rstrip(b"\n"))
    if commit is not None:
        yield commit


def _read_section_header(section: _Section, line: bytes) -> None:
    if line.startswith(b"--- "):
        if line != b"--- /dev/null":
            section.src = _diff_path(line[4:], b"a/")
    elif line.startswith(b"+++ "):
        if line == b"+++ /dev/null":
            section.deleted = True
        else:
            section.dst = _diff_path(line[4:], b"b/")
    elif line.startswith(b"rename from "):
        section.src = _unquote(line[len(b"rename from "):])
    elif line.startswith(b"rename to "):
        section.dst = _unquote(line[len(b"rename to "):])
    elif line.startswith(b"new file mode"):
        section.new = True
    elif line.startswith(b"deleted file mode"):
        section.deleted = True
    elif line.startswith(b"Binary files "):
        section.binary = True


def _header_path(rest: bytes) -> str | None:
    """The path of `a/X b/X` (same path twice); None when it is not that shape.

    Only needed for sections without ---/+++ lines (mode changes, empty files);
    renames and quoted names are read from their own header lines.
    """
    n = (len(rest) - 5) // 2
    if n > 0 and rest[:2] == b"a/" and rest[2 + n:5 + n] == b" b/" and rest[2:2 + n] == rest[5 + n:]:
        return rest[2:2 + n].decode("utf-8", "surrogateescape")
    return None


def _diff_path(raw: bytes, prefix: bytes) -> str:
    # git ends the ---/+++ line with a tab when the name has a space in it
    text = _unquote(raw[:-1] if raw.endswith(b"\t") else raw)
    return text[len(prefix):] if text.startswith(prefix.decode()) else text


_ESCAPES = {b"n": b"\n", b"t": b"\t", b'"': b'"', b"\\": b"\\", b"a": b"\a", b"b": b"\b",
            b"f": b"\f", b"r": b"\r", b"v": b"\v"}


def _unquote(raw: bytes) -> str:
    """Undo git's C-style quoting of a path (used for control characters)."""
    if not (raw.startswith(b'"') and raw.endswith(b'"')):
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


def rebuild(base: list, hunks: list[Hunk] | None, fill) -> list | None:
    """The new file's line origins: unchanged lines keep theirs, new ones get `fill`.

    Returns None when the hunks do not fit `base` (then the caller stops
    vouching for the file).
    """
    if not hunks:
        return base
    out: list = []
    old = 0
    for a, b, _c, d in hunks:
        start = a - 1 if b else a
        if start < old or start + b > len(base):
            return None
        out.extend(base[old:start])
        out.extend([fill] * d)
        old = start + b
    out.extend(base[old:])
    return out


class _Replay:
    """The state of every file's line origins as the history is replayed."""

    def __init__(self, children: dict[str, int]):
        self.children = children
        self.states: dict[str, dict[str, LineOrigins | None]] = {}
        self.commits: list[_Commit] = []

    def apply(self, commit: _Commit) -> None:
        index = len(self.commits)
        self.commits.append(commit)
        if len(commit.parents) > 1:
            state = self._merge(commit, index)
        else:
            state = self._take_parent(commit.parents[0]) if commit.parents else {}
            for section in commit.sections[0]:
                _apply_section(state, section, lambda path: (index, path))
        for parent in commit.parents:
            self._release(parent)
        self.states[commit.sha] = state

    def _take_parent(self, parent: str) -> dict:
        state = self.states.get(parent, {})
        # A parent with more children still to come must keep its own copy.
        return dict(state) if self.children.get(parent, 0) > 1 else state

    def _release(self, parent: str) -> None:
        left = self.children.get(parent, 0) - 1
        self.children[parent] = left
        if left <= 0:
            self.states.pop(parent, None)

    def _merge(self, commit: _Commit, index: int) -> dict:
        parents = [self.states.get(p, {}) for p in commit.parents]
        state = dict(parents[0])
        per_parent = [{_key(s): s for s in sections} for sections in commit.sections]
        for section in commit.sections[0]:
            if section.deleted or section.binary:
                _apply_section(state, section, lambda path: (index, path))
                continue
            path = section.dst
            if section.src and section.src != path:
                state.pop(section.src, None)
            state[path] = self._merge_file(index, parents, path, per_parent)
        return state

    def _merge_file(self, index: int, parents: list[dict], path: str,
                    per_parent: list[dict[str, _Section]]) -> LineOrigins | None:
        # Blame hands a file that equals one of the parents wholly to that parent.
        for i in range(1, len(parents)):
            if i < len(per_parent) and path not in per_parent[i] and parents[i].get(path) is not None:
                return parents[i][path]
        lines: list | None = None
        for i, parent_state in enumerate(parents):
            section = per_parent[i].get(path) if i < len(per_parent) else None
            if section is None or section.new or section.binary:
                continue
            base = parent_state.get(section.src or path)
            if base is None:
                continue
            carried = rebuild(base, section.hunks, None)
            if carried is None:
                continue
            if lines is None:
                lines = carried
            else:
                lines = [a if a is not None else b for a, b in zip(lines, carried)]
        section = per_parent[0][path]
        if lines is None:
            if not section.new:
                return None
            lines = [None] * sum(h[3] for h in section.hunks or [])
        own = (index, path)
        return [own if origin is None else origin for origin in lines]

    def answer(self, head: str, wanted: dict[str, Collection[int]]) -> dict[str, dict[int, Origin]]:
        state = self.states.get(head, {})
        made: dict[tuple[int, str], Origin] = {}
        result: dict[str, dict[int, Origin]] = {}
        for path, lines in wanted.items():
            origins = state.get(path)
            if origins is None or any(n < 1 or n > len(origins) for n in lines):
                continue
            found = {}
            for n in lines:
                key = origins[n - 1]
                if key is None:
                    break  # a seeded line whose origin was never known
                if isinstance(key, Origin):
                    found[n] = key
                    continue
                if key not in made:
                    c = self.commits[key[0]]
                    made[key] = Origin(c.sha, c.author, c.email, c.time, c.tz, key[1])
                found[n] = made[key]
            else:
                result[path] = found
        return result


def _key(section: _Section) -> str | None:
    return section.dst if not section.deleted else section.src


def _apply_section(state: dict, section: _Section, origin_for) -> None:
    """Apply one file's diff against a single parent to `state`, in place."""
    if section.deleted:
        state.pop(section.src, None)
        return
    path = section.dst or section.src
    if path is None:
        return  # a mode-only change: nothing moves
    base = [] if section.new else state.get(section.src or path)
    if section.src and section.src != path:
        state.pop(section.src, None)
    if section.binary or base is None:
        state[path] = None
        return
    state[path] = rebuild(base, section.hunks, origin_for(path))
