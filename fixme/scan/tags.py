"""Recognising a tag at the start of a piece of comment or prose text.

Accepted forms (TAG is one of the configured tags, matched case-sensitively):

    TAG: title
    TAG(who): title
    TAG[slug]: title

The tag must be a whole word followed by ':' (possibly after the (who) or
[slug] part), so words like TODOS or fixmeup never match.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Iterable


class TagHead(namedtuple("TagHead", "tag title who slug end")):
    """What a tag line says before its body: the parts of `TAG(who): title`.

    `end` is the offset just past the matched text.
    """

    __slots__ = ()


class TagSyntax:
    """Matches `TAG: title` forms for a configured set of tags."""

    def __init__(self, tags: Iterable[str]):
        self.tags = tuple(dict.fromkeys(tags))
        if not self.tags:
            raise ValueError("at least one tag must be configured")
        alternatives = "|".join(re.escape(t) for t in sorted(self.tags, key=len, reverse=True))
        self._head = re.compile(
            r"(?P<tag>%s)(?:\((?P<who>[^()\n]*)\)|\[(?P<slug>[^\[\]\n]*)\])?:(?=\s|$)[ \t]*(?P<title>[^\n]*)"
            % alternatives
        )
        # A cheap pre-filter: does this text mention any tag at all? The word
        # boundary is checked after the literal, so the regex engine can skip
        # ahead to candidate tags instead of trying every position.
        guarded = "|".join(
            "%s(?<![A-Za-z0-9_]%s)" % (re.escape(t), re.escape(t)) for t in self.tags
        )
        self.anywhere = re.compile(r"(?:%s)[(\[:]" % guarded)

    def match(self, text: str, pos: int = 0) -> TagHead | None:
        """Match a tag head exactly at `pos` of `text` (no leading space skipped)."""
        m = self._head.match(text, pos)
        if m is None:
            return None
        who = (m.group("who") or "").strip() or None
        slug = (m.group("slug") or "").strip() or None
        return TagHead(m.group("tag"), m.group("title").strip(), who, slug, m.end())

    def mentions_any(self, text: str) -> bool:
        """True if `text` could hold an entry; used to skip files quickly."""
        return self.anywhere.search(text) is not None
