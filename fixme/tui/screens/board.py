"""`b`: the board, one column per workflow state; moving a card writes the signed record."""

from __future__ import annotations

from collections.abc import Sequence

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from ...cells import board_widths
from ...scan.entry import Entry
from ..widgets.cards import CardList
from ..widgets.rows import RowList
from ..widgets.status import StatusBar
from .actions import ENTRY_BINDINGS, KEYS_BINDING, EntryActions


class BoardScreen(EntryActions, Screen):
    BINDINGS = [
        KEYS_BINDING,
        *ENTRY_BINDINGS,
        Binding("left,h", "column(-1)", "Column ←", show=False),
        Binding("right,l", "column(1)", "Column →", show=False),
        Binding("left_square_bracket,shift+left", "move_card(-1)", "Move ←"),
        Binding("right_square_bracket,shift+right", "move_card(1)", "Move →"),
        Binding("b,escape", "close", "Table"),
    ]

    def __init__(self, states: Sequence[str]) -> None:
        super().__init__()
        self.states = list(states)
        self.column = 0
        self.follow: str | None = None  # a moved card's id: the cursor goes where it lands

    def compose(self) -> ComposeResult:
        yield Static(id="board-title")
        with Horizontal(id="columns"):
            for index, state in enumerate(self.states):
                with Vertical(id=f"column-{index}", classes="board-column"):
                    yield Static(state, id=f"heading-{index}", classes="column-heading")
                    yield CardList(state, id=f"cards-{index}")
        yield Static(id="card")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.app.fill_board(self)
        self.cards(self.column).focus()

    def cards(self, index: int) -> CardList:
        return self.query_one(f"#cards-{index}", CardList)

    def selected_entry(self) -> Entry | None:
        return self.cards(self.column).current

    def show_entries(self, entries: Sequence[Entry], description: str) -> None:
        """Deal the entries (already filtered and ordered) into their state's column."""
        by_state: dict[str, list[Entry]] = {state: [] for state in self.states}
        for entry in entries:
            if entry.workflow in by_state:
                by_state[entry.workflow].append(entry)
        for index, state in enumerate(self.states):
            cards = by_state[state]
            keep = self.follow if any(e.id == self.follow for e in cards) else None
            self.cards(index).show_items(cards, keep=keep)
            self.query_one(f"#heading-{index}", Static).update(f"{state} {len(cards):,}")
            if keep is not None:
                self.column = index
                self.cards(index).focus()
        self.follow = None
        self._size_columns()
        self.query_one("#board-title", Static).update(f"Board · {description}")
        self._describe(self.selected_entry())

    def _size_columns(self) -> None:
        """Empty columns get room for their heading only; the columns with cards share the rest."""
        counts = [len(self.cards(index).items) for index in range(len(self.states))]
        headings = [f"{state} {count:,}" for state, count in zip(self.states, counts)]
        for index, cells in enumerate(board_widths(headings, counts, self.size.width)):
            self.query_one(f"#column-{index}", Vertical).styles.width = cells

    def on_resize(self, event: events.Resize) -> None:
        self._size_columns()

    def _describe(self, entry: Entry | None) -> None:
        text = "" if entry is None else (f"{entry.id[:self.app.short]} {entry.tag}: {entry.title}  "
                                         f"{entry.path}:{entry.line}")
        self.query_one("#card", Static).update(text)

    # -- events ----------------------------------------------------------------------
    def on_row_list_highlighted(self, event: RowList.Highlighted) -> None:
        if isinstance(event.rows, CardList) and event.rows.has_focus:
            self._describe(event.item)

    def on_row_list_chosen(self, event: RowList.Chosen) -> None:
        self.app.show_in_table(event.item)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if isinstance(event.widget, CardList):
            self.column = self.states.index(event.widget.state)
            self._describe(event.widget.current)

    # -- actions ---------------------------------------------------------------------
    def action_column(self, step: int) -> None:
        self.column = max(0, min(len(self.states) - 1, self.column + step))
        self.cards(self.column).focus()

    def action_move_card(self, step: int) -> None:
        entry = self.selected_entry()
        if entry is not None:
            self.follow = entry.id
        self.app.move_card(entry, step)

    def action_close(self) -> None:
        self.dismiss()
