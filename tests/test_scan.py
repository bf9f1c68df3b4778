"""End-to-end scans of real git repositories: finding, blaming, identity, cache, lifecycle."""

from __future__ import annotations

import json

from conftest import run_cli


def entries(cli, *extra) -> list[dict]:
    result = cli("list", "--format", "json", *extra)
    assert result.code == 0, result.err
    return json.loads(result.out)


def by_title(items: list[dict]) -> dict[str, dict]:
    return {e["title"]: e for e in items}


def test_entries_are_tied_to_the_commit_that_wrote_their_tag_line(repo, cli):
    repo.write("app.py", "import os\n# TODO: handle the empty config\n")
    first = repo.commit("start", "ada")
    repo.write("app.py", "import os\n# TODO: handle the empty config\nx = 1  # FIXME: magic number\n")
    second = repo.commit("more", "grace")
    found = by_title(entries(cli))
    assert found["handle the empty config"]["commit"] == first
    assert found["handle the empty config"]["author"] == "Ada Lovelace"
    assert found["magic number"]["commit"] == second
    assert found["magic number"]["author_email"] == "grace@example.org"
    assert found["magic number"]["line"] == 3
    assert found["magic number"]["date"].startswith("2023-11-")


def test_uncommitted_lines_and_untracked_files_are_marked(repo, cli):
    repo.write("a.py", "# TODO: committed one\n")
    repo.commit()
    repo.write("a.py", "# TODO: committed one\n# TODO: not yet committed\n")
    repo.write("new.js", "// FIXME: brand new file\n")
    found = by_title(entries(cli))
    assert found["committed one"]["uncommitted"] is False
    assert found["not yet committed"]["uncommitted"] is True
    assert found["not yet committed"]["commit"] is None
    assert found["brand new file"]["uncommitted"] is True


def test_repository_without_commits(repo, cli):
    repo.write("notes.md", "TODO: first-thing\n")
    repo.write("x.c", "/* FIXME: everything */\n")
    found = by_title(entries(cli))
    assert set(found) == {"first-thing", "everything"}
    assert all(e["commit"] is None for e in found.values())


def test_not_a_git_repository_is_one_line_and_exit_2(tmp_path):
    result = run_cli("list", cwd=tmp_path)
    assert result.code == 2
    assert result.err.count("\n") == 1 and "not a git repository" in result.err


def test_bad_files_are_skipped_or_decoded_not_fatal(repo, cli):
    repo.write("blob.bin", b"\x00\x01TODO: not in a binary\n")
    repo.write("latin.py", b"# TODO: caf\xe9 au lait\n")
    repo.write("crlf.py", "x = 1\r\n# TODO: windows line\r\n")
    repo.write("bom.py", "\ufeff# TODO: after a bom\n")
    repo.write("tabs.py", "\t# TODO: tabbed\n\t#\t\tbody with tabs\n")
    repo.commit()
    found = by_title(entries(cli))
    assert "caf\ufffd au lait" in found
    assert found["windows line"]["line"] == 2
    assert found["after a bom"]["line"] == 1
    assert "body with tabs" in found["tabbed"]["body"]
    assert not any("binary" in t for t in found)


def test_files_over_the_size_limit_are_skipped_with_a_notice(repo, cli):
    repo.write(".fixme/config.toml", "[scan]\nmax_file_size = 100\n")
    repo.write("big.py", "# TODO: too far down\n" + "x = 1\n" * 100)
    repo.write("small.py", "# TODO: fine\n")
    repo.commit()
    result = cli("list", "--format", "json")
    assert [e["title"] for e in json.loads(result.out)] == ["fine"]
    assert "skipped big.py: larger than" in result.err


def test_ids_survive_line_moves_body_edits_and_renames(repo, cli):
    repo.write("src/store.py", "# TODO: flush before close\n#   or data is lost\nx = 1\n")
    repo.commit("start")
    before = by_title(entries(cli))["flush before close"]["id"]
    repo.write("src/store.py", "import io\n\nx = 1\n# TODO: flush before close\n#   data is lost otherwise\n")
    repo.commit("move and edit body")
    moved = by_title(entries(cli))["flush before close"]
    assert moved["id"] == before and moved["line"] == 4
    (repo.root / "lib").mkdir()
    repo.git("mv", "src/store.py", "lib/storage.py")
    repo.commit("rename")
    renamed = by_title(entries(cli))["flush before close"]
    assert renamed["id"] == before and renamed["path"] == "lib/storage.py"


def test_duplicate_titles_in_one_file_are_distinct_entries(repo, cli):
    repo.write("a.py", "# TODO: check errors\nx()\n# TODO: check errors\n")
    repo.commit()
    items = entries(cli)
    assert len(items) == 2 and items[0]["id"] != items[1]["id"]


def test_a_slug_is_one_entry_across_files_and_pr_links_both_ways(repo, cli):
    repo.write("src/refs.c", "// FIXME: atomic-ref-update\n//    rename over the old file\n")
    repo.write("docs/devlog.md", "## 2024-03-02\n\nTODO: atomic-ref-update\n  first note\n\n"
                                 "## 2024-03-09\n\nTODO: atomic-ref-update\n  latest note #storage\n\n"
                                 "PR: atomic-ref-update\n  branch: fix/refs\n  commit: abc123\n")
    repo.commit()
    items = entries(cli)
    issue = next(e for e in items if e["slug"] == "atomic-ref-update" and e["tag"] != "PR")
    pr = next(e for e in items if e["tag"] == "PR")
    assert len(items) == 2
    assert {(loc["path"], loc["line"]) for loc in issue["locations"]} == {
        ("src/refs.c", 1), ("docs/devlog.md", 3), ("docs/devlog.md", 8)}
    assert issue["body"] == "latest note #storage" and issue["devlog_date"] == "2024-03-09"
    assert issue["labels"] == ["storage"]
    assert pr["fields"] == {"branch": "fix/refs", "commit": "abc123"}
    assert pr["links"] == [{"rel": "fixes", "id": issue["id"], "slug": "atomic-ref-update"}]
    assert issue["links"] == [{"rel": "pr", "id": pr["id"], "slug": "atomic-ref-update"}]


def test_task_lists_and_directives_set_workflow(repo, cli):
    repo.write("TODO.md", "- [ ] write the docs\n- [x] ship it\n")
    repo.write("docs/devlog.md", "TODO: parked\n  $$$ (set workflow backlog)\nTODO: started\n  $workflow: wip\n")
    repo.commit()
    found = by_title(entries(cli, "--all"))  # --all: "ship it" is done, so closed
    assert found["write the docs"]["workflow"] == "new" and found["write the docs"]["source"] == "tasklist"
    assert found["ship it"]["workflow"] == "done"
    assert found["parked"]["workflow"] == "backlog"
    assert found["started"]["workflow"] == "wip"
    assert [e["title"] for e in entries(cli, "--state", "wip")] == ["started"]


def test_removed_entries_become_gone_at_the_commit_that_removed_them(repo, cli):
    repo.write("a.py", "# TODO: keep me\n# FIXME: remove me\n")
    repo.commit()
    assert len(entries(cli)) == 2
    repo.write("a.py", "# TODO: keep me\n")
    removal = repo.commit("fix it")
    assert [e["title"] for e in entries(cli)] == ["keep me"]
    gone = by_title(entries(cli, "--all"))["remove me"]
    assert gone["status"] == "gone" and gone["gone_commit"] == removal


def test_incremental_scan_rereads_and_reblames_only_what_changed(repo, cli):
    for i in range(6):
        repo.write(f"m{i}.py", f"# TODO: task {i}\n")
    repo.commit()
    first = json.loads(cli("scan", "--format", "json").out)
    assert first["reread"] == 6 and first["blamed"] == 6
    again = json.loads(cli("scan", "--format", "json").out)
    assert again["unchanged"] is True
    repo.write("m3.py", "x = 0\n# TODO: task 3\n")
    repo.commit("touch one")
    after = json.loads(cli("scan", "--format", "json").out)
    assert after["unchanged"] is False and after["reread"] == 1 and after["blamed"] == 1
    repo.write("m4.py", "# TODO: task 4\n# TODO: edited in the work tree\n")
    dirty = json.loads(cli("scan", "--format", "json").out)
    assert dirty["reread"] == 1
    assert json.loads(cli("scan", "--format", "json").out)["unchanged"] is True


def test_a_corrupt_cache_is_rebuilt_not_fatal(repo, cli):
    repo.write("a.py", "# TODO: survive\n")
    repo.commit()
    assert len(entries(cli)) == 1
    cache = repo.root / ".fixme" / "cache"
    for path in cache.iterdir():
        path.write_bytes(b"\x00garbage{" * 100)
    assert [e["title"] for e in entries(cli)] == ["survive"]
    assert [e["title"] for e in entries(cli, "--no-scan")] == ["survive"]


def test_scanning_leaves_git_status_clean(repo, cli):
    repo.write("a.py", "# TODO: x\n")
    repo.commit()
    entries(cli, "--no-scan")
    assert repo.git("status", "--porcelain") == ""
    entries(cli)
    assert repo.git("status", "--porcelain") == ""


def test_include_and_exclude_globs(repo, cli):
    repo.write(".fixme/config.toml", '[scan]\nexclude = [".fixme/**", "vendor/**"]\n')
    repo.write("vendor/lib.py", "# TODO: not ours\n")
    repo.write("src/ours.py", "# TODO: ours\n")
    repo.commit()
    assert [e["title"] for e in entries(cli)] == ["ours"]


def test_ignored_files_are_not_scanned_but_untracked_ones_are(repo, cli):
    repo.write(".gitignore", "build/\n")
    repo.write("build/gen.py", "# TODO: generated\n")
    repo.write("scratch.py", "# TODO: untracked but not ignored\n")
    found = by_title(entries(cli))
    assert "untracked but not ignored" in found and "generated" not in found


def test_well_known_code_file_names_beat_prose_extensions(repo, cli):
    repo.write("CMakeLists.txt", 'set(X "TODO: in a string")\n# TODO: find the zlib package\n')
    repo.write("notes.txt", "TODO: a prose note\n")
    repo.commit()
    found = by_title(entries(cli))
    assert found["find the zlib package"]["source"] == "code"
    assert found["a prose note"]["source"] == "devlog"
    assert "in a string" not in found


def test_changing_the_configured_tags_rescans_unchanged_files(repo, cli):
    repo.write("a.py", "# OPTIMIZE: make it fast\n# TODO: plain\n")
    repo.commit()
    assert [e["title"] for e in entries(cli)] == ["plain"]
    repo.write(".fixme/config.toml", '[scan]\ntags = ["TODO", "OPTIMIZE"]\n')
    assert sorted(e["title"] for e in entries(cli)) == ["make it fast", "plain"]


def test_sorting_by_date_compares_instants_across_time_zones(repo, cli):
    repo.write("early.py", "# TODO: written first\n")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "a", env={"GIT_AUTHOR_DATE": "2024-01-01T05:00:00+00:00"})
    repo.write("late.py", "# TODO: written second\n")
    repo.git("add", "-A")
    # 10:00 in Tokyo is 01:00 UTC: earlier than 05:00 UTC although it sorts later as text
    repo.git("commit", "-qm", "b", env={"GIT_AUTHOR_DATE": "2024-01-01T10:00:00+09:00"})
    assert [e["title"] for e in entries(cli, "--sort", "date")] == ["written second", "written first"]


def test_impossible_devlog_dates_warn_once_per_file(repo, cli):
    repo.write("docs/devlog.md", "## 2023-14-08\n\nTODO: odd-date\n  body\n\nTODO: odd-date\n")
    repo.commit()
    (entry,) = entries(cli)
    assert entry["devlog_date"] == "2023-14-08"
    assert len(entry["warnings"]) == 1 and entry["warnings"][0].startswith("docs/devlog.md: ")


def test_show_of_a_gone_entry_shows_no_stale_source(repo, cli):
    repo.write("a.py", "# TODO: old title\n")
    repo.commit()
    old = entries(cli)[0]["id"]
    repo.write("a.py", "# TODO: new title\n")
    repo.commit()
    shown = cli("show", old[:10])
    assert shown.code == 0 and "gone at" in shown.out and "new title" not in shown.out


def test_pr_links_follow_incremental_scans_both_ways(repo, cli):
    repo.write("src/refs.c", "// FIXME: atomic-refs\n")
    repo.commit()
    assert entries(cli)[0]["links"] == []
    repo.write("docs/devlog.md", "PR: atomic-refs\n  branch: fix/refs\n")
    repo.commit("open a PR")
    items = {e["tag"]: e for e in entries(cli)}
    assert items["FIXME"]["links"] == [{"rel": "pr", "id": items["PR"]["id"], "slug": "atomic-refs"}]
    assert items["PR"]["links"] == [{"rel": "fixes", "id": items["FIXME"]["id"], "slug": "atomic-refs"}]
    repo.write("docs/devlog.md", "nothing here any more\n")
    repo.commit("drop the PR")
    (fixme,) = entries(cli)
    assert fixme["tag"] == "FIXME" and fixme["links"] == []


def test_incremental_blame_after_several_commits_matches_a_cold_scan(repo, cli, tmp_path):
    repo.write("a.py", "# TODO: one\nx = 1\n")
    repo.write("b.py", "# TODO: two\n")
    repo.commit("start", "ada")
    entries(cli)
    repo.write("a.py", "import os\n# TODO: one\nx = 1\n# FIXME: added later\n")
    repo.commit("grow a", "grace")
    (repo.root / "lib").mkdir()
    repo.git("mv", "b.py", "lib/b.py")
    repo.write("lib/b.py", "# TODO: two\n# TODO: three\n")
    repo.commit("move b", "ken")
    warm = {e["id"]: (e["commit"], e["path"], e["line"]) for e in entries(cli)}
    cold_root = tmp_path / "cold"
    repo.git("clone", "-q", str(repo.root), str(cold_root))
    cold = {e["id"]: (e["commit"], e["path"], e["line"])
            for e in json.loads(run_cli("list", "--format", "json", cwd=cold_root).out)}
    assert warm == cold and len(warm) == 4


def test_rewritten_history_is_blamed_afresh(repo, cli, tmp_path):
    repo.write("a.py", "# TODO: first\n")
    repo.commit("start", "ada")
    repo.write("a.py", "# TODO: first\n# FIXME: second\n")
    repo.commit("add second", "grace")
    entries(cli)
    repo.write("a.py", "# TODO: first\n# FIXME: second, amended\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "--amend", "--reset-author", "-m", "amended", env={"GIT_AUTHOR_NAME": "Ken Thompson"})
    warm = {e["title"]: (e["commit"], e["author"]) for e in entries(cli)}
    clone = tmp_path / "clone"
    repo.git("clone", "-q", str(repo.root), str(clone))
    cold = {e["title"]: (e["commit"], e["author"])
            for e in json.loads(run_cli("list", "--format", "json", cwd=clone).out)}
    assert warm == cold and warm["second, amended"][1] == "Ken Thompson"


def test_incremental_blame_across_a_merge_matches_a_cold_scan(repo, cli, tmp_path):
    # base..HEAD is no chain here, so the seeded replay must step aside.
    repo.write("a.py", "# TODO: one\nx = 1\n")
    repo.commit("start", "ada")
    entries(cli)
    repo.git("checkout", "-q", "-b", "side")
    repo.write("b.py", "# FIXME: from the side\n")
    repo.commit("side", "grace")
    repo.git("checkout", "-q", "main")
    repo.write("a.py", "# TODO: one\nx = 1\n# TODO: on main\n")
    repo.commit("main", "ken")
    repo.git("merge", "-q", "--no-edit", "side")
    warm = {e["id"]: (e["commit"], e["author"], e["line"]) for e in entries(cli)}
    clone = tmp_path / "clone"
    repo.git("clone", "-q", str(repo.root), str(clone))
    cold = {e["id"]: (e["commit"], e["author"], e["line"])
            for e in json.loads(run_cli("list", "--format", "json", cwd=clone).out)}
    assert warm == cold and len(warm) == 3


def test_scan_command_after_commits_matches_a_cold_scan(repo, cli, tmp_path):
    # `fixme scan` starts diff-tree and log before the scanner loads (tracker/early.py);
    # a state file whose HEAD disagrees with the store's must not mislead it.
    repo.write("a.py", "# TODO: one\nx = 1\n")
    repo.commit("start", "ada")
    assert cli("scan").code == 0
    repo.write("a.py", "# TODO: one\nx = 1\n# FIXME: two\n")
    repo.commit("grow", "grace")
    assert cli("scan").code == 0
    repo.write("a.py", "# HACK: zero\n# TODO: one\nx = 1\n# FIXME: two\n")
    repo.commit("grow again", "ken")
    state_file = repo.root / ".fixme" / "cache" / "state.json"
    state = json.loads(state_file.read_text())
    state["summary"]["head"] = "0" * 40
    state_file.write_text(json.dumps(state))
    repo.write("b.py", "# BUG: three\n")
    repo.commit("add b", "ada")
    assert cli("scan").code == 0
    warm = {e["id"]: (e["commit"], e["author"], e["line"]) for e in entries(cli)}
    clone = tmp_path / "clone"
    repo.git("clone", "-q", str(repo.root), str(clone))
    cold = {e["id"]: (e["commit"], e["author"], e["line"])
            for e in json.loads(run_cli("list", "--format", "json", cwd=clone).out)}
    assert warm == cold and len(warm) == 4
