"""A git remote is an untrusted relay: anyone with push access can write refs/fixme/.

Each test plants something hostile in a real bare remote with git's own
plumbing and syncs a clone with it: what breaks the layout or the record
checks is refused with its reason, nothing bad is stored, sizes are checked
before anything is read, and the clone's own refs are never rewritten.
"""

from __future__ import annotations

import pytest

from fixme.node import gitobjects, gitrelay
from gitremotes import (
    blob,
    commit,
    git,
    make_team,
    plant,
    public_key,
    records_tree,
    signed,
    tree,
    writer_ref,
)

WRITER = bytes(range(32))      # a key the victim trusts
STRANGER = bytes(range(1, 33))  # one it does not


@pytest.fixture
def victim(tmp_path):
    remote, (a,) = make_team(tmp_path, ("a",))
    a.fixme("trust", "add", public_key(WRITER), "--name", "writer")
    return remote, a


def good(a, value: str = "wip", n: int = 0, clock: int = 1) -> bytes:
    return signed(WRITER, a.entries()[n], value, clock=clock)


@pytest.fixture
def reads(monkeypatch):
    """The ids of every object whose content was read."""
    seen: list[str] = []
    original = gitobjects.Git.stream

    def stream(self, infos):
        infos = list(infos)
        seen.extend(i.oid for i in infos)
        return original(self, infos)

    monkeypatch.setattr(gitobjects.Git, "stream", stream)
    return seen


def test_a_writer_ref_rewritten_other_than_forward_is_refused(victim):
    remote, a = victim
    first = good(a, "wip")
    plant(remote, writer_ref(), records_tree(remote, [first]))
    assert a.sync()["records_in"] == 1
    second = good(a, "done", n=1)
    plant(remote, writer_ref(), records_tree(remote, [second]))   # no parent: not a fast-forward
    out = a.sync()
    assert out["records_in"] == 0 and a.record_count() == 1
    assert any("rewritten" in r and "only moves forward" in r for r in out["refused"])
    # Moving forward again from what was read is fine.
    tip = git(remote, "rev-parse", writer_ref()).strip()
    assert tip
    good_tip = a.git("rev-parse", "refs/fixme-remotes/origin/records/" + writer_ref()[len("refs/fixme/records/"):])
    assert good_tip.strip() == tip   # the fetch mirrored it; the check, not the fetch, refuses it


def test_odd_names_in_trees_are_refused_and_the_rest_is_read(victim, tmp_path):
    remote, a = victim
    record = good(a)
    digits = gitrelay.block_id(record)[len("sha256:"):]
    leaf = blob(remote, record)
    inner = tree(remote, [(b"100644", digits[2:].encode(), leaf),
                          (b"100644", b"../../escaped", leaf),
                          (b"100644", b"/etc/passwd", leaf),
                          (b"100644", digits[2:].upper().encode(), leaf),
                          (b"100755", b"f" * 62, leaf),
                          (b"120000", b"e" * 62, leaf)])
    root = tree(remote, [(b"40000", digits[:2].encode(), inner),
                         (b"40000", b"..", inner),
                         (b"40000", b"/abs", inner),
                         (b"100644", b"zz", leaf)])
    plant(remote, writer_ref(), root)
    out = a.sync()
    refused = "\n".join(out["refused"])
    assert out["records_in"] == 1 and a.record_count() == 1
    for name in ("..: a directory", "/abs", "zz: a file", "../../escaped", "/etc/passwd",
                 "an executable", "a symlink", digits[2:8].upper()):
        assert name in refused, (name, refused)
    assert not (tmp_path / "escaped").exists() and not (a.root.parent / "escaped").exists()


def test_a_tree_that_is_not_well_formed_is_refused(victim):
    """git itself will not send such a tree (the remote's pack-objects fails, and the whole
    fetch with it: one line, exit 2, nothing changed); one that got here anyway is refused."""
    remote, a = victim
    broken = git(remote, "hash-object", "-t", "tree", "--literally", "-w", "--stdin",
                 input=b"100644 name-without-nul-and-id").strip()
    plant(remote, writer_ref(), tree(remote, [(b"40000", b"ab", broken)]))
    result = a.fixme("sync", check=False)
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1
    assert a.record_count() == 0
    git(remote, "update-ref", "-d", writer_ref())
    local = git(a.root, "hash-object", "-t", "tree", "--literally", "-w", "--stdin",
                input=b"100644 name-without-nul-and-id").strip()
    plant(a.root, "refs/fixme-remotes/origin/records/" + "1" * 16 + "/" + "1" * 16,
          tree(a.root, [(b"40000", b"ab", local)]))
    from fixme.tracker.gitsync import take_in_fetched
    from fixme.tracker.tracker import Tracker

    (report,) = take_in_fetched(Tracker.open(a.root, home=a.home))
    assert any("malformed tree entry" in r for r in report.refused), report.refused
    assert a.record_count() == 0


def test_blobs_that_are_not_records_are_refused(victim):
    remote, a = victim
    junk = b"just some bytes, not a record"
    wrong = good(a)
    named_wrongly = {wrong: "0" * 64}
    plant(remote, writer_ref(1), records_tree(remote, [junk]))
    plant(remote, writer_ref(2), records_tree(remote, [wrong], named_wrongly))
    out = a.sync()
    refused = "\n".join(out["refused"])
    assert out["records_in"] == 0 and a.record_count() == 0
    assert "content does not match its name" in refused
    assert gitrelay.block_id(junk)[:19] in refused


def test_a_record_with_a_bad_signature_is_refused(victim):
    remote, a = victim
    record = good(a)
    at = record.index(b'"sig":"') + 7
    forged = record[:at] + (b"0" if record[at:at + 1] != b"0" else b"1") + record[at + 1:]
    plant(remote, writer_ref(), records_tree(remote, [forged]))
    out = a.sync()
    assert out["records_in"] == 0 and a.record_count() == 0
    assert any("bad signature" in r for r in out["refused"])


def test_records_of_an_untrusted_key_are_kept_out_not_applied(victim):
    remote, a = victim
    entry = a.entries()[0]
    plant(remote, writer_ref(), records_tree(remote, [signed(STRANGER, entry, "wip")]))
    out = a.sync()
    assert out["records_in"] == 0 and out["untrusted"] == {public_key(STRANGER): 1}
    assert a.record_count() == 0 and a.states()[entry] == "new"


def test_a_tree_with_too_many_entries_is_refused_before_it_is_read(victim, monkeypatch, reads):
    remote, a = victim
    monkeypatch.setattr(gitrelay, "MAX_TREE_ENTRIES", 50)
    leaf = blob(remote, b"x")
    huge = tree(remote, [(b"100644", f"{i:062x}".encode(), leaf) for i in range(200)])
    plant(remote, writer_ref(), tree(remote, [(b"40000", b"ab", huge)]))
    out = a.sync()
    assert any("more than the" in r and "not read" in r for r in out["refused"]), out["refused"]
    assert huge not in reads


def test_records_per_ref_are_capped(victim, monkeypatch):
    remote, a = victim
    monkeypatch.setattr(gitrelay, "MAX_RECORDS_PER_REF", 2)
    entries = a.entries()
    records = [signed(WRITER, entries[i], "wip") for i in range(3)]
    plant(remote, writer_ref(), records_tree(remote, records))
    out = a.sync()
    assert out["records_in"] == 2 and any("more than 2 records" in r for r in out["refused"])


def test_a_blob_larger_than_a_record_is_refused_from_its_size_alone(victim, monkeypatch, reads):
    remote, a = victim
    monkeypatch.setattr(gitrelay, "MAX_BLOB_BYTES", 2000)
    big = b"{" + b" " * 5000 + b"}"
    plant(remote, writer_ref(), records_tree(remote, [big]))
    out = a.sync()
    assert any("5002 bytes, more than a record can be (2000); not read" in r for r in out["refused"])
    big_oid = git(remote, "hash-object", "--stdin", input=big).strip()
    assert big_oid not in reads and a.record_count() == 0


def test_refs_that_are_not_writer_refs_or_not_commits_are_refused(victim):
    remote, a = victim
    plant(remote, "refs/fixme/records/evil", records_tree(remote, [good(a)]))
    git(remote, "update-ref", writer_ref(), blob(remote, b"a blob, not a commit"))
    out = a.sync()
    refused = "\n".join(out["refused"])
    assert "records/evil: not a writer ref" in refused and "a blob, not a commit" in refused
    assert out["records_in"] == 0


def test_a_commit_too_large_is_not_read(victim, monkeypatch, reads):
    remote, a = victim
    monkeypatch.setattr(gitrelay, "MAX_COMMIT_BYTES", 100)
    tip = plant(remote, writer_ref(), records_tree(remote, [good(a)]))
    out = a.sync()
    assert any("more than the 100 allowed" in r for r in out["refused"]) and tip not in reads


def test_the_users_own_refs_are_never_rewritten_by_a_fetch(victim):
    remote, a = victim
    a.fixme("set-workflow", a.entries()[0], "wip")
    a.sync()
    mine = {name: oid for name, oid in a.own_refs().items() if not name.startswith("refs/fixme-remotes/")}
    own = next(name for name in mine if name.startswith("refs/fixme/records/"))
    junk = records_tree(remote, [b"junk"])
    plant(remote, "refs/fixme/heads/main", junk)
    plant(remote, own, junk)   # someone rewrites our ref on the remote
    out = a.sync()
    after = {name: oid for name, oid in a.own_refs().items() if not name.startswith("refs/fixme-remotes/")}
    assert {k: v for k, v in after.items() if k in mine} == mine   # nothing of ours moved
    new = [name for name in after if name not in mine]
    assert len(new) == 1 and new[0].startswith("refs/fixme/records/") and out["pushed"]
    assert any("moved by someone else" in note for note in out["notes"])
    # The new ref carries our record: a fresh reader gets it from the remote.
    assert git(remote, "rev-parse", new[0]).strip() == after[new[0]]


def test_nothing_bad_is_stored_in_the_block_store(victim):
    remote, a = victim
    record = good(a)
    bad = [b"junk", record.replace(b'"wip"', b'"zzz"')]   # the second: signature no longer matches
    plant(remote, writer_ref(), records_tree(remote, bad))
    a.sync()
    from fixme.node.storage import open_node_storage
    from fixme.tracker.changes import node_dir

    store, _ = open_node_storage(node_dir(a.root))
    try:
        assert not any(store.has(gitrelay.block_id(data)) for data in bad)
    finally:
        store.close()


def test_commit_helper_is_plain_git(victim):
    remote, _ = victim
    assert len(commit(remote, tree(remote, []))) == 40


def test_every_check_holds_when_records_are_verified_on_threads_as_they_stream(victim, monkeypatch):
    """Pieces of 4, so even this handful goes to the verifier threads while cat-file streams:
    hash, form, signature, log, trust and parents are each still checked."""
    import threading

    from nacl.signing import SigningKey

    from fixme.node import log as records_log
    from fixme.node.records import sign_record

    remote, a = victim
    monkeypatch.setattr(gitrelay, "VERIFY_PIECE", 4)
    threads: set[str] = set()
    check = records_log.check_records

    def recording(*args):
        threads.add(threading.current_thread().name)
        return check(*args)

    monkeypatch.setattr(records_log, "check_records", recording)
    entry = a.entries()[0]
    chain = [signed(WRITER, entry, "wip", clock=1)]
    for n in range(2, 12):
        chain.append(signed(WRITER, entry, "wip" if n % 2 else "test", parents=[gitrelay.block_id(chain[-1])],
                            clock=n))
    forged = signed(WRITER, entry, "done", parents=[gitrelay.block_id(chain[-1])], clock=20)
    at = forged.index(b'"sig":"') + 7
    forged = forged[:at] + (b"0" if forged[at:at + 1] != b"0" else b"1") + forged[at + 1:]
    orphan = signed(WRITER, entry, "done", parents=["sha256:" + "ab" * 32], clock=30)
    other_log = sign_record(SigningKey(WRITER), "elsewhere", [], 1, 1_700_000_000_000,
                            {"op": "set", "entry": entry, "attr": "workflow", "value": "done"}).data
    stranger = signed(STRANGER, entry, "dropped")
    misnamed = signed(WRITER, a.entries()[1], "done")
    bad = [forged, orphan, other_log, stranger, b"not a record at all"]
    plant(remote, writer_ref(), records_tree(remote, chain + bad + [misnamed], {misnamed: "0" * 64}))
    out = a.sync()
    refused = "\n".join(out["refused"])
    assert any(name.startswith("gitrelay-verify") for name in threads), threads
    assert out["records_in"] == len(chain) and a.record_count() == len(chain)
    assert out["untrusted"] == {public_key(STRANGER): 1}
    assert out["waiting"] == 1                                   # the orphan: its parent never came
    assert "bad signature" in refused and "not 'tracker'" in refused
    assert "content does not match its name" in refused
    assert gitrelay.block_id(b"not a record at all")[:19] in refused
    assert a.states()[entry] == "wip"                          # the last of the chain, clock 11


def test_the_blob_stream_stops_cleanly_and_takes_no_answer_but_the_one_asked_for(victim):
    remote, _ = victim
    repo = gitobjects.Git(remote)
    oids = [blob(remote, f"object {n}\n".encode()) for n in range(3)]
    infos = repo.info(oids)
    assert [data for _, data in repo.stream(infos[oid] for oid in oids)] == [b"object 0\n", b"object 1\n",
                                                                           b"object 2\n"]
    reader = repo.stream(infos[oid] for oid in oids)
    assert next(reader)[1] == b"object 0\n"
    reader.close()   # stopped early: git is ended and reaped, nothing hangs
    for wrong in (gitobjects.ObjectInfo(oids[0], "blob", infos[oids[0]].size + 1),
                  gitobjects.ObjectInfo(oids[0], "tree", infos[oids[0]].size),
                  gitobjects.ObjectInfo("0" * 40, "blob", 1)):
        with pytest.raises(gitobjects.GitFailed):
            list(repo.stream([wrong]))
