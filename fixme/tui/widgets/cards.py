"""A column of the board: the entries in one workflow state, one card per line."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style

from ...scan.entry import Entry
from .palette import ALERT_TAGS, WARN_TAGS
from .rows import RowList, fit


class CardList(RowList):
    """Cards of one state: "TAG title", virtual like the entry table."""

    COMPONENT_CLASSES = RowList.COMPONENT_CLASSES | {"card-list--tag-alert", "card-list--tag-warn",
                                                     "card-list--tag"}

    def __init__(self, state: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="card-list")
        self.state = state

    def item_key(self, item: Entry) -> str:
        return item.id

    def card_text(self, index: int) -> str:
        entry = self._items[index]
        return f"{entry.tag} {entry.title or '(no title)'}"

    def render_item(self, item: Entry, width: int, base: Style, cursor: Style | None) -> list[Segment]:
        if item.tag in ALERT_TAGS:
            tag_style = self.get_component_rich_style("card-list--tag-alert")
        elif item.tag in WARN_TAGS:
            tag_style = self.get_component_rich_style("card-list--tag-warn")
        else:
            tag_style = self.get_component_rich_style("card-list--tag")
        tag = item.tag + " "
        tag_cells = min(len(tag), width)
        plain = base + cursor if cursor else base
        styled = base + tag_style + cursor if cursor else base + tag_style
        return [Segment(fit(tag, tag_cells), styled),
                Segment(fit(item.title or "(no title)", width - tag_cells), plain)]
