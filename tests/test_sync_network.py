"""Real node processes on 127.0.0.1, each with its own clone, home and key.

Every node is `fixme node run --listen 127.0.0.1:0 --no-discovery`; its port
is read from `fixme node status --format json`. The assertions are on what
users see: `fixme list --format json` in each clone, and attachment files.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from realnodes import FIXME, Peer, cloned_project, wait_until


@pytest.fixture
def network(tmp_path):
    """A project with three entries, cloned three times; every key trusted by every clone."""
    peers = cloned_project(tmp_path, ("a", "b", "c"))
    yield peers
    for peer in peers:
        peer.kill()


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
