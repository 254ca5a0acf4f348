"""The audit trail: an append-only hash chain in which any edit, removal or reordering shows.

Entry n stores the hash of entry n-1 (`prev_hash`; the first stores `GENESIS`) and its own hash over
all its fields. Changing an entry breaks its own hash; removing or moving one breaks the sequence
and the links. `verify_chain` reads the entries once, in order, and names the first that is wrong.

The hash covers a canonical JSON encoding: sorted keys, no whitespace, UTF-8, no NaN or infinity.
One value must always give the same bytes, or a verifier on another day, in another process or
after a database round trip would compute a different hash for an unchanged entry. Floats are
encoded as Python writes them (shortest round-trip form), so keep them out of `detail` if another
language must verify the chain; strings are hashed as given, without Unicode normalization.

Keyed or not: by default the hash is plain SHA-256, so anyone can verify the chain, but whoever can
write to the table can also rewrite an entry *and every entry after it* consistently. Publish the
latest hash somewhere that attacker cannot reach (a log line, another system) to catch that. With
an HMAC key (HMAC-SHA256) nobody without the key can forge a consistent tail, but every verifier
needs the key, and a lost key leaves the entries sealed with it unverifiable. Neither form notices the
newest entries being cut off: compare `VerifyResult.last_seq` with what you expect.

Changing keys (none to a key, or one key to another): a `REKEY` entry, sealed with the key before it,
names the key that seals the entries after it (by `key_id`, which does not reveal it). A verifier
given the keys in the order the chain used them checks every entry with its own key; one given only
the newest checks from a published REKEY entry on (`verify_since`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from ..wire.timestamps import from_datetime

GENESIS = "0" * 64
REKEY = "audit.rekey"  # the action of an entry that hands the chain to another key

Problem = Literal["altered", "removed", "reordered", "broken_link", "cut", "rewritten", "unknown_key", "old_key"]


@dataclass(frozen=True)
class AuditEntry:
    """One audited action: who did what to which resource, linked to the entry before it."""

    seq: int
    time: str
    principal: str
    action: str
    resource: str
    detail: dict[str, Any] | str  # text only where the stored detail is not canonical JSON: altered
    prev_hash: str
    hash: str
    credential: str | None = None  # how the principal signed in (`token:<id>`, ...); None before it was kept


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of `verify_chain`; when not `ok`, `seq`, `problem` and `message` name the first fault."""

    ok: bool
    checked: int  # entries read before the first fault, or all of them
    last_seq: int  # seq of the last good entry (the start's seq when there is none)
    last_hash: str
    seq: int | None = None
    problem: Problem | None = None
    message: str = ""


def canonical_json(value: Any) -> bytes:
    """The one byte string for a JSON value: sorted keys, no whitespace, UTF-8; NaN and infinity refused."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def entry_hash(
    seq: int,
    time: str,
    principal: str,
    action: str,
    resource: str,
    detail: dict[str, Any],
    prev_hash: str,
    key: bytes | None = None,
    credential: str | None = None,
) -> str:
    """Hex SHA-256 (HMAC-SHA256 with `key`) of the canonical JSON of every field but the hash itself.

    `credential` is hashed only when set, so entries sealed before it was recorded verify unchanged."""
    fields = {
        "seq": seq,
        "time": time,
        "principal": principal,
        "action": action,
        "resource": resource,
        "detail": detail,
        "prev_hash": prev_hash,
    }
    if credential is not None:
        fields["credential"] = credential
    data = canonical_json(fields)
    return hmac.new(key, data, hashlib.sha256).hexdigest() if key else hashlib.sha256(data).hexdigest()


def chain_next(
    prev: AuditEntry | None,
    principal: str,
    action: str,
    resource: str,
    detail: dict[str, Any] | None = None,
    time: str | None = None,
    key: bytes | None = None,
    credential: str | None = None,
) -> AuditEntry:
    """The entry that follows `prev` (None: the first entry, seq 1). Store it as returned.

    `detail` is stored as its JSON round trip (tuples become lists, and so on), so the stored entry
    hashes the same after the database gives it back."""
    seq = prev.seq + 1 if prev else 1
    prev_hash = prev.hash if prev else GENESIS
    detail = json.loads(canonical_json(detail or {}))
    time = time or from_datetime(dt.datetime.now(dt.UTC))
    digest = entry_hash(seq, time, principal, action, resource, detail, prev_hash, key, credential)
    return AuditEntry(seq, time, principal, action, resource, detail, prev_hash, digest, credential)


def key_id(key: bytes | None) -> str:
    """A name for a chain key that does not give it away ("none" for the unkeyed chain): what a REKEY entry
    names, and what a process can compare its own key with."""
    return "none" if key is None else hmac.new(key, b"grafeas-py audit key id", hashlib.sha256).hexdigest()[:16]


def handed_to(entry: AuditEntry) -> str | None:
    """The key id a REKEY entry hands the chain to; None for any other entry."""
    if entry.action != REKEY or not isinstance(entry.detail, dict):
        return None
    named = entry.detail.get("key")
    return named if isinstance(named, str) else None


def _rehash(entry: AuditEntry, key: bytes | None) -> str:
    e = entry
    return entry_hash(e.seq, e.time, e.principal, e.action, e.resource, e.detail, e.prev_hash, key, e.credential)


class SealRefused(Exception):
    """The chain's newest entry does not verify with this process's key: extending it would mix keys."""


def check_head(head: AuditEntry | None, key: bytes | None, setting: str = "GRAFEAS_AUDIT_KEY") -> None:
    """Raise SealRefused unless the chain's newest entry (None: an empty chain) verifies with `key`, which the
    `setting` gave (the message names it and says what to set it to).

    A sealer with the wrong key (or none, on a keyed chain) would append entries that no single key
    verifies; so would one extending an entry someone edited. Either way sealing stops, loudly. A REKEY
    entry is extended only by a process with the key it names (it is sealed with the key before it)."""
    if head is None:
        return
    # A sealer's key is every instance's; `audit rekey`'s old key is the chain's key before the hand-over.
    give = "Give every instance" if setting == "GRAFEAS_AUDIT_KEY" else f"Set {setting} to"
    named = handed_to(head)
    if named is not None:
        if named != key_id(key):
            raise SealRefused(
                f"the audit chain was handed to key {named} at entry {head.seq} (`grafeas-py audit rekey`), and this"
                f" process's {setting} is {key_id(key)}: not extending it. {give} the key it was handed to."
            )
        return
    if _rehash(head, key) != head.hash:
        raise SealRefused(
            f"the newest sealed audit entry ({head.seq}) does not verify with this process's {setting}"
            f" (or its absence): not extending the chain. {give} the chain's key, or run"
            " `grafeas-py audit verify` to find an edited entry."
        )


def verify_chain(
    entries: Iterable[AuditEntry],
    key: bytes | None = None,
    start: tuple[int, str] = (0, GENESIS),
    earlier: Sequence[bytes | None] = (),
) -> VerifyResult:
    """Check entries read in seq order, holding only one entry at a time; name the first fault.

    `start` is the (seq, hash) the first entry must follow: by default the beginning of the chain,
    or an entry verified earlier, to check only what came after it. `earlier` are the keys the chain
    was sealed with before `key`, oldest first: each REKEY entry must hand it to the next of them, and
    the chain must end with `key` (else an older key's holder could have rewritten what came after).
    The faults, by `problem`:

    - altered: the entry's hash does not match its fields (edited after it was written);
    - removed: seq numbers skip; `seq` is the first one missing;
    - reordered: an entry comes before one with a lower seq; `seq` is the first entry out of place;
    - broken_link: seq numbers run on but `prev_hash` is not the previous entry's hash: the
      previous entry was replaced with a freshly computed hash, or entries were dropped and the rest
      renumbered. Either of the two may be the forgery, so neither counts as good;
    - unknown_key: a REKEY entry hands the chain to a key other than the next one given;
    - old_key: the chain ends before a REKEY entry hands it to `key`.
    """
    keys = [*earlier, key]
    last, before = start, start  # (seq, hash) of the last good entry and of the one before it
    checked = 0
    iterator = iter(entries)
    for entry in iterator:
        fault = _fault(entry, *last, iterator, keys[0])
        if fault:
            problem, seq, message = fault
            if problem == "broken_link" and last != start:
                return VerifyResult(False, checked - 1, *before, seq, problem, message)
            return VerifyResult(False, checked, *last, seq, problem, message)
        before, last = last, (entry.seq, entry.hash)
        checked += 1
        named = handed_to(entry)
        if named is not None:
            if len(keys) == 1 or named != key_id(keys[1]):
                expected = key_id(keys[1]) if len(keys) > 1 else "none given"
                message = (
                    f"entry {entry.seq} hands the chain to key {named}, not the next key given ({expected}):"
                    " the entries after it cannot be checked"
                )
                return VerifyResult(False, checked, *last, entry.seq, "unknown_key", message)
            keys.pop(0)
    if len(keys) > 1:
        message = (
            f"the chain is still sealed with key {key_id(keys[0])}: no entry hands it to GRAFEAS_AUDIT_KEY"
            f" ({key_id(key)}); run `grafeas-py audit rekey`, or verify with the key it has"
        )
        return VerifyResult(False, checked, *last, last[0], "old_key", message)
    return VerifyResult(True, checked, *last)


def verify_since(
    entries: Iterable[AuditEntry], seq: int, published: str, key: bytes | None = None, earlier: Sequence = ()
) -> VerifyResult:
    """Check entries read in seq order from `seq` on, where entry `seq` is one whose hash was published.

    That entry must still exist (else `cut`: it was removed, or the trail cut short before it) and
    still have the published hash (else `rewritten`: the trail was rewritten up to it, which no
    recomputed chain can hide). It is checked against its own fields, and every later entry against
    the chain as `verify_chain` does; nothing before it is read. A published REKEY entry handing the
    chain to the first key given (`earlier`'s first, else `key`) is taken as published: it is sealed
    with the key before it, which is not needed, and what follows it is checked from that key on.
    """
    iterator = iter(entries)
    first = next(iterator, None)
    if first is None or first.seq != seq:
        message = f"entry {seq} is gone: the trail was cut or the entry removed since its hash was published"
        return VerifyResult(False, 0, seq - 1, "", seq, "cut", message)
    if first.hash != published:
        message = f"entry {seq} no longer has the published hash: the trail was rewritten up to it"
        return VerifyResult(False, 0, seq - 1, "", seq, "rewritten", message)
    if handed_to(first) == key_id([*earlier, key][0]):
        result = verify_chain(iterator, key, (first.seq, first.hash), earlier)
        return replace(result, checked=result.checked + 1)
    return verify_chain(itertools.chain([first], iterator), key, (seq - 1, first.prev_hash), earlier)


def _fault(
    entry: AuditEntry, last_seq: int, last_hash: str, rest: Iterable[AuditEntry], key: bytes | None
) -> tuple[Problem, int, str] | None:
    """What is wrong with `entry` coming after (last_seq, last_hash); may read on through `rest`."""
    expected = last_seq + 1
    previous = f"entry {last_seq}" if last_seq else "the start of the chain"
    if _rehash(entry, key) != entry.hash:
        return "altered", entry.seq, f"entry {entry.seq} was altered: its hash does not match its content"
    if entry.seq < expected:
        return "reordered", entry.seq, f"entry {entry.seq} comes after {previous}: out of order"
    if entry.seq > expected:
        # Missing here: removed, unless it turns up later, which means entries were moved.
        if any(isinstance(later.seq, int) and expected <= later.seq < entry.seq for later in rest):
            return "reordered", entry.seq, f"entry {entry.seq} comes before entry {expected}: out of order"
        missing = str(expected) if entry.seq == expected + 1 else f"{expected} to {entry.seq - 1}"
        return "removed", expected, f"entry {missing} was removed: entry {entry.seq} follows {previous}"
    if entry.prev_hash != last_hash:
        replaced = f"{previous} was replaced and re-hashed" if last_seq else "the chain was re-started"
        return (
            "broken_link",
            entry.seq,
            f"entry {entry.seq} does not follow {previous}: its prev_hash is not the hash it should link to "
            f"({replaced}, or entries were removed and the rest renumbered)",
        )
    return None
