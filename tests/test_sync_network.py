"""Real node processes on 127.0.0.1, each with its own clone, home and key.

Every node is `fixme node run --listen 127.0.0.1:0 --no-discovery`; its port
is read from `fixme node status --format json`. The assertions are on what
users see: `fixme list --format json` in each clone, and attachment files.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

FIXME = [sys.executable, "-m", "fixme"]
DEADLINE = 30.0


class Peer:
    """One clone of the project with its own FIXME_HOME (so its own key), and maybe a running node."""

    def __init__(self, root: Path, home: Path):
        self.root = root
        self.home = home
        self.node: subprocess.Popen | None = None
        self.log_path = root.parent / f"{root.name}.node.log"

    def env(self) -> dict:
        return {**os.environ, "FIXME_HOME": str(self.home)}

    def fixme(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([*FIXME, "-C", str(self.root), *args], capture_output=True, text=True,
                              env=self.env(), timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"fixme {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def key(self) -> str:
        """This peer's public key, made now (key commands need no repository)."""
        cwd = self.home.parent
        subprocess.run([*FIXME, "key", "init"], capture_output=True, env=self.env(), cwd=cwd)
        out = subprocess.run([*FIXME, "key", "show"], capture_output=True, text=True, env=self.env(),
                             cwd=cwd, check=True).stdout
        return next(word for word in out.split() if word.startswith("ed25519:"))

    def start(self, *peers: str, extra: tuple[str, ...] = ()) -> str:
        """Start the node; returns its HOST:PORT once it listens."""
        args = ["node", "run", "--listen", "127.0.0.1:0", "--no-discovery", "--interval", "0.5", "-v", *extra]
        for peer in peers:
            args += ["--peer", peer]
        log = open(self.log_path, "a")
        self.node = subprocess.Popen([*FIXME, "-C", str(self.root), *args], stdout=log, stderr=log,
                                     env=self.env())
        log.close()
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            running = json.loads(self.fixme("node", "status", "--format", "json").stdout)["running"]
            if running and running["pid"] == self.node.pid:
                return running["listen"]
            assert self.node.poll() is None, f"node exited: {self.log_path.read_text()}"
            time.sleep(0.05)
        raise AssertionError(f"node did not start: {self.log_path.read_text()}")

    def stop(self) -> None:
        if self.node is not None and self.node.poll() is None:
            self.node.send_signal(signal.SIGTERM)
            assert self.node.wait(timeout=10) == 0, self.log_path.read_text()
        self.node = None

    def states(self) -> dict[str, str]:
        entries = json.loads(self.fixme("list", "--all", "--format", "json").stdout)
        return {e["id"]: e["workflow"] for e in entries}

    def set_workflow(self, entry: str, state: str) -> None:
        self.fixme("set-workflow", entry, state)


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def network(tmp_path):
    """A project with three entries, cloned three times; every key trusted by every clone."""
    origin = tmp_path / "origin"
    origin.mkdir()
    _git(origin, "init", "-q", "-b", "main")
    (origin / "app.py").write_text("# TODO: first task\n# TODO: second task\n# FIXME: third task\n")
    _git(origin, "add", "-A")
    _git(origin, "commit", "-qm", "start")
    peers = []
    for name in ("a", "b", "c"):
        peers.append(Peer(tmp_path / name, tmp_path / f"home-{name}"))
    first = peers[0]
    first.root = origin  # `a` works in the origin itself
    first.fixme("init")
    for peer in peers[1:]:
        first.fixme("trust", "add", peer.key(), "--name", peer.root.name)
    _git(origin, "add", "-A")
    _git(origin, "commit", "-qm", "fixme config")
    for peer in peers[1:]:
        _git(tmp_path, "clone", "-q", str(origin), str(peer.root))
    yield peers
    for peer in peers:
        if peer.node is not None and peer.node.poll() is None:
            peer.node.kill()
            peer.node.wait()


def wait_until(condition, what: str, peers=()) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    logs = "\n".join(p.log_path.read_text() for p in peers if p.log_path.exists())
    raise AssertionError(f"timed out waiting for {what}\n{logs[-4000:]}")


def entry_ids(peer: Peer) -> list[str]:
    return sorted(peer.states())


def test_three_nodes_converge_after_edits_on_each(network):
    a, b, c = network
    first, second, third = entry_ids(a)
    a_address = a.start()
    b_address = b.start(a_address)
    c.start(b_address)
    a.set_workflow(first, "wip")
    b.set_workflow(second, "test")
    c.set_workflow(third, "done")
    wanted = {first: "wip", second: "test", third: "done"}
    wait_until(lambda: all(p.states() == wanted for p in network), "three nodes to agree", network)
    # A later edit of the same entry on another node wins everywhere.
    c.set_workflow(first, "dropped")
    wanted[first] = "dropped"
    wait_until(lambda: all(p.states() == wanted for p in network), "the second edit to spread", network)


def test_a_record_made_while_a_peer_was_down_arrives_when_it_is_back(network):
    a, b, _ = network
    first = entry_ids(a)[0]
    a_address = a.start()
    b.start(a_address)
    b.stop()
    a.set_workflow(first, "wip")
    assert b.states()[first] == "new"
    b.start(a_address)
    wait_until(lambda: b.states()[first] == "wip", "the record to reach the restarted node", network)


def test_a_partition_heals_to_the_same_state(network):
    a, b, c = network
    first, second, third = entry_ids(a)
    a_address = a.start()
    b.start(a_address)
    c.start()  # alone: nobody dials it, it dials nobody
    a.set_workflow(first, "wip")
    c.set_workflow(second, "test")
    c.set_workflow(first, "done")  # concurrent with a's edit of the same entry
    wait_until(lambda: b.states()[first] == "wip", "a and b to agree", network)
    assert c.states()[first] == "done" and a.states()[second] == "new"
    c.stop()
    c.start(a_address)  # the partition heals
    wait_until(lambda: a.states() == b.states() == c.states(), "the three to agree after healing", network)
    assert a.states()[second] == "test"
    assert a.states()[first] in ("wip", "done")  # the same winner everywhere, by (clock, id)


def _attach(peer: Peer, entry: str, size: int, tmp: Path) -> tuple[Path, str]:
    data = os.urandom(size)
    path = tmp / "payload.bin"
    path.write_bytes(data)
    peer.fixme("attach", entry, str(path))
    return path, hashlib.sha256(data).hexdigest()


def test_a_blob_held_by_two_peers_is_fetched_from_both(network, tmp_path):
    a, b, c = network
    first = entry_ids(a)[0]
    _, digest = _attach(a, first, 24 * 1024 * 1024 + 5, tmp_path)
    a_address = a.start()
    # b fetches the attachment from a with its records, then serves it too.
    b.fixme("sync", a_address)
    b_address = b.start()
    out = tmp_path / "fetched.bin"
    result = json.loads(c.fixme("attachment", "get", first, "payload.bin", "-o", str(out),
                                "--peer", a_address, "--peer", b_address, "--format", "json").stdout)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest
    fetch = result["fetch"]
    assert fetch["fetched"] == 25 and fetch["already"] == 0
    assert len(fetch["by_peer"]) == 2 and all(n > 0 for n in fetch["by_peer"].values()), fetch
    assert c.fixme("fsck").returncode == 0


def test_a_killed_download_resumes_without_fetching_done_chunks_again(network, tmp_path):
    a, _, c = network
    first = entry_ids(a)[0]
    _, digest = _attach(a, first, 40 * 1024 * 1024, tmp_path)
    a_address = a.start(extra=("--upload-rate", "10"))  # ~4 s for the whole blob
    out = tmp_path / "fetched.bin"
    args = [*FIXME, "-C", str(c.root), "attachment", "get", first, "payload.bin", "-o", str(out),
            "--peer", a_address, "--format", "json"]
    fetching = subprocess.Popen(args, env=c.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    objects = c.root / ".fixme" / "node" / "blocks" / "objects"
    wait_until(lambda: sum(1 for _ in objects.rglob("*") if _.is_file() and not _.name.startswith(".")) >= 16,
               "some chunks to land")
    fetching.kill()
    fetching.wait()
    assert not out.exists()
    result = json.loads(c.fixme(*args[5:]).stdout)
    fetch = result["fetch"]
    assert fetch["already"] >= 16, fetch
    assert fetch["already"] + fetch["fetched"] == fetch["chunks"] == 40
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest
    assert c.fixme("fsck").returncode == 0


def test_sync_with_nobody_reachable_exits_1(network):
    a, _, _ = network
    proc = a.fixme("sync", "127.0.0.1:9", check=False)
    assert proc.returncode == 1
    assert "unreachable" in proc.stdout
