"""The detail pane: everything about the selected entry, its source lines highlighted."""

from __future__ import annotations

import time

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from ...safetext import printable, printable_lines
from ...tracker.dashboard import EntryDetail, assigned_to
from ...scan.entry import shown_state
from ...scan.entry import Entry
from .palette import MUTED, STATE_STYLES, tag_style

Parts = list[str | tuple[str, str]]  # what Content.assemble takes: text, or (text, style)


def format_ms(ms: int) -> str:
    """A record's time (ms since the epoch), in UTC."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ms // 1000))


def blame_text(commit: str | None, author: str | None, email: str | None, date: str | None) -> str:
    if commit is None:
        return "not committed yet"
    who = f"{author} <{email}>" if email else (author or "?")
    return f"{commit[:10]} {who} {(date or '')[:10]}".rstrip()


def head_parts(entry: Entry, short: int) -> Parts:
    """Title, ids, blame, locations, fields, labels, links and body: all known without reading files.

    Everything but the ids comes from someone's commit or record: `p` (printable) first.
    """
    p = printable
    state = shown_state(entry)
    parts: Parts = [(p(entry.tag), tag_style(entry.tag) + " bold"), " ", (entry.id[:short], MUTED), "  ",
                    (p(entry.title or "(no title)"), "bold"), "  ", (f"[{p(state)}]", STATE_STYLES.get(state, "")),
                    "\n"]

    def field(name: str, value: str) -> None:
        parts.extend([(f"{name:<10}", MUTED), p(value), "\n"])

    field("id", entry.id)
    if entry.slug:
        field("slug", entry.slug)
    field("source", entry.source + (f" (devlog {entry.devlog_date})" if entry.devlog_date else ""))
    field("blame", blame_text(entry.commit, entry.author, entry.author_email, entry.date))
    assigned = assigned_to(entry)
    if assigned:
        field("assigned", assigned)
    parts.append(("locations\n", MUTED))
    for loc in entry.locations:
        mark = "*" if (loc.path, loc.line) == (entry.path, entry.line) else " "
        parts.extend([f"  {mark} {p(loc.path)}:{loc.line}  ",
                      (p(blame_text(loc.commit, loc.author, None, loc.date)), MUTED), "\n"])
    if entry.fields:
        field("fields", ", ".join(f"{k}: {v}" for k, v in entry.fields.items()))
    attrs = {k: v for k, v in entry.attrs.items() if k != "workflow"}
    if attrs:
        field("attrs", ", ".join(f"{k}: {v}" for k, v in attrs.items()))
    if entry.labels:
        field("labels", " ".join(f"#{label}" for label in entry.labels))
    for link in entry.links:
        field("link", f"{link.get('rel', '')} {str(link.get('id', ''))[:short]} {link.get('slug') or ''}".strip())
    for ctx in entry.context:
        where = f"{ctx.get('path', '?')}:{ctx.get('line', '?')}" if ctx.get("path") else ""
        field("context", f"{where} {('at ' + ctx['commit'][:10]) if ctx.get('commit') else ''}".strip())
    for warning in entry.warnings:
        parts.extend([("warning   ", "$text-warning"), p(warning), "\n"])
    if entry.body:
        parts.append("\n")
        parts.extend(f"  {line}\n" for line in printable_lines(entry.body))
    return parts


def history_parts(detail: EntryDetail) -> Parts:
    """Attachments, then the signed records about the entry, oldest first.

    A record may come from any peer: its strings go through `p` (printable).
    """
    p = printable
    parts: Parts = []
    if detail.attachments:
        parts.append(("attachments\n", MUTED))
        for item in detail.attachments:
            size = f" ({item.size:,} bytes)" if item.size is not None else ""
            parts.extend([f"  {p(item.value)}{size}  ", (p(item.blob or "")[:19], MUTED), "\n"])
    parts.append(("history\n", MUTED))
    if not detail.history:
        parts.append(("  no records yet\n", MUTED))
    for item in detail.history:
        if item.kind == "comment":
            what = "commented"
        elif item.kind == "attach":
            what = f"attached {p(item.value)}"
        else:
            what = f"set {p(item.attr or '')} = {p(item.value)}"
        trust = "signed, trusted" if item.trusted else "signed, NOT TRUSTED (not applied)"
        parts.extend([f"  {format_ms(item.time_ms)}  {p(item.author_name)}  ", (what, "bold"), "  ",
                      (f"({trust}, {item.record_id[7:19]})", MUTED if item.trusted else "$text-warning"), "\n"])
        text = item.value if item.kind == "comment" else item.message
        if text:
            parts.extend(f"      {line}\n" for line in printable_lines(text))
    return parts


def source_view(detail: EntryDetail, dark: bool) -> Syntax | None:
    """The lines around the entry, highlighted by the file's extension, the tag line marked.

    ANSI themes: the colours are the terminal's own, whatever its palette.
    """
    if not detail.source:
        return None
    code = "\n".join(printable(line.text.expandtabs(4)) for line in detail.source)
    lexer = Syntax.guess_lexer(detail.entry.path, code)
    tag_lines = {line.number for line in detail.source if line.is_tag_line}
    return Syntax(code, lexer, theme="ansi_dark" if dark else "ansi_light", line_numbers=True,
                  start_line=detail.source[0].number, highlight_lines=tag_lines, background_color="default")


class DetailPane(VerticalScroll, can_focus=True):
    """The selected entry: the head at once, the source and history when read."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entry: Entry | None = None
        self.text = ""  # what the pane says, as plain text
        self._head_text = ""

    def compose(self) -> ComposeResult:
        yield Static(id="detail-head")
        yield Static(id="detail-source")
        yield Static(id="detail-history")

    def show_entry(self, entry: Entry | None, short: int) -> None:
        """The entry's own fields now; the source and history follow (show_detail)."""
        self.entry = entry
        head = Content.assemble(*head_parts(entry, short)) if entry else Content("no entry selected")
        self.query_one("#detail-head", Static).update(head)
        self.query_one("#detail-source", Static).update("")
        self.query_one("#detail-history", Static).update(Content.styled("reading…", MUTED) if entry else "")
        self._head_text = head.plain
        self.text = head.plain
        self.scroll_home(animate=False)

    def show_detail(self, detail: EntryDetail, source: Syntax | None) -> None:
        if self.entry is None or detail.entry.id != self.entry.id:
            return  # the cursor moved on meanwhile
        source_widget = self.query_one("#detail-source", Static)
        source_widget.update(source if source is not None else "")
        source_widget.display = source is not None
        history = Content.assemble(*history_parts(detail))
        self.query_one("#detail-history", Static).update(history)
        lines = [f"{line.number} {line.text}" for line in detail.source]
        self.text = "\n".join([self._head_text, *lines, history.plain])
