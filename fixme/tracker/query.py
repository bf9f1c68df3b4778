"""Selecting and ordering entries: what `list` filters on, how `show` finds one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..errors import Ambiguous, NotFound
from ..scan.entry import GONE, Entry, shown_state
from ..scan.globs import GlobSet
from .me import Me, assigned_to

OPEN = "open"  # present in the work tree and not in a closed workflow state: "not done"
CLOSED = "closed"  # present, in one of workflow.closed
SCOPES = (OPEN, CLOSED, GONE)


def scope_of(entry: Entry, closed_states) -> str:
    """open, closed or gone: which of `list`'s three sets the entry is in."""
    if entry.status == GONE:
        return GONE
    return CLOSED if entry.workflow in closed_states else OPEN


@dataclass
class EntryQuery:
    """What `list` keeps and in which order. Filters of one kind are alternatives; kinds all apply."""

    states: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    author: str | None = None  # substring of name or e-mail, any case
    paths: list[str] = field(default_factory=list)  # globs, any location matches
    labels: list[str] = field(default_factory=list)
    # Which of open, closed and gone to show; explicit --state values widen it to what they name.
    scopes: frozenset[str] = frozenset({OPEN})
    closed_states: tuple[str, ...] = ("done", "dropped")
    mine: Me | None = None  # entries that are the user's (Me.owns)
    assigned: str | None = None  # substring of who it is assigned to, any case, '@' ignored
    commits: set[str] | None = None  # --since: the tag line came from one of these, or is uncommitted
    sort: str = "path"  # path | date | state
    reverse: bool = False
    limit: int | None = None

    def __post_init__(self) -> None:
        self._globs = GlobSet(self.paths)
        self._tags = {t.upper() for t in self.tags}

    def matches(self, entry: Entry) -> bool:
        if self.states:
            if entry.workflow not in self.states and entry.status not in self.states:
                return False
            if entry.status == GONE and GONE not in self.states and GONE not in self.scopes:
                return False
        elif scope_of(entry, self.closed_states) not in self.scopes:
            return False
        if self._tags and entry.tag.upper() not in self._tags:
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
        if self.mine is not None and not self.mine.owns(entry):
            return False
        if self.assigned is not None and not _assigned_matches(entry, self.assigned):
            return False
        if self.commits is not None and not _added_by(entry, self.commits):
            return False
        return True

    def _path_matches(self, path: str) -> bool:
        """A glob, or a plain directory name meaning everything below it."""
        return self._globs.matches(path) or any(path.startswith(p.rstrip("/") + "/") for p in self.paths)


def _assigned_matches(entry: Entry, who: str) -> bool:
    assigned = (assigned_to(entry) or "").casefold()
    needle = who.strip().lstrip("@").casefold()
    return bool(assigned) and needle in assigned


def _added_by(entry: Entry, commits: set[str]) -> bool:
    """Whether a tag line of the entry was written by one of `commits`, or is not committed yet."""
    if entry.status == GONE:
        return False
    return any(loc.commit in commits or (loc.commit is None and loc.unblamed is None) for loc in entry.locations)


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
    """The entries `query` keeps, in its order, at most `limit` of them."""
    chosen = [e for e in entries if query.matches(e)]
    if query.sort == "state" and state_order:
        rank = {s: i for i, s in enumerate(state_order)}
        chosen.sort(key=lambda e: (rank.get(e.workflow, len(rank)), e.path, e.line), reverse=query.reverse)
    else:
        chosen.sort(key=SORT_KEYS.get(query.sort, SORT_KEYS["path"]), reverse=query.reverse)
    return chosen if query.limit is None else chosen[:query.limit]


@dataclass
class Tally:
    """How many entries, by state, tag and author (`list --count`, the dashboard's strip)."""

    total: int = 0
    states: list[tuple[str, int]] = field(default_factory=list)  # the configured order, then others
    tags: list[tuple[str, int]] = field(default_factory=list)  # most first
    authors: list[tuple[str, int]] = field(default_factory=list)  # most first


def tally(entries: list[Entry], state_order: tuple[str, ...] | list[str], every_state: bool = False) -> Tally:
    """Count `entries` by shown state, tag and author; `every_state`: configured states at 0 too."""
    from collections import Counter

    states: Counter[str] = Counter(shown_state(e) for e in entries)
    tags: Counter[str] = Counter(e.tag for e in entries)
    authors: Counter[str] = Counter(e.author or "(uncommitted)" for e in entries)
    ordered = [(s, states.get(s, 0)) for s in state_order if every_state or states.get(s)]
    ordered += sorted((s, n) for s, n in states.items() if s not in state_order)
    return Tally(len(entries), ordered, sorted(tags.items(), key=lambda item: (-item[1], item[0])),
                 sorted(authors.items(), key=lambda item: (-item[1], item[0].casefold())))


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
