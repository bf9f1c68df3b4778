"""The tag grammar of code comments: every spelling real code uses, the
continuation rule, and what is still not an entry. The fixtures are written
the way these comments appear in real projects (Go, C, Rust, Haskell, R,
Python, JavaScript)."""

from __future__ import annotations

import json

import pytest

from fixme.scan.codescan import scan_code
from fixme.scan.languages import language_for
from fixme.scan.model import RawEntry
from fixme.scan.tags import TagSyntax

TAGS = TagSyntax(["TODO", "FIXME", "XXX", "HACK", "BUG", "PR", "REVIEW"])


def scan(path: str, source: str) -> list[RawEntry]:
    language = language_for(path)
    assert language is not None, path
    return scan_code(source, language, TAGS)


def heads(path: str, source: str) -> list[tuple[int, str, str]]:
    return [(e.line, e.tag, e.title) for e in scan(path, source)]


# -- with a colon, as before, and the issue reference ---------------------------------


def test_the_colon_forms_and_an_issue_reference() -> None:
    source = (
        "func (s *Store) Flush() error {\n"
        "\t// TODO: batch the writes\n"
        "\t// TODO(ada): retry on EAGAIN\n"
        "\t// FIXME[flush-order]: the index is written first\n"
        "\t// TODO(#123): drop once the old format is gone\n"
        "\treturn nil\n"
        "}\n"
    )
    entries = scan("store.go", source)
    assert [(e.line, e.tag, e.title, e.who, e.slug, e.issue) for e in entries] == [
        (2, "TODO", "batch the writes", None, None, None),
        (3, "TODO", "retry on EAGAIN", "ada", None, None),
        (4, "FIXME", "the index is written first", None, "flush-order", None),
        (5, "TODO", "drop once the old format is gone", None, None, "123"),
    ]


def test_the_issue_number_becomes_a_field(repo, cli) -> None:
    repo.write("cmd/root.go", "package cmd\n\n// TODO(#42): read the config from XDG_CONFIG_HOME\nvar cfg string\n")
    repo.commit("start")
    [entry] = json.loads(cli("list", "--format", "json").out)
    assert entry["title"] == "read the config from XDG_CONFIG_HOME"
    assert entry["fields"]["issue"] == "42" and "assigned" not in entry["fields"]


# -- without a colon ------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, source, expected",
    [
        ("bounds.c", "    /* TODO fix the bounds */\n", ("TODO", "fix the bounds")),
        ("msg.py", "    # FIXME what to do with undecoded messages?\n",
         ("FIXME", "what to do with undecoded messages?")),
        ("api.rs", "    // XXX Deprecated\n", ("XXX", "Deprecated")),
        ("main.go", "\t// TODO - wire up the flags\n", ("TODO", "wire up the flags")),
        ("main.go", "\t// TODO \u2014 wire up the flags\n", ("TODO", "wire up the flags")),
        ("main.go", "\t// TODO -- wire up the flags\n", ("TODO", "wire up the flags")),
        ("db.sql", "-- BUG : the index is not used\n", ("BUG", "the index is not used")),
        ("net.js", "  // TODO FIXME: the socket leaks\n", ("TODO", "the socket leaks")),
        ("net.js", "  // TODO(ada) handle the timeout\n", ("TODO", "handle the timeout")),
        ("net.js", "  // TODO\n", ("TODO", "")),
        ("net.js", "  // XXX!\n", ("XXX", "")),
    ],
)
def test_no_colon_spellings(path: str, source: str, expected: tuple[str, str]) -> None:
    [entry] = scan(path, source)
    assert (entry.tag, entry.title) == expected


# -- case -------------------------------------------------------------------------------


def test_lower_and_capitalised_tags_with_a_colon_report_the_configured_tag() -> None:
    source = (
        "def parse(data):\n"
        "    # todo: accept bytes too\n"
        "    # Todo: and memoryview\n"
        "    # Fixme: this copies twice\n"
        "    return data\n"
    )
    assert heads("parse.py", source) == [
        (2, "TODO", "accept bytes too"), (3, "TODO", "and memoryview"), (4, "FIXME", "this copies twice")]


@pytest.mark.parametrize(
    "source",
    [
        "# todo list for the scheduler\n",
        "# Todo list below\n",
        "# tOdO: odd case\n",
        "# pr 1234 broke this\n",
        "# PR 1234 broke this, see the revert\n",
    ],
)
def test_case_variants_without_a_colon_and_pr_without_one_are_not_entries(source: str) -> None:
    assert scan("a.py", source) == []


def test_pr_with_a_colon_is_an_entry_in_code() -> None:
    assert heads("a.py", "# PR: atomic-ref-update\n") == [(1, "PR", "atomic-ref-update")]


# -- doc comments and decoration ----------------------------------------------------------


def test_doc_comments_of_every_kind() -> None:
    assert heads("lib.rs", "/// TODO: document the panics\n//! TODO: crate docs\nfn f() {}\n") == [
        (1, "TODO", "document the panics"), (2, "TODO", "crate docs")]
    assert heads("buf.c", "/** TODO: zero-copy path */\nint buf;\n") == [(1, "TODO", "zero-copy path")]
    source = "/*\n * Reads the header.\n *\n * TODO: check the magic number\n */\n"
    assert heads("hdr.c", source) == [(4, "TODO", "check the magic number")]


def test_haddock_and_roxygen_marks() -> None:
    source = (
        "-- | TODO: use a strict map\n"
        "lookup :: Key -> Map -> Maybe Value\n"
        "lookup = undefined -- ^ FIXME: partial\n"
        "{- | TODO: explain the invariant -}\n"
    )
    assert heads("Map.hs", source) == [
        (1, "TODO", "use a strict map"), (3, "FIXME", "partial"), (4, "TODO", "explain the invariant")]
    assert heads("fit.r", "#' TODO: document the weights argument\nfit <- function(x) x\n") == [
        (1, "TODO", "document the weights argument")]


def test_doc_commands_stand_for_todo() -> None:
    source = (
        "/**\n"
        " * Opens the device.\n"
        " * @todo support O_NONBLOCK\n"
        " * @param path the device node\n"
        " */\n"
        "/// \\todo measure the latency\n"
    )
    entries = scan("dev.cpp", source)
    assert [(e.line, e.tag, e.title, e.body) for e in entries] == [
        (3, "TODO", "support O_NONBLOCK", ""), (6, "TODO", "measure the latency", "")]


def test_doc_commands_need_todo_configured() -> None:
    assert scan_code("/** @todo x */\n", language_for("a.c"), TagSyntax(["FIXME"])) == []


# -- further into a comment, with a colon ----------------------------------------------------


def test_a_tag_inside_brackets_ends_at_the_matching_bracket() -> None:
    source = "/* Just use C-order strides (TODO: allow F-order too (and Z)) for now */\n"
    [entry] = scan("strides.c", source)
    assert (entry.tag, entry.title) == ("TODO", "allow F-order too (and Z)")


def test_a_tag_starting_a_sentence() -> None:
    source = "    # Same as the C version did.  TODO: revisit this.\n    x = 1\n"
    assert heads("compat.py", source) == [(1, "TODO", "revisit this.")]


def test_a_bracketed_tag_has_no_body() -> None:
    source = "# Splits the rows (TODO: stream them)\n# and returns a list.\n"
    [entry] = scan("rows.py", source)
    assert (entry.title, entry.body) == ("stream them", "")


@pytest.mark.parametrize(
    "source",
    [
        "# see the TODO note below\n",
        "# see TODO: later\n",
        "# the TODO: list\n",
        "# explains why TODO: is mid-line\n",
        "# (TODO without a colon in brackets)\n",
        "# Done.  TODO list is empty\n",
    ],
)
def test_mid_comment_tags_without_a_sentence_start_bracket_or_colon_are_not_entries(source: str) -> None:
    assert scan("a.py", source) == []


# -- continuation ---------------------------------------------------------------------------


def test_a_title_that_goes_on_at_the_same_column_keeps_its_text_in_the_body() -> None:
    source = (
        "impl Store {\n"
        "    // TODO: This should not return a Result. Fix this in the next semver\n"
        "    // release.\n"
        "    pub fn open() -> Result<Store> { todo!() }\n"
        "}\n"
    )
    [entry] = scan("store.rs", source)
    assert entry.title == "This should not return a Result. Fix this in the next semver"
    assert entry.body == "release."


def test_continuation_stops_at_a_blank_comment_line_a_new_tag_or_a_shallower_line() -> None:
    source = (
        "    # TODO: first\n"
        "    # goes on\n"
        "    #\n"
        "    # not after a blank line\n"
        "    # FIXME: second\n"
        "    # goes on too\n"
        "  # shallower: not body\n"
    )
    first, second = scan("a.py", source)
    assert (first.title, first.body) == ("first", "goes on")
    assert (second.title, second.body) == ("second", "goes on too")


def test_block_comment_lines_continue_until_a_doc_section() -> None:
    source = (
        "/*\n"
        " * FIXME: the lock is taken twice when the\n"
        " * cache is cold.\n"
        " * @return 0 on success\n"
        " */\n"
    )
    [entry] = scan("cache.c", source)
    assert entry.body == "cache is cold."


def test_a_trailing_comment_is_not_continued_by_the_next_code_lines_comment() -> None:
    source = "x = load()  # TODO: cache\ny = 2  # unrelated\n"
    assert [e.body for e in scan("a.py", source)] == [""]


# -- still not entries --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, source",
    [
        ("a.py", 'msg = "TODO: not an entry"\n'),
        ("a.py", 'def f():\n    """TODO: in a docstring."""\n'),
        ("a.py", "TODO_LIST = []  # the TODOS list and fixmeup helper\n"),
        ("a.js", "const re = /TODO: x/;  // a regex literal, then code\n"),
        ("a.py", "# TODO = compute()\n"),
        ("a.py", "# TODO.md lists the rest\n"),
    ],
)
def test_not_entries(path: str, source: str) -> None:
    assert scan(path, source) == []


def test_a_file_that_only_says_todo_in_lower_case_is_still_read() -> None:
    assert TAGS.mentions_any("// todo: x\n")
    assert not TAGS.mentions_any("// todos and fixmeup\n")
