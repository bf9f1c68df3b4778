"""Errors a user can act on, each with the exit code the CLI returns for it."""

from __future__ import annotations

EXIT_OK = 0
EXIT_NOT_FOUND = 1  # no such entry, or an ambiguous one; also check failures
EXIT_USAGE = 2  # bad arguments, not a repository, unreadable config


class FixmeError(Exception):
    """A failure explained in one line; never shown as a traceback."""

    exit_code = EXIT_USAGE


class NotFound(FixmeError):
    exit_code = EXIT_NOT_FOUND


class Ambiguous(FixmeError):
    exit_code = EXIT_NOT_FOUND

    def __init__(self, message: str, candidates: list):
        super().__init__(message)
        self.candidates = candidates
