"""Hostile git histories for the blame fidelity tests, built with real git.

Each builder takes a fresh `Project` (a repository plus a clock and a cast
of authors in several time zones) and plays out a history the way people
make it: topic branches, `--no-ff` pull-request merges, conflicts resolved
by hand, octopus and criss-cross merges, files full of identical lines,
code moved between files, renames, shallow clones. The code looks like
code (C, Python, Go), with TODO comments in the spellings people use.

A builder records *expectations* — "git blames this tag line on that
commit, because …" — which are claims about git, not about fixme: they
are checked against `git blame` before fixme is, so that a history that
stopped being hostile (a git upgrade that merges differently, a typo in a
builder) fails loudly instead of silently testing nothing. They double as
documentation of the rules the blame engine has to reproduce.
"""

from __future__ import annotations

import os
import random
import subprocess
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from conftest import GitRepo

# name, e-mail, time zone: dates are shown in the author's own zone, so a
# cast spread over the globe catches an engine that reports the wrong one.
PEOPLE = {
    "ada": ("Ada Lovelace", "ada@example.org", "+0000"),
    "grace": ("Grace Hopper", "grace@example.org", "-0500"),
    "ken": ("Ken Thompson", "ken@example.org", "-0800"),
    "barbara": ("Barbara Liskov", "barbara@example.org", "-0400"),
    "edsger": ("Edsger Dijkstra", "edsger@example.org", "+0100"),
    "radia": ("Radia Perlman", "radia@example.org", "+0530"),
}


@dataclass
class Expectation:
    """A claim about git: `git blame` gives `commit` for the line reading `text`."""

    root: Path
    path: str
    text: str  # the tag line, compared without surrounding whitespace
    commit: str
    because: str
    occurrence: int = 1  # which of several identical lines (1 = the first)


def block(text: str) -> str:
    """A triple-quoted block as the file holds it: the closing quotes' indentation is column 0.

    Other texts are taken as they are.
    """
    if not text.startswith("\n"):
        return text
    lines = text[1:].split("\n")
    margin = len(lines[-1]) if not lines[-1].strip() else 0
    return "\n".join(line[margin:] if line[:margin].isspace() else line.lstrip() for line in lines)


class Project:
    """A repository being worked on by several people, commit by commit."""

    def __init__(self, root: Path):
        self.repo = GitRepo(root)
        self.root = root
        self.clock = 1_700_000_000
        self.expectations: list[Expectation] = []

    # -- files -------------------------------------------------------------
    def write(self, path: str, text: str) -> None:
        """Write a file; the text is dedented, so it can be indented like the test."""
        self.repo.write(path, textwrap.dedent(text).lstrip("\n"))

    def read(self, path: str) -> str:
        return (self.root / path).read_text()

    def edit(self, path: str, old: str, new: str, occurrence: int = 1) -> None:
        """Replace the `occurrence`-th `old` with `new`, like a hand edit.

        A text starting with a newline is a block written inside the test:
        its lines are indented relative to its closing quotes (see `block`).
        """
        old, new = block(old), block(new)
        text = self.read(path)
        at = -1
        for _ in range(occurrence):
            at = text.find(old, at + 1)
            assert at >= 0, f"{path}: {old!r} not found {occurrence} times"
        (self.root / path).write_text(text[:at] + new + text[at + len(old):])

    def move(self, src: str, dst: str) -> None:
        (self.root / dst).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", src, dst)

    def remove(self, path: str) -> None:
        self.git("rm", "-q", path)

    # -- history -----------------------------------------------------------
    def git(self, *args: str, env: dict | None = None) -> str:
        return self.repo.git(*args, env=env)

    def try_git(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=self.root, capture_output=True, text=True,
                              env={**os.environ, **(env or {})})

    def identity(self, author: str, committer: str | None = None, hours: int = 9) -> dict:
        """Environment for a commit by `author` (applied by `committer`), a little later than the last."""
        self.clock += hours * 3600 + 17 * 60
        name, email, tz = PEOPLE[author]
        cname, cemail, ctz = PEOPLE[committer or author]
        return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": f"{self.clock} {tz}",
                "GIT_COMMITTER_NAME": cname, "GIT_COMMITTER_EMAIL": cemail,
                "GIT_COMMITTER_DATE": f"{self.clock + 600} {ctz}"}

    def commit(self, message: str, author: str = "ada", committer: str | None = None) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message, env=self.identity(author, committer))
        return self.sha("HEAD")

    def branch(self, name: str, start: str = "HEAD") -> None:
        self.git("checkout", "-q", "-b", name, start)

    def checkout(self, name: str) -> None:
        self.git("checkout", "-q", name)

    def merge(self, *branches: str, author: str, message: str | None = None) -> str:
        """`git merge --no-ff` (the pull-request button): always a merge commit."""
        msg = message or f"Merge branch{'es' if len(branches) > 1 else ''} {', '.join(branches)}"
        self.git("merge", "-q", "--no-ff", "-m", msg, *branches, env=self.identity(author))
        return self.sha("HEAD")

    def start_merge(self, branch: str, author: str) -> list[str]:
        """Start a merge to finish by hand (`conclude_merge`); return the conflicted paths."""
        self.try_git("merge", "-q", "--no-ff", "--no-commit", branch, env=self.identity(author))
        return self.unmerged_paths()

    def unmerged_paths(self) -> list[str]:
        out = self.git("diff", "--name-only", "--diff-filter=U", "-z")
        return sorted(p for p in out.split("\0") if p)

    def conclude_merge(self, message: str, author: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--no-edit", "-m", message, env=self.identity(author))
        return self.sha("HEAD")

    def sha(self, rev: str) -> str:
        return self.git("rev-parse", rev).strip()

    def graph(self, root: Path | None = None) -> str:
        """The history as `git log --graph` draws it, for failure messages."""
        return history_graph(root or self.root)

    # -- claims about git --------------------------------------------------
    def expect(self, path: str, text: str, commit: str, because: str, occurrence: int = 1,
               root: Path | None = None) -> None:
        self.expectations.append(Expectation(root or self.root, path, text.strip(), commit, because, occurrence))


def history_graph(root: Path, limit: int = 80) -> str:
    """`git log --graph` of every branch, newest first, at most `limit` lines."""
    proc = subprocess.run(["git", "log", "--graph", "--all", "--format=%h %an: %s"], cwd=root,
                          capture_output=True, text=True)
    lines = proc.stdout.splitlines()
    return "\n".join(lines[:limit] + ([f"... {len(lines) - limit} more"] if len(lines) > limit else []))


# ---------------------------------------------------------------------------
# a realistic amount of tagged files

DRIVER_BUSES = ["uart", "spi", "i2c", "usb", "pci", "can", "gpio", "dma", "rtc", "adc"]


def add_driver_tree(p: Project, count: int = 50) -> None:
    """A drivers/ directory of `count` small C files, each with a TODO.

    A real tree has hundreds of tagged files. With only the handful a
    history below touches, `auto` would blame file by file and never walk
    the history, so the merges would go unexamined; with these it has a
    reason to read the history once.
    """
    for i in range(count):
        bus = DRIVER_BUSES[i % len(DRIVER_BUSES)]
        name = f"{bus}{i // len(DRIVER_BUSES)}"
        p.write(f"drivers/{bus}/{name}.c", f"""
            /* drivers/{bus}/{name}.c: {bus.upper()} controller {i}. */
            #include "driver.h"

            // TODO: support DMA on {name}
            int {name}_probe(struct device *dev)
            {{
                return 0;
            }}
            """)


# ---------------------------------------------------------------------------
# merges


SOCKET_C = """
    #include <errno.h>
    #include <sys/socket.h>

    #include "net.h"

    // TODO: move the buffer size to the config file
    #define BUF_SIZE 4096

    int net_open(const char *host, int port)
    {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return -errno;
        return fd;
    }

    int net_close(int fd)
    {
        return close(fd);
    }
    """


def no_ff_merge_main_unmoved(p: Project) -> None:
    """The everyday pull request: main did not move, the merge tree is the topic's tree.

    `git log --diff-merges=separate` prints nothing for the second parent
    (there is no difference), so an engine pairing diffs with parents by
    position sees only the diff against main and credits the whole topic
    to the merge commit. Blame gives every line to the second parent.
    """
    add_driver_tree(p)
    p.write("src/net/socket.c", SOCKET_C)
    p.commit("net: a socket wrapper", "ada")

    p.branch("grace/keepalive")
    p.edit("src/net/socket.c", """
        int net_close(int fd)
        """, """
        int net_keepalive(int fd)
        {
            int on = 1;
            /* FIXME: handle EINTR */
            // TODO(grace): make the interval configurable
            return setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
        }

        int net_close(int fd)
        """)
    p.write("src/net/keepalive.h", """
        #pragma once

        // XXX: Linux only
        int net_keepalive(int fd);
        """)
    keepalive = p.commit("net: keepalive", "grace")
    p.edit("src/net/socket.c", "#define BUF_SIZE 4096\n", """
        // HACK: 8k is what the proxy expects
        #define BUF_SIZE 8192
        """)
    bigger = p.commit("net: bigger buffers", "ken")

    p.checkout("main")
    merge = p.merge("grace/keepalive", author="barbara", message="Merge pull request #12 from grace/keepalive")
    assert p.sha(f"{merge}^{{tree}}") == p.sha(f"{bigger}^{{tree}}")
    p.expect("src/net/socket.c", "// TODO(grace): make the interval configurable", keepalive,
             "the merge's tree equals its second parent's, so every line passes to the topic")
    p.expect("src/net/socket.c", "// HACK: 8k is what the proxy expects", bigger, "same")
    p.expect("src/net/keepalive.h", "// XXX: Linux only", keepalive, "a file new on the topic is the topic's")
    p.expect("src/net/socket.c", "// TODO: move the buffer size to the config file", p.sha("main~1"),
             "older than the topic")

    # Work in progress on top, which must read as not committed.
    p.edit("src/net/socket.c", "    int fd = socket(AF_INET, SOCK_STREAM, 0);\n", """
            // TODO: SOCK_CLOEXEC
            int fd = socket(AF_INET, SOCK_STREAM, 0);
        """)
    p.write("src/net/tls.c", "// TODO: everything\n")


def no_ff_merge_main_moved_elsewhere(p: Project) -> None:
    """main moved in other files only: each file equals one parent's copy.

    config.py equals the topic's copy, main.py main's: blame hands each
    file wholly to the parent that has it unchanged, and a file that only
    the topic created (validate.py) goes to the topic even though it is
    "new" in the diff against the first parent.
    """
    add_driver_tree(p)
    p.write("src/app/main.py", '''
        import sys

        from .config import load


        def main(argv=None):
            argv = sys.argv[1:] if argv is None else argv
            config = load(argv)
            # TODO: a --dry-run flag
            return run(config)
        ''')
    p.write("src/app/config.py", '''
        DEFAULTS = {"port": 8080, "host": "localhost"}


        def load(argv):
            config = dict(DEFAULTS)
            for arg in argv:
                key, _, value = arg.partition("=")
                config[key] = value  # TODO: type conversion
            return config
        ''')
    p.commit("app: entry point and config", "ada")

    p.branch("grace/config")
    p.edit("src/app/config.py", "        config[key] = value  # TODO: type conversion\n", '''
                # FIXME(grace): validate the port range
                config[key] = int(value) if key == "port" else value
        ''')
    p.write("src/app/validate.py", '''
        def validate(config):
            # TODO: check that host resolves
            return True
        ''')
    validate = p.commit("config: convert the port, add validation", "grace")

    p.checkout("main")
    p.edit("src/app/main.py", "    # TODO: a --dry-run flag\n", """
            # TODO: parse --verbose before anything else
            # TODO: a --dry-run flag
        """)
    verbose = p.commit("main: note about --verbose", "ken")
    p.merge("grace/config", author="barbara", message="Merge pull request #14 from grace/config")
    p.expect("src/app/config.py", "# FIXME(grace): validate the port range", validate,
             "config.py is the topic's copy unchanged")
    p.expect("src/app/validate.py", "# TODO: check that host resolves", validate,
             "new against the first parent, but unchanged from the second")
    p.expect("src/app/main.py", "# TODO: parse --verbose before anything else", verbose,
             "main.py is main's copy unchanged")


SERVER_GO = """
    package server

    import (
        "net/http"
        "time"
    )

    // TODO: handel timeouts per route
    const timeout = 30 * time.Second

    func New() *http.Server {
        return &http.Server{ReadTimeout: timeout}
    }

    func health(w http.ResponseWriter, r *http.Request) {
        w.WriteHeader(http.StatusOK)
    }

    func metrics(w http.ResponseWriter, r *http.Request) {
        w.WriteHeader(http.StatusOK)
    }

    func routes(mux *http.ServeMux) {
        mux.HandleFunc("/health", health)
        mux.HandleFunc("/metrics", metrics)
    }
    """


def three_way_merge_same_file(p: Project) -> None:
    """Both sides edited server.go in different places: a true 3-way merge.

    The merged file equals neither parent. Blame gives main's lines to
    main, the topic's lines to the topic, and a change made identically on
    both sides (the typo fix) to the first parent, which is asked first.
    Both sides also add the same line, `// TODO: add tests`, in different
    functions: each copy belongs to its own side.
    """
    add_driver_tree(p)
    p.write("src/server/server.go", SERVER_GO)
    p.commit("server: skeleton", "ada")

    p.branch("topic/metrics")
    p.edit("src/server/server.go", "// TODO: handel timeouts per route\n", "// TODO: handle timeouts per route\n")
    p.edit("src/server/server.go", """
        func metrics(w http.ResponseWriter, r *http.Request) {
            w.WriteHeader(http.StatusOK)
        """, """
        func metrics(w http.ResponseWriter, r *http.Request) {
            // FIXME(grace): expose the counters, not just 200
            // TODO: add tests
            w.WriteHeader(http.StatusOK)
        """)
    topic = p.commit("server: metrics counters (wip)", "grace")

    p.checkout("main")
    p.edit("src/server/server.go", "// TODO: handel timeouts per route\n", "// TODO: handle timeouts per route\n")
    p.edit("src/server/server.go", """
        func New() *http.Server {
            return &http.Server{ReadTimeout: timeout}
        """, """
        func New() *http.Server {
            // TODO: rate limit
            // TODO: add tests
            return &http.Server{ReadTimeout: timeout, WriteTimeout: timeout}
        """)
    main = p.commit("server: write timeout, typo", "ken")
    merge = p.merge("topic/metrics", author="edsger", message="Merge branch 'topic/metrics'")
    p.expect("src/server/server.go", "// FIXME(grace): expose the counters, not just 200", topic, "topic side")
    p.expect("src/server/server.go", "// TODO: rate limit", main, "main side")
    p.expect("src/server/server.go", "// TODO: handle timeouts per route", main,
             "made identically on both sides: the first parent is asked first")
    p.expect("src/server/server.go", "// TODO: add tests", main, "the copy in New() is main's", occurrence=1)
    p.expect("src/server/server.go", "// TODO: add tests", topic, "the copy in metrics() is the topic's",
             occurrence=2)
    assert merge


RETRY_PY = '''
    import random
    import time

    MAX_RETRIES = 3  # TODO: read from the environment
    BACKOFF = 0.5


    def retry(fn):
        for attempt in range(MAX_RETRIES):
            try:
                return fn()
            except OSError:
                time.sleep(BACKOFF * attempt)
        raise RuntimeError("gave up")


    def describe():
        return f"{MAX_RETRIES} tries, {BACKOFF}s apart"
    '''


def evil_merge_resolved_by_hand(p: Project) -> None:
    """Both sides changed MAX_RETRIES; the merger resolved it with a line of her own.

    Lines written in the resolution exist in neither parent, so blame
    gives them to the merge commit itself — the one case where a merge
    rightly owns a line. The merger also slipped a TODO into a file
    neither side had touched.
    """
    add_driver_tree(p)
    p.write("src/retry.py", RETRY_PY)
    p.write("src/README.txt", "Retry helpers.\n")
    p.commit("retry helper", "ada")

    p.branch("grace/jitter")
    p.edit("src/retry.py", "MAX_RETRIES = 3  # TODO: read from the environment\n",
           "MAX_RETRIES = 5  # FIXME(grace): 5 is arbitrary, measure it\n")
    p.edit("src/retry.py", '''
        def describe():
        ''', '''
        def jitter(delay):
            # TODO: full jitter instead of +-10%
            return delay * random.uniform(0.9, 1.1)


        def describe():
        ''')
    jitter = p.commit("retry: more tries, jitter", "grace")

    p.checkout("main")
    p.edit("src/retry.py", "MAX_RETRIES = 3  # TODO: read from the environment\n",
           "MAX_RETRIES = 10  # TODO(ken): make this per-endpoint\n")
    per_endpoint = p.commit("retry: ten tries for the flaky backend", "ken")

    conflicts = p.start_merge("grace/jitter", author="radia")
    assert conflicts == ["src/retry.py"]
    text = p.read("src/retry.py")
    start, end = text.index("<<<<<<<"), text.index(">>>>>>>")
    end = text.index("\n", end) + 1
    resolution = ("# TODO: reconcile the retry policies of #31 and #34\n"
                  "MAX_RETRIES = 10  # TODO(ken): make this per-endpoint\n")
    (p.root / "src/retry.py").write_text(text[:start] + resolution + text[end:])
    p.write("src/README.txt", "Retry helpers.\n\nTODO: document the retry policy\n")
    merge = p.conclude_merge("Merge branch 'grace/jitter'", author="radia")
    p.expect("src/retry.py", "# TODO: reconcile the retry policies of #31 and #34", merge,
             "written in the conflict resolution: in neither parent")
    p.expect("src/retry.py", "MAX_RETRIES = 10  # TODO(ken): make this per-endpoint", per_endpoint,
             "the resolution kept main's line")
    p.expect("src/retry.py", "# TODO: full jitter instead of +-10%", jitter, "merged cleanly from the topic")
    p.expect("src/README.txt", "TODO: document the retry policy", merge, "an edit neither side made")


MAIN_GO = """
    package main

    import (
        "fmt"
        "os"
    )

    func run(args []string) error {
        switch args[0] {
        case "get":
            return nil
        case "put":
            return nil
        case "list":
            return nil
        }
        return fmt.Errorf("unknown command %q", args[0])
    }

    func main() {
        if err := run(os.Args[1:]); err != nil {
            fmt.Fprintln(os.Stderr, err)
            os.Exit(1)
        }
    }
    """


def octopus_merge(p: Project) -> None:
    """`git merge --no-ff b1 b2 b3`: a merge with four parents.

    main.go was edited by two of the branches in different places; each
    line goes to the branch that wrote it. A file only one branch created
    goes to that branch. `--diff-merges=separate` prints up to three
    diffs for this one commit, and none for a parent whose copy of a file
    equals the merged one.
    """
    add_driver_tree(p)
    p.write("cmd/tool/main.go", MAIN_GO)
    p.write("docs/devlog.md", "# Devlog\n\n## 2023-11-20\n\nStarted the tool.\n")
    p.commit("tool: commands", "ada")

    p.branch("b1")
    p.edit("cmd/tool/main.go", """
            case "get":
                return nil
        """, """
            case "get":
                // TODO(ada): stream large objects
                return fetch.Get(args[1:])
        """)
    p.write("internal/fetch/fetch.go", """
        package fetch

        // TODO: retries
        func Get(args []string) error {
            return nil
        }
        """)
    b1 = p.commit("tool: get", "grace")

    p.branch("b2", "main")
    p.edit("cmd/tool/main.go", """
            case "list":
                return nil
        """, """
            case "list":
                /* FIXME: paginate */
                return cache.List()
        """)
    p.write("internal/cache/cache.go", """
        package cache

        // TODO: evict
        func List() error {
            return nil
        }
        """)
    b2 = p.commit("tool: list from the cache", "ken")

    p.branch("b3", "main")
    p.edit("docs/devlog.md", "Started the tool.\n", """
        Started the tool.

        TODO: write the man page
            Needs a section per command.
        """)
    b3 = p.commit("devlog: man page", "radia")

    p.checkout("main")
    p.merge("b1", "b2", "b3", author="edsger", message="Merge branches 'b1', 'b2' and 'b3'")
    assert len(p.git("log", "-1", "--format=%P").split()) == 4
    p.expect("cmd/tool/main.go", "// TODO(ada): stream large objects", b1, "written on b1 (by grace)")
    p.expect("cmd/tool/main.go", "/* FIXME: paginate */", b2, "written on b2")
    p.expect("internal/cache/cache.go", "// TODO: evict", b2, "only b2 has this file")
    p.expect("docs/devlog.md", "TODO: write the man page", b3, "only b3 touched the devlog")


QUEUE_C = """
    #include <stdlib.h>

    #include "queue.h"

    int queue_push(struct queue *q, void *item)
    {
        q->items[q->tail++] = item;
        return 0;
    }

    /* --- */

    void *queue_pop(struct queue *q)
    {
        return q->items[q->head++];
    }

    /* --- */

    void *queue_peek(struct queue *q)
    {
        return q->items[q->head];
    }

    /* --- */

    int queue_len(struct queue *q)
    {
        return q->tail - q->head;
    }
    """


def criss_cross_merge(p: Project) -> None:
    """Two branches merge each other, then both are merged to main.

    A2 = merge(A1, B1) and B2 = merge(B1, A1) have the same tree; the
    final merge of B into main has two merge bases. Every line still has
    exactly one commit that wrote it, and that is what blame reports.
    """
    add_driver_tree(p)
    p.write("lib/queue.c", QUEUE_C)
    p.commit("queue", "ada")

    p.branch("locking")
    p.edit("lib/queue.c", "    q->items[q->tail++] = item;\n", """
            // TODO: take the lock
            q->items[q->tail++] = item;
        """)
    a1 = p.commit("queue: locking plan", "grace")

    p.branch("stats", "main")
    p.edit("lib/queue.c", "    return q->tail - q->head;\n", """
            // FIXME(ken): wraps around after 2^31 pushes
            return q->tail - q->head;
        """)
    b1 = p.commit("queue: note the overflow", "ken")

    p.checkout("locking")
    p.merge(b1, author="grace", message="Merge stats into locking")
    p.checkout("stats")
    p.merge(a1, author="ken", message="Merge locking into stats")

    p.checkout("locking")
    p.edit("lib/queue.c", "    return q->items[q->head++];\n", """
            // TODO: check for an empty queue
            return q->items[q->head++];
        """)
    a3 = p.commit("queue: pop plan", "grace")
    p.checkout("stats")
    p.edit("lib/queue.c", "    return q->items[q->head];\n", """
            // XXX: peek on an empty queue reads garbage
            return q->items[q->head];
        """)
    b3 = p.commit("queue: peek warning", "ken")

    p.checkout("main")
    p.merge("locking", author="barbara", message="Merge pull request #3 from locking")
    p.merge("stats", author="barbara", message="Merge pull request #4 from stats")
    assert len(p.git("merge-base", "--all", "locking", "stats").split()) == 2, "criss-cross: two merge bases"
    p.expect("lib/queue.c", "// TODO: take the lock", a1, "written once, on A, before the criss-cross")
    p.expect("lib/queue.c", "// FIXME(ken): wraps around after 2^31 pushes", b1, "written once, on B")
    p.expect("lib/queue.c", "// TODO: check for an empty queue", a3, "after the criss-cross, on A")
    p.expect("lib/queue.c", "// XXX: peek on an empty queue reads garbage", b3, "after the criss-cross, on B")


# ---------------------------------------------------------------------------
# repeated lines


TABLES_C = """
    #include "tables.h"

    static const struct entry colors[] = {
        // TODO: populate this table
        { 0 },
    };

    static const struct entry sizes[] = {
        // TODO: populate this table
        { 0 },
    };

    int lookup_color(int key)
    {
        /* TODO: binary search */
        if (key < 0)
            return 0;
        return 0;
    }

    int lookup_size(int key)
    {
        /* TODO: binary search */
        if (key < 0)
            return 0;
        return 0;
    }
    """

SHAPES_TABLE = """
    static const struct entry shapes[] = {
        // TODO: populate this table
        { 0 },
    };

    """

LOOKUP_SHAPE = """
    int lookup_shape(int key)
    {
        /* TODO: binary search */
        if (key < 0)
            return 0;
        return 0;
    }

    """

HANDLERS_PY = '''
    def on_open(event):
        # TODO: handle errors
        pass


    def on_close(event):
        # TODO: handle errors
        pass


    def on_error(event):
        # TODO: handle errors
        return None
    '''


def repeated_lines(p: Project) -> None:
    """Files made of identical lines, edited so that the diff is ambiguous.

    `}`, `return 0;`, blank lines and `// TODO: populate this table` occur
    many times; inserting a block that duplicates its neighbours, deleting
    one of several identical lines, or moving a function can be described
    by many diffs, and blame follows the one git's diff picks. An engine
    with its own diff, or one that matches lines by text, lands on a
    different copy.
    """
    add_driver_tree(p)
    p.write("src/tables.c", TABLES_C)
    p.write("src/handlers.py", HANDLERS_PY)
    p.commit("tables and handlers", "ada")

    # A new table identical to its neighbours but for the name.
    p.edit("src/tables.c", "static const struct entry sizes[] = {\n",
           textwrap.dedent(SHAPES_TABLE).lstrip("\n") + "static const struct entry sizes[] = {\n")
    p.commit("tables: shapes", "grace")

    # A lookup function identical to the others, between two of them.
    p.edit("src/tables.c", "int lookup_size(int key)\n",
           textwrap.dedent(LOOKUP_SHAPE).lstrip("\n") + "int lookup_size(int key)\n")
    p.commit("tables: lookup_shape", "ken")

    # Delete one of three identical TODO lines (and its table).
    p.edit("src/tables.c", SHAPES_TABLE.replace("shapes", "sizes"), "")
    p.commit("tables: sizes are computed now", "barbara")

    # Move lookup_color below lookup_size (cut and paste in one file).
    color = textwrap.dedent(LOOKUP_SHAPE).lstrip("\n").replace("shape", "color")
    p.edit("src/tables.c", color, "")
    p.write("src/tables.c", p.read("src/tables.c").rstrip("\n") + "\n\n" + color.rstrip("\n") + "\n")
    p.commit("tables: keep lookups in table order", "edsger")

    # Fill the first table: one of the identical TODO lines goes.
    p.edit("src/tables.c", """
            // TODO: populate this table
            { 0 },
        """, """
            { 1, "red" },
            { 2, "green" },
            { 0 },
        """)
    p.commit("tables: colors", "radia")

    # A blank-line and brace shuffle, and one more identical handler in
    # the middle of the identical ones.
    p.edit("src/handlers.py", '''
        def on_close(event):
        ''', '''
        def on_reset(event):
            # TODO: handle errors
            pass


        def on_close(event):
        ''')
    p.edit("src/handlers.py", "    # TODO: handle errors\n    pass\n", "    pass\n", occurrence=1)
    p.commit("handlers: reset; open cannot fail", "grace")

    # Uncommitted: one more copy of the table at the top. Which of the
    # identical TODO lines is "new" is for git's diff to say.
    p.edit("src/tables.c", "static const struct entry colors[] = {\n",
           textwrap.dedent(SHAPES_TABLE).lstrip("\n").replace("shapes", "weights")
           + "static const struct entry colors[] = {\n")


# ---------------------------------------------------------------------------
# lines moving between files, renames


A_C = """
    #include <stdio.h>
    #include <string.h>

    #include "b.h"

    static int verbose;

    // TODO: getopt_long
    static int parse_args(int argc, char **argv)
    {
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "-v") == 0)
                verbose = 1;
        }
        return 0;
    }

    static void usage(void)
    {
        puts("usage: tool [-v]");
    }

    int main(int argc, char **argv)
    {
        if (parse_args(argc, argv) != 0) {
            usage();
            return 2;
        }
        return run(verbose);
    }
    """

B_C = """
    #include "b.h"

    int run(int verbose)
    {
        /* TODO: do something */
        return 0;
    }
    """

def util_c(name: str, *parts: str) -> str:
    """A helper file: license header, includes, then the given functions."""
    return block(f"""
        /*
         * {name}: small helpers.
         *
         * Copyright (c) 2023 The Tool Authors.
         * SPDX-License-Identifier: MIT
         */

        #include <stdlib.h>
        #include <string.h>

        #include "util.h"

        """) + "\n".join(block(part) for part in parts)


STR_PART = """
    char *str_dup(const char *s)
    {
        size_t n = strlen(s) + 1;
        char *copy = malloc(n);
        // TODO: handle malloc failure
        return copy ? memcpy(copy, s, n) : NULL;
    }

    int str_starts(const char *s, const char *prefix)
    {
        // TODO: use strncmp
        while (*prefix)
            if (*s++ != *prefix++)
                return 0;
        return 1;
    }
    """

MEM_PART = """
    void *mem_zalloc(size_t n)
    {
        /* FIXME: overflow check */
        return calloc(1, n);
    }

    void *mem_dup(const void *p, size_t n)
    {
        void *copy = malloc(n);
        // TODO: handle malloc failure
        return copy ? memcpy(copy, p, n) : NULL;
    }
    """


def lines_moved_between_files(p: Project) -> None:
    """A function cut from a.c and pasted into b.c; a file split in two; a file split in a merge.

    fixme blames without -C, so a line pasted into another file belongs
    to the commit that pasted it. But a *file* that disappears is a rename
    source, and blame looks for one separately for each new file, like
    `git log --follow`: when util.c is split evenly into str.c and mem.c,
    both are similar enough to it, so both follow it and keep their old
    lines' commits — although `git log -M` pairs util.c with one of them
    only and shows the other as new. main meanwhile edited a line of
    util.c that ends up in str.c: the merge carries it across the
    rename, and blame follows it back through the first parent's util.c.
    Last, a merge that moves a function into a new file while b.c stays:
    nothing was deleted, so no rename, and the merge wrote the new file.
    """
    add_driver_tree(p)
    p.write("src/a.c", A_C)
    p.write("src/b.c", B_C)
    p.repo.write("src/util.c", util_c("util.c", STR_PART, MEM_PART))
    root = p.commit("tool", "ada")

    parse_args = """
        // TODO: getopt_long
        static int parse_args(int argc, char **argv)
        {
            for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "-v") == 0)
                    verbose = 1;
            }
            return 0;
        }

        """
    p.edit("src/a.c", parse_args, "")
    p.edit("src/b.c", "int run(int verbose)\n", block(parse_args) + "int run(int verbose)\n")
    pasted = p.commit("move parse_args next to run", "grace")
    p.expect("src/b.c", "// TODO: getopt_long", pasted, "no -C: a line pasted from another file is new")

    p.branch("ken/split-util")
    p.remove("src/util.c")
    p.repo.write("src/str.c", util_c("str.c", STR_PART))
    p.repo.write("src/mem.c", util_c("mem.c", MEM_PART, """
        // TODO: mem_swap
        """))
    split = p.commit("util: split into str.c and mem.c", "ken")
    renamed = p.git("show", "-M", "--format=", "--name-status", split).split()
    assert renamed.count("src/util.c") == 1, f"git log -M pairs util.c with one file only: {renamed}"

    p.checkout("main")
    p.edit("src/util.c", "    // TODO: use strncmp\n", "    // TODO(grace): use strncmp, this is O(n) twice\n")
    strncmp = p.commit("util: sharper note", "grace")
    p.merge("ken/split-util", author="barbara", message="Merge pull request #20 from ken/split-util")
    assert not (p.root / "src/util.c").exists()
    p.expect("src/str.c", "// TODO(grace): use strncmp, this is O(n) twice", strncmp,
             "carried into str.c by the merge; blame follows the rename back through the first parent")
    p.expect("src/str.c", "// TODO: handle malloc failure", root, "str.c follows util.c")
    p.expect("src/mem.c", "/* FIXME: overflow check */", root, "mem.c follows util.c too")
    p.expect("src/mem.c", "// TODO: handle malloc failure", root, "mem.c follows util.c too")
    p.expect("src/mem.c", "// TODO: mem_swap", split, "written in the split")

    # The merger splits b.c while merging a branch: run() moves to a new
    # run.c in the merge commit itself.
    p.branch("ada/usage")
    p.edit("src/a.c", '    puts("usage: tool [-v]");\n',
           '    // TODO: list the commands\n    puts("usage: tool [-v] COMMAND");\n')
    usage = p.commit("usage: commands", "ada")
    p.checkout("main")
    p.edit("src/b.c", "    /* TODO: do something */\n", "    /* TODO: do something useful */\n")
    p.commit("b.c: ambition", "ken")
    assert p.start_merge("ada/usage", author="barbara") == []
    text = p.read("src/b.c")
    run = text[text.index("int run(int verbose)"):]
    p.repo.write("src/b.c", text[:text.index("int run(int verbose)")].rstrip("\n") + "\n")
    p.repo.write("src/run.c", '#include "b.h"\n\n' + run)
    in_merge = p.conclude_merge("Merge branch 'ada/usage'; run() gets a file of its own", "barbara")
    p.expect("src/run.c", "/* TODO: do something useful */", in_merge,
             "run.c is new in the merge and b.c was not deleted: no rename to follow, the merge wrote it")
    p.expect("src/a.c", "// TODO: list the commands", usage, "the branch's line, merged cleanly")


def renames(p: Project) -> None:
    """git mv with small edits, a rename inside a merge, a rename plus a new file at the old path.

    Blame follows a whole-file rename only when git's rename detection
    (deleted path → added path, similar enough) pairs them. When a new
    file takes the old path in the same commit, the old path was not
    deleted, no rename is detected, and every line of the moved file
    belongs to that commit. In the work tree, a rename staged with
    `git mv` is followed (its old lines are committed ones), while a file
    moved behind git's back is untracked: not committed at all.
    """
    add_driver_tree(p)
    p.write("pkg/old_name.py", '''
        """Helpers with a name nobody understands."""


        def frob(x):
            # TODO: document what frobbing is
            return x * 2


        def unfrob(x):
            # FIXME: loses precision
            return x // 2
        ''')
    p.write("pkg/units.py", '''
        def kilobytes(n):
            # FIXME: overflows on 32-bit
            return n * 1024
        ''')
    p.write("src/config.c", """
        #include "config.h"

        // TODO: reload on SIGHUP
        int config_load(const char *path)
        {
            return 0;
        }
        """)
    p.write("src/legacy/io.go", """
        package io

        import "os"

        // TODO: buffer writes
        func WriteAll(f *os.File, data []byte) error {
            _, err := f.Write(data)
            return err
        }

        func ReadAll(f *os.File) ([]byte, error) {
            return nil, nil
        }
        """)
    root = p.commit("helpers, config, io", "ada")

    p.move("pkg/old_name.py", "pkg/scaling.py")
    p.edit("pkg/scaling.py", '"""Helpers with a name nobody understands."""', '"""Scaling helpers."""')
    p.commit("rename old_name to scaling", "grace")
    p.expect("pkg/scaling.py", "# TODO: document what frobbing is", root, "a rename with a small edit is followed")

    p.branch("ken/io-move")
    p.move("src/legacy/io.go", "src/io/io.go")
    p.edit("src/io/io.go", "package io\n", "// Package io: file helpers.\npackage io\n")
    p.commit("io: out of legacy/", "ken")
    p.checkout("main")
    p.edit("src/legacy/io.go", "    return nil, nil\n", """
            // TODO: io.ReadAll would do
            return nil, nil
        """)
    readall = p.commit("io: note", "radia")
    p.merge("ken/io-move", author="barbara", message="Merge pull request #8 from ken/io-move")
    p.expect("src/io/io.go", "// TODO: io.ReadAll would do", readall,
             "main's edit to the old path, carried across the rename by the merge")
    p.expect("src/io/io.go", "// TODO: buffer writes", root, "followed through the rename on the topic")

    p.move("src/config.c", "src/settings.c")
    p.write("src/config.c", """
        #include "config.h"

        // TODO: parse the new format
        int config_parse(const char *text)
        {
            return 0;
        }
        """)
    takeover = p.commit("config: settings.c keeps the old loader, config.c parses", "edsger")
    p.expect("src/settings.c", "// TODO: reload on SIGHUP", takeover,
             "config.c still exists after the commit, so no rename is detected: settings.c is new")

    # Not committed: a rename staged with git mv, and one done behind git's back.
    p.move("pkg/units.py", "pkg/measures.py")
    p.edit("pkg/measures.py", "    return n * 1024\n", "    # TODO: KiB or kB?\n    return n * 1024\n")
    p.expect("pkg/measures.py", "# FIXME: overflows on 32-bit", root,
             "blaming the work tree follows a rename staged in the index")
    os.rename(p.root / "src/config.c", p.root / "src/parse_config.c")


# ---------------------------------------------------------------------------
# shallow clones, whitespace, deleted and re-added lines


def shallow_clone(p: Project) -> Path:
    """A `--depth 3` clone: lines older than the boundary belong to the boundary commit.

    The clone's oldest commits have their parents cut off; git blame
    reports them (with a `boundary` mark) for every line it cannot follow
    further. The tip is a merge, so the clone has several boundary commits.
    """
    add_driver_tree(p)
    p.write("src/cache.py", '''
        # TODO: an LRU instead of a dict
        CACHE = {}


        def get(key):
            return CACHE.get(key)
        ''')
    p.commit("cache", "ada")
    p.edit("src/cache.py", "def get(key):\n", "def put(key, value):\n    # FIXME: no size limit\n"
           "    CACHE[key] = value\n\n\ndef get(key):\n")
    p.commit("cache: put", "grace")
    p.write("src/store.c", "// TODO: fsync the directory too\nint store_put(void) { return 0; }\n")
    p.commit("store", "ken")
    p.edit("src/store.c", "int store_put", "// HACK: pretend success\nint store_put")
    p.commit("store: pretend", "ken")

    p.branch("radia/evict")
    p.edit("src/cache.py", "    return CACHE.get(key)\n", "    # TODO(radia): count hits\n    return CACHE.get(key)\n")
    evict = p.commit("cache: hit counting plan", "radia")
    p.checkout("main")
    p.write("src/net.go", "package net\n\n// TODO: IPv6\nfunc Dial() {}\n")
    p.commit("net", "edsger")
    p.merge("radia/evict", author="barbara", message="Merge pull request #5 from radia/evict")

    clone = p.root.parent / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "3", f"file://{p.root}", str(clone)], check=True,
                   capture_output=True)
    shallow = clone / ".git" / "shallow"  # the commits whose parents were cut off
    cut = shallow.read_text().split() if shallow.exists() else []
    assert cut, "the clone should be shallow"
    p.expect("src/cache.py", "# TODO(radia): count hits", evict, "inside the depth", root=clone)
    oldest_on_main = p.sha("main~2")  # "store: pretend", depth 3 along the first parents
    assert oldest_on_main in cut
    p.expect("src/cache.py", "# TODO: an LRU instead of a dict", oldest_on_main,
             "older than the depth: the boundary commit, as blame reports it", root=clone)
    return clone


def whitespace_and_readded(p: Project) -> None:
    """A TODO line re-indented, given trailing blanks, CRLF, a newline at last, deleted and re-added.

    Blame compares lines byte for byte (fixme does not pass -w): a
    whitespace-only change makes the line new, and a line re-added
    after its deletion belongs to the commit that re-added it, however
    old its twin was.
    """
    add_driver_tree(p)
    p.repo.write("src/render.c", "int render(void)\n{\n\t// FIXME: off by one at the right edge\n"
                 "\tint w = width();\n\treturn w;\n}\n")
    p.write("src/glyphs.py", '''
        def draw(text):
            # TODO: cache the glyphs
            for ch in text:
                blit(ch)
            # NOTE: keep this loop simple
            # XXX: kerning
            return len(text)
        ''')
    p.commit("render and glyphs", "ada")

    p.repo.write("src/render.c", p.read("src/render.c").replace("\t", "    "))
    reindent = p.commit("render.c: spaces, not tabs", "grace")
    p.expect("src/render.c", "// FIXME: off by one at the right edge", reindent, "whitespace-only change")

    p.edit("src/glyphs.py", "    # TODO: cache the glyphs\n", "")
    p.commit("glyphs: caching landed", "ken")
    p.edit("src/glyphs.py", "    for ch in text:\n", "    # HACK: ascii only \n    for ch in text:\n")
    p.commit("glyphs: ascii", "ken")
    p.edit("src/glyphs.py", "def draw(text):\n", "def draw(text):\n    # TODO: cache the glyphs\n")
    readded = p.commit("glyphs: caching was reverted, note it again", "radia")
    p.expect("src/glyphs.py", "# TODO: cache the glyphs", readded, "deleted, then re-added: the re-adding commit")

    p.edit("src/glyphs.py", "    # HACK: ascii only \n", "    # HACK: ascii only\n")
    trimmed = p.commit("glyphs: trailing blank", "edsger")
    p.expect("src/glyphs.py", "# HACK: ascii only", trimmed, "only trailing whitespace changed")

    # Swap two adjacent comment lines: one of them is "moved", git decides which.
    p.edit("src/glyphs.py", "    # NOTE: keep this loop simple\n    # XXX: kerning\n",
           "    # XXX: kerning\n    # NOTE: keep this loop simple\n")
    p.commit("glyphs: reorder notes", "barbara")

    # A Windows editor rewrote one file with CRLF line ends: every line changes.
    p.repo.write("src/win.py", b"def path():\n    # TODO: drive letters\n    return 'C:'\n")
    p.commit("win: paths", "ada")
    p.repo.write("src/win.py", b"def path():\r\n    # TODO: drive letters\r\n    return 'C:'\r\n")
    crlf = p.commit("win: edited on Windows", "grace")
    p.expect("src/win.py", "# TODO: drive letters", crlf, "CRLF makes every line a different line")

    # The last line had no newline; appending a line after it changes it.
    p.repo.write("src/eof.go", "package eof\n\n// TODO: tidy up")
    p.commit("eof: start", "ada")
    p.repo.write("src/eof.go", "package eof\n\n// TODO: tidy up\nfunc Tidy() {}\n")
    appended = p.commit("eof: tidy", "ken")
    p.expect("src/eof.go", "// TODO: tidy up", appended, "a last line without its newline is another line")


# ---------------------------------------------------------------------------
# a long linear history over many files


def long_linear_history(p: Project, commits: int = 60, files: int = 56) -> None:
    """60 commits over 56 tagged files in three languages, a mailmap and a patch applied by another.

    Enough files that `auto` would choose to walk the history. Every
    commit touches a few files: adds a TODO to a function, rewords one,
    deletes one, adds a function, renames a file. One early author later
    changed e-mail (the .mailmap maps it back), and one commit was
    written by ada but committed by barbara: blame reports the author.
    """
    rnd = random.Random(60)
    kinds = [("c", "// {tag}: {text}", "int {name}(void)\n{{\n{body}    return 0;\n}}\n"),
             ("py", "# {tag}: {text}", "def {name}():\n{body}    return None\n"),
             ("go", "// {tag}: {text}", "func {name}() error {{\n{body}    return nil\n}}\n")]
    tags = ["TODO", "FIXME", "XXX", "HACK", "TODO(ada)", "todo", "FIXME(grace)"]
    texts = ["check the error", "this is slow", "handle the empty case", "remove after the migration",
             "populate this table", "locking", "use the config value"]
    paths: list[tuple[str, tuple]] = []
    for i in range(files):
        kind = kinds[i % 3]
        path = f"{['core', 'util', 'io', 'net'][i % 4]}/mod{i}.{kind[0]}"
        paths.append((path, kind))
        funcs = "\n".join(kind[2].format(name=f"f{i}_{j}", body="    " + kind[1].format(
            tag=rnd.choice(tags), text=rnd.choice(texts)) + "\n") for j in range(3))
        header = "package mod\n\n" if kind[0] == "go" else ""
        p.repo.write(path, header + funcs)
    p.write(".mailmap", "Ken Thompson <ken@example.org> <ken@old.example>\n")
    p.write("core/notes.md", "# Notes\n\n## 2023-11-16\n\nTODO: write a changelog\n    From the commit subjects.\n")
    p.commit("import the code base", "ada")

    # ken, before his e-mail changed: blame reports him as the mailmap says
    p.write("core/legacy.c", "// TODO(ken): drop K&R declarations\nint legacy(a) int a; { return a; }\n")
    p.git("add", "-A")
    env = p.identity("ken")
    env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "ken@old.example"
    p.git("commit", "-q", "-m", "legacy code", env=env)
    p.expect("core/legacy.c", "// TODO(ken): drop K&R declarations", p.sha("HEAD"), "mailmapped author")

    for n in range(commits - 1):
        for _ in range(rnd.randint(1, 3)):
            index = rnd.randrange(len(paths))
            path, kind = paths[index]
            lines = p.read(path).splitlines(keepends=True)
            what = rnd.random()
            if what < 0.35:  # a new TODO at the top of a function body
                at = rnd.choice([i for i, line in enumerate(lines) if line.rstrip().endswith(("{", ":"))]) + 1
                lines.insert(at, "    " + kind[1].format(tag=rnd.choice(tags), text=rnd.choice(texts)) + "\n")
            elif what < 0.55:  # reword a tagged line
                tagged = [i for i, line in enumerate(lines) if line.lstrip().startswith(("#", "//"))]
                if tagged:
                    i = rnd.choice(tagged)
                    lines[i] = lines[i].rstrip("\n") + " (again)\n"
            elif what < 0.7:  # delete a tagged line
                tagged = [i for i, line in enumerate(lines) if line.lstrip().startswith(("#", "//"))]
                if tagged:
                    del lines[rnd.choice(tagged)]
            elif what < 0.9:  # a new function, duplicating the shape of the others
                body = "    " + kind[1].format(tag=rnd.choice(tags), text=rnd.choice(texts)) + "\n"
                lines += ["\n"] + kind[2].format(name=f"g{n}", body=body).splitlines(keepends=True)
            else:  # rename the file
                folder, name = path.split("/")
                new = f"{folder}/{'m' if name.startswith('mod') else 'mod'}{name.lstrip('mod')}"
                p.move(path, new)
                paths[index] = (new, kind)
                path = new
            p.repo.write(path, "".join(lines))
        author = rnd.choice(list(PEOPLE))
        if n < 10 and author == "ken":
            # ken before his e-mail changed: the mailmap folds him back
            env = p.identity("ken")
            env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "ken@old.example"
            p.git("add", "-A")
            p.git("commit", "-q", "-m", f"change {n}", env=env)
        elif n == 30:  # written by ada, applied by barbara: blame reports the author
            p.write("core/patch.py", "def patched():\n    # FIXME(ada): upstream this\n    return True\n")
            sha = p.commit(f"change {n} (patch from the mailing list)", "ada", committer="barbara")
            p.expect("core/patch.py", "# FIXME(ada): upstream this", sha, "authored by ada, committed by barbara")
        else:
            p.commit(f"change {n}", author)
    # work in progress on the devlog
    p.edit("core/notes.md", "## 2023-11-16\n", "## 2023-11-16\n\nFIXME: the release script\n")


# ---------------------------------------------------------------------------
# random histories

C_LINES = ["}", "    return 0;", "", "    // TODO: populate this table", "    if (err)", "        goto out;",
           "int f(void)", "{", "    /* FIXME: leaks on the error path */", "    free(buf);", "    n++;",
           "// TODO: populate this table", "    // XXX: racy", "out:"]
PY_LINES = ["", "    return None", "    pass", "    # TODO: handle errors", "# FIXME(ada): retry on EAGAIN",
            "def handler(event):", "    event.ack()", "    # TODO: handle errors", "    # HACK: sleep(1)", "    x += 1"]


def _alphabet(path: str) -> list[str]:
    return PY_LINES if path.endswith(".py") else C_LINES


@dataclass
class RandomHistory:
    """A random history in the making; `log` says what was done, for failure messages."""

    p: Project
    rnd: random.Random
    log: list[str] = field(default_factory=list)
    names: int = 0

    def sources(self) -> list[str]:
        return sorted(str(path.relative_to(self.p.root)) for path in (self.p.root / "src").rglob("*")
                      if path.is_file())

    def new_file(self) -> None:
        self.names += 1
        ext = self.rnd.choice(["c", "c", "py"])
        path = f"src/f{self.names}.{ext}"
        lines = [self.rnd.choice(_alphabet(path)) for _ in range(self.rnd.randint(4, 14))]
        self.p.repo.write(path, "".join(line + "\n" for line in lines))
        self.log.append(f"new {path}")

    def edit(self) -> None:
        sources = self.sources()
        if not sources or self.rnd.random() < 0.08:
            self.new_file()
            return
        path = self.rnd.choice(sources)
        if self.rnd.random() < 0.08 and self.p.git("ls-files", "--", path).strip():  # git mv needs it tracked
            self.names += 1
            new = f"src/r{self.names}_{path.rsplit('/', 1)[-1]}"
            self.p.move(path, new)
            self.log.append(f"mv {path} {new}")
            path = new
        lines = (self.p.root / path).read_text().splitlines()
        alphabet = _alphabet(path)
        op = self.rnd.choice(["insert", "insert", "delete", "duplicate", "move", "replace"])
        at = self.rnd.randint(0, len(lines))
        if op == "insert" or not lines:
            block = [self.rnd.choice(alphabet) for _ in range(self.rnd.randint(1, 4))]
            lines[at:at] = block
        elif op == "delete":
            at = min(at, len(lines) - 1)
            del lines[at:at + self.rnd.randint(1, 3)]
        elif op in ("duplicate", "move"):
            start = self.rnd.randrange(len(lines))
            block = lines[start:start + self.rnd.randint(1, 5)]
            if op == "move":
                del lines[start:start + len(block)]
            at = self.rnd.randint(0, len(lines))
            lines[at:at] = block
        else:
            at = min(at, len(lines) - 1)
            lines[at] = self.rnd.choice(alphabet)
        self.p.repo.write(path, "".join(line + "\n" for line in lines))
        self.log.append(f"{op} {path}@{at + 1}")

    def commit(self) -> str:
        author = self.rnd.choice(list(PEOPLE))
        for _ in range(self.rnd.randint(1, 2)):
            self.edit()
        sha = self.p.commit(f"{self.log[-1]}", author)
        self.log.append(f"-- commit {sha[:7]} by {author}")
        return sha

    def merge(self, branch: str) -> None:
        author = self.rnd.choice(list(PEOPLE))
        proc = self.p.try_git("merge", "-q", "--no-ff", "--no-commit", branch, env=self.p.identity(author))
        if proc.returncode != 0:
            self.resolve_by_hand()
        evil = self.rnd.random() < 0.25
        if evil:  # the merger edits as she merges
            self.edit()
        self.p.conclude_merge(f"Merge branch '{branch}'", author)
        self.log.append(f"-- merge {branch} by {author}{' (evil)' if evil else ''}: {self.p.sha('HEAD')[:7]}")

    def resolve_by_hand(self) -> None:
        """Settle every conflicted path on our side's copy, or theirs, or no file."""
        stages: dict[str, dict[int, str]] = {}
        for row in self.p.git("ls-files", "-u", "-z").split("\0"):
            if row:
                meta, path = row.split("\t", 1)
                stages.setdefault(path, {})[int(meta.split()[2])] = meta.split()[1]
        for path, blobs in stages.items():
            side = self.rnd.choice([2, 3])
            blob = blobs.get(side) or blobs.get(5 - side)
            target = self.p.root / path
            if blob is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(subprocess.run(["git", "cat-file", "blob", blob], cwd=self.p.root,
                                                  capture_output=True, check=True).stdout)
            self.log.append(f"resolved {path} with {'ours' if side == 2 else 'theirs'}")


def random_history(p: Project, seed: int, branch_chance: float = 0.35) -> RandomHistory:
    """5 to 25 commits of random edits over lines that repeat a lot, with --no-ff merges and renames."""
    history = RandomHistory(p, random.Random(seed))
    rnd = history.rnd
    add_driver_tree(p)
    for _ in range(rnd.randint(1, 3)):
        history.new_file()
    p.commit("start", "ada")
    budget = rnd.randint(5, 25) - 1
    topics = 0
    while budget > 0:
        if rnd.random() < branch_chance and budget >= 2:
            topics += 1
            branch = f"topic{topics}"
            p.branch(branch)
            history.log.append(f"-- branch {branch}")
            for _ in range(rnd.randint(1, min(3, budget - 1))):
                history.commit()
                budget -= 1
            p.checkout("main")
            if rnd.random() < 0.5:  # main moved meanwhile; else the merge tree is the topic's
                for _ in range(rnd.randint(1, 2)):
                    history.commit()
                    budget -= 1
            history.merge(branch)
            budget -= 1
        else:
            history.commit()
            budget -= 1
    if rnd.random() < 0.5:  # work in progress
        history.edit()
        history.log.append("-- (not committed)")
    return history
