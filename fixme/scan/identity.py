"""Entry identity: slugs, content ids, and short ids.

* A one-token title (or an explicit `TAG[slug]:`) is a slug: the entry is
  named by it across the whole repository. `PR: slug` is a separate entry.
* Otherwise the id hashes (path, normalised title, n-th occurrence of that
  title in the file). The path is the one the tag line had in the commit
  that wrote it (what blame reports), so the id follows git renames, and
  line moves or body edits leave it alone. Every clone computes the same id
  from the same history.
"""

from __future__ import annotations

import re

from hashlib import sha256

ID_HEX = 40
_SLUG = re.compile(r"[^\s]+\Z")
_WORDS = re.compile(r"[\w]+")


def slug_of(title: str, explicit: str | None) -> str | None:
    """The slug an entry is named by, if any."""
    if explicit:
        return explicit
    title = title.strip()
    return title if title and _SLUG.match(title) else None


def normalise_title(title: str) -> str:
    """Case, spacing and punctuation do not change what an entry is about."""
    return " ".join(_WORDS.findall(title.casefold()))


def slug_id(slug: str, is_pr: bool) -> str:
    return _hash("pr" if is_pr else "slug", slug)


def content_id(path: str, title: str, occurrence: int) -> str:
    return _hash("entry", path, normalise_title(title), str(occurrence))


def _hash(*parts: str) -> str:
    data = "\0".join(("fixme-id-v1", *parts)).encode("utf-8", "surrogateescape")
    return sha256(data).hexdigest()[:ID_HEX]


def short_length(ids: list[str], minimum: int) -> int:
    """The shortest prefix length, at least `minimum`, that keeps all ids distinct.

    Tried length by length from `minimum` up: with 40-hex ids it is found
    at the first or second try, in a few ms at 10k ids, where comparing
    sorted neighbours character by character took ~40 ms.
    """
    distinct = set(ids)
    for length in range(max(minimum, 1), ID_HEX):
        if len({entry_id[:length] for entry_id in distinct}) == len(distinct):
            return length
    return ID_HEX
