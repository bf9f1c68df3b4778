"""`fixme sync`, `node run|peers|status`, `attach` and `attachment get`: the network from the CLI.

The node (fixme/node/) does the work; fixme/tracker/network.py sets it up
for this repository. Everything heavy is imported inside the commands.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..errors import EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, FixmeError, NotFound
from ..safetext import printable
from .common import open_tracker, report_written, scanned_tracker, style
from .env import Environment

EXIT_NO_PEER = EXIT_NOT_FOUND   # `sync` reached no peer
# The node's log during a one-off command: errors only (logging.ERROR, named
# here so that building the parser does not import logging). Its warnings
# (refusals, a peer's error, a failed blob) are all in the command's own
# report; without a handler, Python would print them raw on stderr.
ONE_OFF_LOG_LEVEL = 40


def register(sub, node_sub) -> None:
    """Add `sync`, `attach`, `attachment` to `sub` and `run`, `peers`, `status` to `node`."""
    p = sub.add_parser("sync", help="one round of sync with peers or git remotes, both ways",
                       description="Sync records both ways, with the nodes of peers or through git remotes. "
                                   "PEER is a node's HOST:PORT or the name of a git remote. With none given: "
                                   "the [[peers]] of .fixme/config.toml and the peers a running node has "
                                   "discovered, or, when there are none, every git remote of the repository "
                                   "(origin first). Through a git remote: fetch its refs/fixme/* into "
                                   "refs/fixme-remotes/REMOTE/ (never your own refs), take in every record "
                                   "there that passes the checks a peer's records pass, then push this "
                                   "clone's own ref refs/fixme/records/KEY/CLONE with the records the remote "
                                   "lacks. Prints what came in, went out and was refused. Exit 1 when no "
                                   "node peer could be reached; 2 when a git remote could not be synced "
                                   "(unreachable, push refused).")
    p.add_argument("peers", nargs="*", metavar="PEER", help="HOST:PORT of a peer's node, or a git remote's name")
    p.add_argument("--remote", action="append", default=[], metavar="NAME",
                   help="sync through this git remote (repeatable)")
    p.add_argument("--dry-run", action="store_true",
                   help="git remotes only: fetch and say what would come in and go out; take nothing in, "
                        "push nothing")
    p.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds (default 120)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=cmd_sync)

    q = node_sub.add_parser("run", help="run the sync node in the foreground",
                            description="Serve this repository's records and blobs to peers, sync with the "
                                        "configured and discovered peers at start, whenever a record is "
                                        "written here, and every --interval seconds. Logs to stderr; "
                                        "stops cleanly on Ctrl-C or SIGTERM.")
    q.add_argument("--listen", metavar="HOST:PORT", help="address to serve on (default: network.listen "
                                                         "in the config, 0.0.0.0:47250)")
    q.add_argument("--no-discovery", action="store_true", help="neither announce this node on the LAN "
                                                               "nor listen for others")
    q.add_argument("--interval", type=float, default=30.0, help="seconds between rounds with every peer "
                                                                "(default 30)")
    q.add_argument("--peer", action="append", default=[], metavar="HOST:PORT",
                   help="also sync with this peer (repeatable; adds to [[peers]] of the config)")
    q.add_argument("--upload-rate", type=float, metavar="MIB_PER_S",
                   help="cap the rate at which blob chunks are served, in MiB/s (default: no cap)")
    q.add_argument("-v", "--verbose", action="store_true", help="log every session, not only changes")
    q.set_defaults(run=cmd_node_run)

    q = node_sub.add_parser("peers", help="known peers: address, key, last contact, records in and out")
    q.add_argument("--format", choices=("text", "json"), default="text")
    q.set_defaults(run=cmd_node_peers)

    q = node_sub.add_parser("status", help="the node: running or not, the log, the store, transfers")
    q.add_argument("--format", choices=("text", "json"), default="text")
    q.set_defaults(run=cmd_node_status)

    p = sub.add_parser("attach", help="attach a file to an entry (a blob and a signed record)",
                       description="Store FILE as a blob in the node and write a signed record that "
                                   "attaches it to entry ID. Peers fetch it when they sync.")
    p.add_argument("id", metavar="ID", help="entry id, id prefix or slug")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--name", help="the name to attach it under (default: the file's name)")
    p.add_argument("--no-scan", action="store_true", help="do not rescan first")
    p.set_defaults(run=cmd_attach)

    p = sub.add_parser("attachment", help="fetch an entry's attachment")
    a_sub = p.add_subparsers(dest="attachment_command", metavar="ACTION", required=True)
    q = a_sub.add_parser("get", help="write an attachment to a file (fetched from peers if not here)",
                         description="Write attachment NAME of entry ID to FILE (default: NAME in the "
                                     "current directory, if NAME is a safe file name). When the blob is "
                                     "not here it is fetched from the given or configured peers, from all "
                                     "of them at once; an interrupted fetch resumes.")
    q.add_argument("id", metavar="ID")
    q.add_argument("name", metavar="NAME")
    q.add_argument("-o", "--output", metavar="FILE", help="where to write it")
    q.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    q.add_argument("--peer", action="append", default=[], metavar="HOST:PORT", help="fetch from this peer "
                                                                                   "(repeatable)")
    q.add_argument("--timeout", type=float, default=600.0)
    q.add_argument("--format", choices=("text", "json"), default="text")
    q.add_argument("--no-scan", action="store_true", help="do not rescan first")
    q.set_defaults(run=cmd_attachment_get)


# -- helpers -------------------------------------------------------------------

def _open_node(args, env: Environment):
    from ..tracker.network import open_node

    tracker, _ = open_tracker(args, env)
    return tracker, open_node(tracker)


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _ago(ms: int | None) -> str:
    if not ms:
        return "never"
    seconds = max(0, time.time() - ms / 1000)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def _fetch_bar(env: Environment):
    from .progress import ProgressBar

    bar = ProgressBar(env.stderr, env.stderr_isatty)
    return bar, (lambda held, total: bar("fetching chunks", held, total))


# -- sync ------------------------------------------------------------------------

def cmd_sync(args, env: Environment) -> int:
    from ..tracker.network import default_peers

    tracker, _ = open_tracker(args, env)
    peers, remotes = _split_targets(tracker, args)
    if not peers and not remotes:
        from ..node.book import NodeBook
        from ..tracker.changes import node_dir

        if not default_peers(tracker, NodeBook(node_dir(tracker.root))):
            remotes = _all_remotes(tracker)
    if args.dry_run and (peers or not remotes):
        raise FixmeError("sync --dry-run: only through git remotes (a node round cannot be rehearsed)")
    data: dict = {}
    code = EXIT_OK
    if peers or not remotes:
        code = _node_round(tracker, peers, args, env, data)
    if remotes:
        code = max(code, _git_round(tracker, remotes, args, env, data))
    if args.format == "json":
        env.stdout.write(json.dumps(data, indent=2) + "\n")
    return code


def _split_targets(tracker, args) -> tuple[list[str], list[str]]:
    """(node addresses, git remotes) among the command's PEERs and --remote: a PEER that names
    a git remote is one; anything else is a node's address, as before git remotes were."""
    from ..tracker.gitsync import remotes as git_remotes

    if not args.peers and not args.remote:
        return [], []
    known = set(git_remotes(tracker.root))
    for name in args.remote:
        if name not in known:
            raise FixmeError(f"sync --remote: no git remote {name!r} (has: {', '.join(sorted(known)) or 'none'})")
    remotes = list(args.remote) + [p for p in args.peers if p in known]
    return [p for p in args.peers if p not in known], list(dict.fromkeys(remotes))


def _all_remotes(tracker) -> list[str]:
    from ..tracker.gitsync import NO_REMOTES, remotes
    from ..tracker.network import NoPeers

    names = remotes(tracker.root)
    if not names:
        raise NoPeers(NO_REMOTES)
    return names


def _node_round(tracker, peers: list[str], args, env: Environment, data: dict) -> int:
    from ..tracker.network import sync_round

    bar, progress = _fetch_bar(env)
    node_log = _NodeLog(env.stderr, ONE_OFF_LOG_LEVEL)
    try:
        result = sync_round(tracker, peers, progress=progress, timeout=args.timeout)
    finally:
        bar.close()
        node_log.close()
    if args.format == "json":
        data.update(_round_json(result))
    else:
        _print_round(result, args, env)
    return EXIT_OK if result.reached else EXIT_NO_PEER


def _git_round(tracker, remotes: list[str], args, env: Environment, data: dict) -> int:
    """Sync through each git remote; a remote that fails is one line on stderr and exit code 2."""
    from ..tracker.gitsync import sync

    outcomes = sync(tracker, remotes, dry_run=args.dry_run)
    paint = style(args, env)
    for outcome in outcomes:
        if outcome.error is not None:
            env.stderr.write(f"fixme: {printable(outcome.remote)}: cannot sync: {printable(outcome.error)}\n")
        elif args.format != "json":
            _print_git_report(outcome.report, env, paint)
    if args.format == "json":
        data["remotes"] = [{**vars(o.report), "error": None} if o.report else {"remote": o.remote, "error": o.error}
                           for o in outcomes]
    return EXIT_USAGE if any(o.error is not None for o in outcomes) else EXIT_OK


def _print_git_report(report, env: Environment, paint) -> None:
    """'origin  git  2 records in, 3 out, 1 refused here': like a node session's line."""
    verb = ("would take", "would send") if report.dry_run else ("", "")
    line = (f"{printable(report.remote)}  git  {verb[0] + ' ' if verb[0] else ''}{report.records_in} records in, "
            f"{verb[1] + ' ' if verb[1] else ''}{report.records_out} out")
    if report.untrusted:
        total = sum(report.untrusted.values())
        line += paint(f", {total} not taken (author not trusted: {', '.join(sorted(report.untrusted))})", "33")
    if report.refused:
        line += paint(f", {len(report.refused)} refused here", "33")
    if report.waiting:
        line += f", {report.waiting} waiting for parents"
    if report.dry_run:
        line += paint("  (dry run: nothing taken in or pushed)", "2")
    env.stdout.write(line + "\n")
    for refusal in report.refused[:10]:
        env.stdout.write(f"    refused {printable(refusal)}\n")
    if len(report.refused) > 10:
        env.stdout.write(f"    … and {len(report.refused) - 10} more ('--format json' lists them all)\n")
    for note in report.notes:
        env.stdout.write(f"    {printable(note)}\n")


def _round_json(result) -> dict:
    return {"sessions": [_session_json(s) for s in result.sessions],
            "blobs": [vars(b) for b in result.blobs], "blob_errors": result.blob_errors,
            "warnings": result.warnings,
            "reached": result.reached}


def _print_round(result, args, env: Environment) -> None:
    # Errors, reasons and refusals quote what the peer said: printable() before it reaches the terminal.
    paint = style(args, env)
    for s in result.sessions:
        if s.error is not None:
            # Past the handshake the peer was reached: the session failed (a full disk, say).
            what = "session failed" if s.peer_key else "unreachable"
            env.stdout.write(f"{printable(s.address)}  {paint(what, '31')}: {printable(s.error)}\n")
            continue
        line = f"{printable(s.address)}  {s.peer}  {s.records_in} records in, {s.records_out} out"
        if s.refused_by_peer:
            line += paint(_refused_by_peer(s.refused_by_peer), "33")
        if s.refused:
            line += paint(f", {len(s.refused)} refused here", "33")
        if s.waiting:
            line += f", {s.waiting} waiting for parents"
        env.stdout.write(line + paint(f"  ({_bytes(s.bytes_in)} in, {_bytes(s.bytes_out)} out)", "2") + "\n")
        for refusal in s.refused[:10]:
            env.stdout.write(f"    refused {printable(refusal)}\n")
    for blob in result.blobs:
        env.stdout.write(f"blob {blob.blob[7:19]}  {_bytes(blob.size)}: {blob.fetched} chunks fetched, "
                         f"{blob.already} already here\n")
    for error in result.blob_errors:
        env.stdout.write(f"blob: {printable(error)}\n")
    for warning in result.warnings:
        env.stderr.write(f"warning: {printable(warning)}\n")


def _refused_by_peer(untrusted: dict[str, int]) -> str:
    """', 3 refused (author not trusted: ed25519:…)': what the peer's bye said it did not store.

    The whole key is shown: it is what the peer's owner needs for 'fixme trust add'.
    """
    total = sum(untrusted.values())
    return f", {total} refused (author not trusted: {', '.join(sorted(untrusted))})"


def _session_json(s) -> dict:
    return {**vars(s), "peer": s.peer}


# -- node run / peers / status -------------------------------------------------------

class _NodeLog:
    """The node's log lines (logger `fixme`) on `stream`, from now until close().

    A log line quotes what peers say (error reasons, refusals, addresses):
    every line goes through printable() first.
    """

    def __init__(self, stream, level: int, fmt: str = "fixme: %(message)s", datefmt: str | None = None):
        import logging

        self._logger = logging.getLogger("fixme")
        self._level = self._logger.level
        self._handler = logging.StreamHandler(stream)
        self._handler.setFormatter(logging.Formatter(fmt, datefmt))
        self._handler.addFilter(_printable_record)
        self._handler.setLevel(level)
        self._logger.addHandler(self._handler)
        if level < self._logger.getEffectiveLevel():
            self._logger.setLevel(level)

    def close(self) -> None:
        self._logger.removeHandler(self._handler)
        self._logger.setLevel(self._level)


def _printable_record(record) -> bool:
    """A logging filter: the record's message, formatted, made printable."""
    record.msg, record.args = printable(record.getMessage()), None
    return True


def cmd_node_run(args, env: Environment) -> int:
    import asyncio
    import logging

    from ..node.node import parse_address
    from ..node.running import AlreadyRunning, StorageLost

    tracker, node = _open_node(args, env)
    try:
        listen = parse_address(args.listen or tracker.config.listen)
    except ValueError as exc:
        node.close()
        raise FixmeError(f"--listen: {exc}") from None
    log_lines = _NodeLog(env.stderr, logging.DEBUG if args.verbose else logging.INFO,
                         "%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    discovery = tracker.config.discovery and not args.no_discovery
    if args.upload_rate is not None:
        if args.upload_rate <= 0:
            node.close()
            raise FixmeError("--upload-rate must be positive")
        node.set_upload_rate(args.upload_rate * 1024 * 1024)
    try:
        asyncio.run(node.run(listen, [*tracker.config.peers, *args.peer], discovery=discovery,
                             discovery_port=tracker.config.discovery_port, interval=args.interval))
    except AlreadyRunning as exc:
        raise FixmeError(str(exc)) from None
    except StorageLost:
        return EXIT_NOT_FOUND   # the node's last log line said why
    except OSError as exc:
        raise FixmeError(f"cannot listen on {listen[0]}:{listen[1]}: {exc.strerror or exc}") from None
    finally:
        node.close()
        log_lines.close()
    return EXIT_OK


def cmd_node_peers(args, env: Environment) -> int:
    from ..node.book import NodeBook
    from ..tracker.changes import node_dir

    tracker, _ = open_tracker(args, env)
    book = NodeBook(node_dir(tracker.root))
    peers = book.peers()
    for address in tracker.config.peers:   # configured but never tried
        if not any(info.get("address") == address for info in peers.values()):
            peers[f"address:{address}"] = {"address": address}
    if args.format == "json":
        env.stdout.write(json.dumps(peers, indent=2, sort_keys=True) + "\n")
        return EXIT_OK
    if not peers:
        env.stderr.write("no known peers: add [[peers]] to .fixme/config.toml, or run 'fixme node run'\n")
        return EXIT_OK
    paint = style(args, env)
    for key, info in sorted(peers.items(), key=lambda kv: -int(kv[1].get("last_contact", 0))):
        who = _peer_name(tracker.config, key)
        seen = _ago(info.get("last_contact"))
        address = printable(str(info.get("address", "?")))
        line = (f"{address:<22} {printable(who):<22} last contact {seen:<12} "
                f"records {info.get('records_in', 0)} in / {info.get('records_out', 0)} out")
        if info.get("last_error"):   # often the peer's own words
            line += paint(f"  last error: {printable(str(info['last_error']))}", "31")
        line += _faults_note(info, paint)
        env.stdout.write(line + "\n")
    return EXIT_OK


def _faults_note(info: dict, paint) -> str:
    """'  banned until 14:05 (3 bad chunks)', or the bad chunks alone, or nothing."""
    faults, until = info.get("faults"), info.get("banned_until")
    count = f"{faults} bad chunk{'s' if faults != 1 else ''}" if isinstance(faults, int) and faults else ""
    if isinstance(until, (int, float)) and until / 1000 > time.time():
        when = time.strftime("%H:%M", time.localtime(until / 1000))
        return paint(f"  banned until {when}" + (f" ({count})" if count else ""), "31")
    return f"  {count}" if count else ""


def _peer_name(config, key: str) -> str:
    if key.startswith("host:"):
        return "(any key there)"   # faults and bans of an address, whatever node keys it showed
    if not key.startswith("ed25519:"):
        return "(not reached yet)"
    from ..node.keys import fingerprint, parse_key_text

    return config.trusted_name(key) or fingerprint(parse_key_text(key))


def cmd_node_status(args, env: Environment) -> int:
    from ..node.book import NodeBook
    from ..tracker.changes import node_dir, read_index
    from ..tracker.workflow import LOG_NAME

    tracker, _ = open_tracker(args, env)
    directory = node_dir(tracker.root)
    book = NodeBook(directory)
    records = read_index(tracker.root, lambda index: index.count(LOG_NAME)) or 0
    status = {"running": book.running() or None, "records": records, "peers": len(book.peers()),
              "network": bool(tracker.config.network_key), "transfers": book.transfers()}
    if args.format == "json":
        env.stdout.write(json.dumps(status, indent=2, sort_keys=True) + "\n")
        return EXIT_OK
    running = status["running"]
    if running:
        env.stdout.write(f"node: running (pid {running['pid']}), listening on {running['listen']}, "
                         f"since {_ago(running.get('since'))}, discovery {'on' if running.get('discovery') else 'off'}\n")
    else:
        env.stdout.write("node: not running (start it with 'fixme node run')\n")
    if not status["network"]:
        env.stdout.write("network: no key yet; run 'fixme init'\n")
    env.stdout.write(f"log: {records} records; peers known: {status['peers']}\n")
    for blob, info in status["transfers"].items():
        held, total = int(info.get("held", 0)), int(info.get("chunks", 0))
        bar = ""
        if env.stdout_isatty and total:
            filled = 30 * held // total
            bar = "[" + "#" * filled + "-" * (30 - filled) + "] "
        env.stdout.write(f"fetching {blob[7:19]}  {bar}{held}/{total} chunks from {info.get('peers', 0)} peers\n")
    return EXIT_OK


# -- attachments -------------------------------------------------------------------

def cmd_attach(args, env: Environment) -> int:
    tracker = scanned_tracker(args, env)
    path = Path(env.start_dir(args.directory)) / args.file
    written = tracker.attach(args.id, path, args.name)
    report_written(written, f"attached {args.name or path.name}", tracker, env)
    return EXIT_OK


def cmd_attachment_get(args, env: Environment) -> int:
    from ..tracker.attachments import (
        blob_is_complete,
        check_blob_size,
        check_name,
        held_blob_size,
        write_attachment,
    )

    tracker = scanned_tracker(args, env)
    entry = tracker.get(args.id)
    attachment = _find_attachment(tracker, entry, args.name)
    if attachment is None and _has_peers(tracker, args):
        # Not known here yet: the record may be on a peer. Fetch the records first.
        _sync_round(tracker, args, env, blob_ids=())
        tracker = open_tracker(args, env)[0]
        attachment = _find_attachment(tracker, entry, args.name)
    if attachment is None:
        names = ", ".join(repr(a.value) for a in tracker.attachments(entry.id)) or "none"
        raise NotFound(f"no attachment {args.name!r} (has: {names})")
    dest = Path(env.start_dir(args.directory)) / (args.output or check_name(attachment.value))
    if dest.exists() and not args.force:
        raise FixmeError(f"{dest} exists; pass --force to overwrite it")
    report = None
    check_blob_size(attachment.value, attachment.size, held_blob_size(tracker.root, attachment.blob))
    if not blob_is_complete(tracker.root, attachment.blob):
        report = _fetch(tracker, attachment, args, env)
    write_attachment(tracker.root, attachment.blob, dest)
    if args.format == "json":
        data = {"entry": entry.id, "name": attachment.value, "blob": attachment.blob, "size": attachment.size,
                "path": str(dest), "fetch": vars(report) if report else None}
        env.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        came = (f" ({report.fetched} chunks fetched, {report.already} were here)" if report else "")
        env.stdout.write(f"wrote {dest} ({_bytes(attachment.size or 0)}){came}\n")
    return EXIT_OK


def _has_peers(tracker, args) -> bool:
    """Is there anyone to ask for records we lack (--peer, configured or discovered peers)?"""
    from ..node.book import NodeBook
    from ..tracker.changes import node_dir
    from ..tracker.network import default_peers

    return bool(args.peer) or bool(default_peers(tracker, NodeBook(node_dir(tracker.root))))


def _find_attachment(tracker, entry, name: str):
    """The latest trusted attachment called `name` (else the latest untrusted one), or None."""
    matching = [a for a in tracker.attachments(entry.id) if a.value == name]
    trusted = [a for a in matching if a.trusted] or matching
    return trusted[-1] if trusted else None


def _fetch(tracker, attachment, args, env: Environment):
    """Fetch the attachment's blob; its manifest must give the size the record does."""
    blob = attachment.blob
    sizes = {blob: attachment.size} if attachment.size is not None else {}
    result = _sync_round(tracker, args, env, blob_ids=[blob], expected_sizes=sizes)
    for report in result.blobs:
        if report.blob == blob:
            return report
    reasons = result.blob_errors or [s.error for s in result.sessions if s.error] or ["no peer has it"]
    raise FixmeError(f"could not fetch the attachment: {'; '.join(reasons)}")


def _sync_round(tracker, args, env: Environment, blob_ids, expected_sizes=None):
    """A round with --peer or the default peers: records, and only the blobs asked for."""
    from ..tracker.network import NoPeers, sync_round

    bar, progress = _fetch_bar(env)
    node_log = _NodeLog(env.stderr, ONE_OFF_LOG_LEVEL)
    try:
        return sync_round(tracker, args.peer, blob_ids=blob_ids, references=False, progress=progress,
                          timeout=args.timeout, expected_sizes=expected_sizes)
    except NoPeers:
        raise FixmeError("the attachment is not here and there is no peer to fetch it from") from None
    finally:
        bar.close()
        node_log.close()
