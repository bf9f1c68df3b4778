"""Entries in source comments: comment styles, titles, bodies, strings, decoys,
columns, and input the lexer must survive (unterminated strings and comments)."""

from __future__ import annotations

import time

import pytest

from fixme.scan.codescan import scan_code
from fixme.scan.comments import CommentLine, iter_comments
from fixme.scan.languages import language_for
from fixme.scan.model import CODE, RawEntry
from fixme.scan.tags import TagSyntax

TAGS = TagSyntax(["TODO", "FIXME", "XXX", "HACK", "BUG"])


def scan(path: str, source: str) -> list[RawEntry]:
    language = language_for(path)
    assert language is not None
    return scan_code(source, language, TAGS)


def heads(path: str, source: str) -> list[tuple[int, str, str]]:
    return [(e.line, e.tag, e.title) for e in scan(path, source)]


def comments(path: str, source: str) -> list[CommentLine]:
    language = language_for(path)
    assert language is not None
    return list(iter_comments(source, language))


# -- comment styles ----------------------------------------------------------


@pytest.mark.parametrize(
    "path, source",
    [
        ("a.py", "x = 1\n# TODO: the title\n"),
        ("a.c", "x = 1;\n// TODO: the title\n"),
        ("a.sql", "select 1;\n-- TODO: the title\n"),
        ("a.el", "(setq x 1)\n;; TODO: the title\n"),
        ("a.erl", "x() -> 1.\n% TODO: the title\n"),
        ("a.vb", "Dim x\n' TODO: the title\n"),
        ("a.bat", "set x=1\nREM TODO: the title\n"),
        ("a.f90", "x = 1\n! TODO: the title\n"),
        ("a.c", "x = 1;\n/* TODO: the title */\n"),
        ("a.hs", "x = 1\n{- TODO: the title -}\n"),
        ("a.html", "<p>x</p>\n<!-- TODO: the title -->\n"),
        ("a.ml", "let x = 1\n(* TODO: the title *)\n"),
    ],
)
def test_each_comment_style(path: str, source: str) -> None:
    [entry] = scan(path, source)
    assert (entry.tag, entry.title, entry.line, entry.source) == ("TODO", "the title", 2, CODE)


def test_marker_repetitions_and_doc_marks_are_decoration() -> None:
    source = "/// TODO: a\n//! TODO: b\n//// TODO: c\n"
    assert heads("a.rs", source) == [(1, "TODO", "a"), (2, "TODO", "b"), (3, "TODO", "c")]
    assert heads("a.py", "## FIXME: hashes\n#!TODO: bang\n") == [(1, "FIXME", "hashes"), (2, "TODO", "bang")]
    assert heads("a.el", ";;; TODO: three\n") == [(1, "TODO", "three")]
    assert heads("a.lua", "--| XXX: pipe\n--- BUG: dashes\n") == [(1, "XXX", "pipe"), (2, "BUG", "dashes")]


def test_multiline_block_with_star_decoration() -> None:
    source = (
        "/**\n"
        " * Frobnicates.\n"
        " *\n"
        " * FIXME(ann): leaks the handle\n"
        " *   on the error path\n"
        " *     (see below)\n"
        " * @param x whatever\n"
        " **/\n"
        "int f(int x);\n"
    )
    [entry] = scan("a.c", source)
    assert (entry.tag, entry.who, entry.title, entry.line, entry.column) == ("FIXME", "ann", "leaks the handle", 4, 3)
    assert entry.body == "on the error path\n  (see below)"


def test_tag_on_first_and_last_line_of_block_drops_closer() -> None:
    source = "/* TODO: first\n   stuff\n   XXX: last   **/ int y;\n"
    assert heads("a.c", source) == [(1, "TODO", "first"), (3, "XXX", "last")]
    assert heads("a.html", "<!-- TODO: html title --->\n") == [(1, "TODO", "html title")]
    assert heads("a.hs", "{-| HACK: haddock -}\n") == [(1, "HACK", "haddock")]


def test_nested_haskell_block_ends_at_matching_close() -> None:
    source = (
        "{- outer {- inner -}\n"
        "   TODO: still inside\n"
        "-}\n"
        "x = 1 -- FIXME: after\n"
        "y = a --> b\n"
    )
    assert heads("a.hs", source) == [(2, "TODO", "still inside"), (4, "FIXME", "after")]


def test_nested_block_in_rust_and_plain_block_in_c_differ() -> None:
    source = "/* a /* b */\nTODO: where\n*/\n"
    assert heads("a.rs", source) == [(2, "TODO", "where")]  # still inside the outer comment
    assert heads("a.c", source) == []  # the comment closed on line 1; line 2 is code


# -- trailing comments ---------------------------------------------------------


def test_trailing_comments() -> None:
    assert heads("a.py", "x = compute()  # TODO: cache this\n") == [(1, "TODO", "cache this")]
    assert heads("a.go", "f(x) /* BUG: off by one */ // XXX: and this\n") == [
        (1, "BUG", "off by one"),
        (1, "XXX", "and this"),
    ]
    [line] = comments("a.py", "x = 1  # note\n")
    assert line.trailing and not line.block


def test_trailing_comment_body_needs_deeper_column() -> None:
    source = (
        "x = f()  # TODO: cache this\n"
        "         #   keyed by path\n"
        "# not body: column 2 is not deeper than 11\n"
    )
    [entry] = scan("a.py", source)
    assert entry.column == 11
    assert entry.body == "keyed by path"


# -- bodies ------------------------------------------------------------------


def test_body_is_deeper_lines_dedented() -> None:
    source = (
        "# TODO: make retries configurable\n"
        "#   the default of 3\n"
        "#     is too low\n"
        "#\n"
        "# unrelated: after a blank comment line, only deeper lines go on\n"
    )
    [entry] = scan("a.py", source)
    assert entry.body == "the default of 3\n  is too low"


def test_body_ends_at_non_comment_line() -> None:
    source = "// TODO: a\n//   body\nint x;\n//   not body\n"
    [entry] = scan("a.c", source)
    assert entry.body == "body"


def test_body_ends_at_a_new_tag_line_which_is_its_own_entry() -> None:
    source = "# TODO: first\n#   body one\n#   FIXME: second\n#     body two\n"
    first, second = scan("a.py", source)
    assert (first.title, first.body) == ("first", "body one")
    assert (second.tag, second.title, second.line, second.body) == ("FIXME", "second", 3, "body two")


def test_blank_comment_lines_kept_only_before_deeper_line() -> None:
    source = "# TODO: t\n#   one\n#\n#   two\n#\n#\n# end\n"
    [entry] = scan("a.py", source)
    assert entry.body == "one\n\ntwo"
    source = "# TODO: t\n#   one\n#\n"
    [entry] = scan("a.py", source)
    assert entry.body == "one"


def test_body_in_block_comment_without_decoration() -> None:
    source = "{-\n  TODO: t\n    body\n  same column: body too\n not body\n-}\n"
    [entry] = scan("a.hs", source)
    assert (entry.line, entry.column, entry.body) == (2, 2, "  body\nsame column: body too")


def test_body_does_not_cross_into_another_comment() -> None:
    source = "x = 1  # TODO: a\ny = 2  #   not body: a new trailing comment\n"
    assert [e.body for e in scan("a.py", source)] == [""]


def test_body_keeps_text_as_written() -> None:
    source = "# TODO: t\n#   branch: fix/x  #label\n#     $workflow: wip\n"
    [entry] = scan("a.py", source)
    assert entry.body == "branch: fix/x  #label\n  $workflow: wip"


def test_empty_title_with_body() -> None:
    [entry] = scan("a.py", "# TODO:\n#   all in the body\n")
    assert (entry.title, entry.body) == ("", "all in the body")


# -- TAG(who) and TAG[slug] -------------------------------------------------


def test_who_and_slug() -> None:
    source = "// TODO(alice): with who\n// FIXME[fix-the-thing]: with slug\n"
    first, second = scan("a.js", source)
    assert (first.tag, first.who, first.slug, first.title) == ("TODO", "alice", None, "with who")
    assert (second.tag, second.who, second.slug, second.title) == ("FIXME", None, "fix-the-thing", "with slug")


# -- strings hide markers and tags ---------------------------------------------


def test_c_strings_hide_markers() -> None:
    source = (
        'url = "http://x" // TODO: a\n'
        's = "// TODO: no";\n'
        's = "a \\" // FIXME: escaped quote";\n'
        "c = '\"'; // XXX: after a quote character\n"
        's = "line \\\n// BUG: continued string";\n'
    )
    assert heads("a.c", source) == [(1, "TODO", "a"), (4, "XXX", "after a quote character")]


def test_js_single_quotes_and_templates() -> None:
    source = "a = 'it\\'s // TODO: no'; // FIXME: yes\nb = `\n// TODO: in template\n`;\n"
    assert heads("a.js", source) == [(1, "FIXME", "yes")]


def test_python_strings_and_docstrings_are_not_comments() -> None:
    source = (
        's = "# TODO: no"\n'
        "t = '# FIXME: no'\n"
        'def f():\n'
        '    """TODO: not a comment\n'
        "    # XXX: still the docstring\n"
        '    """\n'
        "    '''\n"
        "    # BUG: single-quoted triple\n"
        "    '''\n"
        "    return 1  # HACK: real\n"
    )
    assert heads("a.py", source) == [(10, "HACK", "real")]


def test_rust_lifetimes_and_haskell_primes_are_not_quotes() -> None:
    assert heads("a.rs", "fn f<'a>(x: &'a str) -> &'a str { x } // TODO: lifetimes\n") == [
        (1, "TODO", "lifetimes")
    ]
    assert heads("a.hs", "f' x' = x' -- TODO: primes\n") == [(1, "TODO", "primes")]


def test_hash_is_not_a_comment_in_css() -> None:
    assert heads("a.css", "#TODO: { color: red }\n/* TODO: real */\n") == [(2, "TODO", "real")]


# -- decoys ------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "# the TODOS list\n",
        "# TODOS: plural\n",
        "# fixmeup helper\n",
        "# the TODO: list\n",
        "# see TODO: later\n",
        "# todo list for the scheduler\n",
        "# TODO:no space after the colon\n",
        "x = TODO: not a comment\n",
    ],
)
def test_decoys_are_not_entries(source: str) -> None:
    assert scan("a.py", source) == []


def test_tag_must_start_every_block_line_to_count() -> None:
    source = "/*\n * Explains why TODO: is mid-line\n * FIXME: this one counts\n */\n"
    assert heads("a.c", source) == [(3, "FIXME", "this one counts")]


def test_text_without_any_tag_is_skipped() -> None:
    assert scan("a.c", "/* nothing */\n// here\n") == []


# -- tabs and columns ----------------------------------------------------------


def test_columns_expand_tabs_to_eight() -> None:
    source = "\t// TODO: tabbed\n\t//\tbody after a tab\n"
    [entry] = scan("a.c", source)
    assert entry.column == 11  # tab -> 8, then "// "
    assert entry.body == "body after a tab"  # text column 16 is deeper than 11


def test_column_of_trailing_comment_with_tabs() -> None:
    [entry] = scan("a.go", "x := 1\t// TODO: t\n")
    assert entry.column == 11  # "x := 1" is 6 columns, tab to 8, then "// "
    [entry] = scan("a.py", "    # TODO: indented\n")
    assert entry.column == 6


def test_columns_after_tabs_later_in_the_line() -> None:
    lines = comments("a.c", "x\t/* a */\t// b\n")
    assert [(c.text, c.column) for c in lines] == [("a", 11), ("b", 19)]
    [entry] = scan("a.c", "ab\t\tc; /*\tTODO: tab inside */\n")
    assert entry.column == 24  # "ab", tab to 8, tab to 16, "c; /*" to 21, tab to 24


# -- the lexer's view -----------------------------------------------------------


def test_comment_lines_fields() -> None:
    source = "int x; // a\n// b\n\n/* c\n *   d\n */\n"
    lines = comments("a.c", source)
    assert [(c.line, c.column, c.text, c.block, c.trailing) for c in lines] == [
        (1, 10, "a", False, True),
        (2, 3, "b", False, False),
        (4, 3, "c", True, False),
        (5, 5, "d", True, False),
        (6, 1, "", True, False),
    ]
    ids = [c.comment_id for c in lines]
    assert ids[0] == ids[1]  # a trailing comment and the line comment below it form a run
    assert ids[2] == ids[3] == ids[4] != ids[1]


def test_runs_of_line_comments_break_at_gaps() -> None:
    lines = comments("a.py", "# a\n# b\nx = 1\n# c\n\n# d\n")
    assert [c.text for c in lines] == ["a", "b", "c", "d"]
    ids = [c.comment_id for c in lines]
    assert ids[0] == ids[1] and len(set(ids)) == 3


def test_block_comment_inside_code_line() -> None:
    [line] = comments("a.c", "f(/* TODO: inline */ x);\n")
    assert (line.text, line.column, line.trailing) == ("TODO: inline", 5, True)


# -- commented-out code --------------------------------------------------------


def test_comments_inside_a_block_comment_keep_their_tags() -> None:
    source = (
        "/* FIXME: old implementation\n"
        "// TODO: inner line comment\n"
        "//     its body\n"
        "call();  // BUG: trailing inside the block\n"
        "/* XXX: stray opener\n"
        "   done */\n"
    )
    entries = scan("a.c", source)
    assert [(e.line, e.tag, e.title) for e in entries] == [
        (1, "FIXME", "old implementation"),
        (2, "TODO", "inner line comment"),
        (4, "BUG", "trailing inside the block"),
        (5, "XXX", "stray opener"),
    ]
    assert entries[1].body == "its body"


# -- robustness -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path, source, expected",
    [
        ("a.c", 's = "never closed // TODO: no\n// FIXME: next line\n', [(2, "FIXME", "next line")]),
        ("a.c", "int x;\n/* never closed\n * TODO: inside\n", [(3, "TODO", "inside")]),
        ("a.c", "/* TODO: at eof", [(1, "TODO", "at eof")]),
        ("a.py", 's = """never closed # TODO: no\n# FIXME: next line\n', [(2, "FIXME", "next line")]),
        ("a.py", "x = '", []),
        ("a.hs", "{- {- TODO: unbalanced\n", [(1, "TODO", "unbalanced")]),
        ("a.js", "t = `open template // TODO: no\n// FIXME: next\n", [(2, "FIXME", "next")]),
        ("a.sh", "cat <<EOF\n# TODO: heredoc never ends\n", [(2, "TODO", "heredoc never ends")]),
        ("a.cpp", 'R"x( // TODO: no\n// FIXME: next\n', [(2, "FIXME", "next")]),
        ("a.lua", "--[[ TODO: long\n", [(1, "TODO", "long")]),
        ("a.c", "", []),
        ("a.c", "\n\n", []),
    ],
)
def test_unterminated_constructs(path: str, source: str, expected: list[tuple[int, str, str]]) -> None:
    assert heads(path, source) == expected


def test_many_unterminated_openers_stay_fast() -> None:
    source = ('x = "\n' + "/* TODO: y\n" + "'\n") * 3000
    started = time.perf_counter()
    entries = scan("a.c", source)
    assert time.perf_counter() - started < 2.0
    # The first /* never closes, so the rest is one comment whose every
    # "/* TODO: y" line reads as a tag line (a stray opener is decoration).
    assert [e.line for e in entries] == list(range(2, 3 * 3000, 3))
    assert len({e.column for e in entries}) == 1


def test_long_minified_line_with_many_comments_is_linear() -> None:
    source = "var a=1;/* TODO: c */x('s');\t" * 30000 + "\n"  # ~0.9 MB on one line
    started = time.perf_counter()
    entries = scan("a.js", source)
    assert time.perf_counter() - started < 2.0
    assert len(entries) == 30000
    assert entries[1].column == 43  # 28 characters, tab to 32, then "var a=1;/* "


def test_large_input_is_lexed_quickly() -> None:
    chunk = (
        'int f(void) { return g("a // b", \'"\'); }  /* note */\n'
        "// FIXME: x\n"
        "    s = 'it''s';\n"
    )
    source = chunk * 20000  # ~1.7 MB
    started = time.perf_counter()
    entries = scan("a.c", source)
    assert time.perf_counter() - started < 2.0
    assert len(entries) == 20000
    assert entries[-1].line == 3 * 20000 - 1
