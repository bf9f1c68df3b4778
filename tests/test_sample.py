"""Replaying sample_repo/ with real git: history shape, determinism, validation."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from fixme.sample import find_sample_dir, load_history, replay_history

SHA = re.compile(r"[0-9a-f]{40}")


def git(repo: Path, *args: str) -> str:
    """Read-only git calls for assertions, shielded from the developer's config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    proc = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return proc.stdout


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    dest = tmp_path_factory.mktemp("demo") / "burrow"
    return dest, replay_history(find_sample_dir(), dest)


def commit_index(shas: list[str], subject_part: str, repo: Path) -> int:
    """0-based index of the commit whose subject contains `subject_part`."""
    subjects = git(repo, "log", "--reverse", "--format=%s").splitlines()
    matches = [i for i, s in enumerate(subjects) if subject_part in s]
    assert len(matches) == 1, (subject_part, subjects)
    return matches[0]


# --- the replayed history ---------------------------------------------------


def test_replay_builds_a_clean_repository(replayed):
    repo, shas = replayed
    assert len(shas) >= 10
    assert all(SHA.fullmatch(s) for s in shas)
    assert git(repo, "rev-list", "--reverse", "HEAD").split() == shas
    assert git(repo, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert git(repo, "status", "--porcelain") == ""


def test_history_has_several_authors_on_distinct_dates(replayed):
    repo, shas = replayed
    rows = git(repo, "log", "--format=%an|%ae|%ad|%cn|%cd", "--date=iso-strict").splitlines()
    authors = {row.split("|")[0] for row in rows}
    days = [row.split("|")[2][:10] for row in rows]
    assert len(authors) >= 3
    assert len(set(days)) == len(shas)  # one commit per day, never two on a day
    assert max(days) >= "2024-03-01" and min(days) <= "2024-02-10"  # spread over weeks
    for row in rows:  # committer is the author, same date
        name, _email, adate, cname, cdate = row.split("|")
        assert (name, adate) == (cname, cdate)


def test_rename_is_seen_by_follow_and_diff_m(replayed):
    repo, shas = replayed
    i = commit_index(shas, "Rename backup.sh", repo)
    diff = git(repo, "diff", "-M", "--name-status", shas[i - 1], shas[i])
    assert diff.split() == ["R100", "scripts/backup.sh", "scripts/snapshot.sh"]
    followed = git(repo, "log", "--follow", "--format=%H", "--", "scripts/snapshot.sh").split()
    created = commit_index(shas, "backup script", repo)
    assert shas[created] in followed and shas[i] in followed
    assert git(repo, "ls-files", "-s", "scripts/snapshot.sh").startswith("100755 ")


def test_commit_placeholders_resolve_to_real_commits(replayed):
    repo, shas = replayed
    devlog = (repo / "docs" / "devlog.md").read_text(encoding="utf-8")
    assert "{{" not in devlog
    named = re.findall(r"^\s+commit: (\S+)$", devlog, flags=re.M)
    named += re.findall(r"\(\$context \(commit (\S+)\)", devlog)
    assert len(named) >= 3
    for sha in named:
        assert sha in shas
        assert git(repo, "cat-file", "-t", sha).strip() == "commit"
    # The PR for atomic-ref-update names the commit that introduced the temp file.
    pr_sha = re.search(r"PR: atomic-ref-update\n.*\n\s+commit: (\S+)", devlog).group(1)
    assert "HEAD.tmp" in git(repo, "show", pr_sha, "--", "src/store.c")


def test_line_move_is_blamed_on_the_moving_commit(replayed):
    repo, shas = replayed
    moved = commit_index(shas, "retry note", repo)
    text = (repo / "burrow" / "sync.py").read_text(encoding="utf-8")
    lines = text.splitlines()
    n = lines.index("    # TODO: retry the handshake with backoff") + 1
    assert lines[n - 2].startswith("def connect(")
    blame = git(repo, "blame", "--porcelain", "-L", f"{n},{n}", "HEAD", "--", "burrow/sync.py")
    assert blame.split()[0] == shas[moved]
    before = git(repo, "show", f"{shas[moved - 1]}:burrow/sync.py").splitlines()
    assert "# TODO: retry the handshake with backoff" in before
    assert before.index("# TODO: retry the handshake with backoff") < n - 1


def test_resolved_and_edited_entries(replayed):
    repo, shas = replayed
    trailing = "// FIXME: a key holding a tab or newline corrupts the log"
    assert trailing in git(repo, "show", f"{shas[0]}:src/store.c")
    assert trailing not in (repo / "src" / "store.c").read_text(encoding="utf-8")
    assert "-- XXX: there is no way to delete a key" not in (repo / "merge" / "Merge.hs").read_text()
    assert not (repo / "scripts" / "reindex.sh").exists()
    bodies = {
        git(repo, "show", f"{sha}:src/store.c").split("FIXME: atomic-ref-update", 1)[1][:200]
        for sha in shas
        if "atomic-ref-update" in git(repo, "show", f"{sha}:src/store.c")
    }
    assert len(bodies) >= 3  # the body text changed twice


def test_sample_covers_the_required_languages(replayed):
    repo, _ = replayed
    files = git(repo, "ls-files").split()
    suffixes = {Path(f).suffix for f in files}
    assert {".py", ".c", ".hs", ".js", ".sh", ".sql"} <= suffixes
    assert "Makefile" in files and "TODO.md" in files and "docs/devlog.md" in files


# --- determinism and isolation ----------------------------------------------


def test_replay_is_deterministic(replayed, tmp_path):
    _, shas = replayed
    assert replay_history(find_sample_dir(), tmp_path / "again") == shas


def test_replay_ignores_the_users_git_setup(replayed, tmp_path, monkeypatch):
    """Hooks, signing, CRLF conversion or GIT_DIR in the caller's env must not leak in."""
    _, shas = replayed
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    marker = tmp_path / "hook-ran"
    for name in ("pre-commit", "commit-msg", "post-commit"):
        (hooks / name).write_text(f"#!/bin/sh\ntouch '{marker}'\nexit 1\n")
        (hooks / name).chmod(0o755)
    config = tmp_path / "gitconfig"
    config.write_text(
        "[user]\n\tname = Mallory\n\temail = m@evil.invalid\n"
        f"[core]\n\thooksPath = {hooks}\n\tautocrlf = true\n"
        f"[init]\n\ttemplateDir = {tmp_path}\n\tdefaultBranch = trunk\n"
        "[commit]\n\tgpgSign = true\n[i18n]\n\tcommitEncoding = ISO-8859-1\n"
    )
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere.git"))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Mallory")
    assert replay_history(find_sample_dir(), tmp_path / "isolated") == shas
    assert not marker.exists()
    assert not (tmp_path / "elsewhere.git").exists()


# --- destination checks -----------------------------------------------------


def test_replay_into_non_empty_dir_fails(tmp_path):
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine\n")
    with pytest.raises(ValueError, match="not empty"):
        replay_history(find_sample_dir(), dest)
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]


def test_replay_onto_a_file_fails(tmp_path):
    dest = tmp_path / "file"
    dest.write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        replay_history(find_sample_dir(), dest)


def test_replay_into_existing_empty_dir_works(tmp_path):
    dest = tmp_path / "empty"
    dest.mkdir()
    assert len(replay_history(find_sample_dir(), dest)) >= 10


def test_failure_midway_removes_the_half_built_repository(tmp_path, monkeypatch):
    import fixme.sample as sample

    real = sample._replay_commit

    def flaky(dest, commit, shas):
        if commit.number == 3:
            raise RuntimeError("git commit failed: simulated")
        return real(dest, commit, shas)

    monkeypatch.setattr(sample, "_replay_commit", flaky)
    created, existing = tmp_path / "new", tmp_path / "existing"
    existing.mkdir()
    for dest in (created, existing):
        with pytest.raises(RuntimeError, match="simulated"):
            replay_history(find_sample_dir(), dest)
    assert not created.exists()
    assert existing.is_dir() and not any(existing.iterdir())


def test_find_sample_dir_points_at_the_data():
    sample = find_sample_dir()
    assert (sample / "history.toml").is_file()
    assert len(load_history(sample)) >= 10


# --- validation of the data -------------------------------------------------

GOOD_COMMIT = """
[[commit]]
step = "01-start"
author = "A"
email = "a@example.org"
date = "2024-01-01T10:00:00+00:00"
message = "start"
"""


def make_sample(root: Path, history: str, steps: dict[str, str] | None = None) -> Path:
    root.mkdir()
    (root / "history.toml").write_text(history)
    if steps is None:
        steps = {"01-start/a.txt": "one\n"}
    for rel, content in steps.items():
        path = root / "steps" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def test_tiny_valid_history_replays(tmp_path):
    history = "format = 1\n" + GOOD_COMMIT + """
[[commit]]
step = "02-edit"
author = "B"
email = "b@example.org"
date = 2024-01-02T10:00:00Z
rename = [["a.txt", "dir/b.txt"]]
message = "move a to b, naming {{commit:1}}"
"""
    sample = make_sample(tmp_path / "s", history, {
        "01-start/a.txt": "one\n",
        "02-edit/run.sh": "#!/bin/sh\necho {{commit:1}}\n",
    })
    shas = replay_history(sample, tmp_path / "out")
    repo = tmp_path / "out"
    assert git(repo, "ls-files", "-s").split()[0::4] == ["100644", "100755"]
    assert (repo / "run.sh").read_text() == f"#!/bin/sh\necho {shas[0]}\n"
    assert shas[0] in git(repo, "log", "-1", "--format=%B")


@pytest.mark.parametrize(
    ("history", "steps", "message"),
    [
        ("format = 1\n" + GOOD_COMMIT.replace('message = "start"', 'message = "s"\ncolour = 1'),
         None, "unknown key 'colour'"),
        ("format = 1\nextra = 2\n" + GOOD_COMMIT, None, "unknown key 'extra'"),
        ("format = 2\n" + GOOD_COMMIT, None, "format must be 1"),
        ("format = 1\n" + GOOD_COMMIT.replace("+00:00", ""), None, "needs a UTC offset"),
        ("format = 1\n" + GOOD_COMMIT.replace("2024-01-01T", "2024-13-01T"), None,
         "not an ISO 8601"),
        ("format = 1\n" + GOOD_COMMIT.replace('author = "A"\n', ""), None, "missing 'author'"),
        ("format = 1\n" + GOOD_COMMIT, {"01-other/a.txt": "x\n"}, "step directory .* is missing"),
        ("format = 1\n" + GOOD_COMMIT.replace("01-start", "02-start"),
         {"02-start/a.txt": "x\n"}, "should be numbered 01"),
        ("format = 1\n" + GOOD_COMMIT, {"01-start/a.txt": "x\n", "07-stray/b": "y\n"},
         "not used by any commit"),
        ("format = 1\n" + GOOD_COMMIT, {"01-start/a.txt": "{{commit:1}}\n"},
         "must name an earlier commit"),
        ("format = 1\n" + GOOD_COMMIT.replace('step = "01-start"', 'delete = ["nope"]'),
         {}, "cannot delete 'nope'"),
        ("format = 1\n" + GOOD_COMMIT + GOOD_COMMIT.replace("01-start", "02-same"),
         {"01-start/a.txt": "x\n", "02-same/a.txt": "x\n"}, "changes nothing"),
        ("format = 1\n" + GOOD_COMMIT + GOOD_COMMIT.replace("01-start", "02-late").replace(
            "2024-01-01", "2023-12-31"), {"01-start/a": "x\n", "02-late/b": "y\n"},
         "dated before commit 1"),
        ("format = 1\n" + GOOD_COMMIT.replace('step = "01-start"',
                                              'step = "01-start"\nrename = [["../x", "y"]]'),
         None, "not a plain relative path"),
        ("format = 1\n[[commit\n", None, "invalid TOML"),
    ],
)
def test_bad_data_is_refused_with_one_line(tmp_path, history, steps, message):
    sample = make_sample(tmp_path / "s", history, steps)
    dest = tmp_path / "out"
    with pytest.raises(ValueError, match=message) as info:
        replay_history(sample, dest)
    assert "\n" not in str(info.value)
    assert not dest.exists()  # validation happens before anything is created
