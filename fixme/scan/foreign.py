"""Comments in files of languages the comment table does not know, via Pygments.

Pygments has lexers for some 600 languages (TableGen, linker scripts, Coq,
COBOL, ...). It is ~10-40x slower than the table-driven lexer and costs
10-50 ms to load, so it is the last resort: only for a file whose name the
table does not know, only once the file's text is known to mention a tag
word, and only when exactly one Pygments lexer claims the file name (an
ambiguous pattern such as `*.b` is a guess, and a wrong lexer misreads
comments). Its comment tokens become the same `CommentLine`s the table-driven
lexer yields, so the code grammar reads them unchanged.

Nothing here imports Pygments until a file needs it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache

from .comments import TAB_WIDTH, CommentLine
from .languages import ForeignLanguage

# Lexers whose comments are not this repository's own: patches carry other
# files' lines, and gettext catalogs copy the comments of the source code.
_NOT_OWN_COMMENTS = frozenset(("DiffLexer", "DarcsPatchLexer", "WDiffLexer", "GettextLexer"))
# Pygments lexes at ~1-4 MB/s and some of its lexers backtrack badly on odd
# input; beyond this a file of an unknown language is not lexed.
MAX_FOREIGN_SIZE = 1024 * 1024

# Leading comment markers and decoration: // # ; -- % /* (* {- <!-- {# ' " ...
_OPENER = re.compile(r"[ \t]*(?:\(\*|[/*#;%!<>{}|'\"=~+\[\].\\-])*[ \t]*")
_BLOCK_OPENERS = ("/*", "(*", "{-", "<!--", "{#", "{{!", "<%#", "%{", "#|", "/+", "--[", "#=", "<#", "#[")
_CLOSERS = ("--}}", "-->", "*/", "*)", "-}", "|#", "]]", "#}", "}}", "%>", "%}", "+/", "=#", "#>", "]#")


def foreign_language(path: str, text: str, tags: Iterable[str]) -> ForeignLanguage | None:
    """The Pygments language to read `text` with, if worth it and unambiguous.

    None when the text mentions no tag word (`TODO` as written, or in any
    case with a colon or after `@`: `todo:`, `@todo`), is larger than
    MAX_FOREIGN_SIZE, Pygments is missing, not exactly one Pygments lexer
    claims the file name, or that lexer reads patches or translations.
    """
    if len(text) > MAX_FOREIGN_SIZE or not _mentions_tag_word(tuple(tags), text):
        return None
    return _language_for_name(path.rsplit("/", 1)[-1])


def _mentions_tag_word(tags: tuple[str, ...], text: str) -> bool:
    """`TODO` as a word, or `todo:`, `@todo`, `\\todo` in any case."""
    as_written, lowered = _tag_words(tags)
    return as_written.search(text) is not None or lowered.search(text.lower()) is not None


@lru_cache(maxsize=8)
def _tag_words(tags: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Regexes for tag words as written and in lower-cased text.

    Every alternative starts with a literal (the word checks come after it),
    so the regex engine skips to candidates instead of trying each position.
    """
    word = "[A-Za-z0-9_]"
    as_written = "|".join(f"{re.escape(t)}(?<!{word}{re.escape(t)})(?!{word})" for t in tags)
    lowered = []
    for tag in {t.lower() for t in tags}:
        t = re.escape(tag)
        lowered += [f"{t}(?<!{word}{t}):", f"@{t}(?!{word})", f"\\\\{t}(?!{word})"]
    return re.compile(as_written), re.compile("|".join(lowered))


@lru_cache(maxsize=1024)
def _language_for_name(name: str) -> ForeignLanguage | None:
    claims = _filename_index().claims(name)
    if len(claims) != 1:
        return None
    (class_name,) = claims
    if class_name in _NOT_OWN_COMMENTS:
        return None
    module, lexer_name = _filename_index().lexers[class_name]
    return ForeignLanguage(lexer_name, module, class_name)


class _FilenameIndex:
    """Pygments' file name patterns, indexed without importing any lexer.

    Matching follows Pygments (fnmatch, case-sensitive); a lower-case name is
    tried when the name as written matches nothing (`FOO.TD`).
    """

    def __init__(self, lexers: dict[str, tuple]):
        import fnmatch

        self.lexers = {cls: (entry[0], entry[1]) for cls, entry in lexers.items()}
        self.names: dict[str, set[str]] = {}  # exact file names: SConstruct
        self.suffixes: dict[str, set[str]] = {}  # *.td -> "td", *.pkr.hcl -> "pkr.hcl"
        self.globs: list[tuple[re.Pattern[str], str]] = []
        for cls, (_, _, _, patterns, _) in lexers.items():
            for pattern in patterns:
                if not any(c in pattern for c in "*?["):
                    self.names.setdefault(pattern, set()).add(cls)
                elif pattern.startswith("*.") and not any(c in pattern[2:] for c in "*?["):
                    self.suffixes.setdefault(pattern[2:], set()).add(cls)
                else:
                    self.globs.append((re.compile(fnmatch.translate(pattern)), cls))

    def claims(self, name: str) -> set[str]:
        found = self._claims(name)
        return found if found or name.islower() else self._claims(name.lower())

    def _claims(self, name: str) -> set[str]:
        found = set(self.names.get(name, ()))
        dot = name.find(".", 1)
        while dot > 0:
            found |= self.suffixes.get(name[dot + 1:], set())
            dot = name.find(".", dot + 1)
        found.update(cls for pattern, cls in self.globs if pattern.match(name))
        return found


@lru_cache(maxsize=1)
def _filename_index() -> _FilenameIndex:
    try:
        from pygments.lexers._mapping import LEXERS
    except ImportError:  # Pygments is optional: no foreign languages then
        LEXERS = {}
    return _FilenameIndex(LEXERS)


# -- tokens to comment lines ------------------------------------------------------------


def iter_foreign_comments(text: str, language: ForeignLanguage) -> Iterator[CommentLine]:
    """Comment lines of `text` as Pygments' lexer for `language` sees them.

    A lexer that fails, or whose tokens do not add up to the text (so line
    numbers could be wrong), yields nothing.
    """
    regions = _comment_regions(text, language)
    if regions is None:
        return
    previous_line_comment = -1  # line of the last comment that was a whole line by itself
    comment_id = 0
    line, counted = 1, 0  # line number at offset `counted`; regions only move forward
    for start, end in regions:
        line += text.count("\n", counted, start)
        counted = start
        line_start = text.rfind("\n", 0, start) + 1
        trailing = bool(text[line_start:start].strip())
        whole_line = not trailing and "\n" not in text[start:end].rstrip("\n") and not _code_follows(text, end)
        if not (whole_line and previous_line_comment == line - 1):
            comment_id += 1
        previous_line_comment = line if whole_line else -1
        yield from _region_lines(text, start, end, line, line_start, trailing, comment_id)


def _comment_regions(text: str, language: ForeignLanguage) -> list[tuple[int, int]] | None:
    """(start, end) offsets of runs of adjacent comment tokens, or None if lexing failed."""
    try:
        from pygments.token import Comment

        lexer = _lexer_class(language)(stripnl=False, stripall=False, ensurenl=False)
        skipped = (Comment.Preproc, Comment.PreprocFile, Comment.Hashbang)
        regions: list[tuple[int, int]] = []
        offset = 0
        for _, token, value in lexer.get_tokens_unprocessed(text):
            end = offset + len(value)
            if token in Comment and not any(token in kind for kind in skipped):
                if regions and regions[-1][1] == offset:
                    regions[-1] = (regions[-1][0], end)
                else:
                    regions.append((offset, end))
            offset = end
    except Exception:  # a lexer bug must not fail the scan: the file just has no comments
        return None
    return regions if offset == len(text) else None


def _lexer_class(language: ForeignLanguage):
    import importlib

    return getattr(importlib.import_module(language.module), language.class_name)


def _code_follows(text: str, end: int) -> bool:
    newline = text.find("\n", end)
    return bool(text[end:newline if newline >= 0 else len(text)].strip())


def _region_lines(text: str, start: int, end: int, line: int, line_start: int, trailing: bool,
                  comment_id: int) -> Iterator[CommentLine]:
    """One CommentLine per source line of a comment region, markers stripped."""
    body = text[start:end].rstrip("\n")
    block = body.lstrip().startswith(_BLOCK_OPENERS)
    pieces = body.split("\n")
    for index, piece in enumerate(pieces):
        begin = _OPENER.match(piece).end()
        content = piece[begin:].rstrip()
        if index == len(pieces) - 1:
            content = _without_closer(content)
        prefix = text[line_start:start] if index == 0 else ""
        column = len((prefix + piece[:begin]).expandtabs(TAB_WIDTH))
        yield CommentLine(line + index, column, content, block, trailing and index == 0, comment_id)


def _without_closer(content: str) -> str:
    for closer in _CLOSERS:
        if content.endswith(closer):
            return content[: -len(closer)].rstrip()
    return content
