"""Teams that meet only at a git remote, for the git transport's tests.

A bare repository on local disk (or served by a real `git daemon` on
127.0.0.1) is the remote; each clone has its own FIXME_HOME, so its own
key, and runs the CLI in-process. Hostile remotes are built with git's own
plumbing (`hash-object --literally` for trees git would not write).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from conftest import run_cli

from fixme.node import canonical
from fixme.node.hashing import block_id
from fixme.node.records import sign_record

SOURCE = "# TODO: first task\n# TODO: second task\n# FIXME: third task\n"


def git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, input=input)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr.decode()}")
    return proc.stdout.decode()


@dataclass
class Clone:
    root: Path
    home: Path

    def fixme(self, *args: str, check: bool = True):
        result = run_cli("-C", str(self.root), *args, cwd=self.root, home=self.home)
        if check and result.code != 0:
            raise AssertionError(f"fixme {' '.join(args)} failed ({result.code}): {result.err}{result.out}")
        return result

    def git(self, *args: str) -> str:
        return git(self.root, *args)

    def key(self) -> str:
        run_cli("key", "init", cwd=self.root.parent, home=self.home)
        out = run_cli("key", "show", cwd=self.root.parent, home=self.home).out
        return next(word for word in out.split() if word.startswith("ed25519:"))

    def states(self) -> dict[str, str]:
        entries = json.loads(self.fixme("list", "--all", "--format", "json").out)
        return {e["id"]: e["workflow"] for e in entries}

    def entries(self) -> list[str]:
        return sorted(self.states())

    def sync(self, *args: str) -> dict:
        result = self.fixme("sync", *args, "--format", "json")
        return json.loads(result.out)["remotes"][0]

    def record_count(self) -> int:
        from fixme.tracker.changes import read_index

        return read_index(self.root, lambda index: index.count("tracker")) or 0

    def own_refs(self) -> dict[str, str]:
        out = self.git("for-each-ref", "--format=%(refname) %(objectname)")
        return dict(line.split() for line in out.splitlines())


def make_team(tmp_path: Path, names=("a", "b"), url: str | None = None) -> tuple[Path, list[Clone]]:
    """A bare remote and a clone per name; the first made the project (fixme init) and
    trusts every clone's key; all are pushed and cloned from the remote."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    clones = [Clone(tmp_path / name, tmp_path / f"home-{name}") for name in names]
    first = clones[0]
    first.root.mkdir()
    first.git("init", "-q", "-b", "main")
    (first.root / "app.py").write_text(SOURCE)
    first.git("add", "-A")
    first.git("commit", "-qm", "start")
    first.fixme("init")
    for clone in clones[1:]:
        first.fixme("trust", "add", clone.key(), "--name", clone.root.name)
    first.git("add", "-A")
    first.git("commit", "-qm", "fixme config")
    first.git("remote", "add", "origin", url or str(remote))
    first.git("push", "-q", "origin", "main")
    first.git("branch", "-q", "--set-upstream-to=origin/main")
    for clone in clones[1:]:
        git(tmp_path, "clone", "-q", url or str(remote), str(clone.root))
    return remote, clones


class GitDaemon:
    """`git daemon` serving `base` on 127.0.0.1, pushes allowed; stop() ends it."""

    def __init__(self, base: Path):
        self.port = _free_port()
        self.log = base / "daemon.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                ["git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", "--listen=127.0.0.1",
                 f"--port={self.port}", f"--base-path={base}", str(base)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                assert self.proc.poll() is None, self.log.read_text()
                time.sleep(0.05)
        raise AssertionError("git daemon did not start")

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- planting hostile refs in a remote ------------------------------------------------------

def blob(repo: Path, data: bytes) -> str:
    return git(repo, "hash-object", "-w", "--stdin", input=data).strip()


def tree(repo: Path, entries: list[tuple[bytes, bytes, str]]) -> str:
    """A tree object of (mode, name, id) entries exactly as given: any name, any order."""
    raw = b"".join(mode + b" " + name + b"\0" + bytes.fromhex(oid) for mode, name, oid in entries)
    return git(repo, "hash-object", "-t", "tree", "--literally", "-w", "--stdin", input=raw).strip()


def commit(repo: Path, tree_id: str, parent: str | None = None) -> str:
    args = ["commit-tree", tree_id, "-m", "planted"] + (["-p", parent] if parent else [])
    return git(repo, *args).strip()


def records_tree(repo: Path, blocks: list[bytes], names: dict[bytes, str] | None = None) -> str:
    """The layout's tree holding `blocks`, each named by its id (or by `names[block]`)."""
    fanout: dict[str, list[tuple[bytes, bytes, str]]] = {}
    for data in blocks:
        digits = (names or {}).get(data) or block_id(data)[len("sha256:"):]
        fanout.setdefault(digits[:2], []).append((b"100644", digits[2:].encode(), blob(repo, data)))
    return tree(repo, [(b"40000", prefix.encode(), tree(repo, sorted(entries, key=lambda e: e[1])))
                       for prefix, entries in sorted(fanout.items())])


def plant(repo: Path, ref: str, tree_id: str, parent: str | None = None) -> str:
    tip = commit(repo, tree_id, parent)
    git(repo, "update-ref", ref, tip)
    return tip


def signed(key_seed: bytes, entry: str, value: str, parents=(), clock: int = 1) -> bytes:
    """A record setting `entry`'s workflow, signed by the key made from `key_seed`."""
    from nacl.signing import SigningKey

    record = sign_record(SigningKey(key_seed), "tracker", list(parents), clock, 1_700_000_000_000,
                         {"op": "set", "entry": entry, "attr": "workflow", "value": value})
    return record.data


def public_key(key_seed: bytes) -> str:
    from nacl.signing import SigningKey

    return "ed25519:" + bytes(SigningKey(key_seed).verify_key).hex()


def writer_ref(n: int = 1) -> str:
    return f"refs/fixme/records/{n:016x}/{n:016x}"


def env_with(**extra: str) -> dict:
    return {**os.environ, **extra}


__all__ = ["canonical"]
