"""Styles by meaning, as theme variables: the colours come from the theme (and the terminal's
palette under an ANSI theme), never from this code. app.tcss gives the table the same ones."""

from __future__ import annotations

MUTED = "$foreground-muted"
STATE_STYLES = {
    "new": "$text-accent",
    "backlog": "$text-secondary",
    "wip": "$text-warning",
    "test": "$text-primary",
    "done": "$text-success",
    "dropped": MUTED,
    "gone": MUTED,
}
ALERT_TAGS = frozenset({"FIXME", "BUG", "XXX"})  # a defect rather than a plan
WARN_TAGS = frozenset({"HACK", "REVIEW"})  # a shortcut to come back to


def tag_style(tag: str) -> str:
    if tag in ALERT_TAGS:
        return "$text-error"
    if tag in WARN_TAGS:
        return "$text-warning"
    return "$text-primary"
