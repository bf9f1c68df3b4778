"""Full-text search over entries: a whoosh index in `.fixme/index/`.

whoosh costs ~45 ms to import (whoosh_import.py says why not ~90), so it is
imported inside the functions that need it, never at module level, after
load_whoosh(): importing this module (for SearchHit, or
for `matched_spans` in a renderer) stays cheap, and `list`, `scan` and
`set-workflow` never load it.

The index follows the scan store and the record log by marks (see
searchstate.py): before every search it catches up, rewriting only the
documents whose fingerprint changed; a changed schema or config, or a reset
store, rebuilds it; so do index files that are missing or not as the last
update left them. One process writes at a time: an exclusive lock on
`.fixme/index/lock` for updates, a shared one while searching (a reader then
never sees a rebuild delete the files it is reading). Waiting is bounded;
past the timeout the caller gets a one-line FixmeError.

Where the index cannot be written (a read-only `.fixme/`, a full disk), or
the scan it would follow was not saved either, a search builds an index in
memory for itself and says so in `notices`.
"""

from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..config import Config
from ..errors import FixmeError
from ..fsutil import UNWRITABLE_ERRNOS, FileLock, LockTimeout
from ..scan.entry import GONE, Entry
from .whoosh_import import load_whoosh  # noqa: F401 (callers load whoosh early through here)
from .searchstate import (INDEX_SCHEMA, LOCK_FILE, STATE_FILE, Changes, IndexSource, IndexState, config_stamp,
                          index_dir, index_files, read_state, write_state)

LOCK_TIMEOUT = 30.0  # seconds a search or update waits for another process's update (a rebuild of 20k: ~6 s)
# Words as the index splits them: whoosh's RegexTokenizer default. Kept here
# so that highlighting splits text the same way the index did.
WORD_PATTERN = r"\w+(?:\.?\w+)*"
# Bare words and phrases are looked up in one field, `text`: the title (twice,
# so that a word in the title counts more), the labels and the body. One field
# rather than title OR labels OR body: whoosh scores a union of three fields
# three times slower (30 ms against 8 ms for two common words at 20k entries).
# The slug is left out: it is also the title, whose words are found there.
DEFAULT_FIELD = "text"
FIELDS = ("title", "body", "tag", "state", "author", "path", "labels", "slug")
ALIASES = {"labels": ["label"]}  # `label:x` as in `fixme list --label`
OPERATORS = ("AND", "OR", "NOT", "ANDNOT", "ANDMAYBE")
HIGHLIGHT_FIELDS = ("text", "title", "body", "labels", "slug", "author", "path")  # not the state or tag filters


@dataclass
class SearchHit:
    entry: Entry
    score: float
    terms: list[str] = field(default_factory=list)  # index terms that matched, lower case (paths as written)


@dataclass
class IndexReport:
    """What one catch-up of the index did: documents added, rewritten and deleted.

    After a rebuild only `added` counts (every entry). `removed` stays 0 in a
    catch-up: the scan store keeps every entry it has seen (gone ones are
    re-indexed with state `gone`), and a store that lost entries was reset,
    which means a rebuild.
    """

    added: int = 0
    updated: int = 0
    removed: int = 0
    rebuilt: bool = False
    seconds: float = 0.0


def matched_spans(text: str, terms: list[str]) -> list[tuple[int, int]]:
    """(start, end) of the words of `text` that are among `terms`: what to highlight.

    Splits words the way the index does, so a hit's terms line up with its text.
    """
    wanted = {term.lower() for term in terms}
    return [m.span() for m in re.finditer(WORD_PATTERN, text) if m.group().lower() in wanted]


class IndexUnwritable(FixmeError):
    """The index cannot be written here: a read-only directory or file system, a full disk."""


class SearchIndex:
    """The index of one repository; `store` is the scan result to follow (the cache when None)."""

    def __init__(self, root: Path, config: Config, timeout: float = LOCK_TIMEOUT, store=None):
        self.root = root
        self.config = config
        self.timeout = timeout
        self.directory = index_dir(root)
        self.store = store
        # An unsaved scan's result must not leave an index behind that claims to follow the cache.
        self.persistent = store is None or not store.in_memory
        self.notices: list[str] = []  # what this search could not do (write the index)

    # -- searching -------------------------------------------------------
    def search(self, text: str, limit: int | None = 50) -> list[SearchHit]:
        """Entries matching `text`, best first; the index catches up first."""
        if not text.strip():
            return []
        load_whoosh()
        if limit is not None and limit < 1:
            raise FixmeError("search: the limit must be at least 1")
        query = parse_query(text)  # a bad query fails before any work
        if not self.persistent:
            return self._hits(self._query_in_memory(query, limit))
        try:
            self.update()
        except IndexUnwritable as exc:
            self.notices.append(f"{exc}; searched an index built in memory")
            return self._hits(self._query_in_memory(query, limit))
        try:
            found = self._query(query, limit)
        except FixmeError:
            raise
        except Exception:  # noqa: BLE001 — damaged files (the catch-up only reads the TOC): rebuild, once
            self.rebuild()
            found = self._query(query, limit)
        return self._hits(found)

    def _query(self, query, limit: int | None) -> list[tuple]:
        """(id, score, matched words, folded state) of the best hits, read under the shared lock."""
        with self._lock(exclusive=False):
            ix = self._open(read_state(self.root))
            if ix is None:
                raise OSError("no index")
            return _best_hits(ix, query, limit)

    def _query_in_memory(self, query, limit: int | None) -> list[tuple]:
        """_query on an index of every entry built in memory, for where none can be saved."""
        from whoosh.filedb.filestore import RamStorage

        source = IndexSource(self.root, self.config, self.store)
        try:
            entries = source.all_entries()
        finally:
            source.close()
        ix = RamStorage().create_index(_schema())
        writer = ix.writer()
        for entry in entries:
            writer.add_document(**document_of(entry))
        writer.commit()
        return _best_hits(ix, query, limit)

    def _hits(self, found: list) -> list[SearchHit]:
        """The hits' entries as the scan store holds them, with the folded state the index saw."""
        import json

        source = IndexSource(self.root, self.config, self.store)
        try:
            entries = source.entries([entry_id for entry_id, _, _, _ in found])
        finally:
            source.close()
        hits = []
        for entry_id, score, terms, folded in found:
            entry = entries.get(entry_id)
            if entry is None:
                continue  # the scan store lost it meanwhile (reset): the next search rebuilds
            if folded:  # the fold as of the catch-up, without reading the whole record log again
                overlay = json.loads(folded)
                entry.workflow, entry.attrs, entry.warnings = overlay["workflow"], overlay["attrs"], overlay["warnings"]
            hits.append(SearchHit(entry, score, terms))
        return hits

    def short_id_length(self) -> int:
        """Tracker.short_id_length() as of the index's last catch-up, without reading every id."""
        from ..scan.identity import ID_HEX

        state = read_state(self.root) if self.persistent else None
        if state is None:
            source = IndexSource(self.root, self.config, self.store)
            try:
                prefix = source.id_prefix()
            finally:
                source.close()
        else:
            prefix = state.id_prefix
        return min(max(prefix, self.config.short_id_length), ID_HEX)

    # -- catching up -----------------------------------------------------
    def update(self) -> IndexReport:
        """Bring the index up to date: rewrite changed documents, or rebuild when it must.

        IndexUnwritable (a one-line FixmeError) where the index cannot be written.
        """
        load_whoosh()
        started = time.perf_counter()
        source = IndexSource(self.root, self.config, self.store)
        try:
            state = read_state(self.root)
            seen = self._changes(source, state)
            if seen is not None and not seen.entries and seen.marks == state.marks:
                return IndexReport(seconds=time.perf_counter() - started)  # up to date: no lock needed
            with self._unwritable_as_error(), self._lock(exclusive=True):
                current = read_state(self.root)  # another process may have caught up while we waited
                if current != state:
                    state, seen = current, self._changes(source, current)
                report = self._catch_up(source, state, seen)
        finally:
            source.close()
        report.seconds = time.perf_counter() - started
        return report

    def rebuild(self) -> IndexReport:
        """Build the index again from every entry, whatever state it is in."""
        started = time.perf_counter()
        source = IndexSource(self.root, self.config, self.store)
        try:
            with self._unwritable_as_error(), self._lock(exclusive=True):
                report = self._rebuild(source)
        finally:
            source.close()
        report.seconds = time.perf_counter() - started
        return report

    @contextmanager
    def _unwritable_as_error(self):
        """OSErrors that say the index cannot be written here become IndexUnwritable."""
        try:
            yield
        except OSError as exc:
            if exc.errno not in UNWRITABLE_ERRNOS:
                raise
            raise IndexUnwritable(f"cannot write the search index in {self.directory}: "
                                  f"{exc.strerror or exc}") from None

    def _changes(self, source: IndexSource, state: IndexState | None) -> Changes | None:
        """What changed since `state`, or None when only a rebuild will do."""
        if (state is None or state.schema != INDEX_SCHEMA or state.config != config_stamp(self.config)
                or state.store_generation != source.store_generation() or not self._has_index(state.name)
                or state.files != index_files(self.root, state.name)):
            return None
        return source.changes_since(state.marks)

    def _catch_up(self, source: IndexSource, state: IndexState | None, seen: Changes | None) -> IndexReport:
        ix = self._open(state) if seen is not None else None
        if ix is None:
            return self._rebuild(source)
        documents = [document_of(entry) for entry in seen.entries]
        report = IndexReport()
        if documents:
            with ix.searcher() as searcher:
                indexed = {doc["id"]: (searcher.document(id=doc["id"]) or {}).get("fingerprint") for doc in documents}
            changed = [doc for doc in documents if indexed[doc["id"]] != doc["fingerprint"]]
            if changed:
                with self._writing(ix) as writer:
                    for doc in changed:
                        if indexed[doc["id"]] is None:
                            writer.add_document(**doc)
                            report.added += 1
                        else:
                            writer.update_document(**doc)
                            report.updated += 1
        id_prefix = source.id_prefix() if report.added else state.id_prefix  # new ids may need longer prefixes
        write_state(self.root, replace(state, marks=seen.marks, id_prefix=id_prefix,
                                       files=index_files(self.root, state.name)))
        return report

    def _rebuild(self, source: IndexSource) -> IndexReport:
        """A new index from every entry, written beside the old one, which is then removed."""
        from whoosh import index

        generation = source.store_generation()
        marks = source.current_marks()  # before reading: what lands meanwhile is read again next time
        entries = source.all_entries()
        name = "fixme_" + os.urandom(4).hex()
        self.directory.mkdir(parents=True, exist_ok=True)
        ix = index.create_in(str(self.directory), _schema(), indexname=name)
        with self._writing(ix, limitmb=256) as writer:  # one segment for the whole build, not many merged
            for entry in entries:
                writer.add_document(**document_of(entry))
        write_state(self.root, IndexState(name, INDEX_SCHEMA, config_stamp(self.config), generation, marks,
                                          source.id_prefix(), index_files(self.root, name)))
        self._remove_other_indexes(name)
        return IndexReport(added=len(entries), rebuilt=True)

    # -- files and locks -----------------------------------------------------
    def _has_index(self, name: str) -> bool:
        try:
            return any(f.startswith("_" + name + "_") and f.endswith(".toc") for f in os.listdir(self.directory))
        except OSError:
            return False

    def _open(self, state: IndexState | None):
        """The live whoosh index, or None when it is missing or unreadable (then: rebuild)."""
        if state is None:
            return None
        from whoosh import index

        try:
            return index.open_dir(str(self.directory), indexname=state.name)
        except Exception:  # noqa: BLE001 — a damaged local cache must never stop a search; rebuilding is safe
            return None

    @contextmanager
    def _writing(self, ix, **options):
        """A whoosh writer, committed at the end or cancelled; a full disk is a one-line error.

        Only under fixme's exclusive lock (_lock), so whoosh's own lock file is
        not taken (`_lk=False`): it adds nothing there, and whoosh keeps it held
        until the process ends when setting up or committing a writer fails
        (a read-only directory, a full disk), which would leave the
        dashboard's next update waiting for itself.

        Segments are written as plain files, not one compound file: whoosh
        reads a compound segment through an mmap, copying each part it opens
        into memory (~15 ms of a search at 20k entries); plain files are
        opened and read where needed.
        """
        try:
            writer = ix.writer(_lk=False, compound=False, **options)
        except OSError as exc:
            raise IndexUnwritable(f"cannot write the search index in {self.directory}: "
                                  f"{exc.strerror or exc}") from None
        try:
            yield writer
        except BaseException:
            writer.cancel()
            raise
        try:
            writer.commit()
        except OSError as exc:
            _forget_quietly(writer)
            raise IndexUnwritable(f"cannot write the search index in {self.directory}: "
                                  f"{exc.strerror or exc}") from None

    def _remove_other_indexes(self, keep: str) -> None:
        """Delete files of earlier indexes (and of builds that never finished)."""
        for name in os.listdir(self.directory):
            if name in (STATE_FILE, LOCK_FILE) or name.startswith((keep + "_", "_" + keep + "_", ".")):
                continue
            try:
                os.unlink(self.directory / name)
            except OSError:
                pass

    @contextmanager
    def _lock(self, exclusive: bool):
        """The index lock: exclusive to update (made with its directory), shared to search."""
        path = self.directory / LOCK_FILE
        if exclusive:
            from ..scan.store import ensure_state_dir

            ensure_state_dir(self.root)  # .fixme/ with its .gitignore, then .fixme/index/
            self.directory.mkdir(exist_ok=True)
        try:
            with FileLock(path, exclusive, self.timeout):
                yield
        except LockTimeout:
            raise FixmeError(self._busy_message()) from None

    def _busy_message(self) -> str:
        return (f"the search index is busy: another fixme process has been updating {self.directory} "
                f"for over {self.timeout:g} s; try again later")


def _forget_quietly(writer) -> None:
    """Drop a writer whose commit failed (its temporary files), whatever state it was left in."""
    try:
        writer.cancel()
    except Exception:  # noqa: BLE001 — half-committed: nothing more to undo than what failed
        pass


def _best_hits(ix, query, limit: int | None) -> list[tuple]:
    """(id, score, matched words, folded state) of the best hits of `query` in `ix`."""
    from whoosh.query import Term

    mask = None if _asks_for_gone(query) else Term("state", GONE)
    with ix.searcher() as searcher:
        results = searcher.search(query, limit=limit, terms=True, mask=mask)
        return [(hit["id"], hit.score, _matched_words(hit), hit.get("folded")) for hit in results]


# -- documents -------------------------------------------------------------


def document_of(entry: Entry) -> dict:
    """The fields indexed for an entry, its folded state, and a fingerprint of both.

    The fingerprint decides whether a document is rewritten: an entry that
    only moved lines is not. Empty fields are left out (whoosh would index
    an empty term for them).
    """
    import hashlib
    import json

    paths = list(dict.fromkeys(loc.path for loc in entry.locations)) or [entry.path]
    who = " ".join(part for part in (entry.author, entry.author_email) if part)
    values = {"title": entry.title, "body": entry.body, "tag": entry.tag,
              "state": GONE if entry.status == GONE else entry.workflow, "author": who,
              "path": "\n".join(path_terms(paths)), "labels": " ".join(entry.labels), "slug": entry.slug or ""}
    values["text"] = "\n".join((entry.title, entry.title, values["labels"], entry.body))
    doc = {"id": entry.id, **{name: value for name, value in values.items() if value.strip()}}
    doc["folded"] = json.dumps({"workflow": entry.workflow, "attrs": entry.attrs, "warnings": entry.warnings},
                               sort_keys=True, ensure_ascii=False)
    doc["fingerprint"] = hashlib.sha1(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]
    return doc


def path_terms(paths: list[str]) -> list[str]:
    """What the path field holds: each path, every directory above it ("src/", "src/net/")
    and its extension ("*.py").

    `path:src/*` then reads one term instead of expanding to every file under
    src/ (thousands of terms, seconds in whoosh); see _fast_path_query.
    """
    terms = {}
    for path in paths:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            terms["/".join(parts[:depth]) + "/"] = None
        extension = re.fullmatch(r".+(\.\w+)", parts[-1])
        if extension:
            terms["*" + extension.group(1)] = None
        terms[path] = None
    return list(terms)


def _schema():
    from whoosh import fields
    from whoosh.analysis import IDTokenizer, LowercaseFilter, RegexTokenizer

    words = RegexTokenizer(WORD_PATTERN) | LowercaseFilter()
    whole = IDTokenizer() | LowercaseFilter()
    return fields.Schema(
        id=fields.ID(stored=True, unique=True),
        fingerprint=fields.STORED(),
        folded=fields.STORED(),  # workflow, attrs, warnings after the fold (JSON)
        text=fields.TEXT(analyzer=words),  # what bare words search: see DEFAULT_FIELD
        title=fields.TEXT(analyzer=words),
        body=fields.TEXT(analyzer=words),
        author=fields.TEXT(analyzer=words),
        labels=fields.TEXT(analyzer=words),  # TEXT, not KEYWORD: a "phrase" is looked up in every word field
        tag=fields.ID(analyzer=whole),
        state=fields.ID(analyzer=whole),
        slug=fields.ID(analyzer=whole),
        path=fields.KEYWORD(analyzer=RegexTokenizer(r"[^\n]+")),  # path_terms(), one per line, as written
    )


# -- queries ---------------------------------------------------------------


def parse_query(text: str):
    """The whoosh query for `text`; FixmeError (one line) for what whoosh would silently guess at.

    whoosh's parser never fails: an unknown field becomes a word, a lone
    `OR` a search for "or". Those are almost always typos, so they are
    reported instead.
    """
    from whoosh import qparser
    from whoosh.query import NullQuery

    _check_brackets(text)
    _check_fields(text)
    parser = qparser.QueryParser(DEFAULT_FIELD, _schema())
    parser.add_plugin(qparser.FieldAliasPlugin(ALIASES))
    tree = parser.process(text)
    _check_operators(tree)
    query = tree.query(parser)
    return query.normalize().accept(_fast_path_query) if query else NullQuery


def _fast_path_query(query):
    """Path filters as single terms of path_terms() where they can be.

    `path:src/*` (whoosh: a prefix) → the term "src/"; `path:*.py` → "*.py";
    `path:src` or `path:src/` → the file "src" or anything below the directory,
    as `fixme list --path` reads a plain name. Other globs stay wildcards.
    """
    from whoosh.query import Or, Prefix, Term, Wildcard

    if getattr(query, "fieldname", None) != "path":
        return query
    text = query.text
    if isinstance(query, Prefix) and text.endswith("/"):
        return Term("path", text, boost=query.boost)
    if isinstance(query, Wildcard) and re.fullmatch(r"\*\.\w+", text):
        return Term("path", text, boost=query.boost)
    if type(query) is Term and not text.startswith("*"):
        directory = text.rstrip("/") + "/"
        return Or([Term("path", text.rstrip("/")), Term("path", directory)], boost=query.boost)
    return query


def _outside_quotes(text: str) -> str:
    """`text` with quoted phrases blanked out (same length), for the checks below."""
    return re.sub(r'"[^"]*"', lambda m: " " * len(m.group()), text)


def _check_brackets(text: str) -> None:
    if text.count('"') % 2:
        raise FixmeError('search: unclosed quote (") in the query')
    depth = 0
    for char in _outside_quotes(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            raise FixmeError("search: ')' without a matching '(' in the query")
    if depth:
        raise FixmeError("search: '(' without a matching ')' in the query")


def _check_fields(text: str) -> None:
    known = set(FIELDS) | {alias for names in ALIASES.values() for alias in names}
    for match in re.finditer(r"(?<![\w:])([^\W\d]\w*):", _outside_quotes(text)):
        name, value = match.group(1), text[match.end():match.end() + 1]  # the value may be a quoted phrase
        if name not in known:
            raise FixmeError(f"search: unknown field {name!r}; fields: {', '.join(FIELDS)} "
                             "(quote words with a colon)")
        if not value.strip() or value == ")":
            raise FixmeError(f"search: {name}: needs a value (e.g. {name}:word)")


def _check_operators(tree) -> None:
    """An operator whoosh could not use (nothing on one side) is left in the tree as a word."""
    from whoosh.qparser import syntax

    def walk(node):
        yield node
        if isinstance(node, syntax.GroupNode):
            for child in node:
                yield from walk(child)

    for node in walk(tree):
        if isinstance(node, syntax.WordNode) and node.text in OPERATORS:
            raise FixmeError(f"search: {node.text} needs a term on each side (NOT: after it); "
                             f"write {node.text.lower()!r} to search for the word")


def _asks_for_gone(query) -> bool:
    """Gone entries are left out unless the query asks for them (`state:gone`)."""
    return any(name == "state" and _text(term) == GONE for name, term in query.iter_all_terms())


def _matched_words(hit) -> list[str]:
    return sorted({_text(term) for name, term in hit.matched_terms() if name in HIGHLIGHT_FIELDS})


def _text(term) -> str:
    return term.decode("utf-8") if isinstance(term, bytes) else term
