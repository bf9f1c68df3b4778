"""Records through a git remote, with real git: a bare repository on disk and a real
`git daemon` on 127.0.0.1, clones with keys of their own, concurrent edits, plain
`git pull` with the hooks, a fresh clone, an unreachable remote, and the node and
the git transport carrying the same records onwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gitremotes import Clone, GitDaemon, git, make_team


@pytest.fixture
def pair(tmp_path):
    return make_team(tmp_path, ("a", "b"))


@pytest.fixture
def trio(tmp_path):
    return make_team(tmp_path, ("a", "b", "c"))


def test_a_record_goes_out_through_the_remote_and_comes_back_in_another_clone(pair):
    remote, (a, b) = pair
    first = a.entries()[0]
    a.fixme("set-workflow", first, "wip")
    out = a.sync()
    assert (out["records_in"], out["records_out"], out["pushed"]) == (0, 1, True)
    pushed = git(remote, "for-each-ref", "--format=%(refname)", "refs/fixme/").split()
    assert len(pushed) == 1 and pushed[0].startswith("refs/fixme/records/")
    got = b.sync()
    assert got["records_in"] == 1 and got["refused"] == []
    assert b.states()[first] == "wip"
    # Nothing new: a second round moves nothing.
    assert (a.sync()["records_in"], a.sync()["records_out"]) == (0, 0)


def test_two_clones_editing_the_same_entry_converge(pair):
    _, (a, b) = pair
    first = a.entries()[0]
    a.fixme("set-workflow", first, "wip")
    b.fixme("set-workflow", first, "test")
    a.sync()
    b.sync()
    a.sync()
    assert a.states() == b.states()
    assert a.states()[first] in ("wip", "test")


def test_three_clones_syncing_in_different_orders_converge(trio):
    _, (a, b, c) = trio
    first, second, _ = a.entries()
    a.fixme("set-workflow", first, "wip")
    b.fixme("set-workflow", first, "test")
    c.fixme("set-workflow", first, "done")
    c.fixme("set-workflow", second, "wip")
    for clone in (c, a, b, c, a):
        clone.sync()
    states = a.states()
    assert b.states() == states and c.states() == states
    assert states[second] == "wip"
    # An edit made after seeing all the others wins everywhere.
    b.fixme("set-workflow", first, "dropped")
    for clone in (b, a, c):
        clone.sync()
    assert {clone.states()[first] for clone in trio[1]} == {"dropped"}


def test_a_fresh_clone_and_sync_shows_the_same_state(pair, tmp_path):
    remote, (a, b) = pair
    first, second, _ = a.entries()
    a.fixme("set-workflow", first, "wip")
    b.fixme("set-workflow", second, "done")
    b.sync()
    a.sync()
    fresh = Clone(tmp_path / "fresh", tmp_path / "home-fresh")
    git(tmp_path, "clone", "-q", str(remote), str(fresh.root))
    fresh.fixme("sync")
    assert fresh.states() == a.states() == {**{e: "new" for e in a.entries()}, first: "wip", second: "done"}
    # The sync set the remote up, so a plain `git fetch` brings records from now on.
    assert "+refs/fixme/*:refs/fixme-remotes/origin/*" in fresh.git("config", "--get-all", "remote.origin.fetch")


def test_a_plain_git_pull_with_the_hooks_installed_brings_records(pair):
    _, (a, b) = pair
    first = a.entries()[0]
    b.fixme("hook", "install")
    a.fixme("set-workflow", first, "wip")
    a.sync()
    (a.root / "more.py").write_text("# TODO: later\n")
    a.git("add", "-A")
    a.git("commit", "-qm", "more")
    a.git("push", "-q", "origin", "main")
    before = b.record_count()
    # The post-merge hook runs in the foreground, as a real `git pull` runs it.
    proc = subprocess.run(["git", "pull", "-q"], cwd=b.root, capture_output=True, text=True,
                          env={**os.environ, "FIXME_HOOK_FOREGROUND": "1", "FIXME_HOME": str(b.home)})
    assert proc.returncode == 0, proc.stderr
    assert (before, b.record_count()) == (0, 1), (b.root / ".fixme" / "hook.log").read_text()
    assert b.states()[first] == "wip"


def test_list_takes_in_what_a_plain_git_fetch_brought(pair):
    _, (a, b) = pair
    first = a.entries()[0]
    b.fixme("hook", "install")   # adds the fetch refspec to origin
    a.fixme("set-workflow", first, "wip")
    a.sync()
    b.git("fetch", "-q")
    assert b.record_count() == 0
    assert b.states()[first] == "wip"   # `list` noticed the refs moved
    assert b.record_count() == 1


def test_an_untrusted_author_is_kept_out_until_trusted(tmp_path):
    remote, (a, b) = make_team(tmp_path, ("a", "b"))
    stranger = Clone(tmp_path / "s", tmp_path / "home-s")
    git(tmp_path, "clone", "-q", str(remote), str(stranger.root))
    first = a.entries()[0]
    stranger.fixme("set-workflow", first, "wip")
    stranger.sync()
    got = a.sync()
    assert got["records_in"] == 0 and got["untrusted"] == {stranger.key(): 1}
    assert a.record_count() == 0 and a.states()[first] == "new"
    a.fixme("trust", "add", stranger.key(), "--name", "stranger")
    assert a.sync()["records_in"] == 1
    assert a.states()[first] == "wip"


def test_dry_run_says_what_would_move_and_moves_nothing(pair):
    remote, (a, b) = pair
    first, second, _ = a.entries()
    a.fixme("set-workflow", first, "wip")
    a.sync()
    b.fixme("set-workflow", second, "done")
    refs_before = git(remote, "for-each-ref")
    out = b.sync("--dry-run")
    assert (out["records_in"], out["records_out"], out["pushed"], out["dry_run"]) == (1, 1, False, True)
    assert b.record_count() == 1 and git(remote, "for-each-ref") == refs_before
    assert not [r for r in b.own_refs() if r.startswith("refs/fixme/")]
    text = b.fixme("sync", "--dry-run").out
    assert "would take 1 records in, would send 1 out" in text and "dry run" in text


def test_an_unreachable_remote_is_one_line_exit_2_and_changes_nothing(pair, tmp_path):
    _, (a, b) = pair
    a.fixme("set-workflow", a.entries()[0], "wip")
    a.git("remote", "set-url", "origin", str(tmp_path / "gone.git"))
    refs = a.own_refs()
    count = a.record_count()
    result = a.fixme("sync", check=False)
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fixme: origin: cannot sync:") and "gone.git" in lines[0]
    assert result.out == "" and "Traceback" not in result.err
    assert a.own_refs() == refs and a.record_count() == count


def test_sync_names_a_remote_by_position_or_option(pair, tmp_path):
    remote, (a, b) = pair
    other = tmp_path / "other.git"
    git(tmp_path, "init", "-q", "--bare", str(other))
    a.git("remote", "add", "backup", str(other))
    a.fixme("set-workflow", a.entries()[0], "wip")
    assert a.sync("backup")["remote"] == "backup"
    assert git(other, "for-each-ref", "refs/fixme/") and not git(remote, "for-each-ref", "refs/fixme/")
    assert a.sync("--remote", "origin")["pushed"]
    result = a.fixme("sync", "--remote", "nowhere", check=False)
    assert result.code == 2 and "no git remote 'nowhere'" in result.err


def test_clones_sync_through_a_git_daemon(tmp_path):
    base = tmp_path / "served"
    base.mkdir()
    daemon = GitDaemon(base)
    try:
        _, (a, b) = make_team(base, ("a", "b"), url=daemon.url("remote.git"))
        first, second, _ = a.entries()
        a.fixme("set-workflow", first, "wip")
        b.fixme("set-workflow", second, "test")
        assert a.sync()["pushed"]
        assert b.sync()["records_in"] == 1
        assert a.sync()["records_in"] == 1
        assert a.states() == b.states()
        assert a.states()[first] == "wip" and a.states()[second] == "test"
    finally:
        daemon.stop()
    result = a.fixme("sync", check=False)   # the daemon is gone: unreachable
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1


def test_the_node_and_git_carry_each_others_records_onwards(trio):
    """a and b meet by node; b and c meet by git. A record of a reaches c, one of c reaches a."""
    from realnodes import Peer

    _, (a, b, c) = trio
    first, second, _ = a.entries()
    node_b = Peer(b.root, b.home)
    address = node_b.start()
    try:
        a.fixme("set-workflow", first, "wip")
        assert a.fixme("sync", address).code == 0      # a -> b by node
        c.fixme("set-workflow", second, "done")
        c.sync()
        assert b.sync()["records_in"] == 1 and b.sync()["records_out"] == 0   # c -> b by git, a's went out
        assert c.sync()["records_in"] == 1             # a's record reached c by git
        a.fixme("sync", address)                       # c's record reaches a by node
    finally:
        node_b.stop()
    assert a.states() == b.states() == c.states()
    assert a.states()[first] == "wip" and a.states()[second] == "done"


def test_list_does_not_load_the_git_transport(pair):
    _, (a, _) = pair
    code = ("import sys; from fixme.cli.main import main; rc = main(['-C', sys.argv[1], 'list']); "
            "bad = [m for m in sys.modules if m.startswith(('fixme.node.git', 'fixme.node.log'))]; "
            "print(bad); sys.exit(rc or (1 if bad else 0))")
    proc = subprocess.run([sys.executable, "-c", code, str(a.root)], capture_output=True, text=True,
                          env={**os.environ, "FIXME_HOME": str(a.home)})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sync_json_lists_every_remote(pair):
    _, (a, _) = pair
    data = json.loads(a.fixme("sync", "--format", "json").out)
    assert [r["remote"] for r in data["remotes"]] == ["origin"] and data["remotes"][0]["error"] is None


# -- the opt-in pre-push hook: records go out with a plain `git push` --------------------------

def hooked_git(clone: Clone, *args: str) -> subprocess.CompletedProcess:
    """A plain git command in `clone`, its hooks run in the foreground (as git runs any hook)
    with the clone's own key."""
    return subprocess.run(["git", *args], cwd=clone.root, capture_output=True, text=True,
                          env={**os.environ, "FIXME_HOOK_FOREGROUND": "1", "FIXME_HOME": str(clone.home)})


def commit_and_push(clone: Clone, name: str = "more.py") -> subprocess.CompletedProcess:
    (clone.root / name).write_text("# TODO: later\n")
    clone.git("add", "-A")
    clone.git("commit", "-qm", f"add {name}")
    return hooked_git(clone, "push", "-q")


def hook_log(clone: Clone) -> str:
    path = clone.root / ".fixme" / "hook.log"
    return path.read_text() if path.exists() else ""


def fixme_refs(remote) -> list[str]:
    return git(remote, "for-each-ref", "--format=%(refname)", "refs/fixme/").split()


def test_push_records_hooks_carry_a_change_by_plain_git_push_and_pull(pair):
    remote, (a, b) = pair
    for clone in (a, b):
        clone.fixme("hook", "install", "--push-records")
    assert "pre-push" in a.fixme("hook", "status").out
    first = a.entries()[0]
    a.fixme("set-workflow", first, "wip")
    pushed = commit_and_push(a)
    assert pushed.returncode == 0, pushed.stderr
    assert len(fixme_refs(remote)) == 1, hook_log(a)
    assert "records with git remote origin: 0 in, 1 out, 0 refused" in hook_log(a)
    assert git(remote, "rev-parse", "main") == a.git("rev-parse", "HEAD")   # the user's push went through
    pulled = hooked_git(b, "pull", "-q")
    assert pulled.returncode == 0, pulled.stderr
    assert b.record_count() == 1, hook_log(b)       # taken in by the post-merge hook, no `fixme sync`
    assert b.states()[first] == "wip"
    assert (b.root / "more.py").exists()


def test_the_pre_push_hook_in_the_background_pushes_records_after_the_push(pair):
    """As users run it: git does not wait for fixme, whose sync follows the push by itself."""
    import time

    remote, (a, _) = pair
    a.fixme("hook", "install", "--push-records")
    a.fixme("set-workflow", a.entries()[0], "wip")
    (a.root / "more.py").write_text("# TODO: later\n")
    a.git("add", "-A")
    a.git("commit", "-qm", "more")
    pushed = subprocess.run(["git", "push", "-q"], cwd=a.root, capture_output=True, text=True,
                            env={**os.environ, "FIXME_HOME": str(a.home)})
    assert pushed.returncode == 0, pushed.stderr
    deadline = time.monotonic() + 60
    while not fixme_refs(remote) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(fixme_refs(remote)) == 1, hook_log(a)


def test_without_push_records_a_git_push_pushes_no_records(pair):
    remote, (a, _) = pair
    a.fixme("hook", "install")
    status = a.fixme("hook", "status")
    assert status.code == 0 and "pre-push       not installed (optional" in status.out
    data = json.loads(a.fixme("hook", "status", "--format", "json").out)
    assert {h["name"]: h["optional"] for h in data["hooks"]}["pre-push"] is True
    a.fixme("set-workflow", a.entries()[0], "wip")
    pushed = commit_and_push(a)
    assert pushed.returncode == 0, pushed.stderr
    assert git(remote, "rev-parse", "main") == a.git("rev-parse", "HEAD")
    assert fixme_refs(remote) == [] and "pre-push" not in hook_log(a)


def test_a_remote_refusing_fixme_refs_does_not_block_the_push(pair):
    remote, (a, _) = pair
    update = remote / "hooks" / "update"
    update.write_text('#!/bin/sh\ncase "$1" in refs/fixme/*) echo "no fixme refs here" >&2; exit 1;; esac\n')
    update.chmod(0o755)
    a.fixme("hook", "install", "--push-records")
    a.fixme("set-workflow", a.entries()[0], "wip")
    pushed = commit_and_push(a)
    assert pushed.returncode == 0, pushed.stderr
    assert git(remote, "rev-parse", "main") == a.git("rev-parse", "HEAD")
    assert fixme_refs(remote) == []
    failures = [line for line in hook_log(a).splitlines() if "cannot sync" in line]
    assert len(failures) == 1 and "records with git remote origin" in failures[0], hook_log(a)
    assert "Traceback" not in hook_log(a)


@pytest.mark.parametrize("damage", ["node", "refs", "records.db"])
def test_a_broken_fixme_in_the_pre_push_hook_does_not_block_the_push(pair, damage):
    remote, (a, _) = pair
    a.fixme("hook", "install", "--push-records")
    a.fixme("set-workflow", a.entries()[0], "wip")
    import shutil

    # Damage fixme cannot repair by itself: .fixme/node or its refs a file, the index a directory.
    broken = a.root / ".fixme" / "node" / ("" if damage == "node" else damage)
    if broken.is_dir():
        shutil.rmtree(broken)
        broken.write_bytes(b"not a directory")
    else:
        broken.unlink()
        broken.mkdir()
    pushed = commit_and_push(a)
    assert pushed.returncode == 0, pushed.stderr
    assert git(remote, "rev-parse", "main") == a.git("rev-parse", "HEAD")
    assert fixme_refs(remote) == []
    log = hook_log(a)
    assert "Traceback" not in log and len(_failures(log)) == 1, log
    # The hook's own run: the failure in one line, exit 0, whatever broke.
    run = a.fixme("hook", "run", "pre-push", "origin", str(remote), check=False)
    assert run.code == 0 and "Traceback" not in run.err, run.err
    assert len(_failures(run.out + run.err)) == 1, run.out + run.err


def _failures(text: str) -> list[str]:
    return [line for line in text.splitlines() if "pre-push" in line and ("sync" in line or "fixme:" in line)
            and "scanned" not in line]
