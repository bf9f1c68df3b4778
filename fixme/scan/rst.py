"""reStructuredText constructs the prose grammar reads in .rst files.

    .. TODO: title              a comment that starts with a tag head
    .. todo:: title             Sphinx's todo directive (any case of "todo")
    Run this::                  a paragraph ending in "::" starts a literal
        TODO: not an entry      block: lines indented deeper are code
    .. code-block:: python      so is the content of a code directive
        # TODO: not an entry

Only line shapes live here; `prose.py` decides what they mean for entries.
Everything is matched on a line with its indentation already removed.
"""

from __future__ import annotations

import re

# `.. ` then a comment's text, whose first word may be a tag. `..` alone,
# or glued to the text (`..x`), is not a comment that can hold a tag.
_COMMENT_WORD = re.compile(r"\.\.[ \t]+([^\s:(\[]+)")

# `.. name::` then whitespace or the end of the line. A directive name is a
# docutils "simple reference name": words joined by single - _ . : +.
_DIRECTIVE = re.compile(r"\.\.[ \t]+([A-Za-z0-9]+(?:[-_.:+][A-Za-z0-9]+)*)::(?=[ \t]|$)[ \t]*(.*)")

# Directives whose content is code (docutils, Sphinx and sphinx.ext.doctest):
# a tag line in there is an example, like one inside a markdown fence.
CODE_DIRECTIVES = frozenset({
    "code", "code-block", "sourcecode", "parsed-literal",
    "doctest", "testcode", "testoutput", "testsetup", "testcleanup",
})

# A directive option, `:class: urgent`, as the first lines of its content.
_OPTION = re.compile(r":[A-Za-z0-9][\w .+-]*:(?=[ \t]|$)")

# The bullet or enumerator of a list item; a literal block inside the item
# is indented relative to the item's text, not to the bullet.
_BULLET = re.compile(r"(?:[-*+\u2022]|\d{1,9}[.)]|#[.)]|\(\d{1,9}\))[ \t]+")


def comment_tag(stripped: str, spellings: dict[str, str]) -> tuple[str, int, int] | None:
    """A tag starting a `.. TAG: text` comment, in any case: (configured spelling, start, end).

    `spellings` maps each configured tag, lower-cased, to its spelling. Any
    case counts because rst writers spell it like the directive: `.. todo: x`.
    """
    m = _COMMENT_WORD.match(stripped)
    if m is None:
        return None
    tag = spellings.get(m.group(1).lower())
    return None if tag is None else (tag, m.start(1), m.end(1))


def todo_directive(stripped: str) -> str | None:
    """The text after `.. todo::` on its own line ("" if none), or None if not a todo directive."""
    m = _DIRECTIVE.match(stripped)
    if m is None or m.group(1).lower() != "todo":
        return None
    return m.group(2).strip()


def is_option(stripped: str) -> bool:
    """A directive option line such as `:class: urgent`."""
    return _OPTION.match(stripped) is not None


def opens_literal(stripped: str) -> bool:
    """Does this line make the indented block below it literal?

    True for a paragraph line ending in "::" (and for a line that is just
    "::"), and for a code directive. Other explicit markup ending in "::"
    (`.. note::`, `.. todo::`, a comment) has content that is still prose.
    """
    if stripped.startswith(".."):
        m = _DIRECTIVE.match(stripped)
        return m is not None and m.group(1).lower() in CODE_DIRECTIVES
    return "::" in stripped and stripped.rstrip().endswith("::")  # the `in` test is the cheap one


def text_indent(stripped: str, width: int) -> int:
    """The indentation of the text on a line of width `width`: past a list bullet if it has one."""
    m = _BULLET.match(stripped)
    return width if m is None else width + m.end()


class LiteralBlocks:
    """Follows literal blocks through an rst file, one non-blank line at a time.

    After a line that opens a literal block, the lines indented deeper than
    that line's text are literal; the first line that is not ends the block.
    If the next non-blank line is not deeper, there was no literal block.
    """

    __slots__ = ("_pending", "_inside")

    def __init__(self) -> None:
        self._pending: int | None = None  # after an opening line: the indent to go deeper than
        self._inside: int | None = None  # in a block: the indent its lines are deeper than

    def is_literal(self, width: int) -> bool:
        """Take the next non-blank line's indentation; True if that line is literal."""
        if self._inside is not None:
            if width > self._inside:
                return True
            self._inside = None
        pending, self._pending = self._pending, None
        if pending is not None and width > pending:
            self._inside = pending
            return True
        return False

    def note(self, stripped: str, width: int) -> None:
        """Take a line that is not literal: it may open a literal block below it."""
        if opens_literal(stripped):
            self._pending = text_indent(stripped, width)
