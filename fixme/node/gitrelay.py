"""A record log carried through a git remote: the git transport, beside the p2p node.

docs/git-transport.md specifies the layout byte for byte. In short: every
clone that writes keeps one ref, `refs/fixme/records/<key>/<clone>`, a chain
of commits whose tree holds every record of its log as a blob named by the
record's id (`ab/<62 more hex digits>`). Only that clone moves that ref, and
only forward, so pushes never conflict. A fetch copies the remote's
`refs/fixme/*` into `refs/fixme-remotes/<remote>/`, a namespace of fixme's
own: no fetch ever writes the user's refs.

The remote is an untrusted relay. What comes from it passes the checks a
peer's records pass (hash, form, signature and log on verifier threads while
git streams the blobs, then parents and clocks: RecordLog.ingest_verified)
plus the author check the node makes (`accept_author`); before
that, every object is sized with `cat-file --batch-check` before it is
read, every name in a tree is checked against the one spelling the layout
allows, and entries per tree and records per ref are capped. Whatever is
refused is reported with its reason and never stored. A writer ref that
moves other than forward is refused from then on.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from . import canonical
from .gitobjects import Git, GitFailed, ObjectInfo, TreeEntry, TreeFormatError, parse_tree
from .hashing import PREFIX, block_id
from .keys import fingerprint
from .log import VERIFY_PIECE, VERIFY_THREADS
from .records import MAX_RECORD_BYTES

if TYPE_CHECKING:
    from .log import RecordLog
    from .refs import Refs

RECORDS_PREFIX = "refs/fixme/records/"
TRACKING_PREFIX = "refs/fixme-remotes/"
FETCH_REFSPEC = "+refs/fixme/*:refs/fixme-remotes/{remote}/*"
WRITER = re.compile(r"[0-9a-f]{16}/[0-9a-f]{16}\Z")
FANOUT_NAME = re.compile(rb"[0-9a-f]{2}\Z")
LEAF_NAME = re.compile(rb"[0-9a-f]{62}\Z")
TREE_MODE = b"40000"
BLOB_MODE = b"100644"

# Caps on what a remote can make us read. Sizes come from `cat-file
# --batch-check` before any content is read.
MAX_COMMIT_BYTES = 64 * 1024
MAX_FANOUT = 256                 # entries of a root tree: one per two-hex-digit prefix
MAX_TREE_ENTRIES = 65_536        # entries of one fan-out tree
MAX_RECORDS_PER_REF = 2_000_000  # as many as one peer session may bring (reconcile.MAX_RECORDS_PER_PULL)
MAX_WRITER_REFS = 10_000         # writer refs read from one remote
MAX_BLOB_BYTES = MAX_RECORD_BYTES
# The longest a tree entry can be: mode, space, name, NUL, a sha256 id.
_ENTRY_BYTES = len(BLOB_MODE) + 1 + 62 + 1 + 32

CLONE_REF = "gitrelay/clone"     # in the node's own refs (refs.py): this clone's id
SEEN_REF = "gitrelay/seen"       # per remote, per writer ref: the tip read last and whether it is settled
COMMITTER = "fixme <fixme@localhost>"
AUTHOR_START = b'{"author":"'
AUTHOR_END = len(AUTHOR_START) + len("ed25519:") + 64


@dataclass
class GitSyncReport:
    """What one sync with a remote did (or, with dry_run, would do)."""
    remote: str
    records_in: int = 0
    records_out: int = 0
    refused: list[str] = field(default_factory=list)               # "where: reason"
    untrusted: dict[str, int] = field(default_factory=dict)        # author -> records not taken
    waiting: int = 0
    refs_read: int = 0
    pushed: bool = False
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class _Leaf:
    """A record a writer ref names, and where."""
    ref: str
    oid: str


@dataclass
class _RefState:
    tip: str
    settled: bool   # every record it names is in the log or refused for good: no need to read it again


class GitRelay:
    """The git transport of one record log, in one repository."""

    def __init__(self, git: Git, log: RecordLog, state: Refs, author: bytes,
                 accept_author: Callable[[str, str], bool], prompts: bool = True):
        self.git = git
        self.log = log
        self.state = state
        self.author = author
        self.accept_author = accept_author
        # A run without a terminal (a hook) must fail rather than wait for a password nobody types.
        # (ssh cannot prompt either there: a detached hook run has no terminal.)
        self._env = {} if prompts else {"GIT_TERMINAL_PROMPT": "0"}
        # {commit id: {record id: blob id}} of the writer-ref tips read so far: a commit names
        # one tree for good, so `send` need not read again what `take_in` has just read.
        self._leaves: dict[str, dict[str, str]] = {}

    # -- names ---------------------------------------------------------------------
    def own_ref(self) -> str:
        return f"{RECORDS_PREFIX}{fingerprint(self.author).replace('-', '')}/{self._clone_id()}"

    def _clone_id(self, renew: bool = False) -> str:
        fresh = os.urandom(8).hex().encode()
        value = self.state.update(CLONE_REF, lambda now: fresh if renew or not _is_clone_id(now) else now)
        return value.decode()

    @staticmethod
    def tracking_prefix(remote: str) -> str:
        return f"{TRACKING_PREFIX}{remote}/"

    # -- one round -------------------------------------------------------------------
    def sync(self, remote: str, dry_run: bool = False, push: bool = True) -> GitSyncReport:
        """Fetch the remote's records, take in what passes, write ours out, push them.

        GitFailed when the remote cannot be reached: then nothing has changed.
        """
        report = GitSyncReport(remote, dry_run=dry_run)
        self.git.fetch(remote, [FETCH_REFSPEC.format(remote=remote)], extra_env=self._env)
        self.take_in(remote, report)
        if push:
            self.send(remote, report)
        return report

    def take_in(self, remote: str, report: GitSyncReport) -> None:
        """Ingest the records of the remote's writer refs fetched so far (no fetch here)."""
        prefix = self.tracking_prefix(remote)
        seen = self._seen(remote)
        tips: dict[str, str] = {}
        for name, tip in sorted(self.git.refs(prefix + "records/").items()):
            short = name[len(prefix):]
            writer = short[len("records/"):]
            if not WRITER.match(writer):
                report.refused.append(f"{short}: not a writer ref (records/<16 hex>/<16 hex>); ignored")
            elif len(tips) >= MAX_WRITER_REFS:
                report.refused.append(f"{short}: more than {MAX_WRITER_REFS} writer refs; ignored")
            elif (before := seen.get(short)) is not None and before.tip == tip and before.settled:
                continue   # read before, nothing in it left to take
            elif before is not None and before.tip != tip and not self.git.is_ancestor(before.tip, tip):
                report.refused.append(f"{short}: rewritten: {tip[:12]} does not descend from {before.tip[:12]}, "
                                      "read before; a writer ref only moves forward; refused")
            else:
                tips[short] = tip
        report.refs_read = len(tips)
        leaves = read_writer_refs(self.git, tips, report.refused)
        self._leaves.update((tips[ref], records) for ref, records in leaves.items())
        unsettled = self._ingest(leaves, report)
        if not report.dry_run:
            self._remember(remote, {ref: _RefState(tip, ref not in unsettled) for ref, tip in tips.items()})

    def _ingest(self, leaves: dict[str, dict[str, str]], report: GitSyncReport) -> set[str]:
        """Take in the records the refs name that the log lacks; the refs holding some left for later.

        Every blob is sized before it is read; then one `cat-file --batch`
        streams them, and each is checked as it comes: its hash against its
        name and its author against the trust list here, its form and
        signature on VERIFY_THREADS verifier threads (libsodium releases the
        GIL) while git goes on reading. Once all are checked, the log stores
        those whose parents it has (RecordLog.ingest_verified): every
        check a peer's records pass, in the order the node makes them.
        """
        named: dict[str, list[_Leaf]] = {}
        for ref, records in leaves.items():
            for record_id, oid in records.items():
                named.setdefault(record_id, []).append(_Leaf(ref, oid))
        fresh = set(named) - self.log.index.known(named)
        unsettled: set[str] = set()
        infos = self.git.info(leaf.oid for record_id in fresh for leaf in named[record_id])
        readers: dict[str, list[tuple[str, _Leaf]]] = {}   # blob id -> (record id, leaf) naming it, in order
        for record_id in sorted(fresh):
            for leaf in named[record_id]:
                info = infos.get(leaf.oid)
                problem = _blob_problem(info)
                if problem is None:
                    readers.setdefault(leaf.oid, []).append((record_id, leaf))
                else:
                    report.refused.append(f"{leaf.ref}: {record_id[:19]}…: {problem}")
                    if info is None:
                        unsettled.add(leaf.ref)   # the object may come with a later fetch
        decided: set[str] = set()      # record ids taken for checking, or kept out: other copies not read
        sources: dict[str, _Leaf] = {}
        authors: dict[str, bool] = {}
        with _Verifiers(self.log.name) as checks:
            for info, data in self.git.stream(infos[oid] for oid in readers):
                digest = block_id(data)
                for record_id, leaf in readers[info.oid]:
                    if record_id in decided:
                        continue
                    if digest != record_id:
                        report.refused.append(f"{leaf.ref}: {record_id[:19]}…: content does not match its name")
                        continue
                    decided.add(record_id)
                    author = _author_of(data)
                    if author is not None and not authors.setdefault(
                            author, self.accept_author(self.log.name, author)):
                        # As the node does: not stored; it comes once its author is trusted.
                        report.untrusted[author] = report.untrusted.get(author, 0) + 1
                        unsettled.update(other.ref for other in named[record_id])
                        continue
                    sources[record_id] = leaf
                    checks.add(record_id, data)
            verified, rejected = checks.results()
        # Belt and braces: the trust check read the author from the record's first bytes;
        # a record whose parsed author is other than one let through does not go in.
        if unchecked := [record for record in verified if not authors.get(record.author_text)]:
            from .log import Rejected

            rejected += [Rejected(record.id, "author not checked against the trust list") for record in unchecked]
            verified = [record for record in verified if authors.get(record.author_text)]
        for refusal in rejected:
            report.refused.append(f"{_where(sources, refusal.id)}: {refusal.id[:19]}…: {refusal.reason}")
        if report.dry_run:
            report.records_in = len(verified)   # parents not checked: nothing is stored
            return unsettled
        outcome = self.log.ingest_verified(verified)
        report.records_in += len(outcome.added)
        for refusal in outcome.rejected:
            report.refused.append(f"{_where(sources, refusal.id)}: {refusal.id[:19]}…: {refusal.reason}")
        report.waiting += len(outcome.waiting)
        for record in outcome.waiting:
            unsettled.update(leaf.ref for leaf in named.get(record.id, ()))
        return unsettled

    # -- writing ours out ---------------------------------------------------------------
    def send(self, remote: str, report: GitSyncReport) -> None:
        """Add the log's records our writer ref lacks to it, and push it if the remote lacks it."""
        own = self.own_ref()
        tracked = self.tracking_prefix(remote) + own[len("refs/fixme/"):]
        there = self.git.ref(tracked)
        here = self.git.ref(own)
        if there is not None and (here is None or not self.git.is_ancestor(there, here)):
            # Someone else moved our ref on the remote (or this clone's id was copied with its
            # .fixme/): pushing would not fast-forward, and forcing would undo their write.
            if report.dry_run:
                report.notes.append(f"the remote's {own[len('refs/'):]} is not ours to extend: "
                                    "a new writer ref would be started")
            else:
                old = own
                self._clone_id(renew=True)
                own = self.own_ref()
                tracked = self.tracking_prefix(remote) + own[len("refs/fixme/"):]
                report.notes.append(f"the remote's {old[len('refs/'):]} was moved by someone else; "
                                    f"writing to {own[len('refs/'):]} from now on")
                here = None
        report.records_out = self._write_out(own, here, self._held_by_others(remote, own), report.dry_run)
        tip = self.git.ref(own)
        if report.dry_run or tip is None or tip == self.git.ref(tracked):
            return
        self.git.push(remote, [f"{own}:{own}"], extra_env=self._env)
        self.git.run("update-ref", tracked, tip)
        report.pushed = True
        short = tracked[len(self.tracking_prefix(remote)):]
        self._remember(remote, {short: _RefState(tip, True)})

    def _held_by_others(self, remote: str, own: str) -> set[str]:
        """The records the remote's other writer refs hold (as last fetched): ours need not carry them.
        A ref this clone refused (rewritten) is not counted on: what it holds may go away."""
        prefix = self.tracking_prefix(remote)
        mine = own[len("refs/fixme/"):]
        seen = self._seen(remote)
        tips = {}
        for name, tip in self.git.refs(prefix + "records/").items():
            short = name[len(prefix):]
            state = seen.get(short)
            if short != mine and WRITER.match(short[len("records/"):]) and state is not None and state.tip == tip:
                tips[short] = tip
        held: set[str] = set()
        for leaves in self._read_tips(tips).values():
            held.update(leaves)
        return held

    def _read_tips(self, tips: dict[str, str]) -> dict[str, dict[str, str]]:
        """read_writer_refs of `tips`, those read before in this run not read again; refusals
        not told (take_in tells them)."""
        unread = {ref: tip for ref, tip in tips.items() if tip not in self._leaves}
        for ref, records in read_writer_refs(self.git, unread, []).items():
            self._leaves[unread[ref]] = records
        return {ref: self._leaves.get(tip, {}) for ref, tip in tips.items()}

    def _write_out(self, own: str, tip: str | None, elsewhere: set[str], dry_run: bool) -> int:
        """Commit on top of `tip` the log's records neither `own` nor the remote's other writer
        refs (`elsewhere`) hold; how many (for a dry run: would be). A record that reached
        this clone by another way (a node, another remote) goes out this way too."""
        held: set[str] = set(elsewhere)
        if tip is not None:
            held.update(self._read_tips({own: tip})[own])
        missing = sorted(set(self.log.index.ids(self.log.name)) - held)
        if dry_run or not missing:
            return len(missing)
        blocks = self.log.store.get_intact(missing)
        if not blocks:
            return 0
        self.git.fast_import(_import_stream(own, tip, blocks))
        return len(blocks)

    # -- what was read before ----------------------------------------------------------
    def _seen(self, remote: str) -> dict[str, _RefState]:
        value = self.state.get(SEEN_REF)
        try:
            doc = canonical.decode(value) if value else {}
        except canonical.CanonicalError:
            doc = {}
        refs = doc.get(remote, {}) if isinstance(doc, dict) else {}
        found = {}
        for ref, item in (refs.items() if isinstance(refs, dict) else ()):
            if isinstance(item, dict) and isinstance(item.get("tip"), str):
                found[ref] = _RefState(item["tip"], item.get("settled") is True)
        return found

    def _remember(self, remote: str, states: dict[str, _RefState]) -> None:
        if not states:
            return

        def change(value: bytes | None) -> bytes:
            try:
                doc = canonical.decode(value) if value else {}
            except canonical.CanonicalError:
                doc = {}
            if not isinstance(doc, dict):
                doc = {}
            refs = doc.get(remote)
            refs = dict(refs) if isinstance(refs, dict) else {}
            for ref, state in states.items():
                refs[ref] = {"settled": state.settled, "tip": state.tip}
            doc[remote] = refs
            return canonical.encode(doc)

        self.state.update(SEEN_REF, change)


class _Verifiers:
    """Form and signature checks of records, on VERIFY_THREADS threads, while the caller reads on.

    `with _Verifiers(log) as checks:` then checks.add(id, bytes) for each
    record (its id already checked to be the hash of its bytes), and
    checks.results() once all are added: (the good records, parsed; why the
    others are refused), as RecordLog.ingest would decide. Records go to the
    threads VERIFY_PIECE at a time, so both share even a small sync; a
    handful is checked here without threads.
    """

    def __init__(self, log: str):
        self._log = log
        self._piece: list[tuple[str, bytes]] = []
        self._pending: list = []
        self._pool = None

    def __enter__(self) -> _Verifiers:
        return self

    def add(self, record_id: str, data: bytes) -> None:
        self._piece.append((record_id, data))
        if len(self._piece) >= VERIFY_PIECE:
            self._submit()

    def results(self) -> tuple[list, list]:
        from .log import check_records   # looked up when used (a test watches which thread calls it)

        verified: list = []
        rejected: list = []
        if self._piece and self._pool is None:
            verified, rejected = check_records(self._log, self._piece)   # a few: not worth threads
        elif self._piece:
            self._submit()
        self._piece = []
        for future in self._pending:
            good, bad = future.result()
            verified += good
            rejected += bad
        self._pending = []
        return verified, rejected

    def _submit(self) -> None:
        from .log import check_records

        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(VERIFY_THREADS, thread_name_prefix="gitrelay-verify")
        self._pending.append(self._pool.submit(check_records, self._log, self._piece))
        self._piece = []

    def __exit__(self, *exc_info) -> None:
        if self._pool is not None:
            for future in self._pending:
                future.cancel()   # the read failed: checks not started are not wanted
            self._pool.shutdown(wait=True)


def _where(sources: dict[str, _Leaf], record_id: str) -> str:
    leaf = sources.get(record_id)
    return leaf.ref if leaf is not None else "?"


def read_writer_refs(git: Git, tips: dict[str, str], refused: list[str]) -> dict[str, dict[str, str]]:
    """{ref: {record id: blob id}} of the writer refs `tips` ({ref: commit id}), level by level.

    Whatever breaks the layout is appended to `refused` with its reason
    and left out: a commit or tree too large (sized before it is read), an
    entry with a name or mode the layout does not allow, more entries than
    the caps. The blobs themselves are not read here.
    """
    commits = _read_objects(git, tips.values(), "commit", MAX_COMMIT_BYTES)
    roots: dict[str, str] = {}
    for ref, tip in tips.items():
        data = commits[tip]
        if isinstance(data, str):
            refused.append(f"{ref}: commit {tip[:12]}: {data}")
        elif (tree := _commit_tree(data)) is None:
            refused.append(f"{ref}: commit {tip[:12]}: no tree line")
        else:
            roots[ref] = tree
    root_trees = _read_trees(git, roots.values(), MAX_FANOUT)
    fanouts: dict[str, dict[str, str]] = {}   # ref -> {two hex digits: tree id}
    for ref, root in roots.items():
        entries = root_trees[root]
        if isinstance(entries, str):
            refused.append(f"{ref}: tree {root[:12]}: {entries}")
            continue
        fanouts[ref] = {}
        for entry in entries:
            if entry.mode == TREE_MODE and FANOUT_NAME.match(entry.name):
                fanouts[ref][entry.name.decode()] = entry.oid
            else:
                refused.append(f"{ref}: {_shown(entry.name)}: {_entry_problem(entry, 'a directory named by two hex digits')}")
    subtrees = _read_trees(git, (oid for trees in fanouts.values() for oid in trees.values()), MAX_TREE_ENTRIES)
    found: dict[str, dict[str, str]] = {}
    for ref, trees in fanouts.items():
        leaves: dict[str, str] = {}
        for prefix, oid in sorted(trees.items()):
            entries = subtrees[oid]
            if isinstance(entries, str):
                refused.append(f"{ref}: {prefix}/: {entries}")
                continue
            for entry in entries:
                if len(leaves) >= MAX_RECORDS_PER_REF:
                    refused.append(f"{ref}: more than {MAX_RECORDS_PER_REF} records; the rest not read")
                    break
                if entry.mode == BLOB_MODE and LEAF_NAME.match(entry.name):
                    leaves[PREFIX + prefix + entry.name.decode()] = entry.oid
                else:
                    refused.append(f"{ref}: {prefix}/{_shown(entry.name)}: "
                                   f"{_entry_problem(entry, 'a file named by 62 hex digits')}")
            else:
                continue
            break
        found[ref] = leaves
    return found


def _read_objects(git: Git, oids, kind: str, cap: int) -> dict[str, bytes | str]:
    """{id: content, or why it is refused} of objects that must be of `kind` and at most `cap` bytes."""
    infos = git.info(oids)
    found: dict[str, bytes | str] = {}
    readable = []
    for oid, info in infos.items():
        if info is None:
            found[oid] = "not in the repository"
        elif info.type != kind:
            found[oid] = f"a {info.type}, not a {kind}"
        elif info.size > cap:
            found[oid] = f"{info.size} bytes, more than the {cap} allowed; not read"
        else:
            readable.append(info)
    found.update(git.contents(readable))
    return found


def _read_trees(git: Git, oids, max_entries: int) -> dict[str, list[TreeEntry] | str]:
    """{id: entries, or why refused} of trees of at most `max_entries` entries."""
    raw = _read_objects(git, oids, "tree", max_entries * _ENTRY_BYTES)
    parsed: dict[str, list[TreeEntry] | str] = {}
    width = git.oid_bytes() if raw else 20
    for oid, data in raw.items():
        if isinstance(data, str):
            parsed[oid] = data
            continue
        try:
            entries = parse_tree(data, width)
        except TreeFormatError as exc:
            parsed[oid] = str(exc)
            continue
        parsed[oid] = entries if len(entries) <= max_entries else \
            f"{len(entries)} entries, more than the {max_entries} allowed; not read"
    return parsed


def _commit_tree(data: bytes) -> str | None:
    first = data.split(b"\n", 1)[0]
    if not first.startswith(b"tree "):
        return None
    oid = first[5:].decode("ascii", "replace")
    return oid if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", oid) else None


def _entry_problem(entry: TreeEntry, wanted: str) -> str:
    kind = {TREE_MODE: "a directory", BLOB_MODE: "a file", b"100755": "an executable",
            b"120000": "a symlink", b"160000": "a submodule"}.get(entry.mode, f"mode {entry.mode.decode()}")
    return f"{kind} where the layout has {wanted}; ignored"


def _shown(name: bytes) -> str:
    """A tree entry's name as a reason may quote it: repr, cut short (it may hold anything)."""
    text = repr(name[:64])[2:-1]
    return text + ("…" if len(name) > 64 else "")


def _blob_problem(info: ObjectInfo | None) -> str | None:
    if info is None:
        return "blob not in the repository"
    if info.type != "blob":
        return f"a {info.type}, not a blob"
    if info.size > MAX_BLOB_BYTES:
        return f"{info.size} bytes, more than a record can be ({MAX_BLOB_BYTES}); not read"
    return None


def _author_of(data: bytes) -> str | None:
    """The author key a record's bytes start with (members are sorted: "author" comes first);
    None when they do not start like a record, which ingest then refuses with its reason."""
    if data.startswith(AUTHOR_START + b"ed25519:") and len(data) > AUTHOR_END:
        return data[len(AUTHOR_START):AUTHOR_END].decode("ascii", "replace")
    return None


def _is_clone_id(value: bytes | None) -> bool:
    return value is not None and re.fullmatch(rb"[0-9a-f]{16}", value) is not None


def _import_stream(ref: str, parent: str | None, blocks: dict[str, bytes]) -> bytes:
    """A fast-import stream: one commit on `ref` after `parent` adding each block as `ab/<62 hex>`."""
    now = int(time.time())
    message = f"fixme: {len(blocks)} record{'s' if len(blocks) != 1 else ''}\n".encode()
    parts = [f"commit {ref}\ncommitter {COMMITTER} {now} +0000\ndata {len(message)}\n".encode(), message]
    if parent is not None:
        parts.append(f"from {parent}\n".encode())
    for record_id, data in sorted(blocks.items()):
        digits = record_id[len(PREFIX):]
        parts.append(f"M 100644 inline {digits[:2]}/{digits[2:]}\ndata {len(data)}\n".encode())
        parts.append(data)
        parts.append(b"\n")
    parts.append(b"\ndone\n")
    return b"".join(parts)


def fetch_refspec(remote: str) -> str:
    return FETCH_REFSPEC.format(remote=remote)


def lock_path(node_dir: Path) -> Path:
    return Path(node_dir) / "gitsync.lock"


__all__ = ["GitFailed", "GitRelay", "GitSyncReport", "fetch_refspec", "read_writer_refs"]
