"""Records that arrive by sync reach the kept fold (.fixme/cache/folded.bin): real processes.

The kept fold is brought up to date by whoever reads next, from the record
log's sequence numbers; sync writes nothing for it. These runs show a
clone's `list` follow records a real `fixme sync` brought in, and give
the same answer once the kept fold is deleted.
"""

from __future__ import annotations

import json

from realnodes import Peer, cloned_project


def listed(peer: Peer) -> dict[str, str]:
    return {e["title"]: e["workflow"] for e in json.loads(peer.fixme("list", "--all", "--format", "json").stdout)}


def test_records_brought_by_sync_update_the_kept_fold(tmp_path):
    a, b = cloned_project(tmp_path, ("a", "b"))
    ids = {e["title"]: e["id"] for e in json.loads(a.fixme("list", "--format", "json").stdout)}
    b.set_workflow(ids["third task"], "backlog")
    assert listed(b)["third task"] == "backlog"
    kept = b.root / ".fixme" / "cache" / "folded.bin"
    assert kept.exists()
    try:
        address = a.start()
        a.set_workflow(ids["first task"], "wip")
        a.set_workflow(ids["first task"], "test")
        a.set_workflow(ids["second task"], "done")
        b.fixme("sync", address)
    finally:
        a.stop()
    after = listed(b)
    assert after == {"first task": "test", "second task": "done", "third task": "backlog"}
    assert "second task" not in b.fixme("list").stdout  # done: no longer open
    kept.unlink()
    assert listed(b) == after
