"""The summary strip: open entries (as `fixme list` counts them), every state's count, the open ones
by tag and author, and how many are not committed."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from ...tracker.dashboard import Counts
from .palette import MUTED, STATE_STYLES, tag_style

MAX_AUTHORS = 5


class SummaryStrip(Static):
    """Two lines: the states; then the tags and the most frequent authors."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("reading entries…", id=id)
        self.text = ""

    def show_counts(self, counts: Counts) -> None:
        states: list = [(f"{counts.open:,} open", "bold")]
        for state, n in counts.states:
            states.extend(["  ", (state, STATE_STYLES.get(state, "")), f" {n:,}"])
        if counts.gone:
            states.extend(["  ", ("gone", MUTED), f" {counts.gone:,}"])
        states.extend(["  ", ("uncommitted", "$text-warning" if counts.uncommitted else MUTED),
                       f" {counts.uncommitted:,}"])
        tags: list = []
        for tag, n in counts.tags:
            tags.extend([(tag, tag_style(tag)), f" {n:,}  "])
        authors = [f"{name} {n:,}" for name, n in counts.authors[:MAX_AUTHORS]]
        if len(counts.authors) > MAX_AUTHORS:
            authors.append(f"+{len(counts.authors) - MAX_AUTHORS} more")
        second = [*tags, ("│ ", MUTED), ("by ", MUTED), ", ".join(authors) or "-"]
        content = Content.assemble(*states, "\n", *second)
        self.text = content.plain
        self.update(content)
