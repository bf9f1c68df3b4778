"""From tag occurrences (grammar output + blame) to entries.

Occurrences that share a slug become one entry with several locations; the
latest-dated occurrence supplies the text. PR entries are linked to the
TODO/FIXME entry of the same slug, and the link shows on both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..config import Config
from .blame import Origin
from .body import BodyInfo, parse_body
from .entry import Entry, Location, iso_date
from .identity import content_id, normalise_title, slug_id, slug_of
from .model import TASKLIST, RawEntry


@dataclass
class Occurrence:
    """A tag occurrence with the blame of its tag line."""

    path: str
    raw: RawEntry
    origin: Origin

    def sort_date(self, now: float) -> str:
        """What "latest-dated" compares: the devlog heading, else the commit date."""
        if self.raw.devlog_date and not self.raw.warnings:
            return self.raw.devlog_date
        stamp = self.origin.time if self.origin.time is not None else now
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp))


def identify(path: str, found: list[tuple[RawEntry, Origin]]) -> list[str]:
    """The entry id of each occurrence in one file (same order as `found`).

    Non-slug ids count the n-th occurrence of a title within the file, so
    only the file itself is needed to name its entries.
    """
    seen: dict[str, int] = {}
    ids: list[str] = [""] * len(found)
    for i in sorted(range(len(found)), key=lambda i: found[i][0].line):
        raw, origin = found[i]
        slug = slug_of(raw.title, raw.slug)
        if slug is not None:
            ids[i] = slug_id(slug, raw.tag == "PR")
            continue
        title = normalise_title(raw.title)
        nth = seen.get(title, 0)
        seen[title] = nth + 1
        ids[i] = content_id(origin.path, raw.title, nth)
    return ids


def build_entry(entry_id: str, group: list[Occurrence], config: Config) -> Entry:
    """One entry from all its occurrences; the latest-dated one supplies the text."""
    return _build(entry_id, group, config, time.time())


def counterpart_id(entry: Entry) -> str | None:
    """The id a slug entry links to: its PR, or the TODO/FIXME a PR fixes."""
    if not entry.slug:
        return None
    return slug_id(entry.slug, entry.tag != "PR")


def set_links(entry: Entry, counterpart_open: bool) -> None:
    other = counterpart_id(entry)
    entry.links = []
    if other is not None and counterpart_open:
        rel = "fixes" if entry.tag == "PR" else "pr"
        entry.links.append({"rel": rel, "id": other, "slug": entry.slug})


def _build(entry_id: str, group: list[Occurrence], config: Config, now: float) -> Entry:
    by_date = sorted(group, key=lambda o: (o.sort_date(now), o.path, o.raw.line))
    primary = by_date[-1]
    raw = primary.raw
    info = _parse(raw, config)
    fields, attrs, labels, context = {}, {}, [], []
    for occ in by_date:  # oldest first, so the latest text wins
        parsed = info if occ is primary else _parse(occ.raw, config)
        fields.update(parsed.fields)
        attrs.update(parsed.attrs)
        labels += [label for label in parsed.labels if label not in labels]
        context += [c for c in parsed.context if c not in context]
    if raw.who and "assigned" not in fields:
        fields["assigned"] = raw.who
    if raw.issue and "issue" not in fields:
        fields["issue"] = raw.issue
    warnings = list(dict.fromkeys(f"{occ.path}: {w}" for occ in group for w in occ.raw.warnings))
    entry = Entry(
        id=entry_id,
        tag=raw.tag,
        slug=slug_of(raw.title, raw.slug),
        title=raw.title,
        body=raw.body,
        path=primary.path,
        line=raw.line,
        source=raw.source,
        locations=[_location(o) for o in sorted(group, key=lambda o: (o.path, o.raw.line))],
        commit=primary.origin.commit,
        author=primary.origin.author,
        author_email=primary.origin.email,
        date=iso_date(primary.origin.time, primary.origin.tz),
        unblamed=primary.origin.unblamed,
        devlog_date=raw.devlog_date,
        fields=fields,
        attrs=attrs,
        labels=labels,
        context=context,
        warnings=warnings,
    )
    entry.workflow = _source_workflow(entry, raw, config)
    return entry


def _parse(raw: RawEntry, config: Config) -> BodyInfo:
    return parse_body(raw.title, raw.body, config.fields, raw.directives)


def _location(occ: Occurrence) -> Location:
    o = occ.origin
    return Location(
        path=occ.path,
        line=occ.raw.line,
        source=occ.raw.source,
        commit=o.commit,
        author=o.author,
        author_email=o.email,
        date=iso_date(o.time, o.tz),
        devlog_date=occ.raw.devlog_date,
        origin_path=o.path,
        unblamed=o.unblamed,
    )


def _source_workflow(entry: Entry, raw: RawEntry, config: Config) -> str:
    """The workflow the source itself states; records (if any) fold on top later."""
    stated = entry.attrs.get("workflow")
    if stated is not None:
        if stated in config.states:
            return stated
        entry.warnings.append(f"unknown workflow state {stated!r} (valid: {', '.join(config.states)})")
    if raw.source == TASKLIST and raw.done:
        return "done" if "done" in config.states else config.closed_states[0] if config.closed_states else config.initial_state
    return config.initial_state
