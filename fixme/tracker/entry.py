"""The tracker's unit of work: an entry, with every place it is written."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone

OPEN = "open"
GONE = "gone"


@dataclass
class Location:
    """One place an entry is written, with the blame of its tag line."""

    path: str
    line: int
    source: str
    commit: str | None = None  # None: not committed yet
    author: str | None = None
    author_email: str | None = None
    date: str | None = None  # ISO 8601 author date of the tag line
    devlog_date: str | None = None
    origin_path: str | None = None  # the path in the commit that wrote the line


@dataclass
class Entry:
    id: str
    tag: str
    slug: str | None
    title: str
    body: str
    path: str
    line: int
    source: str
    locations: list[Location]
    commit: str | None = None
    author: str | None = None
    author_email: str | None = None
    date: str | None = None
    devlog_date: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, str] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    context: list[dict] = field(default_factory=list)
    links: list[dict] = field(default_factory=list)
    workflow: str = "new"
    status: str = OPEN
    first_seen: str | None = None  # HEAD when this clone first saw it
    seen_at: str | None = None  # HEAD when last seen in the work tree
    gone_commit: str | None = None  # HEAD when first seen missing
    warnings: list[str] = field(default_factory=list)

    @property
    def uncommitted(self) -> bool:
        return self.commit is None

    def to_dict(self) -> dict:
        """A plain-data copy (what JSON output and the cache hold).

        Written out by hand: dataclasses.asdict deep-copies every value and
        costs seconds on tens of thousands of entries.
        """
        data = {name: getattr(self, name) for name in _ENTRY_FIELDS}
        data["locations"] = [dict(vars(loc)) for loc in self.locations]
        data["fields"] = dict(self.fields)
        data["attrs"] = dict(self.attrs)
        data["labels"] = list(self.labels)
        data["context"] = [dict(c) for c in self.context]
        data["links"] = [dict(link) for link in self.links]
        data["warnings"] = list(self.warnings)
        data["uncommitted"] = self.uncommitted
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Entry":
        values = {k: v for k, v in data.items() if k in _ENTRY_FIELDS}
        values["locations"] = [Location(**loc) for loc in data.get("locations", [])]
        return cls(**values)


_ENTRY_FIELDS = tuple(f.name for f in fields(Entry))


def iso_date(epoch: int | None, tz: str | None) -> str | None:
    """git's author time and zone as ISO 8601 with the author's offset."""
    if epoch is None:
        return None
    offset = timezone.utc
    if tz and len(tz) == 5 and tz[0] in "+-" and tz[1:].isdigit():
        minutes = int(tz[1:3]) * 60 + int(tz[3:5])
        offset = timezone(timedelta(minutes=minutes if tz[0] == "+" else -minutes))
    return datetime.fromtimestamp(epoch, offset).isoformat()
