"""The scan's memory between runs, under `.fixme/cache/` (git-ignored).

Four files, so that the common case reads only the small one:

* state.json   what the work tree looked like at the last scan (HEAD, the
               `git status` output, sizes and mtimes of changed files) and
               the summary; enough to tell that nothing changed.
* files.json   per scanned path: the key it was parsed under (blob id or
               stat) and the raw occurrences found in it.
* blame.json   tag-line blame by blob id: an unchanged file is never blamed
               twice.
* entries.json every entry ever seen, open or gone: what `list` shows.

Anything unreadable is treated as absent: the scan redoes the work.
"""

from __future__ import annotations

from pathlib import Path

from ..fsutil import atomic_write_json, read_json
from .blame import Origin
from .entry import Entry
from .model import RawEntry

CACHE_VERSION = 1
LOCAL_GITIGNORE = "# fixme's local state; only the config is shared.\n*\n"


def state_dir(root: Path) -> Path:
    return root / ".fixme"


def ensure_state_dir(root: Path) -> Path:
    """Create `.fixme/` so that git never sees its local state.

    An uninitialised repository gets a `.gitignore` that ignores everything
    (itself included), so scanning leaves `git status` clean.
    """
    directory = state_dir(root)
    directory.mkdir(exist_ok=True)
    ignore = directory / ".gitignore"
    if not ignore.exists():
        ignore.write_text(LOCAL_GITIGNORE)
    return directory


class ScanCache:
    def __init__(self, root: Path):
        self.dir = state_dir(root) / "cache"

    def _load(self, name: str) -> dict:
        data = read_json(self.dir / name)
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            return {}
        return data

    def _save(self, name: str, data: dict) -> None:
        atomic_write_json(self.dir / name, {"version": CACHE_VERSION, **data})

    # -- state -----------------------------------------------------------
    def load_state(self) -> dict:
        return self._load("state.json")

    def save_state(self, state: dict) -> None:
        self._save("state.json", state)

    # -- files -----------------------------------------------------------
    def load_files(self) -> dict:
        data = self._load("files.json")
        return data if isinstance(data.get("files"), dict) else {}

    def save_files(self, head: str | None, tree: dict[str, str], files: dict[str, dict]) -> None:
        self._save("files.json", {"head": head, "tree": tree, "files": files})

    # -- blame -----------------------------------------------------------
    def load_blame(self) -> "BlameCache":
        data = self._load("blame.json")
        return BlameCache(data.get("commits", {}), data.get("blobs", {}))

    def save_blame(self, blame: "BlameCache") -> None:
        self._save("blame.json", {"commits": blame.commits, "blobs": blame.blobs})

    # -- entries ---------------------------------------------------------
    def load_entries(self) -> list[Entry] | None:
        data = self._load("entries.json")
        try:
            return [Entry.from_dict(d) for d in data["entries"]]
        except (KeyError, TypeError, ValueError):
            return None

    def save_entries(self, entries: list[Entry]) -> None:
        self._save("entries.json", {"entries": [e.to_dict() for e in entries]})


class BlameCache:
    """Tag-line origins by blob id, with commit details stored once."""

    def __init__(self, commits: dict, blobs: dict):
        self.commits: dict[str, list] = commits if isinstance(commits, dict) else {}
        self.blobs: dict[str, dict[str, list]] = blobs if isinstance(blobs, dict) else {}

    def lookup(self, blob: str, lines: set[int]) -> tuple[dict[int, Origin], set[int]]:
        """Known origins for `lines` of `blob`, and the lines still to blame."""
        known = self.blobs.get(blob, {})
        found: dict[int, Origin] = {}
        missing: set[int] = set()
        for n in lines:
            cell = known.get(str(n))
            origin = self._origin(cell) if cell else None
            if origin is None:
                missing.add(n)
            else:
                found[n] = origin
        return found, missing

    def _origin(self, cell: list) -> Origin | None:
        try:
            sha, path = cell
            author, email, when, tz = self.commits[sha]
            return Origin(sha, author, email, when, tz, path)
        except (KeyError, ValueError, TypeError):
            return None

    def store(self, blob: str, origins: dict[int, Origin]) -> None:
        cells = self.blobs.setdefault(blob, {})
        for n, o in origins.items():
            if o.commit is None:
                continue
            self.commits[o.commit] = [o.author, o.email, o.time, o.tz]
            cells[str(n)] = [o.commit, o.path]

    def keep_only(self, blobs: set[str]) -> None:
        """Forget blobs no longer in the tree, and commits nothing refers to."""
        self.blobs = {b: v for b, v in self.blobs.items() if b in blobs}
        used = {cell[0] for cells in self.blobs.values() for cell in cells.values()}
        self.commits = {c: v for c, v in self.commits.items() if c in used}


def raw_to_dict(raw: RawEntry) -> dict:
    """Only the fields that differ from their defaults, to keep files.json small."""
    data = {"tag": raw.tag, "title": raw.title, "line": raw.line, "source": raw.source}
    for name in _RAW_OPTIONAL:
        value = getattr(raw, name)
        if value:
            data[name] = list(value) if isinstance(value, list) else value
    return data


_RAW_OPTIONAL = ("body", "column", "who", "slug", "devlog_date", "done", "warnings")


def raw_from_dict(data: dict) -> RawEntry:
    return RawEntry(**data)


def origin_to_list(o: Origin) -> list:
    return [o.commit, o.author, o.email, o.time, o.tz, o.path]


def origin_from_list(cell: list) -> Origin:
    return Origin(*cell)
