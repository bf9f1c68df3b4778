"""The `Tracker` facade: the one object the CLI and the dashboard talk to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from collections import namedtuple
from pathlib import Path

from ..config import CONFIG_DIR, LEGACY_CONFIG_FILE, Config, ConfigError, config_path, load_config
from ..errors import FixmeError
from ..scan.gitio import GitError, find_root
from ..scan.scanner import Progress, Scanner, ScanSummary

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..node.keys import Identity
    from ..scan.entry import Entry
    from .fold import StateSource
    from .me import Me
    from .query import EntryQuery, Tally
    from ..scan.quickcheck import StatusCheck
    from .search import IndexReport, SearchHit
    from .workflow import Change, HistoryItem, Written

INIT_GITIGNORE = """\
# fixme's local state (cache, block store, search index) stays on this machine;
# only config.toml is shared through git.
*
!.gitignore
!config.toml
# The older fixme tool's settings and workflow log, when a repository has them.
!config
!log
"""


# Where `list --branch` looks for the main line, in order: the local one first, as the
# branch was most likely made from it.
BASE_BRANCHES = ("main", "master", "origin/HEAD", "origin/main", "origin/master")

MAX_TRUST_NAME = 200   # characters of a name in the trust list: a name, not a text


class SourceLine(namedtuple("SourceLine", "number text is_tag_line")):
    __slots__ = ()


class Tracker:
    def __init__(self, root: Path, config: Config, progress: Progress | None = None,
                 home: Path | None = None):
        self.root = root
        self.config = config
        self.home = home  # $FIXME_HOME: where the user's identity key lives
        self.scanner = Scanner(root, config, progress)
        self._scanned: list[Entry] | None = None  # as the scan left them
        self._entries: list[Entry] | None = None  # the same, records folded in
        self._changes: list[Change] | None = None
        self._folded: dict[str, dict[str, Change]] | None = None
        self._fetched_taken_in = False   # records a plain `git fetch` brought: stored before the log is read
        self.search_notices: list[str] = []  # what the last search could not do (write its index)
        # Hears what the user should know about reading the node's storage
        # (records.db rebuilt from the blocks); None: the node logs it.
        self.notify: Callable[[str], None] | None = None

    @classmethod
    def open(cls, start: Path, progress: Progress | None = None, home: Path | None = None) -> "Tracker":
        """The tracker of the repository containing `start`."""
        try:
            root = find_root(start)
            return cls(root, load_config(root), progress, home)
        except (GitError, ConfigError) as exc:
            raise FixmeError(str(exc)) from None

    # -- scanning --------------------------------------------------------
    def start_scan(self) -> None:
        """Let git start on the quick check now, while the caller gets ready."""
        self.scanner.start_status()

    def scan(self, force: bool = False, known: StatusCheck | None = None, must_save: bool = False,
             fetch_blame: bool = False) -> ScanSummary:
        """Bring the store up to date; `known` is a `git status` check already made;
        `fetch_blame` blames again what could not be blamed, downloads allowed.

        Where the cache cannot be written the scan is kept in memory for this
        tracker (the summary's `unsaved` says why), unless `must_save`: then a
        one-line FixmeError.
        """
        from ..scan.store import StoreDamaged, StoreUnwritable

        self.scanner.allow_fetch = fetch_blame
        try:
            summary = self.scanner.scan(force=force, known=known, must_save=must_save)
        except GitError as exc:
            raise FixmeError(f"git: {exc}") from None
        except (StoreUnwritable, StoreDamaged) as exc:
            raise FixmeError(str(exc)) from None
        finally:
            self.scanner.allow_fetch = False
        self._forget()
        return summary

    def _read_scan(self, reader):
        """reader(store) on the last scan's result (a lost or damaged cache is rebuilt first)."""
        from ..scan.store import StoreDamaged, StoreUnwritable

        try:
            return self.scanner.read(reader)
        except GitError as exc:
            raise FixmeError(f"git: {exc}") from None
        except StoreDamaged as exc:
            raise FixmeError(f"the scan cache could not be rebuilt: {exc}") from None
        except StoreUnwritable as exc:
            raise FixmeError(str(exc)) from None

    def all_entries(self) -> list[Entry]:
        """Every entry the last scan knows, open and gone, with the records folded in."""
        if self._entries is None:
            entries = self._scanned_entries()
            latest = self.folded()
            if latest:  # a repository without records does not load the fold at all
                from .fold import apply_latest

                apply_latest(entries, latest, self.config)
            self._entries = entries
        return self._entries

    def folded(self) -> dict[str, dict[str, Change]]:
        """Per entry and attribute, the trusted record that wins (kept in .fixme/cache/, see folded.py)."""
        if self._folded is None:
            from .folded import folded_state

            self._take_in_fetched()
            self._folded = folded_state(self.root, self.config, self.notify)
        return self._folded

    def changes(self) -> list[Change]:
        """Every record of the tracker's log, as changes, in arrival order."""
        if self._changes is None:
            from .changes import read_changes

            self._take_in_fetched()
            self._changes = read_changes(self.root, self.config, self.notify)
        return self._changes

    def _take_in_fetched(self) -> None:
        """Store the records a plain `git fetch` brought, before reading the log (once; a few
        stat calls when git's refs did not move)."""
        if not self._fetched_taken_in:
            from .gitsync import arrived

            self._fetched_taken_in = True
            arrived(self, self.notify)

    def list(self, query: EntryQuery) -> list[Entry]:
        from .query import select

        return select(self.all_entries(), query, self.config.states)

    def get(self, ref: str) -> Entry:
        """The entry `ref` names (full id, unique prefix, slug, pr:slug), records folded in."""
        from .query import resolve

        if self._entries is not None:
            return resolve(self._entries, ref)
        entry = self._resolve(ref)
        latest = self.folded()
        if latest:
            from .fold import apply_latest

            apply_latest([entry], latest, self.config)
        return entry

    def _resolve(self, ref: str) -> Entry:
        """resolve() among the scanned entries, reading only those the reference can pick."""
        from .query import ref_keys, resolve

        if self._scanned is not None:
            return resolve(self._scanned, ref)
        slug, prefix = ref_keys(ref)
        return resolve(self._read_scan(lambda store: store.entries_named(slug, prefix)), ref)

    def _scanned_entries(self) -> list[Entry]:
        """Entries as the scan left them (enough to resolve an id); the fold works on these."""
        if self._scanned is None:
            self._scanned = self._read_scan(lambda store: store.entries())
        return self._scanned

    def short_id_length(self) -> int:
        from ..scan.identity import short_length

        # Ids do not depend on records, and reading only them costs a tenth of reading entries.
        ids = [e.id for e in self._scanned] if self._scanned is not None else self._read_scan(
            lambda store: store.entry_ids())
        return short_length(list(ids), self.config.short_id_length)

    def state_sources(self, entry: Entry) -> list[StateSource]:
        """Where each shown attribute of `entry` comes from: a record, the source, or both."""
        from .fold import state_sources

        scanned = self._read_scan(lambda store: store.entry(entry.id))
        if scanned is None:
            return []
        return state_sources(scanned, self.folded().get(entry.id, {}), self.config)

    def location_bodies(self, entry: Entry) -> list[tuple[str, int, str]]:
        """(path, line, body) of each place the entry is written, in its order: a slug
        written in several places has a body in each."""
        from textwrap import dedent

        def read(store) -> dict[tuple[str, int], str]:
            return {(stored.path, raw.line): raw.body for stored in store.files({loc.path for loc in entry.locations})
                    for raw, _, entry_id in stored.occurrences if entry_id == entry.id}

        bodies = self._read_scan(read)
        return [(loc.path, loc.line, dedent(bodies.get((loc.path, loc.line), "")).strip("\n"))
                for loc in entry.locations]

    def source_lines(self, entry: Entry, radius: int = 3) -> list[SourceLine]:
        """The lines around an entry's tag line, as they are in the work tree."""
        from ..scan.entry import GONE
        from ..scan.files import Skipped, read_text

        if entry.status == GONE:
            return []  # the line number no longer points at this entry
        text = read_text(self.root / entry.path, self.config.max_file_size)
        if isinstance(text, Skipped):
            return []
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the file's last newline ends its last line; no line follows it
        first = max(1, entry.line - radius)
        last = min(len(lines), entry.line + radius + entry.body.count("\n") + (1 if entry.body else 0))
        return [SourceLine(n, lines[n - 1], n == entry.line) for n in range(first, last + 1)]

    # -- records ---------------------------------------------------------
    def set_attribute(self, ref: str, attr: str, value: str, message: str | None = None,
                      commit: str | None = None) -> Written:
        """Write a signed record that sets an attribute (workflow, assigned, …) of an entry."""
        from .workflow import set_payload

        self._check_attribute(attr, value)
        entry = self._resolve(ref)
        return self._write(entry, set_payload(entry.id, attr, value, message, commit))

    def comment(self, ref: str, text: str) -> Written:
        from .workflow import MAX_TEXT, comment_payload

        text = text.strip()
        if not text:
            raise FixmeError("comment: the text is empty")
        if len(text) > MAX_TEXT:
            raise FixmeError(f"comment: the text is longer than {MAX_TEXT} characters")
        entry = self._resolve(ref)
        return self._write(entry, comment_payload(entry.id, text))

    def history(self, entry_id: str | None = None) -> list[HistoryItem]:
        """Records about one entry (or all), oldest first: causal order, ties by (clock, id)."""
        from ..node.keys import fingerprint, parse_key_text
        from .workflow import HistoryItem

        items = []
        for change in self.changes():
            if entry_id is not None and change.entry != entry_id:
                continue
            name = self.config.trusted_name(change.author) or fingerprint(parse_key_text(change.author))
            items.append(HistoryItem(change.record_id, change.entry, change.op, change.attr, change.value,
                                     change.message, change.commit, change.author, name, change.time_ms,
                                     change.clock, True, change.trusted, change.blob, change.size))
        items.sort(key=lambda item: (item.clock, item.record_id))
        return items

    def attach(self, ref: str, path: Path, name: str | None = None) -> Written:
        """Store a file as a blob and write a signed record attaching it to an entry."""
        from .attachments import check_name, store_file
        from .workflow import attach_payload

        name = check_name(name if name is not None else path.name)
        entry = self._resolve(ref)
        blob, size = store_file(self.root, path)
        return self._write(entry, attach_payload(entry.id, name, blob, size), refs=[blob])

    def attachments(self, entry_id: str) -> list[HistoryItem]:
        """The entry's attachments, oldest first (the same name twice: both are listed)."""
        return [item for item in self.history(entry_id) if item.kind == "attach"]

    def identity(self, create: bool = True) -> Identity | None:
        """The user's signing key, made on first need."""
        from ..node.keys import IdentityError, create_identity, load_identity

        if self.home is None:
            raise FixmeError("no home for the identity key (set FIXME_HOME)")
        try:
            return create_identity(self.home)[0] if create else load_identity(self.home)
        except (IdentityError, OSError) as exc:
            raise FixmeError(str(exc)) from None

    def _check_attribute(self, attr: str, value: str) -> None:
        if attr != "workflow" and attr not in self.config.attributes:
            valid = ", ".join(("workflow",) + self.config.attributes)
            raise FixmeError(f"unknown attribute {attr!r}; valid: {valid}")
        allowed = self.config.allowed_values(attr)
        if allowed is not None and value not in allowed:
            what = "state" if attr == "workflow" else f"value for {attr}"
            raise FixmeError(f"unknown {what} {value!r}; valid: {', '.join(allowed)}")
        if not value.strip() or len(value) > 200 or "\n" in value:
            raise FixmeError(f"{attr}: a value is one line of at most 200 characters")

    def _write(self, entry: Entry, payload: dict, refs: list[str] = ()) -> Written:
        from .changes import append_record, node_dir
        from .workflow import Written

        import sqlite3

        identity = self.identity()
        try:
            record = append_record(self.root, identity, payload, refs, self.notify)
        except OSError as exc:
            raise FixmeError(f"cannot write the record in {node_dir(self.root)}: {exc.strerror or exc}") from None
        except sqlite3.OperationalError as exc:  # records.db in a read-only directory, a full disk
            from ..fsutil import unwritable_reason

            reason = unwritable_reason(node_dir(self.root)) or str(exc)
            raise FixmeError(f"cannot write the record in {node_dir(self.root)}: {reason}") from None
        self._forget()
        trusted = self.config.trusted_name(identity.key_text) is not None
        return Written(entry, record.id, trusted)

    def _forget(self) -> None:
        """Drop what was read: a scan or a record changed it."""
        self._scanned = None
        self._entries = None
        self._changes = None
        self._folded = None

    # -- dashboard -------------------------------------------------------
    def set_progress(self, progress: Progress | None) -> None:
        """Report the phases of later scans to `progress` (the dashboard's status line)."""
        self.scanner.progress = progress or (lambda phase, done, total: None)

    def reload(self) -> None:
        """Read entries and records afresh next time: records came in from elsewhere (a sync)."""
        self._forget()

    # -- hooks and checks ------------------------------------------------
    def apply_commit_trailers(self, event: str, head: str | None = None, event_args: list[str] | None = None,
                              rewrites: str = "") -> list:
        """Apply the `Fixme: ID STATE` trailers of the commits a git hook event is about.

        `rewrites` is post-rewrite's stdin; returns a TrailerOutcome per trailer line.
        """
        from .trailers import hook_trailers

        return hook_trailers(self, event, head, list(event_args or []), rewrites)

    def check(self, since: str | None = None) -> list:
        """The config's [check] rules against the open entries: a Violation per breach.

        `since`: a revision; require_slug then looks only at entries changed after it.
        """
        from ..config import CONFIG_FILE
        from .check import check_entries

        changed = self.commits_since(since) if since is not None else None
        return check_entries(self.all_entries(), self.config.check, f"{CONFIG_DIR}/{CONFIG_FILE}", changed,
                             self.config.closed_states)

    def commits_since(self, rev: str) -> set[str]:
        """The commits reachable from HEAD but not from `rev` (`REV..HEAD`)."""
        from ..scan.gitio import Git

        if not rev.strip() or rev.startswith("-"):
            raise FixmeError(f"--since {rev!r}: not a revision")
        git = Git(self.root)
        base = git.run("rev-parse", "-q", "--verify", f"{rev}^{{commit}}", check=False).decode().strip()
        if not base:
            raise FixmeError(f"--since {rev}: unknown revision")
        head = git.head()
        if head is None:
            return set()
        try:
            return set(git.run("rev-list", head, "--not", base, "--").decode().split())
        except GitError as exc:
            raise FixmeError(f"git: {exc}") from None

    def branch_base(self) -> str:
        """Where this branch left the main line: the merge base of HEAD and the first of
        main, master, origin/HEAD, origin/main, origin/master that exists (`list --branch`)."""
        from ..scan.gitio import Git

        git = Git(self.root)
        for name in BASE_BRANCHES:
            if git.run("rev-parse", "-q", "--verify", f"{name}^{{commit}}", check=False).strip():
                base = git.run("merge-base", "HEAD", name, check=False).decode().strip()
                if base:
                    return base
        raise FixmeError(f"--branch: none of {', '.join(BASE_BRANCHES)} shares history with HEAD; "
                         "give --since REV")

    # -- views -----------------------------------------------------------
    def labels(self) -> set[str]:
        """Every label an entry the scan knows carries (gone ones included)."""
        return {label for entry in self._scanned_entries() for label in entry.labels}

    def me(self) -> Me:
        """The user: git's author identity, and their signing key if they have one."""
        from .me import who_am_i, with_keys

        identity = self.identity(create=False) if self.home is not None else None
        if identity is None:
            return who_am_i(self.root)
        return with_keys(who_am_i(self.root), identity.key_text, identity.fingerprint)

    def tally(self, entries: list[Entry]) -> Tally:
        """`entries` counted by state, tag and author."""
        from .query import tally

        return tally(entries, self.config.states)

    def empty_hint(self, query: EntryQuery) -> str:
        """One line for a list that came out empty: what the query left out, and how to see it."""
        from .query import CLOSED, GONE, OPEN, scope_of

        if query.states or query.scopes != {OPEN}:
            return "no entries match"
        hidden = {CLOSED: 0, GONE: 0}
        for entry in self.all_entries():
            scope = scope_of(entry, self.config.closed_states)
            if scope != OPEN:
                hidden[scope] += 1
        if not hidden[CLOSED] and not hidden[GONE]:
            return "no open entries match"
        return (f"no open entries match ({hidden[CLOSED]} closed and {hidden[GONE]} gone entries are not shown: "
                "--closed, --gone or --all)")

    # -- search ----------------------------------------------------------
    # The index lives in .fixme/index/ (search.py, which imports whoosh only
    # when called). scan() and _write() do nothing for it: it catches up
    # before each search from marks in the scan store and the record log
    # (searchstate.py), so writers stay fast and never load whoosh.
    def search(self, text: str, limit: int | None = 50) -> list[SearchHit]:
        """Entries matching a query (words, "phrases", prefix*, field:value), best first.

        Blank text: no hits. A bad query raises FixmeError with a one-line message.
        Where the index cannot be written, the search runs on one built in
        memory, and `search_notices` says so.
        """
        if not text.strip():
            return []
        from .search import SearchIndex

        def search(store) -> list[SearchHit]:
            index = SearchIndex(self.root, self.config, store=store)
            hits = index.search(text, limit)
            self.search_notices = index.notices
            return hits

        return self._read_scan(search)

    def update_search_index(self) -> IndexReport:
        """Bring the search index up to date (incrementally, or a rebuild when it must)."""
        from .search import SearchIndex

        return self._read_scan(lambda store: SearchIndex(self.root, self.config, store=store).update())

    def search_id_length(self) -> int:
        """short_id_length() as the search index knows it: showing a few hits should not
        load every entry (0.4 s at 20k entries) just to shorten their ids."""
        from .search import SearchIndex

        return self._read_scan(lambda store: SearchIndex(self.root, self.config, store=store).short_id_length())

    # -- set-up ----------------------------------------------------------
    def init(self, user_name: str | None = None) -> list[str]:
        """Write the default config and the git-ignore for local state, and trust the
        initialising user's key; report what was done."""
        import os

        from ..config import default_config_document, set_network_key
        from ..fsutil import atomic_write_bytes
        from ..scan.store import ensure_state_dir

        done: list[str] = []
        state = ensure_state_dir(self.root)
        ignore = state / ".gitignore"
        if ignore.read_text() != INIT_GITIGNORE:
            atomic_write_bytes(ignore, INIT_GITIGNORE.encode())
            done.append(f"wrote {CONFIG_DIR}/.gitignore (local state stays untracked)")
        path = config_path(self.root)
        if path.exists():
            done.append(f"kept existing {CONFIG_DIR}/config.toml")
        elif self.config.is_legacy:  # from here on config.toml wins; .fixme/config is left as it is
            atomic_write_bytes(path, default_config_document(self.config).encode())
            done.append(f"wrote {CONFIG_DIR}/config.toml from {CONFIG_DIR}/{LEGACY_CONFIG_FILE}")
        else:
            atomic_write_bytes(path, default_config_document().encode())
            done.append(f"wrote {CONFIG_DIR}/config.toml with every default")
        if self._edit_config(set_network_key, os.urandom(32).hex()):
            done.append("made a network key (network.key): peers with the same config can sync")
        identity = self.identity()
        name = self._git_user_name() or user_name or identity.fingerprint
        if self.config.trusted_name(identity.key_text) is None:   # init never renames your key
            name = self._init_trust(identity.key_text, name)
            done.append(f"trusted your key {identity.fingerprint} as {name!r}")
        from .gitsync import add_fetch_refspecs

        done += add_fetch_refspecs(self.root)
        return done

    def _init_trust(self, key: str, name: str) -> str:
        """init trusts the user's key under their git name, or under its fingerprint
        when that name will not do (another key has it, or it is no plain name);
        returns the name given."""
        from ..node.keys import fingerprint, parse_key_text

        try:
            self.trust_add(key, name)
            return name.strip()
        except FixmeError:
            name = fingerprint(parse_key_text(key))
            self.trust_add(key, name)
            return name

    # -- trust -----------------------------------------------------------
    def trust_add(self, key: str, name: str) -> bool:
        """Trust `key` (ed25519:hex) under `name` (a key trusted already is renamed);
        False when it is trusted under that name already.

        Refused (FixmeError): a key that is no ed25519 public key, a name another
        key has (names tell authors apart in `log` and `show`: two keys under
        one name would let one pass for the other), and a name that is not one
        line of at most MAX_TRUST_NAME printable characters.
        """
        from ..config import add_trusted_key
        from ..node.keys import is_valid_public_key, parse_key_text

        canonical_key = self._parse_key(key)
        if not is_valid_public_key(parse_key_text(canonical_key)):
            raise FixmeError(f"trust add: {canonical_key} is not an ed25519 public key (not a point of the "
                             "curve): check that it was copied whole")
        name = self._check_trust_name(name)
        if self.config.trusted_name(canonical_key) == name:
            return False
        holder = next((t.key for t in self.config.trusted if t.name == name and t.key != canonical_key), None)
        if holder is not None:
            raise FixmeError(f"trust add: the name {name!r} is already given to {holder}; "
                             "choose another, so that their records can be told apart")
        return self._edit_config(add_trusted_key, canonical_key, name)

    @staticmethod
    def _check_trust_name(name: str) -> str:
        from ..safetext import printable

        name = name.strip()
        if not name:
            raise FixmeError("trust add: the name is empty")
        if len(name) > MAX_TRUST_NAME:
            raise FixmeError(f"trust add: the name is longer than {MAX_TRUST_NAME} characters")
        if printable(name) != name:
            raise FixmeError(f"trust add: the name {printable(name)!r} holds control or invisible formatting "
                             "characters; a name is one line of plain text")
        return name

    def trust_remove(self, key: str) -> bool:
        from ..config import remove_trusted_key

        return self._edit_config(remove_trusted_key, self._parse_key(key))

    def _parse_key(self, key: str) -> str:
        from ..node.keys import key_text, parse_key_text

        try:
            return key_text(parse_key_text(key))
        except ValueError as exc:
            raise FixmeError(str(exc)) from None

    def _edit_config(self, edit, *args) -> bool:
        try:
            changed = edit(config_path(self.root), *args)
            self.config = load_config(self.root)
        except ConfigError as exc:
            raise FixmeError(str(exc)) from None
        self._forget()
        return changed

    def _git_user_name(self) -> str | None:
        try:
            from ..scan.gitio import Git

            return Git(self.root).run("config", "user.name").decode("utf-8", "replace").strip() or None
        except GitError:
            return None
