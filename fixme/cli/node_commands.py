"""`fixme node put|get` and `fixme fsck`: the node's local storage from the command line.

The storage lives in `<repository>/.fixme/node/` (local state, git-ignored).
Imports of fixme.node happen inside the commands: building the parser must
stay cheap for every other command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ..errors import EXIT_NOT_FOUND, EXIT_OK, FixmeError
from .env import Environment

if TYPE_CHECKING:
    from ..node.blocks import BlockStore
    from ..node.refs import Refs


def register(sub: "argparse._SubParsersAction") -> "argparse._SubParsersAction":
    """Add `node` (with `put` and `get`) and `fsck` to the top-level subparsers `sub`;
    returns the `node` subparsers, for the network commands to add theirs."""
    p = sub.add_parser("node", help="the sync node: run it, its peers and status, its block store",
                       description="The sync node and its local storage in .fixme/node/. Files are stored "
                                   "as blobs: 1 MiB chunks under a manifest whose id names the file.")
    node_sub = p.add_subparsers(dest="node_command", metavar="SUBCOMMAND", required=True)

    q = node_sub.add_parser("put", help="store a file; prints its blob id",
                            description="Store FILE (any size, streamed) as a blob and print the blob id. "
                                        "Durable when the id is printed.")
    q.add_argument("file", metavar="FILE", help="the file to store ('-' reads standard input)")
    q.set_defaults(run=cmd_node_put)

    q = node_sub.add_parser("get", help="write a stored blob to a file, verified",
                            description="Write blob ID to FILE. Every chunk is verified; FILE appears only "
                                        "once the whole content is written and checked (temp file, fsync, "
                                        "rename). With '-o -' the content streams to standard output, so "
                                        "an error part-way leaves part of it written.")
    q.add_argument("id", metavar="ID", help="the blob id (sha256:…) that 'node put' printed")
    q.add_argument("-o", "--output", metavar="FILE", required=True, help="where to write it ('-': standard output)")
    q.set_defaults(run=cmd_node_get)

    p = sub.add_parser("fsck", help="check the node's block store, records.db and refs",
                       description="Check that every stored block matches its id, that nothing is empty or "
                                   "truncated, that every block a blob manifest, record or ref names is "
                                   "present, that blocks.db and records.db are sound (sqlite integrity_check) "
                                   "and records.db agrees with the blocks, and that every heads ref is "
                                   "readable. Exit 1 while faults remain. --repair recovers what it can: "
                                   "salvages a damaged blocks.db, moves bad blocks into "
                                   ".fixme/node/blocks/quarantine/ (nothing is deleted), rebuilds records.db "
                                   "from the blocks, rewrites heads refs, and leaves the store so that the "
                                   "next sync fetches exactly what is missing; --from fetches it at once.")
    p.add_argument("--repair", action="store_true", help="repair what can be repaired (see above)")
    p.add_argument("--from", dest="sources", action="append", default=[], metavar="HOST:PORT",
                   help="with --repair: then fetch what is missing from this peer (repeatable), and check again")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    p.set_defaults(run=cmd_fsck)
    return node_sub


def node_storage(args: argparse.Namespace, env: Environment) -> "tuple[BlockStore, Refs]":
    """The block store and refs of the repository the command runs in."""
    from ..node.storage import open_node_storage
    from ..tracker.changes import node_dir
    from ..scan.gitio import GitError, find_root

    try:
        root = find_root(Path(env.start_dir(args.directory)))
    except GitError as exc:
        raise FixmeError(str(exc)) from None
    return open_node_storage(node_dir(root))


def cmd_node_put(args: argparse.Namespace, env: Environment) -> int:
    from ..node.blobs import put_blob

    store, _ = node_storage(args, env)
    with store:
        try:
            if args.file == "-":
                blob_id = put_blob(store, _binary_stdin(env))
            else:
                path = Path(env.start_dir(args.directory)) / args.file
                with open(path, "rb") as fh:
                    blob_id = put_blob(store, fh)
        except OSError as exc:
            raise FixmeError(f"node put: {_os_error(exc, args.file)}") from None
    env.stdout.write(blob_id + "\n")
    return EXIT_OK


def cmd_node_get(args: argparse.Namespace, env: Environment) -> int:
    import sqlite3

    from ..node.blobs import ManifestError, iter_blob, write_blob
    from ..node.blocks import BlockCorrupt, BlockNotFound
    from ..node.hashing import is_block_id

    if not is_block_id(args.id):
        raise FixmeError(f"node get: not a blob id: {args.id[:80]!r} (expected sha256: and 64 hex digits)")
    store, _ = node_storage(args, env)
    with store:
        try:
            if args.output == "-":
                out = _binary_stdout(env)
                for data in iter_blob(store, args.id):
                    out.write(data)
                out.flush()
            else:
                dest = Path(env.start_dir(args.directory)) / args.output
                if dest.is_dir():
                    raise FixmeError(f"node get: {args.output}: is a directory")
                if not dest.parent.is_dir():
                    raise FixmeError(f"node get: {args.output}: no such directory {str(dest.parent)!r}")
                write_blob(store, args.id, dest)
        except BlockNotFound as exc:
            what = "no such blob" if exc.block_id == args.id else f"chunk {exc.block_id} is missing"
            raise FixmeError(f"node get: {args.id}: {what}") from None
        except BlockCorrupt as exc:
            raise FixmeError(f"node get: {exc}; run 'fixme fsck'") from None
        except ManifestError as exc:
            raise FixmeError(f"node get: {args.id}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise FixmeError(f"node get: block store damaged ({exc}); run 'fixme fsck'") from None
        except OSError as exc:
            raise FixmeError(f"node get: {_os_error(exc, args.output)}") from None
    return EXIT_OK


def cmd_fsck(args: argparse.Namespace, env: Environment) -> int:
    import json

    if args.sources and not args.repair:
        raise FixmeError("fsck: --from fetches what a repair leaves missing; use it with --repair")
    report = _fsck(args, env, repair=args.repair)
    fetched = None
    if args.sources:
        fetched = _fetch_missing(args, env, report)
        after = _fsck(args, env, repair=False)  # what is still missing once the peers were asked
        after.repaired, after.notices = report.repaired, report.notices + after.notices
        report = after
    if args.format == "json":
        data = report.to_json()
        if fetched is not None:
            data["fetched"] = fetched
        env.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return EXIT_NOT_FOUND if report.faults else EXIT_OK
    _print_fsck(report, fetched, args, env)
    return EXIT_NOT_FOUND if report.faults else EXIT_OK


def _fsck(args: argparse.Namespace, env: Environment, repair: bool):
    """One fsck run over the repository's node storage; damage it cannot even look at is one line, not a traceback."""
    import sqlite3

    from ..node.database import describe_storage_error
    from ..node.fsck import fsck
    from ..node.storage import INDEX_FILE

    store, refs = node_storage(args, env)
    with store:
        try:
            return fsck(store, refs, repair=repair, index_path=store.root.parent / INDEX_FILE)
        except (OSError, sqlite3.Error) as exc:
            raise FixmeError(f"fsck: {describe_storage_error(exc)}") from None


def _fetch_missing(args: argparse.Namespace, env: Environment, report) -> dict:
    """A sync round with the --from peers: records (heads were rewound) and the blobs to fetch again."""
    from ..tracker.network import sync_round
    from .common import open_tracker

    tracker, _ = open_tracker(args, env)
    result = sync_round(tracker, args.sources, blob_ids=report.refetch)
    return {"records_in": sum(s.records_in for s in result.sessions),
            "blobs": [b.blob for b in result.blobs if b.complete],
            "errors": [f"{s.address}: {s.error}" for s in result.sessions if s.error] + list(result.blob_errors)}


def _print_fsck(report, fetched: dict | None, args: argparse.Namespace, env: Environment) -> None:
    for notice in report.notices:
        env.stderr.write(f"fixme: {notice}\n")
    for fault in report.repaired:
        env.stdout.write(f"repaired {fault.line()}\n")
    if fetched is not None:
        peers = ", ".join(args.sources)
        env.stdout.write(f"fetched from {peers}: {fetched['records_in']} records, {len(fetched['blobs'])} blobs\n")
        for error in fetched["errors"]:
            env.stdout.write(f"  {error}\n")
    for fault in report.faults:
        env.stdout.write(fault.line() + "\n")
    summary = f"checked {report.checked} blocks and {report.refs_checked} refs: "
    summary += f"{len(report.faults)} fault{'s' if len(report.faults) != 1 else ''}" if report.faults else "no faults"
    if report.repaired:
        summary += f" ({len(report.repaired)} repaired)"
    env.stdout.write(summary + "\n")
    missing = sum(1 for f in report.faults if f.kind == "missing")
    if missing and args.repair:
        where = (f"{', '.join(args.sources)} did not have {'it' if missing == 1 else 'them'}; "
                 if fetched is not None else "")
        env.stdout.write(f"{where}{missing} missing block{'s' if missing != 1 else ''}: 'fixme sync' with a peer "
                         "that holds them, or 'fixme fsck --repair --from HOST:PORT', fetches them\n")
        peers = [p for p in _known_peers(args, env) if p not in args.sources]
        if peers:
            env.stdout.write(f"peers this node has synced with: {', '.join(peers[:5])}\n")


def _known_peers(args: argparse.Namespace, env: Environment) -> list[str]:
    """Addresses of the peers in peers.json, latest contact first: who may hold what is missing."""
    from ..node.book import NodeBook

    store, _ = node_storage(args, env)
    peers = NodeBook(store.root.parent).peers()
    dialled = [info for info in peers.values() if isinstance(info.get("address"), str)]
    dialled.sort(key=lambda info: -int(info.get("last_contact") or 0))
    return list(dict.fromkeys(info["address"] for info in dialled))


def _binary_stdin(env: Environment) -> BinaryIO:
    # Environment has no stdin of its own (yet); a test may set env.stdin.
    stream = getattr(env, "stdin", None) or sys.stdin
    return getattr(stream, "buffer", stream)


def _binary_stdout(env: Environment) -> BinaryIO:
    out = getattr(env.stdout, "buffer", None)
    if out is None:
        raise FixmeError("node get: this output takes text only; use -o FILE")
    env.stdout.flush()
    return out


def _os_error(exc: OSError, name: str) -> str:
    """One line for an OSError about `name`: 'FILE: No such file or directory'."""
    return f"{name}: {exc.strerror or exc}"
