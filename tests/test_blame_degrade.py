"""Blame degrades per file, never per repository: a blob git cannot read, or a
partial clone that lacks old blobs, costs those files their blame (marked
unblamed, with a notice) and nothing else; a partial clone never downloads
history unless `fixme scan --blame` asks for it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import GitRepo, run_cli


def listed(root: Path) -> tuple[dict[str, dict], str]:
    result = run_cli("-C", str(root), "list", "--all", "--format", "json", cwd=root.parent)
    assert result.code == 0, result.err
    return {loc["path"] + ":" + str(loc["line"]): loc for e in json.loads(result.out) for loc in e["locations"]}, \
        result.err


def git_blame_commit(root: Path, path: str, line: int) -> str:
    out = subprocess.run(["git", "blame", "--porcelain", "-L", f"{line},{line}", "HEAD", "--", path], cwd=root,
                         capture_output=True, text=True, check=True).stdout
    return out.split(" ", 1)[0]


def project_with_history(repo: GitRepo) -> None:
    """Two C files with TODOs, each edited a few times; store.c's first version is the one to lose."""
    repo.write("src/store.c", "int open_store(void) {\n    // TODO: check the magic number\n    return 0;\n}\n")
    repo.write("src/net.c", "int dial(void) {\n    // FIXME: retry on EAGAIN\n    return -1;\n}\n")
    repo.commit("start", "ada")
    repo.write("src/store.c", "#include <stdio.h>\nint open_store(void) {\n    // TODO: check the magic number\n"
                              "    return 0;\n}\n")
    repo.commit("include stdio", "grace")
    repo.write("src/net.c", "int dial(void) {\n    // FIXME: retry on EAGAIN\n    // TODO: honour the timeout\n"
                            "    return -1;\n}\n")
    repo.commit("timeout note", "ken")


@pytest.mark.parametrize("strategy", ["walk", "files"])
def test_a_blob_git_cannot_read_costs_only_its_files_blame(repo, monkeypatch, strategy):
    monkeypatch.setenv("FIXME_BLAME_STRATEGY", strategy)
    project_with_history(repo)
    first = repo.git("rev-list", "--max-parents=0", "HEAD").strip()
    lost = repo.git("rev-parse", f"{first}:src/store.c").strip()
    expected = {key: git_blame_commit(repo.root, *key.split(":")[:1], int(key.split(":")[1]))
                for key in ("src/net.c:2", "src/net.c:3")}
    (repo.root / ".git" / "objects" / lost[:2] / lost[2:]).unlink()  # a snapshot that dropped it

    locations, err = listed(repo.root)
    store = locations["src/store.c:3"]
    assert store["commit"] is None and store["unblamed"] == f"Cannot read blob {lost} for path src/store.c"
    assert {key: locations[key]["commit"] for key in expected} == expected
    notices = err.splitlines()
    assert notices[-1].startswith("fixme: could not blame src/store.c (Cannot read blob")
    if strategy == "walk":  # the walk stops where git cannot read, and says why
        assert notices[:-1] == [f"fixme: blamed file by file: reading the history failed (unable to read {lost})"]
    else:
        assert len(notices) == 1
    shown = run_cli("-C", str(repo.root), "list", cwd=repo.root.parent).out
    assert "unblamed" in shown


def test_a_blobless_partial_clone_downloads_nothing_until_asked(tmp_path):
    origin = GitRepo(tmp_path / "origin")
    project_with_history(origin)
    origin.git("config", "uploadpack.allowFilter", "true")
    origin.git("config", "uploadpack.allowAnySHA1InWant", "true")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--filter=blob:none", f"file://{origin.root}", str(clone)], check=True,
                   capture_output=True)

    def objects() -> str:
        return subprocess.run(["git", "count-objects", "-v"], cwd=clone, capture_output=True, text=True).stdout

    before = objects()
    locations, err = listed(clone)
    assert objects() == before  # not one blob fetched
    assert locations["src/store.c:3"]["commit"] is None and locations["src/store.c:3"]["unblamed"]
    assert "partial clone has not downloaded" in err and "fixme scan --blame" in err

    scanned = run_cli("-C", str(clone), "scan", "--blame", cwd=tmp_path)
    assert scanned.code == 0, scanned.err
    locations, err = listed(clone)
    assert err == ""
    for key, loc in locations.items():
        path, line = key.split(":")
        assert loc["commit"] == git_blame_commit(origin.root, path, int(line)), key
        assert not loc.get("unblamed")
    assert len(locations) == 3  # no entry left behind under the id it had while unblamed
