"""The command line as a user meets it: formats, selection, errors, exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

from conftest import run_cli

REQUIRED_JSON_KEYS = {"id", "short_id", "tag", "slug", "title", "body", "path", "line", "locations", "source",
                      "commit", "author", "author_email", "date", "devlog_date", "fields", "attrs", "labels",
                      "context", "links", "workflow", "status"}


def make_project(repo):
    repo.write("src/net.py", "def connect():\n    pass  # FIXME: no timeout\n# TODO(ada): retry with backoff\n#   three tries #network\n")
    repo.write("docs/devlog.md", "## 2024-01-05\n\nTODO: peer-cache\n  keep peers between runs\n")
    repo.commit("start", "ada")
    repo.write("lib/util.c", "/* XXX: this is slow */\nint x;\n")
    repo.commit("more", "grace")


def test_list_json_has_every_documented_field(repo, cli):
    make_project(repo)
    result = cli("list", "--format", "json")
    items = json.loads(result.out)
    assert result.code == 0 and len(items) == 4
    for item in items:
        assert REQUIRED_JSON_KEYS <= item.keys()
        assert item["id"].startswith(item["short_id"]) and len(item["short_id"]) >= 7
        assert all({"path", "line"} <= loc.keys() for loc in item["locations"])
        assert item["status"] == "open" and item["source"] in ("code", "devlog", "tasklist")
    retry = next(i for i in items if i["title"] == "retry with backoff")
    assert retry["fields"] == {"assigned": "ada"} and retry["labels"] == ["network"]


def test_other_formats(repo, cli):
    make_project(repo)
    lines = cli("list", "--format", "jsonl").out.splitlines()
    assert len(lines) == 4 and all(json.loads(line)["tag"] for line in lines)
    rows = list(csv.DictReader(io.StringIO(cli("list", "--format", "csv").out)))
    assert {r["title"] for r in rows} == {"no timeout", "retry with backoff", "peer-cache", "this is slow"}
    markdown = cli("list", "--format", "markdown").out.splitlines()
    assert markdown[0].startswith("| id |") and len(markdown) == 6


def test_table_fits_the_width_and_has_no_colour_off_a_terminal(repo, cli):
    make_project(repo)
    repo.write("long.py", "# TODO: " + "a very long title " * 20 + "\n")
    repo.commit()
    out = cli("list", width=80).out
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert "\x1b[" not in out
    # Narrow for that title: the author gives way before the title and location are cut further.
    assert out.splitlines()[0].split() == ["ID", "STATE", "TAG", "TITLE", "LOCATION", "AGE"]
    assert cli("list", width=140).out.splitlines()[0].split() == ["ID", "STATE", "TAG", "TITLE", "LOCATION",
                                                                  "AUTHOR", "AGE"]
    coloured = cli("list", tty=True).out
    assert "\x1b[" in coloured


def test_filters(repo, cli):
    make_project(repo)
    titles = lambda *a: sorted(e["title"] for e in json.loads(cli("list", "--format", "json", *a).out))
    assert titles("--tag", "XXX") == ["this is slow"]
    assert titles("--tag", "todo") == ["peer-cache", "retry with backoff"]
    assert titles("--author", "GRACE") == ["this is slow"]
    assert titles("--path", "src/**") == ["no timeout", "retry with backoff"]
    assert titles("--path", "docs") == ["peer-cache"]
    assert titles("--label", "#network") == ["retry with backoff"]
    assert titles("--state", "new", "--tag", "FIXME") == ["no timeout"]
    dates = [e["date"] for e in json.loads(cli("list", "--format", "json", "--sort", "date").out)]
    assert dates == sorted(dates)


def test_unknown_state_is_a_usage_error(repo, cli):
    make_project(repo)
    result = cli("list", "--state", "bogus")
    assert result.code == 2 and "valid: new, backlog, wip, test, done, dropped" in result.err


def test_show_by_prefix_slug_and_json(repo, cli):
    make_project(repo)
    items = json.loads(cli("list", "--format", "json").out)
    target = next(i for i in items if i["title"] == "retry with backoff")
    text = cli("show", target["short_id"])
    assert text.code == 0
    assert "retry with backoff" in text.out and "src/net.py:3" in text.out
    assert "> 3 │ # TODO(ada): retry with backoff" in text.out  # the source around it
    assert "Ada Lovelace" in text.out and "assigned: ada" in text.out
    by_slug = json.loads(cli("show", "peer-cache", "--format", "json").out)
    assert by_slug["slug"] == "peer-cache" and by_slug["source_lines"]


def test_show_not_found_and_ambiguous_exit_1(repo, cli):
    # 1500 ids make a shared 4-character prefix a practical certainty (birthday bound).
    repo.write("many.py", "".join(f"# TODO: item number {i}\n" for i in range(1500)))
    repo.commit()
    missing = cli("show", "no-such-slug")
    assert missing.code == 1 and "no entry matches" in missing.err
    groups: dict[str, list[str]] = {}
    for entry in json.loads(cli("list", "--format", "json").out):
        groups.setdefault(entry["id"][:4], []).append(entry["id"])
    prefix, ids = next((p, g) for p, g in groups.items() if len(g) > 1)
    result = cli("show", prefix)
    assert result.code == 1 and "ambiguous" in result.err
    assert all(i[:12] in result.err for i in ids)
    assert cli("show", ids[0][:12]).code == 0


def test_usage_errors_are_one_line_exit_2(repo, cli):
    assert cli("list", "--format", "yaml").code == 2
    result = cli("frobnicate")
    assert result.code == 2 and result.err.count("\n") == 1
    assert cli("-C", "no/such/dir", "list").code == 2


def test_init_writes_a_commented_config_and_ignores_local_state(repo, cli):
    make_project(repo)
    result = cli("init")
    assert result.code == 0
    config = (repo.root / ".fixme" / "config.toml").read_text()
    assert "tags = [" in config and "# " in config and 'initial = "new"' in config
    cli("scan")
    status = repo.git("status", "--porcelain", "--untracked-files=all")
    assert ".fixme/config.toml" in status and ".fixme/.gitignore" in status and "cache" not in status
    assert cli("init").code == 0 and (repo.root / ".fixme" / "config.toml").read_text() == config


def test_a_broken_config_is_one_line_exit_2(repo, cli):
    repo.write(".fixme/config.toml", "[scan\ntags = 3\n")
    result = cli("list")
    assert result.code == 2 and "config.toml" in result.err and result.err.count("\n") == 1


def test_minus_C_and_subdirectories(repo, tmp_path):
    make_project(repo)
    from_outside = run_cli("-C", str(repo.root), "list", "--format", "json", cwd=tmp_path)
    from_inside = run_cli("list", "--format", "json", cwd=repo.root / "src")
    assert json.loads(from_outside.out) == json.loads(from_inside.out)


def test_real_process_python_m_fixme_and_help(repo):
    make_project(repo)
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.run([sys.executable, "-m", "fixme", "-C", str(repo.root), "list"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and "no timeout" in proc.stdout and "\x1b[" not in proc.stdout
    helped = subprocess.run([sys.executable, "-m", "fixme", "list", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "--format" in helped.stdout and "--state" in helped.stdout


def test_list_does_not_import_textual_or_whoosh(repo):
    make_project(repo)
    code = ("import sys; from fixme.cli.main import main; rc = main(['-C', sys.argv[1], 'list']); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'whoosh', 'git', 'tomlkit')]; "
            "print(bad); sys.exit(rc or (1 if bad else 0))")
    proc = subprocess.run([sys.executable, "-c", code, str(repo.root)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_demo_replays_the_sample_and_lists_it(tmp_path):
    dest = tmp_path / "demo"
    result = run_cli("demo", str(dest), cwd=tmp_path)
    assert result.code == 0, result.err
    assert "replayed" in result.err and (dest / ".git").is_dir()
    listed = json.loads(run_cli("-C", str(dest), "list", "--all", "--format", "json", cwd=tmp_path).out)
    tags = {e["tag"] for e in listed}
    assert {"TODO", "FIXME", "PR"} <= tags
    gone = [e for e in listed if e["status"] == "gone"]
    assert len(gone) >= 3  # removed in later commits, seen going because the demo scans each commit
    log = subprocess.run(["git", "-C", str(dest), "log", "--format=%H"], capture_output=True, text=True).stdout
    assert all(e["gone_commit"] in log.split() for e in gone)
    assert any(len(e["locations"]) > 1 for e in listed)  # a slug written in several places
    assert any(e["links"] for e in listed)
    again = run_cli("demo", str(dest), cwd=tmp_path)
    assert again.code == 2 and "demo:" in again.err


def test_unknown_option_is_reported_once(repo, cli):
    result = cli("list", "--bogus")
    assert result.code == 2 and result.err == "fixme: unrecognized arguments: --bogus\n"


def test_a_command_line_parses_the_same_with_only_its_commands_parser():
    from fixme.cli.main import _COMMAND_MODULES, _OWN_COMMANDS, build_parser, command_word

    full = build_parser()
    commands = full._subparsers._group_actions[0].choices  # argparse keeps them here
    assert set(commands) == set(_OWN_COMMANDS) | set(_COMMAND_MODULES)  # the table misses none
    lines = [["scan"], ["-C", "sub", "scan"], ["scan", "--format", "json"], ["--color=never", "list", "--all"],
             ["-Csub", "show", "abc"], ["--color", "always", "log"], ["node", "run", "-v"],
             ["sync", "127.0.0.1:1"], ["attach", "x", "f"], ["fsck", "--repair"], ["hook", "install"],
             ["check", "--format", "github"], ["search", "peer*"], ["trust", "list"], ["tui", "--no-scan"]]
    for argv in lines:
        assert command_word(argv) in commands, argv
        only = build_parser(argv)
        assert set(only._subparsers._group_actions[0].choices) < set(commands), argv  # fewer parsers built
        assert vars(only.parse_args(argv)) == vars(full.parse_args(argv)), argv
    for argv in ([], ["--version"], ["-h"], ["lst"], ["-C", "x"]):
        assert command_word(argv) not in commands, argv
