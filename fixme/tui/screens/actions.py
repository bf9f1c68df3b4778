"""The entry keys both the table and the board answer: w a c o r s."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.binding import Binding

if TYPE_CHECKING:
    from ...scan.entry import Entry
    from ..app import FixmeApp

# First in every screen's footer, so a narrow terminal never cuts off the key that lists the others.
KEYS_BINDING = Binding("question_mark", "app.help", "Keys")

ENTRY_BINDINGS = [
    Binding("w", "workflow", "State"),
    Binding("a", "assign", "Assign"),
    Binding("c", "comment", "Comment"),
    Binding("o", "open_editor", "Edit"),
    Binding("r", "rescan", "Rescan", show=False),
    Binding("s", "sync", "Sync", show=False),
]


class EntryActions:
    """Mixed into a Screen: the actions of ENTRY_BINDINGS on the screen's selected entry."""

    app: FixmeApp

    def selected_entry(self) -> Entry | None:
        raise NotImplementedError

    def action_workflow(self) -> None:
        self.app.choose_workflow(self.selected_entry())

    def action_assign(self) -> None:
        self.app.ask_assignee(self.selected_entry())

    def action_comment(self) -> None:
        self.app.ask_comment(self.selected_entry())

    def action_open_editor(self) -> None:
        self.app.open_editor(self.selected_entry())

    def action_rescan(self) -> None:
        self.app.rescan()

    def action_sync(self) -> None:
        self.app.sync_now()
