"""Git hooks: install them, uninstall them, and the little a hook run needs.

File work on the hooks directory only; what a hook run does with the
repository (scan, commit trailers) is the tracker's business.

fixme adds the same kind of marked block to each of HOOK_NAMES:

    # >>> fixme hook >>>
    ...
    # <<< fixme hook <<<

The block starts `python -P -m fixme hook run EVENT` in the background with
the interpreter that installed it (so no virtualenv needs to be active),
output to .fixme/hook.log, and returns at once: git never waits for fixme,
and nothing fixme does can fail the hook. How it gets into the hook depends
on what is there:

- nothing: fixme writes a script (`#!/bin/sh` and the block), mode 0755. A
  line in the block says fixme created the file, so uninstall deletes it
  when nothing else was added to it.
- a shell script (a regular, executable file whose `#!` line names sh, bash,
  dash, zsh, ksh…): the block goes right after the `#!` line, before the
  script's own commands, so an `exit` in the script cannot skip it.
  Uninstall takes exactly those lines out again: the file is as it was,
  byte for byte, with its mode.
- anything else (a Python script, a binary, a symlink, a disabled hook that
  is not executable): it is renamed to `<hook>.fixme-chained` (content,
  mode, link intact), fixme writes its own script, and the block ends by
  exec'ing the renamed hook with the same arguments and stdin, so git still
  sees that hook's exit status. A disabled hook stays disabled. Uninstall
  deletes fixme's script and renames the original back.

Installing again refreshes the block (say, for another interpreter) and
changes nothing when it is current.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import os
import stat
from collections import namedtuple
from pathlib import Path

from .fsutil import atomic_write_bytes

# Every command's parser lists the hook names, so this module stays cheap to
# import: no typing (~2 ms), no dataclasses (~4 ms); type checkers read this as True.
if TYPE_CHECKING:
    from typing import Sequence

HOOK_NAMES = ("post-commit", "post-merge", "post-checkout", "post-rewrite")
# Installed only when asked for ('hook install --push-records'): pushes this clone's records on
# `git push`. Opt-in, because it makes every push talk to the remote a second time.
PUSH_HOOK = "pre-push"
ALL_HOOK_NAMES = (*HOOK_NAMES, PUSH_HOOK)
CHAINED_SUFFIX = ".fixme-chained"
STATE_DIR = ".fixme"  # hooks run at the top of the work tree, where this is
LOG_FILE = "hook.log"
LOCK_FILE = "hook.lock"
LOG_LIMIT = 256 * 1024  # a log larger than this is moved to hook.log.1 by the next run

BEGIN = "# >>> fixme hook >>>"
END = "# <<< fixme hook <<<"
CREATED_LINE = "# fixme created this file: 'fixme hook uninstall' deletes it when nothing else is in it."
CHAIN_LINE = "# Then the hook that was here before fixme, renamed aside:"
SHEBANG = b"#!/bin/sh\n"
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "ash", "yash", "posh"})


class HookError(Exception):
    """The hooks directory cannot be found or used."""


class HookChange(namedtuple("HookChange", "name action detail")):
    """What install or uninstall did to one hook.

    action: created, added, chained, updated, unchanged, removed, deleted,
    restored, absent, or problem (then nothing was changed).
    """

    __slots__ = ()

    @property
    def failed(self) -> bool:
        return self.action == "problem"


class HookState(namedtuple("HookState", "name installed how current path")):
    """How one hook stands, for `fixme hook status`.

    how: created, in-script, chained, or "" when not installed; current: the
    block is what `install` would write now.
    """

    __slots__ = ()


# -- where the hooks are -------------------------------------------------------


def hooks_dir(root: Path) -> Path:
    """The directory git runs this repository's hooks from.

    `git rev-parse --git-path hooks` knows core.hooksPath, linked worktrees
    (which share the main repository's hooks) and $GIT_DIR.
    """
    import subprocess

    try:
        proc = subprocess.run(["git", "rev-parse", "--git-path", "hooks"], cwd=root, capture_output=True)
    except OSError as exc:
        raise HookError(f"cannot run git: {exc.strerror}") from None
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise HookError(message[0] if message else "git rev-parse --git-path hooks failed")
    text = proc.stdout.decode("utf-8", "surrogateescape").strip()
    path = Path(os.path.expanduser(text))
    return path if path.is_absolute() else root / path


# -- the block ---------------------------------------------------------------------


def hook_block(name: str, command: Sequence[str], created: bool = False, chained: bool = False) -> str:
    """The marked block for hook `name`; `command` starts fixme (interpreter, -P, -m, fixme)."""
    import shlex

    run = " ".join(shlex.quote(part) for part in command)
    log = f"{STATE_DIR}/{LOG_FILE}"
    lines = [
        BEGIN,
        "# Added by 'fixme hook install'; 'fixme hook uninstall' removes it. Do not edit",
        "# between the markers. It starts fixme in the background and returns at once:",
        "# git never waits for fixme, and nothing fixme does can fail this hook.",
        f"# Output: {log}. FIXME_HOOK_FOREGROUND=1 waits for fixme; FIXME_HOOK_SKIP=1 skips it.",
    ]
    if created:
        lines.append(CREATED_LINE)
    lines.append(f'if [ -d {STATE_DIR} ] && [ -z "${{FIXME_HOOK_SKIP-}}" ]; then')
    if name == "post-rewrite":
        # git writes the rewritten commits to stdin: keep them in a file, for
        # fixme and for the rest of this hook, which reads the same lines.
        lines += [
            f"  _fixme_in={STATE_DIR}/hook-stdin.$$",
            '  if cat >"$_fixme_in" 2>/dev/null; then exec 0<"$_fixme_in"; else _fixme_in=/dev/null; fi',
        ]
    else:
        lines.append("  _fixme_in=/dev/null")
    lines += [
        # The commit this hook is about; fixme reads it later, when HEAD may have moved on.
        "  _fixme_head=$(git rev-parse -q --verify HEAD 2>/dev/null) || _fixme_head=",
        f"  if [ ! -x {shlex.quote(command[0])} ]; then",
        "    echo \"fixme hook: the Python that installed this hook is gone; run 'fixme hook install' again\" \\",
        f"      >>{log} 2>/dev/null || true",
        '  elif [ -n "${FIXME_HOOK_FOREGROUND-}" ]; then',
        f'    {run} hook run --head "$_fixme_head" {name} "$@" <"$_fixme_in" >>{log} 2>&1 || true',
        "  else",
        # fd 3 is opened before the background job starts, so removing the
        # file below cannot race with the job opening it.
        f'    {{ {run} hook run --detached --head "$_fixme_head" {name} "$@" <&3 3<&- >>{log} 2>&1 & }} \\',
        '      3<"$_fixme_in" 2>/dev/null || true',
        "  fi",
        '  [ "$_fixme_in" = /dev/null ] || rm -f "$_fixme_in"',
        "  unset _fixme_in _fixme_head",
        "fi",
    ]
    if chained:
        lines += [CHAIN_LINE, f'if [ -x "$0{CHAINED_SUFFIX}" ]; then exec "$0{CHAINED_SUFFIX}" "$@"; fi']
    lines.append(END)
    return "\n".join(lines) + "\n"


def find_block(data: bytes) -> tuple[int, int] | None:
    """Where the block is in a hook file: (start, end) byte offsets, end after its last newline."""
    begin = BEGIN.encode()
    start = 0 if data.startswith(begin + b"\n") else data.find(b"\n" + begin + b"\n")
    if start < 0:
        return None
    if data[start:start + 1] == b"\n":
        start += 1
    end_marker = END.encode()
    at = data.find(b"\n" + end_marker, start)
    if at < 0:
        return None
    end = at + 1 + len(end_marker)
    if data[end:end + 1] == b"\n":
        end += 1
    return start, end


def is_shell_script(data: bytes) -> bool:
    """A `#!` line naming a POSIX-style shell, ending in a newline (the block goes after it)."""
    first, newline, _ = data.partition(b"\n")
    if not newline or not first.startswith(b"#!"):
        return False
    words = first[2:].decode("utf-8", "replace").split()
    if not words:
        return False
    program = os.path.basename(words[0])
    if program == "env":
        rest = [w for w in words[1:] if not w.startswith("-")]
        program = os.path.basename(rest[0]) if rest else ""
    return program in SHELLS


# -- install and uninstall -----------------------------------------------------------


def install(directory: Path, command: Sequence[str], names: Sequence[str] = HOOK_NAMES) -> list[HookChange]:
    """Put fixme's block into every hook of `names` in `directory` (made if missing)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HookError(f"cannot create {directory}: {exc.strerror}") from None
    return [_guarded(name, lambda n=name: _install_one(directory, n, command)) for name in names]


def uninstall(directory: Path, names: Sequence[str] = HOOK_NAMES) -> list[HookChange]:
    """Take out exactly what install put in; hooks fixme did not touch stay as they are."""
    return [_guarded(name, lambda n=name: _uninstall_one(directory, n)) for name in names]


def status(directory: Path, command: Sequence[str], names: Sequence[str] = HOOK_NAMES) -> list[HookState]:
    states = []
    for name in names:
        path = directory / name
        data = _read_regular(path)
        span = find_block(data) if data is not None else None
        if span is None:
            states.append(HookState(name, False, "", False, path))
            continue
        block = data[span[0]:span[1]].decode("utf-8", "replace")
        created, chained = CREATED_LINE in block, CHAIN_LINE in block
        how = "chained" if chained else "created" if created else "in-script"
        states.append(HookState(name, True, how, block == hook_block(name, command, created, chained), path))
    return states


def _guarded(name: str, work) -> HookChange:
    """One hook's failure (a permission, say) is reported and does not stop the others."""
    try:
        return work()
    except OSError as exc:
        return HookChange(name, "problem", f"{exc.filename or name}: {exc.strerror}")


def _install_one(directory: Path, name: str, command: Sequence[str]) -> HookChange:
    path = directory / name
    if not os.path.lexists(path):
        data = SHEBANG + hook_block(name, command, created=True).encode()
        atomic_write_bytes(path, data, 0o755)
        return HookChange(name, "created", f"wrote {path}")
    data = _read_regular(path)
    if data is not None:
        span = find_block(data)
        if span is not None:
            return _refresh(path, data, span, name, command)
        if is_shell_script(data) and _is_executable(path):
            block = hook_block(name, command).encode()
            first_line_end = data.index(b"\n") + 1
            _rewrite(path, data[:first_line_end] + block + data[first_line_end:])
            return HookChange(name, "added", f"added fixme's block to the existing script {path}")
    return _chain(directory, path, name, command)


def _refresh(path: Path, data: bytes, span: tuple[int, int], name: str, command: Sequence[str]) -> HookChange:
    old = data[span[0]:span[1]].decode("utf-8", "replace")
    block = hook_block(name, command, CREATED_LINE in old, CHAIN_LINE in old).encode()
    if block == data[span[0]:span[1]]:
        return HookChange(name, "unchanged", f"already installed in {path}")
    _rewrite(path, data[:span[0]] + block + data[span[1]:])
    return HookChange(name, "updated", f"refreshed fixme's block in {path}")


def _chain(directory: Path, path: Path, name: str, command: Sequence[str]) -> HookChange:
    aside = directory / (name + CHAINED_SUFFIX)
    if os.path.lexists(aside):
        return HookChange(name, "problem", f"{aside} already exists; move it away and install again")
    if path.is_dir() and not path.is_symlink():
        return HookChange(name, "problem", f"{path} is a directory")
    os.rename(path, aside)
    try:
        data = SHEBANG + hook_block(name, command, created=True, chained=True).encode()
        atomic_write_bytes(path, data, 0o755)
    except BaseException:
        os.rename(aside, path)  # leave the hook as it was
        raise
    return HookChange(name, "chained", f"moved the existing hook to {aside.name}; {path} runs fixme, then it")


def _uninstall_one(directory: Path, name: str) -> HookChange:
    path = directory / name
    aside = directory / (name + CHAINED_SUFFIX)
    data = _read_regular(path)
    span = find_block(data) if data is not None else None
    if span is None:
        if os.path.lexists(aside):
            return HookChange(name, "problem", f"{aside.name} is there but {path} has no fixme block; "
                                               "left both alone")
        return HookChange(name, "absent", "not installed")
    block = data[span[0]:span[1]].decode("utf-8", "replace")
    rest = data[:span[0]] + data[span[1]:]
    chained = CHAIN_LINE in block and os.path.lexists(aside)
    if CREATED_LINE in block and rest == SHEBANG:
        path.unlink()
        if chained:
            os.rename(aside, path)
            return HookChange(name, "restored", f"deleted fixme's script; {aside.name} is {path.name} again")
        return HookChange(name, "deleted", f"deleted {path} (fixme had created it)")
    if chained:
        # Someone added to fixme's script: restoring the old hook would lose
        # that, keeping the script would lose the call to the old hook.
        return HookChange(name, "problem", f"{path} was edited since fixme created it, and the hook it "
                                           f"replaced is {aside.name}; left both alone: merge them by hand")
    _rewrite(path, rest)
    return HookChange(name, "removed", f"took fixme's block out of {path}")


def _read_regular(path: Path) -> bytes | None:
    """A hook file's bytes; None for a missing file, a symlink or anything not a regular file."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return path.read_bytes()


def _is_executable(path: Path) -> bool:
    return bool(path.stat().st_mode & 0o111)


def _rewrite(path: Path, data: bytes) -> None:
    """Replace a hook's content atomically, keeping its mode."""
    atomic_write_bytes(path, data, stat.S_IMODE(path.stat().st_mode))


# -- what a hook run needs --------------------------------------------------------


class run_lock:
    """`with run_lock(state_dir):` holds `.fixme/hook.lock`, so hook runs (a commit
    and its rewrite, say) take turns. Gives up with HookError after `timeout` seconds."""

    def __init__(self, state_dir: Path, timeout: float = 120.0):
        self.path = state_dir / LOCK_FILE
        self.timeout = timeout
        self._file = None

    def __enter__(self) -> None:
        import fcntl
        import time

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self._file.close()
                    raise HookError(f"another fixme hook run has held {LOCK_FILE} "
                                    f"for {self.timeout:.0f} s") from None
                time.sleep(0.05)

    def __exit__(self, *exc_info) -> None:
        self._file.close()  # closing the file releases the lock


def detach() -> None:
    """Leave the terminal's session: closing the terminal or Ctrl-C must not kill a background run."""
    import signal

    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        os.setsid()
    except OSError:
        pass  # already a group leader: the shell's job control made it one


def rotate_log(state_dir: Path) -> None:
    """Keep the log small: a large one becomes hook.log.1 (the run in progress goes on writing there)."""
    log = state_dir / LOG_FILE
    try:
        if log.stat().st_size > LOG_LIMIT:
            os.replace(log, state_dir / (LOG_FILE + ".1"))
    except OSError:
        pass
