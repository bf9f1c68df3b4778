"""Text in terminal cells: display width, cutting to a width, and how the entry
table shares out a terminal's width. Used by `fixme list` and by the dashboard
(so no textual here, and nothing costly to import).

Width is what a terminal draws, not `len`: a CJK character or an emoji takes
two cells, a combining mark none (unicodedata.east_asian_width and
combining; a wcwidth dependency would buy exact answers for a few emoji
sequences only). Text reaching here has been through safetext.printable, so
no control or invisible formatting character is left to move the cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

ELLIPSIS = "…"
TABLE_COLUMNS = ("id", "state", "tag", "title", "location", "author", "age")
HEADINGS = {"id": "ID", "state": "STATE", "tag": "TAG", "title": "TITLE", "location": "LOCATION",
            "author": "AUTHOR", "age": "AGE"}
AUTHOR_MIN = 10  # an author cut shorter than this says nothing
TITLE_MIN = 12  # below this a title gives way only when nothing else can
TITLE_COMFORT = 32  # a longer title is cut to this before the author and age are left out
LOCATION_COMFORT = 40  # and a longer location to this (or to its file name and line)
LOCATION_MAX_MIN = 32  # a file name longer than this may itself be cut (from the left) when narrow


@lru_cache(maxsize=4096)  # CJK text repeats its characters; unicodedata costs ~1 us a call
def char_width(char: str) -> int:
    """Cells one character takes: 2 for wide and full-width, 0 for combining marks, else 1."""
    import unicodedata

    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def cell_width(text: str) -> int:
    """Cells `text` takes on a terminal."""
    if text.isascii():
        return len(text)
    return sum(map(char_width, text))


def cut_end(text: str, width: int) -> str:
    """`text` in at most `width` cells: cut at the end, with an ellipsis, when too wide."""
    if cell_width(text) <= width:
        return text
    return "".join(_fitting(text, width - 1)) + ELLIPSIS if width > 0 else ""


def cut_start(text: str, width: int) -> str:
    """`text` in at most `width` cells: cut at the start, with an ellipsis, when too wide."""
    if cell_width(text) <= width:
        return text
    return ELLIPSIS + "".join(reversed(_fitting(reversed(text), width - 1))) if width > 0 else ""


def _fitting(chars, width: int) -> list[str]:
    """The first of `chars` that fit in `width` cells."""
    kept, used = [], 0
    for char in chars:
        size = char_width(char)
        if used + size > width:
            break
        kept.append(char)
        used += size
    return kept


def pad(text: str, width: int) -> str:
    """`text` padded with spaces to `width` cells."""
    return text + " " * max(0, width - cell_width(text))


def fit(text: str, width: int) -> str:
    """`text` on exactly `width` cells: cut at the end or padded."""
    return pad(cut_end(text, width), width)


def cut_location(path: str, suffix: str, width: int) -> str:
    """`path` + `suffix` (":15", ":15 (+2)") in at most `width` cells, the path cut from the
    left at a directory when it must be (`…/store.c:15`): the file name and line stay.

    Only when not even `…/NAME` + suffix fits is the file name itself cut from the left.
    """
    if cell_width(path) + cell_width(suffix) <= width:
        return path + suffix
    room = width - cell_width(suffix)
    parts = path.split("/")
    for start in range(1, len(parts)):
        tail = ELLIPSIS + "/" + "/".join(parts[start:])
        if cell_width(tail) <= room:
            return tail + suffix
    return cut_start(path, max(room, 0)) + suffix if room > 0 else cut_start(path + suffix, width)


def location_minimum(path: str, suffix: str) -> int:
    """The narrowest a location can be without losing its file name and line."""
    name = path.rsplit("/", 1)[-1]
    return cell_width(name) + cell_width(suffix) + (0 if name == path else 2)  # "…/"


@dataclass
class TableLayout:
    """Widths of the entry table's columns (TABLE_COLUMNS order); 0: the column is left out."""

    widths: list[int]
    gap: int

    def shown(self) -> list[tuple[str, int]]:
        """(column, width) of the columns shown, in order."""
        return [(column, width) for column, width in zip(TABLE_COLUMNS, self.widths) if width > 0]

    def total(self) -> int:
        shown = self.shown()
        return sum(width for _, width in shown) + self.gap * max(0, len(shown) - 1)


def plan_table(natural: list[int], width: int | None, location_min: int, gap: int = 2) -> TableLayout:
    """How `width` cells are shared among the columns, from each column's natural width.

    Everything fits: natural widths. Narrower, in this order: a long title is
    cut to TITLE_COMFORT and a long location to LOCATION_COMFORT; AUTHOR shrinks (to AUTHOR_MIN) and is then left
    out, and then AGE; then TITLE and LOCATION share what is left, the
    location keeping at least `location_min` (its file name and line, cut
    from the left) while the title keeps TITLE_MIN. ID, STATE and TAG are
    never cut. `width` None (not a terminal): natural widths, nothing is cut.
    """
    widths = list(natural)
    layout = TableLayout(widths, gap)
    if width is None or layout.total() <= width:
        return layout
    title, location, author, age = (TABLE_COLUMNS.index(c) for c in ("title", "location", "author", "age"))
    comfort = min(natural[title], TITLE_COMFORT)
    widths[title] = max(comfort, widths[title] - (layout.total() - width))
    comfort = min(natural[location], max(LOCATION_COMFORT, location_min))
    widths[location] = max(comfort, widths[location] - (layout.total() - width))
    if layout.total() <= width:
        return layout
    widths[author] = max(min(widths[author], AUTHOR_MIN), widths[author] - (layout.total() - width))
    for dropped in (author, age):
        if layout.total() <= width:
            return layout
        widths[dropped] = 0
    if layout.total() <= width:
        return _grow_title(layout, natural, width)
    others = layout.total() - widths[title] - widths[location]
    room = width - others  # for the title and the location, without the gap already counted
    location_min = min(location_min, LOCATION_MAX_MIN, natural[location])
    title_want = min(natural[title], max(TITLE_MIN, room * 3 // 5))
    widths[location] = min(natural[location], max(location_min, room - title_want))
    widths[title] = room - widths[location]
    if widths[title] < TITLE_MIN:  # very narrow: the location gives up all but its file name and line
        widths[location] = max(location_min, room - TITLE_MIN)
        widths[title] = room - widths[location]
    if widths[title] < 1:  # narrower still: the location is cut into its file name
        widths[title] = min(TITLE_MIN, max(1, room // 2))
        widths[location] = max(1, room - widths[title])
    return layout


def _grow_title(layout: TableLayout, natural: list[int], width: int) -> TableLayout:
    """Give the title back what leaving columns out freed, up to its natural width."""
    title = TABLE_COLUMNS.index("title")
    layout.widths[title] = min(natural[title], layout.widths[title] + width - layout.total())
    return layout


def fill_title(layout: TableLayout, width: int) -> TableLayout:
    """The title takes whatever `width` leaves over (a screen row is filled, a printed one is not)."""
    title = TABLE_COLUMNS.index("title")
    if layout.widths[title] > 0:
        layout.widths[title] += max(0, width - layout.total())
    return layout


def board_widths(headings: list[str], counts: list[int], width: int) -> list[int]:
    """Cells for each board column (the dashboard's board, one column per state): a column with
    no cards gets room for its heading, at most half an even share; the columns with cards
    share the rest evenly."""
    n = len(headings)
    if n == 0:
        return []
    full = [i for i in range(n) if counts[i]]
    if not full or len(full) == n:
        return _even(width, n)
    cap = max(4, width // n // 2)
    empty = {i: min(cell_width(headings[i]) + 3, cap) for i in range(n) if not counts[i]}
    shares = _even(max(0, width - sum(empty.values())), len(full))
    widths = dict(empty) | dict(zip(full, shares))
    return [widths[i] for i in range(n)]


def _even(width: int, n: int) -> list[int]:
    """`width` split into `n` parts that differ by at most one."""
    return [width // n + (1 if i < width % n else 0) for i in range(n)]
