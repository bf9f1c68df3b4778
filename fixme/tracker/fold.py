"""Fold the record log into entries: the state `list` and `show` display."""

from __future__ import annotations

from ..config import Config
from ..scan.entry import Entry
from .workflow import Change, latest_sets, resolve, iso_to_ms


def apply_changes(entries: list[Entry], changes: list[Change], config: Config) -> None:
    """Set each entry's workflow and attributes from its records and its source.

    Records naming entries that are not (or no longer) scanned stay in the
    log and apply whenever such an entry appears.
    """
    if changes:
        apply_latest(entries, latest_sets(changes), config)


def apply_latest(entries: list[Entry], latest: dict[str, dict[str, Change]], config: Config) -> None:
    """apply_changes with the winning records already chosen (workflow.latest_sets, or the
    kept fold of folded.py, which gives the same)."""
    if not latest:
        return
    for entry in entries:
        sets = latest.get(entry.id)
        if sets:
            _apply(entry, sets, config)


def _apply(entry: Entry, sets: dict[str, Change], config: Config) -> None:
    source_time = iso_to_ms(entry.date)  # a directive counts from its commit's date
    for attr, change in sets.items():
        allowed = config.allowed_values(attr)
        if attr != "workflow" and attr not in config.attributes:
            continue  # an attribute this project no longer tracks
        if allowed is not None and change.value not in allowed:
            entry.warnings.append(f"record {change.record_id[7:19]} sets {attr} to {change.value!r},"
                                  " which the config no longer allows")
            continue
        source_value = _source_value(entry, attr, config)
        folded = resolve(source_value, source_time, change)
        if folded is None:
            continue
        if attr == "workflow":
            entry.workflow = folded.value
        else:
            entry.attrs[attr] = folded.value


def _source_value(entry: Entry, attr: str, config: Config) -> str | None:
    """What the source itself says about an attribute, if anything."""
    if attr != "workflow":
        return entry.attrs.get(attr)
    stated = entry.attrs.get("workflow") in config.states or entry.workflow != config.initial_state
    return entry.workflow if stated else None
