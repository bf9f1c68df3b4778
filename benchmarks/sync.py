#!/usr/bin/env python3
"""Sync between node processes over loopback: blobs, records, an idle round.

    python benchmarks/sync.py [--blob-mb N] [--records N] [--repeat N] [--capped-rate MIB_PER_S]
                              [--slow N] [--idle N] [--big-pull N]
                              [--attack-only | --big-pull-only]

Everything is built in a temporary directory, in one run: a git repository
with one TODO, `fixme init`, cloned three times, every clone with its own
FIXME_HOME (so its own node key), all keys trusted by the committed config
(so one network key and one trust list everywhere). Serving nodes are the
real `fixme node run --no-discovery --listen 127.0.0.1:0`. The fetching side
is a child process that opens its clone's node as `fixme sync` and
`fixme attachment get` do (tracker.network.open_node) and times Node.sync()
inside itself: no figure includes Python start-up or imports (printed
apart). Every figure is the median of --repeat runs and stands next to a
reference measured in the same run:

  raw TCP            THE reference: a child process connects to a listening
                     socket on 127.0.0.1 and sends as many bytes as the blob
                     with 1 MiB sendall(); this process receives with recv_into()
  sealed channel     context: the node's own transport alone (handshake.serve /
                     connect, Session.send/recv of 1 MiB payloads, the allocator
                     tuned as a Node tunes it), no storage
  CPU floor          context: one core's rate of secretstream seal and open and
                     of SHA-256, and the bound they put on any single stream
  blob, 1 source     a `fixme attach`-ed blob of --blob-mb MiB fetched by an
                     empty clone from one node: Node.sync(blob_ids=[blob]) wall
                     time (handshake, record round, manifest, chunks stored
                     durably, bye) as MiB/s and as a ratio to raw TCP
  blob, 3 sources    the same from three nodes at once, its runs taking turns
                     with the one-source runs: MiB/s as a ratio to one source;
                     duplicate bytes (FetchReport.duplicate_bytes) as a share
                     of the blob; chunks per peer (FetchReport.by_peer). On one
                     machine the fetcher and three servers share its cores, so
                     this measures CPU contention more than the fetch; so also:
  3 sources, capped  the same with every source started with --upload-rate
                     --capped-rate MiB/s, as each peer's uplink would cap it on
                     a network: one source against three (the cap allows a
                     burst of one second's worth, so it tells only with a blob
                     several times --capped-rate, as the default 256 MiB is)
  records            --records records signed by three trusted authors, plus
                     the attachment's, pulled by an empty clone from one node:
                     records/s over the Node.sync() wall time as a ratio to the
                     raw ed25519 verify rate (one thread, libsodium) measured here
  in sync            one `fixme sync PEER` between two nodes that hold the same
                     records and blob, through a counting TCP proxy in this
                     process: every byte on the wire, handshake and frame
                     overhead included (SessionReport counts payloads only)
  under attack       the records pull again (the empty clone, trusted, from one
                     node), while a child process attacks that node: --slow
                     connections without the network key (the version byte,
                     then one byte a second; from 50 loopback addresses,
                     127.0.1.1-50, so both the per-address and the total
                     handshake budgets are hit) and --idle sessions of random
                     untrusted keys from 16 more (127.0.2.1-16; no logs, one
                     request every 30 s, never bye); a closed one comes back a
                     second later.
                     The median pull time as a ratio to the same pull with no
                     attack, measured in turns with it; and the serving node's
                     log lines during the attack. All processes share this
                     machine's cores, attackers included.
  big pull           an empty clone pulls --big-pull records (400,000 by
                     default) from one node: the fetching process's peak RSS
                     (VmHWM: ru_maxrss would include this process's size, which
                     Linux carries over exec()), and how much came during the round.
Targets (from the issue): blob 1 source >= 0.3x raw TCP; 3 sources not slower
than one (>= 1.0x); duplicates <= 5 % of the blob; records >= 0.5x the verify
rate; the in-sync round < 2 KiB on the wire; the pull under attack <= 3x idle;
the big pull's peak memory <= 150 MB.
--attack-only skips everything but the records and the attack; --big-pull-only
everything but the big pull.

Also printed, without a target: one `fixme attachment get` end to end (start-up,
scan, two rounds, the file written out), the time to the first chunk, the
records' transfer and ingest phases, and the CPU seconds of the fetching and
serving processes during each timed step.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import ENV, compile_package, fmt, verify_rate  # noqa: E402

FIXME = [str(Path(sys.executable).with_name("fixme"))]
MIB = 1 << 20
TIMEOUT = 900.0   # any single child process; a hang is a failure, not a slow figure

# The fetching side: open the clone's node as the CLI does and time one
# Node.sync() round inside this process. argv: ROOT BLOB|- REFERENCES(0|1) ADDRESS...
FETCH_CHILD = r"""
import asyncio, json, os, resource, sys, time
started = time.perf_counter()
from pathlib import Path
from fixme.tracker.network import open_node
from fixme.tracker.tracker import Tracker

root, blob, references, addresses = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1", sys.argv[4:]
node = open_node(Tracker.open(root, home=Path(os.environ["FIXME_HOME"])))
ready = time.perf_counter()
marks = []
phases = {"ingest": 0.0, "ingest_verified": 0.0}

def timed(name):   # the records' storing phase (with their verification, for ingest), apart from their transfer
    plain = getattr(node.local, name)

    async def phase(*args):
        began = time.perf_counter()
        try:
            return await plain(*args)
        finally:
            phases[name] += time.perf_counter() - began
    setattr(node.local, name, phase)

for name in phases:
    if hasattr(node.local, name):   # ingest_verified: records verified during the transfer (newer code)
        timed(name)

def progress(held, total):
    if not marks:
        marks.append(time.perf_counter())
    if held == total:
        marks.append(time.perf_counter())

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)   # every thread of this process
    return usage.ru_utime + usage.ru_stime

async def round_():
    began = time.perf_counter()
    result = await node.sync(addresses, blob_ids=[] if blob == "-" else [blob], progress=progress,
                             references=references)
    return result, began, time.perf_counter()

def status_kib(field):   # from /proc/self/status: VmRSS now, VmHWM the peak of this process alone
    return int(next(line for line in open("/proc/self/status") if line.startswith(field)).split()[1])

rss_before = status_kib("VmRSS:")
cpu_before = cpu()
try:
    result, began, ended = asyncio.run(round_())
finally:
    node.close()
print(json.dumps({
    "startup": ready - started, "seconds": ended - began,
    "first_chunk": marks[0] - began if marks else None, "last_chunk": marks[-1] - began if marks else None,
    "cpu": cpu() - cpu_before, "rss_before_kib": rss_before,
    "peak_rss_kib": status_kib("VmHWM:"), "ingest": phases["ingest"] + phases["ingest_verified"],
    "verified_during_transfer": phases["ingest_verified"] > 0,
    "sessions": [{"address": s.address, "records_in": s.records_in, "records_out": s.records_out,
                  "bytes_in": s.bytes_in, "bytes_out": s.bytes_out, "error": s.error} for s in result.sessions],
    "blobs": [vars(b) for b in result.blobs], "blob_errors": result.blob_errors}))
"""

# The attacker of the "under attack" figure. argv: PORT NETWORK_KEY_HEX SLOW IDLE.
# Prints "ready" once every attacker has had its first go, and a JSON line of
# counts when its stdin closes.
ATTACK_CHILD = r"""
import asyncio, json, os, random, resource, sys, threading
from nacl.signing import SigningKey
from fixme.node.channel import TransportError
from fixme.node.handshake import initiate
from fixme.node.hashing import block_id
from fixme.node.messages import HelloLogs, WantBlock

port, network_key, slow, idle = int(sys.argv[1]), bytes.fromhex(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)   # one descriptor per connection, and some
want = slow + idle + 256
if soft != resource.RLIM_INFINITY and soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))
counts = {"slow_connects": 0, "slow_held_at_the_end": 0, "idle_connects": 0, "idle_sessions": 0}

async def trickle(source):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    counts["slow_held_at_the_end"] += 1
    try:
        writer.write(b"\x01")                              # our version byte: it takes the rest to refuse
        while not reader.at_eof() and not writer.is_closing():
            await writer.drain()
            await asyncio.sleep(1.0)
            writer.write(os.urandom(1))
    finally:
        counts["slow_held_at_the_end"] -= 1
        writer.transport.abort()

async def drain(session):
    try:
        while True:
            await session.recv()
    except TransportError:
        return

async def idle_session(source):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    session = await initiate(reader, writer, SigningKey.generate(), network_key, timeout=10.0, idle_timeout=None)
    counts["idle_sessions"] += 1
    reading = asyncio.create_task(drain(session))
    try:
        await session.send_message(HelloLogs(()))
        await asyncio.sleep(random.uniform(0, 30))
        while not reading.done():
            await session.send_message(WantBlock(block_id(os.urandom(8))))
            await asyncio.wait([reading], timeout=30)
    finally:
        reading.cancel()
        session.channel.abort()

async def forever(name, attack, *args):
    while True:
        counts[name] += 1
        try:
            await attack(*args)
        except (OSError, TransportError, asyncio.IncompleteReadError):
            pass
        await asyncio.sleep(1.0)

async def main():
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True).start()
    tasks = [asyncio.create_task(forever("slow_connects", trickle, f"127.0.1.{1 + n % 50}")) for n in range(slow)]
    tasks += [asyncio.create_task(forever("idle_connects", idle_session, f"127.0.2.{1 + n % 16}"))
              for n in range(idle)]
    await asyncio.sleep(3.0)
    print("ready", flush=True)
    await stop.wait()
    print(json.dumps(counts), flush=True)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

asyncio.run(main())
"""

# The raw TCP reference's sender. argv: PORT BYTES
SEND_CHILD = r"""
import os, socket, sys
port, total = int(sys.argv[1]), int(sys.argv[2])
chunk = os.urandom(1 << 20)
with socket.create_connection(("127.0.0.1", port)) as sock:
    sock.recv(1)                      # "go": the receiver's clock starts now
    sent = 0
    while sent < total:
        piece = chunk if total - sent >= len(chunk) else chunk[:total - sent]
        sock.sendall(piece)
        sent += len(piece)
    sock.shutdown(socket.SHUT_WR)
    sock.recv(1)                      # wait for the receiver to have it all
"""

# The sealed-channel reference's sender: the node's transport, nothing else.
# argv: BYTES NETWORK_KEY_HEX; prints the port it listens on.
CHANNEL_CHILD = r"""
import asyncio, os, sys
from nacl.signing import SigningKey
from fixme.node.allocator import keep_frame_buffers
from fixme.node.handshake import serve
keep_frame_buffers()   # as a Node does
total, network_key = int(sys.argv[1]), bytes.fromhex(sys.argv[2])

async def main():
    done = asyncio.Event()

    async def send_all(session):
        chunk = os.urandom(1 << 20)
        await session.recv()              # "go"
        sent = 0
        while sent < total:
            piece = chunk if total - sent >= len(chunk) else chunk[:total - sent]
            await session.send(piece)
            sent += len(piece)
        await session.recv()              # the receiver has it all
        done.set()

    server = await serve("127.0.0.1", 0, SigningKey.generate(), network_key, send_all)
    print(server.sockets[0].getsockname()[1], flush=True)
    await done.wait()
    server.close()

asyncio.run(main())
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blob-mb", type=int, default=256, help="size of the blob, MiB (default 256)")
    parser.add_argument("--records", type=int, default=20_000, help="records to sync (default 20000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; medians are reported (default 3)")
    parser.add_argument("--capped-rate", type=int, default=64, metavar="MIB_PER_S",
                        help="each source's upload cap for the capped one-vs-three figure (default 64)")
    parser.add_argument("--slow", type=int, default=500,
                        help="slow connections without the network key in the attack figure (default 500)")
    parser.add_argument("--idle", type=int, default=64,
                        help="idle sessions of random untrusted keys in the attack figure (default 64)")
    parser.add_argument("--big-pull", type=int, default=400_000, metavar="N",
                        help="records of the pull whose peak memory is measured (default 400000; 0 skips it)")
    parser.add_argument("--big-pull-only", action="store_true", help="measure only the big pull's memory")
    parser.add_argument("--attack-only", action="store_true",
                        help="only the records pull, idle and under attack (no blob, no in-sync round)")
    args = parser.parse_args()
    compile_package()
    print(f"fixme {code_version()}; {len(os.sched_getaffinity(0))} cores; blob {args.blob_mb} MiB,"
          f" {args.records:,} records, medians of {args.repeat}")
    with tempfile.TemporaryDirectory(prefix="fixme-bench-sync-") as tmp:
        work = Path(tmp)
        net = Network(work)
        try:
            if args.big_pull_only:
                big_pull(net, args)
            elif args.attack_only:
                bench_attack(net, args)
            else:
                bench(net, work, args)
        finally:
            net.stop_all()


def bench(net: Network, work: Path, args) -> None:
    a, b, c, d = net.peers
    blob_file = make_blob(work / "blob.bin", args.blob_mb)
    size_mb = blob_file.stat().st_size / MIB

    # 1. The reference: raw TCP between two processes; and the node's transport alone.
    total = blob_file.stat().st_size
    runs = max(args.repeat, 3)   # cheap: a few more runs steady the reference
    raw_rate = size_mb / statistics.median(raw_tcp(total) for _ in range(runs))
    print(f"raw TCP loopback, {size_mb:.0f} MiB         {raw_rate:,.0f} MiB/s  (reference; median of {runs};"
          f" 1 MiB sendall -> recv_into, two processes)")
    channel_rate = size_mb / statistics.median(sealed_channel(total) for _ in range(runs))
    print(f"  sealed channel alone           {channel_rate:,.0f} MiB/s = {channel_rate / raw_rate:.2f}x raw TCP"
          f"  (the node's handshake + SecureChannel, 1 MiB payloads, no storage)")
    seal, unseal, sha = crypto_rates()
    per_mib = 1 / seal + 1 / unseal + 2 / sha   # seconds of CPU per MiB: chunks are hashed when served and received
    cores = len(os.sched_getaffinity(0))
    print(f"  CPU floor                      one core seals {seal:,.0f}, opens {unseal:,.0f}, hashes {sha:,.0f} MiB/s;"
          f" with both hashes {per_mib * 1000:.2f} ms CPU per MiB -> at most {cores / per_mib:,.0f} MiB/s on"
          f" {cores} cores = {cores / per_mib / raw_rate:.2f}x raw TCP")

    # 2 and 3. One source and three, taking turns so that both see the same weather.
    blob = a.attach(net.entry, blob_file)
    a.start()
    for peer in (b, c):
        peer.fixme("sync", a.address)      # fetches the attached blob with the records
        peer.start()
    for peer in (a, b, c):
        peer.warm_cache()                  # every source serves from memory, as a busy node would
    singles, triples = net.one_and_three(blob, args.repeat)
    one = statistics.median(r["seconds"] for r in singles)
    one_rate = size_mb / one
    verdict = ok(one_rate / raw_rate >= 0.3)
    print(f"blob sync, 1 source             {one_rate:,.0f} MiB/s = {one_rate / raw_rate:.2f}x raw TCP"
          f"  [target >= 0.3x] {verdict}")
    print(f"  runs {spread(singles)}; timed inside the fetching process around Node.sync(), without its"
          f" start-up and imports ({fmt(med(singles, 'startup'))}); = {one_rate / channel_rate:.2f}x the sealed"
          f" channel alone")
    print(f"  first chunk stored after {fmt(med(singles, 'first_chunk'))} (handshake, records, manifest);"
          f" first to last chunk {size_mb / (med(singles, 'last_chunk') - med(singles, 'first_chunk')):,.0f} MiB/s")
    print(f"  CPU during the fetch: fetcher {med(singles, 'cpu'):.2f} s, server {med(singles, 'server_cpu'):.2f} s"
          f" for {fmt(one)} wall ({(med(singles, 'cpu') + med(singles, 'server_cpu')) / one:.2f} cores busy)")

    d.reset()
    os.sync()
    out = work / "fetched.bin"
    started = time.perf_counter()
    cli = d.fixme("attachment", "get", net.entry, blob_file.name, "-o", str(out), "--peer", a.address,
                  "--format", "json")
    cli_seconds = time.perf_counter() - started
    fetched = json.loads(cli.stdout)["fetch"]
    if not fetched or fetched["fetched"] != fetched["chunks"] or out.stat().st_size != blob_file.stat().st_size:
        sys.exit(f"fixme attachment get did not fetch the whole blob: {fetched}")
    out.unlink()
    print(f"  `fixme attachment get` end to end (one run: start-up, scan, 2 rounds, file written and fsynced)"
          f" {fmt(cli_seconds)} = {size_mb / cli_seconds:,.0f} MiB/s")

    three = statistics.median(r["seconds"] for r in triples)
    three_rate = size_mb / three
    print(f"blob sync, 3 sources            {three_rate:,.0f} MiB/s = {three_rate / one_rate:.2f}x one source"
          f"  [target >= 1.0x] {ok(three_rate / one_rate >= 1.0)}")
    dup = statistics.median(r["blobs"][0]["duplicate_bytes"] for r in triples)
    dup_share = dup / blob_file.stat().st_size
    print(f"  duplicate bytes                {dup / MIB:.1f} MiB = {dup_share:.1%} of the blob"
          f"  [target <= 5%] {ok(dup_share <= 0.05)}")
    names = {p.address: p.name for p in (a, b, c)}
    for n, r in enumerate(triples):
        by_peer = {names.get(label.split()[0], label): count for label, count in r["blobs"][0]["by_peer"].items()}
        split = ", ".join(f"{name} {count}" for name, count in sorted(by_peer.items()))
        print(f"  run {n + 1}: {fmt(r['seconds'])}, chunks by peer: {split}; duplicates"
              f" {r['blobs'][0]['duplicate_bytes'] / MIB:.1f} MiB")
    print(f"  CPU during the fetch: fetcher {med(triples, 'cpu'):.2f} s, servers {med(triples, 'server_cpu'):.2f} s"
          f" for {fmt(three)} wall ({(med(triples, 'cpu') + med(triples, 'server_cpu')) / three:.2f} cores busy)")

    # 3b. Each source's upload capped, as a peer's uplink would be on a network.
    for peer in (a, b, c):
        peer.stop()
        peer.start("--upload-rate", str(args.capped_rate))
    capped_one, capped_three = net.one_and_three(blob, args.repeat)
    one_capped = size_mb / statistics.median(r["seconds"] for r in capped_one)
    three_capped = size_mb / statistics.median(r["seconds"] for r in capped_three)
    print(f"  each source capped at {args.capped_rate} MiB/s (`node run --upload-rate`): 1 source {one_capped:,.0f},"
          f" 3 sources {three_capped:,.0f} MiB/s = {three_capped / one_capped:.2f}x; duplicates"
          f" {statistics.median(r['blobs'][0]['duplicate_bytes'] for r in capped_three) / MIB:.1f} MiB")

    # 4. Records.
    rate = verify_rate()
    for peer in (a, b, c):
        peer.stop()
    made = add_records(a, args.records, net.authors, net.entry)
    a.start()
    pulls = []
    for _ in range(args.repeat):
        d.reset()
        pulls.append(net.fetch(d, [a], None))
    counts = {r["sessions"][0]["records_in"] for r in pulls}
    if counts != {made + 1}:   # and the attachment's record
        sys.exit(f"record sync stored {counts} records, expected {made + 1}: {pulls[0]['sessions']}")
    pull = statistics.median(r["seconds"] for r in pulls)
    print(f"ed25519 verify (raw, 1 thread)  {rate:,.0f} /s")
    print(f"record sync, {made + 1:,} records     {fmt(pull)} = {(made + 1) / pull:,.0f} /s = "
          f"{(made + 1) / pull / rate:.2f}x verify rate  [target >= 0.5x] {ok((made + 1) / pull / rate >= 0.5)}")
    print(f"  runs {spread(pulls)}; timed inside the fetching process around Node.sync()")
    ingest = med(pulls, "ingest")
    if pulls[0]["verified_during_transfer"]:
        phases = f"transfer, records verified as they come, {fmt(pull - ingest)}; then store {fmt(ingest)}"
    else:
        phases = (f"transfer (want_records round trips) {fmt(pull - ingest)}, then verify + store {fmt(ingest)}"
                  f" (ingest alone {(made + 1) / ingest:,.0f} /s = {(made + 1) / ingest / rate:.2f}x verify rate)")
    print(f"  {phases}; {pulls[0]['sessions'][0]['bytes_in'] / MIB:.1f} MiB of payload came in")
    print(f"  CPU during the pull: fetcher {med(pulls, 'cpu'):.2f} s, server {med(pulls, 'server_cpu'):.2f} s"
          f" for {fmt(pull)} wall")

    # 5. An in-sync round, on the wire.
    d.fixme("sync", a.address)               # the last pull left the blob out: now d holds everything
    with CountingProxy(a.port) as proxy:
        rounds = []
        for _ in range(args.repeat):
            out = d.fixme("sync", f"127.0.0.1:{proxy.port}", "--format", "json").stdout
            up, down = proxy.wait_closed()
            session = json.loads(out)["sessions"][0]
            if session["error"] or session["records_in"] or session["records_out"]:
                sys.exit(f"the in-sync round was not idle: {session}")
            rounds.append((up, down, session["bytes_out"], session["bytes_in"]))
    up, down, payload_out, payload_in = (statistics.median(x[i] for x in rounds) for i in range(4))
    wire = up + down
    print(f"in-sync round on the wire       {wire:,.0f} bytes ({up:,.0f} up, {down:,.0f} down)"
          f"  [target < 2 KiB] {ok(wire < 2048)}")
    from fixme.node.channel import ABYTES, HEADER_SIZE, LENGTH_SIZE
    from fixme.node.handshake import HELLO_SIZE, IDENTITY_SIZE

    frame = LENGTH_SIZE + ABYTES
    # Each side: hello, stream header, identity frame; then the responder's verdict frame.
    handshake = 2 * (HELLO_SIZE + HEADER_SIZE + frame + IDENTITY_SIZE) + frame + 1
    payloads = payload_out + payload_in
    frames = (wire - handshake - payloads) / frame
    print(f"  = handshake {handshake} + frame payloads {payloads:,.0f} (SessionReport bytes_in + bytes_out)"
          f" + {frames:g} frames x {frame} bytes of length and seal (hello_logs, bye, final frame each way)")

    # 6. The records pull again, while the serving node is attacked.
    under_attack(net, args)

    # 7. The memory of a pull far bigger than the others.
    if args.big_pull:
        big_pull(net, args)


def big_pull(net: Network, args) -> None:
    """An empty clone pulls --big-pull records (on top of the others) from one node: its peak RSS."""
    a, d = net.peers[0], net.peers[3]
    a.stop()
    made = add_records(a, args.big_pull, net.authors, net.entry)
    a.start()
    d.reset()
    pull = net.fetch(d, [a], None)
    got = pull["sessions"][0]["records_in"]
    if got < made:
        sys.exit(f"the big pull stored {got:,} records, expected at least {made:,}")
    peak = pull["peak_rss_kib"] / 1024
    grown = (pull["peak_rss_kib"] - pull["rss_before_kib"]) / 1024
    print(f"peak memory of a pull, {got:,} records  {peak:,.0f} MB (the fetching process's VmHWM)"
          f"  [target <= 150 MB] {ok(peak <= 150)}")
    print(f"  {grown:,.0f} MB above the process before the round ({pull['rss_before_kib'] / 1024:,.0f} MB:"
          f" Python, fixme, the open node); one run, {fmt(pull['seconds'])} = {got / pull['seconds']:,.0f} records/s")


def bench_attack(net: Network, args) -> None:
    """--attack-only: the records, and the pull idle and under attack."""
    a = net.peers[0]
    made = add_records(a, args.records, net.authors, net.entry)
    print(f"{made:,} records on the serving node")
    a.start()
    under_attack(net, args)


def under_attack(net: Network, args) -> None:
    """The empty clone's records pull from one node, with no attack and while one runs, in turns."""
    a, d = net.peers[0], net.peers[3]
    from fixme.config import load_config

    network_key = load_config(a.root).network_key_bytes()
    quiet, attacked, lines, counts = [], [], 0, {}
    for _ in range(args.repeat):
        d.reset()
        quiet.append(net.fetch(d, [a], None))
        d.reset()
        with Attack(a, network_key, args.slow, args.idle) as attack:
            attacked.append(net.fetch(d, [a], None))
        lines += attack.log_lines
        counts = attack.counts
    records = quiet[0]["sessions"][0]["records_in"]
    if {r["sessions"][0]["records_in"] for r in quiet + attacked} != {records}:
        sys.exit(f"the pull under attack did not bring every record: {[r['sessions'] for r in attacked]}")
    idle_time, attack_time = med(quiet, "seconds"), med(attacked, "seconds")
    ratio = attack_time / idle_time
    print(f"records pull under attack       {fmt(attack_time)} vs {fmt(idle_time)} idle = {ratio:.2f}x"
          f"  [target <= 3x] {ok(ratio <= 3)}")
    print(f"  {records:,} records; attack: {args.slow} slow connections without the network key (50 addresses),"
          f" {args.idle} idle sessions of random keys (16 addresses); runs idle {spread(quiet)},"
          f" attacked {spread(attacked)}")
    print(f"  the attacker's last run: {counts.get('slow_connects', 0):,} slow connections opened,"
          f" {counts.get('slow_held_at_the_end', 0)} still open at the end; {counts.get('idle_sessions', 0)}"
          f" of {counts.get('idle_connects', 0):,} session attempts got in; serving node's log:"
          f" {lines / args.repeat:.0f} lines per attack")
    print(f"  CPU during the pull: fetcher {med(attacked, 'cpu'):.2f} s, server {med(attacked, 'server_cpu'):.2f} s"
          f" (idle: {med(quiet, 'cpu'):.2f} s, {med(quiet, 'server_cpu'):.2f} s)")


class Attack:
    """The attacker child process against `peer`'s running node, for the length of a with block."""

    def __init__(self, peer: Peer, network_key: bytes, slow: int, idle: int):
        self.peer, self.args = peer, [str(peer.port), network_key.hex(), str(slow), str(idle)]
        self.counts: dict = {}
        self.log_lines = 0

    def __enter__(self) -> "Attack":
        self.log_start = self.peer.log_path.stat().st_size
        self.child = subprocess.Popen([sys.executable, "-c", ATTACK_CHILD, *self.args], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True, env=ENV)
        if self.child.stdout.readline().strip() != "ready":
            sys.exit("the attacker did not start")
        return self

    def __exit__(self, *exc) -> None:
        self.child.stdin.close()
        self.counts = json.loads(self.child.stdout.readline() or "{}")
        if self.child.wait(timeout=60) != 0:
            sys.exit("the attacker failed")
        with open(self.peer.log_path, "rb") as log:
            log.seek(self.log_start)
            self.log_lines = log.read().count(b"\n")


# -- the nodes -------------------------------------------------------------------

class Peer:
    """A clone with its own FIXME_HOME, and maybe a running `fixme node run`."""

    def __init__(self, name: str, root: Path, home: Path):
        self.name = name
        self.root = root
        self.home = home
        self.env = {**ENV, "FIXME_HOME": str(home)}
        self.node: subprocess.Popen | None = None
        self.address = ""
        self.log_path = root.parent / f"{name}.node.log"

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    def fixme(self, *args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(FIXME + ["-C", str(self.root), *args], env=self.env, capture_output=True,
                              text=True, timeout=TIMEOUT)
        if proc.returncode != 0:
            sys.exit(f"fixme {' '.join(args)} in {self.name} failed: {proc.stderr.strip()}")
        return proc

    def key(self) -> str:
        subprocess.run(FIXME + ["key", "init"], cwd=self.root.parent, env=self.env, capture_output=True, check=True)
        out = subprocess.run(FIXME + ["key", "show", "--format", "json"], cwd=self.root.parent, env=self.env,
                             capture_output=True, check=True).stdout
        return json.loads(out)["key"]

    def attach(self, entry: str, path: Path) -> str:
        """Attach the file with `fixme attach`; the blob's id."""
        from fixme.tracker.tracker import Tracker

        self.fixme("attach", entry, str(path))
        tracker = Tracker.open(self.root, home=self.home)
        return [item for item in tracker.attachments(entry) if item.value == path.name][-1].blob

    def start(self, *extra: str) -> None:
        log = open(self.log_path, "a")
        self.node = subprocess.Popen(FIXME + ["-C", str(self.root), "node", "run", "--listen", "127.0.0.1:0",
                                              "--no-discovery", *extra], stdout=log, stderr=log, env=self.env)
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            running = json.loads(self.fixme("node", "status", "--format", "json").stdout)["running"]
            if running and running["pid"] == self.node.pid:
                self.address = running["listen"]
                return
            if self.node.poll() is not None:
                sys.exit(f"node {self.name} exited: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.05)
        sys.exit(f"node {self.name} did not start: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.node is not None and self.node.poll() is None:
            self.node.send_signal(signal.SIGTERM)
            try:
                self.node.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.node.kill()
                self.node.wait()
        self.node = None

    def cpu(self) -> float:
        """CPU seconds (user + system) of the running node so far."""
        if self.node is None:
            return 0.0
        fields = Path(f"/proc/{self.node.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def warm_cache(self) -> None:
        """Read every stored block file once, so the page cache holds them.

        Storing drops a block's cached pages once it is durable; without this
        the first runs would read from disk on some sources and not others.
        """
        for path in (self.root / ".fixme" / "node" / "blocks" / "objects").rglob("*"):
            if path.is_file():
                with open(path, "rb") as fh:
                    while fh.read(MIB):
                        pass

    def reset(self) -> None:
        """Forget every block and record (the key and the clone stay)."""
        shutil.rmtree(self.root / ".fixme" / "node", ignore_errors=True)


class Network:
    """A project cloned four times (a, b, c serve; d fetches); every key trusted, one network key."""

    def __init__(self, work: Path):
        self.work = work
        self.peers = [Peer(n, work / n, work / f"home-{n}") for n in "abcd"]
        self.authors = [_author_key(n) for n in range(3)]   # sign the records of step 4
        a = self.peers[0]
        a.root.mkdir()
        git(a.root, "init", "-q", "-b", "main")
        (a.root / "app.py").write_text("def main():\n    pass  # TODO: attach the benchmark blob here\n")
        git(a.root, "add", "-A")
        git(a.root, "-c", "user.name=Bench", "-c", "user.email=b@example.org", "commit", "-qm", "start")
        a.fixme("init")
        from fixme.node.keys import key_text

        for peer in self.peers[1:]:
            a.fixme("trust", "add", peer.key(), "--name", peer.name)
        for n, key in enumerate(self.authors):
            a.fixme("trust", "add", key_text(bytes(key.verify_key)), "--name", f"author{n}")
        git(a.root, "add", "-A")
        git(a.root, "-c", "user.name=Bench", "-c", "user.email=b@example.org", "commit", "-qm", "fixme config")
        for peer in self.peers[1:]:
            git(work, "clone", "-q", str(a.root), str(peer.root))
        entries = json.loads(a.fixme("list", "--format", "json").stdout)
        self.entry = entries[0]["id"]
        self.script = work / "fetch_child.py"
        self.script.write_text(FETCH_CHILD)

    def fetch(self, peer: Peer, sources: list[Peer], blob: str | None) -> dict:
        """One timed Node.sync() round of `peer` with `sources` (blob: that blob, else records only)."""
        os.sync()
        cpu = sum(s.cpu() for s in sources)
        proc = subprocess.run([sys.executable, str(self.script), str(peer.root), blob or "-", "0",
                               *(s.address for s in sources)], env=peer.env, capture_output=True,
                              timeout=TIMEOUT)
        if proc.returncode != 0:
            sys.exit(f"fetch from {[s.name for s in sources]} failed: {proc.stderr.decode(errors='replace')}")
        result = json.loads(proc.stdout)
        result["server_cpu"] = sum(s.cpu() for s in sources) - cpu
        errors = [s["error"] for s in result["sessions"] if s["error"]] + result["blob_errors"]
        if errors:
            sys.exit(f"fetch from {[s.name for s in sources]} failed: {errors}")
        return result

    def one_and_three(self, blob: str, repeat: int) -> tuple[list[dict], list[dict]]:
        """`repeat` fetches of the blob by d from a alone and from a, b and c, taking turns."""
        a, b, c, d = self.peers
        singles, triples = [], []
        for _ in range(repeat):
            d.reset()
            singles.append(self.fetch(d, [a], blob))
            d.reset()
            triples.append(self.fetch(d, [a, b, c], blob))
        check_fetch(singles + triples, blob)
        return singles, triples

    def stop_all(self) -> None:
        for peer in self.peers:
            peer.stop()


def _author_key(n: int):
    from nacl.signing import SigningKey

    return SigningKey(bytes([n + 1]) * 32)


def check_fetch(results: list[dict], blob: str) -> None:
    for result in results:
        report = result["blobs"][0] if result["blobs"] else {}
        if report.get("blob") != blob or not report.get("complete") or report["fetched"] != report["chunks"]:
            sys.exit(f"the fetch did not bring the whole blob: {report}")


# -- the figures' pieces ---------------------------------------------------------------

def make_blob(path: Path, megabytes: int) -> Path:
    """Distinct 1 MiB chunks (no dedup flattery) and a short last one."""
    chunk = os.urandom(MIB)
    with open(path, "wb") as fh:
        for n in range(megabytes):
            fh.write(n.to_bytes(8, "big") + chunk[8:])
        fh.write(os.urandom(1234))
    return path


def raw_tcp(total: int) -> float:
    """Seconds to receive `total` bytes from a child process over 127.0.0.1."""
    os.sync()
    with socket.create_server(("127.0.0.1", 0)) as server:
        child = subprocess.Popen([sys.executable, "-c", SEND_CHILD, str(server.getsockname()[1]), str(total)])
        try:
            conn, _ = server.accept()
            with conn:
                buffer = bytearray(MIB)
                view = memoryview(buffer)
                got = 0
                conn.sendall(b"g")
                started = time.perf_counter()
                while got < total:
                    n = conn.recv_into(view)
                    if not n:
                        sys.exit(f"raw TCP: the sender stopped after {got} of {total} bytes")
                    got += n
                seconds = time.perf_counter() - started
                conn.sendall(b"k")
        finally:
            if child.wait(timeout=60) != 0:
                sys.exit("raw TCP: the sender failed")
    return seconds


def sealed_channel(total: int) -> float:
    """Seconds to receive `total` bytes over the node's own transport from a child process."""
    import asyncio

    from nacl.signing import SigningKey

    from fixme.node.allocator import keep_frame_buffers
    from fixme.node.handshake import connect

    keep_frame_buffers()   # as a Node does (the fetching child process opens a Node)
    network_key = os.urandom(32)
    child = subprocess.Popen([sys.executable, "-c", CHANNEL_CHILD, str(total), network_key.hex()],
                             stdout=subprocess.PIPE, env=ENV)
    try:
        port = int(child.stdout.readline())

        async def receive() -> float:
            session = await connect("127.0.0.1", port, SigningKey.generate(), network_key)
            await session.send(b"go")
            started = time.perf_counter()
            got = 0
            while got < total:
                got += len(await session.recv())
            seconds = time.perf_counter() - started
            await session.send(b"done")
            await session.close()
            return seconds

        seconds = asyncio.run(receive())
    finally:
        if child.wait(timeout=60) != 0:
            sys.exit("sealed channel: the sender failed")
    return seconds


def crypto_rates(megabytes: int = 64) -> tuple[float, float, float]:
    """MiB/s of one core: secretstream push (seal), pull (open), SHA-256; medians of three."""
    import hashlib

    from nacl.bindings import (
        crypto_secretstream_xchacha20poly1305_init_pull,
        crypto_secretstream_xchacha20poly1305_init_push,
        crypto_secretstream_xchacha20poly1305_pull,
        crypto_secretstream_xchacha20poly1305_push,
        crypto_secretstream_xchacha20poly1305_state,
    )

    data = os.urandom(MIB)
    seal, unseal, sha = [], [], []
    clock = time.perf_counter
    for _ in range(3):
        key = os.urandom(32)
        push = crypto_secretstream_xchacha20poly1305_state()
        header = crypto_secretstream_xchacha20poly1305_init_push(push, key)
        pull = crypto_secretstream_xchacha20poly1305_state()
        crypto_secretstream_xchacha20poly1305_init_pull(pull, header, key)
        # Each frame is opened right after it is sealed, so both reuse the
        # same memory: keeping 64 sealed MiB would time page faults too.
        sealing = opening = 0.0
        for _ in range(megabytes):
            began = clock()
            sealed = crypto_secretstream_xchacha20poly1305_push(push, data, b"len!")
            middle = clock()
            crypto_secretstream_xchacha20poly1305_pull(pull, sealed, b"len!")
            sealing, opening = sealing + middle - began, opening + clock() - middle
        seal.append(megabytes / sealing)
        unseal.append(megabytes / opening)
        started = clock()
        for _ in range(megabytes):
            hashlib.sha256(data).digest()
        sha.append(megabytes / (clock() - started))
    return statistics.median(seal), statistics.median(unseal), statistics.median(sha)


def add_records(peer: Peer, count: int, authors: list, entry: str) -> int:
    """`count` records by the three trusted authors on top of the peer's log (the node is stopped):
    a DAG where each names the latest two, as several people editing would make."""
    from fixme.node.log import LogIndex, RecordLog
    from fixme.node.records import sign_record
    from fixme.node.storage import open_node_storage
    from fixme.tracker.changes import INDEX_FILE, node_dir
    from fixme.tracker.workflow import LOG_NAME, set_payload

    directory = node_dir(peer.root)
    store, refs = open_node_storage(directory)
    index = LogIndex(directory / INDEX_FILE)
    log = RecordLog(store, refs, index, LOG_NAME)
    try:
        rng = random.Random(7)
        heads = log.heads()
        clocks = index.clocks(heads)
        recent = [(clocks[h], h) for h in heads]
        states = ["backlog", "wip", "test", "done"]
        base = 1_700_000_000_000
        blocks = []
        for n in range(count):
            parents = recent[-2:]
            clock = 1 + max((c for c, _ in parents), default=0)
            record = sign_record(authors[n % len(authors)], LOG_NAME, [p for _, p in parents], clock, base + n,
                                 set_payload(entry, "workflow", rng.choice(states)))
            blocks.append(record.data)
            recent = (recent + [(clock, record.id)])[-4:]
        for start in range(0, len(blocks), 5000):
            report = log.ingest(blocks[start:start + 5000])
            if report.rejected or report.waiting:
                sys.exit(f"making the records: {len(report.rejected)} rejected, {len(report.waiting)} waiting")
    finally:
        index.close()
        store.close()
    return count


def code_version() -> str:
    """The commit of the fixme being measured (the code moves fast: say which)."""
    import fixme

    package = Path(fixme.__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=package, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=package, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"at {package} (not a git checkout)"
    return f"at commit {commit}" + (" with uncommitted changes in fixme/" if dirty else "")


def ok(met: bool) -> str:
    return "OK" if met else "MISSED"


def med(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def spread(results: list[dict]) -> str:
    return " / ".join(fmt(r["seconds"]) for r in results)


class CountingProxy:
    """127.0.0.1:port -> 127.0.0.1:target, one connection at a time, counting bytes each way."""

    def __init__(self, target: int):
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._done: list[tuple[int, int]] = []
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> "CountingProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            counts = [0, 0]
            pumps = [threading.Thread(target=_pump, args=(client, upstream, counts, 0)),
                     threading.Thread(target=_pump, args=(upstream, client, counts, 1))]
            for pump in pumps:
                pump.start()
            for pump in pumps:
                pump.join()
            client.close()
            upstream.close()
            with self._ready:
                self._done.append((counts[0], counts[1]))
                self._ready.notify_all()

    def wait_closed(self) -> tuple[int, int]:
        """(bytes client -> server, bytes server -> client) of the next connection to end."""
        with self._ready:
            if not self._ready.wait_for(lambda: self._done, timeout=30):
                sys.exit("the proxied connection did not end")
            return self._done.pop(0)


def _pump(source: socket.socket, dest: socket.socket, counts: list[int], slot: int) -> None:
    while True:
        try:
            data = source.recv(65536)
        except OSError:
            data = b""
        if not data:
            try:
                dest.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        counts[slot] += len(data)
        try:
            dest.sendall(data)
        except OSError:
            return


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


if __name__ == "__main__":
    main()
