"""The main view: summary strip, search and filters, the entry table, the detail pane."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from ...tracker.dashboard import COLUMNS
from ...scan.entry import Entry
from ..widgets.detail import DetailPane
from ..widgets.entry_table import EntryTable
from ..widgets.rows import RowList
from ..widgets.status import StatusBar
from ..widgets.summary import SummaryStrip
from .actions import ENTRY_BINDINGS, KEYS_BINDING, EntryActions


class MainScreen(EntryActions, Screen):
    # Below 160 columns the detail pane sits under the table, from 160 beside it: the table
    # keeps the whole width until its title column can spare some.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (160, "-wide")]
    BINDINGS = [
        KEYS_BINDING,
        Binding("slash", "focus_search", "Search"),
        *ENTRY_BINDINGS,
        Binding("b", "board", "Board"),
        Binding("f", "cycle_state", "State filter", show=False),
        Binding("t", "cycle_tag", "Tag filter", show=False),
        Binding("m", "toggle_mine", "Mine", show=False),
        Binding("x", "clear_filters", "Clear filters", show=False),
        Binding("escape", "back", "Back", show=False),
        *(Binding(str(n), f"sort('{column}')", f"Sort by {column}", show=False)
          for n, column in enumerate(COLUMNS, 1)),
    ]

    def compose(self) -> ComposeResult:
        yield SummaryStrip(id="summary")
        with Horizontal(id="filterbar"):
            yield Input(placeholder="/ search", id="search")
            yield Static(id="filters")
        with Container(id="panes"):
            yield EntryTable(id="table")
            yield DetailPane(id="detail")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.table.focus()

    @property
    def table(self) -> EntryTable:
        return self.query_one("#table", EntryTable)

    @property
    def search_box(self) -> Input:
        return self.query_one("#search", Input)

    def selected_entry(self) -> Entry | None:
        return self.table.current

    # -- events ----------------------------------------------------------------------
    def on_row_list_highlighted(self, event: RowList.Highlighted) -> None:
        if event.rows is self.table:
            self.app.entry_highlighted(event.item)

    def on_row_list_chosen(self, event: RowList.Chosen) -> None:
        if event.rows is self.table:
            self.query_one("#detail", DetailPane).focus()

    def on_entry_table_sort_requested(self, event: EntryTable.SortRequested) -> None:
        self.app.sort_by(event.column)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "search":
            self.app.search_changed(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "search":
            self.table.focus()

    # -- actions ---------------------------------------------------------------------
    def action_focus_search(self) -> None:
        self.search_box.focus()

    def action_back(self) -> None:
        """esc: out of the search box or the detail pane; in the table, clear the search."""
        if self.focused is not self.table:
            self.table.focus()
        elif self.search_box.value:
            self.search_box.value = ""

    def action_board(self) -> None:
        self.app.show_board()

    def action_cycle_state(self) -> None:
        self.app.cycle_state_filter()

    def action_cycle_tag(self) -> None:
        self.app.cycle_tag_filter()

    def action_toggle_mine(self) -> None:
        self.app.toggle_mine()

    def action_clear_filters(self) -> None:
        self.app.clear_filters()

    def action_sort(self, column: str) -> None:
        self.app.sort_by(column)
