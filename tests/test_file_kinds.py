"""Which grammar reads which file: template suffixes, the newer kinds of the
language table, and scripts without an extension recognised by their #! line.

Lexer-level checks look at comment lines (a line "counts" when its comment
text starts with a tag word), so they hold whatever the tag grammar accepts;
the end-to-end checks use `TAG: title` lines only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fixme.config import Config
from fixme.scan.comments import iter_comments
from fixme.scan.files import CODE, FOREIGN, PROSE, SHEBANG, FileKind, FileRules, settle
from fixme.scan.languages import (EXTENSIONS, FILE_NAMES, INTERPRETERS, LANGUAGES, language_for,
                                  language_for_shebang)

_TAG_START = re.compile(r"(?:TODO|FIXME|XXX|HACK|BUG)\b")
TAGS = ("TODO", "FIXME", "XXX", "HACK", "BUG")


def tagged(path: str, source: str) -> list[tuple[int, str]]:
    language = language_for(path)
    assert language is not None, path
    return [(c.line, c.text) for c in iter_comments(source, language) if _TAG_START.match(c.text)]


def name_of(path: str) -> str | None:
    language = language_for(path)
    return None if language is None else language.name


# -- template suffixes ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path, name",
    [
        ("config/config.h.in", "C"),
        ("numpy/core/src/multiarray/arraytypes.c.src", "C"),
        ("Makefile.in", "Makefile"),
        ("src/Makefile.am", "Makefile"),
        ("lib/Makefile.pre.in", "Makefile"),
        ("setup.cfg.in", "INI"),
        ("CMakeLists.txt.in", "CMake"),
        ("cmake/Config.cmake.in", "CMake"),
        ("scripts/install.sh.in", "Shell"),
        ("app/settings.py.template", "Python"),
        ("chart/values.yaml.tpl", "YAML"),
        ("deploy/nginx.conf.j2", "Config"),
        ("ansible/app.service.j2", "INI"),
        ("config/database.yml.erb", "YAML"),
        ("phpunit.xml.dist", "XML"),
        (".env.example", "Config"),
        ("config.toml.sample", "TOML"),
        ("x.h.in.in", "C"),
        ("FOO.C.IN", "C"),
        # HTML inside a template keeps the template's own comments too.
        ("templates/page.html.j2", "Jinja/Twig"),
        ("views/show.html.erb", "ERB/EJS"),
        # a bare template file has the template language
        ("macros.j2", "Jinja/Twig"),
        ("index.twig", "Jinja/Twig"),
        ("partial.hbs", "Handlebars"),
    ],
)
def test_template_suffixes_give_the_inner_language(path: str, name: str) -> None:
    assert name_of(path) == name


@pytest.mark.parametrize(
    "path",
    ["tool.in", "notes.txt.in", "README.md.in", "a.tpl", "archive.tar.gz", "python-build/3.11.1",
     "share/2.7.18", "x" + ".in" * 3000],
)
def test_names_without_a_language(path: str) -> None:
    assert language_for(path) is None


# -- newer kinds -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, name",
    [
        ("php/header.inc", "Include file"),
        ("numpy/f2py/tests/src/fortran.pyf", "Fortran"),
        ("swig/example.i", "C++"),
        ("pkg.cabal", "Cabal"),
        ("configure.ac", "M4/Autoconf"),
        ("m4/ax_check.m4", "M4/Autoconf"),
        ("cmake/FindFoo.cmake", "CMake"),
        ("man/man1/pyenv.1", "Roff"),
        ("doc/tool.8", "Roff"),
        ("doc/tool.man", "Roff"),
        ("doc/tool.mdoc", "Roff"),
        ("test/plugin.vader", "Vader"),
        ("lib/x.pxd", "Python"),
        ("rules.bzl", "Python"),
        ("build.gradle.kts", "Kotlin"),
        ("pkg.spec", "RPM spec"),
        ("systemd/app.service", "INI"),
        ("systemd/app.timer", "INI"),
        ("Kconfig", "Kconfig"),
        ("drivers/Kconfig.debug", "Kconfig"),
        ("exports.def", "Module definition"),
        ("parse.y", "Yacc/Lex"),
        ("scan.l", "Yacc/Lex"),
        ("fix.sed", "sed"),
        ("env.csh", "Shell"),
        ("login.tcsh", "Shell"),
        ("rules.mak", "Makefile"),
        ("installer.nsi", "NSIS"),
        ("open.applescript", "AppleScript"),
        ("profile.ps1", "PowerShell"),
        ("configure", "Shell"),
        ("Kbuild", "Makefile"),
        ("requirements.txt", "Config"),
        ("MANIFEST.in", "Config"),
        ("go.mod", "Go"),
        ("shaders/light.frag", "C"),
        ("Theorem.lean", "Lean"),
        ("views/a.haml", "Haml/Slim"),
        ("views/a.pug", "Pug"),
        (".clang-format", "YAML"),
        ("Snakefile", "Python"),
        (".env.local", "Config"),
    ],
)
def test_newer_kinds(path: str, name: str) -> None:
    assert name_of(path) == name


# (path, source, expected (line, comment text)): each hides a tag where the
# language has no comment (a string, a quoted text, a pattern).
SAMPLES = [
    ("a.inc", '<?php\n$s = "// TODO: no";  // TODO: php\n# FIXME: hash\n#include "x.h"\n; XXX: asm\nx = 1; y = 2;\n',
     [(2, "TODO: php"), (3, "FIXME: hash"), (5, "XXX: asm")]),
    ("a.inc", "/* TODO: block */\nint x; // don't # TODO: no\n", [(1, "TODO: block")]),
    ("a.pyf", "python module m ! TODO: f2py\n  'x ! TODO: no'\n", [(1, "TODO: f2py")]),
    ("a.i", '%module m\n%{\n#include "m.h"  // TODO: swig\n%}\nchar *s = "/* TODO: no */";\n',
     [(3, "TODO: swig")]),
    ("a.cabal", "name: x\n-- TODO: cabal\nsynopsis: a -- TODO: no\n", [(2, "TODO: cabal")]),
    ("configure.ac", "AC_INIT([x])\ndnl TODO: dnl comment\n# FIXME: hash comment\n"
                     "AC_CHECK_HEADERS([a.h], [], [], [#include <b.h>])\n"
                     "AC_MSG_ERROR([can't find it]) dnl XXX: trailing\nfoodnl TODO: no\n",
     [(2, "TODO: dnl comment"), (3, "FIXME: hash comment"), (5, "XXX: trailing")]),
    ("a.1", '.TH A 1\n.\\" TODO: roff\n.SH NAME "a \\" FIXME: escaped quote comment"\n'
            "text \\\" XXX: inline\n", [(2, "TODO: roff"), (3, 'FIXME: escaped quote comment"'),
                                        (4, "XXX: inline")]),
    ("a.vader", 'Execute (x):\n  " TODO: vader\nGiven:\n  # TODO: test data\n', [(2, "TODO: vader")]),
    ("a.spec", "Name: x\n# TODO: rpm\nSource0: http://h/x.tar.gz#/x # FIXME: no\n", [(2, "TODO: rpm")]),
    ("app.service", "[Unit]\n# TODO: unit\n; FIXME: semicolon\nExecStart=/bin/x # XXX: no\n",
     [(2, "TODO: unit"), (3, "FIXME: semicolon")]),
    ("Kconfig", 'config X\n\tbool "x # TODO: no"\n\thelp\n\t  Don\'t. # TODO: kconfig\n',
     [(4, "TODO: kconfig")]),
    ("x.def", 'LIBRARY x\n; TODO: exports\nHANDLE(A, "// TODO: no") // FIXME: xmacro\n',
     [(2, "TODO: exports"), (3, "FIXME: xmacro")]),
    ("a.l", '%%\n\\"[^"\\n]*\\"  { return STR; } /* TODO: lex */\n"//"  { x(); } // FIXME: after\n',
     [(2, "TODO: lex"), (3, "FIXME: after")]),
    ("a.y", "expr: expr '+' expr  /* TODO: yacc */\n     | '\"'  // FIXME: quote token\n",
     [(1, "TODO: yacc"), (2, "FIXME: quote token")]),
    ("a.sed", "# TODO: sed\ns/a#b/c/\n", [(1, "TODO: sed")]),
    ("a.nsi", '; TODO: nsis\nName "a ; TODO: no" # FIXME: hash\n/* XXX: block */\n',
     [(1, "TODO: nsis"), (2, "FIXME: hash"), (3, "XXX: block")]),
    ("a.applescript", 'set s to "-- TODO: no" -- TODO: as\n(* FIXME: block *)\n# XXX: hash\n',
     [(1, "TODO: as"), (2, "FIXME: block"), (3, "XXX: hash")]),
    ("a.lean", 'def s := "-- TODO: no" -- TODO: lean\n/- FIXME: block /- nested -/ -/\n',
     [(1, "TODO: lean"), (2, "FIXME: block")]),
    ("a.hbs", "<p>TODO: no</p>\n{{!-- TODO: hbs --}}\n{{! FIXME: short }}\n<!-- XXX: html -->\n",
     [(2, "TODO: hbs"), (3, "FIXME: short"), (4, "XXX: html")]),
    ("a.j2", "{# TODO: jinja #}\n{{ x }} TODO: no\n<!-- FIXME: html -->\n", [(1, "TODO: jinja"), (3, "FIXME: html")]),
    ("a.erb", "<%# TODO: erb %>\n<%= x %> TODO: no\n", [(1, "TODO: erb")]),
    ("a.haml", "%p TODO: no\n-# TODO: haml\n/ FIXME: html comment\n", [(2, "TODO: haml"), (3, "FIXME: html comment")]),
    ("a.pug", "p TODO: no\n//- TODO: pug\n  // FIXME: html\n", [(2, "TODO: pug"), (3, "FIXME: html")]),
    ("requirements.txt", "requests>=2  # TODO: pin\n# FIXME: drop\n", [(1, "TODO: pin"), (2, "FIXME: drop")]),
    ("config.h.in", "/* TODO: template */\n#undef HAVE_X\n#define S \"// TODO: no\"\n", [(1, "TODO: template")]),
    ("link.ld", 'SECTIONS {\n  /* TODO: align to 64 */\n  .text : { *(.text) } > "// no"\n}\n', [(2, "TODO: align to 64")]),
    ("env.csh", "setenv X 1  # TODO: csh\necho '# TODO: no'\n", [(1, "TODO: csh")]),
]


@pytest.mark.parametrize("path, source, expected", SAMPLES, ids=[s[0] for s in SAMPLES])
def test_newer_kind_sample(path: str, source: str, expected: list[tuple[int, str]]) -> None:
    assert tagged(path, source) == expected


# -- shebangs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "first_line, name",
    [
        ("#!/bin/sh", "Shell"),
        ("#! /bin/sh", "Shell"),
        ("#!/bin/bash -eu", "Shell"),
        ("#!/usr/bin/env bash", "Shell"),
        ("#!/usr/bin/env zsh", "Shell"),
        ("#!/bin/ksh93", "Shell"),
        ("#!/bin/dash", "Shell"),
        ("#!/usr/bin/env fish", "Shell"),
        ("#!/bin/csh -f", "Shell"),
        ("#!/usr/bin/env python3", "Python"),
        ("#!/usr/bin/env -S python3 -u", "Python"),
        ("#!/usr/bin/python3.11", "Python"),
        ("#!/usr/bin/env -S uv run --script", "Python"),
        ("#!@PYTHON@", "Python"),
        ("#!/usr/bin/perl -w", "Perl"),
        ("#!/usr/bin/env perl", "Perl"),
        ("#!/usr/bin/env ruby", "Ruby"),
        ("#!/usr/bin/env node", "JavaScript"),
        ("#!/usr/bin/env -S deno run --allow-net", "TypeScript"),
        ("#!/usr/bin/lua5.4", "Lua"),
        ("#!/usr/bin/tclsh", "Tcl"),
        ("#!/usr/bin/wish8.6", "Tcl"),
        ("#!/usr/bin/expect -f", "Tcl"),
        ("#!/usr/bin/env php", "PHP"),
        ("#!/usr/bin/awk -f", "Awk"),
        ("#!/usr/bin/gawk -f", "Awk"),
        ("#!/usr/bin/env Rscript", "R"),
        ("#!/usr/bin/make -f", "Makefile"),
        ("#!/bin/sed -f", "sed"),
        ("#!/usr/bin/env -u PYTHONPATH python3", "Python"),
        ("#!/usr/bin/env LC_ALL=C bash", "Shell"),
        ("#!/bin/busybox sh", "Shell"),
        ("#!/usr/bin/env pwsh", "PowerShell"),
        ("#!/usr/bin/env escript", "Erlang"),
        ("#!/usr/bin/env runghc", "Haskell"),
    ],
)
def test_shebang_names_the_language(first_line: str, name: str) -> None:
    language = language_for_shebang(first_line + "\nrest\n")
    assert language is not None and language.name == name


def test_nix_shell_names_the_interpreter_on_a_later_line() -> None:
    text = "#!/usr/bin/env nix-shell\n#!nix-shell -i python3 -p python3Packages.requests\nimport requests\n"
    assert language_for_shebang(text).name == "Python"
    assert language_for_shebang("#!/usr/bin/env nix-shell\necho\n") is None


@pytest.mark.parametrize(
    "text",
    ["", "#!", "#!\n", "#!/usr/bin/env\n", "#!/usr/bin/env -S\n", "#!/usr/bin/frobnicate\n", "# !/bin/sh\n",
     " #!/bin/sh\n", "echo hi\n#!/bin/sh\n", "#!/bin/\n", "#!" + "x" * 100000],
)
def test_no_known_shebang(text: str) -> None:
    assert language_for_shebang(text) is None


# -- FileRules: which grammar, before and after reading -----------------------------------


@pytest.fixture
def rules() -> FileRules:
    return FileRules(Config())


def test_kinds_by_name(rules: FileRules) -> None:
    assert rules.kind("src/a.py").grammar == CODE
    assert rules.kind("README.md") == FileKind(PROSE, markdown=True)
    assert rules.kind("scripts/deploy") == FileKind(SHEBANG, fallback=FileKind(PROSE))
    assert rules.kind("NOTES") == FileKind(SHEBANG, fallback=FileKind(PROSE))
    assert rules.kind("bin/tool.in") == FileKind(SHEBANG)  # a template: code or nothing
    assert rules.kind("lib/Target.td") == FileKind(FOREIGN)  # Pygments may know it, once read
    assert rules.kind("photo.JPEG") is None  # never text: not even opened
    assert rules.kind("Makefile.in").language.name == "Makefile"


def test_settle_reads_the_first_line(rules: FileRules) -> None:
    deploy = rules.kind("scripts/deploy")
    assert settle(deploy, "scripts/deploy", "#!/usr/bin/env bash\nset -e\n", TAGS).language.name == "Shell"
    assert settle(deploy, "scripts/deploy", "Deploy notes\nTODO: write them\n", TAGS) == FileKind(PROSE)
    assert settle(deploy, "scripts/deploy", "", TAGS) == FileKind(PROSE)
    template = rules.kind("bin/tool.in")
    assert settle(template, "bin/tool.in", "#!@PERL@\nprint 1;\n", TAGS).language.name == "Perl"
    assert settle(template, "bin/tool.in", "plain text\n", TAGS) is None
    python = rules.kind("a.py")
    assert settle(python, "a.py", "#!/bin/sh\n", TAGS) is python  # an extension decides alone


# -- end to end --------------------------------------------------------------------------


def listed(cli) -> list[tuple[str, int, str, str]]:
    result = cli("list", "--format", "json")
    assert result.code == 0, result.err
    return sorted((e["path"], e["line"], e["source"], e["title"]) for e in json.loads(result.out))


def test_scripts_templates_and_prose_in_a_repository(repo, cli) -> None:
    repo.write("scripts/deploy", (
        "#!/usr/bin/env bash\n"
        "set -euo pipefail\n"
        "# TODO: roll back when the health check fails\n"
        'echo "TODO: this is output, not an entry"\n'
        "cat <<EOF\n"
        "# FIXME: inside a heredoc\n"
        "EOF\n"
        "rsync -a build/ host:  # FIXME: host is hard-coded\n"
    ))
    repo.write("bin/report", (
        "#!/usr/bin/env python3\n"
        '"""Print the report.\n'
        "\n"
        "TODO: not an entry, a docstring line\n"
        '"""\n'
        "# TODO: paginate the output\n"
    ))
    repo.write("tools/check", "#!/usr/bin/perl -w\nmy $s =~ s/'//g;  # TODO: handle unicode quotes\n")
    repo.write("NOTES", "Release notes\n\nTODO: write the upgrade section\n")
    repo.write("docs/notes.txt", "#!/bin/sh\n# TODO: an extension decides: prose, so not an entry\n")
    repo.write("config/settings.h.in", (
        "/* Generated by configure. */\n"
        "#undef HAVE_ZLIB\n"
        "/* TODO: detect the page size at configure time */\n"
        '#define GREETING "TODO: a string"\n'
    ))
    repo.write("bin/run.in", "#!@SHELL@\n# TODO: quote the arguments\n")
    repo.write("bin/data.in", "TODO: not read, a template that is no script\n")
    repo.write("configure", "# Generated by GNU Autoconf.\n# TODO: regenerate with autoconf 2.72\n")
    repo.commit("scripts")
    assert listed(cli) == [
        ("NOTES", 3, "devlog", "write the upgrade section"),
        ("bin/report", 6, "code", "paginate the output"),
        ("bin/run.in", 2, "code", "quote the arguments"),
        ("config/settings.h.in", 3, "code", "detect the page size at configure time"),
        ("configure", 2, "code", "regenerate with autoconf 2.72"),
        ("scripts/deploy", 3, "code", "roll back when the health check fails"),
        ("scripts/deploy", 8, "code", "host is hard-coded"),
        ("tools/check", 2, "code", "handle unicode quotes"),
    ]


def test_a_script_that_gains_a_shebang_is_rescanned_as_code(repo, cli) -> None:
    repo.write("tool", "TODO: prose for now\n# TODO: a comment later\n")
    repo.commit("prose")
    assert [(path, line, source) for path, line, source, _ in listed(cli)] == [("tool", 1, "devlog")]
    repo.write("tool", "#!/bin/sh\nTODO: prose for now\n# TODO: a comment later\n")
    repo.commit("script")
    assert [(path, line, source) for path, line, source, _ in listed(cli)] == [("tool", 3, "code")]


def test_binary_file_without_extension_is_skipped(repo, cli) -> None:
    repo.write("bin/blob", b"#!/bin/sh\n\0\0\0# TODO: binary\n")
    repo.write("a.py", "# TODO: real\n")
    repo.commit()
    assert [title for *_, title in listed(cli)] == ["real"]


# -- the docs keep the table true -------------------------------------------------------------

FORMATS = Path(__file__).resolve().parents[1] / "docs" / "formats.md"


def _table_rows(heading: str) -> dict[str, list[str]]:
    """First two cells of each row of the first table under `heading` in docs/formats.md."""
    section = FORMATS.read_text().split(heading, 1)[1]
    lines = iter(section.splitlines())
    rows: dict[str, list[str]] = {}
    for line in lines:
        if line.startswith("|---"):  # below the header row
            break
    for line in lines:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_docs_language_table_lists_exactly_the_files_of_each_language() -> None:
    rows = _table_rows("## Languages")
    for language in LANGUAGES:
        extensions = " ".join("." + ext for ext, lang in EXTENSIONS.items() if lang is language)
        names = " ".join(name for name, lang in FILE_NAMES.items() if lang is language)
        expected = "; ".join(part for part in (extensions, names) if part)
        assert rows[language.name][0] == expected, language.name


def test_docs_script_table_lists_every_interpreter() -> None:
    rows = _table_rows("### Scripts")
    documented = set()
    for interpreters, languages in rows.items():
        for group, name in zip(interpreters.split(";"), languages[0].split(";")):
            for interpreter in group.split():
                documented.add(interpreter.lower())
                assert INTERPRETERS[interpreter.lower()].name == name.strip(), interpreter
    assert documented == set(INTERPRETERS) - {"shell"}  # @SHELL@ is mentioned in the text


def test_large_files_of_unknown_kinds_are_skipped_silently(repo, cli) -> None:
    repo.write(".fixme/config.toml", "[scan]\nmax_file_size = 100\n")
    repo.write("big.py", "# TODO: too far down\n" + "x = 1\n" * 100)
    repo.write("data/export.csv", "id,name\n" + "1,x\n" * 100)
    repo.write("bin/huge-tool", "#!/bin/sh\n" + "true\n" * 100)
    repo.commit()
    result = cli("list", "--format", "json")
    assert result.code == 0
    assert "skipped big.py: larger than" in result.err
    assert "skipped bin/huge-tool: larger than" in result.err  # a script or prose: worth saying
    assert "export.csv" not in result.err
