"""Plain data the scanner produces, shared by every grammar.

A `RawEntry` is one occurrence of a tag as a grammar found it in one file,
before identity, blame and merging with other occurrences of the same slug.
"""

from __future__ import annotations

from ..record import Record

CODE = "code"
DEVLOG = "devlog"
TASKLIST = "tasklist"


class RawEntry(Record):
    """One tag occurrence in one file, as a grammar reports it."""

    __slots__ = ("tag", "title", "line", "source", "body", "column", "who", "slug", "devlog_date", "done",
                 "warnings", "directives")

    def __init__(self, tag: str, title: str, line: int, source: str, body: str = "", column: int = 0,
                 who: str | None = None, slug: str | None = None, devlog_date: str | None = None,
                 done: bool = False, warnings: list[str] | None = None, directives: list[str] | None = None):
        self.tag = tag  # TODO, FIXME, PR, ... (task-list items report "TODO")
        self.title = title  # rest of the tag line, stripped
        self.line = line  # 1-based line of the tag
        self.source = source  # CODE | DEVLOG | TASKLIST
        self.body = body  # following lines that belong to the entry, as written
        self.column = column  # 0-based column of the tag, tabs expanded to 8
        self.who = who  # from TAG(who):
        self.slug = slug  # from TAG[slug]: (a one-token title is handled later)
        self.devlog_date = devlog_date  # nearest "## YYYY-MM-DD" above, as written
        self.done = done  # task-list "- [x]"
        self.warnings = [] if warnings is None else warnings  # e.g. an impossible date
        # Attribute lines after the entry but outside its body (a devlog's
        # fenced `$$$ (set workflow backlog)`), in file order.
        self.directives = [] if directives is None else directives
