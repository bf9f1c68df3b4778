"""`?`: every key of the dashboard, by view."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

# Keys at most 14 cells, descriptions at most 48 characters: the list fits an 80-column terminal.
KEYS: list[tuple[str, list[tuple[str, str]]]] = [
    ("Everywhere", [
        ("?", "this list of keys"),
        ("q", "quit"),
        ("ctrl+p", "command palette (change the theme, …)"),
    ]),
    ("Table", [
        ("↑ ↓ j k", "previous / next entry"),
        ("PgUp PgDn", "a page up / down"),
        ("Home End", "first / last entry"),
        ("enter", "into the detail pane (esc: back)"),
        ("/", "search box (enter or esc: back to the table)"),
        ("esc", "in the table: clear the search"),
        ("f", "filter: open, each state, gone, all"),
        ("t", "filter: next tag"),
        ("m", "filter: mine (blamed on me, or assigned to me)"),
        ("x", "clear the filters"),
        ("1 … 7", "sort by id state tag title location author age"),
        ("", "(the same key again: reverse order)"),
        ("b", "the board"),
    ]),
    ("Selected entry (table and board)", [
        ("w", "set the workflow state (signed record)"),
        ("a", "assign (signed record)"),
        ("c", "comment (signed record)"),
        ("o", "open $VISUAL or $EDITOR at its file and line"),
        ("r", "rescan the work tree"),
        ("s", "sync with peers now"),
    ]),
    ("Board", [
        ("← → h l", "previous / next column"),
        ("↑ ↓ j k", "previous / next card"),
        ("[ shift+←", "move the card to the previous state"),
        ("] shift+→", "move the card to the next state"),
        ("enter", "show the card in the table"),
        ("b esc", "back to the table"),
    ]),
]


def keys_content() -> Content:
    parts: list = []
    for section, keys in KEYS:
        parts.append((f"{section}\n", "bold $text-accent"))
        width = max(len(key) for key, _ in keys)
        for key, what in keys:
            parts.extend(["  ", (key.ljust(width), "bold"), "  ", what, "\n"])
        parts.append("\n")
    return Content.assemble(*parts)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Static("Keys", classes="dialog-title")
            yield Static(keys_content(), id="keys")

    def action_close(self) -> None:
        self.dismiss(None)
