"""Recognising a tag in a piece of comment or prose text.

Prose (devlogs, READMEs) is strict: a line starts an entry only with

    TAG: title        TAG(who): title        TAG[slug]: title

Comments are read the way people write them in real code (docs/formats.md,
"Code comments", has the whole grammar with examples). At the start of a
comment's text:

    TODO: x   TODO(ada): x   TODO[slug]: x   TODO(#123): x     with a colon
    todo: x   Todo: x        BUG : x                           case, spacing
    TODO fix the bounds      TODO - x       TODO — x           no colon
    TODO FIXME: x                                              stacked: the first tag
    | TODO: x   ^ TODO: x                                      Haddock marks
    @todo x   \\todo x                                          doc commands (tag TODO)

and, with a colon, further into a comment: at the start of a sentence
(`... did.  TODO: revisit this.`) or inside brackets (`(TODO: allow F-order
too)`, where the title ends at the matching bracket).

A lower-case or capitalised tag needs its colon (`# todo list` is not an
entry), PR needs its colon in comments (`# PR 1234 broke this` names a pull
request), and the tag is always a whole word (`TODOS`, `TODO_LIST` and
`fixmeup` are not tags). Entries report the configured spelling of the tag.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Tags that need their colon even in upper case, in comments.
COLON_ONLY_TAGS = frozenset({"PR"})

# Doc commands that stand for a tag: `@todo x`, `\todo x` (Doxygen, JSDoc, phpDoc).
DOC_COMMANDS = {"todo": "TODO"}

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_DOC_COMMAND = re.compile(r"[@\\]([A-Za-z]+)\b:?[ \t]*")
_HADDOCK_MARK = re.compile(r"[|^][ \t]+")
_BRACKETED = re.compile(r"\((?P<paren>[^()\n]*)\)|\[(?P<slug>[^\[\]\n]*)\]")
_ISSUE = re.compile(r"#(\d{1,9})")
_COLON = re.compile(r"[ \t]*:(?=\s|$)[ \t]*")
_DASH = re.compile(r"[ \t]+(?:-{1,2}|\u2013|\u2014)[ \t]+")
_SPACE_THEN_TEXT = re.compile(r"[ \t]+(?=[\w\"'`(\[{#@$<])")
_BARE_END = re.compile(r"[.!?]*[ \t]*$")
# Where a tag with a colon may stand further into a comment: after an opening
# bracket, or at the start of a sentence.
_SENTENCE_END = re.compile(r"[.!?;][ \t]+$")
_STRICT_HEAD = (r"(?P<tag>%s)(?:\((?P<who>[^()\n]*)\)|\[(?P<slug>[^\[\]\n]*)\])?:(?=\s|$)[ \t]*"
                r"(?P<title>[^\n]*)")


@dataclass(frozen=True)
class TagHead:
    """What a tag line says before its body: the parts of `TAG(who): title`.

    `issue` is the number of `TAG(#123)`; `end` the offset just past the
    matched text; `bracketed`: written inside brackets further into a
    comment, so the lines below are not its body.
    """

    tag: str
    title: str
    who: str | None = None
    slug: str | None = None
    issue: str | None = None
    end: int = 0
    bracketed: bool = False


class TagSyntax:
    """Matches tag heads for a configured set of tags."""

    def __init__(self, tags: Iterable[str]):
        self.tags = tuple(dict.fromkeys(tags))
        if not self.tags:
            raise ValueError("at least one tag must be configured")
        alternatives = "|".join(re.escape(t) for t in sorted(self.tags, key=len, reverse=True))
        self._strict = re.compile(_STRICT_HEAD % alternatives)
        self._exact = frozenset(self.tags)
        self._by_upper = {t.upper(): t for t in self.tags}
        self._doc_commands = {k: v for k, v in DOC_COMMANDS.items() if v in self._exact}
        # A tag word in any case, as a whole word: what a later, exact look needs.
        self._any_case = re.compile(r"(?<![\w@\\])(?i:%s)(?!\w)" % alternatives)
        # The cheap pre-filter: where could an entry be at all? A tag word in any
        # case, looked for in the lower-cased text (eight times faster than a
        # case-insensitive search), with the word boundary checked after the
        # literal so that the regex engine can skip ahead to candidate tags.
        lowered = [re.escape(t.lower()) for t in self.tags]
        guarded = "|".join("%s(?<![a-z0-9_]%s)" % (t, t) for t in lowered)
        self._mentions = re.compile(r"(?:%s)(?![a-z0-9_])" % guarded)

    # -- prose -----------------------------------------------------------
    def match(self, text: str, pos: int = 0) -> TagHead | None:
        """The strict `TAG: title` form exactly at `pos` of `text` (prose)."""
        m = self._strict.match(text, pos)
        if m is None:
            return None
        return TagHead(m.group("tag"), m.group("title").strip(), _blank_to_none(m.group("who")),
                       _blank_to_none(m.group("slug")), None, m.end())

    def mentions_any(self, text: str) -> bool:
        """True if `text` could hold an entry (a tag word in any case); used to skip files quickly."""
        return self._mentions.search(text.lower()) is not None

    def lines_mentioning(self, text: str) -> set[int]:
        """The 1-based numbers of the lines of `text` that hold a tag word in any case:
        the only lines where an entry can start."""
        lowered = text.lower()  # may move offsets (a few letters lower to two), never newlines
        lines: set[int] = set()
        line, counted = 1, 0
        for m in self._mentions.finditer(lowered):
            line += lowered.count("\n", counted, m.start())
            counted = m.start()
            lines.add(line)
        return lines

    # -- comments --------------------------------------------------------
    def match_comment(self, text: str) -> TagHead | None:
        """The tag head that starts a comment's text, in any spelling code uses."""
        pos = 0
        mark = _HADDOCK_MARK.match(text)
        if mark is not None:
            pos = mark.end()
        if text[pos:pos + 1] in ("@", "\\"):
            return self._doc_command(text, pos)
        word = _WORD.match(text, pos)
        if word is None:
            return None
        tag, exact = self._tag_of(word.group())
        if tag is None:
            return None
        return self._rest_of_head(text, tag, exact, word.end())

    def search_comment(self, text: str) -> TagHead | None:
        """A tag with a colon further into a comment: at a sentence start or inside brackets."""
        for m in self._any_case.finditer(text):
            tag, exact = self._tag_of(m.group())
            if tag is None:
                continue
            before = text[:m.start()]
            closer = {"(": ")", "[": "]"}.get(before[-1:])
            if closer is None and not _SENTENCE_END.search(before):
                continue
            head = self._rest_of_head(text, tag, exact, m.end(), colon_only=True)
            if head is None:
                continue
            if closer is not None:
                return _cut_at_bracket(head, text, closer)
            return head
        return None

    def _tag_of(self, word: str) -> tuple[str | None, bool]:
        """The configured tag `word` spells, and whether it is spelt exactly.

        Besides the exact spelling, all lower case and a capital initial count
        (`todo`, `Todo`); `tOdO` does not.
        """
        if word in self._exact:
            return word, True
        if word == word.lower() or word == word.capitalize():
            return self._by_upper.get(word.upper()), False
        return None, False

    def _rest_of_head(self, text: str, tag: str, exact: bool, pos: int,
                      colon_only: bool = False) -> TagHead | None:
        """Parse what follows the tag word at `pos`: brackets, separator, title."""
        who = slug = issue = None
        bracket = _BRACKETED.match(text, pos)
        if bracket is not None:
            paren, slug = bracket.group("paren"), _blank_to_none(bracket.group("slug"))
            if paren is not None:
                number = _ISSUE.fullmatch(paren.strip())
                issue, who = (number.group(1), None) if number else (None, _blank_to_none(paren))
            pos = bracket.end()
        elif exact and not colon_only:
            pos = self._skip_stacked_tag(text, pos)
        colon = _COLON.match(text, pos)
        if colon is not None:
            return TagHead(tag, text[colon.end():].strip(), who, slug, issue, len(text))
        if colon_only or not exact or tag in COLON_ONLY_TAGS:
            return None
        for separator in (_DASH, _SPACE_THEN_TEXT):
            found = separator.match(text, pos)
            if found is not None:
                return TagHead(tag, text[found.end():].strip(), who, slug, issue, len(text))
        if _BARE_END.fullmatch(text, pos):
            return TagHead(tag, "", who, slug, issue, len(text))  # `TODO` alone, `XXX!`
        return None

    def _skip_stacked_tag(self, text: str, pos: int) -> int:
        """`TODO FIXME: x` is one entry: past a second exact tag word right after the first."""
        gap = re.compile(r"[ \t]+").match(text, pos)
        if gap is None:
            return pos
        word = _WORD.match(text, gap.end())
        if word is not None and word.group() in self._exact:
            return word.end()
        return pos

    def _doc_command(self, text: str, pos: int) -> TagHead | None:
        m = _DOC_COMMAND.match(text, pos)
        if m is None:
            return None
        tag = self._doc_commands.get(m.group(1).lower())
        if tag is None:
            return None
        return TagHead(tag, text[m.end():].strip(), end=len(text))


def _cut_at_bracket(head: TagHead, text: str, closer: str) -> TagHead:
    """A title written inside brackets ends at the bracket that closes them."""
    title = head.title
    opener = "(" if closer == ")" else "["
    depth = 0
    for i, ch in enumerate(title):
        if ch == opener:
            depth += 1
        elif ch == closer:
            if depth == 0:
                return TagHead(head.tag, title[:i].strip(), head.who, head.slug, head.issue, head.end, True)
            depth -= 1
    return TagHead(head.tag, title, head.who, head.slug, head.issue, head.end, True)


def _blank_to_none(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None
