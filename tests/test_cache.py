"""Local state is a cache: lost, damaged, unwritable or full, the answers stay the same.

Real repositories, real files: a damaged cache is one with garbage written
into it, an unwritable `.fixme/` one made immutable (`chattr +i`, as root;
chmod elsewhere) or mounted read-only, a full disk a small tmpfs mounted
over `.fixme/cache/`. Tests that need a mount or chattr are skipped where
the machine does not allow them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import run_cli

CONFIG_CHECK = '[check]\nforbid_states = ["wip"]\n'


def make_project(repo, cli) -> None:
    """Entries of every kind: code, a slug with its PR, devlog, task list, vendored code, one uncommitted."""
    repo.write("src/net/peer.py", textwrap.dedent("""\
        def connect():
            pass  # FIXME: no timeout on the peer socket
        # TODO(ada): persist the peer list
        #     A restart forgets every peer we learned about.
        #     #network
        """))
    repo.write("src/store.c", "/* TODO: atomic-ref-update */\nint x;\n// XXX: the list of peers is scanned twice\n")
    repo.write("vendor/zlib/inflate.c", "// HACK: vendored inflate is slow\n// BUG: vendored overflow\n")
    repo.commit("start", "ada")
    repo.write("docs/devlog.md", "## 2024-01-05\n\nTODO: timer wheel for retries\n  the peer list grows\n\n"
                                 "PR: atomic-ref-update\n  branch: ref-update\n")
    repo.write("NOTES.md", "- [ ] write the release notes\n- [x] tag the release\n")
    repo.commit("more", "grace")
    assert cli("init").code == 0
    config = repo.root / ".fixme" / "config.toml"
    config.write_text(config.read_text().replace("forbid_states = []", 'forbid_states = ["wip"]'))
    repo.commit("init fixme", "ada")
    assert cli("set-workflow", "atomic-ref-update", "wip").code == 0
    assert cli("set-workflow", id_of(cli, "vendored overflow"), "backlog").code == 0
    repo.write("src/new.py", "# BUG: not committed yet\n")


def id_of(cli, title: str) -> str:
    return next(e["id"] for e in listed(cli) if e["title"] == title)


def set_setting(repo, key: str, value: str) -> None:
    """Replace `key = ...` in .fixme/config.toml (a line of the document `fixme init` wrote)."""
    config = repo.root / ".fixme" / "config.toml"
    text, count = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", config.read_text())
    assert count == 1, key
    config.write_text(text)


def listed(cli, *args: str) -> list[dict]:
    result = cli("list", "--all", "--format", "json", *args)
    assert result.code == 0, result.err
    return json.loads(result.out)


def answers(cli) -> dict:
    """What the read-only commands say: every entry, search hits, check's verdict, the log."""
    check = cli("check", "--format", "json")
    search = cli("search", "peer", "--format", "json")
    return {"list": listed(cli), "search": json.loads(search.out), "search_code": search.code,
            "check": (check.code, json.loads(check.out)), "log": json.loads(cli("log", "--format", "json").out)}


def titles(entries: list[dict]) -> list[str]:
    return sorted(e["title"] for e in entries)


def cache(repo) -> Path:
    return repo.root / ".fixme" / "cache"


def index(repo) -> Path:
    return repo.root / ".fixme" / "index"


# -- damage ----------------------------------------------------------------------------


def delete(path: Path) -> None:
    path.unlink()


def garbage(path: Path) -> None:
    path.write_bytes(b"\x00garbage{" * 97)


def cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def empty_database(path: Path) -> None:
    path.unlink()
    sqlite3.connect(path).close()


def rows_deleted(path: Path) -> None:
    """A valid store of the right schema whose entries and files are gone: only the content says so."""
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM entries")
        db.execute("DELETE FROM files")
    db.close()


def other_schema(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE occ")
        db.execute("CREATE TABLE occ (entry TEXT)")
    db.close()


def foreign_database(path: Path) -> None:
    """Another program's database in its place (with AUTOINCREMENT: a table SQLite will not drop)."""
    path.unlink()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE meta (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT, value TEXT)")
        db.execute("INSERT INTO meta (key, value) VALUES ('schema', '6')")
    db.close()


DAMAGES = [delete, garbage, cut_in_half]
STORE_DAMAGES = DAMAGES + [empty_database, rows_deleted, other_schema, foreign_database]


@pytest.mark.parametrize("damage", STORE_DAMAGES, ids=lambda f: f.__name__)
def test_a_damaged_scan_store_gives_the_same_answers(repo, cli, damage):
    make_project(repo, cli)
    before = answers(cli)
    assert before["check"][0] == 1 and len(before["list"]) == 11 and before["search"]
    damage(cache(repo) / "scan.sqlite3")
    assert answers(cli) == before
    assert json.loads(cli("scan", "--format", "json").out)["unchanged"] is True  # and saved again


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda f: f.__name__)
def test_a_damaged_state_file_gives_the_same_answers(repo, cli, damage):
    make_project(repo, cli)
    before = answers(cli)
    damage(cache(repo) / "state.json")
    assert answers(cli) == before


def test_the_whole_cache_deleted_gives_the_same_answers(repo, cli):
    make_project(repo, cli)
    before = answers(cli)
    shutil.rmtree(cache(repo))
    assert answers(cli) == before


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda f: f.__name__)
def test_each_reader_rebuilds_a_deleted_store_by_itself(repo, cli, damage):
    """The bug: list, show, search and check answered from the empty store with exit 0."""
    make_project(repo, cli)
    before = answers(cli)
    shown = cli("show", "atomic-ref-update", "--format", "json").out
    for command in (["list", "--all", "--format", "json"], ["show", "atomic-ref-update", "--format", "json"],
                    ["search", "peer", "--format", "json"], ["check", "--format", "json"]):
        damage(cache(repo) / "scan.sqlite3")
        result = cli(*command)
        expected = {"list": json.dumps(before["list"], indent=2, ensure_ascii=False) + "\n", "show": shown,
                    "search": json.dumps(before["search"], indent=2, ensure_ascii=False) + "\n",
                    "check": json.dumps(before["check"][1], indent=2, ensure_ascii=False) + "\n"}[command[0]]
        assert result.out == expected, command
        assert result.code == (1 if command[0] == "check" else 0)


def test_no_scan_rebuilds_a_missing_store_rather_than_answer_nothing(repo, cli):
    make_project(repo, cli)
    before = listed(cli)
    (cache(repo) / "scan.sqlite3").unlink()
    assert listed(cli, "--no-scan") == before


def test_garbage_that_keeps_the_stores_size_and_time_is_found_on_reading(repo, cli):
    """The quick check vouches by inode, size and time: corruption under them shows when the store is read."""
    make_project(repo, cli)
    before = listed(cli)
    store = cache(repo) / "scan.sqlite3"
    st = store.stat()
    with open(store, "r+b") as fh:
        fh.write(b"\x00garbage{" * (st.st_size // 9))
    os.utime(store, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert store.stat().st_size == st.st_size and store.stat().st_mtime_ns == st.st_mtime_ns
    assert listed(cli) == before


def test_the_quick_check_vouches_only_for_the_store_the_scan_closed(repo, cli):
    make_project(repo, cli)
    cli("scan")
    assert json.loads(cli("scan", "--format", "json").out)["unchanged"] is True
    rows_deleted(cache(repo) / "scan.sqlite3")
    again = json.loads(cli("scan", "--format", "json").out)
    assert again["unchanged"] is False and again["entries"] == 11  # rebuilt: the open entries are back


def test_reading_and_searching_leave_the_store_as_the_scan_closed_it(repo, cli):
    make_project(repo, cli)
    cli("scan")
    store = cache(repo) / "scan.sqlite3"
    before = store.stat()
    for command in (["list"], ["show", "atomic-ref-update"], ["search", "peer"], ["check"], ["log"]):
        cli(*command)
    after = store.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert json.loads(cli("scan", "--format", "json").out)["unchanged"] is True


def test_a_reader_holding_the_store_open_during_a_scan_costs_no_rebuild(repo, cli):
    """The scan checkpoints its WAL itself: a reader's later close must not change the file it vouched for."""
    make_project(repo, cli)
    cli("scan")
    reader = sqlite3.connect(f"{(cache(repo) / 'scan.sqlite3').as_uri()}?mode=ro", uri=True)
    reader.execute("SELECT count(*) FROM entries").fetchone()
    repo.write("src/more.py", "# TODO: one more\n")
    scanned = json.loads(cli("scan", "--format", "json").out)
    assert scanned["reread"] == 1
    reader.close()
    assert json.loads(cli("scan", "--format", "json").out)["unchanged"] is True


# -- the search index ---------------------------------------------------------------------


def index_files(repo) -> list[str]:
    return sorted(p.name for p in index(repo).iterdir())


def test_every_index_file_damaged_gives_the_same_hits(repo, cli):
    make_project(repo, cli)
    before = cli("search", "peer", "--format", "json").out
    assert json.loads(before)
    for name in index_files(repo):
        for damage in DAMAGES:
            cli("search", "peer")  # the index as a search leaves it
            path = index(repo) / name
            if not path.exists():
                continue  # this file belonged to the index before the last rebuild
            damage(path)
            result = cli("search", "peer", "--format", "json")
            assert (result.code, result.out) == (0, before), (name, damage.__name__, result.err)


def test_an_index_file_rewritten_in_place_is_noticed(repo, cli):
    """Not only missing files: a segment with other bytes is rebuilt before it is read."""
    make_project(repo, cli)
    before = cli("search", "peer", "--format", "json").out
    state = json.loads((index(repo) / "state.json").read_text())
    # Segments are plain files (search.py, _writing): the terms file, or a compound one.
    segment = next(index(repo) / name for name in state["files"] if name.endswith((".trm", ".seg")))
    data = bytearray(segment.read_bytes())
    data[len(data) // 2:] = b"\x00" * (len(data) - len(data) // 2)
    segment.write_bytes(bytes(data))
    assert cli("search", "peer", "--format", "json").out == before
    assert json.loads((index(repo) / "state.json").read_text())["name"] != state["name"]  # rebuilt


def test_the_whole_index_deleted_is_rebuilt(repo, cli):
    make_project(repo, cli)
    before = cli("search", "peer", "--format", "json").out
    shutil.rmtree(index(repo))
    assert cli("search", "peer", "--format", "json").out == before


# -- settings that change what is read -----------------------------------------------------


def without_first_seen(entries: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k != "first_seen"} for e in entries]


def from_nothing(repo, cli) -> list[dict]:
    """What a scan from nothing answers here (the cache deleted), the cache then put back."""
    saved = repo.root.parent / "saved-cache"
    shutil.copytree(cache(repo), saved)
    shutil.rmtree(cache(repo))
    try:
        return listed(cli)
    finally:
        shutil.rmtree(cache(repo))
        shutil.copytree(saved, cache(repo))
        shutil.rmtree(saved)


def test_an_exclude_drops_the_entries_it_hides_and_removing_it_brings_them_back(repo, cli):
    make_project(repo, cli)
    before = listed(cli)
    vendored = {"vendored inflate is slow", "vendored overflow"}
    assert vendored <= set(titles(before))
    vendored_id = id_of(cli, "vendored overflow")
    set_setting(repo, "exclude", '[".fixme/**", "vendor/**"]')
    after = listed(cli)
    assert set(titles(after)) == set(titles(before)) - vendored  # dropped: not even gone
    assert after == from_nothing(repo, cli)
    assert not vendored & {e["title"] for e in listed(cli, "--state", "gone")}
    assert cli("show", vendored_id).code == 1
    set_setting(repo, "exclude", '[".fixme/**"]')
    back = {e["title"]: e for e in listed(cli)}
    assert back["vendored overflow"]["workflow"] == "backlog"  # its record applies again
    assert listed(cli) == before


def test_an_exclude_takes_effect_with_scan_full_too(repo, cli):
    make_project(repo, cli)
    set_setting(repo, "exclude", '[".fixme/**", "vendor/**"]')
    assert cli("scan", "--full").code == 0
    assert not any(e["path"].startswith("vendor/") for e in listed(cli))


def test_a_tag_removed_from_the_settings_drops_its_entries(repo, cli):
    make_project(repo, cli)
    repo.commit("the uncommitted entry too")  # HEAD moves: first_seen now differs from a scan from nothing
    set_setting(repo, "tags", '["TODO", "FIXME", "XXX", "BUG", "PR", "REVIEW"]')
    after = listed(cli)
    assert "vendored inflate is slow" not in titles(after) and "GONE" not in {e["status"] for e in after}
    assert without_first_seen(after) == without_first_seen(from_nothing(repo, cli))


def test_narrower_prose_globs_drop_the_entries_of_files_no_longer_read(repo, cli):
    make_project(repo, cli)
    set_setting(repo, "prose", '["*.txt"]')
    after = listed(cli)
    assert not any(e["path"] == "NOTES.md" for e in after)
    assert after == from_nothing(repo, cli)


def test_a_lower_size_limit_drops_the_entries_of_files_now_too_large(repo, cli):
    make_project(repo, cli)
    set_setting(repo, "max_file_size", "60")
    result = cli("list", "--all", "--format", "json")
    assert "skipped src/net/peer.py: larger than 60 B" in result.err
    after = json.loads(result.out)
    assert not any(e["path"] == "src/net/peer.py" for e in after)
    assert after == from_nothing(repo, cli)


def test_an_entry_edited_away_while_the_settings_change_still_goes_gone(repo, cli):
    """Only what the settings hide is dropped: a tag line deleted at the same time is gone, as always."""
    make_project(repo, cli)
    repo.write("src/store.c", "/* TODO: atomic-ref-update */\nint x;\n")  # the XXX line deleted
    set_setting(repo, "exclude", '[".fixme/**", "vendor/**"]')
    found = {e["title"]: e["status"] for e in listed(cli)}
    assert found["the list of peers is scanned twice"] == "gone"
    assert "vendored overflow" not in found


# -- scan --full -------------------------------------------------------------------------------


def test_scan_full_answers_as_a_fresh_clone_does(repo, cli, tmp_path):
    make_project(repo, cli)
    repo.commit("commit the new file", "ken")
    repo.write("src/store.c", "/* TODO: atomic-ref-update */\nint x;\n")  # one entry goes
    repo.commit("drop the XXX", "ken")
    assert "gone" in {e["status"] for e in listed(cli)}
    assert cli("scan", "--full").code == 0
    clone = tmp_path / "clone"
    repo.git("clone", "-q", str(repo.root), str(clone))
    shutil.copytree(repo.root / ".fixme" / "node", clone / ".fixme" / "node")  # the same records
    fresh = json.loads(run_cli("list", "--all", "--format", "json", cwd=clone).out)
    assert listed(cli) == fresh
    assert "gone" not in {e["status"] for e in fresh}


# -- a cache that cannot be written -------------------------------------------------------------


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True)


@contextmanager
def unwritable(directory: Path):
    """`directory` made so that nothing can be created, renamed or deleted in it, for real.

    As root, permissions do not stop writes: the directory is made immutable
    (chattr +i), which stops them as `chmod -w` does for anyone else.
    """
    if os.geteuid() != 0:
        mode = directory.stat().st_mode
        directory.chmod(mode & ~0o222)
        try:
            yield
        finally:
            directory.chmod(mode)
        return
    assert directory.is_dir(), directory
    if shutil.which("chattr") is None or _run("chattr", "+i", str(directory)).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        yield
    finally:
        _run("chattr", "-i", str(directory))


@contextmanager
def mounted_read_only(directory: Path):
    """`directory` bind-mounted read-only over itself: even existing files cannot be written (EROFS)."""
    if os.geteuid() != 0 or _run("mount", "--bind", str(directory), str(directory)).returncode != 0:
        pytest.skip("bind mounts are not allowed here")
    try:
        if _run("mount", "-o", "remount,ro,bind", str(directory)).returncode != 0:
            pytest.skip("read-only remounts are not allowed here")
        yield
    finally:
        _run("umount", str(directory))


def one_line_error(result, *words: str) -> None:
    assert result.code == 2 and result.out == ""
    assert result.err.count("\n") == 1 and result.err.startswith("fixme: "), result.err
    assert "Traceback" not in result.err and all(word in result.err for word in words), result.err


def assert_reads_with_one_notice(cli, expected: dict, notice: str) -> None:
    """list, show, search, check and log answer as they would with a writable cache; at most one notice each."""
    result = cli("list", "--all", "--format", "json")
    assert result.code == 0 and json.loads(result.out) == expected["list"]
    assert result.err.count(notice) <= 1 and "Traceback" not in result.err
    show = cli("show", "atomic-ref-update")
    assert show.code == 0 and "set workflow = wip" in show.out
    search = cli("search", "peer", "--format", "json")
    assert search.code == 0 and json.loads(search.out) == expected["search"]
    assert search.err.count("fixme:") <= 1, search.err
    check = cli("check", "--format", "json")
    assert (check.code, json.loads(check.out)) == expected["check"]
    log = cli("log", "--format", "json")
    assert log.code == 0 and json.loads(log.out) == expected["log"]


@pytest.mark.parametrize("where", [".fixme/cache", ".fixme"])
def test_an_unwritable_cache_answers_readers_and_refuses_scan(repo, cli, where):
    make_project(repo, cli)
    repo.write("src/later.py", "# TODO: one\n# FIXME: and one more\n")
    expected = listed(cli)  # what a writable cache answers
    repo.write("src/later.py", "# TODO: one\n")
    listed(cli)  # the cache is now behind the edit below ...
    if where == ".fixme":
        shutil.rmtree(cache(repo))  # ... or there is none, and none can be made
    repo.write("src/later.py", "# TODO: one\n# FIXME: and one more\n")
    with unwritable(repo.root / where):
        result = cli("list", "--all", "--format", "json")
        assert result.code == 0 and json.loads(result.out) == expected
        assert result.err.count("\n") == 1 and "cannot write the scan cache" in result.err
        assert "scanned without saving" in result.err
        one_line_error(cli("scan"), "cannot write the scan cache")
        one_line_error(cli("scan", "--full"), "cannot write the scan cache")
    assert listed(cli) == expected


def test_readers_answer_from_an_unwritable_cache_that_is_current(repo, cli):
    make_project(repo, cli)
    expected = answers(cli)
    with unwritable(cache(repo)):
        assert_reads_with_one_notice(cli, expected, "cannot write")
        result = cli("list", "--all", "--format", "json")
        assert result.err == ""  # current: nothing needed writing, so nothing to say
        assert cli("scan").code == 0  # nothing changed: scan has nothing to write either


def test_readers_answer_when_the_cache_is_unwritable_and_behind(repo, cli):
    make_project(repo, cli)
    repo.write("src/later.py", "# TODO: written while the cache is read-only\n")
    expected = answers(cli)
    repo.write("src/later.py", "")
    listed(cli)  # the cache no longer knows the entry ...
    repo.write("src/later.py", "# TODO: written while the cache is read-only\n")
    with unwritable(cache(repo)):  # ... and cannot learn it
        assert_reads_with_one_notice(cli, expected, "cannot write the scan cache")
        result = cli("list", "--format", "json")
        assert "written while the cache is read-only" in titles(json.loads(result.out))
        assert result.err.count("\n") == 1 and "scanned without saving" in result.err
        one_line_error(cli("scan"), "cannot write the scan cache", "Operation not permitted"
                       if os.geteuid() == 0 else "Permission denied")
    assert json.loads(cli("scan", "--format", "json").out)["reread"] == 1  # writable again: saved


def test_an_unwritable_fixme_directory_without_a_cache(repo, cli):
    make_project(repo, cli)
    expected = answers(cli)
    shutil.rmtree(cache(repo))
    shutil.rmtree(index(repo))
    with unwritable(repo.root / ".fixme"):
        assert_reads_with_one_notice(cli, expected, "cannot write the scan cache")
        search = cli("search", "peer")
        assert search.code == 0 and search.err.count("\n") == 1  # one notice, about the scan cache
        one_line_error(cli("scan"), "cannot write the scan cache")


def test_an_unwritable_node_directory_refuses_records_and_reads_them(repo, cli):
    make_project(repo, cli)
    expected = answers(cli)
    with unwritable(repo.root / ".fixme" / "node"):
        assert_reads_with_one_notice(cli, expected, "cannot write")
        assert cli("list").err == ""
        one_line_error(cli("set-workflow", "atomic-ref-update", "done"), "cannot write the record", ".fixme/node")
        one_line_error(cli("comment", "atomic-ref-update", "hello"), "cannot write the record")
    assert cli("log", "--format", "json").out == json.dumps(expected["log"], indent=2, ensure_ascii=False) + "\n"


def test_an_unwritable_index_directory_searches_in_memory(repo, cli):
    make_project(repo, cli)
    expected = answers(cli)
    repo.write("src/later.py", "# TODO: a peer of its own\n")
    cli("scan")  # the index is behind now and cannot catch up
    with unwritable(index(repo)):
        result = cli("search", "peer", "--format", "json")
        assert result.code == 0 and "a peer of its own" in titles(json.loads(result.out))
        assert len(json.loads(result.out)) == len(expected["search"]) + 1
        assert result.err.count("\n") == 1 and "cannot write the search index" in result.err
        assert "searched an index built in memory" in result.err
    assert cli("search", "peer").err == ""  # and once writable, it catches up quietly


def test_a_read_only_file_system_under_fixme(repo, cli):
    make_project(repo, cli)
    expected = answers(cli)
    repo.write("src/later.py", "# TODO: a peer of its own\n")
    after = answers(cli)
    repo.write("src/later.py", "")
    listed(cli)
    repo.write("src/later.py", "# TODO: a peer of its own\n")
    with mounted_read_only(repo.root / ".fixme"):
        assert_reads_with_one_notice(cli, after, "Read-only file system")
        one_line_error(cli("scan"), "cannot write the scan cache", "Read-only file system")
        one_line_error(cli("set-workflow", "atomic-ref-update", "done"), "cannot write the record",
                       "Read-only file system")
    assert expected["list"] != after["list"]


# -- a full disk ---------------------------------------------------------------------------------


@contextmanager
def small_disk(directory: Path, size: str = "2m"):
    """A tmpfs of `size` mounted over `directory` (its files copied in): a disk that really fills up."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    saved = directory.parent / (directory.name + ".saved")
    shutil.copytree(directory, saved)
    if _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)).returncode != 0:
        shutil.rmtree(saved)
        pytest.skip("mounting a tmpfs is not allowed here")
    try:
        shutil.copytree(saved, directory, dirs_exist_ok=True)
        yield
    finally:
        _run("umount", "-l", str(directory))
        shutil.rmtree(saved)


def fill(directory: Path) -> Path:
    """Write a file in `directory` until the disk is full (ENOSPC); returns it, to delete later."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == 28  # ENOSPC
    return filler


def many_entries(repo, n: int = 300) -> None:
    repo.write("src/many.py", "".join(f"# TODO: entry number {i} that needs room in the cache\n"
                                      for i in range(n)))


def test_a_full_disk_fails_scan_in_one_line_and_the_next_command_after_is_right(repo, cli):
    make_project(repo, cli)
    cli("scan")
    with small_disk(cache(repo)):
        assert json.loads(cli("scan", "--format", "json").out)["unchanged"] is True
        filler = fill(cache(repo))
        many_entries(repo)
        result = cli("scan")
        one_line_error(result, "cannot write the scan cache", "No space left on device")
        one_line_error(cli("scan", "--full"), "No space left on device")
        # Readers still answer, from a scan in memory, and say once why (--all: the done one too).
        result = cli("list", "--all", "--format", "json")
        assert result.code == 0 and len(json.loads(result.out)) == 11 + 300
        assert result.err.count("\n") == 1 and "No space left on device" in result.err
        # Nothing half-written is vouched for: the quick check does not say "unchanged".
        state = json.loads((cache(repo) / "state.json").read_text())
        assert json.loads(cli("list", "--all", "--format", "json").out) == json.loads(result.out)
        filler.unlink()
        freed = cli("list", "--all", "--format", "json")
        assert freed.err == "" and json.loads(freed.out) == json.loads(result.out)
        assert json.loads(cli("scan", "--format", "json").out)["unchanged"] is True
        assert json.loads((cache(repo) / "state.json").read_text())["store"] != state["store"]


def test_a_cold_scan_on_a_full_disk_leaves_nothing_marked_current(repo, cli):
    make_project(repo, cli)
    expected = listed(cli)
    shutil.rmtree(cache(repo))
    cache(repo).mkdir()
    with small_disk(cache(repo)):
        filler = fill(cache(repo))
        one_line_error(cli("scan"), "No space left on device")
        assert not (cache(repo) / "state.json").exists()
        result = cli("list", "--all", "--format", "json")
        assert result.code == 0 and json.loads(result.out) == expected and "No space left" in result.err
        filler.unlink()
        freed = cli("list", "--all", "--format", "json")
        assert freed.err == "" and json.loads(freed.out) == expected
        assert json.loads(cli("scan", "--format", "json").out)["unchanged"] is True


def test_a_full_disk_under_the_index_searches_in_memory(repo, cli):
    make_project(repo, cli)
    before = cli("search", "peer", "--format", "json").out
    repo.write("src/later.py", "# TODO: a peer of its own\n")
    with small_disk(index(repo), "400k"):
        filler = fill(index(repo))
        many_entries(repo, 100)
        result = cli("search", "peer", "--format", "json")
        assert result.code == 0 and "a peer of its own" in result.out
        assert result.err.count("\n") == 1 and "No space left on device" in result.err
        filler.unlink()
        again = cli("search", "peer", "--format", "json")
        assert again.err == "" and again.out == result.out
    assert before != result.out


def test_no_command_shows_a_traceback_when_fixme_is_unwritable(repo, cli):
    """Every command, run as its own process: one line or an answer, never a traceback."""
    make_project(repo, cli)
    cli("search", "peer")  # an index to protect too
    repo.write("src/later.py", "# TODO: one more\n")
    commands = [["scan"], ["list"], ["show", "atomic-ref-update"], ["log"], ["search", "peer"], ["check"],
                ["set-workflow", "atomic-ref-update", "done"], ["init"], ["scan", "--full"]]
    with unwritable(repo.root / ".fixme" / "cache"), unwritable(repo.root / ".fixme" / "node"), \
            unwritable(index(repo)), unwritable(repo.root / ".fixme"):
        for argv in commands:
            proc = subprocess.run([sys.executable, "-m", "fixme", *argv], cwd=repo.root, capture_output=True,
                                  text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
            assert "Traceback" not in proc.stderr, (argv, proc.stderr)
            assert proc.returncode in (0, 1, 2), (argv, proc.stderr)
            if proc.returncode == 2:
                assert proc.stderr.count("\n") == 1, (argv, proc.stderr)
