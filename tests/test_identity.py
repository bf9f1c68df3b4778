"""Entry ids and how a reference selects an entry."""

from __future__ import annotations

import pytest

from fixme.errors import Ambiguous, NotFound
from fixme.scan.entry import Entry
from fixme.scan.identity import content_id, normalise_title, short_length, slug_id, slug_of
from fixme.tracker.query import resolve


def entry(entry_id: str, slug: str | None = None, tag: str = "TODO") -> Entry:
    return Entry(id=entry_id, tag=tag, slug=slug, title=slug or "t", body="", path="a.py", line=1,
                 source="code", locations=[])


def test_slugs_are_one_token_titles_or_explicit():
    assert slug_of("atomic-ref-update", None) == "atomic-ref-update"
    assert slug_of("two words", None) is None
    assert slug_of("two words", "explicit") == "explicit"
    assert slug_of("", None) is None


def test_ids_ignore_case_spacing_and_punctuation_but_not_words_path_or_rank():
    base = content_id("a.py", "Fix the parser!", 0)
    assert content_id("a.py", "fix  the parser", 0) == base
    assert content_id("a.py", "fix the lexer", 0) != base
    assert content_id("b.py", "fix the parser", 0) != base
    assert content_id("a.py", "fix the parser", 1) != base
    assert normalise_title("  Fix: the PARSER. ") == "fix the parser"
    assert slug_id("x", is_pr=True) != slug_id("x", is_pr=False)


def test_short_length_grows_until_unique():
    assert short_length(["abcdef0", "1234567"], 4) == 4
    assert short_length(["abcdef01", "abcdef02"], 4) == 8


def test_resolve_by_prefix_slug_and_pr_slug():
    todo = entry("abcd1111" + "0" * 32, slug="refs")
    pr = entry("abcd2222" + "0" * 32, slug="refs", tag="PR")
    other = entry("ffff0000" + "0" * 32)
    entries = [todo, pr, other]
    assert resolve(entries, "refs") is todo
    assert resolve(entries, "pr:refs") is pr
    assert resolve(entries, "ffff") is other
    assert resolve(entries, "abcd2") is pr
    with pytest.raises(Ambiguous) as err:
        resolve(entries, "abcd")
    assert err.value.candidates == [todo, pr]
    with pytest.raises(NotFound):
        resolve(entries, "abc")  # too short to be a prefix
    with pytest.raises(NotFound):
        resolve(entries, "nothing-like-it")


def test_iso_date_says_what_datetime_says():
    from datetime import datetime, timedelta, timezone

    from fixme.scan.entry import iso_date

    for epoch in (0, -1, 1_700_000_000, 951_782_400, -2_000_000_000, 253_402_200_000):
        for tz in ("+0000", "-0000", "+0530", "-1200", "+1400", "-2359", "bogus", None):
            offset = timezone.utc
            if tz and tz != "bogus":
                minutes = int(tz[1:3]) * 60 + int(tz[3:5])
                offset = timezone(timedelta(minutes=minutes if tz[0] == "+" else -minutes))
            assert iso_date(epoch, tz) == datetime.fromtimestamp(epoch, offset).isoformat(), (epoch, tz)
    assert iso_date(None, "+0100") is None
