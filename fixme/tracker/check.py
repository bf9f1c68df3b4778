"""`fixme check`: the project's rules ([check] in the config) against the open entries.

Rules:
- require_slug: entries with these tags must have a slug. With new_only,
  only entries not committed yet; with `--since REV`, only entries whose tag
  line (by blame) was changed after REV, or not committed yet.
- forbid_states: no open entry may be in these workflow states.
- max_count: at most N open entries of a tag. Open as `list` means it: in
  the work tree and not in a closed workflow state (done work is no debt).

Gone entries are never counted or reported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataclasses import dataclass

from ..config import CheckRules
from ..scan.entry import GONE, Entry

if TYPE_CHECKING:
    from collections.abc import Iterable


@dataclass(frozen=True)
class Violation:
    """One broken rule: where, which rule, and what is wrong."""

    path: str
    line: int | None  # None: the rule is about the whole project (max_count)
    rule: str
    message: str
    entry_id: str | None = None

    def describe(self) -> str:
        """`path:line: rule: message`, the way compilers report."""
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.rule}: {self.message}"


def check_entries(entries: Iterable[Entry], rules: CheckRules, config_file: str,
                  changed_commits: set[str] | None = None,
                  closed_states: tuple[str, ...] = ()) -> list[Violation]:
    """Every violation of `rules` among the open entries, ordered by place.

    `changed_commits`: the commits after a base (`--since`); None when no
    base was given. `config_file` is where project-wide violations point.
    `closed_states`: entries in these are not counted by max_count.
    """
    open_entries = [e for e in entries if e.status != GONE]
    violations = []
    violations += _require_slug(open_entries, rules, changed_commits)
    violations += _forbid_states(open_entries, rules)
    violations += _max_count([e for e in open_entries if e.workflow not in closed_states], rules, config_file)
    return sorted(violations, key=lambda v: (v.path, v.line or 0, v.rule, v.message))


def _require_slug(entries: list[Entry], rules: CheckRules, changed_commits: set[str] | None) -> list[Violation]:
    wanted = set(rules.require_slug)
    found = []
    for entry in entries:
        if entry.tag not in wanted or entry.slug:
            continue
        if changed_commits is not None:
            if entry.commit is not None and entry.commit not in changed_commits:
                continue
        elif rules.new_only and entry.commit is not None:
            continue
        found.append(Violation(entry.path, entry.line, "require_slug",
                               f"{entry.tag} entry without a slug: {entry.title!r} (name it like "
                               f"'{entry.tag}: some-slug' or '{entry.tag}[some-slug]: {entry.title}')", entry.id))
    return found


def _forbid_states(entries: list[Entry], rules: CheckRules) -> list[Violation]:
    forbidden = set(rules.forbid_states)
    return [Violation(e.path, e.line, "forbid_states", f"{e.tag}: {e.title!r} is in state {e.workflow!r}", e.id)
            for e in entries if e.workflow in forbidden]


def _max_count(entries: list[Entry], rules: CheckRules, config_file: str) -> list[Violation]:
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.tag] = counts.get(entry.tag, 0) + 1
    return [Violation(config_file, None, "max_count", f"{counts[tag]} open {tag} entries; at most {limit} allowed")
            for tag, limit in rules.max_count if counts.get(tag, 0) > limit]
