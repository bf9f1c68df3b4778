"""The prose grammar: devlog entries, dated headings and task lists.

Used for .md, .txt, .rst, .org and extension-less text files. The grammar is
line based and indentation driven:

    ## 2024-03-02                  dates the entries below it
    TODO: title                    a devlog entry (tag at the start of a line)
      body lines, indented deeper
    - [ ] open task                a task-list entry (tag TODO)
    - [x] FIXME: done task         ... whose text may start with a tag
      task body, indented deeper than the bullet

Open entries form a stack ordered by indentation, so a task item nested in a
body (or in another task) is its own entry and the outer body resumes after
it, the way markdown list items nest. A tag line is different: it ends every
open body, because it starts a new devlog entry of its own.

Every line is looked at once and the stack only pops what it pushed, so the
scan is linear in the size of the text.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

from fixme.scan.model import DEVLOG, TASKLIST, RawEntry
from fixme.scan.tags import TagSyntax

TAB_WIDTH = 8

# `- [ ] text`, `* [x] text`, `1. [X] text`, `2) [ ] text`; applied to a line
# with its indentation already removed. The text must not be empty: a bare
# `- [ ]` is not a task in GitHub's task-list syntax either.
_TASK = re.compile(r"(?:[-*+]|\d{1,9}[.)])[ \t]+\[([ xX])\][ \t]+(\S.*)")

# `## 2024-03-02` with 1-6 '#' and optional text after the date. The date is
# only shape-checked here; whether it exists is checked separately so an
# impossible one can be kept with a warning.
_HEADING = re.compile(r"#{1,6}[ \t]+(\d{4}-\d{2}-\d{2})(?![0-9])")

# Opening code fence: 3+ backticks or tildes. A backtick fence's info string
# may not contain backticks (CommonMark), which keeps inline ``` spans out.
_FENCE_OPEN = re.compile(r"(`{3,})[^`]*$|(~{3,})")

# CommonMark lets a heading be indented by at most three spaces.
_MAX_HEADING_INDENT = 3

_TASK_START = frozenset("-*+0123456789")

# A line holding something other than whitespace ('.' stops only at "\n").
_NON_BLANK_LINE = re.compile(r"^[^\S\n]*\S.*$", re.MULTILINE)


@dataclass
class _Open:
    """An entry whose body is still being collected."""

    entry: RawEntry
    indent: int  # width of the tag line / bullet; body lines must be deeper
    lines: list[str] = field(default_factory=list)  # raw lines, "" for blank


@dataclass
class _Fence:
    """An open fenced code block: what closes it."""

    char: str
    length: int


def scan_prose(text: str, tags: TagSyntax, *, markdown: bool = True) -> list[RawEntry]:
    """Find devlog entries and task-list items in prose text.

    `text` is decoded, with lines separated by "\\n". When `markdown` is true,
    lines inside fenced code blocks are never entries (they are examples),
    though they still count as body text of an entry they are indented under.
    Entries are returned in line order.
    """
    scanner = _ProseScanner(tags, markdown)
    # Only non-blank lines are visited one by one; runs of blank lines (some
    # files have thousands) are counted in C with str.count.
    number, next_start = 0, 0  # line number of the last line fed; where the next line starts
    for m in _NON_BLANK_LINE.finditer(text):
        start = m.start()
        if start == next_start:
            number += 1
        else:
            blanks = text.count("\n", next_start, start)
            scanner.blank_lines(blanks)
            number += blanks + 1
        scanner.feed(number, m.group())
        next_start = m.end() + 1
    return scanner.finish()


class _ProseScanner:
    """Line-at-a-time state machine behind `scan_prose`."""

    def __init__(self, tags: TagSyntax, markdown: bool):
        self.tags = tags
        self.markdown = markdown
        self.tag_starts = frozenset(t[0] for t in tags.tags)
        self.entries: list[RawEntry] = []
        self.stack: list[_Open] = []
        self.blanks = 0  # blank lines seen since the last non-blank one
        self.fence: _Fence | None = None
        self.date: str | None = None
        self.date_warning: str | None = None

    def feed(self, number: int, line: str) -> None:
        """Take one non-blank line."""
        stripped = line.lstrip(" \t")
        offset = len(line) - len(stripped)
        width = _width(line, offset)
        self._dedent(width)
        if self._in_code(stripped):
            self._text(line)
        elif not (
            self._tag_line(number, line, offset, width)
            or self._task_line(number, stripped, width)
            or self._heading_line(number, stripped, width)
        ):
            self._text(line)

    def finish(self) -> list[RawEntry]:
        self._close_all()
        return self.entries

    # -- line kinds ---------------------------------------------------------

    def _tag_line(self, number: int, line: str, offset: int, width: int) -> bool:
        if line[offset] not in self.tag_starts:  # cheap test before the regex
            return False
        head = self.tags.match(line, offset)
        if head is None:
            return False
        self._close_all()  # a tag line ends every open body, however deep
        self._open(RawEntry(
            tag=head.tag, title=head.title, line=number, source=DEVLOG,
            column=width, who=head.who, slug=head.slug,
        ), width)
        return True

    def _task_line(self, number: int, stripped: str, width: int) -> bool:
        task = _TASK.match(stripped) if stripped[0] in _TASK_START else None
        if task is None:
            return False
        # Unlike a tag line, a task nests: the body it interrupts may go on.
        self._open(self._task_entry(task, number, width), width)
        return True

    def _heading_line(self, number: int, stripped: str, width: int) -> bool:
        # Inside a body, a "## ..." line is body text, not a heading.
        if stripped[0] != "#" or self.stack or width > _MAX_HEADING_INDENT:
            return False
        heading = _HEADING.match(stripped)
        if heading is None:
            return False  # an undated heading leaves the date alone
        self._set_date(heading.group(1), number)
        return True

    def blank_lines(self, count: int) -> None:
        """Take `count` blank lines in a row (after the last line fed)."""
        self.blanks += count
        if self.blanks >= 2:
            self._close_all()

    def _in_code(self, stripped: str) -> bool:
        """Track fences; True if this line is code (a fence line included)."""
        if not self.markdown:
            return False
        if self.fence is not None:
            if _closes(stripped, self.fence):
                self.fence = None
            return True
        if stripped[0] not in "`~":
            return False
        m = _FENCE_OPEN.match(stripped)
        if m is None:
            return False
        marker = m.group(1) or m.group(2)
        self.fence = _Fence(marker[0], len(marker))
        return True

    def _text(self, line: str) -> None:
        """A plain line: body of the innermost open entry, if any."""
        if self.stack:
            body = self.stack[-1].lines
            # Blank lines inside a body are kept only once the body goes on;
            # leading and trailing ones never get in.
            if body and self.blanks:
                body.extend([""] * self.blanks)
            body.append(line)
        self.blanks = 0

    def _task_entry(self, task: re.Match[str], number: int, width: int) -> RawEntry:
        text = task.group(2).strip()
        entry = RawEntry(
            tag="TODO", title=text, line=number, source=TASKLIST, column=width,
            done=task.group(1) != " ",
        )
        head = self.tags.match(text, 0)
        if head is not None:
            entry.tag, entry.title = head.tag, head.title
            entry.who, entry.slug = head.who, head.slug
        return entry

    def _set_date(self, date: str, number: int) -> None:
        self.date = date
        self.date_warning = None
        if not _is_real_date(date):
            self.date_warning = f"line {number}: heading date {date} is not a real date"
        self.blanks = 0

    # -- the stack of open entries -----------------------------------------

    def _open(self, entry: RawEntry, indent: int) -> None:
        entry.devlog_date = self.date
        if self.date_warning is not None:
            entry.warnings.append(self.date_warning)
        self.entries.append(entry)
        self.stack.append(_Open(entry, indent))
        self.blanks = 0

    def _dedent(self, width: int) -> None:
        """Close the entries this line is not indented deeper than."""
        while self.stack and self.stack[-1].indent >= width:
            _finish_body(self.stack.pop())

    def _close_all(self) -> None:
        while self.stack:
            _finish_body(self.stack.pop())


def _finish_body(open_entry: _Open) -> None:
    lines = open_entry.lines
    if not lines:
        return
    common = min(_width(line, len(line) - len(line.lstrip(" \t"))) for line in lines if line)
    open_entry.entry.body = "\n".join(_strip_columns(line, common) for line in lines)


def _width(line: str, offset: int) -> int:
    """Display width of the first `offset` characters (spaces and tabs)."""
    if "\t" not in line[:offset]:
        return offset
    width = 0
    for ch in line[:offset]:
        width = width + TAB_WIDTH - width % TAB_WIDTH if ch == "\t" else width + 1
    return width


def _strip_columns(line: str, columns: int) -> str:
    """Remove `columns` columns of leading whitespace, keeping the rest as written.

    A tab that straddles the cut is replaced by the spaces left of it, so the
    text after it stays where it was relative to the other body lines.
    """
    width = 0
    for i, ch in enumerate(line):
        if width >= columns or ch not in " \t":
            return " " * (width - columns) + line[i:]
        width = width + TAB_WIDTH - width % TAB_WIDTH if ch == "\t" else width + 1
    return ""


def _closes(stripped: str, fence: _Fence) -> bool:
    """A closing fence: the same character, at least as long, nothing after."""
    if not stripped.startswith(fence.char * fence.length):
        return False
    rest = stripped.lstrip(fence.char)
    return not rest.strip()


def _is_real_date(date: str) -> bool:
    try:
        datetime.date.fromisoformat(date)
    except ValueError:
        return False
    return True
