"""The entry table: id, state, tag, title, location, author, age; one line per entry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.message import Message
from textual.strip import Strip

from ...cells import HEADINGS, cell_width, cut_location, fill_title, location_minimum, plan_table
from ...safetext import printable
from ...tracker.dashboard import COLUMNS, Order, row_cells
from ...scan.entry import Entry, location_suffix
from .palette import ALERT_TAGS, WARN_TAGS
from .rows import RowList, fit

STATE_CLASSES = ("new", "backlog", "wip", "test", "done", "dropped", "gone")
LOCATION_MIN = 16  # "…/name.py:123": what a location keeps when nothing was measured
GAP = 1


AGE_WIDTH = 8  # "unblamed"; ages are not measured (each is a date to parse)


def column_widths(width: int, short: int, state_width: int, tag_width: int,
                  measured: tuple[int, int, int, int] = (0, 0, 0, LOCATION_MIN)) -> list[int]:
    """Widths in COLUMNS order for a table `width` cells wide, by the rules `fixme list` follows
    (cells.plan_table: the author and age give way first); 0: the column is left out. The title
    takes what is left. `measured`: the widest title, location and author shown, and the
    narrowest the locations can be (measure())."""
    title, location, author, location_min = measured
    natural = [short, state_width, tag_width, max(title, 5), max(location, 8), max(author, 6), AGE_WIDTH]
    return fill_title(plan_table(natural, width, location_min, GAP), width).widths


def measure(entries: Sequence[Entry]) -> tuple[int, int, int, int]:
    """The widest title, location and author among `entries`, and the room their locations need
    to keep file name and line: what plan_table needs (a few ms for 20 000 entries)."""
    title = location = author = 0
    location_min = 8
    for entry in entries:
        title = max(title, cell_width(entry.title or "(no title)"))
        suffix = location_suffix(entry)
        location = max(location, cell_width(entry.path) + len(suffix))
        location_min = max(location_min, location_minimum(entry.path, suffix))
        author = max(author, cell_width(entry.author or "-"))
    return title, location, author, min(location_min, LOCATION_MIN * 2)


class EntryTable(RowList):
    """The dashboard's table of entries, virtual: a row is drawn only when it is on screen."""

    COMPONENT_CLASSES: ClassVar[set[str]] = RowList.COMPONENT_CLASSES | {
        "entry-table--sorted", "entry-table--muted", "entry-table--tag-alert", "entry-table--tag-warn",
        *(f"entry-table--state-{state}" for state in STATE_CLASSES),
    }
    HEADER_LINES = 1

    class SortRequested(Message):
        """A click on a column's heading."""

        def __init__(self, column: str) -> None:
            super().__init__()
            self.column = column

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.short = 7
        self.order = Order()
        self._state_width = 7
        self._tag_width = 5
        self._cells: dict[str, tuple[str, ...]] = {}
        self._measured = measure(())
        self._now = datetime.now(timezone.utc)

    def item_key(self, item: Entry) -> str:
        return item.id

    def show_entries(self, entries: Sequence[Entry], short: int, order: Order, states: Sequence[str],
                     tags: Sequence[str], keep: str | None = None,
                     measured: tuple[int, int, int, int] | None = None) -> None:
        """Show `entries` in the order given; the cursor stays on entry `keep` if it is shown.
        `states` and `tags` are every value those columns may hold (they size the columns), and
        `measured` what measure() says of every entry there is (else of those shown)."""
        self.short = short
        self.order = order
        self._state_width = max(5, *(len(s) for s in (*states, "gone")))
        self._tag_width = max(3, min(6, max((len(t) for t in tags), default=3)))
        self._cells = {}  # states and titles may have changed: cells are made again when drawn
        self._measured = measured if measured is not None else measure(entries)
        self._now = datetime.now(timezone.utc)
        self.show_items(entries, keep)

    @property
    def widths(self) -> list[int]:
        return column_widths(self.size.width, self.short, self._state_width, self._tag_width, self._measured)

    def cells(self, entry: Entry) -> tuple[str, ...]:
        cells = self._cells.get(entry.id)
        if cells is None:
            cells = self._cells[entry.id] = row_cells(entry, self.short, self._now)
        return cells

    def row_text(self, index: int) -> str:
        """Row `index` as the screen shows it (tests and screen readers read this)."""
        item = self._items[index]
        return " ".join(self._fit(item, column, cell, w) for column, cell, w in
                        zip(COLUMNS, self.cells(item), self.widths) if w > 0).rstrip()

    @staticmethod
    def _fit(item: Entry, column: str, cell: str, width: int) -> str:
        """A cell on exactly `width` cells; the location cut from the left, keeping file and line."""
        if column == "location":
            cell = cut_location(printable(item.path), location_suffix(item), width)
        return fit(cell, width)

    # -- drawing -----------------------------------------------------------------------
    def render_header(self, y: int, width: int, style: Style) -> Strip:
        sorted_style = style + self.get_component_rich_style("entry-table--sorted")
        segments = []
        for column, w in zip(COLUMNS, self.widths):
            if w == 0:
                continue
            heading = HEADINGS[column]
            if column == self.order.column:
                heading += " ▼" if self.order.reverse else " ▲"
            segments.append(Segment(fit(heading, w), sorted_style if column == self.order.column else style))
            segments.append(Segment(" ", style))
        return Strip(segments[:-1])

    def render_item(self, item: Entry, width: int, base: Style, cursor: Style | None) -> list[Segment]:
        cells = self.cells(item)
        segments = []
        gap = base + cursor if cursor else base
        for column, cell, w in zip(COLUMNS, cells, self.widths):
            if w == 0:
                continue
            style = base + self._cell_style(column, cell)
            segments.append(Segment(self._fit(item, column, cell, w), style + cursor if cursor else style))
            segments.append(Segment(" ", gap))
        return segments[:-1]

    def _cell_style(self, column: str, cell: str) -> Style:
        if column == "state":
            return self.get_component_rich_style(f"entry-table--state-{cell}", default=Style())
        if column == "tag":
            if cell in ALERT_TAGS:
                return self.get_component_rich_style("entry-table--tag-alert")
            if cell in WARN_TAGS:
                return self.get_component_rich_style("entry-table--tag-warn")
            return Style()
        if column in ("id", "location", "age"):
            return self.get_component_rich_style("entry-table--muted")
        return Style()

    def header_clicked(self, x: int) -> None:
        left = 0
        for column, w in zip(COLUMNS, self.widths):
            if w == 0:
                continue
            if x < left + w + 1:
                self.post_message(self.SortRequested(column))
                return
            left += w + 1
