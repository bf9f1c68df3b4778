"""Entries written in source-code comments.

An entry is a tag that starts a comment's text (`# TODO: title`,
`call()  // FIXME(ann): title`, ` * BUG[slug]: title` inside a block, `///
@todo title`), or a tag with a colon that starts a sentence or a bracket
further into a comment (`(TODO: allow F-order too)`); tags.py has the
spellings.

The comment lines that continue it form its body (docs/formats.md, "The
body", says it exactly):

    # TODO: make retries configurable, the default of 3     <- tag line
    # is too low on slow links.                              <- same column: body
    #   see the 2021 incident notes                          <- deeper: body
    #
    #   priority: high                                       <- deeper after a blank: body
    # Unrelated.                                             <- same column after a blank: not
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from itertools import groupby
from operator import attrgetter

from .comments import CommentLine, iter_comments
from .languages import Language
from .model import CODE, RawEntry
from .tags import TagHead, TagSyntax

# A doc command at the start of a line (`@param x`, `\return`, `:param x:`)
# starts a section of its own, not more of the entry's text.
_DOC_SECTION = re.compile(r"[@\\][A-Za-z]|:[A-Za-z]+[ :]")


def scan_code(text: str, language: Language, tags: TagSyntax) -> list[RawEntry]:
    """All entries in the comments of `text`, in line order."""
    tagged = tags.lines_mentioning(text)
    if not tagged:
        return []
    entries: list[RawEntry] = []
    for _, run in groupby(iter_comments(text, language), key=attrgetter("comment_id")):
        entries.extend(_entries_in(list(run), tags, tagged))
    return entries


def _head_of(line: CommentLine, tags: TagSyntax, tagged: set[int]) -> TagHead | None:
    """The entry a comment line starts: a tag at its start, else one further in.
    Only lines with a tag word (`tagged`) are looked at."""
    if line.line not in tagged:
        return None
    return tags.match_comment(line.text) or tags.search_comment(line.text)


def _entries_in(lines: Sequence[CommentLine], tags: TagSyntax, tagged: set[int]) -> Iterator[RawEntry]:
    """Entries of one comment (a block, or a run of line comments)."""
    i = 0
    while i < len(lines):
        tag_line = lines[i]
        head = _head_of(tag_line, tags, tagged)
        if head is None:
            i += 1
            continue
        body, i = ([], i + 1) if head.bracketed else _body(lines, i, tags, tagged)
        yield RawEntry(
            tag=head.tag,
            title=head.title,
            line=tag_line.line,
            source=CODE,
            body=_dedent(body),
            column=tag_line.column,
            who=head.who,
            slug=head.slug,
            issue=head.issue,
        )


def _body(lines: Sequence[CommentLine], head: int, tags: TagSyntax,
          tagged: set[int]) -> tuple[list[CommentLine], int]:
    """The body lines under `lines[head]`, and the index where scanning resumes.

    The body is the comment lines that follow on consecutive source lines:
    - at the tag's column or deeper, until the first blank comment line;
    - after a blank comment line, only deeper ones (blanks count only when
      such a line follows them).
    A tag line, a doc section (`@param`) at the tag's column, or a line that
    starts left of the tag ends it.
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
        elif not _continues(line, depth, bool(blanks)) or _head_of(line, tags, tagged) is not None:
            break
        else:
            body += blanks
            blanks = []
            body.append(line)
        previous = line.line
        i += 1
    return body, i - len(blanks)


def _continues(line: CommentLine, depth: int, after_blank: bool) -> bool:
    if line.column > depth:
        return True
    return line.column == depth and not after_blank and _DOC_SECTION.match(line.text) is None


def _dedent(body: Sequence[CommentLine]) -> str:
    """Body text with the common indentation removed (columns are tab-expanded)."""
    indent = min((line.column for line in body if line.text), default=0)
    return "\n".join(" " * (line.column - indent) + line.text if line.text else "" for line in body)
