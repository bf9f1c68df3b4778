"""A user's (or node's) ed25519 identity, and how keys are written as text.

The secret key lives in `$FIXME_HOME/identity.key` (default
`~/.config/fixme`), readable by its owner only, outside every repository.
Public keys are written `ed25519:` + 64 hex digits, the same way block ids
name their hash, so a key in a config file says what it is.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

# Every command finds $FIXME_HOME through this module, so it stays light:
# no dataclasses or typing (several ms to import), hashlib and PyNaCl only
# when a key is actually used.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping

    from nacl.signing import SigningKey

KEY_PREFIX = "ed25519:"
KEY_FILE = "identity.key"
_SEED_PREFIX = "ed25519-secret:"
_FILE_HEADER = "# fixme identity: your ed25519 secret key. Never share or commit this file.\n"


class IdentityError(Exception):
    """The identity file is missing, unreadable, malformed or too open."""


class Identity:
    """A signing key and the file it came from."""

    __slots__ = ("signing_key", "path")

    def __init__(self, signing_key: SigningKey, path: Path):
        self.signing_key = signing_key
        self.path = path

    @property
    def public_key(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    @property
    def key_text(self) -> str:
        return key_text(self.public_key)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)


def fixme_home(environ: Mapping[str, str]) -> Path:
    """Where the identity lives: $FIXME_HOME, else ~/.config/fixme."""
    configured = environ.get("FIXME_HOME")
    if configured:
        return Path(configured).expanduser()
    return Path(environ.get("HOME") or Path.home()) / ".config" / "fixme"


def key_text(public_key: bytes) -> str:
    return KEY_PREFIX + public_key.hex()


def parse_key_text(text: str) -> bytes:
    """The 32 raw bytes of an `ed25519:<hex>` key; ValueError for anything else."""
    text = text.strip()
    body = text[len(KEY_PREFIX):] if text.startswith(KEY_PREFIX) else None
    if body is None or len(body) != 64 or any(c not in "0123456789abcdefABCDEF" for c in body):
        raise ValueError(f"not a public key (expected {KEY_PREFIX} and 64 hex digits): {text[:80]!r}")
    return bytes.fromhex(body)


def is_valid_public_key(public_key: bytes) -> bool:
    """Is this 32-byte string an ed25519 public key some secret key could have?

    64 hex digits are not enough: a string that is not a point of the curve
    (or one of small order) can verify no signature, so trusting it is
    always a mistake (a typo, a truncated paste).
    """
    from nacl.bindings import crypto_core_ed25519_is_valid_point

    return len(public_key) == 32 and bool(crypto_core_ed25519_is_valid_point(public_key))


def fingerprint(public_key: bytes) -> str:
    """A short, stable name for a key: 16 hex digits of its SHA-256, in groups of four."""
    import hashlib

    digest = hashlib.sha256(public_key).hexdigest()[:16]
    return "-".join(digest[i:i + 4] for i in range(0, 16, 4))


def load_identity(home: Path) -> Identity | None:
    """The identity in `home`, or None when there is none yet."""
    path = home / KEY_FILE
    try:
        info = path.stat()
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise IdentityError(f"cannot read {path}: {exc}") from None
    if stat.S_IMODE(info.st_mode) & 0o077:
        # Like ssh: a secret key others can read is not used.
        raise IdentityError(f"{path} is readable by others (mode {stat.S_IMODE(info.st_mode):o}); run: chmod 600 {path}")
    for line in text.splitlines():
        if line.startswith(_SEED_PREFIX):
            seed = line[len(_SEED_PREFIX):].strip()
            if len(seed) == 64:
                from nacl.signing import SigningKey

                try:
                    return Identity(SigningKey(bytes.fromhex(seed)), path)
                except ValueError:
                    break
    raise IdentityError(f"{path} does not hold an ed25519 secret key")


def create_identity(home: Path) -> tuple[Identity, bool]:
    """The identity in `home`, made now if there is none; never overwrites a key.

    Returns the identity and whether it was created. The file appears whole
    and with mode 0600 or not at all (written aside, then linked into place,
    which fails if another process got there first).
    """
    existing = load_identity(home)
    if existing is not None:
        return existing, False
    from nacl.signing import SigningKey

    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = SigningKey.generate()
    path = home / KEY_FILE
    tmp = home / f".{KEY_FILE}.{os.getpid()}.tmp"
    content = f"{_FILE_HEADER}{_SEED_PREFIX}{bytes(key).hex()}\npublic: {key_text(bytes(key.verify_key))}\n"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return load_identity(home), False  # type: ignore[return-value]
    finally:
        tmp.unlink(missing_ok=True)
    return Identity(key, path), True
