"""Commit trailers that move entries: `Fixme: <id-or-slug> <state>`.

A commit whose message ends with a trailer block (its last paragraph, as
`git interpret-trailers` reads it) holding lines like

    Fixme: atomic-ref-update done

gets one signed record per line after the commit, setting that entry's
workflow to the state and carrying the commit id. The key is matched
without regard to case (`FIXME:`, `fixme:`). A line naming no entry, an
ambiguous one or an unknown state is reported, never fatal.

Which commits a hook run reads:
- post-commit: the commit just made; but not one made by `commit --amend`
  or a rebase (the HEAD reflog says which): those are rewrites, and
  post-rewrite, which knows what each new commit replaces, reads them.
- post-rewrite: every rewritten commit. A line already applied for the
  commit it replaces is carried over, not applied again.
- post-merge: the commits the merge brought in (ORIG_HEAD..HEAD), at most
  MAX_COMMITS, newest first.
- post-checkout: none.

A line is applied once per commit. Applied means: a record carrying that
commit sets that entry to that state (written here or by a peer whose key
is trusted), or the local memory (`.fixme/hook-trailers.json`) has the
line for that commit; the memory also follows a chain of rewrites (amend
after amend), where no record names the newest commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import FixmeError
from ..scan.gitio import Git, GitError

if TYPE_CHECKING:
    from .tracker import Tracker

TRAILER_KEY = "Fixme"
MAX_COMMITS = 200  # a merge of a long-lived branch reads its newest commits only
MEMORY_FILE = "hook-trailers.json"
MEMORY_COMMITS = 2000  # the memory forgets the oldest commits beyond this
MAX_MESSAGE = 200
TRAILER_EVENTS = ("post-commit", "post-rewrite", "post-merge")

# Field and record separators in `git log` output: bytes no commit subject or trailer holds.
_FIELD, _ITEM = "\x1f", "\x1e"


@dataclass(frozen=True)
class TrailerLine:
    """One `Fixme:` trailer of a commit (the value, unfolded)."""

    commit: str
    subject: str
    text: str


@dataclass(frozen=True)
class TrailerOutcome:
    """What happened to one trailer line: applied, skipped (already done) or a problem."""

    commit: str
    text: str
    outcome: str
    detail: str
    record_id: str | None = None

    def describe(self) -> str:
        return f"{self.commit[:12]} {TRAILER_KEY}: {self.text}: {self.detail}"


@dataclass(frozen=True)
class Rewrite:
    """One line of post-rewrite's stdin: `old` was replaced by `new`."""

    old: str
    new: str


# -- reading ---------------------------------------------------------------------


def parse_value(text: str) -> tuple[str, str]:
    """The (entry reference, state) of a trailer value; ValueError when it is not two words."""
    words = text.split()
    if len(words) != 2:
        raise ValueError("expected 'Fixme: ID-OR-SLUG STATE'")
    return words[0], words[1]


def parse_rewrites(text: str) -> list[Rewrite]:
    """post-rewrite's stdin: `old new [extra]` per line; anything else is skipped."""
    rewrites = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and all(_is_sha(w) for w in words[:2]):
            rewrites.append(Rewrite(words[0], words[1]))
    return rewrites


def read_trailers(git: Git, commits: list[str]) -> list[TrailerLine]:
    """Every `Fixme:` trailer of `commits`, in their order, in one `git log` call."""
    if not commits:
        return []
    fmt = f"%H{_FIELD}%s{_FIELD}%(trailers:key={TRAILER_KEY},valueonly,unfold,separator=%x1e)"
    out = git.run("log", "-z", "--no-walk=unsorted", f"--format={fmt}", *commits, "--")
    lines = []
    for record in out.decode("utf-8", "replace").split("\0"):
        if _FIELD not in record:
            continue
        sha, rest = record.split(_FIELD, 1)
        subject, _, values = rest.rpartition(_FIELD)
        for value in values.split(_ITEM):
            if value.strip():
                lines.append(TrailerLine(sha.strip(), subject, value.strip()))
    return lines


def commits_for_event(git: Git, event: str, head: str | None, event_args: list[str],
                      rewrites: list[Rewrite]) -> list[str]:
    """The commits whose trailers a hook run for `event` reads (see the module doc)."""
    if event == "post-commit":
        return [head] if head and not _made_by_rewrite(git, head) else []
    if event == "post-rewrite":
        return list(dict.fromkeys(r.new for r in rewrites))
    if event == "post-merge":
        if event_args[:1] == ["1"]:
            return []  # a squash merge makes no commit; the commit that follows is a post-commit
        return _merged_commits(git, head or "HEAD")
    return []


def _made_by_rewrite(git: Git, commit: str) -> bool:
    """The HEAD reflog's entry for `commit` says `commit (amend)` or a rebase step."""
    try:
        out = git.run("reflog", "show", "-n", "50", "--format=%H%x1f%gs", "HEAD", "--")
    except GitError:
        return False  # no reflog: treat it as a plain commit
    for line in out.decode("utf-8", "replace").splitlines():
        sha, _, subject = line.partition(_FIELD)
        if sha == commit:
            action = subject.split(":", 1)[0]
            return action.startswith("commit (amend)") or "rebase" in action
    return False


def _merged_commits(git: Git, head: str) -> list[str]:
    try:
        out = git.run("rev-list", f"--max-count={MAX_COMMITS}", head, "--not", "ORIG_HEAD", "--")
    except GitError:
        return [head]  # no ORIG_HEAD: read the merge's own commit at least
    return out.decode().split()


# -- applying ---------------------------------------------------------------------


class TrailerMemory:
    """`.fixme/hook-trailers.json`: commit -> the "entry-id state" lines handled for it."""

    def __init__(self, path: Path):
        self.path = path
        self.commits: dict[str, list[str]] = {}
        self.changed = False
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            commits = data.get("commits", {}) if isinstance(data, dict) else {}
            self.commits = {sha: list(lines) for sha, lines in commits.items()
                            if isinstance(lines, list) and all(isinstance(x, str) for x in lines)}
        except (OSError, ValueError, AttributeError):
            pass  # a lost or damaged memory: the records still say what was applied

    def has(self, commit: str, key: str) -> bool:
        return key in self.commits.get(commit, ())

    def add(self, commit: str, key: str) -> None:
        lines = self.commits.pop(commit, [])  # re-inserted: the newest commits stay
        if key not in lines:
            lines.append(key)
        self.commits[commit] = lines
        self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        from ..fsutil import atomic_write_json

        while len(self.commits) > MEMORY_COMMITS:
            del self.commits[next(iter(self.commits))]
        atomic_write_json(self.path, {"version": 1, "commits": self.commits})


def apply_trailers(tracker: Tracker, lines: list[TrailerLine],
                   replaced: dict[str, list[str]] | None = None) -> list[TrailerOutcome]:
    """Write a workflow record for each trailer line not applied yet.

    `replaced` maps a rewritten commit to the commits it replaces.
    """
    from ..scan.store import state_dir

    memory = TrailerMemory(state_dir(tracker.root) / MEMORY_FILE)
    done = _applied_by_records(tracker)
    outcomes = []
    try:
        for line in lines:
            outcomes.append(_apply_line(tracker, line, (replaced or {}).get(line.commit, []), done, memory))
    finally:
        memory.save()
    return outcomes


def _applied_by_records(tracker: Tracker) -> set[tuple[str, str]]:
    """(commit, "entry-id state") of every workflow record that carries a commit and counts."""
    own = tracker.identity(create=False) if tracker.home is not None else None
    own_key = own.key_text if own is not None else None
    return {(c.commit, f"{c.entry} {c.value}") for c in tracker.changes()
            if c.op == "set" and c.attr == "workflow" and c.commit and (c.trusted or c.author == own_key)}


def _apply_line(tracker: Tracker, line: TrailerLine, older: list[str], done: set[tuple[str, str]],
                memory: TrailerMemory) -> TrailerOutcome:
    def outcome(kind: str, detail: str, record_id: str | None = None) -> TrailerOutcome:
        return TrailerOutcome(line.commit, line.text, kind, detail, record_id)

    try:
        ref, state = parse_value(line.text)
    except ValueError as exc:
        return outcome("problem", str(exc))
    if state not in tracker.config.states:
        return outcome("problem", f"unknown state {state!r}; valid: {', '.join(tracker.config.states)}")
    try:
        entry = tracker.get(ref)
    except FixmeError as exc:
        return outcome("problem", str(exc))
    key = f"{entry.id} {state}"
    if (line.commit, key) in done or memory.has(line.commit, key):
        return outcome("skipped", "already applied for this commit")
    for old in older:
        if (old, key) in done or memory.has(old, key):
            memory.add(line.commit, key)  # so a rewrite of this commit is carried over too
            return outcome("skipped", f"already applied for {old[:12]}, which this commit rewrites")
    try:
        written = tracker.set_attribute(entry.id, "workflow", state, line.subject[:MAX_MESSAGE] or None,
                                        commit=line.commit)
    except FixmeError as exc:
        return outcome("problem", str(exc))
    done.add((line.commit, key))
    memory.add(line.commit, key)
    untrusted = "" if written.trusted else " (your key is not trusted here: it does not apply)"
    return outcome("applied", f"{entry.tag}: {entry.title} → {state}{untrusted}", written.record_id)


# -- a hook run ----------------------------------------------------------------------


def hook_trailers(tracker: Tracker, event: str, head: str | None, event_args: list[str],
                  rewrites_text: str = "") -> list[TrailerOutcome]:
    """Read and apply the trailers of the commits a hook event is about."""
    if event not in TRAILER_EVENTS:
        return []
    git = Git(tracker.root)
    rewrites = parse_rewrites(rewrites_text)
    try:
        commits = commits_for_event(git, event, _commit_id(git, head), event_args, rewrites)
        lines = read_trailers(git, commits)
    except GitError as exc:
        raise FixmeError(f"git: {exc}") from None
    replaced: dict[str, list[str]] = {}
    for rewrite in rewrites:
        replaced.setdefault(rewrite.new, []).append(rewrite.old)
    return apply_trailers(tracker, lines, replaced)


def _commit_id(git: Git, rev: str | None) -> str | None:
    """The commit `rev` names (HEAD when not given: a run by hand); None before the first commit."""
    if not rev:
        return git.head()
    if rev.startswith("-"):
        raise FixmeError(f"--head {rev!r}: not a revision")
    sha = git.run("rev-parse", "-q", "--verify", f"{rev}^{{commit}}", check=False).decode().strip()
    if not sha:
        raise FixmeError(f"--head {rev}: unknown revision")
    return sha


def _is_sha(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)
