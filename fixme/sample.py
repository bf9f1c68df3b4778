"""Replay the sample project's history into a real git repository.

Git cannot store a repository inside another one, so `sample_repo/` (at the
top of the project, and in the package through the `fixme/sample_repo` link,
so that a wheel carries it) keeps the sample project's history as data: `history.toml` lists the commits
and `steps/NN-name/` holds the files each commit writes (see
`sample_repo/README.md`). `fixme demo` calls `replay_history` to turn that
data into a repository users can point fixme at.

Everything that goes into a commit id is pinned here -- names, dates, file
modes, message cleanup, git configuration -- so the same data gives the same
shas on every machine, whatever the user's own git setup says.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable

SAMPLE_DIR = "sample_repo"   # beside this module, in the package
HISTORY_FILE = "history.toml"
STEPS_DIR = "steps"
FORMAT_VERSION = 1
BRANCH = "main"

_TOP_KEYS = {"format", "commit"}
_COMMIT_KEYS = {"step", "author", "email", "date", "message", "rename", "delete"}
_REQUIRED_TEXT = ("author", "email", "date", "message")
_STEP_NAME = re.compile(r"(\d{2,})-[a-z0-9]+(?:-[a-z0-9]+)*")
_PLACEHOLDER = re.compile(rb"\{\{commit:([^{}]*)\}\}")
# Editor and interpreter droppings that must never leak into a replayed tree.
_JUNK_NAMES = {"__pycache__", ".DS_Store"}


@dataclass(frozen=True)
class Commit:
    """One validated commit of the sample history, ready to replay."""

    number: int  # 1-based position; what {{commit:N}} refers to
    author: str
    email: str
    when: dt.datetime  # timezone-aware
    message: bytes  # may hold {{commit:N}} placeholders
    renames: tuple[tuple[str, str], ...]
    deletes: tuple[str, ...]
    writes: dict[str, bytes]  # repo path -> raw step-file bytes

    @property
    def git_date(self) -> str:
        """Git's internal date form: exact, and immune to locale/TZ parsing."""
        minutes = int(self.when.utcoffset().total_seconds()) // 60  # type: ignore[union-attr]
        sign = "-" if minutes < 0 else "+"
        hours, mins = divmod(abs(minutes), 60)
        return f"{int(self.when.timestamp())} {sign}{hours:02d}{mins:02d}"


# --------------------------------------------------------------------------
# Locating and loading the data


def find_sample_dir() -> Path:
    """Return the sample project's data, shipped inside the package.

    It is package data (pyproject.toml), so a wheel carries it and `fixme
    demo` works from any install, not only from a checkout.
    """
    sample = Path(__file__).resolve().parent / SAMPLE_DIR
    if not (sample / HISTORY_FILE).is_file():
        raise FileNotFoundError(f"sample project not found: expected {sample / HISTORY_FILE} "
                                "(an install that left out fixme's package data?)")
    return sample


def load_history(sample_dir: Path) -> list[Commit]:
    """Read and fully validate the history before anything touches disk.

    Validating up front (including a dry run over the file tree) means a
    broken data file fails with one clear line instead of a half-built
    repository and a git error message.
    """
    path = sample_dir / HISTORY_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: invalid TOML: {err}") from None
    _check_keys(data, _TOP_KEYS, str(path))
    if data.get("format") != FORMAT_VERSION:
        found = data.get("format")
        raise ValueError(f"{path}: format must be {FORMAT_VERSION}, got {found!r}")
    tables = data.get("commit")
    if not isinstance(tables, list) or not tables:
        raise ValueError(f"{path}: needs at least one [[commit]] table")
    steps = sample_dir / STEPS_DIR
    commits = [_parse_commit(n, t, steps, path.name) for n, t in enumerate(tables, 1)]
    _check_unused_steps(tables, steps)
    _check_dates(commits)
    _dry_run(commits)
    return commits


def _check_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        allowed_list = ", ".join(sorted(allowed))
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (allowed: {allowed_list})")


def _parse_commit(number: int, table: Any, steps: Path, source: str) -> Commit:
    where = f"{source}: commit {number}"
    if not isinstance(table, dict):
        raise ValueError(f"{where}: must be a table")
    _check_keys(table, _COMMIT_KEYS, where)
    for key in _REQUIRED_TEXT:
        if key not in table:
            raise ValueError(f"{where}: missing {key!r}")
    author = _text(table["author"], f"{where}: author")
    email = _text(table["email"], f"{where}: email")
    if "@" not in email:
        raise ValueError(f"{where}: email {email!r} has no '@'")
    message = _text(table["message"], f"{where}: message", multiline=True)
    return Commit(
        number=number,
        author=author,
        email=email,
        when=_parse_date(table["date"], f"{where}: date"),
        message=(message.strip() + "\n").encode("utf-8"),
        renames=_parse_renames(table.get("rename", []), f"{where}: rename"),
        deletes=_parse_deletes(table.get("delete", []), f"{where}: delete"),
        writes=_read_step(table.get("step"), number, steps, where),
    )


def _text(value: Any, where: str, multiline: bool = False) -> str:
    """A non-empty string; single-line ones may not break git's ident format."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: must be a non-empty string")
    if not multiline and any(c in value for c in "<>\n"):
        raise ValueError(f"{where}: {value!r} may not contain '<', '>' or a newline")
    return value.strip()


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{where}: must be a list")
    return value


def _parse_date(value: Any, where: str) -> dt.datetime:
    """ISO 8601 with an explicit offset; a naive time would depend on the TZ."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{where}: {value!r} is not an ISO 8601 date-time") from None
    if not isinstance(value, dt.datetime):
        raise ValueError(f"{where}: must be an ISO 8601 date-time string")
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"{where}: {value.isoformat()} needs a UTC offset such as +01:00")
    if offset.total_seconds() % 60:
        raise ValueError(f"{where}: UTC offset must be whole minutes")
    return value


def _parse_renames(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in _list(value, where):
        if not (isinstance(item, list) and len(item) == 2):
            raise ValueError(f"{where}: each rename must be [\"old\", \"new\"], got {item!r}")
        pairs.append((_repo_path(item[0], where), _repo_path(item[1], where)))
    return tuple(pairs)


def _parse_deletes(value: Any, where: str) -> tuple[str, ...]:
    return tuple(_repo_path(p, where) for p in _list(value, where))


def _repo_path(value: Any, where: str) -> str:
    """A relative POSIX path inside the work tree (never into .git)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: path must be a non-empty string, got {value!r}")
    parts = PurePosixPath(value).parts
    bad = "\\" in value or value.startswith("/") or value != "/".join(parts)
    if bad or any(p in ("", ".", "..", ".git") for p in parts):
        raise ValueError(f"{where}: {value!r} is not a plain relative path")
    return value


def _read_step(step: Any, number: int, steps: Path, where: str) -> dict[str, bytes]:
    """Load a step directory; its number must match the commit's position."""
    if step is None:
        return {}
    m = _STEP_NAME.fullmatch(step) if isinstance(step, str) else None
    if m is None:
        raise ValueError(f"{where}: step {step!r} must look like 'NN-short-name'")
    if int(m.group(1)) != number:
        raise ValueError(f"{where}: step {step!r} should be numbered {number:02d}")
    root = steps / step
    if not root.is_dir():
        raise ValueError(f"{where}: step directory {root} is missing")
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if _JUNK_NAMES & set(rel.parts) or path.is_dir():
            continue
        if path.is_symlink() or not path.is_file():
            raise ValueError(f"{where}: {path} is not a regular file")
        files[_repo_path(rel.as_posix(), where)] = path.read_bytes()
    if not files:
        raise ValueError(f"{where}: step directory {root} holds no files")
    return files


def _check_unused_steps(tables: list[Any], steps: Path) -> None:
    """A step directory nobody names is almost always a typo in history.toml."""
    used = {t.get("step") for t in tables}
    if steps.is_dir():
        for child in sorted(steps.iterdir()):
            if child.name not in used and child.name not in _JUNK_NAMES:
                raise ValueError(f"{child}: not used by any commit in {HISTORY_FILE}")


def _check_dates(commits: list[Commit]) -> None:
    """Dates may not go backwards: git log would show a history out of order."""
    for prev, cur in zip(commits, commits[1:]):
        if cur.when < prev.when:
            raise ValueError(
                f"{HISTORY_FILE}: commit {cur.number} is dated before commit {prev.number}"
            )


def _dry_run(commits: list[Commit]) -> None:
    """Apply every change to an in-memory tree so replay cannot fail halfway."""
    tree: dict[str, bytes] = {}
    for c in commits:
        where = f"{HISTORY_FILE}: commit {c.number}"
        before = dict(tree)
        for old, new in c.renames:
            if old not in tree:
                raise ValueError(f"{where}: cannot rename {old!r}: no such file")
            _check_free(tree, new, where)
            tree[new] = tree.pop(old)
        for path in c.deletes:
            if path not in tree:
                raise ValueError(f"{where}: cannot delete {path!r}: no such file")
            if path in c.writes:
                raise ValueError(f"{where}: {path!r} is both deleted and written")
            del tree[path]
        for path, content in c.writes.items():
            if path not in tree:
                _check_free(tree, path, where)
            tree[path] = content
            _check_placeholders(content, c.number, f"{where}: {path}")
        _check_placeholders(c.message, c.number, f"{where}: message")
        if tree == before:
            raise ValueError(f"{where}: changes nothing (git would refuse an empty commit)")


def _check_free(tree: dict[str, bytes], path: str, where: str) -> None:
    """A path can be a file or a directory, not both."""
    parents = {"/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)}
    if path in tree or parents & tree.keys() or any(p.startswith(path + "/") for p in tree):
        raise ValueError(f"{where}: {path!r} clashes with an existing file or directory")


def _check_placeholders(content: bytes, number: int, where: str) -> None:
    """{{commit:N}} must name an earlier commit: a commit cannot know its own id."""
    for m in _PLACEHOLDER.finditer(content):
        raw = m.group(1).decode("utf-8", "replace")
        if not (raw.isdigit() and 1 <= int(raw) < number):
            raise ValueError(
                f"{where}: {{{{commit:{raw}}}}} must name an earlier commit (1..{number - 1})"
            )


# --------------------------------------------------------------------------
# Replaying with git


def replay_history(sample_dir: Path, dest: Path,
                   after_commit: Callable[[str], None] | None = None) -> list[str]:
    """Build a git repository at `dest` from the sample data; return shas, oldest first.

    `dest` must not exist or be an empty directory, so a demo can never
    clobber a user's files. If git fails midway, what was created is removed.
    `after_commit(sha)` runs after each commit (the demo scans there, so the
    entries' lifecycle is seen as it happened).
    """
    commits = load_history(sample_dir)
    dest = Path(dest).absolute()  # git runs inside it; hooksPath must not be relative
    created = _prepare_dest(dest)
    try:
        _git(dest, ["init", "-q", "--template=", "-b", BRANCH, "."])
        shas: list[str] = []
        for commit in commits:
            shas.append(_replay_commit(dest, commit, shas))
            if after_commit is not None:
                after_commit(shas[-1])
        return shas
    except BaseException:
        _undo_dest(dest, created)
        raise


def _prepare_dest(dest: Path) -> bool:
    """Check `dest` is safe to fill; return True if we created it."""
    if dest.exists() or dest.is_symlink():
        if not dest.is_dir():
            raise ValueError(f"{dest}: exists and is not a directory")
        if any(dest.iterdir()):
            raise ValueError(f"{dest}: directory is not empty")
        return False
    dest.mkdir(parents=True)
    return True


def _undo_dest(dest: Path, created: bool) -> None:
    if created:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _replay_commit(dest: Path, commit: Commit, shas: list[str]) -> str:
    """Apply one commit's renames, deletes and writes, in that order, and commit."""
    for old, new in commit.renames:
        (dest / new).parent.mkdir(parents=True, exist_ok=True)
        _git(dest, ["mv", "--", old, new])
        _prune_empty_dirs(dest, old)
    if commit.deletes:
        _git(dest, ["rm", "-q", "--", *commit.deletes])
    if commit.writes:
        for path, content in commit.writes.items():
            target = dest / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_fill_placeholders(content, shas))
            target.chmod(0o755 if _is_script(content) else 0o644)
        _git(dest, ["add", "-f", "--", *commit.writes])
        _set_modes(dest, commit.writes)
    message = _fill_placeholders(commit.message, shas)
    args = ["commit", "-q", "--no-verify", "--cleanup=verbatim", "-F", "-"]
    _git(dest, args, env=_ident_env(commit), stdin=message)
    return _git(dest, ["rev-parse", "HEAD"]).strip()


def _set_modes(dest: Path, writes: dict[str, bytes]) -> None:
    """core.fileMode is off during replay, so the index mode is set here, from content."""
    scripts = [p for p, c in writes.items() if _is_script(c)]
    others = [p for p in writes if p not in scripts]
    for flag, paths in (("+x", scripts), ("-x", others)):
        if paths:
            _git(dest, ["update-index", f"--chmod={flag}", "--", *paths])


def _is_script(content: bytes) -> bool:
    """A file starting with '#!' is committed executable (mode 100755)."""
    return content.startswith(b"#!")


def _fill_placeholders(content: bytes, shas: list[str]) -> bytes:
    return _PLACEHOLDER.sub(lambda m: shas[int(m.group(1)) - 1].encode("ascii"), content)


def _prune_empty_dirs(dest: Path, old: str) -> None:
    """git mv leaves the old directory behind; a real `git mv` user would not see it."""
    parent = (dest / old).parent
    while parent != dest and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def _ident_env(commit: Commit) -> dict[str, str]:
    return {
        "GIT_AUTHOR_NAME": commit.author,
        "GIT_AUTHOR_EMAIL": commit.email,
        "GIT_AUTHOR_DATE": commit.git_date,
        "GIT_COMMITTER_NAME": commit.author,
        "GIT_COMMITTER_EMAIL": commit.email,
        "GIT_COMMITTER_DATE": commit.git_date,
    }


def _git_config(dest: Path) -> list[str]:
    """`-c` overrides for everything in a user's config that could change a sha or run code."""
    settings = {
        "user.name": "fixme demo",
        "user.email": "demo@fixme.invalid",
        "commit.gpgSign": "false",
        "core.hooksPath": str(dest / ".git" / "hooks"),  # empty: init ran with no template
        "core.autocrlf": "false",
        "core.safecrlf": "false",
        "core.fileMode": "false",
        "core.excludesFile": os.devnull,
        "core.attributesFile": os.devnull,
        "i18n.commitEncoding": "UTF-8",
        "init.defaultBranch": BRANCH,
        "gc.auto": "0",
        "maintenance.auto": "false",
    }
    return [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]


def _base_env() -> dict[str, str]:
    """The caller's environment minus GIT_* (e.g. GIT_DIR when run from a hook), config isolated."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0")
    return env


def _git(
    dest: Path, args: list[str], env: dict[str, str] | None = None, stdin: bytes = b""
) -> str:
    """Run git in `dest` with an isolated configuration; raise RuntimeError on failure."""
    full_env = _base_env() | (env or {})
    try:
        proc = subprocess.run(
            ["git", *_git_config(dest), *args],
            cwd=dest,
            env=full_env,
            input=stdin,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        raise RuntimeError("git is not installed or not on PATH") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = err[-1] if err else f"exit status {proc.returncode}"
        raise RuntimeError(f"git {args[0]} failed in {dest}: {reason}")
    return proc.stdout.decode("utf-8", "replace")
