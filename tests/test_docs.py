"""The docs are part of the feature: keep what they quote true to the code."""

from __future__ import annotations

import re
from pathlib import Path

from fixme.cli.main import build_parser
from fixme.config import default_config_document
from fixme.scan.languages import LANGUAGES

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_guide_shows_the_config_that_init_writes():
    guide = (DOCS / "guide.md").read_text()
    block = re.search(r"`fixme init` writes this file:\n\n```toml\n(.*?)```", guide, re.S)
    assert block is not None and block.group(1) == default_config_document()


def test_formats_lists_every_language_of_the_comment_table():
    table = (DOCS / "formats.md").read_text()
    names = {row.split("|")[1].strip() for row in table.splitlines() if row.startswith("| ")}
    assert {language.name for language in LANGUAGES} <= names


def test_guide_mentions_every_command_and_list_option():
    guide = (DOCS / "guide.md").read_text()
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    for name, sub in commands.items():
        assert f"fixme {name}" in guide, name
        if name == "list":
            for action in sub._actions:
                for flag in action.option_strings:
                    if flag.startswith("--") and flag != "--help":
                        assert flag in guide, flag
