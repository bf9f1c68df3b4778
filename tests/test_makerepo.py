"""Acceptance: on a synthetic repository with a known answer, find exactly the truth.

Uses ../shared/bench/make-repo when it is there (CI puts shared/ beside the
checkout); every other test builds its own fixtures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli

MAKE_REPO = Path(__file__).resolve().parents[2] / "shared" / "bench" / "make-repo"


@pytest.mark.skipif(not MAKE_REPO.exists(), reason="../shared/bench/make-repo not available")
@pytest.mark.parametrize("profile, strategy", [([], "auto"), (["--realistic"], "auto"), (["--realistic"], "files")],
                         ids=["plain", "realistic", "realistic-blamed-file-by-file"])
def test_finds_exactly_the_truth_with_the_right_commits(tmp_path, monkeypatch, profile, strategy):
    """Every entry (path, line, tag, title), no decoy, git blame's commit for each, and the
    workflow a devlog directive sets; with the history walk where auto picks it, and without."""
    monkeypatch.setenv("FIXME_BLAME_STRATEGY", strategy)
    dest = tmp_path / "R"
    subprocess.run([sys.executable, str(MAKE_REPO), str(dest), "--files", "800", "--commits", "400", *profile],
                   check=True, capture_output=True)
    truth = json.loads(Path(f"{dest}.truth.json").read_text())["entries"]
    result = run_cli("-C", str(dest), "list", "--all", "--format", "json", cwd=tmp_path)
    assert result.code == 0, result.err
    found = {}
    for entry in json.loads(result.out):
        for loc in entry["locations"]:
            found[(loc["path"], loc["line"])] = (entry, loc)
    expected = {(t["path"], t["line"]): t for t in truth}
    assert sorted(expected.keys() - found.keys())[:5] == [] and sorted(found.keys() - expected.keys())[:5] == []
    wrong = [(key, what) for key, t in expected.items() for what, mine, theirs in (
        ("tag", found[key][0]["tag"], t["tag"]), ("title", found[key][0]["title"], t["title"]),
        ("commit", found[key][1]["commit"], t["commit"]),
        ("workflow", found[key][0]["workflow"], t.get("workflow", found[key][0]["workflow"])))
        if mine != theirs]
    assert wrong == [], wrong[:10]
