"""Command-line client for a burrow store.

It reads and writes the same log format as src/store.c, so a store can be
inspected on a machine where the C library was never built.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Iterator


def records(store: Path) -> Iterator[tuple[str, str]]:
    head = int((store / "HEAD").read_text() or 0)
    log = open(store / "log", "rb")  # FIXME: left open when the caller stops early
    while log.tell() < head:
        key, _, value = log.readline().decode("utf-8").rstrip("\n").partition("\t")
        yield key, value
    log.close()


def put(store: Path, key: str, value: str) -> None:
    # TODO: share one writer with the daemon
    #     two processes appending at once can interleave records;
    #     take a lock file or send puts through the daemon's socket
    #     #concurrency
    store.mkdir(parents=True, exist_ok=True)
    with open(store / "log", "ab") as log:
        log.write(f"{key}\t{value}\n".encode("utf-8"))
        head = log.tell()
    (store / "HEAD").write_text(f"{head}\n")


def cmd_get(store: Path, key: str) -> int:
    found = None
    for k, v in records(store):
        if k == key:
            found = v
    if found is None:
        print(f"no such key: {key}", file=sys.stderr)
        return 1
    print(found)
    return 0


def cmd_todo(store: Path, text: str) -> int:
    """Store a note under a time-stamped key in the todo/ namespace."""
    put(store, "todo/" + time.strftime("%Y%m%d-%H%M%S"), text)
    return 0


def cmd_todos(store: Path) -> int:
    """List the notes saved with `burrow todo`, oldest first.

    The command was asked for by people who keep their shopping list in
    burrow; a typical note reads
    TODO: buy more disks
    and is printed exactly as it was stored.
    """
    # Prints TODOS in the order they were written; the log is the order.
    notes = [v for k, v in records(store) if k.startswith("todo/")]
    if not notes:
        print("TODO: nothing left, enjoy the quiet")
    for note in notes:
        print("-", note)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="burrow")
    parser.add_argument("--store", type=Path, default=Path("store"))
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("put")
    p.add_argument("key")
    p.add_argument("value")
    sub.add_parser("get").add_argument("key")
    sub.add_parser("todo").add_argument("text")
    sub.add_parser("todos")
    args = parser.parse_args(argv)
    if args.command == "put":
        put(args.store, args.key, args.value)
        return 0
    if args.command == "get":
        return cmd_get(args.store, args.key)
    if args.command == "todo":
        return cmd_todo(args.store, args.text)
    return cmd_todos(args.store)


if __name__ == "__main__":
    sys.exit(main())
