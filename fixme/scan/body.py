"""What an entry's title and body say about it beyond free text.

    branch: fix/atomic-refs            a field (only configured field names)
    $workflow: wip                     an attribute
    $$$ (set workflow "in review")     an attribute, directive form
    #storage #durability               labels, anywhere in title or body
    ($context (commit 9a8b7c6) (file src/peers.py 42))   a code location

Everything here is best effort: a line that almost looks like a directive is
just text, and nothing in a body can make parsing fail.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from dataclasses import dataclass, field

# `key: value` at the start of a line (after indentation). Which keys count
# is decided by the configured field names, not by this pattern.
_FIELD = re.compile(r"[ \t]*([A-Za-z][\w.-]*):(?:[ \t]+(.*)|[ \t]*)$")

# `$attr: value`.
_ATTR = re.compile(r"[ \t]*\$([A-Za-z_][\w-]*):[ \t]*(.*)$")

# `$$$ (set attr value)` where value is one token or a "double-quoted string".
_SET = re.compile(
    r'[ \t]*\$\$\$[ \t]*\([ \t]*set[ \t]+([A-Za-z_][\w-]*)[ \t]+'
    r'(?:"((?:[^"\\\n]|\\.)*)"|([^\s()"]+))[ \t]*\)[ \t]*$'
)

# A hashtag: '#', a letter, then letters/digits/_ - / . ; the '#' must not be
# glued to a word character (C#, url#frag), nor follow '&' (&#x20;), '#'
# (##x) or '/' (a URL's /#fragment).
_LABEL = re.compile(r"(?<![\w&#/])#([^\W\d_][\w/.-]*)")

_CONTEXT_START = re.compile(r"\(\$context(?=[\s()])")

# One token inside a context component: a "quoted string" or a bare word.
_TOKEN = re.compile(r'"((?:[^"\\\n]|\\.)*)"|([^\s()"]+)')
_SPACE = re.compile(r"\s*")
_UNESCAPE = re.compile(r"\\(.)")
_LINE_NUMBER = re.compile(r"[1-9][0-9]{0,8}")


@dataclass
class BodyInfo:
    """The structured parts of an entry's title and body."""

    fields: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, str] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    context: list[dict] = field(default_factory=list)


def parse_body(title: str, body: str, field_names: Collection[str], directives: Iterable[str] = ()) -> BodyInfo:
    """Extract fields, attributes, labels and code contexts.

    Field keys match `field_names` case-insensitively and are stored under the
    configured spelling. For fields and attributes the last line wins.
    `directives` are attribute lines written after the body (a devlog's
    fenced `$$$` block): they come later in the file, so they win over the body.
    """
    spelling: dict[str, str] = {}
    for name in field_names:
        spelling.setdefault(name.lower(), name)
    info = BodyInfo()
    for line in body.split("\n"):
        _parse_line(line, spelling, info)
    for line in directives:
        attr = parse_attr(line)
        if attr is not None:
            info.attrs[attr[0]] = attr[1]
    info.labels = parse_labels(title + "\n" + body)
    info.context = parse_contexts(body)
    return info


def _parse_line(line: str, spelling: dict[str, str], info: BodyInfo) -> None:
    """Apply a field or attribute line to `info`; other lines are ignored."""
    if "$" in line:
        attr = parse_attr(line)
        if attr is not None:
            info.attrs[attr[0]] = attr[1]
            return
    m = _FIELD.match(line)
    if m is None:
        return
    name = spelling.get(m.group(1).lower())
    value = (m.group(2) or "").strip()
    # An empty `branch:` says nothing; it neither sets nor clears the field.
    if name is not None and value:
        info.fields[name] = value


def parse_attr(line: str) -> tuple[str, str] | None:
    """(name, value) of a `$name: value` or `$$$ (set name value)` line, else None."""
    m = _SET.match(line)
    if m is not None:
        quoted, bare = m.group(2), m.group(3)
        return m.group(1), bare if quoted is None else _unquote(quoted)
    m = _ATTR.match(line)
    if m is not None and m.group(2).strip():
        return m.group(1), m.group(2).strip()
    return None


def parse_labels(text: str) -> list[str]:
    """`#word` hashtags in `text`, deduplicated, in order of first appearance."""
    labels: dict[str, None] = {}
    for m in _LABEL.finditer(text):
        # A sentence may end right after a tag: "see #storage." means "storage".
        labels.setdefault(m.group(1).rstrip("."), None)
    return list(labels)


def parse_contexts(text: str) -> list[dict]:
    """Every well-formed `($context ...)` in `text`, as dicts.

    Keys: "commit" (str), "path" (str), "line" (int); a key is absent when the
    context does not give it. Unknown components are skipped; a context that
    is not closed, or gives nothing we know, is dropped.
    """
    contexts: list[dict] = []
    pos = 0
    while True:
        m = _CONTEXT_START.search(text, pos)
        if m is None:
            return contexts
        found, pos = _parse_context(text, m.end())
        if found:
            contexts.append(found)


def _parse_context(text: str, pos: int) -> tuple[dict | None, int]:
    """Parse components from `pos` up to the context's ')'.

    Returns the context (None if malformed or empty) and where to resume
    searching. A failed parse resumes at most one component back, and
    components hold no '(', so no text is scanned more than twice: the whole
    search stays linear.
    """
    found: dict = {}
    while True:
        pos = _SPACE.match(text, pos).end()
        if pos >= len(text):
            return None, pos
        ch = text[pos]
        if ch == ")":
            return (found or None), pos + 1
        if ch != "(":
            return None, pos
        words, end = _component(text, pos + 1)
        if words is None:
            # Resume at this '(': it may open the next `($context`.
            return None, pos
        pos = end
        _apply_component(words, found)


def _component(text: str, pos: int) -> tuple[list[str] | None, int]:
    """Tokens of one `(name arg ...)` component; `pos` is just past its '('."""
    words: list[str] = []
    while True:
        pos = _SPACE.match(text, pos).end()
        if pos < len(text) and text[pos] == ")":
            return words, pos + 1
        m = _TOKEN.match(text, pos)
        if m is None:
            return None, pos
        quoted, bare = m.group(1), m.group(2)
        words.append(bare if quoted is None else _unquote(quoted))
        pos = m.end()


def _apply_component(words: list[str], found: dict) -> None:
    """Record a `(commit SHA)` or `(file PATH [LINE])` component."""
    if not words:
        return
    kind, args = words[0].lower(), words[1:]
    if kind == "commit" and len(args) == 1:
        found["commit"] = args[0]
    elif kind == "file" and len(args) in (1, 2):
        line = _line_number(args[1]) if len(args) == 2 else None
        if len(args) == 2 and line is None:
            return  # a path with a bad line number is not a location
        found["path"] = args[0]
        if line is not None:
            found["line"] = line


def _line_number(word: str) -> int | None:
    """A 1-based line number, or None. The length cap keeps int() cheap and
    below Python's limit on digits it will convert."""
    if _LINE_NUMBER.fullmatch(word) is None:
        return None
    return int(word)


def _unquote(quoted: str) -> str:
    return _UNESCAPE.sub(r"\1", quoted)
