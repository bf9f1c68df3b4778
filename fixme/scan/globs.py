"""Path globs as users write them in config: `*`, `**`, `?`, `[abc]`.

`*` and `?` stay inside one directory, `**` crosses directories, and a glob
without `/` is matched against the file name alone (as in .gitignore).
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def glob_regex(glob: str) -> str:
    """Translate one glob into a regular expression matching a whole path."""
    out: list[str] = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and "]" in glob[i + 2:]:
            end = glob.index("]", i + 2)
            body = glob[i + 1:end].replace("\\", "\\\\")
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append(f"[{body}]")
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


class GlobSet:
    """Any-of matcher for a list of globs; compiled once."""

    def __init__(self, globs: Iterable[str]):
        self.globs = tuple(globs)
        anchored = [glob_regex(g.lstrip("/")) for g in self.globs if "/" in g.rstrip("/")]
        names = [glob_regex(g.rstrip("/")) for g in self.globs if "/" not in g.rstrip("/")]
        # DOTALL: a file name may hold a newline (git lists it with -z), and
        # `**` must match it like any other character, or the file is silently skipped.
        self._path = re.compile("|".join(f"(?:{r})" for r in anchored) + r"\Z", re.DOTALL) if anchored else None
        # A name glob matches the file name, or any directory on the way to it.
        self._name = (re.compile(r"(?:.*/)?(?:%s)(?:/.*)?\Z" % "|".join(f"(?:{r})" for r in names), re.DOTALL)
                      if names else None)

    def __bool__(self) -> bool:
        return bool(self.globs)

    def matches(self, path: str) -> bool:
        if self._path is not None and self._path.match(path):
            return True
        return self._name is not None and self._name.match(path) is not None
