"""Start a child process and collect its output, without importing subprocess.

A warm `fixme scan` is little more than `git status`, and how early git
starts decides how long the scan takes. Importing subprocess (with signal,
threading, selectors, locale, ...) costs ~4 ms before the first child can
start, a sixth of the whole run; os.posix_spawnp needs nothing beyond `os`.
Platforms without posix_spawnp fall back to subprocess.

posix_spawn has no working-directory action before Python 3.13, so a
command that cares where it runs must be told (git -C DIR).
"""

from __future__ import annotations

import os

_CHUNK = 1 << 16


class Child:
    """A running command with stdout and stderr piped back, like a Popen with two PIPEs."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.returncode: int | None = None
        self._popen = None
        if not hasattr(os, "posix_spawnp"):
            import subprocess

            self._popen = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.pid = self._popen.pid
            return
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            self.pid = os.posix_spawnp(args[0], args, env, file_actions=[
                (os.POSIX_SPAWN_DUP2, out_w, 1),
                (os.POSIX_SPAWN_DUP2, err_w, 2),
            ])
        except BaseException:
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            os.close(out_w)  # the child has its own copies: EOF comes when it exits
            os.close(err_w)
        self._fds = {out_r: bytearray(), err_r: bytearray()}
        self._out, self._err = out_r, err_r

    def communicate(self) -> tuple[bytes, bytes]:
        """Read both pipes to the end, wait for the exit; (stdout, stderr)."""
        if self._popen is not None:
            out, err = self._popen.communicate()
            self.returncode = self._popen.returncode
            return out, err
        import select  # a small C module, unlike selectors

        poller = select.poll()
        for fd in self._fds:
            poller.register(fd, select.POLLIN)
        open_fds = len(self._fds)
        while open_fds:
            for fd, _ in poller.poll():
                chunk = os.read(fd, _CHUNK)
                if chunk:
                    self._fds[fd] += chunk
                else:
                    poller.unregister(fd)
                    os.close(fd)
                    open_fds -= 1
        self._wait()
        return bytes(self._fds[self._out]), bytes(self._fds[self._err])

    def kill(self) -> None:
        """Stop the child and reap it; its output is dropped."""
        if self._popen is not None:
            self._popen.kill()
            self._popen.wait()
            return
        import signal

        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for fd in self._fds:
            os.close(fd)
        self._wait()

    def _wait(self) -> None:
        _, status = os.waitpid(self.pid, 0)
        self.returncode = os.waitstatus_to_exitcode(status)
