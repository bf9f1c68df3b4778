"""`fixme search`: full-text search over entries (the index lives in .fixme/index/)."""

from __future__ import annotations

import json

from ..errors import EXIT_NOT_FOUND, EXIT_OK, FixmeError
from .common import open_tracker, scan, style
from .env import Environment

DESCRIPTION = """\
Search the entries' titles, bodies and labels, best matches first, after an
incremental scan. Gone entries are left out unless the query asks for
state:gone. The index in .fixme/index/ catches up by itself.

query syntax:
  peer timeout          entries with both words (any order, any case)
  peer OR timeout       either word;  peer NOT timeout: the first without the second
  "peer list"           the words side by side (a phrase)
  time*                 words starting with "time" (timeout, timer, ...)
  state:wip             a field: title, body, tag, state, author, path, labels, slug
  path:src/*            paths under src/;  path:*.py by extension;  path:src the same as src/*
  author:ada            author name or e-mail address (a word of it)
  tag:fixme labels:net  tag and label (label: works too), any case
  (a OR b) state:new    parentheses group
Words match whole words: peer does not find peers (write peer*). Quote the
whole query for the shell: fixme search 'state:wip "peer list"'.
"""

EPILOG = """\
exit codes: 0 matches found, 1 no match (like grep), 2 bad query or other error.
examples:
  fixme search timeout
  fixme search 'state:wip author:ada path:src/*'
  fixme search '"block store" OR merkle' --format json"""

DEFAULT_LIMIT = 50
HIGHLIGHT = "1;7"  # bold, reversed: the matched words in a title


def register(sub) -> None:
    """Add `search` to the `fixme` subcommand parser."""
    import argparse  # already loaded by main.build_parser

    p = sub.add_parser("search", help="full-text search: words, \"phrases\", prefix*, field:value",
                       description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("query", nargs="+", metavar="QUERY", help="the query (several arguments are joined by spaces)")
    p.add_argument("--format", choices=("text", "json", "jsonl"), default="text",
                   help="output format (default: text, one line per match)")
    p.add_argument("-n", "--limit", type=int, default=DEFAULT_LIMIT, metavar="N",
                   help=f"at most N matches (default: {DEFAULT_LIMIT}; 0: all)")
    p.add_argument("--no-scan", action="store_true", help="search the last scan's entries without rescanning")
    p.set_defaults(run=cmd_search)


def cmd_search(args, env: Environment) -> int:
    from ..tracker.search import load_whoosh

    text = " ".join(args.query)
    if not text.strip():
        raise FixmeError("search: the query is empty")
    if args.limit < 0:
        raise FixmeError("search: --limit must be 0 (all) or more")
    tracker, bar = open_tracker(args, env, will_scan=not args.no_scan)
    load_whoosh()  # ~80 ms of imports, while `git status` runs for the scan
    if not args.no_scan:
        scan(tracker, bar, env)
    hits = tracker.search(text, args.limit or None)
    env.closing_notices.extend(tracker.search_notices)
    short = tracker.search_id_length() if hits else 0
    if args.format == "json":
        env.stdout.write(json.dumps([hit_json(hit, short) for hit in hits], indent=2, ensure_ascii=False) + "\n")
    elif args.format == "jsonl":
        env.stdout.write("".join(json.dumps(hit_json(hit, short), ensure_ascii=False) + "\n" for hit in hits))
    else:
        env.stdout.write(render_hits(hits, short, env.width, style(args, env)))
    if not hits:
        if env.stdout_isatty:  # scripts read the exit code, as with grep
            env.stderr.write("no matches\n")
        return EXIT_NOT_FOUND
    return EXIT_OK


def hit_json(hit, short: int) -> dict:
    from .render import entry_json

    data = entry_json(hit.entry, short)
    return {"id": data.pop("id"), "short_id": data.pop("short_id"), "score": round(hit.score, 4),
            "terms": hit.terms, **data}


def render_hits(hits: list, short: int, width: int | None, paint) -> str:
    """One line per hit, as `list` shows entries: id, state, tag, title, location.

    Cut to `width` cells as the list table is (cells.py); None, off a terminal: nothing is cut.
    """
    from ..cells import cell_width, cut_end, cut_location, pad
    from ..scan.entry import location_suffix, shown_state
    from .render import STATE_COLOURS, TAG_COLOURS

    from ..safetext import printable

    rows = [(hit.entry.id[:short], shown_state(hit.entry), printable(hit.entry.tag), printable(hit.entry.path),
             location_suffix(hit.entry)) for hit in hits]
    state_width = max((len(row[1]) for row in rows), default=0)
    tag_width = max((cell_width(row[2]) for row in rows), default=0)
    lines = []
    for hit, (short_id, state, tag, path, suffix) in zip(hits, rows):
        title = printable(hit.entry.title or "(no title)")
        location = path + suffix
        if width is not None:
            location = cut_location(path, suffix, 40)
            fixed = len(short_id) + state_width + tag_width + cell_width(location) + 8
            title = cut_end(title, max(12, width - fixed))
        cells = [paint(short_id, "33"), paint(state.ljust(state_width), STATE_COLOURS.get(state)),
                 paint(pad(tag, tag_width), TAG_COLOURS.get(tag)), highlight(title, hit.terms, paint),
                 _highlight_location(location, hit.entry.path, hit.terms, paint)]
        lines.append("  ".join(cells))
    return "".join(line + "\n" for line in lines)


def highlight(text: str, terms: list[str], paint) -> str:
    """`text` with the words among `terms` painted (unchanged without colour)."""
    from ..tracker.search import matched_spans

    if not paint.enabled:
        return text
    out, at = [], 0
    for start, end in matched_spans(text, terms):
        out.append(text[at:start])
        out.append(paint(text[start:end], HIGHLIGHT))
        at = end
    out.append(text[at:])
    return "".join(out)


def _highlight_location(location: str, path: str, terms: list[str], paint) -> str:
    """The location dimmed, with the matched part of its path (a directory or the file) painted."""
    prefixes = [t for t in terms if path == t or (t.endswith("/") and path.startswith(t))]
    if not paint.enabled or not prefixes or not location.startswith(path):  # cut from the left: no match shown
        return paint.dim(location)
    cut = len(max(prefixes, key=len))
    return paint(location[:cut], HIGHLIGHT) + paint.dim(location[cut:])
