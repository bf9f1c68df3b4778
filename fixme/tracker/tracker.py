"""The `Tracker` facade: the one object the CLI and the dashboard talk to."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path

from ..config import CONFIG_DIR, Config, ConfigError, config_path, load_config
from ..errors import FixmeError
from .gitio import GitError, find_root
from .scan import Progress, Scanner, ScanSummary

# typing costs ~2 ms to import; type checkers read this name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .entry import Entry
    from .query import EntryQuery
    from .quickcheck import StatusCheck

INIT_GITIGNORE = """\
# fixme's local state (cache, block store, search index) stays on this machine;
# only config.toml is shared through git.
*
!.gitignore
!config.toml
"""


class SourceLine(namedtuple("SourceLine", "number text is_tag_line")):
    __slots__ = ()


class Tracker:
    def __init__(self, root: Path, config: Config, progress: Progress | None = None):
        self.root = root
        self.config = config
        self.scanner = Scanner(root, config, progress)
        self._entries: list[Entry] | None = None

    @classmethod
    def open(cls, start: Path, progress: Progress | None = None) -> "Tracker":
        """The tracker of the repository containing `start`."""
        try:
            root = find_root(start)
            return cls(root, load_config(root), progress)
        except (GitError, ConfigError) as exc:
            raise FixmeError(str(exc)) from None

    # -- scanning --------------------------------------------------------
    def start_scan(self) -> None:
        """Let git start on the quick check now, while the caller gets ready."""
        self.scanner.start_status()

    def scan(self, force: bool = False, known: StatusCheck | None = None) -> ScanSummary:
        """Bring the store up to date; `known` is a `git status` check already made."""
        try:
            summary = self.scanner.scan(force=force, known=known)
        except GitError as exc:
            raise FixmeError(f"git: {exc}") from None
        self._entries = None
        return summary

    def all_entries(self) -> list[Entry]:
        """Every entry the last scan knows, open and gone."""
        if self._entries is None:
            from .store import ScanStore

            store = ScanStore(self.root)
            try:
                self._entries = store.entries()
            finally:
                store.close()
        return self._entries

    def list(self, query: EntryQuery) -> list[Entry]:
        from .query import select

        return select(self.all_entries(), query, self.config.states)

    def get(self, ref: str) -> Entry:
        from .query import resolve

        return resolve(self.all_entries(), ref)

    def short_id_length(self) -> int:
        from .identity import short_length

        return short_length([e.id for e in self.all_entries()], self.config.short_id_length)

    def source_lines(self, entry: Entry, radius: int = 3) -> list[SourceLine]:
        """The lines around an entry's tag line, as they are in the work tree."""
        from .entry import GONE
        from .files import Skipped, read_text

        if entry.status == GONE:
            return []  # the line number no longer points at this entry
        text = read_text(self.root / entry.path, self.config.max_file_size)
        if isinstance(text, Skipped):
            return []
        lines = text.split("\n")
        first = max(1, entry.line - radius)
        last = min(len(lines), entry.line + radius + entry.body.count("\n") + (1 if entry.body else 0))
        return [SourceLine(n, lines[n - 1], n == entry.line) for n in range(first, last + 1)]

    # -- set-up ----------------------------------------------------------
    def init(self) -> list[str]:
        """Write the default config and the git-ignore for local state; report what was done."""
        from ..config import default_config_document
        from ..fsutil import atomic_write_bytes
        from .store import ensure_state_dir

        done: list[str] = []
        state = ensure_state_dir(self.root)
        ignore = state / ".gitignore"
        if ignore.read_text() != INIT_GITIGNORE:
            atomic_write_bytes(ignore, INIT_GITIGNORE.encode())
            done.append(f"wrote {CONFIG_DIR}/.gitignore (local state stays untracked)")
        path = config_path(self.root)
        if path.exists():
            done.append(f"kept existing {CONFIG_DIR}/config.toml")
        else:
            atomic_write_bytes(path, default_config_document().encode())
            done.append(f"wrote {CONFIG_DIR}/config.toml with every default")
        return done
