"""The dashboard (`fixme tui`), driven with Textual's Pilot on real git repositories.

Every test runs the app headless at 80×24 (the smallest terminal it must
fit) unless it says otherwise, presses keys as a user would, and checks
what the widgets show and which signed records were written.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixme.tracker import dashboard
from fixme.tracker.dashboard import Filters, Me, Order, arrange, count_entries, editor_command
from fixme.scan.entry import Entry, Location
from fixme.tracker.tracker import Tracker
from fixme.tui import app as app_module
from fixme.tui.app import FixmeApp
from fixme.tui.screens.board import BoardScreen
from fixme.tui.screens.chooser import ChoiceScreen
from fixme.tui.screens.help import HelpScreen
from fixme.tui.screens.prompt import PromptScreen
from fixme.tui.widgets.detail import DetailPane
from fixme.tui.widgets.status import StatusBar

from conftest import run_cli

SIZE = (80, 24)
FIXME = [sys.executable, "-m", "fixme"]


@pytest.fixture(autouse=True)
def quick_timers(monkeypatch):
    """The dashboard waits for typing and cursor moves to rest; tests need not wait as long."""
    monkeypatch.setattr(app_module, "SEARCH_DELAY", 0.01)
    monkeypatch.setattr(app_module, "DETAIL_DELAY", 0.01)


@pytest.fixture
def project(repo, cli):
    """Three committed entries by two authors, one uncommitted; initialised and scanned."""
    repo.write("app.py", "# TODO: first task\n# FIXME: second task\n#   the body of it #perf\nx = 1\n")
    repo.commit("start", author="ada")
    repo.write("lib/util.py", "def f():\n    pass  # XXX: third thing\n")
    repo.commit("util", author="grace")
    assert cli("init").code == 0
    repo.write("draft.py", "# TODO: not committed yet\n")
    assert cli("scan").code == 0
    return repo


def ids_by_title(cli) -> dict[str, str]:
    return {e["title"]: e["id"] for e in json.loads(cli("list", "--format", "json").out)}


def records(cli) -> list[dict]:
    """Every record of the log, oldest first."""
    return list(reversed(json.loads(cli("log", "--format", "json").out)))


def open_app(root: Path, **kw) -> FixmeApp:
    return FixmeApp(Tracker.open(root, home=Path(os.environ["FIXME_HOME"])), **kw)


async def settle(app, pilot) -> None:
    """Let timers fire and workers finish, a few times over: a finished worker may start another.
    (A worker replaced by a newer one of its group counts as finished: the newer one is waited for.)"""
    for _ in range(3):
        await pilot.pause(0.03)
        while not all(worker.is_finished for worker in app.workers):
            await pilot.pause(0.01)
    await pilot.pause()


def drive(app: FixmeApp, script, size=SIZE) -> None:
    async def main():
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            await script(pilot)
            await settle(app, pilot)
    asyncio.run(main())


def table_lines(app) -> list[str]:
    """What the entry table draws, line by line (header first)."""
    table = app.main.table
    return [table.render_line(y).text.rstrip() for y in range(table.size.height)]


def titles(app) -> list[str]:
    return [entry.title for entry in app.main.table.items]


def status(app) -> str:
    return app.screen.query_one(StatusBar).message


# -- the main view -------------------------------------------------------------------------


def test_opens_with_the_summary_the_table_and_the_detail_of_the_first_entry(project, cli):
    app = open_app(project.root)
    ids = ids_by_title(cli)

    async def script(pilot):
        summary = app.main.query_one("#summary").text
        assert "4 open" in summary and "new 4" in summary and "uncommitted 1" in summary
        assert "TODO 2" in summary and "FIXME 1" in summary and "XXX 1" in summary
        assert "Ada Lovelace 2" in summary and "Grace Hopper 1" in summary
        lines = table_lines(app)
        assert lines[0].split()[:3] == ["ID", "STATE", "TAG"] and "LOCATION ▲" in lines[0]
        assert all(len(line) <= 80 for line in lines)
        assert lines[1].startswith(ids["first task"][:7]) and "first task" in lines[1] and "app.py:1" in lines[1]
        assert "third thing" in lines[4] and "Grace Hopper" in lines[4]  # measured: it all fits in 80
        assert "not committed yet" in lines[3] and lines[3].endswith("now")
        detail = app.main.query_one(DetailPane).text
        assert "first task" in detail and ids["first task"] in detail
        assert "Ada Lovelace <ada@example.org>" in detail  # blame
        assert "1 # TODO: first task" in detail and "2 # FIXME: second task" in detail  # the source
        assert "no records yet" in detail

    drive(app, script)


def test_moving_down_shows_the_next_entry_with_its_body_labels_source_and_attachments(project, cli, tmp_path):
    (tmp_path / "trace.log").write_text("boom\n")
    assert cli("attach", ids_by_title(cli)["second task"], str(tmp_path / "trace.log")).code == 0
    app = open_app(project.root)

    async def script(pilot):
        await pilot.press("down")
        await settle(app, pilot)
        detail = app.main.query_one(DetailPane).text
        assert "second task" in detail and "the body of it #perf" in detail
        assert "labels    #perf" in detail
        assert "attachments\n  trace.log (5 bytes)" in detail and "attached trace.log" in detail
        source = app.main.query_one("#detail-source").content
        assert source.lexer.name == "Python" and source.highlight_lines == {2}

    drive(app, script)


def test_wide_terminals_put_the_detail_beside_the_table(project):
    app = open_app(project.root)

    async def script(pilot):
        table, detail = app.main.table, app.main.query_one(DetailPane)
        assert detail.region.x > table.region.x and detail.region.y == table.region.y
        assert table.size.width > 80

    drive(app, script, size=(170, 40))


def test_columns_sort_and_sort_again_reverses(project):
    app = open_app(project.root)

    async def script(pilot):
        await pilot.press("4")  # title
        await settle(app, pilot)
        assert titles(app) == ["first task", "not committed yet", "second task", "third thing"]
        assert "TITLE ▲" in table_lines(app)[0]
        await pilot.press("4")
        assert titles(app) == ["third thing", "second task", "not committed yet", "first task"]
        await pilot.press("7")  # age: youngest first, the uncommitted line youngest of all
        assert titles(app)[0] == "not committed yet" and titles(app)[-1] in ("first task", "second task")
        await pilot.press("6")  # author
        assert titles(app)[-1] == "third thing"  # Grace after Ada, uncommitted ("") first
        widths = app.main.table.widths
        await pilot.click("#table", offset=(widths[0] + widths[1] + 3, 0))  # the TAG heading
        await settle(app, pilot)
        assert app.order.column == "tag" and titles(app)[0] in ("second task",)

    drive(app, script)


def test_quick_filters_state_tag_and_mine(project, cli, monkeypatch):
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Grace Hopper")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "grace@example.org")
    ids = ids_by_title(cli)
    assert cli("set-workflow", ids["first task"], "wip").code == 0
    app = open_app(project.root)

    async def script(pilot):
        await pilot.press("m")
        # Grace's line, and the line nobody committed yet (it is in her work tree).
        assert sorted(titles(app)) == ["not committed yet", "third thing"]
        assert "mine" in app.main.query_one("#filters").render().plain
        await pilot.press("m", "t")  # mine off; tags step FIXME, TODO, XXX
        assert titles(app) == ["second task"]
        await pilot.press("t")
        assert titles(app) == ["first task", "not committed yet"]
        await pilot.press("x", "f")  # states step new, backlog, wip, …
        assert sorted(titles(app)) == ["not committed yet", "second task", "third thing"]
        await pilot.press("f", "f")
        assert titles(app) == ["first task"]
        assert "wip" in table_lines(app)[1]

    drive(app, script)


# -- search ---------------------------------------------------------------------------------


def test_search_shows_hits_in_rank_order_and_an_empty_box_shows_everything(project):
    assert hasattr(Tracker, "search")
    app = open_app(project.root)

    async def script(pilot):
        await pilot.press("slash")
        assert app.focused is app.main.search_box
        await pilot.press(*"second")
        await settle(app, pilot)
        assert titles(app) == ["second task"]
        assert "1 hit for 'second'" in status(app)
        await pilot.press("enter")  # back to the table, the hits stay
        assert app.focused is app.main.table and titles(app) == ["second task"]
        await pilot.press("slash", *"body OR third")
        await settle(app, pilot)
        assert sorted(titles(app)) == ["second task", "third thing"]
        assert app.order.column == dashboard.RANK
        await pilot.press("escape", "escape")  # out of the box, then clear it
        await settle(app, pilot)
        assert len(titles(app)) == 4 and app.order.column == "location"

    drive(app, script)


def test_a_bad_query_is_reported_in_the_status_line(project):
    app = open_app(project.root)

    async def script(pilot):
        await pilot.press("slash", *'"unclosed')
        await settle(app, pilot)
        bar = app.main.query_one(StatusBar)
        assert bar.message.startswith("search:") and bar.has_class("-error")
        assert len(titles(app)) == 4  # the table is as it was

    drive(app, script)


# -- actions that write records ------------------------------------------------------------


def test_w_chooses_a_workflow_state_and_writes_a_signed_record(project, cli):
    ids = ids_by_title(cli)
    app = open_app(project.root)

    async def script(pilot):
        await pilot.press("w")
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("down", "down", "enter")  # new → backlog → wip
        await settle(app, pilot)
        assert not isinstance(app.screen, ChoiceScreen)
        assert table_lines(app)[1].split()[1] == "wip"
        assert "workflow = wip" in status(app)
        assert "wip 1" in app.main.query_one("#summary").text
        assert "set workflow = wip" in app.main.query_one(DetailPane).text
        await pilot.press("w", "escape")  # cancelled: nothing written
        await settle(app, pilot)

    drive(app, script)
    log = records(cli)
    assert [(r["entry_id"], r["attr"], r["value"], r["trusted"]) for r in log] == \
        [(ids["first task"], "workflow", "wip", True)]
    history = Tracker.open(project.root).history(ids["first task"])
    assert [item.value for item in history] == ["wip"] and history[0].verified


def test_a_assigns_and_c_comments(project, cli, monkeypatch):
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Grace Hopper")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "grace@example.org")
    ids = ids_by_title(cli)
    app = open_app(project.root)

    async def script(pilot):
        await pilot.press("a")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"grace@example.org", "enter")
        await settle(app, pilot)
        await pilot.press("c", *"looks fine", "enter")
        await settle(app, pilot)
        await pilot.press("c", *"never mind", "escape")
        await settle(app, pilot)
        detail = app.main.query_one(DetailPane).text
        assert "assigned  grace@example.org" in detail
        assert "set assigned = grace@example.org" in detail and "commented" in detail and "looks fine" in detail
        await pilot.press("m")  # assigned to Grace: hers now
        assert "first task" in titles(app)

    drive(app, script)
    log = records(cli)
    assert [(r["entry_id"], r["kind"], r["value"]) for r in log] == [
        (ids["first task"], "set", "grace@example.org"), (ids["first task"], "comment", "looks fine")]


def test_a_record_that_cannot_be_written_is_a_message_not_a_crash(project):
    app = FixmeApp(Tracker.open(project.root, home=None))  # no home: no key to sign with

    async def script(pilot):
        await pilot.press("w", "down", "enter")
        await settle(app, pilot)
        bar = app.main.query_one(StatusBar)
        assert "no home for the identity key" in bar.message and bar.has_class("-error")
        assert table_lines(app)[1].split()[1] == "new"

    drive(app, script)


# -- editor, rescan, sync, help ------------------------------------------------------------------


def test_o_opens_the_editor_at_the_entrys_file_and_line(project, tmp_path):
    argv_file = tmp_path / "argv.json"
    editor = tmp_path / "fake-editor"
    editor.write_text(f"#!{sys.executable}\nimport json, sys\n"
                      f"open({str(argv_file)!r}, 'w').write(json.dumps(sys.argv[1:]))\n")
    editor.chmod(0o755)
    app = open_app(project.root, environ={"EDITOR": str(editor)})

    async def script(pilot):
        await pilot.press("down", "o")
        await settle(app, pilot)

    drive(app, script)
    assert json.loads(argv_file.read_text()) == ["+2", str(project.root / "app.py")]


def test_an_editor_that_cannot_run_is_reported(project):
    app = open_app(project.root, environ={"EDITOR": "/nonexistent/editor"})

    async def script(pilot):
        await pilot.press("o")
        await settle(app, pilot)
        assert "cannot run the editor" in status(app)

    drive(app, script)


def test_editor_command_lines():
    assert editor_command("vim", "/r/a.py", 7) == ["vim", "+7", "/r/a.py"]
    assert editor_command("emacsclient -nw", "/r/a.py", 7) == ["emacsclient", "-nw", "+7", "/r/a.py"]
    assert editor_command("nano", "/r/a.py", 1) == ["nano", "+1", "/r/a.py"]
    assert editor_command("code --wait", "/r/a.py", 7) == ["code", "--wait", "-g", "/r/a.py:7"]
    assert editor_command("/usr/bin/subl", "/r/a.py", 7) == ["/usr/bin/subl", "/r/a.py:7"]
    assert editor_command("", "/r/a.py", 3) == ["vi", "+3", "/r/a.py"]
    assert dashboard.chosen_editor({"EDITOR": "nano", "VISUAL": "vim"}) == "vim"


def test_r_rescans_in_the_background_with_progress(project):
    app = open_app(project.root, scan=False)
    said: list[str] = []
    say = app.say
    app.say = lambda message, level="info": (said.append(message), say(message, level))

    async def script(pilot):
        assert len(titles(app)) == 4
        project.write("new.py", "# BUG: found after opening\n")
        await pilot.press("r")
        await settle(app, pilot)
        assert "found after opening" in titles(app)
        assert "5 open" in app.main.query_one("#summary").text

    drive(app, script)
    assert "scanning…" in said and any(m.startswith("scanning: ") for m in said)
    assert said[-1].startswith("scanned 4 files: 5 entries, 1 new")


def test_s_without_peers_says_so_and_the_footer_agrees(project):
    app = open_app(project.root)

    async def script(pilot):
        bar = app.main.query_one(StatusBar)
        assert bar.network == "sync: no peers · no node running"
        await pilot.press("s")
        await settle(app, pilot)
        assert bar.message.startswith("no peers to sync with") and bar.has_class("-warning")

    drive(app, script)


def test_s_syncs_with_a_running_node(project, cli, tmp_path):
    """A clone with its own key sets a state and serves it from a real node; `s` brings it in."""
    ids = ids_by_title(cli)
    home_b = tmp_path / "home-b"
    env_b = {**os.environ, "FIXME_HOME": str(home_b)}
    subprocess.run([*FIXME, "key", "init"], env=env_b, capture_output=True, check=True, cwd=tmp_path)
    shown = subprocess.run([*FIXME, "key", "show"], env=env_b, capture_output=True, text=True, check=True,
                           cwd=tmp_path).stdout
    key_b = next(word for word in shown.split() if word.startswith("ed25519:"))
    assert cli("trust", "add", key_b, "--name", "b").code == 0
    project.commit("fixme config", author="ada")
    clone = tmp_path / "b"
    subprocess.run(["git", "clone", "-q", str(project.root), str(clone)], check=True, capture_output=True)
    subprocess.run([*FIXME, "-C", str(clone), "set-workflow", ids["second task"], "test"], env=env_b,
                   check=True, capture_output=True)
    node = subprocess.Popen([*FIXME, "-C", str(clone), "node", "run", "--listen", "127.0.0.1:0",
                             "--no-discovery"], env=env_b, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        address = _wait_for_node(clone, env_b, node)
        with open(project.root / ".fixme" / "config.toml", "a") as config:
            config.write(f'\n[[peers]]\naddress = "{address}"\n')
        app = open_app(project.root)

        async def script(pilot):
            bar = app.main.query_one(StatusBar)
            assert bar.network.startswith("sync: 1 peer · no node running · never synced")
            await pilot.press("s")
            for _ in range(100):  # the round runs in a worker; give it up to 10 s
                await settle(app, pilot)
                if not app.syncing:
                    break
            assert "synced with 1 of 1 peers: 1 records in" in bar.message
            assert "last sync" in bar.network
            assert table_lines(app)[2].split()[1] == "test"

        drive(app, script)
    finally:
        node.send_signal(signal.SIGTERM)
        node.wait(timeout=10)
    assert [(r["entry_id"], r["value"], r["author_name"]) for r in records(cli)] == \
        [(ids["second task"], "test", "b")]


def _wait_for_node(root: Path, env: dict, node: subprocess.Popen) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = subprocess.run([*FIXME, "-C", str(root), "node", "status", "--format", "json"], env=env,
                             capture_output=True, text=True).stdout
        running = json.loads(out)["running"]
        if running and running["pid"] == node.pid:
            return running["listen"]
        assert node.poll() is None, "the node exited"
        time.sleep(0.05)
    raise AssertionError("the node did not start")


def test_question_mark_lists_the_keys(project):
    app = open_app(project.root)

    async def script(pilot):
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = app.screen.query_one("#keys").render().plain
        for key in ("/", "w", "a", "c", "o", "r", "s", "b", "f", "t", "m", "x", "shift+←", "q"):
            assert f"\n  {key}" in keys or f"{key} " in keys, key
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")

    drive(app, script)
    assert app.return_code == 0


def test_done_entries_leave_the_open_table_and_count_but_the_filter_and_board_reach_them(project, cli):
    """Issue 16's "open" in the dashboard: `fixme list`'s open set is the default table and the
    strip's open count; the state filter steps to done, then all; the board's done column has it."""
    ids = ids_by_title(cli)
    assert cli("set-workflow", ids["second task"], "done").code == 0
    listed = sorted(e["title"] for e in json.loads(cli("list", "--format", "json").out))
    total = json.loads(cli("list", "--count", "--format", "json").out)["total"]
    assert total == len(listed) == 3 and "second task" not in listed
    app = open_app(project.root)

    async def script(pilot):
        summary = app.main.query_one("#summary").text
        assert f"{total} open" in summary and "done 1" in summary  # the legend keeps every state
        assert sorted(titles(app)) == listed
        assert "state: open" in app.main.query_one("#filters").render().plain
        await pilot.press(*"f" * 5)  # new, backlog, wip, test, done
        assert titles(app) == ["second task"] and "done" in table_lines(app)[1]
        await pilot.press("f", "f", "f")  # dropped, gone, all
        assert len(titles(app)) == 4 and "state: all" in app.main.query_one("#filters").render().plain
        await pilot.press("f")  # round to the open ones again
        assert sorted(titles(app)) == listed
        await pilot.press("b")
        await settle(app, pilot)
        board = app.screen
        assert isinstance(board, BoardScreen)
        done = board.states.index("done")
        assert board.query_one(f"#heading-{done}").render().plain == "done 1"
        assert [e.title for e in board.cards(done).items] == ["second task"]
        assert board.query_one("#heading-0").render().plain == "new 3"
        await pilot.press(*["right"] * done, "enter")  # the done card, in the table the open filter hid it from
        await settle(app, pilot)
        assert app.screen is app.main and app.main.table.current.title == "second task"

    drive(app, script)


# -- the board -------------------------------------------------------------------------------


def test_the_board_moves_cards_between_states_and_writes_records(project, cli):
    ids = ids_by_title(cli)
    app = open_app(project.root)

    async def script(pilot):
        await pilot.press("b")
        await settle(app, pilot)
        board = app.screen
        assert isinstance(board, BoardScreen)
        assert [board.cards(i).card_text(0) for i in range(1)] == ["TODO first task"]
        assert board.query_one("#heading-0").render().plain == "new 4"
        await pilot.press("right_square_bracket")  # first task: new → backlog
        await settle(app, pilot)
        assert board.query_one("#heading-1").render().plain == "backlog 1"
        assert board.column == 1 and board.selected_entry().title == "first task"
        await pilot.press("shift+right")  # → wip
        await settle(app, pilot)
        assert board.query_one("#heading-2").render().plain == "wip 1" and board.column == 2
        await pilot.press("left", "left")  # to the new column: three cards left there
        assert board.column == 0 and len(board.cards(0).items) == 3
        await pilot.press("left_square_bracket")  # new is the first state: nothing to do
        await settle(app, pilot)
        assert "new is the first state" in status(app)
        await pilot.press("right", "right", "enter")  # back to the table, on the wip card
        await settle(app, pilot)
        assert app.screen is app.main and app.main.table.current.title == "first task"
        assert table_lines(app)[1].split()[1] == "wip"

    drive(app, script)
    assert [(r["entry_id"], r["value"]) for r in records(cli)] == \
        [(ids["first task"], "backlog"), (ids["first task"], "wip")]


# -- 20 000 entries ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def big_repo(tmp_path_factory) -> tuple[Path, Path]:
    """One commit of 200 files holding 100 TODO-ish lines each: 20 000 entries, scanned once."""
    base = tmp_path_factory.mktemp("big")
    root, home = base / "repo", base / "home"
    (base / "gitconfig").write_text("")
    env = {**os.environ, "GIT_CONFIG_GLOBAL": str(base / "gitconfig"), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "Ada Lovelace", "GIT_AUTHOR_EMAIL": "ada@example.org",
           "GIT_COMMITTER_NAME": "Ada Lovelace", "GIT_COMMITTER_EMAIL": "ada@example.org"}
    tags = ("TODO", "FIXME", "XXX", "HACK", "BUG")
    for f in range(200):
        lines = []
        for i in range(100):
            lines += [f"# {tags[(f + i) % 5]}: task {f:03d}-{i:03d} of the peer cache", f"x{i} = {i}"]
        path = root / f"pkg{f % 10}" / f"mod{f:03d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, env=env, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, env=env, check=True)
    subprocess.run(["git", "commit", "-qm", "many"], cwd=root, env=env, check=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GIT_CONFIG_GLOBAL", env["GIT_CONFIG_GLOBAL"])
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        assert run_cli("init", cwd=root, home=home).code == 0
        assert run_cli("scan", cwd=root, home=home).code == 0
    return root, home


def test_twenty_thousand_entries_open_and_stay_interactive(big_repo):
    """The rows show, keys move, sort and filter them; the search index the dashboard builds in
    the background on opening (seconds at this size) answers a query."""
    root, home = big_repo
    app = FixmeApp(Tracker.open(root, home=home))

    async def script(pilot):
        table = app.main.table
        assert len(table.items) == 20_000
        lines = table_lines(app)
        assert "task 000-000" in lines[1] and "pkg0/mod000.py:1" in lines[1]
        assert "20,000 open" in app.main.query_one("#summary").text
        await pilot.press("end")
        assert table.cursor == 19_999 and "task 199-099" in table_lines(app)[-1]
        await pilot.press("pageup", "up")
        assert table.cursor == 19_999 - table.page_height - 1
        await pilot.press("4", "4")  # title, reversed; the cursor stays on its entry
        assert table.items[0].title.startswith("task 199-099") and table.current.title.startswith("task 199-0")
        await pilot.press("home")
        assert "task 199-099" in table_lines(app)[1]
        await pilot.press("t")  # only BUG
        assert len(table.items) == 4_000 and {e.tag for e in table.items} == {"BUG"}
        await settle(app, pilot)
        assert table.current.title in app.main.query_one(DetailPane).text
        await pilot.press("x", "slash", *"199-099")  # the index was built in the background at start
        await settle(app, pilot)
        assert [e.title for e in table.items] == ["task 199-099 of the peer cache"]

    drive(app, script, size=(120, 40))


# -- the command and the textual-free parts -------------------------------------------------------


def test_fixme_tui_needs_a_terminal(project, cli):
    result = cli("tui")
    assert result.code == 2 and result.err.count("\n") == 1 and "not a terminal" in result.err
    assert "fixme: tui: standard output is not a terminal" in result.err


def test_fixme_tui_help_explains_the_dashboard(project, cli, capsys):
    with pytest.raises(SystemExit):
        cli("tui", "--help")
    out = capsys.readouterr().out
    assert "--no-scan" in out and "dashboard" in out and "signed records" in out


def _entry(n: int, **kw) -> Entry:
    values = dict(tag="TODO", slug=None, title=f"task {n}", body="", path="a.py", line=n, source="code",
                  locations=[Location("a.py", n, "code", kw.get("commit", "c"), kw.get("author"),
                                      kw.get("author_email"))],
                  commit="c", date="2024-01-01T00:00:00+00:00")
    values.update(kw)
    return Entry(f"{n:040x}", **values)


def test_counts_mine_and_arrangement_without_textual():
    entries = [_entry(1, author="Ada", author_email="ada@x"), _entry(2, workflow="wip", tag="FIXME"),
               _entry(3, commit=None, date=None), _entry(4, status="gone"),
               _entry(5, attrs={"assigned": "Ada <ada@x>"})]
    counts = count_entries(entries, ("new", "wip", "done"), ("done",))
    assert (counts.open, counts.gone, counts.uncommitted) == (4, 1, 1)
    assert counts.states == [("new", 3), ("wip", 1), ("done", 0)]
    assert counts.tags == [("TODO", 3), ("FIXME", 1)]
    me = Me("Ada", "ada@x")
    mine = arrange(entries, Filters(mine=True), me, Order(), ("new", "wip"), closed_states=())
    assert [e.line for e in mine] == [1, 3, 5]
    assert [e.line for e in arrange(entries, Filters(state="gone"), me, Order(), (), closed_states=())] == [4]
    by_age = arrange(entries, Filters(), me, Order("age"), (), closed_states=())
    assert by_age[0].line == 3  # not committed: the youngest
    by_state = arrange(entries, Filters(), me, Order("state", reverse=True), ("new", "wip"), closed_states=())
    assert by_state[0].line == 2
    assert dashboard.step_state(("new", "wip", "done"), "wip", 1) == "done"
    assert dashboard.step_state(("new", "wip", "done"), "done", 1) is None
    assert dashboard.cycle([None, "a", "b"], "b") is None


def test_open_is_what_fixme_list_shows_with_the_configs_closed_states():
    """Issue 16: the dashboard's "open" (default filter, strip count) is `fixme list`'s open set,
    with the closed states the config names; the legend and the board still see closed entries."""
    from fixme.tracker.query import EntryQuery, select

    entries = [_entry(1), _entry(2, workflow="done"), _entry(3, workflow="shipped"), _entry(4, status="gone"),
               _entry(5, workflow="wip", tag="FIXME"), _entry(6, workflow="shipped", status="gone")]
    states = ("new", "wip", "shipped", "done")
    closed = ("shipped",)  # this config's workflow.closed: done is not closed here
    listed = [e.line for e in select(entries, EntryQuery(closed_states=closed))]
    assert listed == [1, 2, 5]
    counts = count_entries(entries, states, closed)
    assert (counts.open, counts.closed, counts.gone) == (3, 1, 2)
    assert counts.states == [("new", 1), ("wip", 1), ("shipped", 1), ("done", 1)]  # the legend: all present
    assert counts.tags == [("TODO", 2), ("FIXME", 1)]  # of the open ones, as `list --count`

    def shown(state, closed_states=closed):
        return [e.line for e in arrange(entries, Filters(state), Me(), Order(), states, closed_states=closed_states)]

    assert shown(Filters().state) == listed
    assert shown(Filters().state, ("done", "shipped")) == [1, 5]
    assert shown("shipped") == [3] and shown("done") == [2] and shown("gone") == [4, 6]
    assert shown(dashboard.SHOW_ALL) == [1, 2, 3, 4, 5, 6]
    assert shown(dashboard.PRESENT) == [1, 2, 3, 5]  # the board's
    options = dashboard.state_filter_options(states)
    assert options == [Filters().state, *states, "gone", dashboard.SHOW_ALL]
    assert dashboard.cycle(options, dashboard.SHOW_ALL) == Filters().state
    assert "state: open" in Filters().describe() and "state: all" in Filters(dashboard.SHOW_ALL).describe()
    assert "state" not in Filters(dashboard.PRESENT).describe()
    # A state named like a filter is still a state of its own.
    assert dashboard.SHOW_OPEN != "open" and dashboard.SHOW_ALL != "all"


# -- narrow terminals: the rules `fixme list` follows (fixme/cells.py) ----------------------


@pytest.mark.parametrize("width", [60, 80, 120])
def test_narrow_tables_cut_locations_from_the_left_and_keep_the_keys_key(project, cli, width):
    from rich.cells import cell_len
    from textual.widgets import Footer

    deep = "services/synchronisation/transport/handshake/negotiate.py"
    project.write(deep, "# TODO: 日本語のタイトルはセルを二つ取る and then some more words\n")
    project.commit("deep", author="grace")
    assert cli("scan").code == 0
    app = open_app(project.root, scan=False)

    async def script(pilot):
        lines = table_lines(app)
        assert all(cell_len(line) <= width for line in lines), lines
        row = next(line for line in lines if "日本語" in line)
        assert "negotiate.py:1" in row
        if width < 120:
            assert "…/" in row and "services/" not in row
        header = lines[0].split()
        assert ("AUTHOR" in header) == (width >= 120)
        keys = sorted(app.screen.query_one(Footer).query("FooterKey"), key=lambda key: key.region.x)
        assert keys[0].key == "question_mark" and keys[0].region.right <= width
        await pilot.press("b")
        await settle(app, pilot)
        keys = sorted(app.screen.query_one(Footer).query("FooterKey"), key=lambda key: key.region.x)
        assert keys[0].key == "question_mark"
        columns = list(app.screen.query(".board-column"))
        states = app.states
        empty = [c.region.width for c, s in zip(columns, states) if s != "new"]
        full = columns[states.index("new")].region.width
        assert all(w < full for w in empty), (empty, full)

    drive(app, script, size=(width, 24))
