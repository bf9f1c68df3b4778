"""Reading every row that can still be read from a damaged sqlite table.

A damaged page (a flipped byte in a cell header, a file cut short) makes
any query that touches it fail, so a plain scan stops at the first one and
everything after it looks absent. Here the table is read in rowid order,
page by page; when a read fails, the reader finds the next rowid from which
reading works again (galloping forward, then bisecting back) and goes on
from there, telling the caller which stretch it had to skip.

Used by fsck (check every block, not just those before the first bad
page), by its repair (copy what is readable into a new database) and by the
rebuild of records.db from the blocks.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from contextlib import AbstractContextManager
from typing import Callable, Iterator

PAGE_ROWS = 512  # rows per query, so no statement stays open between pages
# Galloping never looks further than this past the last row read. Far more
# rowids than any node holds; the gallop reaches it in ~40 probes.
MAX_ROWID_GAP = 1 << 40
# Rowids skipped by the ordered read that are looked up one by one (~10 us each).
MAX_HOLE_LOOKUPS = 1 << 22


@dataclass
class Unreadable:
    """A stretch of a table that could not be read."""

    after: int  # the last rowid read before it (0: from the start)
    resumed_at: int | None  # the rowid from which reading worked again (None: nothing after it)
    error: str

    def describe(self, table: str) -> str:
        if self.resumed_at is None and not self.after:
            return f"{table}: no row can be read ({self.error})"
        if self.resumed_at is None:
            rows = f"rows after {self.after}"
        elif self.resumed_at - self.after == 2:
            rows = f"row {self.after + 1}"
        else:
            rows = f"rows {self.after + 1}-{self.resumed_at - 1}"
        return f"{table}: {rows} cannot be read ({self.error})"


def readable_rows(conn: sqlite3.Connection, table: str, columns: str,
                  on_unreadable: Callable[[Unreadable], None], page_rows: int = PAGE_ROWS,
                  lock: AbstractContextManager | None = None) -> Iterator[tuple]:
    """(rowid, *columns) of every readable row of `table`: in rowid order, then any
    found only by looking up the rowids the ordered reading skipped.

    `on_unreadable` hears of every stretch that could not be read. `lock`,
    if given, is held around each query (the store's lock), never between them.
    """
    holes: list[tuple[int, int]] = []  # (first, last) rowids the ordered reading did not return
    for row in _rows_in_order(conn, table, columns, on_unreadable, page_rows, lock, holes):
        yield row
    yield from _rows_in_holes(conn, table, columns, holes, on_unreadable, lock)


def _rows_in_order(conn: sqlite3.Connection, table: str, columns: str,
                   on_unreadable: Callable[[Unreadable], None], page_rows: int,
                   lock: AbstractContextManager | None, holes: list[tuple[int, int]]) -> Iterator[tuple]:
    """The table read in rowid order, page by page, stepping over what cannot be read.

    The rowids it steps over (or that a damaged interior page makes it
    jump past without an error) are appended to `holes`.
    """
    # `rowid >= ?`, the same query as the probe's: on a damaged page,
    # "> 5789" and ">= 5790" can seek differently, and only the one the
    # probe tried is known to work.
    select = f"SELECT rowid, {columns} FROM {table} WHERE rowid >= ? ORDER BY rowid LIMIT ?"
    last = 0  # every row up to here has been read or stepped over
    rows_per_query = page_rows
    while True:
        try:
            rows = _query(conn, select, (last + 1, rows_per_query), lock)
        except sqlite3.DatabaseError as exc:
            if rows_per_query > 1:
                rows_per_query = 1  # read up to the damage one row at a time, losing nothing before it
                continue
            resume = _next_readable(conn, table, columns, last, lock)
            if resume is None:
                on_unreadable(Unreadable(last, None, str(exc)))
                return
            holes.append((last + 1, resume - 1))
            last = resume - 1
            continue
        in_order = _in_order(rows, last)
        for row in in_order:
            if row[0] > last + 1:
                holes.append((last + 1, row[0] - 1))
            last = row[0]
            yield row
        if len(in_order) < len(rows):
            # A damaged page can hand back rows out of order: go past them as past any damage.
            resume = _next_readable(conn, table, columns, last, lock)
            if resume is None:
                on_unreadable(Unreadable(last, None, "rows out of order"))
                return
            holes.append((last + 1, resume - 1))
            last, rows_per_query = resume - 1, 1
            continue
        if len(rows) < rows_per_query:
            return
        rows_per_query = min(page_rows, rows_per_query * 2)


def _rows_in_holes(conn: sqlite3.Connection, table: str, columns: str, holes: list[tuple[int, int]],
                   on_unreadable: Callable[[Unreadable], None],
                   lock: AbstractContextManager | None) -> Iterator[tuple]:
    """The rows found by looking up each skipped rowid on its own.

    A damaged interior page can send an ordered read past thousands of rows
    that a lookup by rowid still finds. Most holes in a sound table are rows
    fsck moved aside, so a lookup finding nothing is not damage; one that
    fails is, and is reported (runs of them as one stretch).
    """
    select = f"SELECT rowid, {columns} FROM {table} WHERE rowid = ?"
    budget = MAX_HOLE_LOOKUPS
    for first, last in holes:
        failing: tuple[int, str] | None = None  # (first failing rowid of the current run, its error)
        for rowid in range(first, last + 1):
            budget -= 1
            if budget < 0:
                on_unreadable(Unreadable(rowid - 1, None, "too many rows skipped to look each one up"))
                return
            try:
                rows = _query(conn, select, (rowid,), lock)
            except sqlite3.DatabaseError as exc:
                failing = failing or (rowid, str(exc))
                continue
            if failing is not None:
                on_unreadable(Unreadable(failing[0] - 1, rowid, failing[1]))
                failing = None
            yield from rows
        if failing is not None:
            on_unreadable(Unreadable(failing[0] - 1, last + 1, failing[1]))


def _in_order(rows: list[tuple], after: int) -> list[tuple]:
    """The leading rows of `rows` whose rowids rise from `after`; a sound table gives them all."""
    for position, row in enumerate(rows):
        if row[0] <= after:
            return rows[:position]
        after = row[0]
    return rows


def _query(conn: sqlite3.Connection, sql: str, params: tuple, lock: AbstractContextManager | None) -> list[tuple]:
    if lock is None:
        return conn.execute(sql, params).fetchall()
    with lock:
        return conn.execute(sql, params).fetchall()


def _next_readable(conn: sqlite3.Connection, table: str, columns: str, failed_after: int,
                   lock: AbstractContextManager | None) -> int | None:
    """The smallest rowid > failed_after from which reading `table` works again, or None.

    A probe reads the first row at or after a rowid. Probes at
    failed_after+1, +2, +4, ... go forward until one works; then bisection
    between the last failure and that success finds where the damage ends.
    A probe that works but lands on a row behind us (a damaged page can
    point anywhere) only moves the search on.
    """
    probe_sql = f"SELECT rowid, {columns} FROM {table} WHERE rowid >= ? ORDER BY rowid LIMIT 1"

    def probe(rowid: int) -> list[tuple] | None:
        try:
            return _query(conn, probe_sql, (rowid,), lock)
        except sqlite3.DatabaseError:
            return None

    start = failed_after
    while True:
        bad, step = start, 1
        while probe(start + step) is None:
            bad = start + step
            step *= 2
            if step > MAX_ROWID_GAP:
                return None
        good = start + step
        while good - bad > 1:
            middle = (bad + good) // 2
            if probe(middle) is None:
                bad = middle
            else:
                good = middle
        first = probe(good)
        if not first:
            return None
        if first[0][0] > failed_after:
            return first[0][0]
        start = good
