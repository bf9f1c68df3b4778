"""The older Haskell fixme's `.fixme/config`, translated into fixme's settings.

That tool keeps its settings in s-expression lines (`fixme-prefix FIXME:`,
`fixme-files **/*.hs docs/devlog.md`, …) and its workflow changes in
`.fixme/log`. fixme lives beside it: it never writes either file, and when a
repository has no `.fixme/config.toml` it reads this one instead.

The translation yields a dict shaped like config.toml's tables, so that
config.py checks it with the very rules it applies to config.toml and
`fixme init` can write it out. The mapping, form by form, is documented in
docs/formats.md ("Living beside the older `.fixme/config`").

Pure and cheap: no I/O, and nothing imported beyond what every command has
already loaded (no dataclasses: ~7 ms that `fixme scan` otherwise never pays).
"""

from __future__ import annotations

import re
from collections import namedtuple
from fnmatch import fnmatchcase

LEGACY_CONFIG_FILE = "config"  # .fixme/config
LEGACY_LOG_FILE = "log"  # .fixme/log: the older tool's workflow changes, never touched
LEGACY_CONFIG_NAME = ".fixme/config"  # as notices name it
MAX_LEGACY_CONFIG_BYTES = 1024 * 1024  # a settings file; anything larger is not one
NAMES_SHOWN = 5  # of the forms ignored, in the one notice about them

_OPEN, _CLOSE, _WORD, _NEWLINE = "open", "close", "word", "newline"
_WILDCARDS = re.compile(r"\[[^\]]*\]|\*+|\?")
# Control characters other than tab, newline, carriage return and form feed mark a binary file.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


class LegacyConfigError(ValueError):
    """The file is not a text file fixme could read settings from (one line, no path)."""


class Form(namedtuple("_Form", "head args line complete")):
    """One top-level form: its head word ("" when it has none), its arguments
    (strings; None stands for a nested list), the line it starts on, and
    whether its brackets were closed."""

    __slots__ = ()


class LegacySettings(namedtuple("_LegacySettings", "data notices")):
    """What the file says, as config.toml tables ({"scan": {...}, ...}; only the keys it
    sets), and the notices for the user about what was not read."""

    __slots__ = ()


def read_legacy_config(raw: bytes, defaults) -> LegacySettings:
    """Translate the bytes of `.fixme/config`; `defaults` is fixme's default Config.

    Raises LegacyConfigError when the bytes are not a text file.
    """
    forms = parse_forms(decode_legacy_config(raw))
    draft = _Draft()
    unknown: list[Form] = []
    for form in forms:
        reader = _READERS.get(form.head)
        if reader is None or not form.complete:
            unknown.append(form)
        elif None in form.args:
            draft.problems.append(_problem(form, "holds a nested list, which this version does not read; ignored"))
        else:
            reader(draft, form)
    data = draft.settings(defaults)  # may add a problem of its own
    notices = [*draft.problems]
    if unknown:
        notices.append(_unknown_notice(unknown))
    return LegacySettings(data, tuple(notices))


def decode_legacy_config(raw: bytes) -> str:
    """The file as text; a LegacyConfigError explains why it is not one."""
    if len(raw) > MAX_LEGACY_CONFIG_BYTES:
        raise LegacyConfigError(f"larger than {MAX_LEGACY_CONFIG_BYTES // 1024} KiB, so not a settings file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LegacyConfigError(f"not UTF-8 text (invalid byte at offset {exc.start})") from None
    control = _CONTROL.search(text)
    if control:
        line = text.count("\n", 0, control.start()) + 1
        raise LegacyConfigError(f"not a text file (control character U+{ord(control.group()):04X} on line {line})")
    return text


# -- reading forms ---------------------------------------------------------------


def parse_forms(text: str) -> list[Form]:
    """The top-level forms of the file.

    A line that does not start with a bracket is one form, up to the end of
    the line; `(…)` or `[…]` is one form however many lines it spans (the
    older tool's templates and reports are written so). `;` starts a comment
    anywhere outside a string; a line whose first character is `#` is a
    comment too (a `#` later on a line is a word: `fixme-comments // #`).
    """
    tokens = _tokens(text)
    forms: list[Form] = []
    index = 0
    while index < len(tokens):
        kind, _, line = tokens[index]
        if kind == _NEWLINE:
            index += 1
        elif kind == _CLOSE:  # a stray bracket
            forms.append(Form(")", (), line, True))
            index += 1
        elif kind == _OPEN:
            items, index, closed = _read_list(tokens, index + 1)
            forms.append(_form(items, line, closed))
        else:
            items, index, closed = _read_line(tokens, index)
            forms.append(_form(items, line, closed))
    return forms


def _form(items: list, line: int, complete: bool) -> Form:
    head = items[0] if items and isinstance(items[0], str) else ""
    args = tuple(item if isinstance(item, str) else None for item in items[1:])
    return Form(head, args, line, complete)


def _read_line(tokens: list, index: int) -> tuple[list, int, bool]:
    """Items up to the end of the line (a nested list may span lines); False after a stray
    close bracket or an unclosed list."""
    items: list = []
    balanced = True
    while index < len(tokens):
        kind, value, _ = tokens[index]
        if kind == _NEWLINE:
            return items, index + 1, balanced
        if kind == _CLOSE:
            balanced = False
            index += 1
        elif kind == _OPEN:
            nested, index, closed = _read_list(tokens, index + 1)
            items.append(nested)
            if not closed:
                return items, index, False
        else:
            items.append(value)
            index += 1
    return items, index, balanced


def _read_list(tokens: list, index: int) -> tuple[list, int, bool]:
    """Items up to the matching close bracket; False when the file ends first."""
    items: list = []
    while index < len(tokens):
        kind, value, _ = tokens[index]
        if kind == _CLOSE:
            return items, index + 1, True
        if kind == _OPEN:
            nested, index, closed = _read_list(tokens, index + 1)
            items.append(nested)
            if not closed:
                return items, index, False
        else:
            if kind == _WORD:
                items.append(value)
            index += 1
    return items, index, False


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, line) for every bracket, word, string (unquoted) and line end."""
    tokens: list[tuple[str, str, int]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            tokens.append((_NEWLINE, "", number))
            continue
        index = 0
        while index < len(line):
            char = line[index]
            if char == ";":
                break
            if char.isspace():
                index += 1
            elif char in "([{":
                tokens.append((_OPEN, char, number))
                index += 1
            elif char in ")]}":
                tokens.append((_CLOSE, char, number))
                index += 1
            elif char == '"':
                word, index = _string(line, index + 1)
                tokens.append((_WORD, word, number))
            else:
                start = index
                while index < len(line) and not line[index].isspace() and line[index] not in '()[]{}";':
                    index += 1
                tokens.append((_WORD, line[start:index], number))
        tokens.append((_NEWLINE, "", number))
    return tokens


def _string(line: str, index: int) -> tuple[str, int]:
    """A quoted string's text from just after its opening quote; `\\"` and `\\\\` escape.
    An unclosed string ends with its line."""
    out: list[str] = []
    while index < len(line):
        char = line[index]
        if char == '"':
            return "".join(out), index + 1
        if char == "\\" and index + 1 < len(line):
            index += 1
            char = line[index]
        out.append(char)
        index += 1
    return "".join(out), index


# -- translating forms -------------------------------------------------------------


class _Draft:
    """What the forms said so far; settings() turns it into config.toml tables."""

    def __init__(self):
        self.tags: list[str] = []
        self.prefixes_seen = False
        self.files: list[str] = []
        self.ignored_files: list[str] = []
        self.comment_markers: list[str] = []
        self.attributes: list[str] = []
        self.attributes_seen = False
        self.value_sets: dict[str, list[str]] = {}  # attribute -> values, workflow included
        self.short_id_length: int | None = None
        self.problems: list[str] = []

    def settings(self, defaults) -> dict:
        data: dict = {}
        scan = self._scan_table(defaults)
        workflow = self._workflow_table(defaults)
        if scan:
            data["scan"] = scan
        if workflow:
            data["workflow"] = workflow
        if self.short_id_length is not None:
            data["display"] = {"short_id_length": self.short_id_length}
        return data

    def _scan_table(self, defaults) -> dict:
        scan: dict = {}
        if self.tags:
            scan["tags"] = _unique(self.tags)
        elif self.prefixes_seen:
            self.problems.append(f"{LEGACY_CONFIG_NAME}: no fixme-prefix names a tag fixme can use; "
                                 f"kept fixme's tags ({', '.join(defaults.tags)})")
        if self.files:
            scan["include"] = _unique(self.files)
        prose = [g for g in self.files if _names(g, defaults.prose)]
        devlogs = [g for g in self.files if _names(g, defaults.devlog) and g not in prose]
        if prose:
            scan["prose"] = _unique([*defaults.prose, *prose])
        if devlogs:
            scan["devlog"] = _unique([*defaults.devlog, *devlogs])
        if self.ignored_files:
            scan["exclude"] = _unique([*defaults.exclude, *self.ignored_files])
        if self.comment_markers:
            scan["comment_markers"] = _unique(self.comment_markers)
        return scan

    def _workflow_table(self, defaults) -> dict:
        workflow: dict = {}
        states = self.value_sets.get("workflow")
        if states:
            workflow["states"] = states
            workflow["initial"] = states[0]
            # The older tool has no closed states: fixme's own names where listed, else the last state.
            workflow["closed"] = [s for s in defaults.closed_states if s in states] or [states[-1]]
        others = {name: values for name, values in self.value_sets.items() if name != "workflow"}
        if self.attributes_seen or others:
            base = self.attributes if self.attributes_seen else list(defaults.attributes)
            workflow["attributes"] = _unique([a for a in [*base, *others] if a != "workflow"])
        if others:
            workflow["values"] = others
        return workflow


def _read_prefix(draft: _Draft, form: Form) -> None:
    """`fixme-prefix TAG: category…`: the tag without its colon; the categories are ignored."""
    draft.prefixes_seen = True
    if not form.args:
        draft.problems.append(_problem(form, "names no prefix; ignored"))
        return
    tag = form.args[0].removesuffix(":")
    if _is_word(tag):
        draft.tags.append(tag)
    else:
        draft.problems.append(_problem(form, f"{form.args[0]!r} is not a word fixme can use as a tag; ignored"))


def _read_files(draft: _Draft, form: Form) -> None:
    draft.files.extend(_glob(arg) for arg in form.args if arg.strip())


def _read_files_ignore(draft: _Draft, form: Form) -> None:
    draft.ignored_files.extend(_glob(arg) for arg in form.args if arg.strip())


def _read_comments(draft: _Draft, form: Form) -> None:
    for marker in form.args:
        if _is_comment_marker(marker):
            draft.comment_markers.append(marker)
        else:
            draft.problems.append(_problem(form, f"{marker!r} cannot be a comment marker (empty, or has spaces); "
                                                 "ignored"))


def _read_attributes(draft: _Draft, form: Form) -> None:
    draft.attributes_seen = True
    for name in form.args:
        if _is_attribute_name(name):
            draft.attributes.append(name)
        else:
            draft.problems.append(_problem(form, f"{name!r} is not an attribute name; ignored"))


def _read_value_set(draft: _Draft, form: Form) -> None:
    """`fixme-value-set ATTR v1 v2 …`; repeated for one attribute, the values add up."""
    if len(form.args) < 2 or not _is_attribute_name(form.args[0]):
        draft.problems.append(_problem(form, "needs an attribute name and at least one value; ignored"))
        return
    name, values = form.args[0], form.args[1:]
    draft.value_sets[name] = _unique([*draft.value_sets.get(name, []), *values])


def _read_id_length(draft: _Draft, form: Form) -> None:
    if len(form.args) != 1 or not form.args[0].isdigit():
        draft.problems.append(_problem(form, "needs one whole number; ignored"))
        return
    wanted = int(form.args[0])
    length = min(max(wanted, 4), 40)  # fixme's bounds (display.short_id_length)
    if length != wanted:
        draft.problems.append(_problem(form, f"fixme shows 4 to 40 characters of an id; using {length}"))
    draft.short_id_length = length


_READERS = {
    "fixme-prefix": _read_prefix,
    "fixme-files": _read_files,
    "fixme-files-ignore": _read_files_ignore,
    "fixme-comments": _read_comments,
    "fixme-attribs": _read_attributes,
    "fixme-value-set": _read_value_set,
    "fixme-id-show-len": _read_id_length,
}


# -- small rules -------------------------------------------------------------------


def _is_comment_marker(marker: str) -> bool:
    """A line-comment marker is a run of characters without spaces (config.py checks the same)."""
    return bool(marker) and not any(c.isspace() for c in marker)


def _is_word(tag: str) -> bool:
    """A tag fixme accepts: letters, digits and `_` (the rule of config.py's scan.tags check)."""
    return bool(tag) and all(c.isalnum() or c == "_" for c in tag)


def _is_attribute_name(name: str) -> bool:
    return bool(name) and all(c.isalnum() or c in "_-" for c in name)


def _glob(pattern: str) -> str:
    """The older tool's globs are relative to the repository root; fixme's are too ("./" aside)."""
    return pattern.removeprefix("./")


def _names(glob: str, name_globs) -> bool:
    """Whether the files `glob` names are ones `name_globs` (fixme's prose or devlog globs) take.

    Judged on the glob's file-name part with its wildcards filled in:
    `docs/pep*.txt` names `pepx.txt`, a prose file; `**/*.hs` names `x.hs`, not one.
    """
    sample = _WILDCARDS.sub("x", glob.rstrip("/").rsplit("/", 1)[-1])
    return any(fnmatchcase(sample, pattern) for pattern in name_globs)


def _unique(values) -> list[str]:
    return list(dict.fromkeys(values))


def _problem(form: Form, what: str) -> str:
    return f"{LEGACY_CONFIG_NAME}:{form.line}: {form.head} {what}"


def _unknown_notice(forms: list[Form]) -> str:
    names = _unique(_shown_name(form) for form in forms)
    shown = ", ".join(names[:NAMES_SHOWN]) + (", …" if len(names) > NAMES_SHOWN else "")
    count = len(forms)
    return (f"{LEGACY_CONFIG_NAME}: ignored {count} setting{'s' if count != 1 else ''} "
            f"this version does not read ({shown})")


def _shown_name(form: Form) -> str:
    """The form's head, made safe to print (no control characters, not too long)."""
    name = form.head or "(…)"
    if not form.complete and form.head:
        name += " (unclosed)"
    name = name if name.isprintable() else ascii(name)
    return name if len(name) <= 40 else name[:39] + "…"
