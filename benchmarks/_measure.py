"""Timing helpers shared by the benchmarks: medians of real process runs, peak memory."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Run:
    seconds: float
    peak_mb: float
    stdout: bytes


# Measure what a user runs: bytecode compiled and used, as after a normal install.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def compile_package() -> None:
    """Compile fixme's bytecode once, so no timed run pays for compiling it."""
    import compileall

    import fixme

    compileall.compile_dir(Path(fixme.__file__).parent, quiet=1)


def run(cmd: list[str], cwd: Path, check: bool = True) -> Run:
    """Run a command, timing it and reading its peak resident memory from wait4."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    # communicate() already reaped the child; ru_maxrss of children is the best we have.
    import resource

    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if check and proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {err.decode(errors='replace').strip()}")
    return Run(seconds, peak, out)


def run_peak(cmd: list[str], cwd: Path) -> Run:
    """Like run(), but the peak memory is that of this one process tree (via wait4)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode(errors='replace').strip()}")
    return Run(seconds, usage.ru_maxrss / 1024, b"")


def median_time(cmd: list[str], cwd: Path, repeat: int) -> float:
    return statistics.median(run(cmd, cwd).seconds for _ in range(repeat))


def verify_rate(count: int = 20_000) -> float:
    """Raw ed25519 signature checks per second, one thread (libsodium): the records' reference."""
    from nacl.bindings import crypto_sign_open
    from nacl.signing import SigningKey

    key = SigningKey.generate()
    public = bytes(key.verify_key)
    signed = [key.sign(os.urandom(400)) for _ in range(count)]
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        for message in signed:
            crypto_sign_open(message, public)
        runs.append(count / (time.perf_counter() - started))
    return statistics.median(runs)


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def run_tree_peak(cmd: list[str], cwd: Path, interval: float = 0.005, env: dict | None = None) -> Run:
    """Like run_peak(), but the peak is the sum of the resident memory of the
    command and every process it started (git children included), sampled
    from /proc every `interval` seconds. Its output is kept (a file, not a pipe:
    nobody reads while it runs)."""
    import tempfile

    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.PIPE, env={**ENV, **(env or {})})
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(interval)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode(errors='replace').strip()}")
        out.seek(0)
        return Run(seconds, peak / 1024 / 1024, out.read())


def _tree_rss(root: int) -> int:
    """Bytes resident in `root` and all its descendants right now."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [root]
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total
