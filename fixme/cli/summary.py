"""What `fixme scan` prints: the scan's summary, for people or as JSON.

Its own small module: a warm scan prints this and nothing else, and must not
pay for loading the entry tables.
"""

from __future__ import annotations

import json

from ..scan.quickcheck import ScanSummary  # loaded already: the quick check made it


def render_summary(summary: ScanSummary) -> str:
    if summary.unchanged:
        return (f"{_count(summary.files, 'file')}, {_count(summary.entries, 'entry')}; nothing changed "
                f"({summary.seconds * 1000:.0f} ms)\n")
    parts = [f"scanned {_count(summary.files, 'file')} ({summary.reread} read, {summary.blamed} blamed)",
             _count(summary.entries, "entry"), f"{summary.new} new", f"{summary.gone} gone",
             f"{summary.seconds:.2f} s"]
    return ", ".join(parts) + "\n"


def _count(n: int, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{n} {noun if n == 1 else plural}"


def summary_json(summary: ScanSummary) -> str:
    data = {k: getattr(summary, k) for k in ("files", "entries", "new", "gone", "reread", "blamed",
                                              "seconds", "unchanged", "head", "notices", "timings")}
    return json.dumps(data, indent=2) + "\n"
