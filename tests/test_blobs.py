"""Blobs: files of any size as chunks under a manifest; `fixme node put/get`."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli
from realnodes import run_measured
from fixme.cli.env import Environment
from fixme.cli.main import main
from fixme.node import canonical
from fixme.node.blobs import (CHUNK_SIZE, ManifestError, iter_blob, missing_chunks, parse_manifest, put_blob,
                              read_manifest, write_blob)
from fixme.node.blocks import SMALL_BLOCK_MAX, TEMP_PREFIX, BlockCorrupt, BlockNotFound, BlockStore
from fixme.node.fsck import fsck
from fixme.node.hashing import block_id
from fixme.node.refs import Refs

MiB = 1024 * 1024
_PATTERN = hashlib.shake_256(b"fixme test pattern").digest(MiB)


def pattern(size: int) -> bytes:
    """`size` bytes whose 1 MiB pieces all differ (identical chunks would dedupe and hide bugs)."""
    pieces = []
    for index in range(-(-size // MiB)):
        pieces.append(index.to_bytes(8, "little") + _PATTERN[8:])
    return b"".join(pieces)[:size]


@pytest.fixture
def store(tmp_path):
    with BlockStore(tmp_path / "blocks") as s:
        yield s


@pytest.mark.parametrize("size", [0, 1, SMALL_BLOCK_MAX, SMALL_BLOCK_MAX + 1, MiB, MiB + 1, 3 * MiB + MiB // 2])
def test_round_trip(store, tmp_path, size):
    data = pattern(size)
    blob_id = put_blob(store, io.BytesIO(data))
    manifest = read_manifest(store, blob_id)
    assert manifest.size == size and manifest.chunk_size == CHUNK_SIZE
    assert len(manifest.chunks) == -(-size // CHUNK_SIZE)
    assert list(manifest.chunks) == [block_id(data[i:i + CHUNK_SIZE]) for i in range(0, size, CHUNK_SIZE)]
    assert store.get(blob_id) == canonical.encode(
        {"type": "blob", "size": size, "chunk_size": CHUNK_SIZE, "chunks": list(manifest.chunks)})
    for index, chunk in enumerate(manifest.chunks):  # full chunks are loose files, a small tail is in sqlite
        assert store.loose_path(chunk).exists() == (manifest.chunk_length(index) > SMALL_BLOCK_MAX)
    assert b"".join(iter_blob(store, blob_id)) == data
    dest = tmp_path / "out.bin"
    write_blob(store, blob_id, dest)
    assert dest.read_bytes() == data
    assert missing_chunks(store, blob_id) == []
    assert put_blob(store, io.BytesIO(data)) == blob_id  # idempotent


def test_identical_chunks_are_stored_once(store, tmp_path):
    data = _PATTERN * 4
    blob_id = put_blob(store, io.BytesIO(data))
    manifest = read_manifest(store, blob_id)
    assert len(set(manifest.chunks)) == 1 and len(manifest.chunks) == 4
    write_blob(store, blob_id, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data


def test_small_chunk_sizes_live_in_sqlite(store, tmp_path):
    data = pattern(3 * MiB + 100)
    blob_id = put_blob(store, io.BytesIO(data), chunk_size=4096)
    manifest = read_manifest(store, blob_id)
    assert manifest.chunk_size == 4096 and len(manifest.chunks) == 769
    assert not store.objects.exists() or not any(store.objects.rglob("*"))
    assert b"".join(iter_blob(store, blob_id)) == data
    with pytest.raises(ValueError):
        put_blob(store, io.BytesIO(data), chunk_size=100)


class Trickle(io.RawIOBase):
    """A pipe-like stream: short reads of odd sizes, then an optional failure."""

    def __init__(self, data: bytes, fail_after: int | None = None):
        self.data, self.pos, self.fail_after = data, 0, fail_after

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.fail_after is not None and self.pos >= self.fail_after:
            raise OSError("the pipe broke")
        n = min(len(buffer), 100_003, len(self.data) - self.pos)
        buffer[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


def test_short_reads_still_give_fixed_size_chunks(store):
    data = pattern(2 * MiB + 12345)
    assert put_blob(store, Trickle(data)) == put_blob(store, io.BytesIO(data))


def test_a_failing_stream_leaves_no_temp_files_and_no_manifest(store):
    data = pattern(40 * MiB)  # more than one durability window
    with pytest.raises(OSError, match="pipe broke"):
        put_blob(store, Trickle(data, fail_after=37 * MiB))
    assert not list(store.objects.rglob(TEMP_PREFIX + "*"))
    assert fsck(store, Refs(store.root / "refs")).clean


def manifest_bytes(**overrides) -> bytes:
    doc = {"type": "blob", "size": 5, "chunk_size": CHUNK_SIZE, "chunks": [block_id(b"hello")]}
    doc.update(overrides)
    return canonical.encode({k: v for k, v in doc.items() if v is not None})


@pytest.mark.parametrize("bad", [
    b'{"type": "blob"}',  # not canonical
    canonical.encode(["not", "an", "object"]),
    manifest_bytes(type="record"),
    manifest_bytes(type=None),
    manifest_bytes(extra=1),
    manifest_bytes(size=-1),
    manifest_bytes(size=True),
    manifest_bytes(size=CHUNK_SIZE + 1),  # two chunks' worth, one listed
    manifest_bytes(size=0),  # no bytes, one chunk listed
    manifest_bytes(chunk_size=512),
    manifest_bytes(chunk_size=32 * MiB),
    manifest_bytes(chunks=["sha256:" + "A" * 64]),
    manifest_bytes(chunks="sha256:" + "a" * 64),
])
def test_manifests_are_read_strictly(bad):
    with pytest.raises(ManifestError):
        parse_manifest(bad)
    assert issubclass(ManifestError, ValueError)


def test_a_plain_block_is_not_a_blob(store):
    bid = store.put(b"just bytes")
    with pytest.raises(ManifestError):
        read_manifest(store, bid)
    with pytest.raises(BlockNotFound):
        read_manifest(store, block_id(b"absent"))


def test_a_chunk_of_the_wrong_length_is_refused(store, tmp_path):
    # A manifest that lies about a (valid, present) chunk's length.
    chunk = store.put(b"x" * 2000)
    blob_id = store.put(canonical.encode({"type": "blob", "size": 2048, "chunk_size": 1024,
                                          "chunks": [chunk, chunk]}))
    with pytest.raises(BlockCorrupt):
        list(iter_blob(store, blob_id))


def test_write_blob_never_leaves_a_partial_or_unverified_file(store, tmp_path):
    data = pattern(5 * MiB)
    blob_id = put_blob(store, io.BytesIO(data))
    bad_chunk = read_manifest(store, blob_id).chunks[3]
    path = store.loose_path(bad_chunk)
    os.chmod(path, 0o644)
    with open(path, "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\0\0\0")
    dest = tmp_path / "out" / "file.bin"
    dest.parent.mkdir()
    with pytest.raises(BlockCorrupt):
        write_blob(store, blob_id, dest)
    assert list(dest.parent.iterdir()) == []  # no dest, no temp
    dest.write_bytes(b"the old version")
    with pytest.raises(BlockCorrupt):
        write_blob(store, blob_id, dest)
    assert dest.read_bytes() == b"the old version" and list(dest.parent.iterdir()) == [dest]
    with pytest.raises(FileNotFoundError):
        write_blob(store, put_blob(store, io.BytesIO(b"fine")), tmp_path / "no" / "such" / "dir")


def test_missing_chunks_lists_what_a_sync_must_fetch(store):
    data = pattern(4 * MiB)
    blob_id = put_blob(store, io.BytesIO(data))
    chunks = read_manifest(store, blob_id).chunks
    for gone in (chunks[2], chunks[0]):
        store.quarantine(gone, "test")
    assert missing_chunks(store, blob_id) == [chunks[0], chunks[2]]
    with pytest.raises(BlockNotFound):
        list(iter_blob(store, blob_id))
    put_blob(store, io.BytesIO(data))  # the same content again restores them
    assert missing_chunks(store, blob_id) == []


ENDLESS_PUT = r"""
import sys
from pathlib import Path
from fixme.node.blobs import put_blob
from fixme.node.blocks import BlockStore

class Endless:
    def __init__(self):
        self.pattern, self.count = bytes(range(256)) * 4096, 0
    def readinto(self, view):
        view[:len(self.pattern)] = self.pattern
        view[:8] = self.count.to_bytes(8, "little")
        self.count += 1
        return len(self.pattern)

print("started", flush=True)
put_blob(BlockStore(Path(sys.argv[1])), Endless())
"""


def test_a_put_killed_midway_leaves_a_store_fsck_calls_clean(tmp_path):
    root = tmp_path / "blocks"
    proc = subprocess.Popen([sys.executable, "-c", ENDLESS_PUT, str(root)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"started\n"
        deadline = time.monotonic() + 60
        objects = root / "objects" / "sha256"
        # Wait until more than a window has been committed and the next one is being written.
        while time.monotonic() < deadline:
            files = list(objects.rglob("*")) if objects.exists() else []
            if sum(1 for f in files if f.is_file() and not f.name.startswith(".")) > 40:
                break
            time.sleep(0.005)
        else:
            pytest.fail("the writer never got going")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    with BlockStore(root) as store:
        report = fsck(store, Refs(tmp_path / "refs"))
        assert report.clean, report.faults
        assert report.checked > 40
        assert all(store.get(bid) for bid in store.ids())  # every block under a real name verifies


# -- the command line ----------------------------------------------------------


def test_node_put_and_get_round_trip(repo, cli):
    data = pattern(2 * MiB + 7)
    repo.write("data/file.bin", data)
    put = cli("node", "put", "data/file.bin")
    assert put.code == 0, put.err
    blob_id = put.out.strip()
    assert put.out == blob_id + "\n" and blob_id.startswith("sha256:")
    assert (repo.root / ".fixme" / "node" / "blocks" / "blocks.db").exists()
    got = cli("node", "get", blob_id, "-o", "copy.bin")
    assert got.code == 0 and got.out == "" and got.err == ""
    assert (repo.root / "copy.bin").read_bytes() == data
    # -C and a path relative to it, like git -C
    (repo.root / "sub").mkdir()
    assert cli("-C", "sub", "node", "get", blob_id, "-o", "again.bin").code == 0
    assert (repo.root / "sub" / "again.bin").read_bytes() == data
    # -o - streams to standard output
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="utf-8")
    env = Environment(stdout=stdout, stderr=io.StringIO(), cwd=repo.root)
    assert main(["node", "get", blob_id, "-o", "-"], env) == 0
    stdout.flush()
    assert raw.getvalue() == data


def test_node_put_reads_standard_input(repo, cli):
    data = pattern(MiB + 3)
    repo.write("f.bin", data)
    piped = subprocess.run([sys.executable, "-m", "fixme", "node", "put", "-"], input=data, cwd=repo.root,
                           capture_output=True, timeout=60)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.decode() == cli("node", "put", "f.bin").out


def test_node_errors_are_one_line(repo, cli, tmp_path):
    repo.write("f.txt", "content\n")
    blob_id = cli("node", "put", "f.txt").out.strip()
    cases = [
        (("node", "get", "sha256:1234", "-o", "x"), "not a blob id"),
        (("node", "get", block_id(b"never stored"), "-o", "x"), "no such blob"),
        (("node", "get", blob_id, "-o", "no/such/dir/x"), "no such directory"),
        (("node", "get", blob_id, "-o", "."), "is a directory"),
        (("node", "get", blob_id), "required"),
        (("node", "put", "missing.txt"), "missing.txt"),
        (("node",), "required"),
    ]
    for argv, message in cases:
        result = cli(*argv)
        assert result.code == 2, (argv, result)
        assert result.err.startswith("fixme: ") and result.err.count("\n") == 1, (argv, result.err)
        assert message in result.err, (argv, result.err)
    plain = cli("node", "get", cli("node", "put", "f.txt").out.strip(), "-o", "-")
    assert plain.code == 2 and "text only" in plain.err  # a text-only stdout cannot take bytes
    not_repo = tmp_path / "elsewhere"
    not_repo.mkdir()
    result = run_cli("node", "put", "x", cwd=not_repo)
    assert result.code == 2 and "not a git repository" in result.err and result.err.count("\n") == 1


def test_node_get_of_a_chunk_that_is_missing_names_it(repo, cli):
    repo.write("f.bin", pattern(3 * MiB))
    blob_id = cli("node", "put", "f.bin").out.strip()
    store = BlockStore(repo.root / ".fixme" / "node" / "blocks")
    chunk = read_manifest(store, blob_id).chunks[1]
    store.quarantine(chunk, "test")
    store.close()
    result = cli("node", "get", blob_id, "-o", "out.bin")
    assert result.code == 2 and f"chunk {chunk} is missing" in result.err
    assert not (repo.root / "out.bin").exists()


def test_one_gigabyte_through_the_cli_with_flat_memory(repo, tmp_path):
    src, dest = tmp_path / "big.bin", tmp_path / "big.out"
    expected = hashlib.sha256()
    with open(src, "wb") as fh:
        for index in range(1024):
            piece = index.to_bytes(8, "little") + _PATTERN[8:]
            expected.update(piece)
            fh.write(piece)
    try:
        put = run_measured([sys.executable, "-m", "fixme", "node", "put", str(src)], repo.root, timeout=300)
        assert put.code == 0, put.err
        assert put.peak_rss < 100 * MiB, f"node put peaked at {put.peak_rss / MiB:.0f} MiB"
        blob_id = put.out.strip()
        get = run_measured([sys.executable, "-m", "fixme", "node", "get", blob_id, "-o", str(dest)], repo.root,
                           timeout=300)
        assert get.code == 0, get.err
        assert get.peak_rss < 100 * MiB, f"node get peaked at {get.peak_rss / MiB:.0f} MiB"
        actual = hashlib.sha256()
        with open(dest, "rb") as fh:
            while piece := fh.read(MiB):
                actual.update(piece)
        assert actual.hexdigest() == expected.hexdigest()
        assert dest.stat().st_size == 1024 * MiB
    finally:
        # Keep pytest's retained temp directories small.
        src.unlink(missing_ok=True)
        dest.unlink(missing_ok=True)
        import shutil
        shutil.rmtree(repo.root / ".fixme" / "node", ignore_errors=True)
