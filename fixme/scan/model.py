"""Plain data the scanner produces, shared by every grammar.

A `RawEntry` is one occurrence of a tag as a grammar found it in one file,
before identity, blame and merging with other occurrences of the same slug.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CODE = "code"
DEVLOG = "devlog"
TASKLIST = "tasklist"


@dataclass
class RawEntry:
    """One tag occurrence in one file, as a grammar reports it."""

    tag: str  # TODO, FIXME, PR, ... (task-list items report "TODO")
    title: str  # rest of the tag line, stripped
    line: int  # 1-based line of the tag
    source: str  # CODE | DEVLOG | TASKLIST
    body: str = ""  # following lines that belong to the entry, as written
    column: int = 0  # 0-based column of the tag, tabs expanded to 8
    who: str | None = None  # from TAG(who):
    slug: str | None = None  # from TAG[slug]: (a one-token title is handled later)
    devlog_date: str | None = None  # nearest "## YYYY-MM-DD" above, as written
    done: bool = False  # task-list "- [x]"
    warnings: list[str] = field(default_factory=list)  # e.g. an impossible date
    issue: str | None = None  # from TAG(#123): the issue number
    # Attribute lines after the entry but outside its body (a devlog's fenced
    # `$$$ (set workflow backlog)`), in file order.
    directives: list[str] = field(default_factory=list)
