"""Git hooks and commit trailers, end to end: real git, real hook scripts, real records.

Most tests set FIXME_HOOK_FOREGROUND=1, which the installed script honours by
waiting for fixme, so they can look at the result at once; the tests named
`..._detached_...` exercise the real background path.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import GitRepo, run_cli
from fixme import hooks
from fixme.tracker.trailers import parse_rewrites, parse_value

FOREGROUND = {"FIXME_HOOK_FOREGROUND": "1"}
SHELL_HOOK = "#!/bin/sh\n# the project's own hook\necho \"$0 $*\" >> \"$MARKER\"\nexit 0\n"
PYTHON_HOOK = ("#!/usr/bin/env python3\nimport os, sys\n"
               "with open(os.environ['MARKER'], 'a') as f:\n"
               "    f.write('python hook %s %s\\n' % (sys.argv[1:], sys.stdin.read().split()))\n")


@pytest.fixture
def project(repo, cli, tmp_path, monkeypatch):
    """A repository with two entries, fixme initialised (so the user's key is trusted), one commit."""
    monkeypatch.setenv("MARKER", str(tmp_path / "marker"))
    repo.write("src/net.py", "x = 1  # FIXME: no timeout\n# TODO: atomic-ref-update\n")
    assert cli("init").code == 0
    repo.commit("start")
    return repo


def hook_path(repo: GitRepo, name: str) -> Path:
    return repo.root / ".git" / "hooks" / name


def write_hook(path: Path, text: str, mode: int = 0o755) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path.read_bytes()


def commit(repo: GitRepo, *messages: str, env: dict | None = None, amend: bool = False) -> subprocess.CompletedProcess:
    """`git commit` as a user runs it (hooks included), returning the finished process."""
    args = ["git", "commit", "-q", "--allow-empty"] + (["--amend"] if amend else [])
    for message in messages:
        args += ["-m", message]
    if amend and not messages:
        args.append("--no-edit")
    repo.git("add", "-A")
    repo.clock += 60  # an amend within the same second would otherwise make the very same commit
    return subprocess.run(args, cwd=repo.root, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "GIT_COMMITTER_DATE": f"{repo.clock} +0000",
                               **(FOREGROUND if env is None else env)})


def records(cli) -> list[dict]:
    return json.loads(cli("log", "--format", "json").out)


def workflow_of(cli, title: str) -> str:
    items = json.loads(cli("list", "--all", "--format", "json").out)
    return next(i["workflow"] for i in items if i["title"] == title)


def log_text(repo: GitRepo) -> str:
    path = repo.root / ".fixme" / "hook.log"
    return path.read_text() if path.exists() else ""


def marker(tmp_path: Path) -> str:
    path = tmp_path / "marker"
    return path.read_text() if path.exists() else ""


# -- trailers ---------------------------------------------------------------------


def test_a_trailer_writes_a_signed_record_carrying_the_commit(project, cli):
    assert cli("hook", "install").code == 0
    done = commit(project, "Fix the ref update", "Fixme: atomic-ref-update done")
    assert done.returncode == 0, done.stderr
    sha = project.head()
    [record] = records(cli)
    assert (record["attr"], record["value"], record["commit"]) == ("workflow", "done", sha)
    assert record["message"] == "Fix the ref update" and record["trusted"]
    assert workflow_of(cli, "atomic-ref-update") == "done"
    assert f"{sha[:12]} Fixme: atomic-ref-update done: TODO: atomic-ref-update → done" in log_text(project)


def test_trailer_keys_match_any_case_and_ids_work_as_well_as_slugs(project, cli):
    ids = {i["title"]: i["id"] for i in json.loads(cli("list", "--format", "json").out)}
    cli("hook", "install")
    commit(project, "two at once", f"FIXME: {ids['no timeout'][:8]} wip\nfixme: atomic-ref-update test")
    assert {(r["entry_id"], r["value"]) for r in records(cli)} == {(ids["no timeout"], "wip"),
                                                                (ids["atomic-ref-update"], "test")}
    assert workflow_of(cli, "no timeout") == "wip" and workflow_of(cli, "atomic-ref-update") == "test"


def test_unknown_ids_and_states_are_logged_and_the_commit_still_succeeds(project, cli):
    cli("hook", "install")
    result = commit(project, "oops", "Fixme: no-such-entry done\nFixme: atomic-ref-update flying\n"
                                     "Fixme: just-one-word\nFixme: atomic-ref-update wip")
    assert result.returncode == 0
    log = log_text(project)
    assert "Fixme: no-such-entry done: no entry matches 'no-such-entry'" in log
    assert "Fixme: atomic-ref-update flying: unknown state 'flying'; valid: new, backlog" in log
    assert "Fixme: just-one-word: expected 'Fixme: ID-OR-SLUG STATE'" in log
    assert [r["value"] for r in records(cli)] == ["wip"]  # the good line still applied


def test_problems_go_to_stderr_when_run_by_hand(project, cli):
    project.git("commit", "-q", "--allow-empty", "-m", "manual", "-m", "Fixme: nothing-here done\n"
                "Fixme: atomic-ref-update wip")
    result = cli("hook", "run", "post-commit")  # by hand: HEAD's trailers
    assert result.code == 0
    assert "no entry matches 'nothing-here'" in result.err and "nothing-here" not in result.out
    assert "Fixme: atomic-ref-update wip: TODO: atomic-ref-update → wip" in result.out
    assert "post-commit: scanned" in result.out
    again = cli("hook", "run", "--head", "HEAD", "post-commit")
    assert "already applied for this commit" in again.out and len(records(cli)) == 1
    bad = cli("hook", "run", "--head", "no-such-rev", "post-commit")
    assert bad.code == 2 and "--head no-such-rev: unknown revision" in bad.err


def test_amend_does_not_apply_a_trailer_twice_but_a_changed_one_applies(project, cli):
    cli("hook", "install")
    commit(project, "fix", "Fixme: atomic-ref-update done")
    first = project.head()
    commit(project, amend=True)  # post-commit (skipped: an amend) and post-rewrite (carried over)
    commit(project, amend=True)  # a rewrite of a rewrite: the memory follows the chain
    assert project.head() != first
    assert [(r["value"], r["commit"]) for r in records(cli)] == [("done", first)]
    assert "which this commit rewrites" in log_text(project)
    commit(project, "fix", "Fixme: atomic-ref-update wip", amend=True)
    assert [r["value"] for r in records(cli)] == ["wip", "done"]  # newest first
    assert records(cli)[0]["commit"] == project.head()


def test_rebase_carries_applied_trailers_over_and_applies_new_ones(project, cli):
    cli("hook", "install")
    project.git("checkout", "-q", "-b", "topic")
    commit(project, "topic work", "Fixme: atomic-ref-update wip")
    project.git("checkout", "-q", "main")
    commit(project, "main moves on")
    project.git("checkout", "-q", "topic")
    subprocess.run(["git", "rebase", "-q", "main"], cwd=project.root, check=True, capture_output=True,
                   env={**os.environ, **FOREGROUND})
    assert [r["value"] for r in records(cli)] == ["wip"]
    assert "which this commit rewrites" in log_text(project)


def test_a_merge_applies_the_trailers_of_the_commits_it_brings_in(project, cli):
    cli("hook", "install")
    project.git("checkout", "-q", "-b", "topic")
    # Made without fixme's hooks: as if by a colleague who has none.
    commit(project, "their fix", "Fixme: atomic-ref-update test", env={"FIXME_HOOK_SKIP": "1"})
    theirs = project.head()
    project.git("checkout", "-q", "main")
    commit(project, "ours")
    merged = subprocess.run(["git", "merge", "-q", "--no-edit", "topic"], cwd=project.root, capture_output=True,
                            env={**os.environ, **FOREGROUND})
    assert merged.returncode == 0, merged.stderr
    assert [(r["value"], r["commit"]) for r in records(cli)] == [("test", theirs)]
    # A merge that brings in nothing new applies nothing again.
    assert cli("hook", "run", "--head", project.head(), "post-merge", "0").code == 0
    assert len(records(cli)) == 1


# -- installing next to existing hooks -------------------------------------------------


def test_an_existing_shell_hook_keeps_running_and_uninstall_restores_it_byte_for_byte(project, cli, tmp_path):
    path = hook_path(project, "post-commit")
    original = write_hook(path, SHELL_HOOK, 0o750)
    result = cli("hook", "install")
    assert result.code == 0 and "post-commit: added fixme's block to the existing script" in result.out
    text = path.read_text()
    assert text.startswith("#!/bin/sh\n" + hooks.BEGIN) and text.endswith("\nexit 0\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o750
    commit(project, "fix", "Fixme: atomic-ref-update done")
    assert "post-commit" in marker(tmp_path)  # the old hook ran
    assert [r["value"] for r in records(cli)] == ["done"]  # and so did fixme
    result = cli("hook", "uninstall")
    assert result.code == 0 and "post-commit: took fixme's block out" in result.out
    assert path.read_bytes() == original and stat.S_IMODE(path.stat().st_mode) == 0o750
    for name in ("post-merge", "post-checkout", "post-rewrite"):  # fixme created these: gone again
        assert not os.path.lexists(hook_path(project, name))


def test_a_python_hook_is_chained_with_its_arguments_and_stdin_then_restored(project, cli, tmp_path):
    path = hook_path(project, "post-rewrite")
    original = write_hook(path, PYTHON_HOOK, 0o700)
    result = cli("hook", "install")
    assert "post-rewrite: moved the existing hook to post-rewrite.fixme-chained" in result.out
    assert hook_path(project, "post-rewrite.fixme-chained").read_bytes() == original
    commit(project, "fix", "Fixme: atomic-ref-update done")
    old = project.head()
    commit(project, amend=True)
    seen = marker(tmp_path)
    assert f"python hook ['amend'] ['{old}', '{project.head()}']" in seen  # same args, same stdin
    assert [r["commit"] for r in records(cli)] == [old]  # fixme read that stdin too
    assert cli("hook", "uninstall").code == 0
    assert path.read_bytes() == original and stat.S_IMODE(path.stat().st_mode) == 0o700
    assert not os.path.lexists(hook_path(project, "post-rewrite.fixme-chained"))


def test_a_symlinked_hook_is_chained_and_comes_back_as_the_same_link(project, cli, tmp_path):
    target = write_hook(tmp_path / "shared-hook.sh", SHELL_HOOK)
    path = hook_path(project, "post-commit")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(tmp_path / "shared-hook.sh")
    cli("hook", "install")
    assert (tmp_path / "shared-hook.sh").read_bytes() == target  # never edited through the link
    commit(project, "fix")
    assert "post-commit" in marker(tmp_path)
    cli("hook", "uninstall")
    assert path.is_symlink() and os.readlink(path) == str(tmp_path / "shared-hook.sh")


def test_a_disabled_hook_stays_disabled(project, cli, tmp_path):
    path = hook_path(project, "post-commit")
    original = write_hook(path, SHELL_HOOK, 0o644)  # git does not run a hook that is not executable
    cli("hook", "install")
    commit(project, "fix", "Fixme: atomic-ref-update done")
    assert marker(tmp_path) == "" and len(records(cli)) == 1
    cli("hook", "uninstall")
    assert path.read_bytes() == original and stat.S_IMODE(path.stat().st_mode) == 0o644


def test_install_twice_is_install_once(project, cli):
    write_hook(hook_path(project, "post-commit"), SHELL_HOOK)
    write_hook(hook_path(project, "post-rewrite"), PYTHON_HOOK)
    cli("hook", "install")
    directory = hook_path(project, "")
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    again = cli("hook", "install")
    assert again.code == 0 and again.out.count("already installed") == 4
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before
    commit(project, "fix", "Fixme: atomic-ref-update done")
    assert len(records(cli)) == 1


def test_install_refreshes_a_block_written_for_another_python(project, cli):
    hooks.install(hook_path(project, ""), ["/old/venv/bin/python", "-P", "-m", "fixme"])
    status = cli("hook", "status")
    assert status.code == 1 and "out of date" in status.out
    result = cli("hook", "install")
    assert result.out.count("refreshed fixme's block") == 4
    assert "/old/venv" not in hook_path(project, "post-commit").read_text()
    assert cli("hook", "status").code == 0


def test_uninstall_keeps_lines_someone_added_to_a_script_fixme_created(project, cli):
    cli("hook", "install")
    path = hook_path(project, "post-merge")
    with path.open("a") as fh:
        fh.write("echo mine\n")
    cli("hook", "uninstall")
    assert path.read_text() == "#!/bin/sh\necho mine\n"


def test_an_edited_chained_script_is_left_alone_with_a_clear_message(project, cli):
    write_hook(hook_path(project, "post-rewrite"), PYTHON_HOOK)
    cli("hook", "install")
    path = hook_path(project, "post-rewrite")
    with path.open("a") as fh:
        fh.write("echo mine\n")
    edited = path.read_bytes()
    result = cli("hook", "uninstall")
    assert result.code == 1
    assert "post-rewrite" in result.err and "merge them by hand" in result.err
    assert path.read_bytes() == edited and hook_path(project, "post-rewrite.fixme-chained").exists()


def test_a_leftover_chained_file_blocks_install_of_that_hook_only(project, cli):
    write_hook(hook_path(project, "post-rewrite"), PYTHON_HOOK)
    write_hook(hook_path(project, "post-rewrite.fixme-chained"), "#!/bin/sh\n")
    result = cli("hook", "install")
    assert result.code == 1 and "post-rewrite.fixme-chained already exists" in result.err
    assert hook_path(project, "post-rewrite").read_text() == PYTHON_HOOK
    assert hooks.BEGIN in hook_path(project, "post-commit").read_text()


# -- where the hooks are ------------------------------------------------------------


def test_core_hooks_path_is_honoured(project, cli, tmp_path):
    project.git("config", "core.hooksPath", "githooks")
    original = write_hook(project.root / "githooks" / "post-commit", SHELL_HOOK)
    result = cli("hook", "install")
    assert result.code == 0 and str(project.root / "githooks" / "post-merge") in result.out
    assert not hook_path(project, "post-commit").exists()
    commit(project, "fix", "Fixme: atomic-ref-update done")
    assert "post-commit" in marker(tmp_path) and len(records(cli)) == 1
    status = cli("hook", "status")
    assert f"hooks directory: {project.root / 'githooks'}" in status.out
    cli("hook", "uninstall")
    assert (project.root / "githooks" / "post-commit").read_bytes() == original


def test_a_linked_worktree_installs_into_the_shared_hooks(project, cli, tmp_path):
    worktree = tmp_path / "wt"
    project.git("worktree", "add", "-q", "-b", "wt", str(worktree))
    result = run_cli("hook", "install", cwd=worktree)
    assert result.code == 0 and hooks.BEGIN in hook_path(project, "post-commit").read_text()
    (worktree / "src" / "net.py").write_text("# TODO: atomic-ref-update\n")
    done = subprocess.run(["git", "commit", "-qam", "in the worktree", "-m", "Fixme: atomic-ref-update wip"],
                          cwd=worktree, capture_output=True, text=True, env={**os.environ, **FOREGROUND})
    assert done.returncode == 0
    log = json.loads(run_cli("log", "--format", "json", cwd=worktree).out)
    assert [r["value"] for r in log] == ["wip"]


def test_hooks_do_nothing_in_a_repository_without_fixme_state(project, cli, tmp_path):
    cli("hook", "install")
    other = GitRepo(tmp_path / "other")  # shares the hooks through a global core.hooksPath, say
    other.git("config", "core.hooksPath", str(hook_path(project, "")))
    other.write("a.py", "# TODO: x\n")
    other.git("add", "-A")
    done = subprocess.run(["git", "commit", "-qm", "c"], cwd=other.root, capture_output=True,
                          env={**os.environ, **FOREGROUND})
    assert done.returncode == 0 and not (other.root / ".fixme").exists()


# -- never failing, never waiting --------------------------------------------------


def test_a_broken_config_does_not_fail_commit_or_checkout(project, cli):
    cli("hook", "install")
    (project.root / ".fixme" / "config.toml").write_text("[scan\n")
    result = commit(project, "fix", "Fixme: atomic-ref-update done")
    assert result.returncode == 0 and result.stderr == ""
    checkout = subprocess.run(["git", "checkout", "-q", "-b", "other"], cwd=project.root, capture_output=True,
                              text=True, env={**os.environ, **FOREGROUND})
    assert checkout.returncode == 0  # post-checkout's status would become checkout's
    log = log_text(project)
    assert "post-commit: fixme: " in log and "config.toml" in log and "Traceback" not in log


def test_a_missing_interpreter_is_logged_and_harmless_even_under_set_e(project, cli):
    write_hook(hook_path(project, "post-checkout"), "#!/bin/sh -e\nexit 0\n")
    hooks.install(hook_path(project, ""), ["/no/such/python", "-P", "-m", "fixme"])
    result = commit(project, "fix")
    checkout = subprocess.run(["git", "checkout", "-q", "-b", "other"], cwd=project.root, capture_output=True,
                              env={**os.environ, **FOREGROUND})
    assert result.returncode == 0 and checkout.returncode == 0
    assert "the Python that installed this hook is gone" in log_text(project)


def test_the_detached_hook_lets_git_return_while_fixme_still_waits(project, cli):
    """The real background path: git returns at once, the record lands later."""
    cli("hook", "install")
    with hooks.run_lock(project.root / ".fixme"):  # fixme's run must wait for this lock
        result = commit(project, "fix", "Fixme: atomic-ref-update done", env={})
        assert result.returncode == 0  # and capture_output saw the pipes close: nothing held them
        time.sleep(0.3)
        assert records(cli) == []  # still waiting: git did not wait for it
    deadline = time.monotonic() + 30
    while not records(cli) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [(r["value"], r["commit"]) for r in records(cli)] == [("done", project.head())]


def test_the_detached_hook_applies_trailers_without_help(project, cli):
    cli("hook", "install")
    assert commit(project, "fix", "Fixme: atomic-ref-update wip", env={}).returncode == 0
    deadline = time.monotonic() + 30
    while "→ wip" not in log_text(project) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workflow_of(cli, "atomic-ref-update") == "wip"


def test_two_hook_runs_take_turns_on_the_lock(project, cli):
    env = {**os.environ}
    project.git("commit", "-q", "--allow-empty", "-m", "fix", "-m", "Fixme: atomic-ref-update done")
    with hooks.run_lock(project.root / ".fixme"):
        proc = subprocess.Popen([sys.executable, "-m", "fixme", "hook", "run", "--head", project.head(),
                                 "post-commit"], cwd=project.root, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.5)
        assert proc.poll() is None  # blocked on the lock
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert len(records(cli)) == 1


# -- the CLI --------------------------------------------------------------------------


def test_hook_status_and_help(project, cli):
    status = cli("hook", "status", "--format", "json")
    assert status.code == 1 and not any(h["installed"] for h in json.loads(status.out)["hooks"])
    cli("hook", "install")
    data = json.loads(cli("hook", "status", "--format", "json").out)
    assert [h["name"] for h in data["hooks"]] == list(hooks.ALL_HOOK_NAMES)
    required = [h for h in data["hooks"] if not h["optional"]]
    assert [h["name"] for h in required] == list(hooks.HOOK_NAMES)
    assert all(h["installed"] and h["current"] and h["how"] == "created" for h in required)
    status = cli("hook", "status")
    assert status.code == 0 and "pre-push       not installed (optional" in status.out
    cli("hook", "install", "--push-records")
    status = cli("hook", "status")
    assert status.code == 0 and "pre-push       installed (fixme's own script)" in status.out
    # An installed pre-push hook gone stale is a fault, and a plain install refreshes it with the rest.
    hooks.install(hook_path(project, ""), ["/old/venv/bin/python", "-P", "-m", "fixme"], [hooks.PUSH_HOOK])
    status = cli("hook", "status")
    assert status.code == 1 and "out of date: run 'fixme hook install --push-records'" in status.out
    assert "refreshed fixme's block" in cli("hook", "install").out
    assert cli("hook", "status").code == 0
    with pytest.raises(SystemExit):
        cli("hook", "run", "--help")


def test_hook_run_rejects_an_unknown_event(project, cli):
    result = cli("hook", "run", "pre-commit")
    assert result.code == 2 and "invalid choice" in result.err and result.err.count("\n") == 1


def test_hook_install_outside_a_repository_is_a_one_line_error(tmp_path):
    result = run_cli("hook", "install", cwd=tmp_path)
    assert result.code == 2 and result.err.startswith("fixme: hook: ") and result.err.count("\n") == 1


# -- the pieces -------------------------------------------------------------------------


def test_shell_scripts_are_told_from_other_hooks():
    assert hooks.is_shell_script(b"#!/bin/sh\nexit 0\n")
    assert hooks.is_shell_script(b"#!/usr/bin/env bash\n")
    assert hooks.is_shell_script(b"#! /bin/dash -e\n")
    assert not hooks.is_shell_script(b"#!/usr/bin/env python3\n")
    assert not hooks.is_shell_script(b"#!/bin/sh")  # no newline after the #! line: nowhere to put the block
    assert not hooks.is_shell_script(b"echo hi\n")
    assert not hooks.is_shell_script(b"\x7fELF\x02\x01")


def test_the_block_is_found_and_taken_out_exactly():
    block = hooks.hook_block("post-commit", ["/py", "-P", "-m", "fixme"]).encode()
    script = b"#!/bin/sh\n" + block + b"echo after\n"
    start, end = hooks.find_block(script)
    assert script[start:end] == block and script[:start] + script[end:] == b"#!/bin/sh\necho after\n"
    assert hooks.find_block(b"#!/bin/sh\necho no block\n") is None
    assert hooks.find_block(b"#!/bin/sh\n" + hooks.BEGIN.encode() + b"\nno end\n") is None


def test_only_post_rewrite_reads_stdin():
    assert "hook-stdin" in hooks.hook_block("post-rewrite", ["/py"])
    assert "hook-stdin" not in hooks.hook_block("post-commit", ["/py"])


def test_trailer_values_and_rewrite_lines_parse():
    assert parse_value("  atomic-ref-update   done ") == ("atomic-ref-update", "done")
    for bad in ("", "one", "a b c"):
        with pytest.raises(ValueError):
            parse_value(bad)
    a, b = "a" * 40, "b" * 40
    assert [(r.old, r.new) for r in parse_rewrites(f"{a} {b}\n{b} {a} extra\nnot a line\n")] == [(a, b), (b, a)]
