"""Full-text search: the query language, the index catching up, locking, and the CLI.

Real git repositories and the real whoosh index; concurrency with real processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fixme.cli.env import Environment
from fixme.cli.main import main
from fixme.errors import FixmeError
from fixme.tracker.search import SearchIndex, matched_spans
from fixme.tracker.searchstate import index_dir, read_state
from fixme.tracker.tracker import Tracker


def make_project(repo, cli) -> None:
    repo.write("src/net/peer.py", textwrap.dedent("""\
        def connect():
            pass  # FIXME: no timeout on the peer socket
        # TODO(ada): persist the peer list
        #     A restart forgets every peer we learned about.
        #     #network
        """))
    repo.write("src/store.c", "/* TODO: atomic-ref-update */\nint x;\n// XXX: the list of peers is scanned twice\n")
    repo.commit("start", "ada")
    repo.write("docs/devlog.md",
               "## 2024-01-05\n\nTODO: timer wheel for retries\n  the peer list grows without bound\n")
    repo.write("lib/util.py", "# HACK: slow lookup\n#     walks every block of the store\n")
    repo.commit("more", "grace")
    assert cli("init").code == 0
    repo.commit("init fixme", "ada")


def titles(hits) -> list[str]:
    return [hit.entry.title for hit in hits]


def tracker_of(repo) -> Tracker:
    tracker = Tracker.open(repo.root)
    tracker.scan()
    return tracker


# -- the query language ---------------------------------------------------------


def test_words_match_title_body_and_labels_in_any_case(repo, cli):
    make_project(repo, cli)
    tracker = tracker_of(repo)
    assert titles(tracker.search("SOCKET")) == ["no timeout on the peer socket"]
    assert titles(tracker.search("restart forgets")) == ["persist the peer list"]  # body words
    assert titles(tracker.search("network")) == ["persist the peer list"]  # a label
    assert set(titles(tracker.search("peer list"))) == {"persist the peer list", "timer wheel for retries"}
    assert "the list of peers is scanned twice" in titles(tracker.search("peer* list"))  # whole words, or a prefix
    assert tracker.search("nothing-like-this") == []


def test_phrases_need_the_words_side_by_side(repo, cli):
    make_project(repo, cli)
    tracker = tracker_of(repo)
    assert set(titles(tracker.search('"peer list"'))) == {"persist the peer list", "timer wheel for retries"}
    assert titles(tracker.search('"list peer"')) == []


def test_prefixes(repo, cli):
    make_project(repo, cli)
    tracker = tracker_of(repo)
    assert set(titles(tracker.search("tim*"))) == {"no timeout on the peer socket", "timer wheel for retries"}
    hit = tracker.search("tim*")[0]
    assert set(hit.terms) & {"timeout", "timer"}  # the words the prefix matched, for highlighting


def test_field_filters(repo, cli):
    make_project(repo, cli)
    assert cli("set-workflow", "atomic-ref-update", "wip").code == 0
    tracker = Tracker.open(repo.root)
    assert titles(tracker.search("state:wip")) == ["atomic-ref-update"]
    assert titles(tracker.search("state:WIP atomic")) == ["atomic-ref-update"]
    assert set(titles(tracker.search("author:grace"))) == {"timer wheel for retries", "slow lookup"}
    assert set(titles(tracker.search("author:grace@example.org"))) == {"timer wheel for retries", "slow lookup"}
    assert set(titles(tracker.search("path:src/*"))) == {"no timeout on the peer socket", "persist the peer list",
                                                         "atomic-ref-update", "the list of peers is scanned twice"}
    assert set(titles(tracker.search("path:src/net/*"))) == set(titles(tracker.search("path:src/net")))
    assert len(tracker.search("path:src/net")) == 2
    assert set(titles(tracker.search("path:*.py"))) == {"no timeout on the peer socket", "persist the peer list",
                                                        "slow lookup"}
    assert titles(tracker.search("path:src/*.c peer*")) == ["the list of peers is scanned twice"]
    assert titles(tracker.search("path:lib/util.py")) == ["slow lookup"]
    assert set(titles(tracker.search("tag:fixme OR tag:HACK"))) == {"no timeout on the peer socket", "slow lookup"}
    assert titles(tracker.search("labels:network")) == titles(tracker.search("label:NETWORK")) == [
        "persist the peer list"]
    assert titles(tracker.search("slug:atomic-ref-update")) == ["atomic-ref-update"]
    assert titles(tracker.search("title:peer NOT body:restart")) == ["no timeout on the peer socket"]
    assert titles(tracker.search("(socket OR lookup) author:ada")) == ["no timeout on the peer socket"]


def test_a_word_in_the_title_ranks_above_the_same_word_in_a_body(repo, cli):
    repo.write("a.py", "# TODO: tidy the imports\n#     the parser module is a mess\n"
                       "# TODO: parser rejects tabs\n#     seen with old files\n")
    repo.commit()
    hits = tracker_of(repo).search("parser")
    assert titles(hits) == ["parser rejects tabs", "tidy the imports"]
    assert hits[0].score > hits[1].score > 0


def test_gone_entries_are_left_out_unless_the_query_asks(repo, cli):
    make_project(repo, cli)
    assert titles(tracker_of(repo).search("lookup")) == ["slow lookup"]
    repo.write("lib/util.py", "x = 1\n")
    repo.commit("fix it", "ada")
    tracker = tracker_of(repo)
    assert tracker.search("lookup") == []
    hits = tracker.search("state:gone lookup")
    assert titles(hits) == ["slow lookup"] and hits[0].entry.status == "gone"


def test_blank_query_finds_nothing_and_a_limit_is_kept(repo, cli):
    make_project(repo, cli)
    tracker = tracker_of(repo)
    assert tracker.search("") == [] and tracker.search("   \n") == []
    assert len(tracker.search("peer", limit=2)) == 2
    assert len(tracker.search("peer", limit=None)) == 3


@pytest.mark.parametrize("query, message", [
    ("stat:wip", "search: unknown field 'stat'; fields: title, body, tag, state, author, path, labels, slug"),
    ('"peer list', 'search: unclosed quote (") in the query'),
    ("(peer OR list", "search: '(' without a matching ')' in the query"),
    ("peer)", "search: ')' without a matching '(' in the query"),
    ("peer OR", "search: OR needs a term on each side"),
    ("NOT", "search: NOT needs a term on each side"),
    ("state: wip", "search: state: needs a value"),
])
def test_a_bad_query_is_one_line_and_exit_code_2(repo, cli, query, message):
    make_project(repo, cli)
    with pytest.raises(FixmeError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        Tracker.open(repo.root).search(query)
    result = cli("search", query)
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("fixme: " + message) and result.err.count("\n") == 1


def test_field_words_inside_quotes_are_not_fields(repo, cli):
    repo.write("a.py", "# TODO: explain note: syntax in the docs\n")
    repo.commit()
    assert titles(tracker_of(repo).search('"note: syntax"')) == ["explain note: syntax in the docs"]


def test_matched_spans_split_words_as_the_index_does():
    text = "No timeout on peer.py's Peer socket"
    spans = matched_spans(text, ["peer", "timeout"])
    assert [text[a:b] for a, b in spans] == ["timeout", "Peer"]  # "peer.py" is one word, as indexed
    assert matched_spans(text, []) == []


# -- keeping the index current --------------------------------------------------


def test_set_workflow_rewrites_only_that_document(repo, cli):
    make_project(repo, cli)
    tracker = tracker_of(repo)
    first = tracker.update_search_index()
    assert first.rebuilt and first.added == 6
    nothing = tracker.update_search_index()
    assert (nothing.added, nothing.updated, nothing.removed, nothing.rebuilt) == (0, 0, 0, False)
    assert cli("set-workflow", "--no-scan", "atomic-ref-update", "wip").code == 0
    report = Tracker.open(repo.root).update_search_index()
    assert (report.added, report.updated, report.removed, report.rebuilt) == (0, 1, 0, False)
    hits = Tracker.open(repo.root).search("state:wip")
    assert titles(hits) == ["atomic-ref-update"] and hits[0].entry.workflow == "wip"


def test_a_comment_that_changes_nothing_indexed_rewrites_nothing(repo, cli):
    make_project(repo, cli)
    tracker_of(repo).update_search_index()
    assert cli("comment", "--no-scan", "atomic-ref-update", "looked at it").code == 0
    report = Tracker.open(repo.root).update_search_index()
    assert (report.added, report.updated, report.rebuilt) == (0, 0, False)


def test_an_edit_and_a_new_entry_reach_the_index_after_a_scan(repo, cli):
    make_project(repo, cli)
    tracker_of(repo).update_search_index()
    repo.write("lib/util.py", "# HACK: quadratic lookup\n#     walks every block of the store\n")
    repo.write("lib/new.py", "# TODO: vacuum the store\n")
    tracker = tracker_of(repo)  # not committed: scans read the work tree
    report = tracker.update_search_index()
    assert (report.added, report.updated, report.rebuilt) == (2, 1, False)  # new title: a new id; the old one gone
    assert titles(tracker.search("quadratic")) == ["quadratic lookup"]
    assert titles(tracker.search("vacuum")) == ["vacuum the store"]
    assert tracker.search("slow") == []


def test_moving_an_entry_does_not_rewrite_its_document(repo, cli):
    make_project(repo, cli)
    tracker_of(repo).update_search_index()
    repo.write("lib/util.py", "import os\n\n# HACK: slow lookup\n#     walks every block of the store\n")
    tracker = tracker_of(repo)
    report = tracker.update_search_index()
    assert (report.added, report.updated, report.rebuilt) == (0, 0, False)
    assert tracker.search("lookup")[0].entry.line == 3  # hits show the entry as scanned now


def test_search_catches_up_by_itself(repo, cli):
    make_project(repo, cli)
    assert titles(tracker_of(repo).search("socket"))  # builds the index
    repo.write("lib/new.py", "# TODO: vacuum the store\n")
    result = cli("search", "vacuum")  # the CLI scans first, the index follows the scan
    assert result.code == 0 and "vacuum the store" in result.out


def test_a_config_change_rebuilds_the_index(repo, cli):
    make_project(repo, cli)
    tracker = tracker_of(repo)
    assert tracker.update_search_index().rebuilt
    assert not tracker.update_search_index().rebuilt
    old_name = read_state(repo.root).name
    config = repo.root / ".fixme" / "config.toml"
    config.write_text(config.read_text().replace('"test", "done"', '"review", "test", "done"'))
    tracker = tracker_of(repo)
    report = tracker.update_search_index()
    assert report.rebuilt and report.added == 6
    assert read_state(repo.root).name != old_name
    leftovers = [f for f in os.listdir(index_dir(repo.root)) if old_name in f]
    assert leftovers == []  # the old index's files are gone
    assert titles(tracker.search("socket")) == ["no timeout on the peer socket"]


def test_a_reset_scan_store_rebuilds_the_index(repo, cli):
    make_project(repo, cli)
    tracker_of(repo).update_search_index()
    import shutil

    shutil.rmtree(repo.root / ".fixme" / "cache")
    repo.write("lib/util.py", "# HACK: quadratic lookup\n")
    tracker = tracker_of(repo)  # a new store: its rowids start again from 1
    assert tracker.update_search_index().rebuilt
    assert titles(tracker.search("quadratic")) == ["quadratic lookup"] and tracker.search("slow") == []


def test_a_damaged_index_is_rebuilt(repo, cli):
    make_project(repo, cli)
    tracker = tracker_of(repo)
    tracker.update_search_index()
    for path in index_dir(repo.root).iterdir():
        if path.suffix in (".seg", ".toc", ".trm", ".pst"):
            path.write_bytes(b"garbage")
    assert titles(tracker.search("socket")) == ["no timeout on the peer socket"]


def test_scan_and_set_workflow_do_not_import_whoosh(repo, cli):
    make_project(repo, cli)
    cli("search", "peer")  # an index exists: writers still must not load whoosh to follow it
    repo.write("lib/new.py", "# TODO: vacuum the store\n")
    for argv in (["scan"], ["set-workflow", "atomic-ref-update", "wip"]):
        code = ("import sys; from fixme.cli.main import main; rc = main(sys.argv[2:]); "
                "bad = [m for m in sys.modules if m.split('.')[0] == 'whoosh']; "
                "print(bad); sys.exit(rc or (1 if bad else 0))")
        proc = subprocess.run([sys.executable, "-c", code, "x", "-C", str(repo.root), *argv],
                              capture_output=True, text=True)
        assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)


# -- one writer at a time ----------------------------------------------------------

UPDATE_CODE = """\
import sys
from pathlib import Path
from fixme.errors import FixmeError
from fixme.tracker.tracker import Tracker
try:
    tracker = Tracker.open(Path(sys.argv[1]))
    report = tracker.update_search_index()
    hits = tracker.search("lookup")
    print("ok", report.rebuilt, len(hits))
except FixmeError as exc:
    print("error", exc)
"""


def many_entries(repo, count: int) -> None:
    for n in range(count // 10):
        repo.write(f"src/m{n}.py", "".join(f"# TODO: task {n * 10 + k} of the lookup table\n" for k in range(10)))
    repo.commit("many")


def test_concurrent_updates_in_real_processes_serialise(repo, cli):
    many_entries(repo, 400)
    tracker_of(repo)  # scanned; no index yet: every process below wants to build it
    procs = [subprocess.Popen([sys.executable, "-c", UPDATE_CODE, str(repo.root)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for (out, err), proc in zip(outputs, procs):
        assert proc.returncode == 0 and err == "", err
        assert out.startswith("ok ") and out.split()[2] == "50", out  # each search saw a whole index
    assert [out.split()[1] for out, _ in outputs].count("True") == 1  # built once; the others waited and used it
    report = Tracker.open(repo.root).update_search_index()
    assert (report.added, report.updated, report.rebuilt) == (0, 0, False)
    assert len(Tracker.open(repo.root).search("lookup", limit=None)) == 400


def test_a_scan_and_an_update_at_once(repo, cli):
    many_entries(repo, 200)
    tracker_of(repo).update_search_index()
    repo.write("src/m0.py", "# TODO: one quadratic lookup\n")
    scanner = subprocess.Popen([sys.executable, "-m", "fixme", "-C", str(repo.root), "scan"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    updater = subprocess.Popen([sys.executable, "-c", UPDATE_CODE, str(repo.root)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert scanner.wait(timeout=120) == 0
    out, err = updater.communicate(timeout=120)
    assert out.startswith("ok ") and err == "", (out, err)
    # Whichever came first, the index ends up matching the scan.
    assert titles(Tracker.open(repo.root).search("quadratic")) == ["one quadratic lookup"]


HOLD_LOCK = """\
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(30)
"""


def test_a_held_lock_times_out_with_a_clear_message(repo, cli):
    make_project(repo, cli)
    tracker = tracker_of(repo)
    tracker.update_search_index()
    assert cli("set-workflow", "--no-scan", "atomic-ref-update", "wip").code == 0  # the index is behind now
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(index_dir(repo.root) / "lock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        index = SearchIndex(repo.root, tracker.config, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(FixmeError) as caught:
            index.update()
        assert 0.3 <= time.monotonic() - started < 5
        message = str(caught.value)
        assert "search index is busy" in message and "\n" not in message
        with pytest.raises(FixmeError, match="busy"):
            index.search("atomic")  # searching waits for a writer too
    finally:
        holder.kill()
        holder.wait()
    assert titles(Tracker.open(repo.root).search("state:wip")) == ["atomic-ref-update"]  # and then goes on


def test_a_killed_update_leaves_no_lock_behind(repo, cli):
    make_project(repo, cli)
    tracker = tracker_of(repo)
    tracker.update_search_index()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(index_dir(repo.root) / "lock")],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"
    holder.kill()
    holder.wait()
    assert titles(SearchIndex(repo.root, tracker.config, timeout=0.5).search("socket")) == [
        "no timeout on the peer socket"]


# -- the command line ------------------------------------------------------------


def test_cli_text_output_one_line_per_hit(repo, cli):
    make_project(repo, cli)
    result = cli("search", "peer", "socket")
    assert result.code == 0 and result.err == ""
    (line,) = result.out.splitlines()
    short_id, state, tag, *rest = line.split()
    assert len(short_id) >= 7 and (state, tag) == ("new", "FIXME")
    assert "no timeout on the peer socket" in line and line.endswith("src/net/peer.py:2")
    assert "\x1b[" not in result.out  # not a terminal: no colour


def test_cli_highlights_matches_on_a_terminal_only(repo, cli):
    make_project(repo, cli)
    painted = cli("search", "socket", tty=True)
    assert painted.code == 0 and "\x1b[1;7msocket\x1b[0m" in painted.out
    out, err = _run_with_environ(repo.root, ["search", "socket"], tty=True, environ={"NO_COLOR": "1"})
    assert "\x1b[" not in out and "socket" in out


def _run_with_environ(cwd: Path, argv: list[str], tty: bool, environ: dict) -> tuple[str, str]:
    import io

    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdout=out, stderr=err, cwd=cwd, stdout_isatty=tty,
                      environ={"FIXME_HOME": os.environ["FIXME_HOME"], **environ})
    main(argv, env)
    return out.getvalue(), err.getvalue()


def test_cli_json_and_jsonl(repo, cli):
    make_project(repo, cli)
    result = cli("search", "peer list", "--format", "json")
    items = json.loads(result.out)
    assert result.code == 0 and len(items) == 2
    assert {"id", "short_id", "score", "terms", "title", "path", "line", "workflow", "status"} <= items[0].keys()
    assert items[0]["id"].startswith(items[0]["short_id"])
    assert items == sorted(items, key=lambda item: -item["score"])
    assert set(items[0]["terms"]) == {"peer", "list"}
    lines = cli("search", "peer list", "--format", "jsonl").out.splitlines()
    assert [json.loads(line) for line in lines] == items


def test_cli_no_match_exits_1_like_grep(repo, cli):
    make_project(repo, cli)
    quiet = cli("search", "zebra")
    assert (quiet.code, quiet.out, quiet.err) == (1, "", "")
    assert cli("search", "zebra", "--format", "json").out == "[]\n"
    told = cli("search", "zebra", tty=True)
    assert told.code == 1 and told.err == "no matches\n"


def test_cli_limit_and_no_scan(repo, cli):
    make_project(repo, cli)
    assert len(cli("search", "peer", "--limit", "2").out.splitlines()) == 2
    assert len(cli("search", "peer", "--limit", "0").out.splitlines()) == 3
    assert cli("search", "peer", "--limit", "-1").code == 2
    repo.write("lib/new.py", "# TODO: vacuum the store\n")
    assert cli("search", "--no-scan", "vacuum").code == 1  # not scanned yet
    assert cli("search", "vacuum").code == 0


def test_cli_empty_query_is_a_usage_error(repo, cli):
    make_project(repo, cli)
    result = cli("search", "  ")
    assert result.code == 2 and result.err == "fixme: search: the query is empty\n"
    assert cli("search").code == 2


def test_cli_help_explains_the_syntax():
    proc = subprocess.run([sys.executable, "-m", "fixme", "search", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for needle in ('"peer list"', "time*", "state:wip", "path:src/*", "author:ada", "--format", "--no-scan",
                   "exit codes"):
        assert needle in proc.stdout, needle


def test_a_reset_record_log_rebuilds_the_index(repo, cli):
    import shutil

    make_project(repo, cli)
    assert cli("set-workflow", "atomic-ref-update", "wip").code == 0
    assert Tracker.open(repo.root).update_search_index().rebuilt
    shutil.rmtree(repo.root / ".fixme" / "node")  # its seq numbers start again from 1
    assert cli("set-workflow", "--no-scan", "atomic-ref-update", "test").code == 0
    report = Tracker.open(repo.root).update_search_index()
    assert report.rebuilt
    assert titles(Tracker.open(repo.root).search("state:test")) == ["atomic-ref-update"]


def test_whoosh_loads_without_the_modules_search_never_uses():
    """whoosh_import.py: urllib.request, asyncio and the English morphology tables stay unloaded
    while whoosh imports, and a later import still gets the real modules."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from fixme.tracker.whoosh_import import load_whoosh\n"
        "load_whoosh()\n"
        "import whoosh.qparser, whoosh.index\n"
        "print(sorted(m for m in ('urllib.request', 'asyncio', 'whoosh.lang.morph_en') if m in sys.modules))\n"
        "import urllib.request, asyncio\n"
        "print(callable(urllib.request.urlopen), callable(asyncio.run))\n"
        "from whoosh.lang.morph_en import variations\n"
        "from whoosh.query import terms\n"
        "print(sorted(terms.variations('rendering'))[:2] == sorted(variations('rendering'))[:2])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "True True", "True"]
