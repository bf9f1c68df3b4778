"""Who wrote each tag line: `git blame --porcelain`, one file at a time.

This is the reference: what fixme shows for a tag line is what `git blame`
says for it. walk.py gives the same answers for many files at once where it
can vouch for them; everything else comes from here, files blamed in
parallel on every core, each with one `git blame` call listing all its
wanted lines (`-L n,n -L m,m ...`).

A file git cannot blame (a missing blob, a path it refuses) does not stop
the scan: its lines are marked unblamed, with the reason. In a partial
clone, blame never downloads history unless asked to (`allow_fetch`): what
needs a missing blob stays unblamed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from typing import NamedTuple

from .gitio import NULL_SHA, Git, GitError, line_ranges, unquote_path

# Keeps a partial clone from fetching old blobs for blame: newer gits honour
# GIT_NO_LAZY_FETCH, and no git can fetch with every transport forbidden.
NO_FETCH_ENV = {"GIT_NO_LAZY_FETCH": "1"}
NO_FETCH_CONFIG = ("-c", "protocol.allow=never")

Progress = Callable[[int, int], None]  # files blamed, files in all


class Origin(NamedTuple):
    """Where a line came from: the commit that introduced it, or none yet.

    commit, author, email: None when not committed yet (or not blamed);
    time: author time, seconds since the epoch; tz: author time zone, like
    +0100; path: the file's path in that commit (follows renames);
    unblamed: why git could not blame the line, when it could not.
    """

    commit: str | None
    author: str | None
    email: str | None
    time: int | None
    tz: str | None
    path: str
    unblamed: str | None = None


def uncommitted(path: str) -> Origin:
    return Origin(None, None, None, None, None, path)


def unblamed(path: str, reason: str) -> Origin:
    return Origin(None, None, None, None, None, path, reason)


def blame_file(git: Git, path: str, lines: Collection[int], rev: str | None,
               allow_fetch: bool = False) -> dict[int, Origin]:
    """Blame `lines` of `path` at commit `rev`, or in the work tree when rev is None."""
    if not lines:
        return {}
    args = ["blame", "--porcelain"]
    for start, end in line_ranges(lines):
        args += ["-L", f"{start},{end}"]
    if rev is not None:
        args.append(rev)
    args += ["--", path]
    if allow_fetch:
        return parse_porcelain(git.run(*args), path)
    return parse_porcelain(git.run(*NO_FETCH_CONFIG, *args, env=NO_FETCH_ENV), path)


def blame_files(git: Git, jobs: list[tuple[str, Collection[int], str | None]], progress: Progress | None = None,
                allow_fetch: bool = False) -> dict[str, dict[int, Origin]]:
    """Blame every (path, lines, rev) job, in parallel on all cores; a file git
    cannot blame gets its lines marked unblamed, the others are not held up."""
    def one(job: tuple[str, Collection[int], str | None]) -> dict[int, Origin]:
        path, lines, rev = job
        try:
            return blame_file(git, path, lines, rev, allow_fetch)
        except GitError as exc:
            return {n: unblamed(path, str(exc)) for n in lines}

    result: dict[str, dict[int, Origin]] = {}
    if not jobs:
        return result
    # Imported here: the scan store needs Origin from this module, and every reader (search,
    # show) would otherwise pay ~10 ms for a thread pool and the logging it brings.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 2)) as pool:
        for done, (job, found) in enumerate(zip(jobs, pool.map(one, jobs)), 1):
            result[job[0]] = found
            if progress is not None:
                progress(done, len(jobs))
    return result


def parse_porcelain(out: bytes, path: str) -> dict[int, Origin]:
    """Parse `git blame --porcelain` output into final line -> Origin."""
    details: dict[str, dict[str, str]] = {}
    filenames: dict[str, str] = {}
    result: dict[int, Origin] = {}
    sha = ""
    final = 0
    for raw in out.split(b"\n"):
        if raw.startswith(b"\t"):
            result[final] = _origin(sha, details.get(sha, {}), filenames.get(sha, path))
            continue
        if raw.startswith(b"filename "):
            filenames[sha] = unquote_path(raw[len(b"filename "):])
            continue
        key, _, value = raw.decode("utf-8", "surrogateescape").partition(" ")
        if len(key) == 40 and _is_hex(key):
            sha = key
            final = int(value.split(" ")[1])
        elif key:
            details.setdefault(sha, {})[key] = value
    return result


def _origin(sha: str, info: dict[str, str], path: str) -> Origin:
    if sha == NULL_SHA:
        return uncommitted(path)
    email = info.get("author-mail", "").strip("<>")
    time = info.get("author-time")
    return Origin(sha, info.get("author"), email, int(time) if time else None, info.get("author-tz"), path)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)
