"""FixmeApp: the dashboard of `fixme tui`, on one Tracker.

Threads: the UI thread never touches the Tracker. Every call to it (scan,
reading entries, records and source lines, search, writes, sync) runs in a
thread worker and hands its result back with call_from_thread. Calls that
use what the Tracker caches run one at a time under `self.lock` (it is not
made for concurrent use); search reads only the index and the scan store,
through their own file locks, so it takes `self.search_lock` instead and
never waits behind a scan. The UI keeps a snapshot of the entries and
arranges it (filters, order) itself: milliseconds, even for 20 000 entries.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, SuspendNotSupported
from textual.binding import Binding
from textual.timer import Timer
from textual.worker import get_current_worker

from ..errors import FixmeError
from ..safetext import printable
from ..tracker.dashboard import (PRESENT, RANK, SHOW_OPEN, Counts, EntryDetail, Filters, Me, NetworkStatus,
                                 Order, arrange, assigned_to, chosen_editor, count_entries, cycle,
                                 editor_command, entry_detail, hits_as_entries, network_status,
                                 state_filter_options, step_state, tag_filter_options, who_am_i)
from ..tracker.query import OPEN, scope_of
from ..scan.entry import GONE, Entry
from ..tracker.tracker import Tracker
from .screens.board import BoardScreen
from .screens.chooser import ChoiceScreen
from .screens.help import HelpScreen
from .screens.main import MainScreen
from .screens.prompt import PromptScreen
from .widgets.detail import DetailPane, source_view
from .widgets.status import StatusBar, network_text
from .widgets.summary import SummaryStrip

if TYPE_CHECKING:
    from rich.syntax import Syntax

    from ..scan.scanner import ScanSummary
    from ..tracker.workflow import Written

SEARCH_LIMIT = 1000  # hits shown for a query, best first
SEARCH_DELAY = 0.03  # seconds of no typing before a search starts (a pasted query is one search)
DETAIL_DELAY = 0.08  # seconds the cursor rests on a row before its source and history are read
NETWORK_REFRESH = 15.0  # seconds between rereads of the node's book for the footer
PROGRESS_EVERY = 0.1  # seconds between scan progress updates
SYNC_TIMEOUT = 60.0


class AbandoningExecutor(ThreadPoolExecutor):
    """The executor of the app's thread workers; closing the app does not wait for them.

    asyncio.run() waits for every thread of the loop's default executor when the
    app ends, so `q` during a sync would hang until its timeout, and during a
    first index build for seconds. What is left running is a scan, a sync, an
    index catch-up or a record write, whose writes are atomic or transactional;
    the process ends right after the app (`fixme tui` exits at once).
    """

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=False, cancel_futures=True)


@dataclass
class Snapshot:
    """What a load read from the Tracker: every entry, records folded in, and what follows from them."""

    entries: list[Entry]
    short: int
    counts: Counts
    # The widest title, location and author (entry_table.measure): the table's columns are sized
    # for every entry, measured once per load off the UI thread, and stay put as filters change.
    measured: tuple[int, int, int, int] | None = None
    by_id: dict[str, Entry] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)  # every tag in use (the strip counts the open ones)

    def __post_init__(self) -> None:
        self.by_id = {entry.id: entry for entry in self.entries}
        self.tags = tag_filter_options(self.entries)[1:]


class FixmeApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "fixme"
    # `?` is shown by each screen, first in its footer (KEYS_BINDING): the app's own bindings
    # come last there, and a narrow terminal cut them off.
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Keys", show=False),
    ]

    def __init__(self, tracker: Tracker, *, scan: bool = True, environ: Mapping[str, str] | None = None):
        super().__init__()
        self.tracker = tracker
        self.scan_on_start = scan
        self.environ = os.environ if environ is None else environ
        self.lock = threading.Lock()  # one Tracker call at a time
        self.search_lock = threading.Lock()  # one search (or index catch-up) at a time
        self.states = tuple(tracker.config.states)
        self.closed_states = tuple(tracker.config.closed_states)  # what "open" leaves out, as in `fixme list`
        self.snapshot = Snapshot([], tracker.config.short_id_length, Counts())
        self.me = Me()
        self.filters = Filters()
        self.order = Order()
        self.order_before_search: Order | None = None
        self.search_text = ""
        self.ranked: list[Entry] | None = None  # search hits, best first; None: no search
        self.rows: list[Entry] = []  # what the table shows
        self.network = NetworkStatus()
        self.scanning = False
        self.syncing = False
        self._search_timer: Timer | None = None
        self._detail_timer: Timer | None = None
        self._last_progress = 0.0
        self.main = MainScreen()

    @property
    def short(self) -> int:
        return self.snapshot.short

    def get_default_screen(self) -> MainScreen:
        return self.main

    def on_load(self) -> None:
        asyncio.get_running_loop().set_default_executor(AbandoningExecutor(thread_name_prefix="fixme-tui"))

    def on_mount(self) -> None:
        self.tracker.set_progress(self._scan_progress)
        self.scanning = self.scan_on_start
        if self.scanning:
            self.say("scanning…")
        self.load(scan=self.scan_on_start, first=True)
        self.read_network()
        self.set_interval(NETWORK_REFRESH, self.read_network)

    # -- loading ---------------------------------------------------------------------
    @work(thread=True, group="load")
    def load(self, scan: bool, first: bool = False) -> None:
        """First: who the user is, and the entries the store holds, shown at once.
        Then, if asked, scan, and show the entries again if the scan changed anything."""
        try:
            if first:
                with self.lock:
                    me = who_am_i(self.tracker.root)
                    snapshot = self._read_snapshot()
                self._from_thread(self._show_first, me, snapshot)
            if scan:
                with self.lock:
                    summary = self.tracker.scan()
                    snapshot = None if summary.unchanged else self._read_snapshot()
                if snapshot is not None:
                    self._from_thread(self.show_snapshot, snapshot)
                self._from_thread(self._scan_done, summary)
        except FixmeError as exc:
            self._from_thread(self._scan_failed, str(exc))
        self._from_thread(self.prepare_search)

    @work(thread=True, group="search-index", exclusive=True)
    def prepare_search(self) -> None:
        """Load whoosh and bring the index up to date now, so the first query typed is answered at
        once (at 20 000 entries a first index takes seconds; a catch-up, milliseconds)."""
        from ..tracker.search import load_whoosh

        try:
            with self.search_lock:
                load_whoosh()
                self.tracker.update_search_index()
        except FixmeError:
            pass  # only a head start: the search itself will say what is wrong

    def _read_snapshot(self) -> Snapshot:
        from .widgets.entry_table import measure

        entries = self.tracker.all_entries()
        return Snapshot(entries, self.tracker.short_id_length(),
                        count_entries(entries, self.states, self.closed_states), measure(entries))

    def _scan_progress(self, phase: str, done: int, total: int) -> None:
        """The scanner's progress (in the worker's thread), a few times a second at most."""
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_EVERY or done == total:
            self._last_progress = now
            self._from_thread(self.say, f"scanning: {phase} {done:,}/{total:,}")

    def _scan_done(self, summary: ScanSummary) -> None:
        self.scanning = False
        if summary.unchanged:
            self.say(f"scanned: nothing changed ({summary.entries:,} entries)")
        else:
            self.say(f"scanned {summary.files:,} files: {summary.entries:,} entries, {summary.new} new, "
                     f"{summary.gone} gone ({summary.seconds:.1f} s)")
        for notice in summary.notices[:3]:
            self.notify(printable(notice), severity="warning", markup=False)

    def _scan_failed(self, message: str) -> None:
        self.scanning = False
        self.say(message, "error")
        self.notify(printable(message), severity="error", markup=False)

    def _show_first(self, me: Me, snapshot: Snapshot) -> None:
        self.me = me
        self.show_snapshot(snapshot)

    def show_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        if self.ranked is not None:  # the same hits, as the new snapshot's entries
            self.ranked = hits_as_entries(self.ranked, snapshot.by_id)
        self.main.query_one("#summary", SummaryStrip).show_counts(snapshot.counts)
        self.refresh_view()

    def rescan(self) -> None:
        if self.scanning:
            self.say("a scan is already running")
            return
        self.scanning = True
        self.say("scanning…")
        self.load(scan=True)

    # -- the view --------------------------------------------------------------------
    def refresh_view(self) -> None:
        """Arrange the snapshot for the table (and the board, when it is open)."""
        self.rows = arrange(self.snapshot.entries, self.filters, self.me, self.order, self.states, self.ranked,
                            closed_states=self.closed_states)
        table = self.main.table
        current = table.current
        table.show_entries(self.rows, self.short, self.order, self.states, self.snapshot.tags,
                           keep=current.id if current else None, measured=self.snapshot.measured)
        self._describe_filters()
        board = self._board()
        if board is not None:
            self.fill_board(board)

    def _describe_filters(self) -> None:
        parts = [self.filters.describe()]
        if self.ranked is not None:
            parts.append(f"search: {len(self.ranked):,}")
        if self.order.column == RANK:
            parts.append("by rank")
        else:
            parts.append(f"by {self.order.column} {'▼' if self.order.reverse else '▲'}")
        total = len(self.snapshot.entries)
        parts.append(f"{len(self.rows):,}/{total:,}")
        self.main.query_one("#filters").update("  ".join(parts))

    def sort_by(self, column: str) -> None:
        self.order = self.order.toggled(column)
        self.refresh_view()

    def cycle_state_filter(self) -> None:
        self.filters.state = cycle(state_filter_options(self.states), self.filters.state)
        self.refresh_view()

    def cycle_tag_filter(self) -> None:
        self.filters.tag = cycle(tag_filter_options(self.snapshot.entries), self.filters.tag)
        self.refresh_view()

    def toggle_mine(self) -> None:
        self.filters.mine = not self.filters.mine
        if self.filters.mine and not (self.me.name or self.me.email):
            self.say("git knows no user name or e-mail here: nothing is mine", "warning")
        self.refresh_view()

    def clear_filters(self) -> None:
        self.filters = Filters()
        self.refresh_view()

    # -- the detail pane ---------------------------------------------------------------
    def entry_highlighted(self, entry: Entry | None) -> None:
        """The cursor moved: once it rests a moment, show the entry and read its source and history.

        Waiting keeps scrolling cheap: a held key redraws only the table.
        """
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._detail_timer = self.set_timer(DETAIL_DELAY, lambda: self._show_entry(entry))

    def _show_entry(self, entry: Entry | None) -> None:
        self.main.query_one("#detail", DetailPane).show_entry(entry, self.short)
        if entry is not None:
            self.read_detail(entry, self.current_theme.dark)

    @work(thread=True, group="detail", exclusive=True)
    def read_detail(self, entry: Entry, dark: bool) -> None:
        try:
            with self.lock:
                detail = entry_detail(self.tracker, entry)
        except FixmeError as exc:
            self._from_thread(self.say, f"{entry.id[:self.short]}: {exc}", "error")
            return
        source = source_view(detail, dark)  # the lexer is found here, not on the UI thread
        if not get_current_worker().is_cancelled:
            self._from_thread(self._show_detail, detail, source)

    def _show_detail(self, detail: EntryDetail, source: Syntax | None) -> None:
        self.main.query_one("#detail", DetailPane).show_detail(detail, source)

    # -- search ------------------------------------------------------------------------
    def search_changed(self, text: str) -> None:
        self.search_text = text.strip()
        if self._search_timer is not None:
            self._search_timer.stop()
        if not self.search_text:
            self._end_search()
            return
        query = self.search_text
        self._search_timer = self.set_timer(SEARCH_DELAY, lambda: self._start_search(query))

    def _start_search(self, query: str) -> None:
        self.say(f"searching for {query!r}…")
        self.run_search(query)

    @work(thread=True, group="search", exclusive=True)
    def run_search(self, query: str) -> None:
        try:
            with self.search_lock:
                hits = self.tracker.search(query, limit=SEARCH_LIMIT)
        # A bad query is a FixmeError; anything else whoosh might raise on odd input is still
        # the query's fault, and a message in the status line, not the end of the dashboard.
        except Exception as exc:
            self._from_thread(self._search_failed, query, str(exc) or type(exc).__name__)
            return
        if not get_current_worker().is_cancelled:
            self._from_thread(self._show_hits, query, [hit.entry for hit in hits])

    def _show_hits(self, query: str, entries: list[Entry]) -> None:
        if query != self.search_text:
            return  # typed on since
        if self.ranked is None and self.order.column != RANK:
            self.order_before_search, self.order = self.order, Order(RANK)
        self.ranked = hits_as_entries(entries, self.snapshot.by_id)
        self.refresh_view()
        self.main.table.move_cursor(0)
        found = f"{len(entries):,} {'hit' if len(entries) == 1 else 'hits'} for {query!r}"
        self.say(found + (" (the best shown)" if len(entries) >= SEARCH_LIMIT else ""))

    def _search_failed(self, query: str, message: str) -> None:
        if query == self.search_text:
            self.say(f"search: {message}", "error")

    def _end_search(self) -> None:
        if self.ranked is None:
            return
        self.ranked = None
        if self.order.column == RANK:
            self.order = self.order_before_search or Order()
        self.order_before_search = None
        self.say("")
        self.refresh_view()

    # -- writing records -----------------------------------------------------------------
    def choose_workflow(self, entry: Entry | None) -> None:
        if not self._writable(entry):
            return
        title = f"Workflow state of {entry.id[:self.short]} {entry.tag}: {entry.title}"
        self.push_screen(ChoiceScreen(title, list(self.states), entry.workflow),
                         lambda state: self._set(entry, "workflow", state))

    def ask_assignee(self, entry: Entry | None) -> None:
        if not self._writable(entry):
            return
        title = f"Assign {entry.id[:self.short]} {entry.tag}: {entry.title} to"
        self.push_screen(PromptScreen(title, assigned_to(entry) or "", "a name or e-mail"),
                         lambda who: self._set(entry, "assigned", who))

    def ask_comment(self, entry: Entry | None) -> None:
        if not self._writable(entry):
            return
        title = f"Comment on {entry.id[:self.short]} {entry.tag}: {entry.title}"
        self.push_screen(PromptScreen(title, "", "one line; enter saves it"), lambda text: self._comment(entry, text))

    def move_card(self, entry: Entry | None, step: int) -> None:
        """Board: the card goes one state left or right."""
        if not self._writable(entry):
            return
        target = step_state(self.states, entry.workflow, step)
        if target is None:
            self.say(f"{entry.workflow} is the {'first' if step < 0 else 'last'} state")
            return
        self._set(entry, "workflow", target)

    def _writable(self, entry: Entry | None) -> bool:
        if entry is None:
            self.say("no entry selected", "warning")
            return False
        return True

    def _set(self, entry: Entry, attr: str, value: str | None) -> None:
        if value and value != (entry.workflow if attr == "workflow" else None):
            self.write(lambda: self.tracker.set_attribute(entry.id, attr, value), f"{attr} = {value}")

    def _comment(self, entry: Entry, text: str | None) -> None:
        if text:
            self.write(lambda: self.tracker.comment(entry.id, text), "commented")

    @work(thread=True, group="write")
    def write(self, call: Callable, what: str) -> None:
        """Write a record, then read the entries again (the fold changed)."""
        try:
            with self.lock:
                written = call()
                snapshot = self._read_snapshot()
        except FixmeError as exc:
            self._from_thread(self._write_failed, str(exc))
            return
        self._from_thread(self._written, written, what, snapshot)

    def _written(self, written: Written, what: str, snapshot: Snapshot) -> None:
        self.show_snapshot(snapshot)
        entry = written.entry
        self.say(f"{entry.id[:self.short]} {what}  (record {written.record_id[7:19]})")
        if not written.trusted:
            self.notify("your key is not in this project's trust list: the record is kept but does not apply "
                        "(fixme trust add)", severity="warning", timeout=8)
        self.entry_highlighted(self.main.table.current)

    def _write_failed(self, message: str) -> None:
        self.say(message, "error")
        self.notify(printable(message), severity="error", markup=False)

    # -- the editor ----------------------------------------------------------------------
    def open_editor(self, entry: Entry | None) -> None:
        if not self._writable(entry):
            return
        if entry.status == GONE:
            self.say("the entry is gone from the work tree", "warning")
            return
        command = editor_command(chosen_editor(self.environ), str(self.tracker.root / entry.path), entry.line)
        try:
            with self.suspend():
                error = run_editor(command, self.tracker.root)
        except SuspendNotSupported:  # no terminal to hand over (headless, web): run it beside the UI
            self.edit_in_background(command)
            return
        self._edited(error)

    @work(thread=True, group="editor")
    def edit_in_background(self, command: list[str]) -> None:
        error = run_editor(command, self.tracker.root)
        self._from_thread(self._edited, error)

    def _edited(self, error: str | None) -> None:
        if error:
            self.say(error, "error")
            self.notify(printable(error), severity="error", markup=False)
            return
        self.rescan()  # the file may hold other entries now

    # -- sync ----------------------------------------------------------------------------
    def sync_now(self) -> None:
        if self.syncing:
            self.say("a sync is already running")
            return
        self.syncing = True
        self.say("syncing…")
        self.sync_round()

    @work(thread=True, group="sync")
    def sync_round(self) -> None:
        from ..tracker.network import NoPeers, sync_round

        try:
            report = sync_round(self.tracker, timeout=SYNC_TIMEOUT)
        except NoPeers:
            self._from_thread(self._sync_done, "no peers to sync with: add [[peers]] to .fixme/config.toml "
                                               "or run 'fixme node run'", "warning")
            return
        except FixmeError as exc:
            self._from_thread(self._sync_done, f"sync: {exc}", "error")
            return
        with self.lock:
            self.tracker.reload()  # records may have come in
            snapshot = self._read_snapshot()
        records_in = sum(s.records_in for s in report.sessions)
        records_out = sum(s.records_out for s in report.sessions)
        message = (f"synced with {report.reached} of {len(report.sessions)} peers: "
                   f"{records_in} records in, {records_out} out")
        errors = [f"{s.address}: {s.error}" for s in report.sessions if s.error]
        self._from_thread(self.show_snapshot, snapshot)
        self._from_thread(self._sync_done, message + (f"; {errors[0]}" if errors else ""),
                          "info" if report.reached else "error")

    def _sync_done(self, message: str, level: str) -> None:
        self.syncing = False
        self.say(message, level)
        self.read_network()

    @work(thread=True, group="network", exclusive=True)
    def read_network(self) -> None:
        status = network_status(self.tracker.root, self.tracker.config)
        self._from_thread(self._show_network, status)

    def _show_network(self, status: NetworkStatus) -> None:
        self.network = status
        text = network_text(status, int(time.time() * 1000))
        for screen in self.screen_stack:
            for bar in screen.query(StatusBar):
                bar.show_network(text)

    # -- the board -----------------------------------------------------------------------
    def show_board(self) -> None:
        self.push_screen(BoardScreen(self.states))

    def _board(self) -> BoardScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, BoardScreen):
                return screen
        return None

    def fill_board(self, board: BoardScreen) -> None:
        """The board shows the table's entries (search and tag and mine filters) in every state,
        done ones too: all that is in the work tree, whatever the table's state filter."""
        filters = Filters(PRESENT, self.filters.tag, self.filters.mine)
        entries = arrange(self.snapshot.entries, filters, self.me, self.order, self.states, self.ranked,
                          closed_states=self.closed_states)
        board.show_entries(entries, filters.describe() + (f"  search: {self.search_text}" if self.ranked else ""))
        board.query_one(StatusBar).show_network(network_text(self.network, int(time.time() * 1000)))

    def show_in_table(self, entry: Entry) -> None:
        self.pop_screen()
        table = self.main.table
        index = table.index_of(entry.id)
        if index is None:  # hidden by the state filter: the open entries, or the card's own state
            self.filters.state = SHOW_OPEN if scope_of(entry, self.closed_states) == OPEN else entry.workflow
            self.refresh_view()
            index = table.index_of(entry.id)
        if index is not None:
            table.move_cursor(index)

    # -- messages --------------------------------------------------------------------------
    def say(self, message: str, level: str = "info") -> None:
        """Put a message in the status line of every screen."""
        for screen in self.screen_stack:
            for bar in screen.query(StatusBar):
                bar.say(message, level)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def _from_thread(self, callback: Callable, *args) -> None:
        """Run `callback` on the UI thread; nothing to do once the app is closing."""
        try:
            self.call_from_thread(callback, *args)
        except RuntimeError:
            pass


def run_editor(command: list[str], cwd: Path) -> str | None:
    """Run the editor to its end; a message when it could not run or failed."""
    try:
        code = subprocess.call(command, cwd=cwd)
    except OSError as exc:
        return f"cannot run the editor {command[0]!r}: {exc.strerror or exc}"
    return None if code == 0 else f"the editor {command[0]!r} exited with status {code}"
