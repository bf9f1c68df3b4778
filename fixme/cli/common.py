"""Helpers every command module shares: open the tracker, scan, pick a style."""

from __future__ import annotations

from .env import Environment


def open_tracker(args, env: Environment, will_scan: bool = False):
    """The tracker for the command's directory, with a progress bar on stderr."""
    from pathlib import Path

    from ..node.keys import fixme_home
    from ..tracker.tracker import Tracker
    from .notices import print_config_notices
    from .progress import ProgressBar

    bar = ProgressBar(env.stderr, env.stderr_isatty)
    tracker = Tracker.open(Path(env.start_dir(args.directory)), bar, fixme_home(env.environ))
    tracker.notify = lambda line: env.stderr.write(f"fixme: {line}\n")
    print_config_notices(tracker.config, env)
    if will_scan:
        tracker.start_scan()  # git works on its status while the rest of fixme loads
    return tracker, bar


def scan(tracker, bar, env: Environment, force: bool = False, known=None, must_save: bool = False,
         fetch_blame: bool = False):
    """Rescan (incrementally unless forced), then print the scan's notices.

    `known` is a `git status` check the caller already made (the scan reuses it).
    Where the cache cannot be written, a reading command is answered from a
    scan kept in memory (one notice says so); `must_save` makes that an error.
    `fetch_blame` lets blame download history a partial clone lacks.
    """
    try:
        summary = tracker.scan(force=force, known=known, must_save=must_save, fetch_blame=fetch_blame)
    finally:
        bar.close()
    from ..safetext import printable

    for notice in summary.notices:   # notices name files: a path may hold anything
        env.stderr.write(f"fixme: {printable(notice)}\n")
    if summary.unsaved and not must_save:
        note = f"{summary.unsaved}; scanned without saving"
        if note not in env.closing_notices:  # once, however many scans the command ran
            env.closing_notices.append(note)
    return summary


def scanned_tracker(args, env: Environment):
    """The tracker after an incremental scan, unless the command was given --no-scan."""
    tracker, bar = open_tracker(args, env, will_scan=not args.no_scan)
    if not args.no_scan:
        scan(tracker, bar, env)
    return tracker


def report_written(written, what: str, tracker, env: Environment) -> None:
    """What a write command did: the entry, the change, the record; a warning if it does not apply."""
    short = tracker.short_id_length()
    entry = written.entry
    from ..safetext import printable

    env.stdout.write(f"{entry.id[:short]} {entry.tag}: {printable(entry.title)}\n  {printable(what)}  "
                     f"(record {written.record_id[7:19]})\n")
    if not written.trusted:
        env.stderr.write("fixme: your key is not in this project's trust list, so the record is kept but does "
                         "not apply; run 'fixme trust add' with your key (see 'fixme key show')\n")


def style(args, env: Environment):
    from .render import Style

    return Style(env.wants_color(args.color))
