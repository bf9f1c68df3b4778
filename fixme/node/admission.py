"""Who may hold a connection to the sync server, and who makes room for whom.

A connection goes through two stages, and each has its own budget, so that
what fills one cannot starve the other:

- **handshaking**, from accept until the handshake ends. Before its hello a
  peer has shown nothing; after it, only that it holds the network key.
  At most `max_handshakes` at a time, and `max_handshakes_per_address` from
  one IP address: a connection over its address's budget is closed at once,
  so one address holds at most that many however fast it reconnects. When
  the whole budget is full, a newcomer takes the place of a connection still
  waiting for its hello (see `_handshake_to_evict`); a peer that has shown the
  network key is never dropped for a newcomer (its handshake deadline bounds
  it).
- **in session**, once the peer's key is known. At most `max_sessions`, of
  which `reserved_for_trusted` are kept for keys the application trusts (so
  strangers with random keys, which cost nothing to make, never fill them),
  and `max_sessions_per_key` for one key. When there is no room, a newcomer
  takes the place of the least useful idle session (see `_session_to_evict`),
  else it is refused in the handshake with a reason.

Banned addresses are refused at accept, before a byte is read; banned keys
in the handshake, with "banned". An evicted connection is aborted: its
handler sees the connection drop, with `Ticket.evicted` as the reason.

Refusals come in floods when someone attacks: `SummaryLog` logs the first of
a kind at once and then one line per interval that sums the rest up.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol


@dataclass(frozen=True)
class ConnectionLimits:
    """The budgets of a node's server. docs/protocol.md, "Limits and abuse", says why each value."""

    max_handshakes: int = 64
    max_handshakes_per_address: int = 8
    max_sessions: int = 64
    reserved_for_trusted: int = 16          # of max_sessions; only when the node is told who is trusted
    max_sessions_per_key: int = 4
    evictable_idle: float = 10.0            # s without a frame either way before a session may make room
    evictable_hello: float = 1.0            # s waiting for its hello before a connection may make room
    refusal_log_interval: float = 10.0      # s: refusals of one kind are summed up once per interval

    def __post_init__(self) -> None:
        for name in ("max_handshakes", "max_handshakes_per_address", "max_sessions", "max_sessions_per_key"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not 0 <= self.reserved_for_trusted < self.max_sessions:
            raise ValueError("reserved_for_trusted must be at least 0 and less than max_sessions")


class Stage(Enum):
    HELLO = "waiting for its hello"         # has shown nothing yet
    KEYED = "handshaking"                   # its hello proved it holds the network key
    SESSION = "in session"


class Activity(Protocol):
    """What a session's idleness is read from (a SecureChannel)."""

    @property
    def last_activity(self) -> float: ...


@dataclass(eq=False)
class Ticket:
    """One accepted connection, from accept to close."""

    host: str
    since: float
    abort: Callable[[str], None]            # drops the connection; the argument says why
    stage: Stage = Stage.HELLO
    key: bytes | None = None
    trusted: bool = False
    channel: Activity | None = None
    admitted: float = 0.0
    evicted: str | None = None              # why it was dropped to make room, if it was

    def idle(self, now: float) -> float:
        """Seconds since the last frame either way (since admission, before the first)."""
        last = self.admitted if self.channel is None else max(self.admitted, self.channel.last_activity)
        return now - last


class Admission:
    """The server's budgets, and the connections that hold them."""

    def __init__(self, limits: ConnectionLimits | None = None, *,
                 is_trusted: Callable[[bytes], bool] | None = None,
                 is_banned_address: Callable[[str], bool] = lambda host: False,
                 is_banned_key: Callable[[bytes], bool] = lambda key: False,
                 clock: Callable[[], float] = time.monotonic):
        self.limits = limits or ConnectionLimits()
        self._is_trusted = is_trusted
        self._is_banned_address = is_banned_address
        self._is_banned_key = is_banned_key
        self._clock = clock
        self._handshakes: dict[Ticket, None] = {}        # oldest first
        self._handshakes_by_host: Counter[str] = Counter()
        self._sessions: dict[Ticket, None] = {}
        self._sessions_by_key: Counter[bytes] = Counter()

    # -- stage 1: a connection arrives -------------------------------------------------------
    def arrive(self, host: str, abort: Callable[[str], None]) -> Ticket | str:
        """A ticket for a new connection from `host`, or why it is refused."""
        if self._is_banned_address(host):
            return "address banned for sending bad data"
        if self._handshakes_by_host[host] >= self.limits.max_handshakes_per_address:
            return "too many handshakes from one address"
        if len(self._handshakes) >= self.limits.max_handshakes:
            victim = self._handshake_to_evict(host)
            if victim is None:
                return "too many handshakes"
            self._evict(victim, "dropped for a newcomer while waiting for its hello")
        ticket = Ticket(host, self._clock(), abort)
        self._handshakes[ticket] = None
        self._handshakes_by_host[host] += 1
        return ticket

    def _handshake_to_evict(self, newcomer: str) -> Ticket | None:
        """A connection still waiting for its hello, to make room for one from `newcomer`.

        An honest initiator sends its hello with the connection, so a connection
        still waiting for it is an attacker's or a very slow one. The candidate is
        the oldest of the address holding the most such connections. It makes room
        if its address keeps at least as many as the newcomer's will have (so an
        address cannot take slots from one holding fewer), or if it has waited
        `evictable_hello` already (so attackers spread one per address cannot keep
        everyone out).
        """
        waiting = [t for t in self._handshakes if t.stage is Stage.HELLO]
        if not waiting:
            return None
        count = self._handshakes_by_host
        candidate = max(waiting, key=lambda t: (count[t.host], -t.since))
        fair = count[candidate.host] - 1 >= count[newcomer] + 1
        stale = self._clock() - candidate.since >= self.limits.evictable_hello
        return candidate if fair or stale else None

    def hello_checked(self, ticket: Ticket) -> None:
        """The peer's hello checked out: it holds the network key, never evicted for a newcomer."""
        if ticket.stage is Stage.HELLO:
            ticket.stage = Stage.KEYED

    # -- stage 2: its key is known -------------------------------------------------------------
    def admit(self, ticket: Ticket, key: bytes) -> str | None:
        """Give the connection a session slot (None), or say why it gets none."""
        if ticket.evicted is not None:
            return "dropped"
        if self._is_banned_key(key):
            return "banned"
        if self._sessions_by_key[key] >= self.limits.max_sessions_per_key:
            return "too many sessions with this key"
        trusted = self._trusts(key)
        if not self._has_room(trusted):
            victim = self._session_to_evict(trusted)
            if victim is None:
                return "busy"
            self._evict(victim, "idle session dropped to make room")
        self._remove(ticket)
        ticket.stage, ticket.key, ticket.trusted, ticket.admitted = Stage.SESSION, key, trusted, self._clock()
        self._sessions[ticket] = None
        self._sessions_by_key[key] += 1
        return None

    def session_started(self, ticket: Ticket, channel: Activity, abort: Callable[[str], None]) -> None:
        """The session's channel, to read its idleness from, and how to drop it."""
        ticket.channel, ticket.abort = channel, abort

    def _trusts(self, key: bytes) -> bool:
        if self._is_trusted is None:
            return False
        try:
            return bool(self._is_trusted(key))
        except Exception:  # an application's predicate must not break the server
            logging.getLogger(__name__).exception("is_trusted failed")
            return False

    def _has_room(self, trusted: bool) -> bool:
        if len(self._sessions) >= self.limits.max_sessions:
            return False
        if trusted or self._is_trusted is None:
            return True
        strangers = sum(1 for t in self._sessions if not t.trusted)
        return strangers < self.limits.max_sessions - self.limits.reserved_for_trusted

    def _session_to_evict(self, trusted_newcomer: bool) -> Ticket | None:
        """The least useful idle session: untrusted before trusted (a stranger only ever
        displaces strangers), then the longest idle. Only a session idle for
        `evictable_idle` counts as idle: one in the middle of its work never makes room."""
        now = self._clock()
        idle = [t for t in self._sessions if t.idle(now) >= self.limits.evictable_idle]
        if not trusted_newcomer:
            idle = [t for t in idle if not t.trusted]
        if not idle:
            return None
        return max(idle, key=lambda t: (not t.trusted, t.idle(now)))

    # -- the end ---------------------------------------------------------------------------------
    def leave(self, ticket: Ticket) -> None:
        """The connection is closed: its slot is free (idempotent)."""
        self._remove(ticket)

    def _evict(self, ticket: Ticket, why: str) -> None:
        ticket.evicted = why
        self._remove(ticket)
        ticket.abort(why)

    def _remove(self, ticket: Ticket) -> None:
        if ticket in self._handshakes:
            del self._handshakes[ticket]
            _take_one(self._handshakes_by_host, ticket.host)
        if ticket in self._sessions:
            del self._sessions[ticket]
            _take_one(self._sessions_by_key, ticket.key)


def _take_one(counter: Counter, item: object) -> None:
    """One less of `item`; none left, no entry (the counters stay as small as the pools)."""
    counter[item] -= 1
    if counter[item] <= 0:
        del counter[item]


# -- logging floods ------------------------------------------------------------------------------

MAX_KINDS = 32            # kinds of event summed up at a time; more share one line
MAX_ADDRESSES = 256       # addresses counted per kind and interval; more are counted together


@dataclass
class _Window:
    count: int = 0
    addresses: Counter[str] = field(default_factory=Counter)
    other_addresses: int = 0

    def add(self, address: str) -> None:
        self.count += 1
        if address in self.addresses or len(self.addresses) < MAX_ADDRESSES:
            self.addresses[address] += 1
        else:
            self.other_addresses += 1


class SummaryLog:
    """Log events of a kind at most twice per interval, however many there are.

    The first event of a quiet kind is logged in full, at once. The others that
    follow within `interval` are counted; when it ends, one line sums them up
    (how many, from how many addresses, the busiest) and a new interval begins.
    A kind with nothing to sum up goes quiet again. So a flood of refused
    connections costs one line per kind and interval, not one per connection.
    """

    def __init__(self, logger: logging.Logger, interval: float):
        self._log = logger
        self._interval = interval
        self._windows: dict[str, tuple[int, _Window]] = {}    # kind -> (level, counts)

    def event(self, level: int, kind: str, line: str, address: str) -> None:
        if kind not in self._windows and len(self._windows) >= MAX_KINDS:
            kind, line = "other refusals and failures", f"{line} (and others, summed up below)"
        if kind in self._windows:
            self._windows[kind][1].add(address)
            return
        self._log.log(level, "%s", line)
        self._windows[kind] = (level, _Window())
        asyncio.get_running_loop().call_later(self._interval, self._sum_up, kind)

    def _sum_up(self, kind: str) -> None:
        level, window = self._windows.pop(kind)
        if not window.count:
            return                                             # quiet: the next one is logged in full
        top, most = window.addresses.most_common(1)[0]
        places = f"{len(window.addresses)}{'+' if window.other_addresses else ''}"
        self._log.log(level, "%s: %d more in the last %g s, from %s address(es), most from %s (%d)", kind,
                      window.count, self._interval, places, top, most)
        self._windows[kind] = (level, _Window())
        asyncio.get_running_loop().call_later(self._interval, self._sum_up, kind)


def peer_host(peername: object) -> str:
    """What a peer is counted and banned by: its IPv4 address, or the /64 network its IPv6
    address is in (a machine is usually given a whole /64, so single addresses cost nothing)."""
    host = peername[0] if isinstance(peername, tuple) and peername else str(peername)
    try:
        address = ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return str(host)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
