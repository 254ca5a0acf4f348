"""Tests for the audit hash chain: building it, and finding the first edited, removed or moved entry."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys

import pytest

from grafeas_py.auth.audit import (
    GENESIS,
    REKEY,
    AuditEntry,
    SealRefused,
    canonical_json,
    chain_next,
    check_head,
    entry_hash,
    key_id,
    verify_chain,
    verify_since,
)


def build(n: int, key: bytes | None = None) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    prev = None
    for i in range(1, n + 1):
        prev = chain_next(
            prev,
            principal="user:alice@example.com",
            action="occurrences.create",
            resource=f"projects/p/occurrences/{i}",
            detail={"note": "projects/vulnz/notes/CVE-1", "n": i},
            time=f"2026-01-01T00:00:{i % 60:02d}Z",
            key=key,
        )
        entries.append(prev)
    return entries


def edit(entry: AuditEntry, **changes) -> AuditEntry:
    return dataclasses.replace(entry, **changes)


def rehashed(entry: AuditEntry, key: bytes | None = None) -> AuditEntry:
    """What an attacker with write access but no key can do: fix the entry's own hash."""
    e = entry
    fields = (e.seq, e.time, e.principal, e.action, e.resource, e.detail, e.prev_hash)
    return edit(e, hash=entry_hash(*fields, key, e.credential))


def test_chain_links_and_verifies():
    entries = build(5)
    assert entries[0].seq == 1 and entries[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash and b.seq == a.seq + 1 for a, b in zip(entries, entries[1:], strict=False))
    result = verify_chain(entries)
    assert result.ok and result.checked == 5 and result.last_seq == 5 and result.last_hash == entries[-1].hash
    assert result.seq is None and result.problem is None


def test_hash_is_sha256_of_canonical_json():
    e = chain_next(None, "token:ci", "notes.create", "projects/p/notes/é", {"b": [1, 2], "a": None}, time="T")
    expected = (
        '{"action":"notes.create","detail":{"a":null,"b":[1,2]},"prev_hash":"' + GENESIS + '",'
        '"principal":"token:ci","resource":"projects/p/notes/é","seq":1,"time":"T"}'
    )
    assert e.hash == hashlib.sha256(expected.encode("utf-8")).hexdigest()


def test_the_credential_is_hashed_when_recorded_and_entries_without_one_hash_as_before():
    old = chain_next(None, "token:ci", "notes.create", "r", {}, time="T")
    assert old.credential is None and '"credential"' not in _hashed_text(old)
    new = chain_next(old, "token:ci", "notes.create", "r", {}, time="T", credential="token:1a2b3c4d5e6f7a8b")
    assert new.hash == hashlib.sha256(_hashed_text(new).encode()).hexdigest()
    assert '"credential":"token:1a2b3c4d5e6f7a8b"' in _hashed_text(new)
    assert verify_chain([old, new]).ok
    for forged in ("token:ffffffffffffffff", None):  # another token, or none, put in its place
        result = verify_chain([old, edit(new, credential=forged)])
        assert not result.ok and (result.problem, result.seq) == ("altered", 2)
    added = verify_chain([edit(old, credential="token:1a2b3c4d5e6f7a8b"), new])
    assert not added.ok and (added.problem, added.seq) == ("altered", 1)


def _hashed_text(e: AuditEntry) -> str:
    fields = {
        "seq": e.seq,
        "time": e.time,
        "principal": e.principal,
        "action": e.action,
        "resource": e.resource,
        "detail": e.detail,
        "prev_hash": e.prev_hash,
    }
    if e.credential is not None:
        fields["credential"] = e.credential
    return canonical_json(fields).decode()


def test_detail_is_stored_as_its_json_round_trip():
    e = chain_next(None, "token:ci", "a", "r", {"tuple": (1, 2), "nested": {"z": 1, "a": 2}})
    assert e.detail == {"tuple": [1, 2], "nested": {"a": 2, "z": 1}}
    back = edit(e, detail=json.loads(json.dumps(e.detail, indent=2)))  # what a database gives back
    assert verify_chain([back]).ok


def test_canonical_json_refuses_nan():
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_empty_chain_is_ok():
    assert verify_chain([]) == verify_chain(iter(()))
    assert verify_chain([]).ok and verify_chain([]).last_hash == GENESIS


@pytest.mark.parametrize("field, value", [("detail", {"n": 99}), ("principal", "user:mallory"), ("time", "x")])
def test_edited_entry_is_named(field, value):
    entries = build(10)
    entries[6] = edit(entries[6], **{field: value})
    result = verify_chain(entries)
    assert not result.ok and result.problem == "altered" and result.seq == 7
    assert result.checked == 6 and result.last_seq == 6 and result.last_hash == entries[5].hash
    assert "entry 7 was altered" in result.message


def test_removed_entry_is_named():
    entries = build(10)
    del entries[3]
    result = verify_chain(entries)
    assert (result.ok, result.problem, result.seq, result.checked) == (False, "removed", 4, 3)
    assert result.message == "entry 4 was removed: entry 5 follows entry 3"


def test_several_removed_entries_and_the_first_entry():
    entries = build(10)
    del entries[4:7]
    result = verify_chain(entries)
    assert (result.problem, result.seq) == ("removed", 5)
    assert "entry 5 to 7 was removed" in result.message
    result = verify_chain(build(3)[1:])
    assert (result.problem, result.seq, result.checked) == ("removed", 1, 0)
    assert "follows the start of the chain" in result.message


def test_swapped_entries_are_reordered_not_removed():
    entries = build(10)
    entries[4], entries[5] = entries[5], entries[4]
    result = verify_chain(entries)
    assert (result.problem, result.seq, result.checked) == ("reordered", 6, 4)
    assert result.message == "entry 6 comes before entry 5: out of order"


def test_entry_moved_to_the_end_is_reordered():
    entries = build(10)
    entries.append(entries.pop(2))
    result = verify_chain(entries)
    assert (result.problem, result.seq) == ("reordered", 4)


def test_repeated_entry_is_reordered():
    entries = build(5)
    entries.insert(3, entries[1])
    result = verify_chain(entries)
    assert (result.problem, result.seq) == ("reordered", 2)
    assert result.message == "entry 2 comes after entry 3: out of order"


def test_replaced_and_rehashed_entry_breaks_the_next_link():
    entries = build(10)
    entries[4] = rehashed(edit(entries[4], detail={"n": "forged"}))
    result = verify_chain(entries)
    assert (result.problem, result.seq) == ("broken_link", 6)
    # Entry 5, forged, verifies by itself: the last entry the chain vouches for is 4.
    assert (result.last_seq, result.last_hash, result.checked) == (4, entries[3].hash, 4)
    assert "entry 5 was replaced and re-hashed" in result.message


def test_removal_with_renumbering_breaks_the_link():
    entries = build(6)
    tail = [rehashed(edit(e, seq=e.seq - 1)) for e in entries[3:]]
    result = verify_chain(entries[:2] + tail)
    assert (result.problem, result.seq) == ("broken_link", 3)


def test_verify_from_a_checkpoint():
    entries = build(10)
    result = verify_chain(entries[6:], start=(6, entries[5].hash))
    assert result.ok and result.checked == 4 and result.last_seq == 10
    assert verify_chain(entries[6:], start=(6, "f" * 64)).problem == "broken_link"


def test_verify_since_a_published_entry():
    entries = build(10)
    published = entries[5].hash  # entry 6
    result = verify_since(entries[5:], 6, published)
    assert result.ok and result.checked == 5 and result.last_seq == 10
    altered = entries[5:7] + [edit(entries[7], detail={"n": "forged"})] + entries[8:]
    assert (verify_since(altered, 6, published).problem, verify_since(altered, 6, published).seq) == ("altered", 8)
    forged_itself = [edit(entries[5], action="occurrences.delete")] + entries[6:]
    assert verify_since(forged_itself, 6, published).problem == "altered"  # its hash kept, its fields changed


def test_a_consistent_rewrite_is_caught_by_the_published_hash():
    entries = build(10)
    published = entries[5].hash
    rewritten, prev = [], None
    for e in entries:  # everything recomputed after a forged entry 3: verify_chain cannot tell
        detail = {"n": "forged"} if e.seq == 3 else e.detail
        prev = chain_next(prev, e.principal, e.action, e.resource, detail, e.time)
        rewritten.append(prev)
    assert verify_chain(rewritten).ok
    result = verify_since(rewritten[5:], 6, published)
    assert (result.ok, result.problem, result.seq) == (False, "rewritten", 6)


@pytest.mark.parametrize("tail", [[], "from 7"])
def test_verify_since_an_entry_that_is_gone(tail):
    entries = build(10)
    result = verify_since(entries[6:] if tail else [], 6, entries[5].hash)
    assert (result.ok, result.problem, result.seq) == (False, "cut", 6)


def test_keyed_chain_needs_its_key():
    key = b"k" * 32
    entries = build(5, key=key)
    assert verify_chain(entries, key=key).ok
    assert verify_chain(entries).problem == "altered"
    forged = list(entries)
    forged[2] = rehashed(edit(entries[2], detail={}))  # without the key
    result = verify_chain(forged, key=key)
    assert (result.problem, result.seq) == ("altered", 3)


# ---- handing the chain to another key ---------------------------------------------------------------

OLD, NEW = b"o" * 32, b"n" * 32


def extend(entries: list[AuditEntry], n: int, key: bytes | None) -> list[AuditEntry]:
    """`entries` and `n` more sealed with `key`."""
    out, prev = list(entries), entries[-1] if entries else None
    for i in range(n):
        prev = chain_next(prev, "user:alice@example.com", "notes.create", f"projects/p/notes/{i}", {}, key=key)
        out.append(prev)
    return out


def rekey(entries: list[AuditEntry], old: bytes | None, new: bytes | None) -> list[AuditEntry]:
    entry = chain_next(entries[-1], "cli:root", REKEY, "audit", {"key": key_id(new)}, key=old)
    return [*entries, entry]


def test_key_ids_name_keys_without_giving_them_away():
    assert key_id(None) == "none"
    assert key_id(OLD) != key_id(NEW) and len(key_id(OLD)) == 16 and "o" not in key_id(OLD).strip("0123456789abcdef")


@pytest.mark.parametrize("old", [None, OLD], ids=["from unkeyed", "from another key"])
def test_a_chain_handed_to_another_key_verifies_with_both_in_order(old):
    entries = extend(rekey(build(3, key=old), old, NEW), 2, NEW)
    result = verify_chain(entries, key=NEW, earlier=[old])
    assert (result.ok, result.checked, result.last_seq) == (True, 6, 6)
    assert verify_chain(entries, key=NEW).problem == "altered"  # entry 1 is not sealed with NEW
    handed = verify_chain(entries, key=old)
    assert (handed.problem, handed.seq, handed.checked) == ("unknown_key", 4, 4)
    assert f"hands the chain to key {key_id(NEW)}, not the next key given (none given)" in handed.message
    forged = [*entries[:4], rehashed(edit(entries[4], detail={"forged": True}), old), *entries[5:]]
    result = verify_chain(forged, key=NEW, earlier=[old])  # the old key seals nothing after the hand-over
    assert (result.problem, result.seq) == ("altered", 5)


def test_a_keyed_chain_may_be_handed_to_no_key():
    entries = extend(rekey(build(2, key=OLD), OLD, None), 2, None)
    assert verify_chain(entries, key=None, earlier=[OLD]).ok
    check_head(entries[2], None)
    assert verify_since(entries[2:], 3, entries[2].hash).ok  # from the published hand-over, no key needed


def test_a_chain_never_handed_to_the_key_given_does_not_pass():
    """Else whoever holds the old key (or anyone, for an unkeyed one) could rewrite the keyed part as old."""
    entries = build(4)
    result = verify_chain(entries, key=NEW, earlier=[None])
    assert (result.ok, result.problem, result.checked) == (False, "old_key", 4)
    assert f"the chain is still sealed with key none: no entry hands it to GRAFEAS_AUDIT_KEY ({key_id(NEW)})" in (
        result.message
    )
    wrong = rekey(entries, None, OLD)
    assert verify_chain(wrong, key=NEW, earlier=[None]).problem == "unknown_key"


def test_verify_since_the_published_hand_over_needs_only_the_new_key():
    entries = extend(rekey(build(3), None, NEW), 2, NEW)
    result = verify_since(entries[3:], 4, entries[3].hash, key=NEW)
    assert (result.ok, result.checked, result.last_seq) == (True, 3, 6)
    tampered = [*entries[3:5], rehashed(edit(entries[5], detail={"forged": True}))]
    assert (verify_since(tampered, 4, entries[3].hash, key=NEW).problem) == "altered"
    assert verify_since(entries[3:], 4, "f" * 64, key=NEW).problem == "rewritten"


def test_sealers_extend_a_hand_over_only_with_the_key_it_names():
    head = rekey(build(2), None, NEW)[-1]
    check_head(head, NEW)
    for key in (None, OLD):
        with pytest.raises(SealRefused, match=f"handed to key {key_id(NEW)} at entry 3 .* is {key_id(key)}"):
            check_head(head, key)


_STREAMING_CHECK = """
import tracemalloc
from grafeas_py.auth.audit import chain_next, verify_chain

count = 10_000


def generate():
    prev = None
    for _ in range(count):
        prev = chain_next(prev, "token:ci", "a", "r", {}, time="2026-01-01T00:00:00Z")
        yield prev


tracemalloc.start()
result = verify_chain(generate())
_, peak = tracemalloc.get_traced_memory()
assert result.ok and result.checked == count and result.last_seq == count, result
print(peak)
"""


def test_verify_streams_without_holding_entries():
    """A generator of many entries is checked in one pass, in memory that does not grow with the count.

    Measured in a process of its own: tracemalloc counts every thread's allocations, and apps made by
    other tests in this one keep sealing their audit trails in the background."""
    done = subprocess.run([sys.executable, "-c", _STREAMING_CHECK], capture_output=True, text=True, check=True)
    peak = int(done.stdout)
    assert peak < 200_000, f"peak {peak} bytes: entries are being kept"  # holding them would take megabytes


def test_check_head_refuses_a_head_the_key_does_not_verify():
    keyed = build(2, key=b"k" * 32)
    check_head(None, None)  # an empty chain takes any key
    check_head(keyed[-1], b"k" * 32)
    with pytest.raises(SealRefused, match=r"newest sealed audit entry \(2\) does not verify"):
        check_head(keyed[-1], None)
    edited = dataclasses.replace(build(2)[-1], resource="projects/other")
    with pytest.raises(SealRefused):
        check_head(edited, None)
