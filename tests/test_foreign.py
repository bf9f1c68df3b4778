"""Files of languages outside the comment table, read with Pygments: when it is
asked at all, how its tokens become comment lines, and that a scan which
needs no foreign language never imports it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fixme.scan.comments import iter_comments
from fixme.scan.foreign import MAX_FOREIGN_SIZE, foreign_language
from fixme.scan.languages import ForeignLanguage

TAGS = ("TODO", "FIXME", "XXX", "HACK", "BUG", "PR", "REVIEW")

TABLEGEN = (
    'include "llvm/Target/Target.td"\n'
    "\n"
    "// TODO: model the second issue port\n"
    "//   it exists since the v2 cores\n"
    "def WriteALU : SchedWrite;  // FIXME: latency is a guess\n"
    "/* HACK: a block comment\n"
    " * BUG: on its second line\n"
    " */\n"
    'def Name { string s = "// TODO: not a comment"; }\n'
    "\t// XXX: after a tab\n"
)


def test_a_language_pygments_knows_is_found_by_file_name() -> None:
    language = foreign_language("lib/Target/X86Schedule.td", TABLEGEN, TAGS)
    assert language == ForeignLanguage("TableGen", "pygments.lexers.tablegen", "TableGenLexer")


@pytest.mark.parametrize(
    "path, text",
    [
        ("lib/X86.td", "def X : Y;  // nothing to do here\n"),  # no tag word
        ("lib/X86.td", "// a todo list\n"),  # a lower-case tag word needs a colon or an @
        ("prog.b", "[ TODO: brainfuck or limbo? ]\n"),  # two lexers claim *.b: a guess
        ("fix.patch", "--- a/x.c\n+++ b/x.c\n+// TODO: another file's line\n"),
        ("po/de.po", "#. TODO: copied from the source code\nmsgid \"x\"\n"),
        ("data.csv", "id,note\n1,TODO: call back\n"),  # no lexer at all
        ("lib/X86.td", "// TODO: huge\n" + "x" * MAX_FOREIGN_SIZE),
    ],
)
def test_no_foreign_language(path: str, text: str) -> None:
    assert foreign_language(path, text, TAGS) is None


@pytest.mark.parametrize("text", ["// todo: lower case\n", "/** @todo doc tag */\n", "// Fixme: capital\n"])
def test_tag_words_in_any_spelling_the_code_grammar_may_accept(text: str) -> None:
    assert foreign_language("a.td", text, TAGS) is not None


def test_tokens_become_comment_lines() -> None:
    language = foreign_language("a.td", TABLEGEN, TAGS)
    lines = [(c.line, c.column, c.text, c.block, c.trailing) for c in iter_comments(TABLEGEN, language)]
    assert lines == [
        (3, 3, "TODO: model the second issue port", False, False),
        (4, 5, "it exists since the v2 cores", False, False),
        (5, 31, "FIXME: latency is a guess", False, True),
        (6, 3, "HACK: a block comment", True, False),
        (7, 3, "BUG: on its second line", True, False),
        (8, 3, "", True, False),
        (10, 11, "XXX: after a tab", False, False),
    ]


def test_runs_of_line_comments_share_an_id_and_blocks_have_their_own() -> None:
    language = foreign_language("a.td", TABLEGEN, TAGS)
    ids = {c.line: c.comment_id for c in iter_comments(TABLEGEN, language)}
    assert ids[3] == ids[4]  # one run of line comments
    assert len({ids[4], ids[5], ids[6], ids[10]}) == 4  # a trailing comment, a block, a later line
    assert ids[6] == ids[7] == ids[8]


@pytest.mark.parametrize(
    "source",
    ["\0\xff\ufffd" * 1000 + "// TODO: x\n", "/* TODO: never closed\n" + "x" * 100000, "//" * 50000, "\n" * 1000],
)
def test_odd_input_never_raises(source: str) -> None:
    language = ForeignLanguage("TableGen", "pygments.lexers.tablegen", "TableGenLexer")
    assert all(c.line >= 1 and c.column >= 0 for c in iter_comments(source, language))


@pytest.mark.parametrize(
    "path, source, expected",
    [
        ("policy.rego", 'package x\n# TODO: rego\nallow { input.x == "# TODO: no" }\n', [(2, "TODO: rego")]),
        ("main.pony", 'actor Main\n  // TODO: pony\n  let s = "// TODO: no"\n', [(2, "TODO: pony")]),
        ("X.thy", "theory X imports Main begin\n(* TODO: isabelle *)\nend\n", [(2, "TODO: isabelle")]),
        ("app.gleam", 'pub fn main() { // TODO: gleam\n  io.println("// TODO: no") }\n', [(1, "TODO: gleam")]),
    ],
)
def test_long_tail_languages(path: str, source: str, expected: list[tuple[int, str]]) -> None:
    language = foreign_language(path, source, TAGS)
    assert isinstance(language, ForeignLanguage)
    assert [(c.line, c.text) for c in iter_comments(source, language) if "TODO" in c.text] == expected


# -- end to end ------------------------------------------------------------------------------


def test_foreign_files_in_a_repository(repo, cli) -> None:
    repo.write("lib/Target/Sched.td", TABLEGEN)
    repo.write("lib/Target/Empty.td", "def X : Y;\n")
    repo.write("fix.patch", "--- a/x.c\n+++ b/x.c\n+// TODO: another file's line\n")
    repo.write("assets/logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR TODO: not text")
    repo.write("data/notes.dat", "TODO: no lexer for this one\n")
    repo.commit("llvm-ish")
    result = cli("list", "--format", "json")
    assert result.code == 0, result.err
    found = sorted((e["path"], e["line"], e["title"]) for e in json.loads(result.out))
    assert ("lib/Target/Sched.td", 3, "model the second issue port") in found
    assert ("lib/Target/Sched.td", 5, "latency is a guess") in found
    assert {path for path, _, _ in found} == {"lib/Target/Sched.td"}
    assert not [title for _, _, title in found if "not a comment" in title]


def _modules_after_scan(root) -> list[str]:
    code = ("import sys; from fixme.cli.main import main; rc = main(['-C', sys.argv[1], 'list']); "
            "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('pygments')}))")
    proc = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_pygments_is_imported_only_for_a_foreign_file_with_a_tag_word(repo) -> None:
    repo.write("a.py", "# TODO: python is in the table\n")
    repo.write("lib/Empty.td", "def X : Y;\n")
    repo.write("assets/logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    repo.commit()
    assert _modules_after_scan(repo.root) == "[]"
    repo.write("lib/Sched.td", TABLEGEN)
    repo.commit()
    assert _modules_after_scan(repo.root) == "['pygments']"
    assert _modules_after_scan(repo.root) == "[]"  # nothing changed: nothing read
