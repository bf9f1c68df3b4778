"""A list drawn line by line (Textual's Line API): only the rows on screen cost anything.

A DataTable measures every cell before its first paint: with 20 000 entries
that blocks the UI for about two seconds. This list holds the items as a
plain sequence and renders a row only when its line is drawn, so opening,
scrolling and re-sorting cost the same for ten rows or a hundred thousand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...safetext import printable


def fit(text: str, width: int) -> str:
    """`text` on exactly `width` cells: padded, or cut with an ellipsis."""
    if width <= 0:
        return ""
    # Titles, paths and authors are other people's words: nothing in a cell may
    # act on the terminal (escapes, bidi overrides); newlines and tabs become spaces.
    text = printable(text.replace("\n", " ").replace("\t", " "))
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, width - 1) + "…"


class RowList(ScrollView, can_focus=True):
    """A cursor over a sequence of items, one line each, below HEADER_LINES fixed lines."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"row-list--cursor", "row-list--header"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("enter", "choose", "Choose", show=False),
    ]
    HEADER_LINES: ClassVar[int] = 0

    class Highlighted(Message):
        """The cursor is on another item (or on none: the list is empty)."""

        def __init__(self, rows: "RowList", item: Any) -> None:
            super().__init__()
            self.rows = rows
            self.item = item

        @property
        def control(self) -> "RowList":
            return self.rows

    class Chosen(Highlighted):
        """Enter, or a double click, on an item."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._items: Sequence[Any] = ()
        self.cursor = 0
        self._announced: Any = object()  # the item the last Highlighted was about

    # -- content ---------------------------------------------------------------------
    @property
    def items(self) -> Sequence[Any]:
        return self._items

    @property
    def current(self) -> Any:
        return self._items[self.cursor] if 0 <= self.cursor < len(self._items) else None

    def show_items(self, items: Sequence[Any], keep: Any = None) -> None:
        """Show `items`; the cursor stays on `keep` if it is among them, else at its row."""
        self._items = items
        index = self.cursor
        if keep is not None:
            found = self.index_of(keep)
            index = found if found is not None else index
        self.virtual_size = Size(self.size.width, len(items) + self.HEADER_LINES)
        self.cursor = max(0, min(index, len(items) - 1))
        self._scroll_cursor_into_view()
        self.refresh()
        self._announce()

    def index_of(self, key: Any) -> int | None:
        """Where the item with this key is (see item_key); None when it is not shown."""
        for index, item in enumerate(self._items):
            if self.item_key(item) == key:
                return index
        return None

    def item_key(self, item: Any) -> Any:
        """What identifies an item across reloads (an entry's id)."""
        return item

    # -- cursor ------------------------------------------------------------------------
    @property
    def page_height(self) -> int:
        return max(1, self.size.height - self.HEADER_LINES)

    def move_cursor(self, index: int) -> None:
        if not self._items:
            return
        index = max(0, min(index, len(self._items) - 1))
        if index != self.cursor:
            self.cursor = index
            self.refresh()
        self._scroll_cursor_into_view()
        self._announce()

    def _scroll_cursor_into_view(self) -> None:
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, force=True)
        elif self.cursor >= top + self.page_height:
            self.scroll_to(y=self.cursor - self.page_height + 1, animate=False, force=True)

    def _announce(self) -> None:
        item = self.current
        if item is not self._announced:
            self._announced = item
            self.post_message(self.Highlighted(self, item))

    def action_move(self, step: int) -> None:
        self.move_cursor(self.cursor + step)

    def action_page(self, step: int) -> None:
        self.move_cursor(self.cursor + step * self.page_height)

    def action_jump(self, index: int) -> None:
        self.move_cursor(index if index >= 0 else len(self._items) - 1)

    def action_choose(self) -> None:
        if self.current is not None:
            self.post_message(self.Chosen(self, self.current))

    # -- mouse -------------------------------------------------------------------------
    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y < self.HEADER_LINES:
            self.header_clicked(offset.x)
            return
        self.move_cursor(round(self.scroll_y) + offset.y - self.HEADER_LINES)
        if event.chain >= 2:
            self.action_choose()

    def header_clicked(self, x: int) -> None:
        """A click on the header at column x (a table sorts by that column)."""

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, len(self._items) + self.HEADER_LINES)
        self.refresh()

    # -- drawing -----------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y < self.HEADER_LINES:
            strip = self.render_header(y, width, base + self.get_component_rich_style("row-list--header"))
            return strip.crop_extend(0, width, base)
        index = round(self.scroll_y) + y - self.HEADER_LINES
        if not 0 <= index < len(self._items):
            return Strip.blank(width, base)
        selected = index == self.cursor
        cursor = self.get_component_rich_style("row-list--cursor") if selected else None
        segments = self.render_item(self._items[index], width, base, cursor)
        return Strip(segments).crop_extend(0, width, base + cursor if cursor else base)

    def render_header(self, y: int, width: int, style: Style) -> Strip:
        return Strip.blank(width, style)

    def render_item(self, item: Any, width: int, base: Style, cursor: Style | None) -> list[Segment]:
        """The segments of one row; `cursor` is the cursor's style when the row is under it."""
        style = base + cursor if cursor else base
        return [Segment(fit(str(item), width), style)]
