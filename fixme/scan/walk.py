"""Blame for many files at once: walk the history once, applying git blame's rules.

`git blame` answers for one file at a time, and each call walks the history
on its own. When thousands of files carry tags, reading every commit's diff
once is far cheaper. This module does that, and gives exactly what `git
blame --porcelain` gives for every file it vouches for, because it applies
blame's own rules (git's blame.c, `pass_blame`) commit by commit, parents
before children, to the diffs git itself computes.

For a file F of commit C with parents P1..Pn:
1. If some parent holds F with C's very blob (no diff, or a mode change
   only), every line of F comes from the first such parent, as it is there.
2. Else, among the parents without F, if one has a rename source for F with
   C's blob, every line comes from that source (the first such parent).
3. Else, parent by parent in order, for the parents where F or its rename
   source exists: the lines that the diff from there to C leaves unchanged,
   and that no earlier parent took, come from that parent's line.
4. The lines left are C's own.

The diffs come from one `git diff-tree --stdin` process fed with every
(commit, parent) pair, each answer headed by its pair, so a merge's diff
against each parent is known even when it is empty (a merge whose tree
equals one parent's). The walk refuses to vouch for a file, and leaves it
to per-file `git blame`, wherever git's rename detection over a whole
commit might pair files differently from blame's, which looks for one
file's source at a time: a file added in a commit that also loses files,
and an inexact rename with more than one lost file to choose from. It does
not run at all where git's config could make blame and diff-tree differ
(walk_refusal). A commit's states are freed once its last child is walked.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import IO

from .blame import Origin
from .gitio import Git, GitError, first_line, unquote_path
from .quickcheck import STABLE_CONFIG, git_environment

Progress = Callable[[int, int], None]  # commits walked, commits in all
Hunk = tuple[int, int, int, int]  # old start, old count, new start, new count

DIFF_ARGS = ("diff-tree", "--stdin", "-r", "--raw", "--no-abbrev", "-p", "-U0", "-M", "--text", "--always", "--root",
             "--no-ext-diff", "--no-color", "--src-prefix=a/", "--dst-prefix=b/")
AUTHOR_FORMAT = "%H%x02%aN%x02%aE%x02%at%x02%ad"
# Settings under which `git blame` and `git diff-tree` could diff differently
# (algorithm, heuristics, text conversion, big-file handling) or blame would
# skip commits (blame.ignoreRevsFile): with any of them set, no walk.
_UNSAFE_CONFIG = re.compile(r"^(blame\.|diff\.algorithm|diff\.indentheuristic|diff\.[^ ]+\.(textconv|binary)|"
                            r"core\.bigfilethreshold)", re.IGNORECASE)
_HUNK = re.compile(rb"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_PAIR_HEADER = re.compile(rb"([0-9a-f]{40})(?: ([0-9a-f]{40}))?\n?")
_RAW = re.compile(rb":[0-7]+ [0-7]+ ([0-9a-f]{40}) ([0-9a-f]{40}) [A-Z][0-9]*\t([^\t\n]*)(?:\t([^\t\n]*))?\n?")


class _Unknown:
    """Origins the walk cannot vouch for."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()
_UNTAKEN = object()  # a line no parent has taken yet


def walk_refusal(git: Git) -> str | None:
    """Why the walk must not run in this repository; None when it may."""
    out = git.run("config", "--get-regexp", r"^(blame|diff|core)\.", check=False).decode("utf-8", "replace")
    for line in out.splitlines():
        if _UNSAFE_CONFIG.match(line):
            return f"git config {line.split()[0]} is set"
    promisor = git.run("config", "--get-regexp", r"^(remote\..*\.promisor|extensions\.partialclone)$",
                       check=False)
    if promisor.strip():
        return "a partial clone: the walk would fetch every old blob"
    return None


def walk_blame(git: Git, head: str, wanted: dict[str, Collection[int]], tracked: Callable[[str], bool],
               progress: Progress | None = None, base: str | None = None,
               seed: dict[str, list] | None = None) -> dict[str, dict[int, Origin]]:
    """The origins of the wanted lines at `head`, for every file the walk vouches for.

    `tracked(path)` says which files to follow; others are unknown to the
    walk. With `base`, only the commits of base..head are walked, from
    `seed` (path -> per-line Origin, or None where unknown) as the state at
    `base`. Files left out of the answer are for per-file blame.
    """
    commits = commit_graph(git, head, base)
    walk = _Walk(commits, tracked)
    if base is not None:
        walk.states[base] = dict(seed or {})
    for done, (sha, parents, pairs) in enumerate(_pair_diffs(git, commits), 1):
        walk.apply(sha, parents, pairs)
        if progress is not None and (done % 64 == 0 or done == len(commits)):
            progress(done, len(commits))
    return _answer(git, walk.states.get(head, {}), walk.shas, wanted)


def commit_graph(git: Git, head: str, base: str | None = None) -> list[tuple[str, list[str]]]:
    """(commit, parents) of head's history (of base..head), every parent before its children."""
    spec = head if base is None else f"{base}..{head}"
    out = git.run("rev-list", "--topo-order", "--reverse", "--parents", spec).decode()
    return [(shas[0], shas[1:]) for shas in (line.split() for line in out.splitlines()) if shas]


# -- reading the diffs -----------------------------------------------------------


@dataclass
class _Section:
    """One file's part of a commit's diff against one parent."""

    src: str | None = None  # the path in the parent
    dst: str | None = None  # the path in the commit
    new: bool = False
    deleted: bool = False
    renamed: bool = False
    similarity: int = 0
    old_blob: str | None = None
    new_blob: str | None = None
    hunks: list[Hunk] = field(default_factory=list)
    in_hunks: bool = False

    @property
    def same_blob(self) -> bool:
        """Only the mode or the name changed: the content is the parent's."""
        return self.old_blob is not None and self.old_blob == self.new_blob


@dataclass
class _PairDiff:
    """A commit's diff against one of its parents (against nothing, for a root)."""

    changed: dict[str, _Section] = field(default_factory=dict)  # by the path in the commit
    lost: dict[str, _Section] = field(default_factory=dict)  # deleted, by the path in the parent
    odd: set[str] = field(default_factory=set)  # paths with two sections (a type change)
    blobs: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (old, new), from --raw

    def add(self, section: _Section) -> None:
        if section.src is None and section.dst is None:
            raise GitError("diff-tree: a file section without a path")
        key = section.src if section.deleted else section.dst
        if key in self.blobs:
            section.old_blob, section.new_blob = self.blobs[key]
        if section.deleted:
            self.lost[section.src or section.dst] = section
            return
        path = section.dst or section.src
        section.dst = path
        if path in self.changed or path in self.lost:
            self.odd.add(path)
        self.changed[path] = section

    def sources(self) -> list[_Section]:
        """The files the parent has and the commit lost: what a rename could come from."""
        return list(self.lost.values()) + [s for s in self.changed.values() if s.renamed]


def _pair_diffs(git: Git, commits: list[tuple[str, list[str]]]) -> Iterator[tuple[str, list[str], list[_PairDiff]]]:
    """Each commit, its parents, and its diff against each of them, from one diff-tree process."""
    proc = subprocess.Popen(["git", "-C", str(git.root), *STABLE_CONFIG, *DIFF_ARGS], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=git_environment())
    errors: list[bytes] = []
    feeder = threading.Thread(target=_feed, args=(proc.stdin, commits), daemon=True)
    drain = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)
    feeder.start()
    drain.start()
    finished = False
    try:
        reader = _DiffReader(proc.stdout)
        for sha, parents in commits:
            yield sha, parents, [reader.next_pair(sha, parent) for parent in (parents or [None])]
        finished = True
    except GitError as exc:
        proc.wait()  # output that stops short: git's own reason, if it failed
        drain.join()
        raise GitError(first_line(errors[0]) if errors and errors[0] else str(exc)) from None
    finally:
        if not finished:
            proc.kill()
        proc.stdout.close()
        proc.wait()
        feeder.join()
        drain.join()
    if proc.returncode != 0:
        raise GitError(first_line(errors[0] if errors else b"") or f"git diff-tree failed ({proc.returncode})")


def _feed(stdin: IO[bytes], commits: list[tuple[str, list[str]]]) -> None:
    """Ask for every pair: `commit parent` diffs parent -> commit; a lone root diffs from nothing."""
    try:
        for sha, parents in commits:
            stdin.write("".join(f"{sha} {p}\n" for p in parents).encode() if parents else f"{sha}\n".encode())
        stdin.close()
    except (BrokenPipeError, ValueError, OSError):
        pass  # the reader stopped early


class _DiffReader:
    """Reads diff-tree's answers one (commit, parent) pair at a time."""

    def __init__(self, stream: IO[bytes]):
        self.stream = stream
        self.pending: bytes | None = None

    def next_pair(self, sha: str, parent: str | None) -> _PairDiff:
        header = self._line()
        m = _PAIR_HEADER.fullmatch(header)
        # git names the parent only when it is not the commit's first (or a root has none).
        if m is None or m.group(1).decode() != sha or (m.group(2) is not None and m.group(2).decode() != parent):
            raise GitError(f"diff-tree: unexpected output at {sha[:12]}")
        pair = _PairDiff()
        section: _Section | None = None
        while True:
            line = self._line()
            if not line or _PAIR_HEADER.fullmatch(line):
                self.pending = line or None
                break
            section = self._take(line, section, pair)
        if section is not None:
            pair.add(section)
        return pair

    def _line(self) -> bytes:
        if self.pending is not None:
            line, self.pending = self.pending, None
            return line
        while True:
            line = self.stream.readline()
            if line != b"\n":  # the blank line after each pair's header
                return line

    @staticmethod
    def _take(line: bytes, section: _Section | None, pair: _PairDiff) -> _Section | None:
        if line.startswith(b":") and section is None:
            _read_raw_line(pair, line)
            return None
        if line.startswith(b"diff --git "):
            if section is not None:
                pair.add(section)
            section = _Section()
            section.src = section.dst = _header_path(line[len(b"diff --git "):].rstrip(b"\n"))
            return section
        if section is None:
            raise GitError("diff-tree: output outside a file section")
        if line.startswith(b"@@"):
            m = _HUNK.match(line)
            if m is None:
                raise GitError("diff-tree: a hunk header it cannot read")
            a, b, c, d = m.groups()
            section.hunks.append((int(a), 1 if b is None else int(b), int(c), 1 if d is None else int(d)))
            section.in_hunks = True
        elif not section.in_hunks:
            _read_header_line(section, line.rstrip(b"\n"))
        return section  # a changed line's text, or "\ No newline at end of file"


def _read_raw_line(pair: _PairDiff, line: bytes) -> None:
    """`:mode mode old new STATUS\tpath[\tnew path]`: the blobs of one change, by its path in the commit."""
    m = _RAW.fullmatch(line)
    if m is None:
        raise GitError("diff-tree: a raw line it cannot read")
    old, new, path, renamed_to = m.groups()
    pair.blobs[unquote_path(renamed_to or path)] = (old.decode(), new.decode())


def _read_header_line(section: _Section, line: bytes) -> None:
    if line.startswith(b"--- "):
        if line != b"--- /dev/null":
            section.src = _diff_path(line[4:], b"a/")
    elif line.startswith(b"+++ "):
        if line == b"+++ /dev/null":
            section.deleted = True
        else:
            section.dst = _diff_path(line[4:], b"b/")
    elif line.startswith(b"rename from "):
        section.src, section.renamed = unquote_path(line[len(b"rename from "):]), True
    elif line.startswith(b"rename to "):
        section.dst = unquote_path(line[len(b"rename to "):])
    elif line.startswith(b"similarity index "):
        section.similarity = int(line[len(b"similarity index "):].rstrip(b"%") or b"0")
    elif line.startswith(b"new file mode"):
        section.new = True
    elif line.startswith(b"deleted file mode"):
        section.deleted = True


def _header_path(rest: bytes) -> str | None:
    """The path of `a/X b/X` (one path twice), quoted or not; None when it is not that shape.

    Only needed for sections without ---/+++ lines (mode changes, empty
    files); renames and changed files name their paths on their own lines.
    """
    if rest.startswith(b'"'):
        end = _quoted_end(rest)
        first, second = rest[:end], rest[end + 1:]
        if end > 0 and first[1:3] == b"a/" and second.startswith(b'"b/') and first[3:] == second[3:]:
            return unquote_path(b'"' + first[3:])
        return None
    n = (len(rest) - 5) // 2
    if n > 0 and rest[:2] == b"a/" and rest[2 + n:5 + n] == b" b/" and rest[2:2 + n] == rest[5 + n:]:
        return rest[2:2 + n].decode("utf-8", "surrogateescape")
    return None


def _quoted_end(text: bytes) -> int:
    """The offset just past the closing quote of the quoted string `text` starts with (0: none)."""
    i = 1
    while i < len(text):
        if text[i:i + 1] == b"\\":
            i += 2
            continue
        if text[i:i + 1] == b'"':
            return i + 1
        i += 1
    return 0


def _diff_path(raw: bytes, prefix: bytes) -> str:
    # git ends the ---/+++ line with a tab when the name has a space in it
    text = unquote_path(raw[:-1] if raw.endswith(b"\t") else raw)
    return text[len(prefix):] if text.startswith(prefix.decode()) else text


def rebuild(base: list, hunks: list[Hunk], fill: object) -> list | None:
    """The new file's lines: unchanged lines keep `base`'s entry, new ones get `fill`.

    None when the hunks do not fit `base`.
    """
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


# -- applying blame's rules ---------------------------------------------------------


class _Walk:
    """The line origins of every followed file, commit by commit.

    An origin is (commit index, path in that commit), an Origin from a seed,
    or None where a seed did not know it; a file's origins are a list, or
    UNKNOWN.
    """

    def __init__(self, commits: list[tuple[str, list[str]]], tracked: Callable[[str], bool]):
        self.tracked = tracked
        self.states: dict[str, dict[str, list | _Unknown]] = {}
        self.children: dict[str, int] = {}
        for _, parents in commits:
            for parent in parents:
                self.children[parent] = self.children.get(parent, 0) + 1
        self.shas: list[str] = []

    def apply(self, sha: str, parents: list[str], pairs: list[_PairDiff]) -> None:
        index = len(self.shas)
        self.shas.append(sha)
        first = pairs[0]
        # Every answer is worked out from the parents' states before any of them changes.
        updates = {path: self._file(index, path, parents, pairs) if self.tracked(path) else None
                   for path in first.changed}
        state = self._take_state(parents[0]) if parents else {}
        for path in first.lost:
            state.pop(path, None)
        for section in first.changed.values():
            if section.renamed and section.src not in first.changed:
                state.pop(section.src, None)
        for path, origins in updates.items():
            if origins is None:
                state.pop(path, None)
            else:
                state[path] = origins
        self.states[sha] = state
        for parent in parents:
            self._release(parent)

    def _take_state(self, parent: str) -> dict:
        state = self.states.get(parent)
        if state is None:
            return {}  # a parent outside the walk: nothing it holds is known
        # A parent with other children still to come keeps its own copy.
        return dict(state) if self.children.get(parent, 0) > 1 else state

    def _release(self, parent: str) -> None:
        left = self.children.get(parent, 0) - 1
        self.children[parent] = left
        if left <= 0:
            self.states.pop(parent, None)

    def _parent_file(self, parent: str, path: str) -> list | _Unknown:
        state = self.states.get(parent)
        return UNKNOWN if state is None else state.get(path, UNKNOWN)

    def _file(self, index: int, path: str, parents: list[str], pairs: list[_PairDiff]) -> list | _Unknown:
        """The origins of `path` at this commit, by blame's rules (see the module doc)."""
        if not parents:
            return [(index, path)] * _added_length(pairs[0].changed[path])
        if any(path in pair.odd for pair in pairs):
            return UNKNOWN
        sources: list[tuple[str, _Section] | None] = [None] * len(parents)
        for i, pair in enumerate(pairs):  # 1. the same path, with the same blob
            section = pair.changed.get(path)
            if section is None:
                return self._parent_file(parents[i], path)
            if not section.new and not section.renamed:
                if section.same_blob:
                    return self._parent_file(parents[i], path)
                sources[i] = (path, section)
        for i, pair in enumerate(pairs):  # 2. a rename source, with the same blob
            section = pair.changed[path]
            if sources[i] is not None:
                continue
            if section.renamed:
                if not _blame_would_pick(section, pair):
                    return UNKNOWN
                if section.same_blob:
                    return self._parent_file(parents[i], section.src)
                sources[i] = (section.src, section)
            elif pair.sources():
                return UNKNOWN  # blame might find a source for it that this diff gave another file
        lines: list | None = None
        for i, source in enumerate(sources):  # 3. line by line, parent by parent
            if source is None:
                continue
            base = self._parent_file(parents[i], source[0])
            if base is UNKNOWN:
                return UNKNOWN
            carried = rebuild(base, source[1].hunks, _UNTAKEN)
            if carried is None or (lines is not None and len(carried) != len(lines)):
                return UNKNOWN
            lines = carried if lines is None else [
                mine if mine is not _UNTAKEN else theirs for mine, theirs in zip(lines, carried)]
        if lines is None:
            lines = [_UNTAKEN] * _added_length(pairs[0].changed[path])
        own = (index, path)
        return [own if origin is _UNTAKEN else origin for origin in lines]  # 4. the commit's own


def _added_length(section: _Section) -> int:
    """How many lines a file has that a diff adds from nothing."""
    return sum(h[3] for h in section.hunks)


def _blame_would_pick(section: _Section, pair: _PairDiff) -> bool:
    """Whether blame, looking for this one file's source alone, would pick the same one."""
    sources = pair.sources()
    if len(sources) == 1:
        return True
    if section.similarity == 100:  # exact: the only lost file with that blob
        return [s.old_blob for s in sources].count(section.old_blob) == 1
    return False


# -- the answer -------------------------------------------------------------------------


def _answer(git: Git, state: dict, shas: list[str], wanted: dict[str, Collection[int]]) -> dict[str, dict[int, Origin]]:
    vouched: dict[str, dict[int, object]] = {}
    for path, lines in wanted.items():
        origins = state.get(path, UNKNOWN)
        if origins is UNKNOWN or any(n < 1 or n > len(origins) for n in lines):
            continue
        picked = {n: origins[n - 1] for n in lines}
        if all(origin is not None for origin in picked.values()):
            vouched[path] = picked
    used = sorted({origin[0] for picked in vouched.values() for origin in picked.values()
                   if not isinstance(origin, Origin)})  # (commit index, path) keys; Origins came from the seed
    authors = commit_authors(git, [shas[i] for i in used])
    made: dict[tuple, Origin] = {}
    result: dict[str, dict[int, Origin]] = {}
    for path, picked in vouched.items():
        answer: dict[int, Origin] = {}
        for n, origin in picked.items():
            if isinstance(origin, Origin):
                answer[n] = origin  # carried over from the seed
                continue
            if origin not in made:
                sha = shas[origin[0]]
                made[origin] = Origin(sha, *authors[sha], origin[1])
            answer[n] = made[origin]
        result[path] = answer
    return result


def commit_authors(git: Git, shas: list[str]) -> dict[str, tuple[str, str, int, str]]:
    """sha -> (author, e-mail, time, zone) as blame reports them (.mailmap applied)."""
    if not shas:
        return {}
    proc = subprocess.run(["git", "-C", str(git.root), *STABLE_CONFIG, "log", "--no-walk=unsorted", "--stdin",
                           f"--format={AUTHOR_FORMAT}", "--date=format:%z"],
                          input="".join(f"{sha}\n" for sha in shas).encode(), capture_output=True,
                          env=git_environment())
    if proc.returncode != 0:
        raise GitError(first_line(proc.stderr) or "git log failed")
    authors = {}
    for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
        sha, author, email, time, tz = line.split("\x02")
        authors[sha] = (author, email, int(time), tz)
    return authors
