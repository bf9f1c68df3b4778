"""Signed records: format, signatures, strict parsing."""

from __future__ import annotations

import pytest
from nacl.signing import SigningKey

from fixme.node import canonical
from fixme.node.hashing import block_id
from fixme.node.keys import create_identity, fingerprint, key_text, load_identity, parse_key_text, IdentityError
from fixme.node.records import RecordError, parse_record, sign_record, verify_signature

PAYLOAD = {"op": "set", "entry": "e" * 40, "attr": "workflow", "value": "wip"}
PARENT = "sha256:" + "1" * 64


def make(key=None, **overrides):
    args = dict(log="tracker", parents=[PARENT], clock=2, time_ms=1_700_000_000_000, payload=PAYLOAD)
    args.update(overrides)
    return sign_record(key or SigningKey(b"k" * 32), **args)


def test_a_record_is_a_signed_canonical_document_named_by_its_hash():
    record = make()
    assert record.id == block_id(record.data)
    doc = canonical.decode(record.data)
    assert sorted(doc) == ["author", "clock", "log", "parents", "payload", "refs", "sig", "time", "type", "v"]
    assert doc["author"] == key_text(record.author) and doc["type"] == "record" and doc["v"] == 1
    again = parse_record(record.data)
    assert again == record


def test_the_same_content_gives_the_same_bytes_on_every_machine():
    key = SigningKey(b"s" * 32)  # ed25519 signatures are deterministic
    assert make(key).data == make(key).data
    assert make(key, parents=[PARENT, "sha256:" + "0" * 64]).data == make(key, parents=["sha256:" + "0" * 64, PARENT]).data


@pytest.mark.parametrize("position", range(0, 400, 7))
def test_a_changed_byte_anywhere_is_refused(position):
    data = bytearray(make().data)
    if position >= len(data):
        pytest.skip("record shorter")
    data[position] ^= 0x01
    with pytest.raises(RecordError):
        parse_record(bytes(data))


def test_a_signature_by_another_key_is_refused():
    record = make()
    forged_doc = canonical.decode(record.data)
    forged_doc["sig"] = canonical.decode(make(SigningKey(b"x" * 32)).data)["sig"]
    with pytest.raises(RecordError, match="bad signature"):
        parse_record(canonical.encode(forged_doc))


def test_the_payload_is_covered_by_the_signature():
    record = make()
    doc = canonical.decode(record.data)
    doc["payload"]["value"] = "done"
    tampered = canonical.encode(doc)
    with pytest.raises(RecordError, match="bad signature"):
        parse_record(tampered)
    assert not verify_signature(parse_record(tampered, verify=False))


@pytest.mark.parametrize("change", [
    lambda d: d.pop("clock"),
    lambda d: d.update(extra=1),
    lambda d: d.update(v=2),
    lambda d: d.update(type="blob"),
    lambda d: d.update(parents=["nope"]),
    lambda d: d.update(parents=[PARENT, PARENT]),
    lambda d: d.update(clock=0),
    lambda d: d.update(time=-1),
    lambda d: d.update(payload=[1]),
    lambda d: d.update(log="../etc"),
    lambda d: d.update(author="ed25519:zz"),
    lambda d: d.update(sig="00"),
])
def test_malformed_records_are_refused_with_a_reason(change):
    doc = canonical.decode(make().data)
    change(doc)
    with pytest.raises(RecordError) as info:
        parse_record(canonical.encode(doc))
    assert str(info.value)


def test_an_expected_id_must_match():
    record = make()
    with pytest.raises(RecordError, match="does not match"):
        parse_record(record.data, expected_id=PARENT)


def test_identity_is_created_once_with_mode_0600(tmp_path):
    home = tmp_path / "home"
    identity, created = create_identity(home)
    assert created and (identity.path.stat().st_mode & 0o777) == 0o600
    again, created_again = create_identity(home)
    assert not created_again and again.public_key == identity.public_key
    assert load_identity(home).key_text == identity.key_text
    assert parse_key_text(identity.key_text) == identity.public_key
    assert len(fingerprint(identity.public_key)) == 19


def test_a_key_file_others_can_read_is_not_used(tmp_path):
    identity, _ = create_identity(tmp_path)
    identity.path.chmod(0o644)
    with pytest.raises(IdentityError, match="chmod 600"):
        load_identity(tmp_path)


def test_a_garbled_key_file_is_a_clear_error(tmp_path):
    (tmp_path / "identity.key").write_text("hello\n")
    (tmp_path / "identity.key").chmod(0o600)
    with pytest.raises(IdentityError, match="does not hold"):
        load_identity(tmp_path)
