"""set-workflow, set, comment, log, key and trust, end to end on real repositories."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

from nacl.signing import SigningKey

from conftest import run_cli
from fixme.node.keys import key_text


def project(repo, cli):
    repo.write("src/net.py", "x = 1  # FIXME: no timeout\n# TODO: atomic-ref-update\n")
    repo.commit("start", "ada")
    assert cli("init").code == 0
    repo.commit("init fixme", "ada")


def entry_by_title(cli, title: str) -> dict:
    items = json.loads(cli("list", "--all", "--format", "json").out)
    return next(i for i in items if i["title"] == title)


def test_set_workflow_shows_at_once_in_list_and_show(repo, cli):
    project(repo, cli)
    result = cli("set-workflow", "atomic-ref-update", "wip", "-m", "on it")
    assert result.code == 0, result.err
    assert "workflow → wip" in result.out and result.err == ""
    assert entry_by_title(cli, "atomic-ref-update")["workflow"] == "wip"
    wip = json.loads(cli("list", "--state", "wip", "--format", "json").out)
    assert [i["title"] for i in wip] == ["atomic-ref-update"]
    shown = cli("show", "atomic-ref-update")
    assert "history:" in shown.out and "set workflow = wip" in shown.out and "on it" in shown.out
    assert "verified, trusted" in shown.out
    data = json.loads(cli("show", "atomic-ref-update", "--format", "json").out)
    assert [h["value"] for h in data["history"]] == ["wip"] and data["history"][0]["trusted"]


def test_an_unknown_state_is_an_error_that_lists_the_valid_ones(repo, cli):
    project(repo, cli)
    result = cli("set-workflow", "atomic-ref-update", "doing")
    assert result.code == 2
    assert result.err.startswith("fixme: unknown state 'doing'; valid: new, backlog, wip")
    assert "\n" == result.err[-1] and result.err.count("\n") == 1
    assert cli("log", "--format", "json").out.strip() == "[]"


def test_set_and_comment_and_log(repo, cli):
    project(repo, cli)
    assert cli("set", "atomic-ref-update", "assigned", "grace").code == 0
    assert cli("comment", "atomic-ref-update", "needs a lock file").code == 0
    bad = cli("set", "atomic-ref-update", "colour", "red")
    assert bad.code == 2 and "unknown attribute 'colour'" in bad.err
    assert entry_by_title(cli, "atomic-ref-update")["attrs"]["assigned"] == "grace"
    log = json.loads(cli("log", "--format", "json").out)
    assert [item["kind"] for item in log] == ["comment", "set"]  # newest first
    assert log[0]["value"] == "needs a lock file" and log[0]["verified"] and log[0]["trusted"]
    text = cli("log", "atomic-ref-update").out
    assert "commented" in text and "set assigned = grace" in text
    assert len(json.loads(cli("log", "-n", "1", "--format", "json").out)) == 1


def test_value_sets_in_config_limit_an_attribute(repo, cli):
    project(repo, cli)
    config = repo.root / ".fixme" / "config.toml"
    config.write_text(config.read_text() + '\n[workflow.values]\npriority = ["low", "high"]\n')
    bad = cli("set", "atomic-ref-update", "priority", "urgent")
    assert bad.code == 2 and "valid: low, high" in bad.err
    assert cli("set", "atomic-ref-update", "priority", "high").code == 0


def test_a_record_by_an_untrusted_key_is_kept_not_applied_until_trusted(repo, cli, tmp_path):
    project(repo, cli)
    stranger_home = tmp_path / "stranger"
    written = run_cli("set-workflow", "atomic-ref-update", "done", cwd=repo.root, home=stranger_home)
    assert written.code == 0 and "not in this project's trust list" in written.err
    assert entry_by_title(cli, "atomic-ref-update")["workflow"] == "new"
    log = json.loads(cli("log", "--format", "json").out)
    assert len(log) == 1 and log[0]["verified"] and not log[0]["trusted"]
    assert "NOT TRUSTED" in cli("show", "atomic-ref-update").out
    key = json.loads(run_cli("key", "show", "--format", "json", cwd=repo.root, home=stranger_home).out)["key"]
    assert cli("trust", "add", key, "--name", "Stranger").code == 0
    assert entry_by_title(cli, "atomic-ref-update")["workflow"] == "done"
    assert "Stranger" in cli("log").out
    assert cli("trust", "remove", key).code == 0
    assert entry_by_title(cli, "atomic-ref-update")["workflow"] == "new"


def test_records_for_entries_not_scanned_yet_apply_when_they_appear(repo, cli):
    project(repo, cli)
    assert cli("set-workflow", "atomic-ref-update", "wip").code == 0
    repo.write("src/net.py", "x = 1  # FIXME: no timeout\n")
    repo.commit("drop it")
    assert entry_by_title(cli, "atomic-ref-update")["status"] == "gone"
    repo.write("src/other.py", "# TODO: atomic-ref-update\n")  # the same slug, so the same entry
    repo.commit("bring it back")
    back = entry_by_title(cli, "atomic-ref-update")
    assert back["status"] == "open" and back["workflow"] == "wip"


def test_init_trusts_the_initialising_key_and_trust_edits_keep_comments(repo, cli):
    project(repo, cli)
    listed = json.loads(cli("trust", "list", "--format", "json").out)
    me = json.loads(cli("key", "show", "--format", "json").out)
    # No git user.name in the isolated test config and no $USER: the key's fingerprint names it.
    assert [(row["key"], row["name"]) for row in listed] == [(me["key"], me["fingerprint"])]
    config = repo.root / ".fixme" / "config.toml"
    config.write_text("# my own note\n" + config.read_text())
    other = key_text(bytes(SigningKey(b"b" * 32).verify_key))   # a real key: trust add checks the point
    assert cli("trust", "add", other, "--name", "Bot").code == 0
    text = config.read_text()
    assert text.startswith("# my own note\n") and "Words that start an entry" in text and 'name = "Bot"' in text
    assert cli("trust", "remove", other).code == 0 and other not in config.read_text()
    missing = cli("trust", "remove", other)
    assert missing.code == 2 and "not in the trust list" in missing.err
    bad = cli("trust", "add", "ed25519:xyz", "--name", "x")
    assert bad.code == 2 and "not a public key" in bad.err


def test_key_init_never_overwrites(cli, repo):
    first = cli("key", "init")
    second = cli("key", "init")
    assert first.code == second.code == 0
    assert first.out.startswith("created") and second.out.startswith("kept existing")
    assert first.out.split("\n")[1] == second.out.split("\n")[1]


def test_two_processes_setting_workflow_at_once_both_land(repo, cli):
    project(repo, cli)
    timeout_id = entry_by_title(cli, "no timeout")["id"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-m", "fixme", "set-workflow", "--no-scan", ref, state],
                              cwd=repo.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for ref, state in (("atomic-ref-update", "wip"), (timeout_id, "backlog"))]
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    log = json.loads(cli("log", "--format", "json").out)
    assert sorted(item["value"] for item in log) == ["backlog", "wip"]
    heads = heads_of(repo)
    record_ids = {item["record_id"] for item in log}
    # Both records are reachable from the heads (both are heads when they saw the same parents).
    assert heads and set(heads) <= record_ids
    assert reachable(repo, heads) == record_ids


def heads_of(repo) -> list[str]:
    from fixme.node import canonical
    from fixme.node.storage import open_node_storage

    store, refs = open_node_storage(repo.root / ".fixme" / "node")
    try:
        return canonical.decode(refs.get("logs/tracker/heads"))
    finally:
        store.close()


def reachable(repo, heads: list[str]) -> set[str]:
    from fixme.node.log import LogIndex

    index = LogIndex(repo.root / ".fixme" / "node" / "records.db")
    seen, todo = set(), list(heads)
    while todo:
        rid = todo.pop()
        if rid not in seen:
            seen.add(rid)
            todo.extend(index.get(rid).parents)
    index.close()
    return seen


def test_a_crash_between_block_and_heads_leaves_a_clean_store(repo, cli):
    project(repo, cli)
    assert cli("set-workflow", "atomic-ref-update", "wip").code == 0
    before = heads_of(repo)
    # A real process does what `append` does, and is killed right after the
    # block and index are written, before the heads move.
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from fixme.node.keys import create_identity
        from fixme.node.log import LogIndex, RecordLog
        from fixme.node.records import sign_record
        from fixme.node.storage import open_node_storage
        node = Path({str(repo.root / '.fixme' / 'node')!r})
        store, refs = open_node_storage(node)
        index = LogIndex(node / "records.db")
        log = RecordLog(store, refs, index, "tracker")
        key = create_identity(Path(os.environ["FIXME_HOME"]))[0].signing_key
        record = sign_record(key, "tracker", log.heads(), 99, 1, {{"op": "set", "entry": "x" * 40, "attr": "workflow", "value": "done"}})
        store.put(record.data)
        index.add([record])
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", script], cwd=repo.root, env=env, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert heads_of(repo) == before
    fsck = cli("fsck")
    assert fsck.code == 0, fsck.out + fsck.err
    assert cli("set-workflow", "atomic-ref-update", "test").code == 0
    assert entry_by_title(cli, "atomic-ref-update")["workflow"] == "test"
