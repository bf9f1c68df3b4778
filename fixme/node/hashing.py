"""Block ids: a hash that names its algorithm, `sha256:` + 64 lower-case hex digits."""

from __future__ import annotations

import hashlib
import re

ALGORITHM = "sha256"
PREFIX = ALGORITHM + ":"
ID_LENGTH = len(PREFIX) + 64
_ID = re.compile(r"sha256:[0-9a-f]{64}\Z")


def block_id(data: bytes) -> str:
    return PREFIX + hashlib.sha256(data).hexdigest()


def is_block_id(text: object) -> bool:
    """True for a well-formed id (any other algorithm or spelling is refused)."""
    return isinstance(text, str) and _ID.match(text) is not None


def check_block_id(text: object) -> str:
    if not is_block_id(text):
        raise ValueError(f"not a block id: {str(text)[:80]!r}")
    return text  # type: ignore[return-value]
