"""Run a child process with piped output, without importing subprocess.

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
    """A running command with stdout and stderr piped back: the part of Popen fixme uses.

    Read `stdout` as a stream and then call `finish()`, or call
    `communicate()` for both outputs at once.
    """

    def __init__(self, args: list[str], env: dict[str, str]):
        self.returncode: int | None = None
        self._popen = None
        if not hasattr(os, "posix_spawnp"):
            import subprocess

            self._popen = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.pid, self.stdout, self.stderr = self._popen.pid, self._popen.stdout, self._popen.stderr
            return
        out_r, out_w = os.pipe()  # both ends close on exec; the child gets dup2'd copies
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
            os.close(out_w)  # EOF comes when the child exits
            os.close(err_w)
        self.stdout = os.fdopen(out_r, "rb")
        self.stderr = os.fdopen(err_r, "rb")

    def communicate(self) -> tuple[bytes, bytes]:
        """Read both pipes to the end and wait for the exit: (stdout, stderr)."""
        if self._popen is not None:
            out, err = self._popen.communicate()
            self.returncode = self._popen.returncode
            return out, err
        import select  # a small C module, unlike selectors

        pipes = {self.stdout.fileno(): [], self.stderr.fileno(): []}
        poller = select.poll()
        for fd in pipes:
            poller.register(fd, select.POLLIN)
        left = len(pipes)
        while left:
            for fd, _ in poller.poll():
                chunk = os.read(fd, _CHUNK)
                if chunk:
                    pipes[fd].append(chunk)
                else:
                    poller.unregister(fd)
                    left -= 1
        out, err = (b"".join(pipes[f.fileno()]) for f in (self.stdout, self.stderr))
        self._close_pipes()
        self.wait()
        return out, err

    def finish(self) -> bytes:
        """After reading stdout as a stream: close it, and return stderr once the child exits."""
        self.stdout.close()
        err = self.stderr.read()
        self._close_pipes()
        self.wait()
        return err

    def wait(self) -> int:
        if self.returncode is None:
            if self._popen is not None:
                self.returncode = self._popen.wait()
            else:
                _, status = os.waitpid(self.pid, 0)
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        """Stop the child and reap it; its output is dropped."""
        if self.returncode is None:
            try:
                os.kill(self.pid, 9)  # SIGKILL (the signal module would be one more import)
            except ProcessLookupError:
                pass
        self._close_pipes()
        self.wait()

    def _close_pipes(self) -> None:
        self.stdout.close()
        self.stderr.close()
