"""Issue 14.8: text from others never reaches a terminal or a log line raw.

Hostile text here is what an attacker would write: an escape sequence that
clears the screen or retitles the terminal, a right-to-left override that
makes what follows read backwards, a C1 control. The records carrying it are
signed with a real key in the test (so they are exactly what a peer could
send); the peers that say it are real peers on 127.0.0.1 talking to real
`fixme` processes. Every text view must show it escaped (`\\x1b`, `\\u202e`);
JSON must carry it exactly.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from nacl.bindings import crypto_kx_keypair, crypto_kx_server_session_keys
from nacl.signing import SigningKey

from conftest import run_cli
from fixme.node.channel import SecureChannel
from fixme.node.handshake import (
    IDENTITY_SIZE,
    REFUSE,
    ROLE_INITIATOR,
    ROLE_RESPONDER,
    _identity,
    _read_hello,
    build_hello,
)
from fixme.node.keys import key_text
from fixme.node.local import LocalStore
from fixme.node.messages import Error
from fixme.safetext import printable
from fixme.tracker.changes import node_dir
from fixme.tracker.workflow import LOG_NAME, attach_payload, comment_payload, set_payload
from hostile_peers import FakePeer
from realnodes import Peer, project, wait_until

ESC = "\x1b[2J\x1b]0;pwned\x07"         # clear the screen, retitle the terminal
RLO = "\u202e"                            # right-to-left override
C1 = "\x9b31m"                           # CSI as one C1 byte: red from here on
HOSTILE_TEXT = f"ok{ESC}{RLO}gnp.exe{C1}"
SHOWN = printable(HOSTILE_TEXT)           # what a person must see instead
MALLORY = SigningKey(b"M" * 32)           # trusted by the project, and hostile


def raw_in(text: str) -> list[str]:
    """The dangerous characters that made it through to `text`."""
    return [c for c in ("\x1b", "\x07", "\u202e", "\x9b") if c in text]


def test_printable_escapes_controls_and_bidi_and_keeps_the_rest():
    assert printable("plain ünïcode ✓ text") == "plain ünïcode ✓ text"
    assert printable(HOSTILE_TEXT) == "ok\\x1b[2J\\x1b]0;pwned\\x07\\u202egnp.exe\\x9b31m"
    assert printable("a\u2066b\u2069c\u200ed\u200ff\u2028g") == "a\\u2066b\\u2069c\\u200ed\\u200ff\\u2028g"
    assert printable("tab\there") == "tab\\there" and printable("tab\there", tabs=True) == "tab\there"
    assert printable("line\nbreak") == "line\\nbreak"


def hostile_repository(repo) -> tuple[str, str]:
    """A project trusting MALLORY, whose store holds MALLORY's hostile records about
    its one entry (a set, a comment with a message, an attachment); (entry id, blob id)."""
    from fixme.node.blobs import put_blob
    import io

    repo.write("src/app.py", "# TODO: harmless title\n")
    repo.commit("start")
    assert run_cli("init", cwd=repo.root).code == 0
    assert run_cli("trust", "add", key_text(bytes(MALLORY.verify_key)), "--name", "Mallory",
                   cwd=repo.root).code == 0
    [entry] = json.loads(run_cli("list", "--format", "json", cwd=repo.root).out)
    local = LocalStore(node_dir(repo.root), (LOG_NAME,))
    try:
        log = local.logs[LOG_NAME]
        blob = put_blob(local.store, io.BytesIO(b"payload"))
        log.append(MALLORY, set_payload(entry["id"], "assigned", HOSTILE_TEXT, message=HOSTILE_TEXT))
        log.append(MALLORY, comment_payload(entry["id"], f"first line\n{HOSTILE_TEXT}\nlast line"))
        log.append(MALLORY, attach_payload(entry["id"], f"invoice{RLO}fdp.exe", blob, 7), refs=[blob])
    finally:
        local.close()
    return entry["id"], blob


def test_log_show_and_list_escape_what_a_record_says_and_json_keeps_it_exact(repo):
    entry, _ = hostile_repository(repo)
    log = run_cli("log", cwd=repo.root)
    assert log.code == 0, log.err
    assert not raw_in(log.out + log.err), log.out
    assert f"set assigned = {SHOWN}" in log.out
    assert f"    {SHOWN}" in log.out                      # the comment's line and the message
    assert "    first line\n" in log.out                  # a comment's own lines stay lines
    assert "invoice\\u202efdp.exe" in log.out

    show = run_cli("show", entry, cwd=repo.root)
    assert show.code == 0 and not raw_in(show.out + show.err), show.out
    assert f"assigned: {SHOWN}" in show.out               # the attribute the record set
    assert "'invoice\\u202efdp.exe' (7 bytes) [unsafe name: refused as a file name]" in show.out

    as_json = json.loads(run_cli("log", "--format", "json", cwd=repo.root).out)
    assert {item["value"] for item in as_json} >= {HOSTILE_TEXT, f"invoice{RLO}fdp.exe"}
    shown = json.loads(run_cli("show", entry, "--format", "json", cwd=repo.root).out)
    assert shown["attrs"]["assigned"] == HOSTILE_TEXT


def test_titles_paths_and_authors_from_commits_are_escaped_in_tables_and_errors(repo):
    repo.write(f"src/a{RLO}b.py", f"# TODO: {ESC}title\n# TODO: second one\n")
    repo.commit("hostile names")
    table = run_cli("list", cwd=repo.root, width=200)
    assert table.code == 0 and not raw_in(table.out), table.out
    assert "\\x1b[2J\\x1b]0;pwned\\x07title" in table.out and "src/a\\u202eb.py:1" in table.out
    markdown = run_cli("list", "--format", "markdown", cwd=repo.root)
    assert not raw_in(markdown.out)
    exact = json.loads(run_cli("list", "--format", "json", cwd=repo.root).out)
    assert f"{ESC}title" in {e["title"] for e in exact} and f"src/a{RLO}b.py" in {e["path"] for e in exact}


def test_trust_list_escapes_a_name_the_committed_config_gives(repo):
    repo.write("src/app.py", "# TODO: x\n")
    repo.commit("start")
    assert run_cli("init", cwd=repo.root).code == 0
    config = repo.root / ".fixme" / "config.toml"
    key = key_text(bytes(MALLORY.verify_key))
    # `trust add` refuses such a name; a commit from someone else can still bring it.
    config.write_text(config.read_text() + f'\n[[trust]]\nkey = "{key}"\nname = "Ada{RLO}\\u001b[31m"\n')
    listed = run_cli("trust", "list", cwd=repo.root)
    assert listed.code == 0 and not raw_in(listed.out), listed.out
    assert "Ada\\u202e\\x1b[31m" in listed.out
    assert f"Ada{RLO}\x1b[31m" in {row["name"] for row in json.loads(
        run_cli("trust", "list", "--format", "json", cwd=repo.root).out)}


# -- real peers, real processes ---------------------------------------------------------------

LIMIT = 60.0


def run(coro, limit: float = LIMIT):
    async def bounded():
        async with asyncio.timeout(limit):
            return await coro
    return asyncio.run(bounded())


def a_project(tmp_path: Path) -> Peer:
    return project(tmp_path / "victim", tmp_path / "home", {"app.py": "# TODO: first task\n"})


def test_a_peers_error_reason_is_escaped_in_sync_output_and_in_the_node_log(tmp_path):
    victim = a_project(tmp_path)
    reason = f"go away {ESC}{RLO}"

    class Rude(FakePeer):
        """Answers the first request with an `error` that tries to take over the terminal."""
        async def play(self, session):
            from fixme.node.messages import HelloLogs
            await session.send_message(HelloLogs(()))
            await session.send_message(Error(reason))
            await asyncio.sleep(0.5)

    async def main():
        rude = Rude(victim.network_key())
        address = await rude.start()
        try:
            synced = await asyncio.to_thread(victim.fixme, "sync", address, check=False)
            as_json = await asyncio.to_thread(victim.fixme, "sync", address, "--format", "json", check=False)
            await asyncio.to_thread(victim.start, address)      # the node dials it every half second
            await asyncio.to_thread(wait_until, lambda: "peer reported an error" in victim.log_path.read_text(),
                                    "the node to log the peer's error", [victim])
            return synced, as_json
        finally:
            victim.stop()
            await rude.close()

    synced, as_json = run(main())
    assert synced.returncode == 1, synced.stdout + synced.stderr
    assert "peer reported an error: go away \\x1b[2J\\x1b]0;pwned\\x07\\u202e" in synced.stdout
    assert not raw_in(synced.stdout + synced.stderr), synced.stdout + synced.stderr
    log = victim.log_path.read_text()
    assert "go away \\x1b[2J" in log and not raw_in(log), log
    peers = victim.fixme("node", "peers").stdout
    assert "last error: " in peers and not raw_in(peers), peers
    [session] = json.loads(as_json.stdout)["sessions"]
    assert session["error"] == f"peer reported an error: {reason}"     # JSON keeps the words exactly


def test_a_handshake_refusal_reason_is_escaped(tmp_path):
    victim = a_project(tmp_path)
    reason = f"no{ESC}{RLO}".encode()[:64]

    async def refuse(reader, writer):
        """A responder that has the network key, shows its identity, then refuses with a hostile reason."""
        key = SigningKey(b"r" * 32)
        hello_i = await _read_hello(reader, victim.network_key(), ROLE_INITIATOR)
        public, secret = crypto_kx_keypair()
        hello_r = build_hello(victim.network_key(), public, ROLE_RESPONDER)
        rx, tx = crypto_kx_server_session_keys(public, secret, hello_i[1:33])
        channel = SecureChannel(reader, writer, tx, rx, idle_timeout=5.0)
        writer.write(hello_r)
        channel.send_header()
        await channel.send(_identity(key, ROLE_RESPONDER, hello_i, hello_r))
        await channel.recv_header()
        await channel.recv(limit=IDENTITY_SIZE)
        await channel.send(REFUSE + reason)
        await asyncio.sleep(0.2)
        writer.close()

    async def main():
        server = await asyncio.start_server(refuse, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return await asyncio.to_thread(victim.fixme, "sync", f"127.0.0.1:{port}", check=False)
        finally:
            server.close()

    synced = run(main())
    assert synced.returncode == 1
    assert "unreachable: peer refused us: no\\x1b[2J" in synced.stdout, synced.stdout
    assert not raw_in(synced.stdout + synced.stderr), synced.stdout + synced.stderr


def test_the_dashboard_shows_hostile_text_escaped_and_never_as_markup():
    """The status bar shows messages that quote peers and titles: no markup, no raw escapes."""
    from fixme.tui.widgets.detail import history_parts
    from fixme.tui.widgets.rows import fit
    from fixme.tui.widgets.status import StatusBar
    from fixme.tracker.workflow import HistoryItem

    bar = StatusBar()
    bar.say(f"sync: peer said [/] and [bold {HOSTILE_TEXT}")   # would raise MarkupError as markup
    assert bar.message == printable(f"sync: peer said [/] and [bold {HOSTILE_TEXT}")
    assert not raw_in(fit(HOSTILE_TEXT, 80))
    item = HistoryItem("sha256:" + "a" * 64, "e" * 40, "comment", None, HOSTILE_TEXT, None, None,
                       key_text(bytes(MALLORY.verify_key)), f"Mallory{RLO}", int(time.time() * 1000), 1,
                       True, True)

    class Detail:
        attachments = ()
        history = [item]
    text = "".join(part if isinstance(part, str) else part[0] for part in history_parts(Detail()))
    assert not raw_in(text) and SHOWN in text and "Mallory\\u202e" in text
