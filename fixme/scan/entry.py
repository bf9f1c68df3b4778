"""The tracker's unit of work: an entry, with every place it is written."""

from __future__ import annotations

import time

from ..record import Record

# typing costs ~2 ms to import; type checkers read this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime

OPEN = "open"
GONE = "gone"


class Location(Record):
    """One place an entry is written, with the blame of its tag line."""

    __slots__ = ("path", "line", "source", "commit", "author", "author_email", "date", "devlog_date",
                 "origin_path")

    def __init__(self, path: str, line: int, source: str, commit: str | None = None, author: str | None = None,
                 author_email: str | None = None, date: str | None = None, devlog_date: str | None = None,
                 origin_path: str | None = None):
        self.path = path
        self.line = line
        self.source = source
        self.commit = commit  # None: not committed yet
        self.author = author
        self.author_email = author_email
        self.date = date  # ISO 8601 author date of the tag line
        self.devlog_date = devlog_date
        self.origin_path = origin_path  # the path in the commit that wrote the line


class Entry(Record):
    __slots__ = ("id", "tag", "slug", "title", "body", "path", "line", "source", "locations", "commit", "author",
                 "author_email", "date", "devlog_date", "fields", "attrs", "labels", "context", "links",
                 "workflow", "status", "first_seen", "seen_at", "gone_commit", "warnings")

    def __init__(self, id: str, tag: str, slug: str | None, title: str, body: str, path: str, line: int,
                 source: str, locations: list[Location], commit: str | None = None, author: str | None = None,
                 author_email: str | None = None, date: str | None = None, devlog_date: str | None = None,
                 fields: dict[str, str] | None = None, attrs: dict[str, str] | None = None,
                 labels: list[str] | None = None, context: list[dict] | None = None,
                 links: list[dict] | None = None, workflow: str = "new", status: str = OPEN,
                 first_seen: str | None = None, seen_at: str | None = None, gone_commit: str | None = None,
                 warnings: list[str] | None = None):
        self.id = id
        self.tag = tag
        self.slug = slug
        self.title = title
        self.body = body
        self.path = path
        self.line = line
        self.source = source
        self.locations = locations
        self.commit = commit
        self.author = author
        self.author_email = author_email
        self.date = date
        self.devlog_date = devlog_date
        self.fields = {} if fields is None else fields
        self.attrs = {} if attrs is None else attrs
        self.labels = [] if labels is None else labels
        self.context = [] if context is None else context
        self.links = [] if links is None else links
        self.workflow = workflow
        self.status = status
        self.first_seen = first_seen  # HEAD when this clone first saw it
        self.seen_at = seen_at  # HEAD when last seen in the work tree
        self.gone_commit = gone_commit  # HEAD when first seen missing
        self.warnings = [] if warnings is None else warnings

    @property
    def uncommitted(self) -> bool:
        return self.commit is None

    def to_dict(self) -> dict:
        """A plain-data copy (what JSON output and the cache hold).

        Written out by hand: a deep copy of every value (dataclasses.asdict)
        costs seconds on tens of thousands of entries.
        """
        data = self.as_dict()
        data["locations"] = [loc.as_dict() for loc in self.locations]
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


_ENTRY_FIELDS = frozenset(Entry.__slots__)


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
    extra = f" (+{len(entry.locations) - 1})" if len(entry.locations) > 1 else ""
    return f"{entry.path}:{entry.line}{extra}"


def age_label(entry: Entry, now: "datetime | None" = None, uncommitted: str = "uncommitted") -> str:
    """How old the tag line is: today, 12d, 5mo, 3y; `uncommitted` for a line not committed yet."""
    from datetime import datetime, timezone  # only tables show ages; a scan summary does not

    if entry.date is None:
        return uncommitted
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
