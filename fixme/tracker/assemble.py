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
from .body import parse_body
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


def assemble(occurrences: list[Occurrence], config: Config) -> list[Entry]:
    """Group occurrences by identity and build one Entry per group."""
    groups: dict[str, list[Occurrence]] = {}
    for entry_id, occurrence in _identify(occurrences):
        groups.setdefault(entry_id, []).append(occurrence)
    now = time.time()
    entries = [_build(entry_id, group, config, now) for entry_id, group in groups.items()]
    _link_prs(entries)
    entries.sort(key=lambda e: (e.path, e.line))
    return entries


def _identify(occurrences: list[Occurrence]):
    seen: dict[tuple[str, str], int] = {}
    for occ in sorted(occurrences, key=lambda o: (o.path, o.raw.line)):
        slug = slug_of(occ.raw.title, occ.raw.slug)
        if slug is not None:
            yield slug_id(slug, occ.raw.tag == "PR"), occ
            continue
        key = (occ.path, normalise_title(occ.raw.title))
        nth = seen.get(key, 0)
        seen[key] = nth + 1
        yield content_id(occ.origin.path, occ.raw.title, nth), occ


def _build(entry_id: str, group: list[Occurrence], config: Config, now: float) -> Entry:
    by_date = sorted(group, key=lambda o: (o.sort_date(now), o.path, o.raw.line))
    primary = by_date[-1]
    raw = primary.raw
    info = parse_body(raw.title, raw.body, config.fields)
    fields, attrs, labels, context = {}, {}, [], []
    for occ in by_date:  # oldest first, so the latest text wins
        parsed = info if occ is primary else parse_body(occ.raw.title, occ.raw.body, config.fields)
        fields.update(parsed.fields)
        attrs.update(parsed.attrs)
        labels += [label for label in parsed.labels if label not in labels]
        context += [c for c in parsed.context if c not in context]
    if raw.who and "assigned" not in fields:
        fields["assigned"] = raw.who
    warnings = [w for occ in group for w in occ.raw.warnings]
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
        devlog_date=raw.devlog_date,
        fields=fields,
        attrs=attrs,
        labels=labels,
        context=context,
        warnings=warnings,
    )
    entry.workflow = _source_workflow(entry, raw, config)
    return entry


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


def _link_prs(entries: list[Entry]) -> None:
    issues = {e.slug: e for e in entries if e.slug and e.tag != "PR"}
    for pr in (e for e in entries if e.slug and e.tag == "PR"):
        issue = issues.get(pr.slug)
        if issue is None:
            continue
        pr.links.append({"rel": "fixes", "id": issue.id, "slug": issue.slug})
        issue.links.append({"rel": "pr", "id": pr.id, "slug": pr.slug})
