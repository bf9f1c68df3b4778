"""SHA-256 without loading OpenSSL.

`hashlib` imports `_hashlib`, which loads OpenSSL: ~2.5 ms, a noticeable
part of a small incremental scan that only hashes a few short strings.
CPython's own implementation gives the same digests. Python 3.12 renamed
the module; anything unexpected falls back to hashlib.
"""

from __future__ import annotations

try:
    from _sha256 import sha256  # Python 3.11
except ImportError:
    try:
        from _sha2 import sha256  # Python 3.12+
    except ImportError:
        from hashlib import sha256

__all__ = ["sha256"]
