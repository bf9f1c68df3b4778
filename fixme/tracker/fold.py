"""Fold the record log into entries: the state `list` and `show` display."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Config
from ..scan.entry import Entry
from .workflow import Change, Folded, iso_to_ms, latest_sets, resolve


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
    allowed: dict[str, tuple[str, ...] | None] = {}  # per attribute, asked of the config once
    for entry in entries:
        sets = latest.get(entry.id)
        if sets:
            _apply(entry, sets, config, allowed)


def _apply(entry: Entry, sets: dict[str, Change], config: Config,
           allowed_by_attr: dict[str, tuple[str, ...] | None] | None = None) -> None:
    allowed_by_attr = {} if allowed_by_attr is None else allowed_by_attr
    for attr, change in sets.items():
        if not _tracked(attr, config):
            continue
        if not _allows(config, attr, change.value, allowed_by_attr):
            entry.warnings.append(f"record {change.record_id[7:19]} sets {attr} to {change.value!r},"
                                  " which the config no longer allows")
            continue
        _, folded = _fold(entry, attr, change, config)
        if folded is None:
            continue
        if attr == "workflow":
            entry.workflow = folded.value
        else:
            entry.attrs[attr] = folded.value


def _tracked(attr: str, config: Config) -> bool:
    """Whether the project still tracks `attr` (records of others stay in the log, unapplied)."""
    return attr == "workflow" or attr in config.attributes


def _allows(config: Config, attr: str, value: str, allowed_by_attr: dict[str, tuple[str, ...] | None]) -> bool:
    """Whether the config allows `value` for `attr` (asked of the config once per attribute)."""
    if attr not in allowed_by_attr:
        allowed_by_attr[attr] = config.allowed_values(attr)
    allowed = allowed_by_attr[attr]
    return allowed is None or value in allowed


def _fold(entry: Entry, attr: str, record: Change | None, config: Config) -> tuple[str | None, Folded | None]:
    """What the source writes for `attr`, and how it folds with the winning `record` (or none)."""
    written = _source_value(entry, attr, config)
    # A directive counts from its commit's date; parsed only when there is one to weigh
    # (most entries have none, and 10k dates cost ~20 ms of a list).
    written_time = iso_to_ms(entry.date) if written is not None else None
    return written, resolve(written, written_time, record)


def _source_value(entry: Entry, attr: str, config: Config) -> str | None:
    """What the source itself says about an attribute, if anything."""
    if attr != "workflow":
        return entry.attrs.get(attr)
    stated = entry.attrs.get("workflow") in config.states or entry.workflow != config.initial_state
    return entry.workflow if stated else None


@dataclass(frozen=True)
class StateSource:
    """One attribute of an entry as `show` explains it: the value shown, the record that
    sets it (if any), what the source writes (`$$$ (set ATTR VALUE)`, `$ATTR: VALUE`), and
    which of the two won."""

    attr: str
    value: str | None  # what list and show display
    record: Change | None  # the trusted record that wins among records
    written: str | None  # the value written in the source
    won: str | None  # "record", "source", or None (neither says anything)


def state_sources(scanned: Entry, sets: dict[str, Change], config: Config) -> list[StateSource]:
    """How each attribute of `scanned` (an entry as the scan left it) folds with `sets`
    (its winning records), by the rules of _apply: workflow first, then the others."""
    attrs = ["workflow"] + sorted((set(scanned.attrs) | set(sets)) - {"workflow"})
    found = []
    for attr in attrs:
        if not _tracked(attr, config):
            continue
        record = sets.get(attr)
        if record is not None and not _allows(config, attr, record.value, {}):
            record = None  # _apply ignores it (with a warning on the entry)
        written, folded = _fold(scanned, attr, record, config)
        if folded is None:
            value = scanned.workflow if attr == "workflow" else None
            found.append(StateSource(attr, value, None, None, None))
            continue
        found.append(StateSource(attr, folded.value, record, written, "source" if folded.change is None else "record"))
    return found
