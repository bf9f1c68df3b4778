"""Commands that write or read signed records: set-workflow, set, comment, log,
key, trust."""

from __future__ import annotations

import json

from ..errors import EXIT_OK, FixmeError
from .common import open_tracker, report_written, scanned_tracker, style
from .env import Environment


def register(sub) -> None:
    """Add the record commands to the `fixme` subcommand parser."""
    p = sub.add_parser("set-workflow", help="move an entry to another workflow state (a signed record)",
                       description="Write a signed record that moves an entry to STATE. It shows at once in "
                                   "'list' and 'show'. STATE must be one of workflow.states in the config.")
    p.add_argument("id", metavar="ID", help="entry id, unique prefix, or slug")
    p.add_argument("state", metavar="STATE")
    p.add_argument("-m", "--message", help="why (kept in the record and shown in the history)")
    _scan_options(p)
    p.set_defaults(run=cmd_set_workflow)

    p = sub.add_parser("set", help="set another attribute of an entry (assigned, priority, …)",
                       description="Write a signed record that sets ATTR of an entry to VALUE. ATTR is "
                                   "'workflow' or one of workflow.attributes in the config; "
                                   "[workflow.values] may limit the values.")
    p.add_argument("id", metavar="ID")
    p.add_argument("attr", metavar="ATTR")
    p.add_argument("value", metavar="VALUE")
    p.add_argument("-m", "--message", help="why (kept in the record)")
    _scan_options(p)
    p.set_defaults(run=cmd_set)

    p = sub.add_parser("comment", help="add a signed comment to an entry",
                       description="Write a signed comment record; 'show' lists it in the history.")
    p.add_argument("id", metavar="ID")
    p.add_argument("text", metavar="TEXT")
    _scan_options(p)
    p.set_defaults(run=cmd_comment)

    p = sub.add_parser("log", help="list records, newest first (of one entry, or all)",
                       description="List the signed records of the tracker's log, newest first, with who, "
                                   "when, what, and whether each is verified and trusted.")
    p.add_argument("id", nargs="?", metavar="ID", help="only records about this entry")
    p.add_argument("-n", "--limit", type=int, metavar="N", help="at most N records")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    _scan_options(p)
    p.set_defaults(run=cmd_log)

    p = sub.add_parser("key", help="your signing key: show it, or make one",
                       description="Your ed25519 identity lives in $FIXME_HOME/identity.key "
                                   "(default ~/.config/fixme), mode 0600. Records you write are signed with it.")
    key_sub = p.add_subparsers(dest="key_command", metavar="ACTION", required=True)
    k = key_sub.add_parser("show", help="print your public key and its fingerprint")
    k.add_argument("--format", choices=("text", "json"), default="text")
    k.set_defaults(run=cmd_key_show)
    k = key_sub.add_parser("init", help="make your key (never overwrites an existing one)")
    k.set_defaults(run=cmd_key_init)

    p = sub.add_parser("trust", help="the project's trust list: whose records apply",
                       description="The trust list lives in .fixme/config.toml ([[trust]] tables), so it is "
                                   "committed and git history governs it. Sync refuses records by keys not in "
                                   "it; your own are kept but do not apply.")
    trust_sub = p.add_subparsers(dest="trust_command", metavar="ACTION", required=True)
    t = trust_sub.add_parser("add", help="trust a key")
    t.add_argument("key", metavar="KEY", help="ed25519:<64 hex digits> (see 'fixme key show')")
    t.add_argument("--name", required=True, help="the name shown for this key")
    t.set_defaults(run=cmd_trust_add)
    t = trust_sub.add_parser("list", help="list trusted keys")
    t.add_argument("--format", choices=("text", "json"), default="text")
    t.set_defaults(run=cmd_trust_list)
    t = trust_sub.add_parser("remove", help="stop trusting a key")
    t.add_argument("key", metavar="KEY")
    t.set_defaults(run=cmd_trust_remove)


def _scan_options(p) -> None:
    p.add_argument("--no-scan", action="store_true", help="do not rescan first (use the last scan's entries)")


def cmd_set_workflow(args, env: Environment) -> int:
    tracker = scanned_tracker(args, env)
    written = tracker.set_attribute(args.id, "workflow", args.state, args.message)
    report_written(written, f"workflow → {args.state}", tracker, env)
    return EXIT_OK


def cmd_set(args, env: Environment) -> int:
    tracker = scanned_tracker(args, env)
    written = tracker.set_attribute(args.id, args.attr, args.value, args.message)
    report_written(written, f"{args.attr} → {args.value}", tracker, env)
    return EXIT_OK


def cmd_comment(args, env: Environment) -> int:
    tracker = scanned_tracker(args, env)
    written = tracker.comment(args.id, args.text)
    report_written(written, "comment added", tracker, env)
    return EXIT_OK


def cmd_log(args, env: Environment) -> int:
    from .render import history_json, history_lines

    if args.limit is not None and args.limit < 1:
        raise FixmeError("log: --limit must be at least 1")
    tracker = scanned_tracker(args, env) if args.id else open_tracker(args, env)[0]
    entry_id = tracker.get(args.id).id if args.id else None
    items = list(reversed(tracker.history(entry_id)))[:args.limit]
    if args.format == "json":
        env.stdout.write(json.dumps([history_json(item) for item in items], indent=2, ensure_ascii=False) + "\n")
        return EXIT_OK
    short = tracker.short_id_length()
    paint = style(args, env)
    for item in items:
        label = None if entry_id else paint(item.entry_id[:short], "33")
        env.stdout.write("\n".join(history_lines(item, paint, label)) + "\n")
    if not items and env.stdout_isatty:
        env.stderr.write("no records\n")
    return EXIT_OK


def cmd_key_show(args, env: Environment) -> int:
    tracker = open_tracker(args, env)[0] if _in_repository(args, env) else None
    identity = _identity(env, create=False)
    if identity is None:
        raise FixmeError("no key yet; run 'fixme key init' (or any command that signs makes one)")
    name = tracker.config.trusted_name(identity.key_text) if tracker else None
    if args.format == "json":
        data = {"key": identity.key_text, "fingerprint": identity.fingerprint, "path": str(identity.path),
                "trusted_as": name}
        env.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        env.stdout.write(f"{identity.key_text}\nfingerprint {identity.fingerprint}\n")
        if tracker is not None:
            env.stdout.write(f"trusted here as {name!r}\n" if name else "not in this project's trust list\n")
    return EXIT_OK


def cmd_key_init(args, env: Environment) -> int:
    from ..node.keys import IdentityError, create_identity, fixme_home

    try:
        identity, created = create_identity(fixme_home(env.environ))
    except (IdentityError, OSError) as exc:
        raise FixmeError(str(exc)) from None
    verb = "created" if created else "kept existing"
    env.stdout.write(f"{verb} {identity.path}\n{identity.key_text}\nfingerprint {identity.fingerprint}\n")
    return EXIT_OK


def cmd_trust_add(args, env: Environment) -> int:
    tracker = open_tracker(args, env)[0]
    changed = tracker.trust_add(args.key, args.name)
    env.stdout.write(f"trusted {args.key.strip()} as {args.name!r}\n" if changed else "already trusted under that name\n")
    return EXIT_OK


def cmd_trust_remove(args, env: Environment) -> int:
    tracker = open_tracker(args, env)[0]
    if not tracker.trust_remove(args.key):
        raise FixmeError(f"trust remove: {args.key.strip()} is not in the trust list")
    env.stdout.write(f"no longer trusting {args.key.strip()}\n")
    return EXIT_OK


def cmd_trust_list(args, env: Environment) -> int:
    from ..node.keys import fingerprint, parse_key_text
    from ..safetext import printable

    tracker = open_tracker(args, env)[0]
    rows = [{"key": t.key, "name": t.name, "fingerprint": fingerprint(parse_key_text(t.key))}
            for t in tracker.config.trusted]
    if args.format == "json":
        env.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        for row in rows:   # the config comes through git: a name may hold anything
            env.stdout.write(f"{row['fingerprint']}  {printable(row['name'])}\n  {row['key']}\n")
        if not rows:
            env.stderr.write("the trust list is empty: no records apply ('fixme trust add KEY --name NAME')\n")
    return EXIT_OK


def _identity(env: Environment, create: bool):
    from ..node.keys import IdentityError, create_identity, fixme_home, load_identity

    home = fixme_home(env.environ)
    try:
        return create_identity(home)[0] if create else load_identity(home)
    except (IdentityError, OSError) as exc:
        raise FixmeError(str(exc)) from None


def _in_repository(args, env: Environment) -> bool:
    from pathlib import Path

    from ..scan.gitio import GitError, find_root

    try:
        find_root(Path(env.start_dir(args.directory)))
        return True
    except GitError:
        return False
