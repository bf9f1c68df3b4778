"""`fixme check`: each rule, the exit codes, the output formats, the config checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixme.cli.hook_commands import github_annotation
from fixme.config import CheckRules, Config, ConfigError, load_config
from fixme.tracker.check import Violation

ROOT = Path(__file__).resolve().parents[1]


def configure(repo, check: str) -> None:
    repo.write(".fixme/config.toml", "[check]\n" + check)


@pytest.fixture
def project(repo):
    repo.write("src/net.py", "x = 1  # FIXME: no timeout\n# FIXME: atomic-ref-update\n# TODO: one\n# TODO: two\n")
    repo.commit("start")
    return repo


def test_no_rules_means_no_violations(project, cli):
    result = cli("check")
    assert (result.code, result.out, result.err) == (0, "", "")


def test_require_slug_reports_each_entry_without_one(project, cli):
    configure(project, 'require_slug = ["FIXME"]\n')
    result = cli("check")
    assert result.code == 1
    assert result.out.splitlines() == [
        "src/net.py:1: require_slug: FIXME entry without a slug: 'no timeout' (name it like "
        "'FIXME: some-slug' or 'FIXME[some-slug]: no timeout')"]
    assert result.err == "fixme check: 1 violation\n"


def test_new_only_looks_at_uncommitted_entries(project, cli):
    configure(project, 'require_slug = ["FIXME", "TODO"]\nnew_only = true\n')
    assert cli("check").code == 0  # every entry without a slug is committed
    project.write("src/more.py", "# TODO: write more tests\n")
    result = cli("check")
    assert result.code == 1 and result.out.startswith("src/more.py:1: require_slug: TODO entry")
    assert result.out.count("\n") == 1


def test_since_looks_at_entries_changed_after_a_revision(project, cli):
    configure(project, 'require_slug = ["FIXME"]\n')
    base = project.head()
    project.write("src/later.py", "# FIXME: added on the branch\n")
    project.commit("later")
    result = cli("check", "--since", base)
    assert result.code == 1 and [line.split(":")[0] for line in result.out.splitlines()] == ["src/later.py"]
    assert cli("check", "--since", "HEAD").code == 0
    assert cli("check").out.count("\n") == 2  # without --since: all of them


def test_since_an_unknown_revision_is_a_usage_error(project, cli):
    for rev in ("no-such-branch", "--all"):
        result = cli("check", f"--since={rev}")
        assert result.code == 2 and result.err.startswith("fixme: --since") and result.err.count("\n") == 1


def test_forbid_states_reports_entries_in_those_states(project, cli):
    assert cli("init").code == 0  # trusts this user's key, so the record applies
    config = project.root / ".fixme" / "config.toml"
    config.write_text(config.read_text().replace("forbid_states = []", 'forbid_states = ["dropped"]'))
    assert cli("check").code == 0
    assert cli("set-workflow", "atomic-ref-update", "dropped").code == 0
    result = cli("check")
    assert result.code == 1
    assert result.out == "src/net.py:2: forbid_states: FIXME: 'atomic-ref-update' is in state 'dropped'\n"


def test_max_count_points_at_the_config(project, cli):
    configure(project, "[check.max_count]\nTODO = 2\nFIXME = 1\n")
    result = cli("check")
    assert result.code == 1
    assert result.out == ".fixme/config.toml: max_count: 2 open FIXME entries; at most 1 allowed\n"
    project.write("src/net.py", "# FIXME: one left\n# TODO: one\n")
    assert cli("check").code == 0  # gone entries do not count


def test_json_format(project, cli):
    configure(project, 'require_slug = ["FIXME"]\n[check.max_count]\nTODO = 0\n')
    result = cli("check", "--format", "json")
    data = json.loads(result.out)
    assert result.code == 1 and not data["ok"] and data["count"] == 2
    assert [(v["path"], v["line"], v["rule"]) for v in data["violations"]] == [
        (".fixme/config.toml", None, "max_count"), ("src/net.py", 1, "require_slug")]
    assert len(data["violations"][1]["entry"]) == 40
    configure(project, "")
    assert json.loads(cli("check", "--format", "json").out) == {"ok": True, "count": 0, "violations": []}


def test_github_format_prints_annotations(project, cli):
    configure(project, 'require_slug = ["FIXME"]\n[check.max_count]\nTODO = 1\n')
    result = cli("check", "--format", "github")
    assert result.code == 1 and result.err == ""
    lines = result.out.splitlines()
    assert lines[0] == "::error file=.fixme/config.toml,title=fixme check::max_count: 2 open TODO entries; at most 1 allowed"
    assert lines[1].startswith("::error file=src/net.py,line=1,title=fixme check::require_slug: FIXME entry")


def test_github_annotations_escape_what_would_break_them():
    v = Violation("a,b:c.py", 3, "require_slug", "100% of\nit")
    assert github_annotation(v) == "::error file=a%2Cb%3Ac.py,line=3,title=fixme check::require_slug: 100%25 of%0Ait"


def test_check_help_explains_the_rules_and_exit_codes(cli):
    with pytest.raises(SystemExit):
        cli("check", "--help")


# -- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize("check, message", [
    ('require_slug = "FIXME"\n', "check.require_slug must be a list of strings"),
    ('require_slug = ["FIXMEE"]\n', "check: 'FIXMEE' is not in scan.tags"),
    ('forbid_states = ["blocked"]\n', "check.forbid_states: 'blocked' is not in workflow.states"),
    ("new_only = 1\n", "check.new_only must be true or false"),
    ("max_count = 3\n", "check.max_count must be a table"),
    ("[check.max_count]\nTODO = -1\n", "check.max_count.TODO must be a whole number, 0 or more"),
    ("[check.max_count]\nTODO = true\n", "check.max_count.TODO must be a whole number"),
    ("[check.max_count]\nTODOS = 3\n", "check: 'TODOS' is not in scan.tags"),
])
def test_bad_check_config_is_a_one_line_error(project, cli, check, message):
    configure(project, check)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("[", r"\[")):
        load_config(project.root)
    result = cli("check")
    assert result.code == 2 and message in result.err and result.err.count("\n") == 1


def test_check_table_must_be_a_table(project, cli):
    project.write(".fixme/config.toml", 'check = "strict"\n')
    result = cli("check")
    assert result.code == 2 and "[check] must be a table" in result.err


def test_rules_are_read_and_do_not_force_a_rescan(project):
    configure(project, 'require_slug = ["FIXME"]\nforbid_states = ["dropped"]\nnew_only = true\n'
                       "[check.max_count]\nTODO = 100\nBUG = 0\n")
    config = load_config(project.root)
    assert config.check == CheckRules(("FIXME",), ("dropped",), (("BUG", 0), ("TODO", 100)), True)
    assert config.fingerprint() == Config().fingerprint()


def test_pre_commit_hook_definition():
    text = (ROOT / ".pre-commit-hooks.yaml").read_text()
    for line in ("- id: fixme-check", "  entry: fixme check", "  language: python", "  pass_filenames: false",
                 "  always_run: true"):
        assert line + "\n" in text
