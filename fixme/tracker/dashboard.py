"""What the dashboard (`fixme tui`) decides, without Textual.

Counts for the summary strip, whose entries are "mine", the quick filters,
the sort keys of each column, ages, the editor command line and what the
footer says about the network: plain functions on entries, so they are
tested without a terminal and shared by every view that needs them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..scan.entry import GONE, Entry, age_label, location_label, shown_state
from .me import Me, assigned_to, who_am_i  # noqa: F401 (the dashboard's names for them)
from .query import OPEN, scope_of, tally

COLUMNS = ("id", "state", "tag", "title", "location", "author", "age")
RANK = "rank"  # the order of search hits, best first


@dataclass(frozen=True)
class Scope:
    """A state filter that is a set of entries, not one state: never equal to a state's name."""

    name: str

    def __str__(self) -> str:
        return self.name


# What the state filter may be besides a state or "gone":
SHOW_OPEN = Scope("open")  # the default: present and not in a closed state, what `fixme list` shows
SHOW_ALL = Scope("all")  # every entry, gone ones too (`fixme list --all`)
PRESENT = Scope("present")  # every entry in the work tree, closed ones too: the board's columns



# -- the summary strip ---------------------------------------------------------------


@dataclass
class Counts:
    """What the summary strip shows: how many entries are open (as `fixme list` counts them), closed
    and gone; every entry in the work tree by state (a legend of the workflow); the open ones by tag
    and author; and the uncommitted ones."""

    open: int = 0
    closed: int = 0
    gone: int = 0
    uncommitted: int = 0
    states: list[tuple[str, int]] = field(default_factory=list)  # the configured order, then others
    tags: list[tuple[str, int]] = field(default_factory=list)  # most first
    authors: list[tuple[str, int]] = field(default_factory=list)  # most first


def count_entries(entries: Iterable[Entry], state_order: Sequence[str], closed_states: Sequence[str]) -> Counts:
    """`closed_states`: the config's workflow.closed; the open count is `fixme list --count`'s."""
    entries = list(entries)
    present = [e for e in entries if e.status != GONE]
    open_entries = [e for e in present if scope_of(e, closed_states) == OPEN]
    # Every configured state shows, even at 0, done too: the strip is also a legend of the workflow.
    legend = tally(present, state_order, every_state=True)
    counted = tally(open_entries, state_order)
    return Counts(open=counted.total, closed=len(present) - len(open_entries), gone=len(entries) - len(present),
                  uncommitted=sum(1 for e in present if e.uncommitted),
                  states=legend.states, tags=counted.tags, authors=counted.authors)


# -- quick filters and sorting --------------------------------------------------------


@dataclass
class Filters:
    """The quick filters: a state (or "gone", or a Scope), a tag, and "mine"."""

    state: str | Scope = SHOW_OPEN
    tag: str | None = None
    mine: bool = False

    def matches(self, entry: Entry, me: Me, closed_states: Sequence[str]) -> bool:
        if not self._state_matches(entry, closed_states):
            return False
        if self.tag is not None and entry.tag != self.tag:
            return False
        return not self.mine or me.owns(entry)

    def _state_matches(self, entry: Entry, closed_states: Sequence[str]) -> bool:
        if self.state == SHOW_OPEN:
            return scope_of(entry, closed_states) == OPEN
        if self.state == PRESENT:
            return entry.status != GONE
        if self.state == SHOW_ALL:
            return True
        return shown_state(entry) == self.state

    def describe(self) -> str:
        parts = [f"tag: {self.tag or 'any'}"]
        if self.state != PRESENT:  # the board, whose columns are the states
            parts.insert(0, f"state: {self.state}")
        if self.mine:
            parts.append("mine")
        return "  ".join(parts)


@dataclass
class Order:
    """The table's order: a column of COLUMNS, or RANK for search hits as ranked."""

    column: str = "location"
    reverse: bool = False

    def toggled(self, column: str) -> "Order":
        """Sorting by the same column again turns the order around."""
        if column == self.column:
            return Order(column, not self.reverse)
        return Order(column, False)


def cycle(options: Sequence, current):
    """The option after `current` (after the last: the first); for keys that step through values."""
    options = list(options)
    try:
        return options[(options.index(current) + 1) % len(options)]
    except ValueError:
        return options[0]


def state_filter_options(state_order: Sequence[str]) -> list[str | Scope]:
    """What the state quick filter steps through: the open entries, each state, the gone ones, all."""
    return [SHOW_OPEN, *state_order, GONE, SHOW_ALL]


def tag_filter_options(entries: Iterable[Entry]) -> list[str | None]:
    """What the tag quick filter steps through: any tag, then each tag in use."""
    return [None, *sorted({e.tag for e in entries})]


def timestamp(entry: Entry) -> float:
    """Seconds since the epoch of the tag line's commit; uncommitted lines are the newest."""
    if entry.date is None:
        return float("inf")
    try:
        return datetime.fromisoformat(entry.date).timestamp()
    except ValueError:
        return float("-inf")


def sort_key(column: str, state_order: Sequence[str]) -> Callable[[Entry], tuple]:
    """The key that sorts entries by a column, as a person expects (states in workflow order,
    ages by date, locations by path then line number)."""
    rank = {s: i for i, s in enumerate(state_order)}
    keys: dict[str, Callable[[Entry], tuple]] = {
        "id": lambda e: (e.id,),
        "state": lambda e: (e.status == GONE, rank.get(e.workflow, len(rank)), e.path, e.line),
        "tag": lambda e: (e.tag, e.path, e.line),
        "title": lambda e: (e.title.casefold(), e.path, e.line),
        "location": lambda e: (e.path, e.line),
        "author": lambda e: ((e.author or "").casefold(), e.path, e.line),
        # Youngest first reads naturally for "age": a small age is a recent date.
        "age": lambda e: (-timestamp(e), e.path, e.line),
    }
    return keys.get(column, keys["location"])


def arrange(entries: Sequence[Entry], filters: Filters, me: Me, order: Order, state_order: Sequence[str],
            ranked: Sequence[Entry] | None = None, *, closed_states: Sequence[str]) -> list[Entry]:
    """The rows of the table: `ranked` (search hits, best first) or every entry, filtered,
    then ordered by `order` (RANK keeps the hits' order). `closed_states`: the config's workflow.closed."""
    chosen = [e for e in (entries if ranked is None else ranked) if filters.matches(e, me, closed_states)]
    if order.column == RANK:
        return chosen[::-1] if order.reverse else chosen
    return sorted(chosen, key=sort_key(order.column, state_order), reverse=order.reverse)


def hits_as_entries(hit_entries: Iterable[Entry], known: Mapping[str, Entry]) -> list[Entry]:
    """Search hits as the dashboard's own entries (same objects, records folded in), best first."""
    return [known.get(entry.id, entry) for entry in hit_entries]


def step_state(state_order: Sequence[str], current: str, step: int) -> str | None:
    """The state `step` columns left (<0) or right (>0) of `current` on the board; None past an end."""
    try:
        index = list(state_order).index(current) + step
    except ValueError:
        return None
    return state_order[index] if 0 <= index < len(state_order) else None


# -- cells ---------------------------------------------------------------------------


def row_cells(entry: Entry, short: int, now: datetime | None = None) -> tuple[str, ...]:
    """The table's cells of one entry, in COLUMNS order."""
    return (entry.id[:short], shown_state(entry), entry.tag, entry.title or "(no title)", location_label(entry),
            entry.author or "-", age_label(entry, now, uncommitted="now"))


def ago(ms: int | None, now_ms: int) -> str:
    """A moment in the past as people say it: 12 s ago, 3 min ago, 2 h ago, 4 d ago."""
    if not ms:
        return "never"
    seconds = max(0, (now_ms - ms) // 1000)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


# -- the editor -----------------------------------------------------------------------

# Editors that take FILE:LINE (VS Code and its kin behind -g); every other one gets
# +LINE FILE, which vi, vim, nvim, emacs, nano, micro, kak, joe and mg understand.
GOTO_FLAG_EDITORS = frozenset({"code", "code-insiders", "codium", "vscodium", "cursor", "windsurf"})
COLON_EDITORS = frozenset({"subl", "sublime_text", "zed", "hx", "helix"})
DEFAULT_EDITOR = "vi"


def editor_command(editor: str | None, path: str, line: int) -> list[str]:
    """The command line that opens `path` at `line` in `editor` ($VISUAL / $EDITOR, with its options)."""
    import shlex

    try:
        words = shlex.split(editor or "") or [DEFAULT_EDITOR]
    except ValueError:  # an unbalanced quote: take the variable as one program name
        words = [editor or DEFAULT_EDITOR]
    program = os.path.basename(words[0]).removesuffix(".exe")
    if program in GOTO_FLAG_EDITORS:
        return [*words, "-g", f"{path}:{line}"]
    if program in COLON_EDITORS:
        return [*words, f"{path}:{line}"]
    return [*words, f"+{max(1, line)}", path]


def chosen_editor(environ: Mapping[str, str]) -> str:
    """$VISUAL (a full-screen editor is what a dashboard wants), else $EDITOR, else vi."""
    return environ.get("VISUAL") or environ.get("EDITOR") or DEFAULT_EDITOR


# -- the network, for the footer ------------------------------------------------------


@dataclass
class NetworkStatus:
    """What the footer says about sync: who the peers are, whether a node runs, the last contact."""

    configured: tuple[str, ...] = ()
    discovered: int = 0  # peers a node found on the LAN
    running: dict | None = None  # running.json of a live node: pid, listen, since
    last_contact_ms: int | None = None
    last_error: str | None = None
    network_key: bool = False

    @property
    def can_sync(self) -> bool:
        return bool(self.configured or self.discovered or self.running)


def network_status(root: Path, config) -> NetworkStatus:
    """Read the node's book (peers.json, running.json) under .fixme/node; nothing is dialled."""
    from ..node.book import NodeBook
    from .changes import node_dir

    book = NodeBook(node_dir(root))
    peers = book.peers()
    last_contact, last_error = None, None
    for info in peers.values():
        contact = int(info.get("last_contact") or 0)
        if contact and (last_contact is None or contact > last_contact):
            last_contact, last_error = contact, info.get("last_error")
    discovered = sum(1 for info in peers.values() if info.get("discovered") and info.get("address"))
    return NetworkStatus(tuple(config.peers), discovered, book.running() or None, last_contact, last_error,
                         bool(config.network_key))


# -- the detail pane ---------------------------------------------------------------------


@dataclass
class EntryDetail:
    """What the detail pane shows beyond the entry itself: the source around it and its records."""

    entry: Entry
    source: list  # SourceLine: number, text, is_tag_line
    history: list  # HistoryItem, oldest first

    @property
    def attachments(self) -> list:
        return [item for item in self.history if item.kind == "attach"]


def entry_detail(tracker, entry: Entry, radius: int = 4) -> EntryDetail:
    """Read the lines around the entry and its signed history (file and store reads: run it off the UI)."""
    return EntryDetail(entry, tracker.source_lines(entry, radius), tracker.history(entry.id))
