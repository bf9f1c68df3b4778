"""Issue 14, "Smaller, from a new user's session": each finding, kept fixed.

Commands run as real `fixme` processes where the issue talks about them
(nodes on 127.0.0.1, see realnodes.py); pure output checks run in-process.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from conftest import run_cli
from fixme.node.blobs import put_blob
from fixme.node.blocks import BlockStore
from fixme.node.keys import key_text
from fixme.node.messages import Bye
from fixme.node.records import sign_record
from fixme.tracker.workflow import LOG_NAME, attach_payload
from hostile_peers import FakePeer
from realnodes import Peer, git, project

OWNER = SigningKey(b"o" * 32)
LIMIT = 90.0


def run(coro, limit: float = LIMIT):
    async def bounded():
        async with asyncio.timeout(limit):
            return await coro
    return asyncio.run(bounded())


def victim_and_clone(tmp_path: Path) -> tuple[Peer, Peer]:
    """A project trusting OWNER and its creator, and a clone with its own (untrusted) key."""
    victim = project(tmp_path / "victim", tmp_path / "home-victim", {"app.py": "# TODO: first task\n"})
    victim.fixme("trust", "add", key_text(bytes(OWNER.verify_key)), "--name", "owner")
    git(victim.root, "commit", "-qam", "trust owner")
    git(tmp_path, "clone", "-q", str(victim.root), str(tmp_path / "clone"))
    return victim, Peer(tmp_path / "clone", tmp_path / "home-clone")


def only_entry(peer: Peer) -> str:
    [entry] = json.loads(peer.fixme("list", "--all", "--format", "json").stdout)
    return entry["id"]


# -- what the peer refused ----------------------------------------------------------------------

def test_sync_reports_the_records_the_peer_refused_and_whose(tmp_path):
    """A new user's records (key not trusted yet) were counted as sent; the peer refused them."""
    victim, newcomer = victim_and_clone(tmp_path)
    address = victim.start()
    try:
        entry = only_entry(newcomer)
        newcomer.set_workflow(entry, "wip")
        newcomer.fixme("comment", entry, "on it")
        mine = newcomer.key()
        synced = newcomer.fixme("sync", address)
        as_json = json.loads(newcomer.fixme("sync", address, "--format", "json").stdout)
    finally:
        victim.stop()
    assert f"2 out, 2 refused (author not trusted: {mine})" in synced.stdout, synced.stdout
    [session] = as_json["sessions"]
    assert session["refused_by_peer"] == {mine: 2} and session["records_out"] == 2
    assert victim.states()[entry] == "new"          # the victim stored nothing
    assert json.loads(victim.fixme("log", "--format", "json").stdout) == []


# -- one node per repository ----------------------------------------------------------------------

def test_a_second_node_on_the_same_repository_is_refused(tmp_path):
    peer = project(tmp_path / "repo", tmp_path / "home", {"app.py": "# TODO: x\n"})
    peer.start()
    first = peer.node.pid
    try:
        second = peer.fixme("node", "run", "--listen", "127.0.0.1:0", "--no-discovery", check=False)
        still = json.loads(peer.fixme("node", "status", "--format", "json").stdout)["running"]
    finally:
        peer.stop()
    assert (second.returncode, second.stdout) == (2, "")
    assert second.stderr == f"fixme: node already running (pid {first})\n"
    assert still["pid"] == first           # the refused one changed nothing


def test_node_status_of_a_copied_repository_does_not_see_the_original_node(tmp_path):
    peer = project(tmp_path / "repo", tmp_path / "home", {"app.py": "# TODO: x\n"})
    peer.start()
    try:
        pid = json.loads(peer.fixme("node", "status", "--format", "json").stdout)["running"]["pid"]
        assert pid == peer.node.pid
        shutil.copytree(peer.root, tmp_path / "copy")
        copy = Peer(tmp_path / "copy", peer.home)
        status = json.loads(copy.fixme("node", "status", "--format", "json").stdout)
        text = copy.fixme("node", "status").stdout
        # ...and the copy can run its own node.
        copy.start()
        copy.stop()
    finally:
        peer.stop()
    assert status["running"] is None
    assert text.startswith("node: not running")


def test_a_node_whose_directory_is_deleted_stops_with_one_line(tmp_path):
    peer = project(tmp_path / "repo", tmp_path / "home", {"app.py": "# TODO: x\n"})
    peer.start()
    before = peer.log_path.read_text()
    shutil.rmtree(peer.root / ".fixme")
    try:
        code = peer.node.wait(timeout=30)
    finally:
        peer.kill()
    after = peer.log_path.read_text()[len(before):]
    lines = [line for line in after.splitlines() if "deleted" in line]
    assert code == 1, after
    assert len(lines) == 1 and "ERROR" in lines[0] and ".fixme/node was deleted or replaced: stopping" in lines[0]
    assert "Traceback" not in after


# -- errors ---------------------------------------------------------------------------------------

class Impostor:
    """A TCP server on 127.0.0.1 that is not a fixme node: it sends `banner` on connect
    (an SSH server), or `reply` once the client has said something (a web server)."""

    def __init__(self, banner: bytes = b"", reply: bytes = b"", silent: bool = False):
        self.banner, self.reply, self.silent = banner, reply, silent
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(15)
            try:
                if self.banner:
                    conn.sendall(self.banner)
                if self.reply:
                    conn.recv(1024)
                    conn.sendall(self.reply)
                if self.silent or self.banner:
                    self.stop.wait(15)
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.mark.parametrize("impostor, looks_like", [
    (dict(reply=b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), "HTTP"),
    (dict(reply=b"<!DOCTYPE HTML>\n<html><body>Bad request</body></html>\n"), "HTTP"),
    (dict(banner=b"SSH-2.0-OpenSSH_9.6p1 Debian-4\r\n"), "SSH"),
], ids=["http", "html", "ssh"])
def test_sync_with_something_that_is_not_a_fixme_node_says_so(tmp_path, impostor, looks_like):
    peer = project(tmp_path / "repo", tmp_path / "home", {"app.py": "# TODO: x\n"})
    server = Impostor(**impostor)
    try:
        synced = peer.fixme("sync", f"127.0.0.1:{server.port}", check=False)
    finally:
        server.close()
    assert synced.returncode == 1
    assert synced.stdout == (f"127.0.0.1:{server.port}  unreachable: does not speak fixme's protocol "
                             f"(it looks like {looks_like})\n"), synced.stdout


def test_every_timeout_reads_the_same_and_exits_1(tmp_path):
    """The whole round's --timeout, and one peer's handshake timeout: 'timed out after N s', exit 1."""
    from fixme.node.node import Node, NodeSettings

    peer = project(tmp_path / "repo", tmp_path / "home", {"app.py": "# TODO: x\n"})
    silent = Impostor(silent=True)
    try:
        synced = peer.fixme("sync", f"127.0.0.1:{silent.port}", "--timeout", "1", check=False)

        async def dial():
            settings = NodeSettings(SigningKey(b"n" * 32), peer.network_key(), (LOG_NAME,),
                                    lambda log, author: True, handshake_timeout=1.0)
            node = Node(tmp_path / "node", settings)
            try:
                return await node.sync([f"127.0.0.1:{silent.port}"])
            finally:
                node.close()
        [session] = run(dial()).sessions
    finally:
        silent.close()
    assert (synced.returncode, synced.stdout, synced.stderr) == (1, "", "fixme: timed out after 1 s\n")
    assert session.error == "timed out after 1 s"


def attached_project(repo) -> str:
    repo.write("src/app.py", "# TODO: with a trace\n")
    repo.commit("start")
    assert run_cli("init", cwd=repo.root).code == 0
    (repo.root.parent / "trace.log").write_text("a trace\n")
    (repo.root.parent / "core.txt").write_text("a core\n")
    [entry] = json.loads(run_cli("list", "--format", "json", cwd=repo.root).out)
    for name in ("trace.log", "core.txt"):
        assert run_cli("attach", entry["id"], str(repo.root.parent / name), cwd=repo.root).code == 0
    return entry["id"]


def test_attachment_get_of_a_name_the_entry_does_not_have(repo):
    entry = attached_project(repo)
    got = run_cli("attachment", "get", entry, "nosuch.bin", cwd=repo.root)
    assert (got.code, got.out) == (1, "")
    assert got.err == "fixme: no attachment 'nosuch.bin' (has: 'trace.log', 'core.txt')\n"


@pytest.mark.parametrize("name", ["a\u202etxt.exe", "a\x85b", "a\tb", "a\nb", "a\u200bb", ".", "..", "a/b",
                                  "x" * 256])
def test_attach_refuses_every_name_its_message_says_it_refuses(repo, name):
    entry = attached_project(repo)
    (repo.root.parent / "file").write_text("x")
    got = run_cli("attach", entry, str(repo.root.parent / "file"), "--name", name, cwd=repo.root)
    assert got.code == 2 and got.err.count("\n") == 1 and got.err.startswith("fixme: refused attachment name")
    assert "control or invisible formatting characters" in got.err
    assert len(json.loads(run_cli("log", "--format", "json", cwd=repo.root).out)) == 2   # nothing written


def test_trust_add_refuses_non_keys_taken_names_and_long_names(repo):
    repo.write("src/app.py", "# TODO: x\n")
    repo.commit("start")
    assert run_cli("init", cwd=repo.root).code == 0
    real = key_text(bytes(SigningKey(b"a" * 32).verify_key))
    other = key_text(bytes(SigningKey(b"b" * 32).verify_key))
    assert run_cli("trust", "add", real, "--name", "Ada", cwd=repo.root).code == 0
    not_a_point = "ed25519:" + "ab" * 32            # 64 hex digits, but no point of the curve
    cases = {
        ("trust", "add", not_a_point, "--name", "Bob"): "is not an ed25519 public key (not a point of the curve)",
        ("trust", "add", other, "--name", "Ada"): f"the name 'Ada' is already given to {real}",
        ("trust", "add", other, "--name", "B" * 201): "the name is longer than 200 characters",
        ("trust", "add", other, "--name", "Bob\u202e"): "holds control or invisible formatting characters",
    }
    for argv, message in cases.items():
        got = run_cli(*argv, cwd=repo.root)
        assert got.code == 2 and message in got.err and got.err.count("\n") == 1, (argv, got.err)
    names = [row["name"] for row in json.loads(run_cli("trust", "list", "--format", "json", cwd=repo.root).out)]
    assert names.count("Ada") == 1 and len(names) == 2
    assert run_cli("trust", "add", other, "--name", "B" * 200, cwd=repo.root).code == 0


def test_a_file_with_a_newline_in_its_name_is_scanned(repo):
    repo.write("ok.py", "# TODO: plain\n")
    repo.write("we\nird.py", "# TODO: in a file with a newline in its name\n")
    repo.commit("start")
    repo.write("un\ncommitted.py", "# TODO: not committed yet\n")
    entries = json.loads(run_cli("list", "--format", "json", cwd=repo.root).out)
    assert {e["path"] for e in entries} == {"ok.py", "we\nird.py", "un\ncommitted.py"}
    table = run_cli("list", cwd=repo.root, width=200).out
    assert "we\\nird.py:1" in table and "un\\ncommitted.py:1" in table


# -- fixme demo from a real install -----------------------------------------------------------------

def test_demo_works_from_a_wheel_installed_in_a_new_venv(tmp_path):
    """Slow (~10 s): builds the wheel from the source (pip wheel, the shared pip; build isolation
    fetches setuptools as `pip install` would), installs it without dependencies into a new venv,
    lends that venv the running interpreter's site-packages for the dependencies through a .pth
    file (they are not what is tested), and runs the venv's own `fixme demo`."""
    import site

    source = Path(__file__).resolve().parents[1]
    tree = tmp_path / "src"
    shutil.copytree(source, tree, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "build",
                                                                  "*.egg-info", ".hypothesis", "tests"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(tree), "-w", str(wheels)],
                   check=True, capture_output=True, timeout=300)
    [wheel] = wheels.glob("fixme-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    # Without PYTHONPATH: a checkout on it (with its .egg-info) would look installed to pip already.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True, timeout=300, env=env)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    where = subprocess.run([str(python), "-c", "import fixme; print(fixme.__file__)"], cwd=tmp_path, env=env,
                           check=True, capture_output=True, text=True).stdout
    assert where.startswith(purelib), where          # the installed copy, not the checkout
    demo = subprocess.run([str(venv / "bin" / "fixme"), "demo", str(tmp_path / "burrow")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr
    assert "replayed 13 commits" in demo.stderr and "atomic-ref-update" in demo.stdout


# -- spec gaps ------------------------------------------------------------------------------------

def test_a_chunk_size_no_block_message_can_carry_is_refused():
    from fixme.node import canonical
    from fixme.node.blobs import MAX_CHUNK_SIZE, ManifestError, parse_manifest
    from fixme.node.hashing import block_id
    from fixme.node.messages import MAX_BLOCK_DATA

    assert MAX_CHUNK_SIZE <= MAX_BLOCK_DATA
    chunk = block_id(b"x")
    two_mib = canonical.encode({"type": "blob", "size": 2 * 1024 * 1024, "chunk_size": 2 * 1024 * 1024,
                                "chunks": [chunk]})
    with pytest.raises(ManifestError, match="chunk_size"):
        parse_manifest(two_mib)
    with pytest.raises(ValueError):
        put_blob(BlockStore(Path("/nonexistent-never-written")), io.BytesIO(b"x"), chunk_size=2 * 1024 * 1024)


def test_a_bye_before_hello_logs_ends_the_session_at_once(tmp_path):
    """A peer that says bye (and closes) without announcing its logs once stalled the round."""
    from fixme.node.node import Node, NodeSettings

    network = bytes(range(32))

    class Mute(FakePeer):
        async def play(self, session):
            await session.send_message(Bye())
            await asyncio.sleep(3)

    async def main():
        mute = Mute(network)
        address = await mute.start()
        settings = NodeSettings(SigningKey(b"n" * 32), network, (LOG_NAME,), lambda log, author: True,
                                idle_timeout=20.0)
        node = Node(tmp_path / "node", settings)
        started = time.monotonic()
        try:
            return await node.sync([address]), time.monotonic() - started
        finally:
            node.close()
            await mute.close()

    result, seconds = run(main())
    [session] = result.sessions
    assert session.error == "bye before hello_logs" and seconds < 10


def test_the_protocol_and_records_docs_close_the_gaps():
    """What 'carry' means, hello_logs before bye, not_found.id for want_chunk, the bye's
    refusals, the chunk_size cap, and one story about untrusted records, in every doc."""
    from fixme.node.blobs import MAX_CHUNK_SIZE

    docs = Path(__file__).resolve().parents[1] / "docs"
    protocol, records, guide = ((docs / name).read_text() for name in ("protocol.md", "records.md", "guide.md"))
    flat = " ".join(protocol.split())
    assert "A node *carries* the record logs" in flat
    assert "`bye` must come after it" in flat
    assert "for `want_chunk` it is the chunk's id" in flat
    assert '`untrusted`: list (≤ 64) of `{"author": key, "count": integer 1..2^32}`' in protocol
    assert f"between 1024 and {MAX_CHUNK_SIZE}" in " ".join(records.split())
    for text in (protocol, records, guide):
        flat = " ".join(text.split())
        assert "accepted and kept like any other" not in flat and "are kept, shown in `log`" not in flat
    assert "refused by sync and not stored" in " ".join(records.split())
    assert "Sync refuses a peer's records by keys not in the trust list" in " ".join(guide.split())
    assert "A refused record is not stored" in " ".join(protocol.split())
    assert "the blob's manifest must say the same `size`" in " ".join(records.split())


def test_attachment_get_refuses_a_blob_whose_size_is_not_the_records(tmp_path):
    """A trusted but lying record: 7 bytes, it says, of a 3 MiB blob. Refused before a chunk
    is fetched, whether the blob comes from a peer or is here already; nothing is written."""
    victim, holder = victim_and_clone(tmp_path)
    data = os.urandom(3 * 1024 * 1024)
    (tmp_path / "big.bin").write_bytes(data)
    blob = holder.fixme("node", "put", str(tmp_path / "big.bin")).stdout.strip()
    entry = only_entry(victim)
    record = sign_record(OWNER, LOG_NAME, [], 1, int(time.time() * 1000),
                         attach_payload(entry, "small.txt", blob, 7), refs=[blob])
    holder_records(holder, record)
    address = holder.start()
    out = tmp_path / "out.txt"
    try:
        fetched = victim.fixme("attachment", "get", entry, "small.txt", "-o", str(out), "--peer", address,
                               check=False)
    finally:
        holder.stop()
    assert fetched.returncode == 2 and not out.exists(), fetched.stdout + fetched.stderr
    assert "is 3145728 bytes by its manifest, not the 7 expected: refused" in fetched.stderr
    assert fetched.stderr.count("\n") == 1
    transfers = json.loads(victim.fixme("node", "status", "--format", "json").stdout)
    assert transfers["transfers"] == {}
    # Here already (fetched some other way): refused as well, before writing.
    (tmp_path / "copy.bin").write_bytes(data)
    assert victim.fixme("node", "put", str(tmp_path / "copy.bin")).stdout.strip() == blob
    here = victim.fixme("attachment", "get", entry, "small.txt", "-o", str(out), check=False)
    assert here.returncode == 2 and not out.exists()
    assert here.stderr == "fixme: refused attachment 'small.txt': its blob is 3,145,728 bytes, but the record says 7\n"


def holder_log(peer: Peer):
    from fixme.node.local import LocalStore
    from fixme.tracker.changes import node_dir

    return LocalStore(node_dir(peer.root), (LOG_NAME,))


def holder_records(peer: Peer, record) -> None:
    """Store `record` in the peer's log as if a sync had brought it."""
    store = holder_log(peer)
    try:
        outcome = store.logs[LOG_NAME].ingest([record.data])
        assert [r.id for r in outcome.added] == [record.id], outcome
    finally:
        store.close()
