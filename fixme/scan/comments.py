"""Find the comments in source text, line by line.

One compiled "master" regex per language alternates everything that matters
to comment finding: string literals (skipped, so `"http://x"` or
`"# not a comment"` hide nothing), comment starts, and a few look-alikes that
are neither. The lexer repeatedly searches for the next of these from the
current position, so plain code is skipped inside the regex engine rather
than by a Python loop. Nested block comments are the one place that needs a
small loop, over their open/close markers only.

Every alternative starts with a literal character where possible (look-arounds
come after it), which lets the regex engine jump between candidate characters
instead of trying each alternative at every position; that keeps lexing a
20 MB tree in the order of a second.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Iterator
from functools import lru_cache

from .languages import ForeignLanguage, Language, StringRule

TAB_WIDTH = 8

# Roles of the master regex's alternatives.
_SKIP = "skip"
_STRING = "string"
_LINE = "line"
_BLOCK = "block"
_NESTED = "nested"  # opener of a nesting block comment; its end is found by counting

# Characters that decorate a comment marker without being text: //! ///< --| #!
_MARKER_DECORATION = "!|<"
_BLANKS = re.compile(r"[ \t]*")


class CommentLine(namedtuple("CommentLine", "line column text block trailing comment_id")):
    """The part of one source line that is comment text.

    line: 1-based line number; column: 0-based column where `text` starts,
    tabs expanded to 8; text: without marker, decoration, closing marker,
    surrounding blanks; block: inside a block comment (/* */, {- -},
    <!-- -->, ...); trailing: the comment starts after code on this line;
    comment_id: same for all lines of one block comment or one run of line
    comments.
    """

    __slots__ = ()


class _Kind(namedtuple("_Kind", "role opener closer line_start decoration continuation finder lead inner",
                       defaults=("", "", False, None, None, None, None, None))):
    """What one alternative of the master regex stands for.

    opener: the comment marker / block opener as written in the table;
    closer: block closer; line_start: the match begins with the line's
    indentation; decoration: marker repetitions + blanks after the opener;
    continuation: indentation (+ ' * ') of a block's later lines; finder:
    nested blocks, next opener ('o') or closer; lead: blocks, a comment
    marker starting a line inside the block; inner: blocks, a line-comment
    marker after code inside the block.
    """

    __slots__ = ()


class Lexer(namedtuple("Lexer", "master kinds")):
    """A language's compiled master regex and what each of its groups (kinds) means."""

    __slots__ = ()


def iter_comments(text: str, language: Language | ForeignLanguage) -> Iterator[CommentLine]:
    """Yield every comment line of `text` (lines split on '\\n'), in order."""
    if isinstance(language, ForeignLanguage):
        from .foreign import iter_foreign_comments  # Pygments, for languages outside the table

        yield from iter_foreign_comments(text, language)
        return
    lexer = compile_lexer(language)
    cursor = _Cursor()
    pos = 0
    search = lexer.master.search
    kinds = lexer.kinds
    while True:
        m = search(text, pos)
        if m is None:
            return
        kind = kinds[m.lastgroup]
        role = kind.role
        if role is _STRING or role is _SKIP:
            pos = m.end()
            continue
        start = m.start()
        if kind.line_start:
            start = _skip_blanks(text, start)
        if role is _LINE:
            yield _line_comment(text, start, m.end(), kind, cursor)
            pos = m.end()
        else:
            end = _nested_end(text, m.end(), kind.finder) if role is _NESTED else m.end()
            yield from _block_comment(text, start, end, kind, cursor)
            pos = end


@lru_cache(maxsize=None)
def compile_lexer(language: Language) -> Lexer:
    """Build (once per language) the master regex that finds strings and comments."""
    alternatives: list[tuple[str, _Kind]] = []
    alternatives += [(pattern, _Kind(_SKIP)) for pattern in language.skips]
    alternatives += [_block_alternative(language, o, c)
                     for o, c in sorted(language.block_comments, key=lambda pair: -len(pair[0]))]
    alternatives += [_line_alternative(language, marker, line_start=False)
                     for marker in sorted(language.line_comments, key=len, reverse=True)]
    alternatives += [_line_alternative(language, marker, line_start=True)
                     for marker in sorted(language.line_start_comments, key=len, reverse=True)]
    strings = sorted(language.strings, key=lambda rule: (not rule.regex, -len(rule.open)))
    alternatives += [(_string_pattern(rule, index), _Kind(_STRING)) for index, rule in enumerate(strings)]
    if not alternatives:
        alternatives.append((r"(?!)", _Kind(_SKIP)))  # a language without comments or strings
    parts = []
    kinds = {}
    for index, (pattern, kind) in enumerate(alternatives):
        # The empty group closes last, so `match.lastgroup` names the alternative.
        name = f"k{index}"
        parts.append(f"{pattern}(?P<{name}>)")
        kinds[name] = kind
    return Lexer(re.compile("|".join(parts), re.MULTILINE), kinds)


# -- building the master regex ---------------------------------------------


def _string_pattern(rule: StringRule, index: int) -> str:
    if rule.regex:
        # Give the rule's delimiter group a name unique within the master regex.
        return rule.regex.replace("(?P<D>", f"(?P<d{index}>").replace("(?P=D)", f"(?P=d{index})")
    opener = re.escape(rule.open)
    guard = f"(?<!{rule.not_after}{opener})" if rule.not_after else ""
    closer = rule.closer
    close = re.escape(closer)
    if rule.single_char:
        escape = f"{re.escape(rule.escape)}[^\\n]{{1,10}}?|" if rule.escape else ""
        plain = _negated_class(closer[0] + rule.escape + "\n")
        return f"{opener}{guard}(?:{escape}{plain}){close}"
    if not rule.multiline:
        # Unterminated: the literal ends with its line.
        return f"{opener}{guard}{_string_body(rule, one_line=True)}(?:{close})?"
    body = _string_body(rule, one_line=False)
    if len(closer) > 1:
        # Triple quotes and the like are too distinctive to open by accident.
        return f"{opener}{guard}(?:{body}{close}|[^\\n]*)"
    # A one-character quote that closes on a later line counts as a
    # multi-line literal only if the rest of its closing line holds that
    # quote in pairs. A stray quote (a regex, an escape, an apostrophe the
    # table misread) would otherwise pair with the opening quote of a real
    # string further down, and everything in between would flip between code
    # and string; this way it costs its own line. A literal that never closes
    # ends with its line too, rather than eating the file.
    same_line = _string_body(rule, one_line=True)
    return f"{opener}{guard}(?:{same_line}{close}|{body}{close}(?={_balanced_rest(rule)})|[^\\n]*)"


def _balanced_rest(rule: StringRule) -> str:
    """Regex: the rest of the line holds `rule`'s quote (unescaped) an even number of times."""
    quote = re.escape(rule.closer)
    plain = _negated_class(rule.closer + rule.escape + "\n")
    if rule.escape:
        plain = f"(?:{plain}|{re.escape(rule.escape)}[^\\n])"
    return f"{plain}*+(?:{quote}{plain}*+{quote}{plain}*+)*+$"


def _string_body(rule: StringRule, one_line: bool) -> str:
    """Regex for a literal's contents: runs of plain characters between special ones."""
    closer = rule.closer
    stops = closer[0] + rule.escape + ("\n" if one_line else "")
    plain = _negated_class(stops) + "*+"
    specials = []
    if rule.escape:
        specials.append(re.escape(rule.escape) + r"[\s\S]")
    if rule.doubled:
        specials.append(re.escape(closer) * 2)
    if len(closer) > 1:
        specials.append(re.escape(closer[0]) + f"(?!{re.escape(closer[1:])})")
    if not specials:
        return plain
    return f"{plain}(?:(?:{'|'.join(specials)}){plain})*+"


def _negated_class(chars: str) -> str:
    unique = "".join(dict.fromkeys(chars))
    return "[^" + "".join(re.escape(c) for c in unique) + "]"


def _block_alternative(language: Language, opener: str, closer: str) -> tuple[str, _Kind]:
    open_re = re.escape(opener)
    guard = f"(?<![^\\n]{open_re})" if language.blocks_at_line_start else ""
    kind = _Kind(
        _NESTED if language.nested_blocks else _BLOCK,
        opener=opener,
        closer=closer,
        decoration=_opener_decoration(opener),
        continuation=_continuation(opener, closer),
        finder=_nesting_finder(opener, closer) if language.nested_blocks else None,
        lead=_embedded_lead(language),
        inner=_embedded_inner(language, opener),
    )
    if language.nested_blocks:
        return open_re + guard, kind
    # Unrolled "anything up to the closer, or to EOF if it never comes".
    first, rest = re.escape(closer[0]), re.escape(closer[1:])
    body = f"[^{first}]*+"
    if rest:
        body += f"(?:{first}(?!{rest})[^{first}]*+)*+"
    return f"{open_re}{guard}{body}(?:{re.escape(closer)}|\\Z)", kind


def _line_alternative(language: Language, marker: str, line_start: bool) -> tuple[str, _Kind]:
    lit = re.escape(marker)
    word = marker[-1].isalpha()
    if word and line_start:
        # REM and friends: any case, as a whole word.
        pattern = f"(?i:{lit})(?![^\\s])"
    elif word:
        # m4's dnl: as written, and as a whole word.
        pattern = f"{lit}(?<![\\w]{lit})(?![^\\s])"
    else:
        pattern = lit
        if language.not_after and not line_start:
            pattern += f"(?<!{language.not_after}{lit})"
        if language.not_before:
            pattern += f"{re.escape(marker[-1])}*+(?!{language.not_before})"
    if line_start:
        pattern = r"^[ \t]*+" + pattern
    return pattern + r"[^\n]*", _Kind(_LINE, opener=marker, line_start=line_start,
                                      decoration=_marker_decoration(marker))


def _marker_decoration(marker: str) -> re.Pattern[str]:
    """Repetitions and doc marks after a line marker (/// //! ;;; --|), then blanks."""
    if marker[-1].isalpha():
        return re.compile(r"[ \t]*+")
    chars = "".join(re.escape(c) for c in dict.fromkeys(marker + _MARKER_DECORATION))
    return re.compile(f"[{chars}]*+[ \t]*+")


def _opener_decoration(opener: str) -> re.Pattern[str]:
    """Repetitions of a block opener's last character (/** {-- <!---) and doc marks."""
    last = opener[-1]
    if last.isalnum():
        return re.compile(r"[ \t]*+")
    chars = "".join(re.escape(c) for c in dict.fromkeys(last + _MARKER_DECORATION))
    return re.compile(f"[{chars}]*+[ \t]*+")


def _continuation(opener: str, closer: str) -> re.Pattern[str]:
    """Indentation of a block's later lines, with the ' * ' column of /* */ and (* *) styles."""
    if opener.endswith("*") or closer.startswith("*"):
        return re.compile(r"[ \t]*+(?:\*++[ \t]*+)?")
    return re.compile(r"[ \t]*+")


def _embedded_lead(language: Language) -> re.Pattern[str] | None:
    """A comment marker (and its decoration) where a line inside a block comment starts."""
    markers = [m for m in language.line_comments if not m[-1].isalpha()]
    markers += [opener for opener, _ in language.block_comments if not opener[-1].isalpha()]
    if not markers:
        return None
    alternatives = "|".join(re.escape(m) for m in sorted(markers, key=len, reverse=True))
    chars = "".join(re.escape(c) for c in dict.fromkeys("".join(markers) + _MARKER_DECORATION))
    return re.compile(f"(?:{alternatives})[{chars}]*+[ \t]*+")


def _embedded_inner(language: Language, opener: str) -> re.Pattern[str] | None:
    """A line-comment marker after a blank, inside a line of a block comment.

    Where block comments nest, an opener after a blank starts an inner
    comment too (`/* see /* TODO: x */ */`).
    """
    markers = [m for m in language.line_comments if not m[-1].isalpha()]
    if language.nested_blocks:
        markers.append(opener)
    if not markers:
        return None
    alternatives = "|".join(re.escape(m) for m in sorted(markers, key=len, reverse=True))
    return re.compile(f"(?<=[ \t])(?:{alternatives})")


def _nesting_finder(opener: str, closer: str) -> re.Pattern[str]:
    return re.compile(f"(?P<o>{re.escape(opener)})|{re.escape(closer)}")


# -- turning matches into comment lines ------------------------------------


class _Cursor:
    """Where the lexer is in one text: line, column and comment-run bookkeeping.

    Offsets only move forward, and everything is measured from the previous
    offset rather than from the start of the line, so a megabyte-long
    minified line with thousands of comments still costs linear time.
    """

    __slots__ = ("line", "counted", "col_at", "col", "blank_to", "code_before",
                 "next_id", "run_line", "run_id")

    def __init__(self) -> None:
        self.line = 1  # line number of offset `counted`
        self.counted = 0
        self.col_at = 0  # an offset on the current line and its display column
        self.col = 0
        self.blank_to = 0  # the current line is blank from its start up to here...
        self.code_before = False  # ...unless this is set
        self.next_id = 0
        self.run_line = -1  # line of the latest line comment, while a run could continue
        self.run_id = -1

    def advance(self, text: str, offset: int) -> int:
        """Move to `offset` (never backwards) and return its line number."""
        newlines = text.count("\n", self.counted, offset)
        if newlines:
            self.line += newlines
            self.col_at = self.blank_to = text.rfind("\n", self.counted, offset) + 1
            self.col = 0
            self.code_before = False
        self.counted = offset
        return self.line

    def column(self, text: str, offset: int) -> int:
        """Display column of `offset` (on the current line), tabs expanded."""
        start = self.col_at
        if text.find("\t", start, offset) < 0:
            col = self.col + offset - start
        else:
            pad = self.col % TAB_WIDTH  # tab stops depend on where the segment starts
            col = self.col - pad + len((" " * pad + text[start:offset]).expandtabs(TAB_WIDTH))
        self.col_at, self.col = offset, col
        return col

    def has_code(self, text: str, offset: int) -> bool:
        """Whether anything but blanks precedes `offset` on the current line."""
        if not self.code_before and offset > self.blank_to:
            self.code_before = not text[self.blank_to:offset].isspace()
            self.blank_to = offset
        return self.code_before

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


def _line_comment(text: str, start: int, end: int, kind: _Kind, cursor: _Cursor) -> CommentLine:
    line = cursor.advance(text, start)
    trailing = cursor.has_code(text, start)
    # A line comment alone on its line continues a run of line comments
    # from the line just above; a trailing comment always starts a new one.
    if trailing or cursor.run_line != line - 1:
        cursor.run_id = cursor.new_id()
    cursor.run_line = line
    begin = kind.decoration.match(text, start + len(kind.opener), end).end()
    return CommentLine(line, cursor.column(text, begin), text[begin:end].rstrip(),
                       False, trailing, cursor.run_id)


def _block_comment(text: str, start: int, end: int, kind: _Kind, cursor: _Cursor) -> Iterator[CommentLine]:
    first_line = cursor.advance(text, start)
    trailing = cursor.has_code(text, start)
    cursor.run_line = -1
    comment_id = cursor.new_id()
    closer = kind.closer
    body_end = end
    if end - len(closer) >= start + len(kind.opener) and text.startswith(closer, end - len(closer)):
        body_end = end - len(closer)
    begin = kind.decoration.match(text, start + len(kind.opener), body_end).end()
    while True:
        line = cursor.advance(text, begin)
        newline = text.find("\n", begin, body_end)
        stop = body_end if newline < 0 else newline
        closes = newline < 0 and body_end != end
        for piece_begin, piece, embedded in _block_line_pieces(text, begin, stop, kind, closes):
            yield CommentLine(line, cursor.column(text, piece_begin), piece, True,
                              embedded or (trailing and line == first_line), comment_id)
        if newline < 0 or newline + 1 == len(text):
            break  # (a comment left open at EOF has no line after the final newline)
        begin = kind.continuation.match(text, newline + 1, body_end).end()


def _block_line_pieces(text: str, begin: int, stop: int, kind: _Kind,
                       closes: bool) -> list[tuple[int, str, bool]]:
    """The comment text of one line of a block comment: [(offset, text, embedded)].

    Code is often commented out wholesale with a block comment, and a comment
    written inside it keeps its meaning for a reader: a marker at the start of
    the line (`// TODO: x`, a stray `/* FIXME: y`) is dropped like decoration,
    and a line comment after code (`call();  // BUG: z`) becomes a second,
    embedded piece whose text can start with a tag of its own.
    """
    if kind.lead is not None:
        lead = kind.lead.match(text, begin, stop)
        if lead is not None:
            begin = lead.end()
            stop = _inner_comment_end(text, lead.start(), begin, stop, kind)
    inner = kind.inner.search(text, begin, stop) if kind.inner is not None else None
    if inner is None:
        return [(begin, _block_text(text[begin:stop], kind.closer, closes), False)]
    after = kind.lead.match(text, inner.start(), stop).end()
    stop = _inner_comment_end(text, inner.start(), after, stop, kind)
    return [(begin, text[begin:inner.start()].rstrip(), False),
            (after, _block_text(text[after:stop], kind.closer, closes), True)]


def _inner_comment_end(text: str, marker: int, begin: int, stop: int, kind: _Kind) -> int:
    """Where the text of a comment written inside a block comment ends on its line.

    Only an inner block comment (`/* /* TODO: x */ more */`) can end before
    the line does: its text stops at its own closer.
    """
    if not text.startswith(kind.opener, marker):
        return stop
    close = text.find(kind.closer, begin, stop)
    return stop if close < 0 else close


def _block_text(piece: str, closer: str, closes: bool) -> str:
    """A block line's text without trailing blanks and closer remnants (`**/`, a nested `-}`)."""
    piece = piece.rstrip()
    if piece.endswith(closer):
        piece, closes = piece[: -len(closer)], True
    if closes and not closer[0].isalnum():
        piece = piece.rstrip(closer[0])
    return piece.rstrip()


def _nested_end(text: str, pos: int, finder: re.Pattern[str]) -> int:
    """End offset of a nesting block comment whose opener ends at `pos` (EOF if unclosed)."""
    depth = 1
    while depth:
        m = finder.search(text, pos)
        if m is None:
            return len(text)
        pos = m.end()
        depth += 1 if m.lastgroup == "o" else -1
    return pos


def _skip_blanks(text: str, pos: int) -> int:
    return _BLANKS.match(text, pos).end()
