"""Living beside the older Haskell fixme: its `.fixme/config` read, its files never touched."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from fixme.config import Config, load_config
from fixme.legacy_config import read_legacy_config

DOCS = Path(__file__).resolve().parents[1] / "docs"

LEGACY_CONFIG = """\
;; the older tool's settings
fixme-comments   "--" "#"          ; line comment markers
fixme-prefix     FIXME:   bugs issues
fixme-prefix     BUG:
fixme-files      src/**/*.hs docs/devlog.md
fixme-files-ignore src/vendor/**
fixme-id-show-len 12
fixme-attribs    assigned workflow type
fixme-value-set  workflow new backlog wip test fixed done
fixme-value-set  type bug feature
"""
LEGACY_LOG = '(fixme-set "workflow" "done" "RsTry2C5Gk")\n'


def legacy_project(repo, config: str = LEGACY_CONFIG):
    repo.write(".fixme/config", config)
    repo.write(".fixme/log", LEGACY_LOG)
    repo.write("src/Main.hs", "-- FIXME: no-timeout\n-- TODO: not a tag here\nmain = pure ()\n")
    repo.write("src/Net.hs", "-- BUG: drops the last byte\nmodule Net where\n")
    repo.write("src/vendor/Lib.hs", "-- BUG: vendored, excluded\n")
    repo.write("tool.py", "# BUG: not in fixme-files\n")
    repo.write("docs/devlog.md", "## 2024-03-02\n\nFIXME: devlog-entry\n  found in the devlog\n")
    repo.commit("start")


def read(repo, text: str) -> Config:
    repo.write(".fixme/config", text)
    return load_config(repo.root)


def listed(cli, *args: str) -> list[dict]:
    result = cli("list", "--format", "json", *args)
    assert result.code == 0, result.err
    return json.loads(result.out)


def ignored_by_rules(repo, path: str) -> bool:
    """What the .gitignore rules say of `path`, tracked or not (check-ignore exits 0 for ignored)."""
    proc = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=repo.root)
    return proc.returncode == 0


def fingerprints(repo) -> dict[str, str]:
    return {name: hashlib.sha256((repo.root / ".fixme" / name).read_bytes()).hexdigest() for name in ("config", "log")}


# -- each form ---------------------------------------------------------------------


@pytest.mark.parametrize("line, setting, expected", [
    ("fixme-prefix FIXME: bugs issues", "tags", ("FIXME",)),
    ("fixme-prefix TODO:\nfixme-prefix PR:", "tags", ("TODO", "PR")),
    ("fixme-files **/*.hs docs/devlog.md\nfixme-files doc/devlog", "include",
     ("**/*.hs", "docs/devlog.md", "doc/devlog")),
    ("fixme-files **/*.hs docs/pep*.txt", "prose", Config().prose + ("docs/pep*.txt",)),
    ("fixme-files **/*.hs doc/devlog", "devlog", Config().devlog + ("doc/devlog",)),
    ("fixme-files-ignore .direnv/** dist-newstyle/**", "exclude", (".fixme/**", ".direnv/**", "dist-newstyle/**")),
    ('fixme-comments // # "--" ";"', "comment_markers", ("//", "#", "--", ";")),
    ("fixme-id-show-len 12", "short_id_length", 12),
    ("fixme-attribs assigned workflow\nfixme-attribs type", "attributes", ("assigned", "type")),
    ("fixme-value-set workflow new wip fixed done", "states", ("new", "wip", "fixed", "done")),
    ("fixme-value-set workflow backlog wip fixed", "initial_state", "backlog"),
    ("fixme-value-set workflow new wip fixed done", "closed_states", ("done",)),
    ("fixme-value-set workflow new wip fixed", "closed_states", ("fixed",)),
    ("fixme-value-set type bug feature\nfixme-value-set type refactor", "attribute_values",
     (("type", ("bug", "feature", "refactor")),)),
    ("fixme-value-set scope mvp-0 mvp-1", "attributes", Config().attributes + ("scope",)),
])
def test_each_form_becomes_its_setting(repo, line, setting, expected):
    config = read(repo, line + "\n")
    assert getattr(config, setting) == expected
    assert config.notices == () and config.is_legacy


def test_what_the_file_does_not_say_keeps_fixmes_default(repo):
    config = read(repo, "fixme-prefix TODO:\n")
    assert config._replace(tags=Config().tags) == Config()


def test_comments_quotes_and_brackets(repo):
    config = read(repo, """\
# a comment line
; another
fixme-comments ";" "\\\\" --   ; a trailing comment; the quoted ";" is a word
(fixme-files
    **/*.hs
    docs/devlog.md)
(define-template short
  (simple (trim 10 $fixme-key) " "))
""")
    assert config.comment_markers == (";", "\\", "--")
    assert config.include == ("**/*.hs", "docs/devlog.md")
    assert config.notices[-1] == ".fixme/config: ignored 1 setting this version does not read (define-template)"


def test_unknown_forms_make_one_notice_naming_them(repo):
    config = read(repo, """\
fixme-prefix TODO:
fixme-file-comments "*.scm" ";"
fixme-git-scan-filter-days 30
[ fixme-report all json
  (render builtin:microstache report-wip.tpl)
]
no-debug
""")
    assert config.tags == ("TODO",)
    assert config.notices == (".fixme/config: ignored 4 settings this version does not read "
                              "(fixme-file-comments, fixme-git-scan-filter-days, fixme-report, no-debug)",)


def test_values_fixme_cannot_use_are_skipped_with_a_notice_naming_the_line(repo):
    config = read(repo, "fixme-prefix @todo\nfixme-prefix FIXME:\nfixme-id-show-len 64\nfixme-id-show-len x\n")
    assert config.tags == ("FIXME",) and config.short_id_length == 40
    assert config.notices == (
        ".fixme/config:1: fixme-prefix '@todo' is not a word fixme can use as a tag; ignored",
        ".fixme/config:3: fixme-id-show-len fixme shows 4 to 40 characters of an id; using 40",
        ".fixme/config:4: fixme-id-show-len needs one whole number; ignored",
    )
    nothing_usable = read(repo, "fixme-prefix @todo\n")
    assert nothing_usable.tags == Config().tags and "kept fixme's tags" in nothing_usable.notices[-1]


def test_an_unclosed_bracket_costs_the_rest_of_the_file_and_says_so(repo):
    config = read(repo, "fixme-prefix TODO:\n(define-template short\nfixme-prefix BUG:\n")
    assert config.tags == ("TODO",)
    assert "define-template (unclosed)" in config.notices[-1]


def test_the_example_in_formats_md_reads_as_shown():
    section = (DOCS / "formats.md").read_text().split("## Living beside the older `.fixme/config`")[1]
    legacy = re.search(r"For example, this `\.fixme/config`:\n\n```text\n(.*?)```", section, re.S).group(1)
    shown = tomllib.loads(re.search(r"reads as this `config.toml`.*?\n\n```toml\n(.*?)```", section, re.S).group(1))
    assert read_legacy_config(legacy.encode(), Config()).data == shown


# -- the command line --------------------------------------------------------------


def test_list_uses_the_legacy_tags_globs_states_and_id_length(repo, cli):
    legacy_project(repo)
    entries = listed(cli)
    assert sorted(e["title"] for e in entries) == ["devlog-entry", "drops the last byte", "no-timeout"]
    assert {e["tag"] for e in entries} == {"FIXME", "BUG"}  # no TODO: the file lists FIXME: and BUG: only
    assert all(len(e["short_id"]) == 12 for e in entries)
    assert next(e for e in entries if e["title"] == "devlog-entry")["source"] == "devlog"
    assert cli("list", "--state", "fixed").code == 0
    dropped = cli("list", "--state", "dropped")
    assert dropped.code == 2 and "valid: new, backlog, wip, test, fixed, done, gone" in dropped.err


def test_notices_reach_stderr_once_per_command(repo, cli):
    legacy_project(repo, LEGACY_CONFIG + "fixme-file-comments \"*.scm\" \";\"\n")
    notice = ("fixme: .fixme/config: ignored 1 setting this version does not read (fixme-file-comments)\n")
    for command in (("list",), ("scan",), ("scan",), ("show", "no-timeout"), ("log",)):
        result = cli(*command)
        assert result.code == 0 and result.err == notice, (command, result.err)


def test_init_writes_config_toml_from_the_legacy_file_and_then_it_wins(repo, cli):
    legacy_project(repo)
    legacy = load_config(repo.root)
    result = cli("init")
    assert result.code == 0, result.err
    assert "wrote .fixme/config.toml from .fixme/config\n" in result.out
    written = load_config(repo.root)
    assert written.source_path.name == "config.toml" and not written.is_legacy
    assert written._replace(trusted=(), network_key="") == legacy  # trust and network key are init's own
    text = (repo.root / ".fixme" / "config.toml").read_text()
    assert "# " in text and 'states = ["new", "backlog", "wip", "test", "fixed", "done"]' in text
    repo.write(".fixme/config", "fixme-prefix TODO:\nfixme-unknown x\n")
    after = cli("list", "--format", "json")
    assert after.err == "" and {e["tag"] for e in json.loads(after.out)} == {"FIXME", "BUG"}
    assert "kept existing .fixme/config.toml" in cli("init").out


def test_the_legacy_files_stay_tracked_and_untouched(repo, cli):
    legacy_project(repo)
    before = fingerprints(repo)
    assert cli("list").code == 0 and cli("init").code == 0
    repo.commit("fixme init")
    for command in (("scan",), ("scan", "--full"), ("list", "--all"), ("show", "no-timeout"),
                    ("set-workflow", "no-timeout", "wip", "-m", "on it"), ("set", "no-timeout", "type", "bug"),
                    ("comment", "no-timeout", "a note"), ("log",), ("check",), ("search", "timeout"),
                    ("fsck",), ("init",)):
        result = cli(*command)
        assert result.code == 0, (command, result.err)
    assert fingerprints(repo) == before
    assert repo.git("status", "--porcelain", "--untracked-files=all") == ""
    tracked = repo.git("ls-files", ".fixme").split()
    assert tracked == [".fixme/.gitignore", ".fixme/config", ".fixme/config.toml", ".fixme/log"]
    assert not ignored_by_rules(repo, ".fixme/config") and not ignored_by_rules(repo, ".fixme/log")
    assert ignored_by_rules(repo, ".fixme/cache/scan.sqlite3")


def test_untracked_legacy_files_are_not_hidden_by_the_first_scan(repo, cli):
    repo.write("a.py", "# TODO: x\n")
    repo.commit()
    repo.write(".fixme/config", "fixme-prefix TODO:\n")
    repo.write(".fixme/log", LEGACY_LOG)
    before = fingerprints(repo)
    assert cli("scan").code == 0 and cli("list").code == 0
    status = repo.git("status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(status) == ["?? .fixme/config", "?? .fixme/log"]
    assert fingerprints(repo) == before


def test_an_earlier_versions_local_gitignore_is_replaced(repo, cli):
    repo.write("a.py", "# TODO: x\n")
    repo.commit()
    repo.write(".fixme/.gitignore", "# fixme's local state; only the config is shared.\n*\n")
    repo.write(".fixme/log", LEGACY_LOG)
    assert cli("scan").code == 0
    assert repo.git("status", "--porcelain", "--untracked-files=all").splitlines() == ["?? .fixme/log"]


@pytest.mark.parametrize("content, message", [
    (b"\x7fELF\x02\x01\x01\x00\x00\x00garbage", "not a text file (control character U+007F on line 1)"),
    (b"fixme-prefix TODO:\n\xff\xfe\xfa bad bytes\n", "not UTF-8 text (invalid byte at offset 19)"),
    (b"fixme-prefix TODO:\n" + b"; filler\n" * 200_000, "larger than 1024 KiB"),
])
def test_a_file_that_is_not_text_is_a_one_line_error(repo, cli, content, message):
    legacy_project(repo)
    (repo.root / ".fixme" / "config").write_bytes(content)
    for command in (("list",), ("init",), ("scan",)):
        result = cli(*command)
        assert result.code == 2 and result.err.count("\n") == 1 and "Traceback" not in result.err, result.err
        assert f".fixme/config: {message}" in result.err and "config.toml" in result.err
    assert (repo.root / ".fixme" / "config").read_bytes() == content
    assert not (repo.root / ".fixme" / "config.toml").exists()


def test_an_unreadable_file_is_a_one_line_error(repo, cli):
    legacy_project(repo)
    (repo.root / ".fixme" / "config").unlink()
    os.symlink("config", repo.root / ".fixme" / "config")  # a loop: reading it fails whoever you are
    result = cli("list")
    assert result.code == 2 and result.err.count("\n") == 1 and result.err.startswith("fixme: cannot read ")


def test_config_toml_reads_comment_markers_too(repo, cli):
    repo.write(".fixme/config.toml", '[scan]\ncomment_markers = ["--", "%%"]\n')
    assert load_config(repo.root).comment_markers == ("--", "%%")
    repo.write(".fixme/config.toml", '[scan]\ncomment_markers = ["a b"]\n')
    result = cli("list")
    assert result.code == 2 and "scan.comment_markers" in result.err and result.err.count("\n") == 1


def test_comment_markers_of_the_older_config_find_entries_in_every_language(repo, cli):
    """`fixme-comments ";;"` makes ';;' a line comment everywhere (here in a shell script)."""
    repo.write(".fixme/config", "fixme-prefix TODO:\nfixme-comments \";;\"\n")
    repo.write("deploy.sh", "#!/bin/sh\nrsync -a build/ host:/srv ;; TODO: verify the host key first\n")
    repo.commit("start")
    listed = json.loads(cli("list", "--format", "json").out)
    assert [(e["path"], e["line"], e["title"]) for e in listed] == [("deploy.sh", 2, "verify the host key first")]
