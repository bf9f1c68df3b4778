"""The views people use every day: `list`'s filters on a real repository with two authors
and a feature branch, what "open" means, and the table at the widths terminals have."""

from __future__ import annotations

import json
import os

import pytest

from fixme.cells import cell_width, cut_location
from fixme.scan.identity import short_length

from conftest import run_cli


@pytest.fixture
def team(repo, cli, monkeypatch):
    """main: entries by ada and grace, one done task, one removed; feature: ada adds two.

    The user ("me") is Ada, as git's author identity says.
    """
    repo.write("src/net.py", "# TODO: retry the handshake\n# FIXME: one dead peer stalls the round\n")
    repo.write("TODO.md", "- [ ] write the upgrade notes\n- [x] tag the release\n")
    repo.commit("start", author="ada")
    repo.write("src/store.py", "# TODO: compact the log\n#   assigned: grace\n# XXX: drop me later\n")
    repo.commit("store", author="grace")
    assert cli("init").code == 0
    assert cli("scan").code == 0
    repo.write("src/store.py", "# TODO: compact the log\n#   assigned: grace\n")
    repo.commit("drop", author="grace")
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("src/feature.py", "# TODO: feature flag for the new sync\n# BUG: flag read twice\n#   #sync\n")
    repo.commit("feature", author="ada")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Ada Lovelace")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ada@example.org")
    assert cli("scan").code == 0
    return repo


def titles(cli, *args: str) -> list[str]:
    result = cli("list", "--format", "json", *args)
    assert result.code == 0, result.err
    return [e["title"] for e in json.loads(result.out)]


def test_open_means_present_and_not_done(team, cli):
    open_titles = {"retry the handshake", "one dead peer stalls the round", "write the upgrade notes",
                   "compact the log", "feature flag for the new sync", "flag read twice"}
    assert set(titles(cli)) == open_titles
    assert titles(cli, "--closed") == ["tag the release"]
    assert titles(cli, "--gone") == ["drop me later"]
    assert set(titles(cli, "--closed", "--gone")) == {"tag the release", "drop me later"}
    assert set(titles(cli, "--all")) == open_titles | {"tag the release", "drop me later"}
    assert titles(cli, "--state", "done") == ["tag the release"]
    assert titles(cli, "--state", "gone") == ["drop me later"]


def test_mine_assigned_since_and_branch(team, cli):
    assert set(titles(cli, "--mine")) == {"retry the handshake", "one dead peer stalls the round",
                                          "write the upgrade notes", "feature flag for the new sync",
                                          "flag read twice"}
    assert titles(cli, "--assigned", "GRACE") == ["compact the log"]
    assert titles(cli, "--assigned", "@grace") == ["compact the log"]
    feature = {"feature flag for the new sync", "flag read twice"}
    assert set(titles(cli, "--since", "main")) == feature
    assert set(titles(cli, "--branch")) == feature
    team.write("src/feature.py", "# TODO: feature flag for the new sync\n# BUG: flag read twice\n#   #sync\n"
                                 "# TODO: not committed yet\n")
    assert set(titles(cli, "--branch")) == feature | {"not committed yet"}
    team.git("checkout", "-q", "src/feature.py")
    team.git("checkout", "-q", "main")
    assert titles(cli, "--branch") == []  # on main itself: nothing committed is new
    bad = cli("list", "--since", "no-such-rev")
    assert bad.code == 2 and bad.err.count("\n") == 1 and "unknown revision" in bad.err


def test_mine_answers_to_my_key_too(team, cli, monkeypatch):
    """Ken wrote nothing; an entry assigned to his key's fingerprint is his."""
    key = json.loads(cli("key", "show", "--format", "json").out)
    target = next(e["id"] for e in json.loads(cli("list", "--format", "json").out) if e["title"] == "compact the log")
    assert cli("set", target, "assigned", key["fingerprint"]).code == 0
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Ken Thompson")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ken@example.org")
    assert titles(cli, "--mine") == ["compact the log"]


def test_reverse_limit_and_count(team, cli):
    ordered = titles(cli)
    assert titles(cli, "--reverse") == list(reversed(ordered))
    assert titles(cli, "--limit", "2") == ordered[:2]
    assert titles(cli, "--reverse", "--limit", "1") == ordered[-1:]
    counted = json.loads(cli("list", "--count", "--all", "--format", "json").out)
    assert counted["total"] == 8
    assert counted["states"] == {"new": 6, "done": 1, "gone": 1}
    assert counted["tags"]["TODO"] == 5 and counted["authors"] == {"Ada Lovelace": 6, "Grace Hopper": 2}
    text = cli("list", "--count", "--mine").out.splitlines()
    assert text[0] == "5 entries" and text[1].startswith("state   new 5")


def test_unknown_tag_state_or_label_is_an_error_and_an_empty_list_hints_on_a_terminal(team, cli):
    for args, word in ((("--tag", "TODOO"), "unknown tag"), (("--state", "doing"), "unknown state"),
                       (("--label", "nope"), "unknown label")):
        result = cli("list", *args)
        assert result.code == 2 and result.out == "" and result.err.count("\n") == 1, result
        assert result.err.startswith(f"fixme: {word}")
    assert titles(cli, "--label", "#sync") == ["flag read twice"]
    empty = cli("list", "--tag", "REVIEW", tty=True)
    assert empty.code == 0 and empty.out == ""
    assert empty.err == ("no open entries match (1 closed and 1 gone entries are not shown: "
                         "--closed, --gone or --all)\n")
    piped = cli("list", "--tag", "REVIEW")
    assert piped.code == 0 and piped.out == "" and piped.err == ""


def test_check_max_count_counts_open_entries_only(team, cli):
    config = team.root / ".fixme" / "config.toml"
    config.write_text(config.read_text().replace("[check]", "[check]\nmax_count = { TODO = 4 }"))
    assert cli("check").code == 0  # 4 open TODOs; the done task and the gone XXX do not count
    config.write_text(config.read_text().replace("TODO = 4", "TODO = 3"))
    result = cli("check")
    assert result.code == 1 and "4 open TODO entries; at most 3 allowed" in result.out


# -- the table -------------------------------------------------------------------------

LONG_DIR = "services/synchronisation/transport/handshake"


@pytest.fixture
def wide_text(repo, cli):
    repo.write(f"{LONG_DIR}/store.c", "/* TODO: 日本語のタイトルはセルを二つ取る and more words after it */\n"
                                      "int x; // FIXME: emoji 🐛 in the title\tand a tab\n")
    repo.write("a.py", "# TODO: a short one\n")
    repo.commit("wide", author="grace")
    assert cli("scan").code == 0
    return repo


@pytest.mark.parametrize("width", [60, 80, 120])
def test_the_table_fits_the_terminal_by_display_width(wide_text, cli, width):
    out = cli("list", width=width).out
    lines = out.splitlines()
    assert len(lines) == 4
    for line in lines:
        assert cell_width(line) <= width, (width, line)
    assert "\t" not in out
    store = next(line for line in lines if "FIXME" in line)
    # The path gave way from the left; the file name and line stayed.
    assert "store.c:2" in store
    if width < 100:
        assert "…/" in store
    header = lines[0].split()
    if width == 60:
        assert "AUTHOR" not in header and "AGE" not in header
    if width == 120:
        assert header[-2:] == ["AUTHOR", "AGE"]
        assert "tab\\t" not in out and "title\\tand" in out  # escaped, not a jump to the next stop


def test_a_pipe_gets_every_title_whole(wide_text, cli, tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "fixme", "list"], cwd=wide_text.root, capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "40"})
    assert proc.returncode == 0, proc.stderr
    assert "日本語のタイトルはセルを二つ取る and more words after it" in proc.stdout
    assert f"{LONG_DIR}/store.c:1" in proc.stdout
    assert "…" not in proc.stdout
    assert "emoji 🐛 in the title\\tand a tab" in proc.stdout
    narrow = cli("list", "--width", "50", width=None).out
    assert all(cell_width(line) <= 50 for line in narrow.splitlines())


def test_cut_location_keeps_the_file_name_and_line():
    assert cut_location("a/b/c/store.c", ":15", 14) == "…/c/store.c:15"
    assert cut_location("a/b/c/store.c", ":15", 12) == "…/store.c:15"
    assert cut_location("a/b/c/store.c", ":15", 100) == "a/b/c/store.c:15"
    assert cut_location("深い/ディレクトリ/名前.c", ":3", 12) == "…/名前.c:3"
    assert cut_location("a/b/very-long-file-name.c", ":9", 10).endswith(".c:9")


def test_short_length_as_before():
    ids = ["abc1234" + "0" * 33, "abc1235" + "0" * 33, "ffff" + "1" * 36]
    assert short_length(ids, 4) == 7
    assert short_length(ids[:1], 7) == 7
    assert short_length(ids + ids, 2) == 7


# -- the kept fold, seen from the CLI ----------------------------------------------------

def test_the_kept_fold_deleted_or_damaged_gives_the_same_list(team, cli):
    ids = {e["title"]: e["id"] for e in json.loads(cli("list", "--format", "json").out)}
    assert cli("set-workflow", ids["compact the log"], "wip").code == 0
    assert cli("set-workflow", ids["retry the handshake"], "done").code == 0
    before = cli("list", "--all", "--format", "json").out
    kept = team.root / ".fixme" / "cache" / "folded.bin"
    assert kept.exists()
    assert '"workflow": "wip"' in before and "retry the handshake" not in cli("list").out
    kept.unlink()
    assert cli("list", "--all", "--format", "json").out == before
    kept.write_bytes(kept.read_bytes()[:-7] + b"garbage")
    assert cli("list", "--all", "--format", "json").out == before
    assert cli("set-workflow", ids["compact the log"], "test").code == 0
    assert titles(cli, "--state", "test") == ["compact the log"]


# -- show --------------------------------------------------------------------------------

def test_show_labels_the_record_and_the_source_and_every_body(repo, cli):
    repo.write("docs/devlog.md", "# Log\n\nTODO: atomic-ref-update\n  refs are rewritten in place\n"
                                 "  $$$ (set workflow backlog)\n")
    repo.write("src/store.py", "x = 1\n# TODO: atomic-ref-update\n#   the rename is not fsynced yet\n")
    repo.commit("both", author="ada")
    assert cli("init").code == 0
    shown = cli("show", "atomic-ref-update").out
    assert "  state:     backlog\n    written: backlog (in the source)\n" in shown
    assert "refs are rewritten in place" in shown and "the rename is not fsynced yet" in shown
    assert "  docs/devlog.md:3:\n" in shown and "  src/store.py:2:\n" in shown
    assert cli("set-workflow", "atomic-ref-update", "wip").code == 0
    shown = cli("show", "atomic-ref-update").out
    assert "  state:     wip\n    record:  wip (" in shown and "(applies)" in shown
    assert "    written: backlog (in the source)  (older than the record)\n" in shown
    data = json.loads(cli("show", "atomic-ref-update", "--format", "json").out)
    workflow = data["state_sources"][0]
    assert workflow["won"] == "record" and workflow["written"] == "backlog" and workflow["record"]["value"] == "wip"
    assert [b["path"] for b in data["location_bodies"]] == ["docs/devlog.md", "src/store.py"]


def test_show_stops_the_source_at_the_end_of_the_file(repo, cli):
    repo.write("last.py", "a = 1\nb = 2\n# TODO: the very last line\n")
    repo.commit("last", author="ada")
    entry = json.loads(cli("list", "--format", "json").out)[0]["id"]
    lines = json.loads(cli("show", entry, "--format", "json").out)["source_lines"]
    assert [line["line"] for line in lines] == [1, 2, 3]
    assert not cli("show", entry).out.rstrip("\n").endswith("│")


def test_cells_count_what_a_terminal_draws():
    from fixme.cells import board_widths, cut_end, cut_start, plan_table

    assert cell_width("abc") == 3 and cell_width("日本") == 4 and cell_width("🐛") == 2
    assert cell_width("e\u0301") == 1  # a combining accent takes no cell
    assert cut_end("日本語のタイトル", 7) == "日本語…" and cell_width(cut_end("日本語のタイトル", 7)) == 7
    assert cut_start("src/日本/x.py", 8) == "…本/x.py"
    assert cut_end("abc", 3) == "abc" and cut_end("abcd", 3) == "ab…" and cut_end("abcd", 0) == ""
    for width in range(40, 200, 7):
        layout = plan_table([7, 7, 5, 120, 60, 20, 3], width, 14)
        assert layout.total() <= width, width
    assert plan_table([7, 7, 5, 120, 60, 20, 3], None, 14).widths == [7, 7, 5, 120, 60, 20, 3]
    widths = board_widths(["new 3", "wip 0", "done 1"], [3, 0, 1], 60)
    assert sum(widths) == 60 and widths[1] < widths[0] and abs(widths[0] - widths[2]) <= 1
    assert board_widths(["a 1", "b 1"], [1, 1], 9) == [5, 4]
