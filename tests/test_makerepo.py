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
def test_finds_exactly_the_truth_with_the_right_commits(tmp_path):
    dest = tmp_path / "R"
    subprocess.run([sys.executable, str(MAKE_REPO), str(dest), "--files", "800", "--commits", "400"],
                   check=True, capture_output=True)
    truth = json.loads(Path(f"{dest}.truth.json").read_text())["entries"]
    result = run_cli("-C", str(dest), "list", "--format", "json", cwd=tmp_path)
    assert result.code == 0, result.err
    found = {}
    for entry in json.loads(result.out):
        for loc in entry["locations"]:
            found[(loc["path"], loc["line"])] = (entry, loc)
    expected = {(t["path"], t["line"]): t for t in truth}
    assert found.keys() == expected.keys()  # nothing missed, no decoy reported
    for key, t in expected.items():
        entry, loc = found[key]
        assert entry["tag"] == t["tag"], key
        assert entry["title"] == t["title"], key
        assert loc["commit"] == t["commit"], key
