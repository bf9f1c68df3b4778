"""`fixme` command line: parse arguments, call the Tracker, print the result.

Kept thin on purpose: every decision about entries lives in fixme.tracker,
so the dashboard and the CLI give the same answers.
"""

from __future__ import annotations

import argparse
import os
import sys

from .prefetch import StatusPrefetch

# Start `git status` before argparse and the rest load, when the command line
# plainly asks for a scan: git's work then overlaps the imports (a warm scan
# is little else). A wrong guess costs one idle git process.
_PREFETCH = StatusPrefetch.for_argv(sys.argv[1:])

from .. import __version__  # noqa: E402
from ..errors import EXIT_OK, EXIT_USAGE, Ambiguous, FixmeError  # noqa: E402
from ..safetext import printable  # noqa: E402
from .common import open_tracker, scan, style  # noqa: E402
from .env import Environment  # noqa: E402

DESCRIPTION = """\
fixme: a bug tracker that lives in the code.

It scans a git repository's comments, devlogs and task lists for TODO, FIXME,
PR and other tagged entries, and ties each one to its file, line and the
commit that introduced it. Commands that read entries rescan incrementally
first, so what you see is always the current work tree.
"""

EPILOG = """\
exit codes: 0 ok, 1 entry not found or ambiguous, 2 usage or environment error.
Run 'fixme COMMAND --help' for the options of one command."""


# The modules that register the other commands (main registers its own:
# init, scan, list, show, demo). A command line builds only the parsers of
# its own command: building all of them (and importing every command module)
# would cost more than the rest of a warm `fixme scan`.
_OWN_COMMANDS = ("init", "scan", "list", "show", "demo")
_COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("set-workflow", "set", "comment", "log", "key", "trust"), ("record_commands",)),
    **dict.fromkeys(("node", "sync", "attach", "attachment"), ("node_commands", "sync_commands")),
    "fsck": ("node_commands",),
    "search": ("search_commands",),
    "hook": ("hook_commands",),
    "check": ("hook_commands",),
    "tui": ("tui_commands",),
}


def command_word(argv: list[str]) -> str | None:
    """The command a command line names, past the global options; None when
    there is none (`fixme`, `fixme --help`, `fixme --version`)."""
    words = iter(argv)
    for word in words:
        if word in ("-C", "--color"):
            next(words, None)
        elif not word.startswith("-"):
            return word
        elif not word.startswith(("-C", "--color=")):
            return None
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`'s command (every command's parser when it names
    none, or one that does not exist, so help and errors list them all)."""
    command = command_word(argv) if argv is not None else None
    known = command in _OWN_COMMANDS or command in _COMMAND_MODULES
    wanted = set(_OWN_COMMANDS) | set(_COMMAND_MODULES) if not known else {command}

    class _Parser(argparse.ArgumentParser):
        """argparse that reports usage errors as one line and exit code 2."""

        def error(self, message: str) -> None:  # type: ignore[override]
            command = self.prog.removeprefix("fixme").strip()
            raise FixmeError(f"{command}: {message}" if command else message)

    parser = _Parser(prog="fixme", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-C", dest="directory", metavar="PATH", help="run as if started in PATH (like git -C)")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour output: auto (only on a terminal, honours NO_COLOR), always, never")
    parser.add_argument("--version", action="version", version=f"fixme {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in _OWN_COMMANDS:
        if command in wanted:
            _OWN_PARSERS[command](sub)
    modules = {name for command in wanted for name in _COMMAND_MODULES.get(command, ())}
    _register_modules(sub, modules)
    return parser


def _register_modules(sub, modules: set[str]) -> None:
    from importlib import import_module

    loaded = {name: import_module(f"{__package__}.{name}") for name in sorted(modules)}
    node_sub = loaded["node_commands"].register(sub) if "node_commands" in loaded else None
    for name, module in loaded.items():
        if name == "sync_commands":
            module.register(sub, node_sub)
        elif name != "node_commands":
            module.register(sub)


def _add_init(sub) -> None:
    p = sub.add_parser("init", help="write .fixme/config.toml with every default, and git-ignore local state",
                       description="Write .fixme/config.toml (commented, every default spelled out) and make "
                                   "sure local state under .fixme/ is git-ignored. An existing config is kept.")
    p.set_defaults(run=cmd_init)


def _add_scan(sub) -> None:
    p = sub.add_parser("scan", help="scan the repository and report what changed",
                       description="Scan the work tree for entries and blame their tag lines. Incremental: "
                                   "unchanged files and blobs already blamed are not redone.")
    p.add_argument("--full", action="store_true",
                   help="rebuild the scan cache from nothing: read and blame everything again, and forget "
                        "this clone's history of gone entries and first sightings (records are kept)")
    p.add_argument("--blame", action="store_true",
                   help="blame again the lines git could not blame, letting git download the history a "
                        "partial clone lacks (a plain scan never downloads anything)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    p.set_defaults(run=cmd_scan)


LIST_DESCRIPTION = """\
List entries, after an incremental scan.

By default only open entries: present in the work tree and not in a closed
workflow state (workflow.closed, e.g. done, dropped). --closed shows the
closed ones, --gone the ones no longer in the work tree, --all every one;
--state S shows entries in state S whatever set it is in. Filters of the
same kind are alternatives (--tag TODO --tag FIXME); different kinds must
all match. A tag, state or label that does not exist is an error (exit 2).
"""

LIST_EPILOG = """\
examples:
  fixme list --mine                    my open entries (blame or assigned)
  fixme list --branch                  what this branch added since it left main
  fixme list --state test --sort date  what is in review, oldest first
  fixme list --count --all             how many, by state, tag and author"""


def _add_list(sub) -> None:
    p = sub.add_parser("list", help="list entries (open ones: present and not done; --all for every one)",
                       description=LIST_DESCRIPTION, epilog=LIST_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--state", action="append", default=[], metavar="S", help="only entries in workflow state S")
    p.add_argument("--tag", action="append", default=[], metavar="T", help="only entries with tag T")
    p.add_argument("--author", metavar="TEXT", help="only entries whose author name or e-mail contains TEXT")
    p.add_argument("--path", action="append", default=[], metavar="GLOB", help="only entries at a path matching GLOB (or below a directory)")
    p.add_argument("--label", action="append", default=[], metavar="L", help="only entries labelled #L")
    p.add_argument("--mine", action="store_true",
                   help="only my entries: blame names me (git user.email or user.name), the line is not "
                        "committed yet, or the entry is assigned to me or my key")
    p.add_argument("--assigned", metavar="WHO", help="only entries assigned to WHO (a part of the name, any case)")
    p.add_argument("--since", metavar="REV", help="only entries whose tag line a commit in REV..HEAD wrote "
                                                  "(or not committed yet)")
    p.add_argument("--branch", action="store_true",
                   help="--since the point where this branch left main (or master, origin/HEAD)")
    p.add_argument("--closed", action="store_true", help="show entries in a closed workflow state")
    p.add_argument("--gone", action="store_true", help="show entries no longer in the work tree")
    p.add_argument("--all", action="store_true", help="show every entry: open, closed and gone")
    p.add_argument("--sort", choices=("path", "date", "state"), default="path", help="order (default: path)")
    p.add_argument("--reverse", action="store_true", help="the order backwards")
    p.add_argument("--limit", type=int, metavar="N", help="at most N entries")
    p.add_argument("--count", action="store_true", help="only how many, by state, tag and author")
    p.add_argument("--format", choices=("table", "json", "jsonl", "csv", "markdown"), default="table",
                   help="output format (default: table)")
    p.add_argument("--width", type=int, metavar="N",
                   help="fit the table in N columns (default: the terminal's width; not cut off a terminal)")
    p.add_argument("--no-scan", action="store_true", help="show the last scan's result without rescanning")
    p.set_defaults(run=cmd_list)


def _add_show(sub) -> None:
    p = sub.add_parser("show", help="everything about one entry",
                       description="Show one entry: header, locations, blame, body, source lines, fields, "
                                   "labels, links and lifecycle. ID is a full id, a unique prefix, or a slug "
                                   "(pr:SLUG for the PR entry of a slug).")
    p.add_argument("id", metavar="ID")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    p.add_argument("--no-scan", action="store_true", help="do not rescan first")
    p.set_defaults(run=cmd_show)


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="replay the bundled sample project into a git repository and list it",
                       description="Replay the sample project's history (several authors, renames, moved and "
                                   "removed entries) into a new git repository, then run 'fixme list' on it.")
    p.add_argument("dir", nargs="?", metavar="DIR", help="where to create it (default: a new temporary directory)")
    p.set_defaults(run=cmd_demo)


_OWN_PARSERS = {"init": _add_init, "scan": _add_scan, "list": _add_list, "show": _add_show, "demo": _add_demo}


def main(argv: list[str] | None = None, env: Environment | None = None) -> int:
    """Run one command line; without `argv` this is the program, and it ends the process."""
    if argv is not None:
        return run(argv, env or Environment.from_system())
    code = run(sys.argv[1:], env or Environment.from_system(prefetch=True))
    _exit_without_teardown(code)
    return code


def _exit_without_teardown(code: int) -> None:
    """End the process once its output is out, skipping the interpreter's teardown.

    Every command has closed its store and written its files atomically
    by now, and leaves no threads; what remains is freeing a few hundred
    modules, ~2-4 ms, which is a tenth of a small scan. Should flushing
    fail (a closed pipe), the normal exit reports it as usual.
    """
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(code)


def run(argv: list[str], env: Environment) -> int:
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help(env.stdout)
            return EXIT_USAGE
        code = args.run(args, env)
        for notice in env.closing_notices:
            env.stderr.write(f"fixme: {printable(notice)}\n")
        return code
    except Ambiguous as exc:
        env.stderr.write(f"fixme: {printable(str(exc))}\n")
        for entry in exc.candidates:
            env.stderr.write(printable(f"  {entry.id[:12]}  {entry.tag}: {entry.title}  ({entry.path}:{entry.line})")
                             + "\n")
        return exc.exit_code
    except FixmeError as exc:
        # One line, whatever the message quotes (a peer's reason, a record's value, a path).
        env.stderr.write(f"fixme: {printable(str(exc))}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        env.stderr.write("fixme: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 — only the environment's errors, below; anything else is a bug
        message = environment_error(exc)
        if message is None:
            raise
        env.stderr.write(f"fixme: {printable(message)}\n")
        return EXIT_USAGE


def environment_error(exc: Exception) -> str | None:
    """One line for a failure of the machine rather than of fixme: a file that cannot be
    written or read (read-only, full disk, permissions), a database SQLite cannot open or
    write. None for anything else. The last resort: commands name the file themselves
    where they can."""
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    sqlite3 = sys.modules.get("sqlite3")  # never imported just to ask
    if sqlite3 is not None and isinstance(exc, sqlite3.OperationalError):
        return f"database: {exc}"
    return None


# -- commands ----------------------------------------------------------------


def cmd_init(args, env: Environment) -> int:
    tracker, _ = open_tracker(args, env)
    for line in tracker.init(user_name=env.environ.get("USER")):
        env.stdout.write(line + "\n")
    return EXIT_OK


def cmd_scan(args, env: Environment) -> int:
    import time

    from ..scan.quickcheck import check_status, reads_legacy_config
    from .summary import render_summary, summary_json

    started = time.perf_counter()
    start = env.start_dir(args.directory)
    # Nothing changed? Then answer without loading the scanner at all.
    prefetched = _PREFETCH.take(start) if _PREFETCH is not None and env.prefetch else None
    check = check_status(start, prefetched)
    if check is not None and check.unchanged() and not (args.full or args.blame):
        summary = check.summary()
        if reads_legacy_config(check.state):
            from .notices import print_legacy_config_notices  # reads the config: only then

            print_legacy_config_notices(check.root, env)
        summary.seconds = time.perf_counter() - started
    else:
        if check is not None and not args.full:
            from ..scan.early import start_early_git

            check.early = start_early_git(check)  # git works on the new commits while the scanner loads
        # The scan reuses this `git status` rather than running another.
        tracker, bar = open_tracker(args, env, will_scan=check is None)
        summary = scan(tracker, bar, env, force=args.full, known=check, must_save=True, fetch_blame=args.blame)
    env.stdout.write(summary_json(summary) if args.format == "json" else render_summary(summary))
    return EXIT_OK


def cmd_list(args, env: Environment) -> int:
    from .render import render_count, render_list

    if args.width is not None and args.width < 1:
        raise FixmeError("list: --width must be at least 1")
    if args.limit is not None and args.limit < 1:
        raise FixmeError("list: --limit must be at least 1")
    if args.since is not None and args.branch:
        raise FixmeError("list: give --since REV or --branch, not both")
    tracker, bar = open_tracker(args, env, will_scan=not args.no_scan)
    if not args.no_scan:
        scan(tracker, bar, env)
    query = list_query(args, tracker)
    entries = tracker.list(query)
    if args.count:
        env.stdout.write(render_count(tracker.tally(entries), args.format))
        return EXIT_OK
    width = args.width if args.width is not None else env.width
    env.stdout.write(render_list(entries, args.format, tracker.short_id_length(), width, style(args, env)))
    if args.format == "table" and not entries and env.stdout_isatty:
        env.stderr.write(tracker.empty_hint(query) + "\n")
    return EXIT_OK


def list_query(args, tracker):
    """The EntryQuery a `list` command line asks for; FixmeError for a tag, state or label
    that does not exist (a typo would otherwise be an empty list that looks like an answer)."""
    from ..tracker.query import CLOSED, GONE, OPEN, SCOPES, EntryQuery

    config = tracker.config
    for state in args.state:
        if state not in config.states and state != GONE:
            raise FixmeError(f"unknown state {state!r}; valid: {', '.join(config.states)}, gone")
    known_tags = {t.upper() for t in config.tags}
    for tag in args.tag:
        if tag.upper() not in known_tags:
            raise FixmeError(f"unknown tag {tag!r}; valid: {', '.join(config.tags)}")
    labels = [label.lstrip("#") for label in args.label]
    if labels:
        known = tracker.labels()
        for label in labels:
            if label not in known:
                raise FixmeError(f"unknown label {label!r}: no entry carries #{label}")
    scopes = {scope for scope, wanted in ((CLOSED, args.closed), (GONE, args.gone)) if wanted}
    scopes = set(SCOPES) if args.all else scopes or {OPEN}
    commits = None
    if args.since is not None or args.branch:
        commits = tracker.commits_since(args.since if args.since is not None else tracker.branch_base())
    return EntryQuery(states=args.state, tags=args.tag, author=args.author, paths=args.path, labels=labels,
                      scopes=frozenset(scopes), closed_states=config.closed_states,
                      mine=tracker.me() if args.mine else None, assigned=args.assigned, commits=commits,
                      sort=args.sort, reverse=args.reverse, limit=args.limit)


def cmd_show(args, env: Environment) -> int:
    import json

    from .render import entry_json, history_json, render_show, state_sources_json

    tracker, bar = open_tracker(args, env, will_scan=not args.no_scan)
    if not args.no_scan:
        scan(tracker, bar, env)
    entry = tracker.get(args.id)
    short = tracker.short_id_length()
    history = tracker.history(entry.id)
    states = tracker.state_sources(entry)
    bodies = tracker.location_bodies(entry) if len(entry.locations) > 1 else []
    if args.format == "json":
        data = entry_json(entry, short)
        data["source_lines"] = [{"line": s.number, "text": s.text} for s in tracker.source_lines(entry)]
        data["history"] = [history_json(item) for item in history]
        data["state_sources"] = state_sources_json(states)
        data["location_bodies"] = [{"path": path, "line": line, "body": body} for path, line, body in bodies]
        env.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    else:
        env.stdout.write(render_show(entry, short, tracker.source_lines(entry), style(args, env), history,
                                     states, bodies))
    return EXIT_OK


def cmd_demo(args, env: Environment) -> int:
    import tempfile

    from .. import sample

    try:
        source = sample.find_sample_dir()
    except FileNotFoundError as exc:
        raise FixmeError(str(exc)) from None
    from pathlib import Path

    dest = Path(args.dir).expanduser() if args.dir else Path(tempfile.mkdtemp(prefix="fixme-demo-")) / "sample"
    dest = dest if dest.is_absolute() else Path(env.cwd) / dest
    from ..tracker.tracker import Tracker

    def scan_after(sha: str) -> None:
        # Scanning after every commit records the lifecycle as it happened:
        # entries removed by a commit become gone at that commit.
        Tracker.open(dest).scan()

    try:
        commits = sample.replay_history(source, dest, after_commit=scan_after)
    except (ValueError, RuntimeError, OSError) as exc:
        raise FixmeError(f"demo: {exc}") from None
    env.stderr.write(f"replayed {len(commits)} commits into {dest}, scanning after each\n")
    list_args = build_parser().parse_args(["--color", args.color, "-C", str(dest), "list"])
    code = cmd_list(list_args, env)
    env.stderr.write(f"\ntry: fixme -C {dest} show <ID>   or   fixme -C {dest} list --all --format json\n")
    return code
