"""Text from others, made safe to put on a terminal or in a log line.

A peer's error reason, a record's value, a trust name, an attachment name, a
file path or a TODO title written by someone else may hold characters a
terminal acts on instead of showing: escape sequences that move the cursor,
clear the screen or rewrite the title bar (control characters), and
invisible formatting characters that reorder what follows (bidi overrides
such as U+202E, zero-width marks). `printable` writes each such character as
a visible escape (`\\x1b`, `\\u202e`), so what a person reads is what the
text holds, and one field cannot disguise or rewrite another.

Machine formats (JSON, CSV) need none of this: they carry the text exactly.
Only text meant for a person goes through here.
"""

from __future__ import annotations

# Categories a terminal does not show as a glyph of their own: controls (Cc:
# C0, DEL, C1), formatting characters (Cf: bidi embeddings, overrides and
# isolates, zero-width joiners, marks), lone surrogates (Cs) and the line and
# paragraph separators (Zl, Zp), which some terminals break lines on.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str, *, tabs: bool = False) -> str:
    """`text` with every control and invisible formatting character escaped.

    A tab is kept when `tabs` is true: in a block of text (a comment's lines,
    source lines) it only moves to the next column; in a table cell or a
    one-line field it would break the alignment, so it is escaped.
    """
    if text.isprintable():   # the common case, at C speed: nothing to escape
        return text
    return "".join(_escape(c) if _hidden(c, tabs) else c for c in text)


def printable_lines(text: str) -> list[str]:
    """A block of text (a comment, a message) as its lines, each made printable (tabs kept)."""
    return [printable(line, tabs=True) for line in text.split("\n")]


def _hidden(char: str, tabs: bool) -> bool:
    import unicodedata   # only on the slow path: every command imports this module

    if char == "\t" and tabs:
        return False
    return unicodedata.category(char) in _HIDDEN


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
