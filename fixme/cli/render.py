"""Turning entries into text: tables for people, JSON/CSV/Markdown for tools."""

from __future__ import annotations

from typing import TYPE_CHECKING

import json

from ..safetext import printable, printable_lines
from ..scan.entry import age_label, location_label, location_suffix, shown_state

if TYPE_CHECKING:
    from ..scan.entry import Entry

GONE = "gone"  # the status of an entry no longer in the work tree (scan.entry.GONE)

LIST_FORMATS = ("table", "json", "jsonl", "csv", "markdown")
CSV_COLUMNS = ("id", "short_id", "tag", "slug", "title", "path", "line", "source", "workflow", "status",
               "commit", "author", "author_email", "date", "devlog_date", "labels")

STATE_COLOURS = {"new": "36", "backlog": "34", "wip": "33", "test": "35", "done": "32", "dropped": "90", GONE: "90"}
TAG_COLOURS = {"FIXME": "31", "BUG": "31", "XXX": "31", "HACK": "33", "TODO": "36", "PR": "35"}


class Style:
    """ANSI colour when enabled, plain text otherwise."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __call__(self, text: str, code: str | None) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and code else text

    def dim(self, text: str) -> str:
        return self(text, "2")

    def bold(self, text: str) -> str:
        return self(text, "1")


def entry_json(entry: Entry, short: int) -> dict:
    data = entry.to_dict()
    data["short_id"] = entry.id[:short]
    data["locations"] = [{"path": loc["path"], "line": loc["line"], **{k: v for k, v in loc.items()
                                                                        if k not in ("path", "line")}}
                         for loc in data["locations"]]
    return {"id": data.pop("id"), "short_id": data.pop("short_id"), **data}


def render_list(entries: list[Entry], fmt: str, short: int, width: int | None, style: Style) -> str:
    if fmt == "json":
        return json.dumps([entry_json(e, short) for e in entries], indent=2, ensure_ascii=False) + "\n"
    if fmt == "jsonl":
        return "".join(json.dumps(entry_json(e, short), ensure_ascii=False) + "\n" for e in entries)
    if fmt == "csv":
        return _csv(entries, short)
    if fmt == "markdown":
        return _markdown(entries, short)
    return _table(entries, short, width, style)


def _table(entries: list[Entry], short: int, width: int | None, style: Style) -> str:
    """The table for people: fits `width` cells (None: not a terminal, nothing is cut).

    cells.plan_table decides what gives way when narrow (the author and age
    first, then the title and the location, cut from the left).
    """
    from ..cells import HEADINGS, TABLE_COLUMNS, cell_width, cut_end, cut_location, location_minimum, pad, plan_table

    if not entries:
        return ""
    # Titles, paths and authors come from other people's commits: no cell may
    # hold a character that moves the cursor or reorders the row (tabs included).
    rows = [(printable(e.id[:short]), shown_state(e), printable(e.tag), printable(e.title or "(no title)"),
             (printable(e.path), location_suffix(e)), printable(e.author or "-"), age_label(e))
            for e in entries]
    location = TABLE_COLUMNS.index("location")
    natural = [max(len(HEADINGS[column]), *(cell_width("".join(r[i]) if i == location else r[i]) for r in rows))
               for i, column in enumerate(TABLE_COLUMNS)]
    layout = plan_table(natural, width, max(location_minimum(*r[location]) for r in rows))
    shown = [(TABLE_COLUMNS.index(column), w) for column, w in layout.shown()]
    gap = " " * layout.gap
    lines = [style.bold(gap.join(pad(cut_end(HEADINGS[TABLE_COLUMNS[i]], w), w) for i, w in shown).rstrip())]
    for e, row in zip(entries, rows):
        cells = [pad(cut_location(*row[i], w) if i == location else cut_end(row[i], w), w) for i, w in shown]
        text = gap.join(cells).rstrip()
        if width is not None and cell_width(text) > width:  # narrower than ID, STATE and TAG: cut the line
            lines.append(cut_end(text, width))
            continue
        if style.enabled:  # colour the padded cells so columns stay aligned
            colours = {0: "33", 1: STATE_COLOURS.get(row[1]), 2: TAG_COLOURS.get(e.tag), location: "2"}
            text = gap.join(style(cell, colours.get(i)) for (i, _), cell in zip(shown, cells)).rstrip()
        lines.append(text)
    return "\n".join(lines) + "\n"


def render_count(counted, fmt: str) -> str:
    """`list --count`: how many entries, by state, tag and author (a query.Tally)."""
    if fmt in ("json", "jsonl"):
        data = {"total": counted.total, "states": dict(counted.states), "tags": dict(counted.tags),
                "authors": dict(counted.authors)}
        return json.dumps(data, indent=2 if fmt == "json" else None, ensure_ascii=False) + "\n"
    if fmt == "csv":
        rows = [("total", "", counted.total)] + [(kind, name, n) for kind, pairs in
                                                  (("state", counted.states), ("tag", counted.tags),
                                                   ("author", counted.authors)) for name, n in pairs]
        return "kind,name,count\n" + "".join(f"{kind},{_csv_cell(name)},{n}\n" for kind, name, n in rows)
    lines = [f"{counted.total} entries" if counted.total != 1 else "1 entry"]
    for label, pairs in (("state", counted.states), ("tag", counted.tags), ("author", counted.authors)):
        if pairs:
            lines.append(f"{label:<8}" + "  ".join(f"{printable(name)} {n}" for name, n in pairs))
    return "\n".join(lines) + "\n"


def _csv_cell(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text


def _csv(entries: list[Entry], short: int) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        data = entry_json(e, short)
        writer.writerow([" ".join(data[c]) if c == "labels" else ("" if data[c] is None else data[c])
                         for c in CSV_COLUMNS])
    return buf.getvalue()


def _markdown(entries: list[Entry], short: int) -> str:
    lines = ["| id | state | tag | title | location | author |", "|---|---|---|---|---|---|"]
    for e in entries:
        cells = [f"`{e.id[:short]}`", shown_state(e), e.tag, e.title, f"`{location_label(e)}`", e.author or "-"]
        lines.append("| " + " | ".join(printable(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def render_show(entry: Entry, short: int, source: list, style: Style, history: list = (), states: list = (),
                bodies: list = ()) -> str:
    # Every field but the ids and our own words comes from someone's commit or
    # record: each goes through `printable` before it is styled.
    p = printable
    out: list[str] = []
    title = p(entry.title or "(no title)")
    state = shown_state(entry)
    out.append(f"{style(p(entry.tag), TAG_COLOURS.get(entry.tag))} {style(entry.id[:short], '33')}  "
               f"{style.bold(title)}  [{style(p(state), STATE_COLOURS.get(state))}]")
    out.append(f"  id:        {entry.id}")
    if entry.slug:
        out.append(f"  slug:      {p(entry.slug)}")
    out.append(f"  source:    {p(entry.source)}" + (f"  (devlog date {p(entry.devlog_date)})" if entry.devlog_date else ""))
    out.append(f"  blame:     {p(_blame_line(entry.commit, entry.author, entry.author_email, entry.date, entry.unblamed))}")
    out.append("  locations:")
    for loc in entry.locations:
        marker = "*" if (loc.path, loc.line) == (entry.path, entry.line) else " "
        blame = p(_blame_line(loc.commit, loc.author, None, loc.date, loc.unblamed))
        out.append(f"   {marker} {p(loc.path)}:{loc.line}  {style.dim(blame)}")
    if entry.fields:
        out.append("  fields:    " + p(", ".join(f"{k}: {v}" for k, v in entry.fields.items())))
    if entry.attrs:
        out.append("  attrs:     " + p(", ".join(f"{k}: {v}" for k, v in entry.attrs.items())))
    if entry.labels:
        out.append("  labels:    " + p(" ".join(f"#{label}" for label in entry.labels)))
    for ctx in entry.context:
        where = f"{ctx.get('path', '?')}:{ctx.get('line', '?')}" if ctx.get("path") else ""
        out.append(p(f"  context:   {where} {('at ' + ctx['commit'][:10]) if ctx.get('commit') else ''}".rstrip()))
    for link in entry.links:
        out.append(p(f"  link:      {link['rel']} {link['id'][:short]} {link.get('slug') or ''}".rstrip()))
    out.extend(_state_lines(states, style))
    out.append("  lifecycle: " + p(_lifecycle(entry)))
    for warning in entry.warnings:
        out.append(f"  warning:   {p(warning)}")
    others = [(path, line, body) for path, line, body in bodies if body and (path, line) != (entry.path, entry.line)]
    if entry.body:
        out.append("")
        if others:  # a slug written in several places: say which body is which
            out.append(style.dim(f"  {p(entry.path)}:{entry.line}:"))
        out.extend("    " + line for line in printable_lines(entry.body))
    for path, line, body in others:
        out.append("")
        out.append(style.dim(f"  {p(path)}:{line}:"))
        out.extend("    " + text for text in printable_lines(body))
    if source:
        out.append("")
        out.append(style.dim(f"  {p(entry.path)}:"))
        digits = len(str(source[-1].number))
        for line in source:
            mark = ">" if line.is_tag_line else " "
            text = f"  {mark} {str(line.number).rjust(digits)} │ {p(line.text.expandtabs(8))}"
            out.append(style.bold(text) if line.is_tag_line else style.dim(text))
    attachments = [item for item in history if item.kind == "attach"]
    if attachments:
        out.append("")
        out.append("  attachments:")
        for item in attachments:
            trust = "" if item.trusted else style.dim("  (not trusted)")
            out.append(f"    {attachment_label(item)}  {style.dim(p(item.blob or ''))}{trust}")
    if history:
        out.append("")
        out.append("  history:")
        out.extend("    " + line for item in history for line in history_lines(item, style))
    return "\n".join(out) + "\n"


def _state_lines(states: list, style: Style) -> list[str]:
    """Each attribute's value, and where it comes from: the winning record and, labelled
    apart, what the source writes (fold.StateSource)."""
    out = []
    for state in states:
        if state.record is None and state.written is None:
            continue
        label = "state" if state.attr == "workflow" else state.attr
        out.append(f"  {label + ':':<11}{printable(state.value or '')}")
        if state.record is not None:
            won = "  (applies)" if state.won == "record" else "  (older than the source's)"
            out.append(f"    record:  {printable(state.record.value)} {style.dim('(' + state.record.record_id[7:19] + ')')}"
                       + (won if state.written is not None else ""))
        if state.written is not None:
            won = "  (applies)" if state.won == "source" else "  (older than the record)"
            out.append(f"    written: {printable(state.written)} {style.dim('(in the source)')}"
                       + (won if state.record is not None else ""))
    return out


def state_sources_json(states: list) -> list[dict]:
    return [{"attr": s.attr, "value": s.value, "written": s.written, "won": s.won,
             "record": None if s.record is None else {"id": s.record.record_id, "value": s.record.value}}
            for s in states]


def history_lines(item, style: Style, entry_label: str | None = None) -> list[str]:
    """One record (a tracker HistoryItem) as text: what, who, when, and whether it applies.

    A record may come from anyone holding the network key: its every string
    (value, message, name, even the attribute) is shown through `printable`.
    """
    p = printable
    when = format_ms(item.time_ms)
    if item.kind == "comment":
        what = "commented"
    elif item.kind == "attach":
        what = f"attached {attachment_label(item)}"
    else:
        value = p(item.value)
        what = f"set {p(item.attr or '')} = {style(value, STATE_COLOURS.get(item.value) if item.attr == 'workflow' else None)}"
    status = "verified" if item.verified else "unverified"
    status += ", trusted" if item.trusted else ", NOT TRUSTED (not applied)"
    head = f"{when}  {p(item.author_name)}  {what}"
    if entry_label:
        head = f"{entry_label}  {head}"
    lines = [f"{head}  {style.dim('(' + status + ', ' + item.record_id[7:19] + ')')}"]
    text = item.value if item.kind == "comment" else item.message
    if text:
        lines.extend("    " + line for line in printable_lines(text))
    if item.commit:
        lines.append(f"    from commit {p(item.commit[:10])}")
    return lines


def attachment_label(item) -> str:
    """An attachment's name and size; a name that is no safe file name is shown quoted and flagged."""
    from ..tracker.attachments import safe_name

    size = f" ({item.size:,} bytes)" if item.size is not None else ""
    if safe_name(item.value):
        return item.value + size
    return f"{printable(repr(item.value))}{size} [unsafe name: refused as a file name]"


def history_json(item) -> dict:
    from dataclasses import asdict

    data = asdict(item)
    data["time"] = format_ms(item.time_ms, iso=True)
    return data


def format_ms(ms: int, iso: bool = False) -> str:
    """A record's time (ms since the epoch) in UTC, as ISO 8601 or for people."""
    import time

    stamp = time.gmtime(ms // 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00" if iso else "%Y-%m-%d %H:%M UTC", stamp)


def _blame_line(commit, author, email, date, unblamed=None) -> str:
    if unblamed:
        return f"unblamed: {unblamed} (fixme scan --blame tries again)"
    if commit is None:
        return "not committed yet"
    who = f"{author} <{email}>" if email else (author or "?")
    return f"{commit[:10]} {who} {date or ''}".rstrip()


def _lifecycle(entry: Entry) -> str:
    first = f"first seen at {entry.first_seen[:10]}" if entry.first_seen else "first seen before any commit"
    if entry.status == GONE:
        gone = f"gone at {entry.gone_commit[:10]}" if entry.gone_commit else "gone from the work tree (not committed)"
        return f"{first}; {gone}"
    return f"{first}; open"
