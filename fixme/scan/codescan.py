"""Entries written in source-code comments.

An entry is a tag at the start of a comment's text (`# TODO: title`,
`call()  // FIXME(ann): title`, ` * BUG[slug]: title` inside a block). The
comment lines right below it that are indented deeper than the tag form its
body:

    # TODO: make retries configurable
    #   the default of 3 is too low on slow links     <- body
    #
    #   see the 2021 incident notes                   <- body (keeps the blank)
    # unrelated comment                               <- not deeper: body ends
"""

from __future__ import annotations

from itertools import groupby
from operator import attrgetter
from collections.abc import Iterator, Sequence

from .comments import CommentLine, iter_comments
from .languages import Language
from .model import CODE, RawEntry
from .tags import TagSyntax


def scan_code(text: str, language: Language, tags: TagSyntax) -> list[RawEntry]:
    """All entries in the comments of `text`, in line order."""
    if not tags.mentions_any(text):
        return []
    entries: list[RawEntry] = []
    for _, run in groupby(iter_comments(text, language), key=attrgetter("comment_id")):
        entries.extend(_entries_in(list(run), tags))
    return entries


def _entries_in(lines: Sequence[CommentLine], tags: TagSyntax) -> Iterator[RawEntry]:
    """Entries of one comment (a block, or a run of line comments)."""
    i = 0
    while i < len(lines):
        tag_line = lines[i]
        head = tags.match(tag_line.text)
        if head is None:
            i += 1
            continue
        body, i = _body(lines, i, tags)
        yield RawEntry(
            tag=head.tag,
            title=head.title,
            line=tag_line.line,
            source=CODE,
            body=_dedent(body),
            column=tag_line.column,
            who=head.who,
            slug=head.slug,
        )


def _body(lines: Sequence[CommentLine], head: int, tags: TagSyntax) -> tuple[list[CommentLine], int]:
    """The body lines under `lines[head]`, and the index where scanning resumes.

    The body is the following comment lines, on consecutive source lines,
    whose text starts deeper than the tag; blank comment lines count only when
    a deeper line follows them. A line that is itself a tag line ends it.
    """
    depth = lines[head].column
    previous = lines[head].line
    body: list[CommentLine] = []
    blanks: list[CommentLine] = []
    i = head + 1
    while i < len(lines):
        line = lines[i]
        if line.line != previous + 1:
            break
        if not line.text:
            blanks.append(line)
        elif line.column <= depth or tags.match(line.text) is not None:
            break
        else:
            body += blanks
            blanks = []
            body.append(line)
        previous = line.line
        i += 1
    return body, i - len(blanks)


def _dedent(body: Sequence[CommentLine]) -> str:
    """Body text with the common indentation removed (columns are tab-expanded)."""
    indent = min((line.column for line in body if line.text), default=0)
    return "\n".join(" " * (line.column - indent) + line.text if line.text else "" for line in body)
