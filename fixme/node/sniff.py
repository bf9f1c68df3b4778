"""What is on the other end, when it is not a fixme node.

A fixme node answers a hello with a hello whose first byte is the protocol
version (0x01). Anything else first means the address is some other
service: a web server (`HTTP/1.1 400 …` or an HTML page, whose `<` is 60),
an SSH server (`SSH-2.0-…`), a mail or FTP server (`220 …`). Saying which
beats "unsupported protocol version 60".
"""

from __future__ import annotations

from ..safetext import printable

# A few bytes are enough to tell; more would only be read from a stranger.
SNIFF_BYTES = 64
# Bytes a later fixme might send as its version: still fixme, another version.
_FIXME_VERSIONS = range(0x02, 0x10)

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"HTTP/", "HTTP"),
    (b"<", "HTTP"),             # an HTML page or XML, sent without a status line
    (b"SSH-", "SSH"),
    (b"\x16\x03", "TLS"),
    (b"\x15\x03", "TLS"),
    (b"220", "FTP or SMTP"),
    (b"+OK", "POP3"),
    (b"* OK", "IMAP"),
    (b"RFB ", "VNC"),
    (b"-ERR", "Redis"),
)


def not_fixme(first: bytes) -> str:
    """Why a peer whose reply starts with `first` (its first bytes, the version byte
    included) is not a node we can talk to, as the end of a sentence about it."""
    if not first:
        return "closed the connection without a word"
    if first[0] in _FIXME_VERSIONS:
        return f"unsupported protocol version {first[0]} (this fixme speaks version 1)"
    for prefix, name in _SIGNATURES:
        if first.startswith(prefix):
            return f"does not speak fixme's protocol (it looks like {name})"
    line = first.split(b"\n", 1)[0].strip()
    if len(line) >= 4 and all(32 <= byte < 127 for byte in line):
        return f"does not speak fixme's protocol (it says {printable(line.decode('ascii'))[:40]!r})"
    return f"does not speak fixme's protocol (its first byte is 0x{first[0]:02x})"
