"""The prose grammar: devlog entries, dated headings and task lists.

Used for .md, .txt, .rst, .org and extension-less text files. The grammar is
line based and indentation driven:

    ## 2024-03-02                  dates the entries below it
    TODO: title                    a devlog entry (tag at the start of a line)
      body lines, indented deeper
    **TODO:** title                the same, with the tag emphasised
    - [ ] open task                a task-list entry (tag TODO)
    - [x] FIXME: done task         ... whose text may start with a tag
      task body, indented deeper than the bullet
    ```
    $$$ (set workflow backlog)     a directive after an entry applies to it
    ```

In .rst files, `.. TODO: title` comments and `.. todo::` directives are
entries too, and literal blocks are skipped (see rst.py); in markdown files,
fenced code is skipped.

Open entries form a stack ordered by indentation, so a task item nested in a
body (or in another task) is its own entry and the outer body resumes after
it, the way markdown list items nest. A tag line is different: it ends every
open body, because it starts a new devlog entry of its own.

Every line is looked at once and the stack only pops what it pushed, so the
scan is linear in the size of the text.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from . import rst
from .body import parse_attr
from .model import DEVLOG, TASKLIST, RawEntry
from .tags import TagHead, TagSyntax

TAB_WIDTH = 8

# `- [ ] text`, `* [x] text`, `1. [X] text`, `2) [ ] text`; applied to a line
# with its indentation already removed. The text must not be empty: a bare
# `- [ ]` is not a task in GitHub's task-list syntax either. Other boxes
# (`[~]`, `[-]`, `[?]`) are not GitHub task items, so not entries.
_TASK = re.compile(r"(?:[-*+]|\d{1,9}[.)])[ \t]+\[([ xX])\][ \t]+(\S.*)")

# `## 2024-03-02` with 1-6 '#' and optional text after the date. The date is
# only shape-checked here; whether it exists is checked separately so an
# impossible one can be kept with a warning.
_HEADING = re.compile(r"#{1,6}[ \t]+(\d{4}-\d{2}-\d{2})(?![0-9])")

# Opening code fence: 3+ backticks or tildes. A backtick fence's info string
# may not contain backticks (CommonMark), which keeps inline ``` spans out.
_FENCE_OPEN = re.compile(r"(`{3,})[^`]*$|(~{3,})")

# A tag head wrapped in `*` or `**` emphasis: `**TODO:** x`, `*TODO*: x`.
# Group 2 is what the emphasis holds; it may not start with a space (then
# the `*` is a bullet) and the closing marker is not part of a longer run.
_EMPHASIS = re.compile(r"(\*\*?)([^\s*][^*\n]*?)\1(?!\*)")

# CommonMark lets a heading be indented by at most three spaces.
_MAX_HEADING_INDENT = 3

_TASK_START = frozenset("-*+0123456789")

# A line holding something other than whitespace ('.' stops only at "\n").
_NON_BLANK_LINE = re.compile(r"^[^\S\n]*\S.*$", re.MULTILINE)

# What a line inside code (a fence, a literal block) is.
_FENCE_LINE = "fence"  # a fence's opening or closing line
_CODE_LINE = "code"  # a line of the code itself


@dataclass
class _Open:
    """An entry whose body is still being collected."""

    entry: RawEntry
    indent: int  # width of the tag line / bullet; body lines must be deeper
    lines: list[str] = field(default_factory=list)  # raw lines, "" for blank
    # A `.. todo::` directive: the first content line is the title, and
    # option lines (`:class: x`) may come before the content.
    title_pending: bool = False
    in_options: bool = False


@dataclass
class _Fence:
    """An open fenced code block: what closes it."""

    char: str
    length: int


def may_hold_entries(text: str, tags: TagSyntax) -> bool:
    """A cheap look (no line loop) for anything `scan_prose` could find; False means nothing."""
    if tags.mentions_any(text):
        return True
    if "[ ]" in text or "[x]" in text or "[X]" in text:  # task lists name no tag
        return True
    emphasised, rst_comment = _markup_mentions(tags)
    return emphasised.search(text) is not None or rst_comment.search(text) is not None


_MARKUP_MENTIONS: dict[tuple[str, ...], tuple[re.Pattern[str], re.Pattern[str]]] = {}


def _markup_mentions(tags: TagSyntax) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """What `mentions_any` misses: `*TODO*:`; and an rst `.. todo: x` in any case, or `.. todo::`.

    Two patterns, not one alternation: a pattern that starts with a literal
    (`..`) is searched many times faster than one that starts with a choice.
    """
    patterns = _MARKUP_MENTIONS.get(tags.tags)
    if patterns is None:
        names = "|".join(re.escape(t) for t in tags.tags)
        patterns = (re.compile(rf"(?:{names})\*"), re.compile(rf"\.\.[ \t]+(?i:{names}|todo::)"))
        _MARKUP_MENTIONS[tags.tags] = patterns
    return patterns


def scan_prose(text: str, tags: TagSyntax, *, markdown: bool = True, rst: bool = False) -> list[RawEntry]:
    """Find devlog entries and task-list items in prose text.

    `text` is decoded, with lines separated by "\\n". When `markdown` is true,
    lines inside fenced code blocks are never entries (they are examples),
    though they still count as body text of an entry they are indented under.
    When `rst` is true, reStructuredText comments and todo directives are
    entries, and literal blocks are skipped like fences.
    Entries are returned in line order.
    """
    scanner = _ProseScanner(tags, markdown, rst)
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

    def __init__(self, tags: TagSyntax, markdown: bool, rst_markup: bool):
        self.tags = tags
        self.markdown = markdown
        self.literals = rst.LiteralBlocks() if rst_markup else None  # None: not an rst file
        self.tag_starts = frozenset(t[0] for t in tags.tags)
        self.tag_spellings = {t.lower(): t for t in reversed(tags.tags)}  # for rst comments; first wins
        self.entries: list[RawEntry] = []
        self.stack: list[_Open] = []
        self.blanks = 0  # blank lines seen since the last non-blank one
        self.fence: _Fence | None = None
        self.date: str | None = None
        self.date_warning: str | None = None
        # The entry a `$$$`/`$attr:` line outside any body applies to: the
        # entry whose tag line or body came last, as long as only blank lines,
        # fence lines and such directive lines followed it (see `_text`).
        self.directive_target: RawEntry | None = None

    def feed(self, number: int, line: str) -> None:
        """Take one non-blank line."""
        stripped = line.lstrip(" \t")
        offset = len(line) - len(stripped)
        width = _width(line, offset)
        self._dedent(width)
        code = self._code_kind(stripped, width)
        if code is not None:
            self._text(line, stripped, fence=code == _FENCE_LINE)
            return
        if self.literals is not None:
            self.literals.note(stripped, width)
        if not (
            self._todo_content_start(stripped)
            or self._tag_line(number, line, stripped, width)
            or self._rst_line(number, line, stripped, offset, width)
            or self._task_line(number, stripped, width)
            or self._heading_line(number, stripped, width)
        ):
            self._text(line, stripped)

    def finish(self) -> list[RawEntry]:
        self._close_all()
        return self.entries

    def blank_lines(self, count: int) -> None:
        """Take `count` blank lines in a row (after the last line fed)."""
        self.blanks += count
        if self.stack:
            self.stack[-1].in_options = False  # options come right after the directive
        if self.blanks >= 2:
            self._close_all()

    # -- line kinds ---------------------------------------------------------

    def _tag_line(self, number: int, line: str, stripped: str, width: int) -> bool:
        """`TAG: title`, or `**TAG:** title`, at the start of the line."""
        first = stripped[0]
        if first in self.tag_starts:  # cheap test before the regex
            head = self.tags.match(stripped)
            column = width
        elif first == "*":
            head = _emphasised_head(self.tags, stripped)
            column = _width(line, len(line) - len(stripped.lstrip("*")))
        else:
            return False
        if head is None:
            return False
        self._close_all()  # a tag line ends every open body, however deep
        self._open(_devlog_entry(head, number, column), width)
        return True

    def _rst_line(self, number: int, line: str, stripped: str, offset: int, width: int) -> bool:
        """`.. todo::` directives and `.. TAG: title` comments, in rst files."""
        if self.literals is None or stripped[0] != ".":
            return False
        return self._todo_directive_line(number, stripped, width) or self._rst_comment_line(
            number, line, stripped, offset, width)

    def _todo_directive_line(self, number: int, stripped: str, width: int) -> bool:
        text = rst.todo_directive(stripped)
        if text is None:
            return False
        self._close_all()  # like a tag line, the directive starts an entry of its own
        self._open(RawEntry(tag="TODO", title="", line=number, source=DEVLOG, column=width), width)
        opened = self.stack[-1]
        opened.in_options = True
        if text:
            _fill_title(opened.entry, text, self.tags)
        else:
            opened.title_pending = True
        return True

    def _rst_comment_line(self, number: int, line: str, stripped: str, offset: int, width: int) -> bool:
        found = rst.comment_tag(stripped, self.tag_spellings)
        if found is None:
            return False
        tag, start, end = found
        head = self.tags.match(tag + stripped[end:])  # the rest, as if the tag were spelled as configured
        if head is None:
            return False
        self._close_all()
        self._open(_devlog_entry(head, number, _width(line, offset + start)), width)
        return True

    def _todo_content_start(self, stripped: str) -> bool:
        """The start of a `.. todo::` directive's content: options, then the title line."""
        opened = self.stack[-1] if self.stack else None
        if opened is None or not (opened.in_options or opened.title_pending):
            return False
        if opened.in_options and rst.is_option(stripped):
            return True  # `:class: x` says how to render it, not what to do
        opened.in_options = False
        if not opened.title_pending:
            return False
        opened.title_pending = False
        _fill_title(opened.entry, stripped, self.tags)
        self.blanks = 0
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
        self.directive_target = None  # a directive never reaches into an earlier day
        return True

    def _code_kind(self, stripped: str, width: int) -> str | None:
        """Is this line code (or a fence around code)? Tracks fences and literal blocks."""
        if self.literals is not None:
            return _CODE_LINE if self.literals.is_literal(width) else None
        if not self.markdown:
            return None
        if self.fence is not None:
            if _closes(stripped, self.fence):
                self.fence = None
                return _FENCE_LINE
            return _CODE_LINE
        if stripped[0] not in "`~":
            return None
        m = _FENCE_OPEN.match(stripped)
        if m is None:
            return None
        marker = m.group(1) or m.group(2)
        self.fence = _Fence(marker[0], len(marker))
        return _FENCE_LINE

    def _text(self, line: str, stripped: str, *, fence: bool = False) -> None:
        """A plain line: body of the innermost open entry; outside bodies, maybe a directive."""
        if self.stack:
            self._body_line(line)
        elif stripped[0] == "$" and parse_attr(stripped) is not None:
            self._attach(stripped)
        elif not (fence or self._is_literal_marker(stripped)):
            # Other text between an entry and a directive: the directive is
            # about something else, so the entry stops taking directives.
            self.directive_target = None
        self.blanks = 0

    def _body_line(self, line: str) -> None:
        opened = self.stack[-1]
        # Blank lines inside a body are kept only once the body goes on;
        # leading and trailing ones never get in.
        if opened.lines and self.blanks:
            opened.lines.extend([""] * self.blanks)
        opened.lines.append(line)
        self.directive_target = opened.entry

    def _attach(self, directive: str) -> None:
        """A directive line outside any body: it applies to the entry above, if any."""
        if self.directive_target is not None:
            self.directive_target.directives.append(directive)

    def _is_literal_marker(self, stripped: str) -> bool:
        """An rst line that is just "::": it only opens a literal block, like a fence."""
        return self.literals is not None and stripped.rstrip() == "::"

    def _task_entry(self, task: re.Match[str], number: int, width: int) -> RawEntry:
        text = task.group(2).strip()
        entry = RawEntry(
            tag="TODO", title=text, line=number, source=TASKLIST, column=width,
            done=task.group(1) != " ",
        )
        _fill_title(entry, text, self.tags)
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
        self.directive_target = entry

    def _dedent(self, width: int) -> None:
        """Close the entries this line is not indented deeper than."""
        while self.stack and self.stack[-1].indent >= width:
            _finish_body(self.stack.pop())

    def _close_all(self) -> None:
        while self.stack:
            _finish_body(self.stack.pop())


def _devlog_entry(head: TagHead, number: int, column: int) -> RawEntry:
    return RawEntry(
        tag=head.tag, title=head.title, line=number, source=DEVLOG,
        column=column, who=head.who, slug=head.slug,
    )


def _fill_title(entry: RawEntry, text: str, tags: TagSyntax) -> None:
    """Title a task or todo directive from its text; a tag head there gives its tag too."""
    text = text.strip()
    head = tags.match(text) or _emphasised_head(tags, text)
    if head is None:
        entry.title = text
        return
    entry.tag, entry.title = head.tag, head.title
    entry.who, entry.slug = head.who, head.slug


def _emphasised_head(tags: TagSyntax, text: str) -> TagHead | None:
    """A tag head in emphasis at the start of `text`: `**TODO:** x`, `**TODO**: x`, `*TODO*: x`.

    The emphasis must hold exactly the head (tag, and `(who)` or `[slug]`),
    with the colon just inside or just after it; `**TODO: all of it**` is
    emphasised prose, not an entry.
    """
    m = _EMPHASIS.match(text)
    if m is None:
        return None
    inner, rest = m.group(2), text[m.end():]
    if not inner.endswith(":"):
        if not rest.startswith(":"):
            return None
        inner, rest = inner + ":", rest[1:]
    if rest[:1] not in ("", " ", "\t"):
        return None  # `**TODO:**x`, like `TODO:x`, is not a head
    head = tags.match(inner)
    if head is None or head.title:
        return None
    return dataclasses.replace(head, title=rest.strip(), end=len(text))


def _finish_body(open_entry: _Open) -> None:
    lines = open_entry.lines
    if not lines:
        return
    common = min(_width(line, len(line) - len(line.lstrip(" \t"))) for line in lines if line)
    open_entry.entry.body = "\n".join(_strip_columns(line, common) for line in lines)


def _width(line: str, offset: int) -> int:
    """Display width of the first `offset` characters (tabs to the next multiple of 8)."""
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
    import datetime  # only for dated headings, and kept off the import path of every scan

    try:
        datetime.date.fromisoformat(date)
    except ValueError:
        return False
    return True
