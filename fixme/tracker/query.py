"""Selecting and ordering entries: what `list` filters on, how `show` finds one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..errors import Ambiguous, NotFound
from ..scan.entry import GONE, Entry
from ..scan.globs import GlobSet


@dataclass
class EntryQuery:
    states: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    author: str | None = None  # substring of name or e-mail, any case
    paths: list[str] = field(default_factory=list)  # globs, any location matches
    labels: list[str] = field(default_factory=list)
    include_gone: bool = False
    sort: str = "path"  # path | date | state

    def __post_init__(self) -> None:
        self._globs = GlobSet(self.paths)

    def matches(self, entry: Entry) -> bool:
        if entry.status == GONE and not self.include_gone:
            return False
        if self.states and entry.workflow not in self.states and entry.status not in self.states:
            return False
        if self.tags and entry.tag.upper() not in {t.upper() for t in self.tags}:
            return False
        if self.author:
            needle = self.author.casefold()
            who = f"{entry.author or ''} {entry.author_email or ''}".casefold()
            if needle not in who:
                return False
        if self.labels and not set(self.labels) & set(entry.labels):
            return False
        if self.paths and not any(self._path_matches(loc.path) for loc in entry.locations):
            return False
        return True

    def _path_matches(self, path: str) -> bool:
        """A glob, or a plain directory name meaning everything below it."""
        return self._globs.matches(path) or any(path.startswith(p.rstrip("/") + "/") for p in self.paths)


def _timestamp(entry: Entry) -> float:
    """Seconds since the epoch; ISO text with different offsets does not sort as text."""
    if entry.date is None:
        return float("inf")  # uncommitted: newest of all
    try:
        return datetime.fromisoformat(entry.date).timestamp()
    except ValueError:
        return float("inf")


SORT_KEYS = {
    "path": lambda e: (e.path, e.line),
    "date": lambda e: (_timestamp(e), e.path, e.line),
    "state": lambda e: (e.workflow, e.path, e.line),
}


def select(entries: list[Entry], query: EntryQuery, state_order: tuple[str, ...] = ()) -> list[Entry]:
    chosen = [e for e in entries if query.matches(e)]
    if query.sort == "state" and state_order:
        rank = {s: i for i, s in enumerate(state_order)}
        return sorted(chosen, key=lambda e: (rank.get(e.workflow, len(rank)), e.path, e.line))
    return sorted(chosen, key=SORT_KEYS.get(query.sort, SORT_KEYS["path"]))


def ref_keys(ref: str) -> tuple[str, str | None]:
    """The slug a reference names, and the id prefix it can be (None when it cannot):
    resolve() picks only among entries with that slug or that prefix."""
    ref = ref.strip()
    slug = ref[3:] if ref.lower().startswith("pr:") else ref
    prefix = ref.lower()
    return slug, prefix if len(prefix) >= 4 and _hex(prefix) else None


def resolve(entries: list[Entry], ref: str) -> Entry:
    """Find one entry by full id, unique id prefix, or slug (`pr:slug` for a PR)."""
    ref = ref.strip()
    if not ref:
        raise NotFound("no entry id given")
    want_pr = ref.lower().startswith("pr:")
    slug = ref_keys(ref)[0]
    by_slug = [e for e in entries if e.slug == slug and (e.tag == "PR") == want_pr]
    if not by_slug and not want_pr:
        by_slug = [e for e in entries if e.slug == slug]
    if len(by_slug) == 1:
        return by_slug[0]
    prefix = ref.lower()
    by_id = [e for e in entries if e.id.startswith(prefix)] if len(prefix) >= 4 and _hex(prefix) else []
    if len(by_id) == 1:
        return by_id[0]
    candidates = by_id or by_slug
    if len(candidates) > 1:
        raise Ambiguous(f"{ref!r} is ambiguous: {len(candidates)} entries match", candidates)
    if _hex(prefix) and len(prefix) < 4:
        raise NotFound(f"{ref!r}: give at least 4 characters of an id, or a slug")
    raise NotFound(f"no entry matches {ref!r}")


def _hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdef" for c in text)
