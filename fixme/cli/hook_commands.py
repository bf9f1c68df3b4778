"""`fixme hook install|uninstall|status|run` and `fixme check`."""

from __future__ import annotations

import json
import os
import sys

from ..errors import EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, FixmeError
from .common import open_tracker, scan, scanned_tracker
from ..safetext import printable
from .env import Environment

HOOK_DESCRIPTION = """\
Git hooks that keep fixme up to date: post-commit, post-merge, post-checkout
and post-rewrite run an incremental scan in the background, and after a
commit apply its 'Fixme: ID STATE' trailers as signed workflow records;
after a merge or checkout (a 'git pull') they take in the records 'git
fetch' brought. With --push-records, a pre-push hook also syncs records
with the remote you push to. They never make git wait and never fail a git
command; what they do is logged in .fixme/hook.log. Hooks already there
keep running."""

RUN_DESCRIPTION = """\
What the installed hooks run (you rarely need it by hand): an incremental
scan, then for post-commit, post-rewrite and post-merge the 'Fixme: ID STATE'
trailers of the new commits, each applied once. Hook runs take turns on
.fixme/hook.lock. Problems are reported on stderr; exit code 2 on errors."""

CHECK_DESCRIPTION = """\
Check the open entries against the rules in the [check] table of
.fixme/config.toml, after an incremental scan: require_slug (tags whose
entries need a slug), forbid_states (workflow states no entry may be in),
max_count (at most N open entries of a tag: open as 'fixme list' counts them,
in the work tree and not in a closed workflow state) and new_only. Prints one
line per violation, 'path:line: rule: message'. Meant for CI and pre-commit."""

CHECK_EPILOG = """\
exit codes: 0 no violations, 1 violations, 2 usage or config error.
example config:
  [check]
  require_slug = ["FIXME"]
  forbid_states = ["dropped"]
  [check.max_count]
  TODO = 100"""


def register(sub) -> None:
    """Add `hook` and `check` to the `fixme` subcommand parser."""
    import argparse

    from ..hooks import ALL_HOOK_NAMES, HOOK_NAMES, PUSH_HOOK

    p = sub.add_parser("hook", help="install or remove the git hooks that scan and apply commit trailers",
                       description=HOOK_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    hook_sub = p.add_subparsers(dest="hook_command", metavar="ACTION", required=True)
    h = hook_sub.add_parser("install", help=f"install {', '.join(HOOK_NAMES)} (again: refreshes them)",
                            description="Add fixme's block to each hook, in the directory git runs hooks from "
                                        "(core.hooksPath honoured). An existing shell hook gets the block after "
                                        "its #! line; any other hook is renamed to HOOK.fixme-chained and run "
                                        "after fixme. Installing twice is the same as once. Also adds "
                                        "fixme's fetch refspec to each git remote, so that 'git fetch' "
                                        "and 'git pull' bring records along.")
    h.add_argument("--push-records", action="store_true",
                   help=f"also install {PUSH_HOOK}: every 'git push' syncs records with that remote too "
                        "(in the background)")
    h.set_defaults(run=cmd_hook_install)
    h = hook_sub.add_parser("uninstall", help="remove exactly what 'hook install' added",
                            description="Take fixme's block out of each hook; delete a hook file fixme created "
                                        "when nothing else is in it, and rename a chained hook back.")
    h.set_defaults(run=cmd_hook_uninstall)
    h = hook_sub.add_parser("status", help="which hooks are installed, and where",
                            description="Show the hooks directory and, for each hook, whether fixme's block is "
                                        "in it and current, the opt-in pre-push hook (--push-records) too. "
                                        "Exit code 1 when any is missing or out of date (pre-push: only "
                                        "when installed and out of date).")
    h.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    h.set_defaults(run=cmd_hook_status)
    h = hook_sub.add_parser("run", help="internal: what the installed hooks run",
                            description=RUN_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    h.add_argument("--head", metavar="REV", help="the commit the event is about (default: HEAD); the hooks "
                                                 "pass HEAD as it was when they started, as it may move on")
    h.add_argument("--detached", action="store_true",
                   help="leave the terminal's session first (the hook runs this in the background)")
    h.add_argument("event", choices=ALL_HOOK_NAMES, metavar="EVENT", help=", ".join(ALL_HOOK_NAMES))
    h.add_argument("args", nargs="*", metavar="ARG", help="the hook's own arguments, as git gave them")
    h.set_defaults(run=cmd_hook_run)

    p = sub.add_parser("check", help="check entries against the project's rules (CI, pre-commit)",
                       description=CHECK_DESCRIPTION, epilog=CHECK_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--since", metavar="REV",
                   help="require_slug only for entries whose tag line changed after REV (e.g. origin/main)")
    p.add_argument("--format", choices=("text", "json", "github"), default="text",
                   help="text (default), json, or github: workflow commands that annotate the files in a "
                        "GitHub Actions run")
    p.add_argument("--no-scan", action="store_true", help="check the last scan's entries without rescanning")
    p.set_defaults(run=cmd_check)


# -- hook install / uninstall / status ----------------------------------------------


def hook_command() -> list[str]:
    """How the hooks start fixme: this interpreter, so no virtualenv needs to be active.

    -P keeps the repository's own directories off sys.path: a `fixme/`
    folder in the work tree must not shadow the installed package.
    """
    if not sys.executable:
        raise FixmeError("hook: cannot tell which Python runs fixme (sys.executable is empty)")
    return [sys.executable, "-P", "-m", "fixme"]


def _hooks_dir(args, env: Environment):
    """The repository's root (with .fixme/ made, which the hooks look for) and its hooks directory."""
    from pathlib import Path

    from ..hooks import HookError, hooks_dir
    from ..scan.gitio import GitError, find_root
    from ..scan.store import ensure_state_dir

    try:
        root = find_root(Path(env.start_dir(args.directory)))
        ensure_state_dir(root)
        return root, hooks_dir(root)
    except (GitError, HookError) as exc:
        raise FixmeError(f"hook: {exc}") from None
    except OSError as exc:
        raise FixmeError(f"hook: {exc.filename}: {exc.strerror}") from None


def cmd_hook_install(args, env: Environment) -> int:
    from ..hooks import ALL_HOOK_NAMES, HOOK_NAMES, PUSH_HOOK, HookError, install, status
    from ..tracker.gitsync import add_fetch_refspecs

    root, directory = _hooks_dir(args, env)
    # The pre-push hook, once opted in to, is refreshed with the others (say, for a new virtualenv).
    push = args.push_records or status(directory, hook_command(), [PUSH_HOOK])[0].installed
    try:
        changes = install(directory, hook_command(), ALL_HOOK_NAMES if push else HOOK_NAMES)
    except HookError as exc:
        raise FixmeError(f"hook install: {exc}") from None
    code = _report_changes(changes, env)
    for line in add_fetch_refspecs(root):
        env.stdout.write(line + "\n")
    return code


def cmd_hook_uninstall(args, env: Environment) -> int:
    from ..hooks import ALL_HOOK_NAMES, PUSH_HOOK, uninstall

    root, directory = _hooks_dir(args, env)
    # The push hook is optional: say nothing of it where it was never installed.
    changes = [c for c in uninstall(directory, ALL_HOOK_NAMES) if c.name != PUSH_HOOK or c.action != "absent"]
    return _report_changes(changes, env)


def _report_changes(changes, env: Environment) -> int:
    for change in changes:
        stream = env.stderr if change.failed else env.stdout
        stream.write(f"{change.name}: {change.detail}\n" if not change.failed else
                     f"fixme: {change.name}: {change.detail}\n")
    return EXIT_NOT_FOUND if any(change.failed for change in changes) else EXIT_OK


def cmd_hook_status(args, env: Environment) -> int:
    """Every hook, the opt-in pre-push one too: a missing pre-push is not a fault, a stale one is."""
    from ..hooks import ALL_HOOK_NAMES, PUSH_HOOK, status

    root, directory = _hooks_dir(args, env)
    states = status(directory, hook_command(), ALL_HOOK_NAMES)
    if args.format == "json":
        data = {"hooks_dir": str(directory), "log": str(root / ".fixme" / "hook.log"),
                "hooks": [{"name": s.name, "installed": s.installed, "how": s.how or None,
                           "current": s.current, "path": str(s.path), "optional": s.name == PUSH_HOOK}
                          for s in states]}
        env.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        env.stdout.write(f"hooks directory: {directory}\n")
        for s in states:
            env.stdout.write(f"  {s.name:<14} {_state_text(s)}\n")
        env.stdout.write(f"log: {root / '.fixme' / 'hook.log'}\n")
    faults = [s for s in states if not s.current and (s.installed or s.name != PUSH_HOOK)]
    return EXIT_NOT_FOUND if faults else EXIT_OK


def _state_text(state) -> str:
    from ..hooks import PUSH_HOOK

    if not state.installed:
        if state.name == PUSH_HOOK:
            return "not installed (optional: 'fixme hook install --push-records' syncs records on 'git push')"
        return "not installed"
    how = {"created": "fixme's own script", "in-script": "block in your script",
           "chained": "fixme's script, then your hook (.fixme-chained)"}[state.how]
    again = "'fixme hook install --push-records'" if state.name == PUSH_HOOK else "'fixme hook install'"
    return f"installed ({how})" + ("" if state.current else f"; out of date: run {again}")


# -- hook run -------------------------------------------------------------------------


def cmd_hook_run(args, env: Environment) -> int:
    """Scan, then apply commit trailers; every line goes to the hook log with a time stamp."""
    import time

    from .. import hooks

    if args.detached:
        hooks.detach()
    # git points hooks at the index it just used (for `commit -- PATHS`, a
    # temporary one that is gone by now); fixme wants the work tree's own.
    os.environ.pop("GIT_INDEX_FILE", None)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    prefix = f"{stamp} {args.event}"
    rewrites = _read_stdin() if args.event == "post-rewrite" else ""
    try:
        tracker, bar = open_tracker(args, env)
        state = tracker.root / ".fixme"
        hooks.rotate_log(state)
        with hooks.run_lock(state):
            summary = scan(tracker, bar, env)
            outcomes = tracker.apply_commit_trailers(args.event, args.head, args.args, rewrites)
            records = _records_by_git(tracker, args.event, args.args)
    except (FixmeError, hooks.HookError) as exc:
        if args.event == hooks.PUSH_HOOK:   # a push is never held up by fixme: one line, exit 0
            env.stderr.write(f"{prefix}: fixme: {_one_line(exc)}\n")
            return EXIT_OK
        env.stderr.write(f"{prefix}: fixme: {exc}\n")
        return getattr(exc, "exit_code", EXIT_USAGE)
    except Exception as exc:   # noqa: BLE001
        if args.event != hooks.PUSH_HOOK:
            raise
        # Whatever breaks here, the user's push goes on: one line in the log, exit 0.
        env.stderr.write(f"{prefix}: fixme: {type(exc).__name__}: {_one_line(exc)}\n")
        return EXIT_OK
    from .summary import render_summary

    env.stdout.write(f"{prefix}: {render_summary(summary)}")
    for line in records:
        env.stdout.write(f"{prefix}: {printable(line)}\n")
    for outcome in outcomes:
        if outcome.outcome == "problem":
            env.stdout.flush()  # the hook sends both streams to one log: keep the lines in order
            env.stderr.write(f"{prefix}: {printable(outcome.describe())}\n")
        else:
            env.stdout.write(f"{prefix}: {printable(outcome.describe())}\n")
    return EXIT_OK


def _records_by_git(tracker, event: str, event_args: list[str]) -> list[str]:
    """After a merge or checkout, take in the records `git fetch` brought; before a push
    (the opt-in pre-push hook), sync records with that remote. What happened, in lines."""
    from ..hooks import PUSH_HOOK
    from ..tracker import gitsync

    if event in ("post-merge", "post-checkout"):
        reports = gitsync.take_in_fetched(tracker)
        return [f"records from git remote {r.remote}: {r.records_in} in, {len(r.refused)} refused"
                for r in reports if r.records_in or r.refused]
    if event == PUSH_HOOK and event_args and event_args[0] in gitsync.remotes(tracker.root):
        try:
            outcomes = gitsync.sync(tracker, event_args[:1], prompts=False)
        except Exception as exc:   # noqa: BLE001 -- never the user's push's problem
            return [f"records with git remote {event_args[0]}: not synced: {_one_line(exc)}"]
        lines = []
        for outcome in outcomes:
            r = outcome.report
            lines.append(f"records with git remote {outcome.remote}: " +
                         (f"cannot sync: {outcome.error}" if r is None else
                          f"{r.records_in} in, {r.records_out} out, {len(r.refused)} refused"))
        return lines
    return []


def _one_line(exc: BaseException) -> str:
    """An error as one printable line of the hook log."""
    text = str(exc).strip().splitlines()
    return printable(text[0]) if text else type(exc).__name__


def _read_stdin() -> str:
    """post-rewrite's list of rewritten commits (the hook gives it on stdin)."""
    stream = sys.stdin
    if stream is None or stream.isatty():
        return ""
    try:
        return stream.read()
    except (OSError, ValueError, UnicodeDecodeError):
        return ""


# -- check -------------------------------------------------------------------------------


def cmd_check(args, env: Environment) -> int:
    tracker = scanned_tracker(args, env)
    violations = tracker.check(since=args.since)
    if args.format == "json":
        data = {"ok": not violations, "count": len(violations),
                "violations": [{"path": v.path, "line": v.line, "rule": v.rule, "message": v.message,
                                "entry": v.entry_id} for v in violations]}
        env.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    elif args.format == "github":
        for v in violations:
            env.stdout.write(github_annotation(v) + "\n")
    else:
        for v in violations:
            env.stdout.write(printable(v.describe()) + "\n")
    if violations and args.format == "text":
        env.stderr.write(f"fixme check: {len(violations)} violation{'s' if len(violations) != 1 else ''}\n")
    return EXIT_NOT_FOUND if violations else EXIT_OK


def github_annotation(violation) -> str:
    """A GitHub Actions workflow command that shows the violation on the file's line."""
    props = f"file={_escape_property(violation.path)}"
    if violation.line is not None:
        props += f",line={violation.line}"
    props += ",title=fixme check"
    return f"::error {props}::{_escape_data(f'{violation.rule}: {violation.message}')}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
