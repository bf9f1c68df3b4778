"""Tests for the prose grammar: devlog entries, dated headings, task lists, rst.

Most tests call the grammar directly; the ones at the end scan real git
repositories with the CLI, as a user would.
"""

from __future__ import annotations

import glob
import json
import textwrap
import time

import pytest

from fixme.scan.model import DEVLOG, TASKLIST
from fixme.scan.prose import scan_prose
from fixme.scan.tags import TagSyntax

TAGS = TagSyntax(["TODO", "FIXME", "XXX", "HACK", "BUG", "PR", "REVIEW", "NOTE"])
CORPUS = sorted(glob.glob("/work/shared/corpus/*.txt"))


def scan(text: str, *, markdown: bool = True, rst: bool = False):
    return scan_prose(textwrap.dedent(text).lstrip("\n"), TAGS, markdown=markdown, rst=rst)


def scan_rst(text: str):
    """As the scanner reads a .rst file."""
    return scan(text, markdown=False, rst=True)


def summary(entries):
    return [(e.tag, e.title, e.line) for e in entries]


# -- devlog entries ------------------------------------------------------------

EXAMPLE = """\
# Devlog

## 2024-03-02

TODO: atomic-ref-update
  Refs are rewritten in place; a crash mid-write loses the head.
  $$$ (set workflow backlog)
  #storage #durability

PR: atomic-ref-update
  branch: fix/atomic-refs
  commit: 4f1c2d9e0a7b
  Writes to a temp file and renames.

## 2024-03-05
FIXME: peer list is not persisted between runs
  ($context (commit 9a8b7c6) (file src/peers.py 42))
"""


def test_example_devlog():
    todo, pr, fixme = scan_prose(EXAMPLE, TAGS)
    assert (todo.tag, todo.title, todo.line, todo.column) == ("TODO", "atomic-ref-update", 5, 0)
    assert todo.source == DEVLOG
    assert todo.body == (
        "Refs are rewritten in place; a crash mid-write loses the head.\n"
        "$$$ (set workflow backlog)\n"
        "#storage #durability"
    )
    assert todo.devlog_date == "2024-03-02"
    assert (pr.tag, pr.line, pr.devlog_date) == ("PR", 10, "2024-03-02")
    assert pr.body.splitlines()[0] == "branch: fix/atomic-refs"
    assert (fixme.tag, fixme.line, fixme.devlog_date) == ("FIXME", 16, "2024-03-05")
    assert fixme.title == "peer list is not persisted between runs"
    assert fixme.body == "($context (commit 9a8b7c6) (file src/peers.py 42))"
    assert all(e.warnings == [] and not e.done for e in (todo, pr, fixme))


def test_who_and_slug_forms():
    who, slug = scan("""
        TODO(ada): write the docs
        FIXME[peer-list]: peers are forgotten
    """)
    assert (who.tag, who.who, who.title) == ("TODO", "ada", "write the docs")
    assert (slug.tag, slug.slug, slug.title) == ("FIXME", "peer-list", "peers are forgotten")


def test_body_ends_at_line_indented_no_deeper():
    first, second = scan("""
        TODO: first
          one
            two
        after the body
        NOTE: second
    """)
    assert first.body == "one\n  two"
    assert second.body == ""


def test_body_ends_at_same_indentation_as_indented_tag():
    (entry,) = scan("""
        Some notes:
          TODO: indented
            body line
          same depth as the tag
            not body, the entry has ended
    """)
    assert entry.column == 2
    assert entry.body == "body line"


def test_body_ends_at_two_blank_lines():
    (entry,) = scan("TODO: x\n  kept\n\n\n  dropped\n  also dropped\n")
    assert entry.body == "kept"


def test_many_blank_lines_end_the_body():
    (entry,) = scan_prose("TODO: x\n  kept\n" + "\n" * 500 + "  dropped\n", TAGS)
    assert entry.body == "kept"


def test_single_blank_line_inside_body_is_kept():
    (entry,) = scan("TODO: x\n  para one\n\n  para two\n")
    assert entry.body == "para one\n\npara two"


def test_trailing_blank_lines_dropped():
    first, second = scan("TODO: x\n  text\n\nFIXME: y\n  text\n\n")
    assert first.body == "text"
    assert second.body == "text"


def test_whitespace_only_lines_count_as_blank():
    (entry,) = scan_prose("TODO: x\n  a\n   \n\t\n  b\n", TAGS)
    assert entry.body == "a"


def test_tag_line_ends_body_and_starts_new_entry():
    first, second = scan("""
        TODO: outer
          body
          FIXME: inner
            inner body
          outer again?
    """)
    assert summary([first, second]) == [("TODO", "outer", 1), ("FIXME", "inner", 3)]
    assert first.body == "body"
    assert second.body == "inner body"
    assert second.column == 2


def test_body_dedented_by_common_indentation_kept_otherwise():
    (entry,) = scan("""
        TODO: x
              deep
            less deep
                middle   with  spacing  
    """)
    assert entry.body == "  deep\nless deep\n    middle   with  spacing  "


def test_line_numbers_and_columns_are_exact():
    entries = scan_prose("\n\n    TODO: four\n\n\nNOTE: six\n", TAGS)
    assert [(e.line, e.column) for e in entries] == [(3, 4), (6, 0)]


def test_entry_at_end_without_newline():
    (entry,) = scan_prose("TODO: last\n  body", TAGS)
    assert (entry.title, entry.body) == ("last", "body")


def test_empty_title_is_still_an_entry():
    (entry,) = scan_prose("TODO:\n  body\n", TAGS)
    assert (entry.title, entry.body) == ("", "body")


# -- tabs ----------------------------------------------------------------------


def test_tabs_expand_to_eight_columns():
    # The tag is at column 8 (one tab); a body line at 4 spaces is shallower
    # and ends it, a body line at tab + 2 spaces is deeper and belongs to it.
    entries = scan_prose("\tTODO: tabbed\n\t  body\n    ends\n", TAGS)
    assert [(e.column, e.body) for e in entries] == [(8, "body")]


def test_tab_body_dedent_keeps_inner_tabs():
    (entry,) = scan_prose("TODO: x\n\tone\n\t\ttwo\n        three\n\tfour\tfive\n", TAGS)
    assert entry.body == "one\n\ttwo\nthree\nfour\tfive"


def test_mixed_tabs_and_spaces_same_column():
    # "  \t" and "\t" both reach column 8; "\t  " reaches 10.
    (entry,) = scan_prose("  \tTODO: x\n\t  body\n\tends here\n", TAGS)
    assert entry.column == 8
    assert entry.body == "body"


def test_mixed_tabs_and_spaces_deeper():
    (entry,) = scan_prose("  \tTODO: x\n\t   body\n\t\tmore\n", TAGS)
    assert entry.column == 8
    assert entry.body == "body\n     more"


def test_tab_straddling_common_indent_becomes_spaces():
    (entry,) = scan_prose("TODO: x\n   a\n\tb\n", TAGS)
    assert entry.body == "a\n     b"


# -- tags only at the start of a line -----------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "see the TODO: list",
        "TODOS: not a tag",
        "TODO without colon",
        "todo: lower case",
        "- TODO: bullet without checkbox",
        "> TODO: quoted",
        "`TODO: code span`",
        "xTODO: glued",
        "TODO:glued title",
    ],
)
def test_not_an_entry(line):
    assert scan_prose(line + "\n", TAGS) == []


# -- dated headings ------------------------------------------------------------


def test_dated_headings_apply_until_next_dated_heading():
    entries = scan("""
        TODO: before any heading
        # 2024-01-01
        TODO: a
        ### Not a date
        TODO: b
        ###### 2024-02-29 leap day, with notes
        TODO: c
        ## 2024-03-02: release
        - [ ] task
    """)
    assert [(e.title, e.devlog_date) for e in entries] == [
        ("before any heading", None),
        ("a", "2024-01-01"),
        ("b", "2024-01-01"),
        ("c", "2024-02-29"),
        ("task", "2024-03-02"),
    ]
    assert all(e.warnings == [] for e in entries)


def test_impossible_date_is_kept_with_warning():
    entries = scan("""
        ## 2023-14-08
        TODO: a
        TODO: b
        ## 2023-02-29
        TODO: c
        ## 2023-03-01
        TODO: d
    """)
    assert [e.devlog_date for e in entries] == ["2023-14-08", "2023-14-08", "2023-02-29", "2023-03-01"]
    assert len(entries[0].warnings) == 1
    assert "2023-14-08" in entries[0].warnings[0]
    assert entries[1].warnings == entries[0].warnings
    assert entries[1].warnings is not entries[0].warnings
    assert "2023-02-29" in entries[2].warnings[0]
    assert entries[3].warnings == []


@pytest.mark.parametrize(
    "heading",
    ["####### 2024-05-05", "##2024-05-05", "## on 2024-05-05", "## 2024-5-5", "## 2024-05-055", "    ## 2024-05-05"],
)
def test_not_a_dated_heading(heading):
    (entry,) = scan_prose(f"## 2024-01-01\n{heading}\nTODO: x\n", TAGS)
    assert entry.devlog_date == "2024-01-01"


def test_heading_like_line_inside_body_is_body_text():
    entries = scan_prose("## 2024-01-01\nTODO: x\n  ## 2024-09-09\nTODO: y\n", TAGS)
    assert [(e.body, e.devlog_date) for e in entries] == [("## 2024-09-09", "2024-01-01"), ("", "2024-01-01")]


# -- fenced code ---------------------------------------------------------------


def test_fenced_code_is_ignored():
    entries = scan("""
        ```python
        # TODO: example in code
        TODO: example line
        - [ ] example task
        ## 2030-01-01
        ```
        ~~~~
        FIXME: in a tilde fence
        ~~~ still inside (a closing fence has no info string and is long enough)
        ~~~~
        TODO: real
    """)
    assert summary(entries) == [("TODO", "real", 11)]
    assert entries[0].devlog_date is None


def test_backtick_fence_needs_matching_length():
    entries = scan("""
        ````
        ```
        TODO: still inside
        ````
        TODO: outside
    """)
    assert summary(entries) == [("TODO", "outside", 5)]


def test_inline_backticks_are_not_a_fence():
    entries = scan_prose("```inline``` code\nTODO: counted\n", TAGS)
    assert summary(entries) == [("TODO", "counted", 2)]


def test_unclosed_fence_runs_to_end():
    assert scan_prose("```\nTODO: x\n", TAGS) == []


def test_fence_inside_body_is_body_text():
    (entry,) = scan("""
        TODO: x
          Example:
          ```
          TODO: not an entry
          ```
          after
    """)
    assert entry.body == "Example:\n```\nTODO: not an entry\n```\nafter"


def test_fences_are_plain_text_without_markdown():
    entries = scan_prose("```\nTODO: counted\n```\n", TAGS, markdown=False)
    assert summary(entries) == [("TODO", "counted", 2)]


# -- task lists ----------------------------------------------------------------


def test_task_items_open_and_done():
    entries = scan("""
        - [ ] open dash
        * [x] done star
        + [X] done plus
        1. [ ] numbered
        12) [x] numbered paren
            - [ ] indented
    """)
    assert [(e.title, e.done, e.tag, e.source) for e in entries] == [
        ("open dash", False, "TODO", TASKLIST),
        ("done star", True, "TODO", TASKLIST),
        ("done plus", True, "TODO", TASKLIST),
        ("numbered", False, "TODO", TASKLIST),
        ("numbered paren", True, "TODO", TASKLIST),
        ("indented", False, "TODO", TASKLIST),
    ]
    assert [e.column for e in entries] == [0, 0, 0, 0, 0, 4]


@pytest.mark.parametrize("line", ["- [ ]", "- [ ]   ", "- []  x", "- [y] x", "-[ ] x", "- [ ]x", "[ ] x",
                                  "- [~] in progress", "- [-] cancelled", "- [?] maybe", "* [/] half done",
                                  "1. [~] numbered"])
def test_not_a_task(line):
    assert scan_prose(line + "\n", TAGS) == []


def test_non_standard_boxes_are_body_text_of_a_real_task():
    # Some editors write [~], [-] or [?] for states GitHub does not know; they
    # are plain list items, so under a real task they are its body.
    (task,) = scan("""
        - [ ] migrate the store
          - [~] copy the blocks
          - [-] keep the old format
          - [?] compress
    """)
    assert task.body == "- [~] copy the blocks\n- [-] keep the old format\n- [?] compress"


def test_task_starting_with_tag():
    entries = scan("""
        - [ ] FIXME: broken thing
        - [x] PR(ada): merged thing
        - [ ] TODO[slugged]: with slug
        - [ ] FIXMEs: are not tags
    """)
    assert [(e.tag, e.title, e.who, e.slug, e.done, e.source) for e in entries] == [
        ("FIXME", "broken thing", None, None, False, TASKLIST),
        ("PR", "merged thing", "ada", None, True, TASKLIST),
        ("TODO", "with slug", None, "slugged", False, TASKLIST),
        ("TODO", "FIXMEs: are not tags", None, None, False, TASKLIST),
    ]


def test_task_body_and_nesting():
    parent, child, sibling = scan("""
        - [ ] parent
          parent body
          - [x] child
            child body

          parent again
        - [ ] sibling
        not body
    """)
    assert (parent.title, parent.body) == ("parent", "parent body\n\nparent again")
    assert (child.title, child.done, child.line, child.column) == ("child", True, 3, 2)
    assert child.body == "child body"
    assert (sibling.title, sibling.body) == ("sibling", "")


def test_plain_bullets_under_a_task_are_body():
    (task,) = scan("""
        - [ ] task
          - plain bullet
          * another
    """)
    assert task.body == "- plain bullet\n* another"


def test_task_items_inside_devlog_body():
    todo, step1, step2 = scan("""
        TODO: refactor
          Steps:
          - [x] one
          - [ ] two
          Notes after.
    """)
    assert (todo.body, step1.done, step2.done) == ("Steps:\nNotes after.", True, False)
    assert [e.source for e in (todo, step1, step2)] == [DEVLOG, TASKLIST, TASKLIST]


def test_task_body_ends_at_two_blank_lines():
    (task,) = scan("- [ ] t\n  kept\n\n\n  dropped\n")
    assert task.body == "kept"


def test_task_lists_in_plain_text():
    entries = scan_prose("- [ ] txt task\n", TAGS, markdown=False)
    assert summary(entries) == [("TODO", "txt task", 1)]


# -- emphasised tags -----------------------------------------------------------


@pytest.mark.parametrize(
    "line, tag, who, slug",
    [
        ("**TODO:** write the upgrade notes", "TODO", None, None),
        ("**TODO**: write the upgrade notes", "TODO", None, None),
        ("*TODO*: write the upgrade notes", "TODO", None, None),
        ("*TODO:* write the upgrade notes", "TODO", None, None),
        ("**FIXME(ada):** write the upgrade notes", "FIXME", "ada", None),
        ("**HACK[upgrade]**: write the upgrade notes", "HACK", None, "upgrade"),
        ("  **TODO:**\twrite the upgrade notes", "TODO", None, None),
    ],
)
@pytest.mark.parametrize("markup", [{"markdown": True}, {"markdown": False}, {"markdown": False, "rst": True}],
                         ids=["markdown", "text", "rst"])
def test_emphasised_tag_at_line_start_is_an_entry(line, tag, who, slug, markup):
    (entry,) = scan_prose(line + "\n    body\n", TAGS, **markup)
    assert (entry.tag, entry.title, entry.who, entry.slug) == (tag, "write the upgrade notes", who, slug)
    assert (entry.source, entry.body) == (DEVLOG, "body")


def test_emphasised_tag_with_no_title():
    (entry,) = scan_prose("**TODO**:\n", TAGS)
    assert (entry.tag, entry.title) == ("TODO", "")


@pytest.mark.parametrize(
    "line",
    [
        "**TODO: the whole sentence in bold**",  # emphasised prose, not a tag head
        "**TODO** without a colon",
        "**TODO:**glued",
        "**TODO**:glued",
        "**TODO :** spaced",
        "***TODO***: three stars",
        "**TODO*: unbalanced",
        "**todo**: lower case",
        "**TODOS**: not a tag",
        "* TODO: a bullet, not emphasis",
        "- **TODO**: in a bullet",
        "> **TODO:** quoted",
        "Text, then **TODO:** mid-line",
        "**Note**: not a configured spelling",
    ],
)
def test_emphasis_that_is_not_an_entry(line):
    assert scan_prose(line + "\n", TAGS) == []


def test_emphasised_tag_in_a_fence_is_an_example():
    assert scan("""
        ```markdown
        **TODO:** example
        ```
    """) == []


def test_task_text_may_start_with_an_emphasised_tag():
    (task,) = scan("- [x] **FIXME(bob):** the retry loop\n")
    assert (task.tag, task.who, task.title, task.done) == ("FIXME", "bob", "the retry loop", True)
    assert task.source == TASKLIST


# -- reStructuredText ----------------------------------------------------------

GUIDE_RST = """\
Sync guide
==========

.. TODO: explain-peer-discovery
   The LAN broadcast is not described anywhere yet.

Peers find each other by UDP broadcast.

.. FIXME(ada): the port number below is wrong

.. todo: say what happens behind NAT

Committing
----------

Standard acronyms to start the commit message with are::

    API: an (incompatible) API change
    BUG: bug fix
    TODO: not an entry, an example
    - [ ] nor is this task
    .. todo:: nor this directive

.. todo::

   Document the record format
   for third-party tools.

   It changed in 0.4.

.. TODO:: a second todo directive, with its title inline
   :class: urgent

.. code-block:: python
   :caption: example

   # TODO: in a code directive
   TODO: also code

FIXME: after the code, an entry again
"""


def test_rst_guide():
    entries = scan_rst(GUIDE_RST)
    assert [(e.tag, e.title, e.line) for e in entries] == [
        ("TODO", "explain-peer-discovery", 4),
        ("FIXME", "the port number below is wrong", 9),
        ("TODO", "say what happens behind NAT", 11),
        ("TODO", "Document the record format", 24),  # a directive's line is the `.. todo::` line
        ("TODO", "a second todo directive, with its title inline", 31),
        ("FIXME", "after the code, an entry again", 40),
    ]
    comment, who, _, directive, inline, _ = entries
    assert comment.body == "The LAN broadcast is not described anywhere yet."
    assert comment.column == 3  # the tag's column, after ".. "
    assert who.who == "ada"
    assert directive.body == "for third-party tools.\n\nIt changed in 0.4."
    assert inline.body == ""  # the :class: option is not content
    assert all(e.source == DEVLOG for e in entries)


def test_rst_forms_are_rst_only():
    # In markdown and plain text, `..` is just text: no comment, no directive.
    text = ".. TODO: a comment\n.. todo:: a directive\n"
    assert scan_prose(text, TAGS) == []
    assert scan_prose(text, TAGS, markdown=False) == []
    assert len(scan_prose(text, TAGS, markdown=False, rst=True)) == 2


@pytest.mark.parametrize(
    "line",
    [
        "..TODO: glued to the marker",
        ".. TODOS: not a tag",
        ".. todo:no space",
        ".. note:: TODO: inside another directive's argument",
        ".. _todo: https://example.org/todo",
        ".. |todo| replace:: TODO: substitution",
        ".. see TODO: not at the start of the comment",
        ".. todo::glued",
    ],
)
def test_rst_markup_that_is_not_an_entry(line):
    assert scan_rst(line + "\n") == []


def test_rst_comment_takes_any_case_and_reports_the_configured_spelling():
    entries = scan_rst(".. todo: a\n.. Fixme(ann): b\n.. fixme[peer-list]: c\n")
    assert [(e.tag, e.title, e.who, e.slug) for e in entries] == [
        ("TODO", "a", None, None), ("FIXME", "b", "ann", None), ("FIXME", "c", None, "peer-list")]


def test_todo_directive_title_from_first_content_line():
    (entry,) = scan_rst("""
        .. todo::
           :class: later
           :name: record-format

           Document the record format
           for third-party tools.
        Not content.
    """)
    assert (entry.tag, entry.title, entry.line, entry.body) == ("TODO", "Document the record format", 1,
                                                                "for third-party tools.")


def test_todo_directive_content_may_start_with_a_tag_head():
    same_line, next_line = scan_rst("""
        .. todo:: FIXME(ada): the record format
        .. todo::

           PR: record-format
           branch: docs/records
    """)
    assert (same_line.tag, same_line.who, same_line.title) == ("FIXME", "ada", "the record format")
    assert (next_line.tag, next_line.title, next_line.body) == ("PR", "record-format", "branch: docs/records")


def test_todo_directive_is_tagged_todo_in_any_case_and_indented():
    entries = scan_rst("""
        Section
          .. TODO:: upper
          .. Todo:: capitalised
          .. todo::
    """)
    assert [(e.tag, e.title, e.column) for e in entries] == [("TODO", "upper", 2), ("TODO", "capitalised", 2),
                                                             ("TODO", "", 2)]


def test_rst_literal_block_is_skipped_until_indentation_returns():
    entries = scan_rst("""
        Example::

            TODO: literal

              BUG: deeper, still literal
        TODO: outside again
    """)
    assert summary(entries) == [("TODO", "outside again", 6)]


def test_rst_literal_block_expanded_and_bare_forms():
    entries = scan_rst("""
        Paragraph: ::

            TODO: literal after an expanded-form marker

        ::

            TODO: literal after a bare marker

        TODO: prose
    """)
    assert summary(entries) == [("TODO", "prose", 9)]


def test_rst_double_colon_without_an_indented_block_is_plain_text():
    entries = scan_rst("""
        Use C++ namespaces like std::

        TODO: not indented, so not literal
          body
    """)
    assert [(e.title, e.body) for e in entries] == [("not indented, so not literal", "body")]


def test_rst_literal_block_in_a_list_item_ends_at_the_item_text():
    entries = scan_rst("""
        - Build it with::

              TODO: literal

          TODO: the item's own text, not literal
    """)
    assert summary(entries) == [("TODO", "the item's own text, not literal", 5)]


@pytest.mark.parametrize("directive", ["code-block:: c", "code:: python", "sourcecode:: sh", "Code-Block::",
                                       "doctest::", "testoutput::", "parsed-literal::"])
def test_rst_code_directives_are_skipped(directive):
    entries = scan_rst(f"""
        .. {directive}
           :linenos:

           TODO: code
           .. todo:: code too
        TODO: prose
    """)
    assert summary(entries) == [("TODO", "prose", 6)]


def test_rst_other_directives_hold_prose():
    (entry,) = scan_rst("""
        .. note::

           TODO: an entry inside a note
    """)
    assert (entry.title, entry.column) == ("an entry inside a note", 3)


def test_rst_literal_block_inside_a_body_is_body_text():
    (entry,) = scan_rst("""
        .. TODO: add a sync example

           Like this::

              fixme sync
              TODO: literal, not an entry

           back in the body
    """)
    assert entry.body == "Like this::\n\n   fixme sync\n   TODO: literal, not an entry\n\nback in the body"


def test_markdown_fences_are_text_in_rst():
    entries = scan_rst("```\nTODO: rst has no fences\n```\n")
    assert summary(entries) == [("TODO", "rst has no fences", 2)]


# -- directives after an entry -------------------------------------------------

DEVLOG_WITH_DIRECTIVES = """\
# Devlog

## 2024-03-02

TODO: atomic-ref-update

```
$$$ (set workflow backlog)
```

  HEAD is rewritten in place.

FIXME: peer-list-lost
  Peers are forgotten on restart.
$workflow: wip

## 2024-03-01

```
$$$ (set workflow done)
```

TODO: older-entry
"""


def test_directive_fenced_or_unindented_after_an_entry_applies_to_it():
    atomic, peers, older = scan_prose(DEVLOG_WITH_DIRECTIVES, TAGS)
    assert atomic.directives == ["$$$ (set workflow backlog)"]
    assert atomic.body == ""  # the fence ended the body; the directive is kept apart from it
    assert (peers.body, peers.directives) == ("Peers are forgotten on restart.", ["$workflow: wip"])
    # The fenced directive below "## 2024-03-01" has no entry above it in its section.
    assert older.directives == []


def test_directive_goes_to_the_nearest_entry_above():
    first, second = scan("""
        TODO: first
        TODO: second
          body

        ~~~
        $owner: ann
        ~~~
        $$$ (set workflow wip)
    """)
    assert (first.directives, second.directives) == ([], ["$owner: ann", "$$$ (set workflow wip)"])


def test_directive_after_a_task_applies_to_the_task():
    parent, child = scan("""
        - [ ] parent
          - [ ] child
        ```
        $$$ (set workflow wip)
        ```
    """)
    assert (parent.directives, child.directives) == ([], ["$$$ (set workflow wip)"])


def test_directive_after_the_outer_body_applies_to_the_outer_entry():
    parent, child = scan("""
        - [ ] parent
          - [ ] child
          parent body again
        $$$ (set workflow wip)
    """)
    assert (parent.directives, child.directives) == (["$$$ (set workflow wip)"], [])


def test_indented_directive_stays_in_the_body():
    (entry,) = scan("TODO: x\n  $$$ (set workflow wip)\n")
    assert (entry.body, entry.directives) == ("$$$ (set workflow wip)", [])


@pytest.mark.parametrize(
    "between",
    [
        "Some unrelated text.",
        "### Notes",  # an undated heading is text too
        "```\nmake test\n```",  # a fence holding code, not only directives
        "- [-] a non-standard box is text",
    ],
    ids=["text", "undated-heading", "code-fence", "non-task"],
)
def test_directive_after_other_text_applies_to_nothing(between):
    (entry,) = scan_prose(f"TODO: x\n  body\n\n{between}\n\n```\n$$$ (set workflow done)\n```\n", TAGS)
    assert entry.directives == []


def test_directive_and_code_in_one_fence():
    (entry,) = scan("""
        TODO: x
        ```
        $$$ (set workflow backlog)
        make test
        $$$ (set workflow done)
        ```
    """)
    assert entry.directives == ["$$$ (set workflow backlog)"]


def test_directive_in_the_next_dated_section_applies_to_nothing():
    (entry,) = scan("""
        ## 2024-03-02
        TODO: x

        ## 2024-03-03

        $$$ (set workflow done)
    """)
    assert entry.directives == []


def test_directive_before_any_entry_applies_to_nothing():
    (entry,) = scan("$$$ (set workflow done)\nTODO: x\n")
    assert entry.directives == []


def test_directive_after_blank_lines_still_applies():
    # Two blank lines end a body, but only text ends an entry's reach.
    (entry,) = scan_prose("TODO: x\n  body\n\n\n\n$workflow: wip\n", TAGS)
    assert (entry.body, entry.directives) == ("body", ["$workflow: wip"])


def test_almost_directives_are_text_that_ends_the_reach():
    (entry,) = scan("""
        TODO: x
        $$$ (set workflow two words)
        $$$ (set workflow wip)
    """)
    assert entry.directives == []


def test_rst_directive_in_a_literal_block_after_an_entry():
    (entry,) = scan_rst("""
        .. TODO: x

        ::

            $$$ (set workflow backlog)
    """)
    assert entry.directives == ["$$$ (set workflow backlog)"]


def test_directive_in_plain_text_files():
    (entry,) = scan("TODO: x\n$workflow: wip\n", markdown=False)
    assert entry.directives == ["$workflow: wip"]


# -- robustness ----------------------------------------------------------------


def test_empty_and_degenerate_inputs():
    assert scan_prose("", TAGS) == []
    assert scan_prose("\n\n\n", TAGS) == []
    assert scan_prose("\t\t\n   \n", TAGS) == []
    assert scan_prose("```", TAGS) == []
    assert scan_prose("# \n## \n####### x", TAGS) == []


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.rsplit("/", 1)[-1])
@pytest.mark.parametrize("markdown", [True, False])
def test_corpus_files_parse_and_have_no_entries(path, markdown):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read().replace("\r", "")
    assert scan_prose(text, TAGS, markdown=markdown) == []


def test_corpus_is_present():
    assert len(CORPUS) >= 2


def test_five_megabytes_is_fast():
    chunk = textwrap.dedent("""
        ## 2024-03-02

        TODO: something to do
          with a body line
          and another #label

        - [ ] a task
          - [x] a nested task
        Some prose that mentions a TODO: mid-line.
        ```
        FIXME: example
        ```
        \tTabbed text\tand more


    """)
    text = chunk * (5_000_000 // len(chunk) + 1)
    start = time.perf_counter()
    entries = scan_prose(text, TAGS)
    elapsed = time.perf_counter() - start
    assert len(entries) == 3 * text.count("## 2024-03-02")
    assert elapsed < 2.0  # about 0.2 s on the development machine; slack for CI


def test_megabytes_of_rst_are_fast():
    chunk = textwrap.dedent("""
        Section
        =======

        .. TODO: a comment entry
           with a body

        .. todo::
           :class: later

           A directive entry.

        Example::

            TODO: literal
            BUG: literal

        .. code-block:: python

           # FIXME: code
        **TODO**: emphasised


    """)
    # 2.5 MB: rst lines are short, so this is about as many lines as 5 MB of the markdown above.
    text = chunk * (2_500_000 // len(chunk) + 1)
    start = time.perf_counter()
    entries = scan_prose(text, TAGS, markdown=False, rst=True)
    elapsed = time.perf_counter() - start
    assert len(entries) == 3 * text.count("Section\n")
    assert elapsed < 2.0  # about 0.45 s on a loaded 2-CPU machine; slack for CI


def test_deep_nesting_is_linear():
    text = "".join(" " * i + "- [ ] t\n" for i in range(3000))
    start = time.perf_counter()
    entries = scan_prose(text, TAGS)
    assert len(entries) == 3000
    assert time.perf_counter() - start < 1.0


# -- end to end: real repositories -------------------------------------------------


def listed(cli) -> list[dict]:
    result = cli("list", "--all", "--format", "json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def places(items: list[dict], path: str) -> list[tuple]:
    """(line, tag, title) of every location in `path`, in line order."""
    return sorted((loc["line"], e["tag"], e["title"]) for e in items for loc in e["locations"] if loc["path"] == path)


PROJECT_DEVLOG = """\
# Devlog

## 2024-03-09

TODO: atomic-ref-update

```
$$$ (set workflow backlog)
```

  HEAD is written to HEAD.tmp and renamed; the directory is not fsynced.

FIXME: peer-list-lost
  Peers learned by broadcast are forgotten on restart.

Release notes for 0.4 are in CHANGES.md.

```
$$$ (set workflow done)
```

## 2024-03-02

```
$workflow: wip
```

PR: atomic-ref-update
  branch: fix/atomic-refs
$$$ (set workflow test)
"""


def test_devlog_directives_after_entries_set_their_workflow(repo, cli):
    repo.write("docs/devlog.md", PROJECT_DEVLOG)
    repo.write("src/refs.py", "# TODO: atomic-ref-update\n#   rename is not atomic on every filesystem\n")
    repo.commit()
    found = {(e["tag"], e["title"]): e for e in listed(cli)}
    assert found[("TODO", "atomic-ref-update")]["workflow"] == "backlog"
    assert found[("TODO", "atomic-ref-update")]["attrs"] == {"workflow": "backlog"}
    # The `done` block follows unrelated text, and the `wip` one opens a day with no entry above it.
    assert found[("FIXME", "peer-list-lost")]["workflow"] == "new"
    assert found[("PR", "atomic-ref-update")]["workflow"] == "test"

    # Change only the code file: the devlog is not read again, its occurrences
    # come from the scan cache, and they must still carry the directive.
    repo.write("src/refs.py", "# TODO: atomic-ref-update\n#   rename is atomic on POSIX only\n")
    repo.commit()
    found = {(e["tag"], e["title"]): e for e in listed(cli)}
    assert found[("TODO", "atomic-ref-update")]["workflow"] == "backlog"


SPHINX_INDEX = """\
Overview
========

.. todo::

   Write the overview.

.. toctree::
   :maxdepth: 2

   sync
"""


def test_rst_docs_are_scanned_with_their_own_markup(repo, cli):
    repo.write("docs/guide.rst", GUIDE_RST)
    # Files whose only entries are written in markup that names no `TAG:`.
    repo.write("docs/index.rst", SPHINX_INDEX)
    repo.write("docs/sync.rst", "Sync\n====\n\n.. todo: describe the handshake\n")
    repo.write("README.md", "# fixme\n\n**TODO**: a screenshot of the dashboard\n")
    repo.commit()
    items = listed(cli)
    assert places(items, "docs/guide.rst") == [
        (4, "TODO", "explain-peer-discovery"),
        (9, "FIXME", "the port number below is wrong"),
        (11, "TODO", "say what happens behind NAT"),
        (24, "TODO", "Document the record format"),
        (31, "TODO", "a second todo directive, with its title inline"),
        (40, "FIXME", "after the code, an entry again"),
    ]
    assert places(items, "docs/index.rst") == [(4, "TODO", "Write the overview.")]
    assert places(items, "docs/sync.rst") == [(4, "TODO", "describe the handshake")]
    assert places(items, "README.md") == [(3, "TODO", "a screenshot of the dashboard")]


def test_rst_markup_in_markdown_and_text_files_is_plain_text(repo, cli):
    text = "Notes\n\n.. TODO: not a comment here\n.. todo:: nor a directive\n"
    repo.write("NOTES.md", text)
    repo.write("notes.txt", text)
    repo.commit()
    assert listed(cli) == []


def test_a_cache_from_before_directives_is_rebuilt_at_once(repo, cli):
    """Upgrading must not keep the old grammar's answers, nor answer from a wiped cache."""
    import sqlite3

    repo.write("docs/devlog.md", PROJECT_DEVLOG)
    repo.commit()
    assert len(listed(cli)) == 3
    # Make the cache look as the previous release left it: store schema 3, quick-check state version 2.
    cache = repo.root / ".fixme" / "cache"
    with sqlite3.connect(cache / "scan.sqlite3") as db:
        db.execute("UPDATE meta SET value = '3' WHERE key = 'schema'")
    state = json.loads((cache / "state.json").read_text())
    (cache / "state.json").write_text(json.dumps({**state, "version": 2}))
    found = {(e["tag"], e["title"]): e["workflow"] for e in listed(cli)}
    assert found == {("TODO", "atomic-ref-update"): "backlog", ("FIXME", "peer-list-lost"): "new",
                     ("PR", "atomic-ref-update"): "test"}
