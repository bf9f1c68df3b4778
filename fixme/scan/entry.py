"""The tracker's unit of work: an entry, with every place it is written."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

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
    unblamed: str | None = None  # why git could not blame the line (then commit is None too)


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
    unblamed: str | None = None  # why git could not blame the tag line

    @property
    def uncommitted(self) -> bool:
        """The tag line is not in a commit yet (as opposed to one git could not blame)."""
        return self.commit is None and self.unblamed is None

    def to_dict(self) -> dict[str, Any]:
        """A plain-data copy (what JSON output and the cache hold).

        One level of copying by hand: dataclasses.asdict deep-copies every
        value, which costs seconds on tens of thousands of entries.
        """
        data = {name: getattr(self, name) for name in _ENTRY_FIELDS}
        data["locations"] = [{name: getattr(loc, name) for name in _LOCATION_FIELDS} for loc in self.locations]
        for name in ("fields", "attrs"):
            data[name] = dict(data[name])
        for name in ("labels", "warnings"):
            data[name] = list(data[name])
        data["context"] = [dict(c) for c in self.context]
        data["links"] = [dict(link) for link in self.links]
        data["uncommitted"] = self.uncommitted
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        values = {k: v for k, v in data.items() if k in _ENTRY_FIELDS}
        values["locations"] = [Location(**loc) for loc in data.get("locations", [])]
        return cls(**values)


_ENTRY_FIELDS = tuple(f.name for f in fields(Entry))
_LOCATION_FIELDS = tuple(f.name for f in fields(Location))


def iso_date(epoch: int | None, tz: str | None) -> str | None:
    """git's author time and zone as ISO 8601 with the author's offset.

    What datetime.fromtimestamp(epoch, offset).isoformat() says, computed
    with time.gmtime: importing datetime costs ~1 ms of a small scan.
    """
    if epoch is None:
        return None
    minutes = 0  # an unreadable zone counts as UTC
    if tz and len(tz) == 5 and tz[0] in "+-" and tz[1:].isdigit():
        minutes = int(tz[1:3]) * 60 + int(tz[3:5])
        minutes = minutes if tz[0] == "+" else -minutes
    t = time.gmtime(epoch + minutes * 60) if abs(minutes) < 24 * 60 else None
    if t is None or not 1 <= t.tm_year <= 9999:
        return _iso_date_via_datetime(epoch, minutes)  # out of datetime's range: its own error
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return (f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
            f"{sign}{hours:02d}:{mins:02d}")


def _iso_date_via_datetime(epoch: int, minutes: int) -> str:
    from datetime import datetime, timedelta, timezone

    return datetime.fromtimestamp(epoch, timezone(timedelta(minutes=minutes))).isoformat()


# -- how an entry reads in a table (the CLI's and the dashboard's) -----------------


def shown_state(entry: Entry) -> str:
    """The state a person reads: the workflow state, or "gone" once the entry left the tree."""
    return GONE if entry.status == GONE else entry.workflow


def location_label(entry: Entry) -> str:
    """`path:line`, and how many more places the entry is at (a slug in several files)."""
    return entry.path + location_suffix(entry)


def location_suffix(entry: Entry) -> str:
    """What follows the path in a location: `:line`, and ` (+N)` for N more places (a table
    cuts the path, never this)."""
    extra = f" (+{len(entry.locations) - 1})" if len(entry.locations) > 1 else ""
    return f":{entry.line}{extra}"


def age_label(entry: Entry, now: "datetime | None" = None, uncommitted: str = "uncommitted") -> str:
    """How old the tag line is: today, 12d, 5mo, 3y; `uncommitted` for a line not committed yet."""
    from datetime import datetime, timezone  # only tables show ages; a scan summary does not

    if entry.date is None:
        return "unblamed" if entry.unblamed else uncommitted
    try:
        then = datetime.fromisoformat(entry.date)
    except ValueError:
        return "?"
    days = ((now or datetime.now(timezone.utc)) - then).days
    if days < 1:
        return "today"
    if days < 60:
        return f"{days}d"
    if days < 730:
        return f"{days // 30}mo"
    return f"{days // 365}y"
