"""Real fixme processes for tests: clones with their own home and key, `fixme node run`
nodes on 127.0.0.1, and commands whose peak memory is measured.

Every node is `fixme node run --listen 127.0.0.1:0 --no-discovery`; its port
is read from `fixme node status --format json`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

FIXME = [sys.executable, "-m", "fixme"]
DEADLINE = 30.0


@dataclass
class Measured:
    """A finished process: exit code, output, and its peak resident memory."""
    code: int
    out: str
    err: str
    peak_rss: int   # bytes (the kernel's ru_maxrss for this process alone)


# Peak RSS must be measured from a small parent. Linux carries the old memory
# map's high-water mark over exec() into the child's ru_maxrss (and a forked
# child starts with its parent's resident set), so a child of this large
# pytest process would report pytest's own size. A tiny launcher process
# spawns the real command and reports wait4's figure for that command alone.
_LAUNCHER = r"""
import json, os, resource, subprocess, sys, tempfile, time
limit, timeout, argv = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
def cap():
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
    proc = subprocess.Popen(argv, stdout=out, stderr=err, preexec_fn=cap)
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    out.seek(0)
    err.seek(0)
    print(json.dumps({"code": os.waitstatus_to_exitcode(status), "out": out.read().decode(errors="replace"),
                      "err": err.read().decode(errors="replace"), "maxrss_kib": usage.ru_maxrss}))
"""


def run_measured(argv: list[str], cwd: Path | None = None, env: dict | None = None, memory_limit: int = 4 << 30,
                 timeout: float = 120.0) -> Measured:
    """Run `argv` and measure its peak RSS. Its address space is capped at `memory_limit`,
    so a runaway allocation fails there instead of exhausting the machine; past `timeout`
    it is killed."""
    launched = subprocess.run([sys.executable, "-c", _LAUNCHER, str(memory_limit), str(timeout), *argv], cwd=cwd,
                              env=env, capture_output=True, text=True, timeout=timeout + 30)
    assert launched.returncode == 0, launched.stderr
    result = json.loads(launched.stdout)
    return Measured(result["code"], result["out"], result["err"], result["maxrss_kib"] * 1024)


class Peer:
    """One clone of the project with its own FIXME_HOME (so its own key), and maybe a running node."""

    def __init__(self, root: Path, home: Path):
        self.root = root
        self.home = home
        self.node: subprocess.Popen | None = None
        self.log_path = root.parent / f"{root.name}.node.log"

    def env(self) -> dict:
        return {**os.environ, "FIXME_HOME": str(self.home)}

    def fixme(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([*FIXME, "-C", str(self.root), *args], capture_output=True, text=True,
                              env=self.env(), timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"fixme {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def measured(self, *args: str, memory_limit: int = 4 << 30, timeout: float = 120.0) -> Measured:
        """Run `fixme ARGS` and measure its peak RSS (see run_measured)."""
        return run_measured([*FIXME, "-C", str(self.root), *args], env=self.env(), memory_limit=memory_limit,
                            timeout=timeout)

    def key(self) -> str:
        """This peer's public key, made now (key commands need no repository)."""
        cwd = self.home.parent
        subprocess.run([*FIXME, "key", "init"], capture_output=True, env=self.env(), cwd=cwd)
        out = subprocess.run([*FIXME, "key", "show"], capture_output=True, text=True, env=self.env(),
                             cwd=cwd, check=True).stdout
        return next(word for word in out.split() if word.startswith("ed25519:"))

    def network_key(self) -> bytes:
        from fixme.config import load_config

        key = load_config(self.root).network_key_bytes()
        assert key is not None, "run 'fixme init' first"
        return key

    def start(self, *peers: str, extra: tuple[str, ...] = ()) -> str:
        """Start the node; returns its HOST:PORT once it listens."""
        args = ["node", "run", "--listen", "127.0.0.1:0", "--no-discovery", "--interval", "0.5", "-v", *extra]
        for peer in peers:
            args += ["--peer", peer]
        log = open(self.log_path, "a")
        self.node = subprocess.Popen([*FIXME, "-C", str(self.root), *args], stdout=log, stderr=log,
                                     env=self.env())
        log.close()
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            running = json.loads(self.fixme("node", "status", "--format", "json").stdout)["running"]
            if running and running["pid"] == self.node.pid:
                return running["listen"]
            assert self.node.poll() is None, f"node exited: {self.log_path.read_text()}"
            time.sleep(0.05)
        raise AssertionError(f"node did not start: {self.log_path.read_text()}")

    def node_rss(self, peak: bool = False) -> int:
        """The running node's resident memory now (or its peak so far), in bytes."""
        assert self.node is not None
        field = "VmHWM:" if peak else "VmRSS:"
        for line in Path(f"/proc/{self.node.pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no {field} for pid {self.node.pid}")

    def stop(self) -> None:
        if self.node is not None and self.node.poll() is None:
            self.node.send_signal(signal.SIGTERM)
            assert self.node.wait(timeout=10) == 0, self.log_path.read_text()
        self.node = None

    def kill(self) -> None:
        if self.node is not None and self.node.poll() is None:
            self.node.kill()
            self.node.wait()
        self.node = None

    def states(self) -> dict[str, str]:
        entries = json.loads(self.fixme("list", "--all", "--format", "json").stdout)
        return {e["id"]: e["workflow"] for e in entries}

    def set_workflow(self, entry: str, state: str) -> None:
        self.fixme("set-workflow", entry, state)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def project(root: Path, home: Path, files: dict[str, str], trusting: tuple[Peer, ...] = ()) -> Peer:
    """A committed repository holding `files`, with `fixme init` done (so a network key) and
    the keys of `trusting` in its trust list."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    peer = Peer(root, home)
    peer.fixme("init")
    for other in trusting:
        peer.fixme("trust", "add", other.key(), "--name", other.root.name)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "fixme config")
    return peer


THREE_TASKS = {"app.py": "# TODO: first task\n# TODO: second task\n# FIXME: third task\n"}


def cloned_project(tmp_path: Path, names: tuple[str, ...]) -> list[Peer]:
    """A project with three entries (THREE_TASKS) whose first peer works in the origin itself,
    cloned for each other name; every clone's key trusted, each clone with its own home."""
    others = [Peer(tmp_path / name, tmp_path / f"home-{name}") for name in names[1:]]
    origin = project(tmp_path / "origin", tmp_path / f"home-{names[0]}", THREE_TASKS, trusting=tuple(others))
    for peer in others:
        git(tmp_path, "clone", "-q", str(origin.root), str(peer.root))
    return [origin, *others]


def wait_until(condition, what: str, peers=()) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    logs = "\n".join(p.log_path.read_text() for p in peers if p.log_path.exists())
    raise AssertionError(f"timed out waiting for {what}\n{logs[-4000:]}")
