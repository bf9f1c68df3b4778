"""Tests for body parsing: fields, attributes, labels and code contexts."""

from __future__ import annotations

import textwrap
import time

import pytest

from fixme.scan.body import BodyInfo, parse_body

FIELDS = ["branch", "commit", "assigned", "Reviewer"]


def parse(body: str, title: str = "") -> BodyInfo:
    return parse_body(title, textwrap.dedent(body).strip("\n"), FIELDS)


def test_example_bodies():
    todo = parse("""
        Refs are rewritten in place; a crash mid-write loses the head.
        $$$ (set workflow backlog)
        #storage #durability
    """, title="atomic-ref-update")
    assert todo == BodyInfo(fields={}, attrs={"workflow": "backlog"}, labels=["storage", "durability"], context=[])

    pr = parse("""
        branch: fix/atomic-refs
        commit: 4f1c2d9e0a7b
        Writes to a temp file and renames.
    """)
    assert pr.fields == {"branch": "fix/atomic-refs", "commit": "4f1c2d9e0a7b"}
    assert pr.attrs == {} and pr.labels == [] and pr.context == []

    fixme = parse("($context (commit 9a8b7c6) (file src/peers.py 42))")
    assert fixme.context == [{"commit": "9a8b7c6", "path": "src/peers.py", "line": 42}]


def test_empty_body():
    assert parse_body("", "", FIELDS) == BodyInfo(fields={}, attrs={}, labels=[], context=[])


# -- fields --------------------------------------------------------------------


def test_fields_indented_and_case_insensitive():
    info = parse("""
          BRANCH: feature-x
        \tAssigned:   ada  
        reviewer: bob
        commit: 1a2b3c
    """)
    assert info.fields == {"branch": "feature-x", "assigned": "ada", "Reviewer": "bob", "commit": "1a2b3c"}


def test_later_field_lines_win():
    info = parse("""
        assigned: ada
        assigned: grace
    """)
    assert info.fields == {"assigned": "grace"}


@pytest.mark.parametrize(
    "line",
    [
        "status: unknown key",
        "see branch: mid-line",
        "- branch: in a bullet",
        "branch:",
        "branch:   ",
        "http://example.com",
        "branch : space before colon",
        "commit:glued",
    ],
)
def test_not_a_field(line):
    assert parse(line).fields == {}


def test_field_value_keeps_inner_colons_and_spaces():
    info = parse("branch: release: v1  final")
    assert info.fields == {"branch": "release: v1  final"}


def test_field_names_may_be_any_collection():
    info = parse_body("", "Branch: x\nowner: y", {"BRANCH", "owner"})
    assert info.fields == {"BRANCH": "x", "owner": "y"}


# -- attributes ----------------------------------------------------------------


def test_dollar_attribute():
    info = parse("""
        $workflow: wip
          $priority:   high  
    """)
    assert info.attrs == {"workflow": "wip", "priority": "high"}


def test_set_directive_token_and_quoted():
    info = parse("""
        $$$ (set workflow backlog)
        $$$(set owner "Ada Lovelace")
        $$$ ( set note "say \\"hi\\" \\\\ bye" )
    """)
    assert info.attrs == {"workflow": "backlog", "owner": "Ada Lovelace", "note": 'say "hi" \\ bye'}


def test_later_attribute_lines_win_across_forms():
    info = parse("""
        $workflow: backlog
        $$$ (set workflow wip)
        $workflow: done
    """)
    assert info.attrs == {"workflow": "done"}
    info = parse("""
        $workflow: done
        $$$ (set workflow wip)
    """)
    assert info.attrs == {"workflow": "wip"}


@pytest.mark.parametrize(
    "line",
    [
        "$$$ (set workflow)",
        "$$$ (set)",
        "$$$ (set workflow wip",
        "$$$ set workflow wip",
        "$$$ (set workflow two words)",
        '$$$ (set workflow "unterminated)',
        "$$$ (unset workflow)",
        "$$$ (set workflow wip) trailing",
        "$workflow:",
        "$: value",
        "$1abc: value",
        "$$workflow: wip",
        "text $workflow: wip",
        "$",
        "$$$",
        "(set workflow wip)",
    ],
)
def test_malformed_directives_are_ignored(line):
    info = parse(line)
    assert info.attrs == {}
    assert info.fields == {}


def test_attribute_lines_are_not_fields():
    info = parse_body("", "$branch: x", ["branch"])
    assert (info.attrs, info.fields) == ({"branch": "x"}, {})


def test_directives_after_the_body_set_attributes_and_win():
    # A devlog's fenced `$$$` block comes after the body, so it is the later line.
    info = parse_body("t", "$workflow: wip\n$owner: ann\nbranch: x", FIELDS,
                      ["$$$ (set workflow backlog)", "not a directive", "branch: y"])
    assert info.attrs == {"workflow": "backlog", "owner": "ann"}
    assert info.fields == {"branch": "x"}  # only attribute lines are taken from directives


# -- labels --------------------------------------------------------------------


def test_labels_from_title_then_body_deduplicated():
    info = parse("#durability and #storage again #storage", title="fix #storage writes")
    assert info.labels == ["storage", "durability"]


def test_label_characters():
    info = parse("#a1_b-c/d.e #v2.0 #end. #x... (#paren) #comma, #Δelta")
    assert info.labels == ["a1_b-c/d.e", "v2.0", "end", "x", "paren", "comma", "Δelta"]


@pytest.mark.parametrize(
    "text",
    [
        "# Heading",
        "## 2024-03-02",
        "fixes #123",
        "#_under",
        "#-dash",
        "&#x20; &#X41;",
        "C# and F#",
        "see url#frag and http://x.org/page#anchor and http://x.org/#top",
        "##double",
        "#",
        "# #",
    ],
)
def test_not_labels(text):
    assert parse(text).labels == []


def test_label_at_line_start_and_after_punctuation():
    info = parse("#first\n(#second) [#third] \"#fourth\"\tend:#fifth")
    assert info.labels == ["first", "second", "third", "fourth", "fifth"]


# -- contexts ------------------------------------------------------------------


def test_context_components_in_any_order():
    info = parse("($context (file lib/a.py 7) (commit abc123))")
    assert info.context == [{"commit": "abc123", "path": "lib/a.py", "line": 7}]


def test_context_with_missing_parts():
    info = parse("""
        ($context (commit abc123))
        ($context (file lib/b.py 9))
        ($context (file lib/c.py))
    """)
    assert info.context == [
        {"commit": "abc123"},
        {"path": "lib/b.py", "line": 9},
        {"path": "lib/c.py"},
    ]


def test_several_contexts_on_one_line_and_with_text_around():
    info = parse("moved: ($context (commit a1) (file x.py 1)) then ($context (commit b2) (file y.py 2)).")
    assert info.context == [
        {"commit": "a1", "path": "x.py", "line": 1},
        {"commit": "b2", "path": "y.py", "line": 2},
    ]


def test_context_quoted_path_and_spread_over_lines():
    info = parse("""
        ($context
          (file "src/my (odd) file.py" 12)
          (commit 9a8b7c6))
    """)
    assert info.context == [{"commit": "9a8b7c6", "path": "src/my (odd) file.py", "line": 12}]


def test_context_unknown_components_are_skipped():
    info = parse("($context (branch main) (commit abc) (file a.py 3 extra))")
    assert info.context == [{"commit": "abc"}]


def test_context_later_component_of_same_kind_wins():
    info = parse("($context (commit old) (commit new))")
    assert info.context == [{"commit": "new"}]


@pytest.mark.parametrize(
    "text",
    [
        "($context)",
        "($context )",
        "($context (commit abc)",
        "($context (commit abc) junk)",
        "($context (commit abc (nested)))",
        "($context (file a.py notanumber))",
        "($context (file a.py 0))",
        "($context (file a.py -3))",
        "($context (file a.py 99999999999999999999999999))",
        "($context (commit))",
        "($context (file))",
        "($context (file \"unterminated 3))",
        "($contextual (commit abc))",
        "$context (commit abc)",
        "(context (commit abc))",
    ],
)
def test_malformed_contexts_are_ignored(text):
    assert parse(text).context == []


def test_malformed_context_does_not_hide_a_following_good_one():
    info = parse("($context (commit a) ($context (commit b))")
    assert info.context == [{"commit": "b"}]


def test_context_line_number_with_many_digits_does_not_raise():
    info = parse("($context (file a.py " + "9" * 5000 + "))")
    assert info.context == []


# -- robustness ----------------------------------------------------------------


def test_large_hostile_body_is_linear():
    body = "($context (commit a) (file \"x" * 20000 + "\n" + "#" * 100000 + "$$$ (set " * 20000
    body += "\n" + "($context " * 50000
    start = time.perf_counter()
    info = parse_body("#t", body, FIELDS)
    assert info.labels == ["t"]
    assert info.context == []
    assert time.perf_counter() - start < 1.0
