"""Shared fixtures: real git repositories in temporary directories.

Git is isolated from the machine's own config so tests behave the same on a
developer's laptop and on a fresh CI machine.
"""

from __future__ import annotations

import io
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixme.cli.env import Environment
from fixme.cli.main import main


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    (home / ".gitconfig").write_text("")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("FIXME_HOME", str(home / ".config" / "fixme"))
    for var in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        monkeypatch.setenv(var, "Test Person")
    for var in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(var, "test@example.org")
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.delenv(var, raising=False)


AUTHORS = {
    "ada": ("Ada Lovelace", "ada@example.org"),
    "grace": ("Grace Hopper", "grace@example.org"),
    "ken": ("Ken Thompson", "ken@example.org"),
}


class GitRepo:
    """A real repository with helpers to write files and commit as someone, at some time."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.clock = 1_700_000_000
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, env: dict | None = None) -> str:
        proc = subprocess.run(["git", *args], cwd=self.root, capture_output=True, text=True,
                              env={**os.environ, **(env or {})})
        if proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout

    def write(self, path: str, text: str | bytes) -> Path:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text)
        return target

    def commit(self, message: str = "change", author: str = "ada", days: int = 1) -> str:
        self.clock += days * 86400
        name, email = AUTHORS[author]
        stamp = f"{self.clock} +0000"
        env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": stamp,
               "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email, "GIT_COMMITTER_DATE": stamp}
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message, env=env)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path) -> GitRepo:
    return GitRepo(tmp_path / "repo")


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(*argv: str, cwd: Path, tty: bool = False, width: int = 100, home: Path | None = None) -> Result:
    """Run the CLI in-process with an injected environment.

    `home` is the FIXME_HOME holding the user's key (default: the test's own).
    """
    out, err = io.StringIO(), io.StringIO()
    environ = {"FIXME_HOME": str(home or os.environ["FIXME_HOME"])}
    env = Environment(stdout=out, stderr=err, cwd=cwd, stdout_isatty=tty, stderr_isatty=False,
                      environ=environ, width=width)
    code = main(list(argv), env)
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli(repo):
    def run(*argv: str, **kw) -> Result:
        return run_cli(*argv, cwd=kw.pop("cwd", repo.root), **kw)
    return run
