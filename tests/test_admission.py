"""The server's admission rules (fixme/node/admission.py), with a clock the test moves.

The budgets are exercised end to end on a real node in test_hostile_connections;
here each rule is pinned down on its own: who is refused, who makes room for whom.
"""

from __future__ import annotations

import asyncio
import logging

from fixme.node.admission import Admission, ConnectionLimits, Stage, SummaryLog, Ticket, peer_host


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Channel:
    def __init__(self, clock: Clock) -> None:
        self.last_activity = clock.now


def admission(clock: Clock, trusted: set[bytes] | None = None, **limits) -> Admission:
    is_trusted = None if trusted is None else trusted.__contains__
    return Admission(ConnectionLimits(**limits), is_trusted=is_trusted, clock=clock)


def arrive(gate: Admission, host: str, dropped: list) -> Ticket | str:
    return gate.arrive(host, lambda why: dropped.append(why))


def key(n: int) -> bytes:
    return bytes([n]) * 32


def test_one_address_holds_at_most_its_share_of_handshakes():
    clock, dropped = Clock(), []
    gate = admission(clock, max_handshakes_per_address=2)
    assert all(isinstance(arrive(gate, "10.0.0.1", dropped), Ticket) for _ in range(2))
    assert arrive(gate, "10.0.0.1", dropped) == "too many handshakes from one address"
    assert isinstance(arrive(gate, "10.0.0.2", dropped), Ticket)
    assert dropped == []


def test_when_all_handshakes_are_taken_a_busy_address_gives_way_to_a_quiet_one():
    clock, dropped = Clock(), []
    gate = admission(clock, max_handshakes=4, max_handshakes_per_address=4)
    hog = [arrive(gate, "10.0.0.1", dropped) for _ in range(3)]
    other = arrive(gate, "10.0.0.2", dropped)
    newcomer = arrive(gate, "10.0.0.3", dropped)
    assert isinstance(newcomer, Ticket) and hog[0].evicted and not other.evicted   # the hog's oldest
    assert dropped == ["dropped for a newcomer while waiting for its hello"]
    # 10.0.0.1 holds 2: it gives one more way, and then holds as many as the others.
    assert isinstance(arrive(gate, "10.0.0.4", dropped), Ticket) and hog[1].evicted
    assert arrive(gate, "10.0.0.5", dropped) == "too many handshakes"
    # Attackers one per address: the oldest waiting for its hello for evictable_hello gives way.
    clock.now += 1.0
    assert isinstance(arrive(gate, "10.0.0.5", dropped), Ticket) and hog[2].evicted


def test_a_connection_that_showed_the_network_key_is_never_dropped_for_a_newcomer():
    clock, dropped = Clock(), []
    gate = admission(clock, max_handshakes=1)
    keyed = arrive(gate, "10.0.0.1", dropped)
    gate.hello_checked(keyed)
    clock.now += 60
    assert arrive(gate, "10.0.0.2", dropped) == "too many handshakes" and keyed.stage is Stage.KEYED


def test_strangers_never_take_the_sessions_kept_for_trusted_keys():
    clock, dropped = Clock(), []
    gate = admission(clock, trusted={key(0)}, max_sessions=3, reserved_for_trusted=1)
    strangers = [arrive(gate, f"10.0.0.{n}", dropped) for n in range(1, 4)]
    assert [gate.admit(t, key(n)) for n, t in enumerate(strangers, 1)] == [None, None, "busy"]
    teammate = arrive(gate, "10.0.0.9", dropped)
    assert gate.admit(teammate, key(0)) is None and teammate.trusted


def test_a_newcomer_takes_the_place_of_the_idlest_untrusted_session():
    clock, dropped = Clock(), []
    gate = admission(clock, trusted={key(0)}, max_sessions=3, reserved_for_trusted=0)
    sessions = []
    for n in range(3):
        ticket = arrive(gate, f"10.0.0.{n}", dropped)
        assert gate.admit(ticket, key(n)) is None
        gate.session_started(ticket, Channel(clock), lambda why: dropped.append(why))
        sessions.append(ticket)
        clock.now += 1
    late = arrive(gate, "10.0.0.8", dropped)
    assert gate.admit(late, key(8)) == "busy"              # nobody has idled 10 s yet
    clock.now += 10
    sessions[2].channel.last_activity = clock.now            # busy just now
    assert gate.admit(late, key(8)) is None
    # key 0 is trusted and idlest: a stranger displaces only strangers, the idlest of them.
    assert [t.evicted for t in sessions] == [None, "idle session dropped to make room", None]
    assert dropped == ["idle session dropped to make room"]


def test_one_key_holds_at_most_its_share_of_sessions():
    clock, dropped = Clock(), []
    gate = admission(clock, max_sessions_per_key=2)
    tickets = [arrive(gate, "10.0.0.1", dropped) for _ in range(3)]
    assert [gate.admit(t, key(1)) for t in tickets] == [None, None, "too many sessions with this key"]
    gate.leave(tickets[0])
    assert gate.admit(tickets[2], key(1)) is None


def test_banned_addresses_and_keys_are_refused():
    banned = Admission(is_banned_address=lambda host: host == "10.0.0.6", is_banned_key=lambda k: k == key(6))
    assert banned.arrive("10.0.0.6", print) == "address banned for sending bad data"
    assert banned.admit(banned.arrive("10.0.0.7", print), key(6)) == "banned"


def test_addresses_are_counted_by_ipv4_address_or_ipv6_slash_64():
    assert peer_host(("198.51.100.7", 4000)) == "198.51.100.7"
    assert peer_host(("::ffff:198.51.100.7", 4000, 0, 0)) == "198.51.100.7"
    assert peer_host(("2001:db8:1:2:aaaa::1", 4000, 0, 0)) == peer_host(("2001:db8:1:2::9", 1, 0, 0)) \
        == "2001:db8:1:2::/64"


def test_a_flood_of_one_kind_is_logged_once_and_summed_up_once_per_interval(caplog):
    caplog.set_level(logging.INFO, logger="test.summary")

    async def main():
        log = SummaryLog(logging.getLogger("test.summary"), interval=0.2)
        for n in range(500):
            log.event(logging.WARNING, "refused connection: busy", f"refused connection from 10.0.0.{n % 3}:1",
                      f"10.0.0.{n % 3}")
        log.event(logging.INFO, "handshake failed: timed out", "handshake with 10.0.0.9:1 failed: timed out",
                  "10.0.0.9")
        await asyncio.sleep(0.5)
    asyncio.run(main())
    lines = [record.getMessage() for record in caplog.records]
    assert lines == ["refused connection from 10.0.0.0:1", "handshake with 10.0.0.9:1 failed: timed out",
                     "refused connection: busy: 499 more in the last 0.2 s, from 3 address(es), most from"
                     " 10.0.0.1 (167)"]
